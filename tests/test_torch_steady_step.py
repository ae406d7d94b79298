"""fastopt.torch's steady step (fastopt/_steady_step.pxi): while only grads and settings
change, a step reuses the last full step's checked plan. Whatever else changes between
steps, the result must be bitwise what the full step gives (params and state), and a bad
grad must raise the full step's error with nothing written.

Each test runs two optimizers on equal copies of the same params through the same steps
and changes: one as users run it, one made to take the full step every time.
"""
import math

import pytest

from conftest import torch_or_skip


def _steady_step_class():
    from fastopt import _kernels
    return _kernels.SteadyStep


def _make(name, kwargs, dtype, groups=1, seed=0):
    torch = torch_or_skip()
    import fastopt.torch as ft
    gen = torch.Generator().manual_seed(seed)
    shapes = [(7,), (3, 5), (17,), (1,)]
    params = [torch.randn(s, generator=gen, dtype=dtype).requires_grad_() for s in shapes]
    cls = getattr(ft, name)
    if groups == 1:
        return cls(params, **kwargs), params
    return cls([{"params": params[:2]}, {"params": params[2:], "lr": 0.05}], **kwargs), params


class _Counting:
    """Counts full steps of an optimizer; with ``always_full``, forces one every step."""

    def __init__(self, opt, always_full):
        self.full = 0
        self.opt = opt
        inner = opt._step
        steady = _steady_step_class()

        def counted(threads):
            self.full += 1
            return inner(threads)
        opt._step = counted
        if always_full:
            original_step = opt.step

            def step(*a, **k):
                opt._steady = steady()   # empty: the full step runs
                return original_step(*a, **k)
            opt.step = step


def _grads(params, step, dtype):
    torch = torch_or_skip()
    gen = torch.Generator().manual_seed(100 + step)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen, dtype=dtype)


def _snapshot(opt, params):
    torch = torch_or_skip()
    state = []
    for p in params:
        st = opt.state.get(p, {})
        state.append({k: (v.clone() if isinstance(v, torch.Tensor) else v)
                      for k, v in st.items()})
    return [p.detach().clone() for p in params], state


def _assert_same(a, b):
    torch = torch_or_skip()
    (pa, sa), (pb, sb) = a, b
    for x, y in zip(pa, pb):
        torch.testing.assert_close(x, y, rtol=0, atol=0, equal_nan=True)
    for x, y in zip(sa, sb):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], torch.Tensor):
                torch.testing.assert_close(x[k], y[k], rtol=0, atol=0, equal_nan=True)
            else:
                assert x[k] == y[k], k


# name, settings, a setting a user may switch on later (None: none) and whether it needs a
# new state buffer (the full step makes it)
OPTIMIZERS = [
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1), None),
    ("Adam", dict(lr=0.01, weight_decay=0.1), ("amsgrad", True, True)),
    ("AdamW", dict(lr=0.01, amsgrad=True), ("maximize", True, False)),
    ("SGD", dict(lr=0.1), ("momentum", 0.9, True)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True), ("weight_decay", 0.5, False)),
    ("RMSprop", dict(lr=0.01), ("centered", True, True)),
    ("Adadelta", dict(lr=0.5, weight_decay=0.1), ("maximize", True, False)),
]
OPT_IDS = [f"{n}-{'-'.join(map(str, kw.values()))}" for n, kw, _ in OPTIMIZERS]


def _change_lr(torch, opt, params):
    for g in opt.param_groups:
        g["lr"] *= 0.5


def _flag_on(flag):
    def change(torch, opt, params):
        for g in opt.param_groups:
            g[flag[0]] = flag[1]
    return change


def _grad_none(torch, opt, params):
    params[1].grad = None


def _new_param_memory(torch, opt, params):
    params[0].data = params[0].data.clone()


def _new_state_buffer(torch, opt, params):
    st = opt.state[params[1]]
    for k, v in list(st.items()):
        if k != "step" and isinstance(v, torch.Tensor):
            st[k] = v.clone() + 0.25


def _counter_set(torch, opt, params):
    opt.state[params[0]]["step"].fill_(7.0)


def _counter_replaced(torch, opt, params):
    st = opt.state[params[0]]
    st["step"] = torch.tensor(11.0, dtype=st["step"].dtype)


def _state_dropped(torch, opt, params):
    if opt.state.pop(params[2], None) is None:
        return True   # no state to drop (SGD without momentum): the steady step goes on


def _state_dict_reloaded(torch, opt, params):
    opt.load_state_dict(opt.state_dict())


def _group_added(torch, opt, params):
    extra = torch.linspace(-1, 1, 9, dtype=params[0].dtype).requires_grad_()
    params.append(extra)
    opt.add_param_group({"params": [extra]})


def _groups_reordered(torch, opt, params):
    opt.param_groups.reverse()


def _param_list_changed(torch, opt, params):
    group = opt.param_groups[-1]
    group["params"] = group["params"][::-1]


CHANGES = {
    "nothing": (None, True),
    "lr": (_change_lr, True),
    "grad None": (_grad_none, True),
    "counter set in place": (_counter_set, True),
    "flag on": ("flag", False),
    "param memory": (_new_param_memory, False),
    "state buffer": (_new_state_buffer, False),
    "counter replaced": (_counter_replaced, False),
    "state dropped": (_state_dropped, False),
    "state dict reloaded": (_state_dict_reloaded, False),
    "group added": (_group_added, False),
    "groups reordered": (_groups_reordered, False),
    "param list changed": (_param_list_changed, False),
}


_COUNTER_CHANGES = ("counter set in place", "counter replaced")
STEADY_CASES = [(name, kwargs, flag, change) for (name, kwargs, flag), oid in
                zip(OPTIMIZERS, OPT_IDS) for change in CHANGES
                if not (change == "flag on" and flag is None)
                and not (change in _COUNTER_CHANGES and name == "SGD")]   # SGD has no counter
STEADY_IDS = [f"{oid}-{change}" for (name, kwargs, flag), oid in zip(OPTIMIZERS, OPT_IDS)
              for change in CHANGES if not (change == "flag on" and flag is None)
              and not (change in _COUNTER_CHANGES and name == "SGD")]


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs,flag,change", STEADY_CASES, ids=STEADY_IDS)
def test_steady_steps_equal_full_steps_whatever_changes(name, kwargs, flag, change,
                                                         dtype_name):
    torch = torch_or_skip()
    dtype = getattr(torch, dtype_name)
    how, stays_steady = CHANGES[change]
    if how == "flag":
        how = _flag_on(flag)
        stays_steady = flag is not None and not flag[2]
    runs = []
    for always_full in (False, True):
        opt, params = _make(name, kwargs, dtype, groups=2)
        counter = _Counting(opt, always_full)
        for step in range(5):
            if step == 3 and how is not None and how(torch, opt, params) is not None:
                stays_steady = True
            grads_of = params if not (step >= 3 and how is _grad_none) else \
                [p for i, p in enumerate(params) if i != 1]
            _grads(grads_of, step, dtype)
            opt.step()
        runs.append((counter.full, _snapshot(opt, params)))
    (steady_full, steady_result), (full_full, full_result) = runs
    assert full_full == 5
    # the steady step ran: only the first step (and one after a change it cannot take) is full
    assert steady_full == (1 if stays_steady else 2), steady_full
    _assert_same(steady_result, full_result)



@pytest.mark.parametrize("kind", ["Parameter", "subclass param", "subclass grad"])
def test_tensor_types_steady_step_only_where_torch_s_own_accessors_apply(kind):
    # the steady step reads tensors through torch._C.TensorBase's accessors, so it takes
    # torch.Tensor and nn.Parameter; a subclass (which may define its own) takes the full
    # step every time, with the same result
    torch = torch_or_skip()

    class Sub(torch.Tensor):
        pass

    runs = []
    for always_full in (False, True):
        opt, params = _make("Adam", dict(lr=0.01, weight_decay=0.1), torch.float32)
        if kind == "Parameter":
            params = [torch.nn.Parameter(p.detach().clone()) for p in params]
        elif kind == "subclass param":
            params[2] = params[2].detach().clone().as_subclass(Sub).requires_grad_()
        if kind != "subclass grad":
            opt = type(opt)(params, lr=0.01, weight_decay=0.1)
        counter = _Counting(opt, always_full)
        for step in range(4):
            _grads(params, step, torch.float32)
            if kind == "subclass grad":
                params[1].grad = params[1].grad.as_subclass(Sub)
            opt.step()
        runs.append((counter.full, _snapshot(opt, params)))
    (steady_full, steady_result), (full_full, full_result) = runs
    assert full_full == 4
    assert steady_full == (1 if kind == "Parameter" else 4), steady_full
    _assert_same(steady_result, full_result)

def _bad_grad(kind):
    def make(torch, p):
        if kind == "zerotensor":
            return torch._efficientzerotensor(p.shape, dtype=p.dtype)
        if kind == "negative bit":
            return torch.ones_like(p)._neg_view()
        if kind == "past its storage":
            g = torch.ones_like(p)
            g.untyped_storage().resize_(4)
            return g
        if kind == "param's memory":
            return p.detach()
        if kind == "other strides":
            return torch.ones(p.shape[::-1], dtype=p.dtype).t()
        if kind == "sparse":
            return torch.ones_like(p).to_sparse()
        raise AssertionError(kind)
    return make


@pytest.mark.parametrize("kind", ["zerotensor", "negative bit", "past its storage",
                                  "param's memory", "other strides", "sparse"])
@pytest.mark.parametrize("name", ["Adam", "RMSprop"])
def test_a_bad_grad_after_steady_steps_raises_the_full_steps_error(name, kind):
    torch = torch_or_skip()
    errors = []
    for always_full in (False, True):
        opt, params = _make(name, dict(lr=0.01), torch.float32)
        _Counting(opt, always_full)
        for step in range(3):
            _grads(params, step, torch.float32)
            opt.step()
        before = _snapshot(opt, params)
        _grads(params, 3, torch.float32)
        params[1].grad = _bad_grad(kind)(torch, params[1])
        with pytest.raises(Exception) as info:
            opt.step()
        errors.append((type(info.value), str(info.value)))
        _assert_same(_snapshot(opt, params), before)   # nothing written
    assert errors[0] == errors[1]
    assert "param 1" in errors[0][1]


@pytest.mark.parametrize("bad", [math.nan, -3.0, 0.5])
def test_a_bad_step_counter_after_steady_steps_raises_with_nothing_written(bad):
    torch = torch_or_skip()
    errors = []
    for always_full in (False, True):
        opt, params = _make("Adagrad", dict(lr=0.1), torch.float64)
        counter = _Counting(opt, always_full)
        for step in range(3):
            _grads(params, step, torch.float64)
            opt.step()
        opt.state[params[2]]["step"].fill_(bad)
        before = _snapshot(opt, params)
        _grads(params, 3, torch.float64)
        with pytest.raises(ValueError) as info:
            opt.step()
        errors.append(str(info.value))
        _assert_same(_snapshot(opt, params), before)
        if not always_full:
            assert counter.full == 1   # the steady step found it (the counter is read in C)
    assert errors[0] == errors[1]
    assert "param 2" in errors[0]


def test_a_setting_made_invalid_after_steady_steps_is_refused():
    torch = torch_or_skip()
    opt, params = _make("Adam", dict(lr=0.01), torch.float32)
    for step in range(2):
        _grads(params, step, torch.float32)
        opt.step()
    before = _snapshot(opt, params)
    opt.param_groups[0]["betas"] = (0.9, 1.5)
    _grads(params, 2, torch.float32)
    with pytest.raises(ValueError, match="beta"):
        opt.step()
    _assert_same(_snapshot(opt, params), before)


def test_a_copied_or_pickled_optimizer_starts_without_a_steady_step():
    torch = torch_or_skip()
    import copy
    import pickle
    opt, params = _make("Adagrad", dict(lr=0.1), torch.float32)
    _grads(params, 0, torch.float32)
    opt.step()
    steady = _steady_step_class()
    assert type(opt._steady) is steady
    assert opt._steady.run(opt.param_groups, opt.state, 1) is not None   # built: it steps
    for other in (copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
        assert other._steady.run(other.param_groups, other.state, 1) is None   # empty
    assert pickle.loads(pickle.dumps(opt._steady)).run([], {}, 1) is None
