"""fastopt.torch against torch.optim (the oracle), table-driven (tests/torch_cases.py).

A small model (Linear/ReLU/Linear) trained under both must agree in params and state to
float32 (float64) rounding; state dicts load both ways; schedulers, clipping, closures, param
groups, None grads, hooks; the step is zero-copy. Needs torch (CI: torch==2.13.0).
"""
import copy
import io

import pytest

from conftest import torch_or_skip
from torch_cases import CASE_IDS, CASES, SETTING_IDS, SETTINGS
from torch_util import assert_same_training, classes, make_data, make_model, train


def _pair(case, dtype=None, **kwargs):
    """Two copies of the model, ours and torch's optimizer on them (torch's for-loop path)."""
    ours_cls, theirs_cls = classes(case)
    m1, m2 = make_model(dtype), make_model(dtype)
    return m1, ours_cls(m1.parameters(), **kwargs), m2, theirs_cls(m2.parameters(),
                                                                   foreach=False, **kwargs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case,kwargs", SETTINGS, ids=SETTING_IDS)
def test_trains_like_torch(case, kwargs, dtype):
    torch = torch_or_skip()
    dt = getattr(torch, dtype)
    m1, o1, m2, o2 = _pair(case, dt, **kwargs)
    start = [p.detach().clone() for p in m1.parameters()]
    data = make_data(25, dt)
    train(m1, o1, data)
    train(m2, o2, data)
    assert_same_training(m1, o1, m2, o2, case.keys_for(kwargs))
    moved = max(float((p.detach() - s).abs().max()) for p, s in zip(m1.parameters(), start))
    assert moved > 1e-3, "the params barely moved: the comparison would prove nothing"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_param_groups_with_different_hyper_parameters(case):
    torch = torch_or_skip()
    ours_cls, theirs_cls = classes(case)
    m1, m2 = make_model(), make_model()

    def groups(m):
        return [dict(params=list(m[0].parameters()), **case.groups[0]),
                dict(params=list(m[2].parameters()), **case.groups[1])]

    o1, o2 = ours_cls(groups(m1)), theirs_cls(groups(m2), foreach=False)
    data = make_data(20)
    train(m1, o1, data)
    train(m2, o2, data)
    assert_same_training(m1, o1, m2, o2)
    g1 = [{k: v for k, v in g.items() if k != "params"} for g in o1.param_groups]
    g2 = [{k: v for k, v in g.items() if k not in ("params", "foreach")} for g in o2.param_groups]
    assert [{k: v for k, v in g.items() if k != "foreach"} for g in g1] == g2
    del torch


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_none_grads_are_skipped_and_groups_can_be_added(case):
    torch = torch_or_skip()
    ours_cls, theirs_cls = classes(case)
    m1, m2 = make_model(), make_model()
    lr = 0.05 * case.lr_scale
    o1 = ours_cls(list(m1[0].parameters()), lr=lr, **case.base)
    o2 = theirs_cls(list(m2[0].parameters()), lr=lr, foreach=False, **case.base)
    data = make_data(24)
    for step, (x, y) in enumerate(data):
        if step == 8:  # the second layer joins with its own lr; torch creates its state lazily
            o1.add_param_group(dict(params=list(m1[2].parameters()), lr=0.4 * lr))
            o2.add_param_group(dict(params=list(m2[2].parameters()), lr=0.4 * lr))
        for m, o in ((m1, o1), (m2, o2)):
            o.zero_grad()
            torch.nn.functional.mse_loss(m(x), y).backward()
            if step % 3 == 1:
                m[0].bias.grad = None       # skipped: no update, no step count
            if step < 12:
                m[2].weight.grad = None     # no state until its first grad (lazy groups)
            o.step()
        if step == 10:
            assert (m1[2].weight in o1.state) == (m2[2].weight in o2.state)
    assert_same_training(m1, o1, m2, o2)
    if case.has_step:
        assert float(o1.state[m1[0].bias]["step"]) == float(o2.state[m2[0].bias]["step"]) < 24


def _saved(opt):
    buf = io.BytesIO()
    torch_or_skip().save(opt.state_dict(), buf)
    buf.seek(0)
    return torch_or_skip().load(buf)


@pytest.mark.parametrize("direction", ["torch_to_fastopt", "fastopt_to_torch"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_state_dict_loads_both_ways_and_training_continues(case, direction):
    """Save mid-training from one side (torch.save/torch.load), load into the other, continue:
    the result equals an uninterrupted run."""
    torch = torch_or_skip()
    ours_cls, theirs_cls = classes(case)
    kwargs = case.settings[-1]
    first_cls, second_cls = ((theirs_cls, ours_cls) if direction == "torch_to_fastopt"
                             else (ours_cls, theirs_cls))

    def make(cls, m):
        groups = [dict(params=list(m[0].parameters())),
                  dict(params=list(m[2].parameters()), **case.groups[1])]
        extra = dict(foreach=False) if cls is theirs_cls else {}
        return cls(groups, **kwargs, **extra)

    data = make_data(30)
    m_ref = make_model()
    o_ref = make(theirs_cls, m_ref)
    train(m_ref, o_ref, data)

    m = make_model()
    o = make(first_cls, m)
    train(m, o, data[:12])
    saved = _saved(o)
    m_next = make_model()
    with torch.no_grad():
        for a, b in zip(m_next.parameters(), m.parameters()):
            a.copy_(b)
    o_next = make(second_cls, m_next)
    o_next.load_state_dict(saved)
    train(m_next, o_next, data[12:])
    if second_cls is ours_cls:
        assert_same_training(m_next, o_next, m_ref, o_ref)
    else:
        assert_same_training(m_ref, o_ref, m_next, o_next)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_state_dict_has_torchs_format(case):
    torch = torch_or_skip()
    m1, o1, m2, o2 = _pair(case, **case.settings[1])
    data = make_data(3)
    train(m1, o1, data)
    train(m2, o2, data)
    s1, s2 = o1.state_dict(), o2.state_dict()
    assert set(s1) == set(s2) == {"state", "param_groups"}
    assert list(s1["state"]) == list(s2["state"])
    for i in s2["state"]:
        assert list(s1["state"][i]) == list(s2["state"][i])
        for k, v in s2["state"][i].items():
            assert s1["state"][i][k].dtype == v.dtype and s1["state"][i][k].shape == v.shape
    for g1, g2 in zip(s1["param_groups"], s2["param_groups"]):
        assert list(g1) == list(g2)
        assert {k: v for k, v in g1.items() if k != "foreach"} == \
               {k: v for k, v in g2.items() if k != "foreach"}
    # a state dict saved with torch's fused/foreach/capturable flags still loads, and keeps
    # ours (each class has its own subset of the flags)
    flags = [k for k in ("fused", "capturable", "foreach") if k in s2["param_groups"][0]]
    assert flags
    for k in flags:
        s2["param_groups"][0][k] = True
    o1.load_state_dict(s2)
    for k in flags + ["foreach"]:
        assert o1.param_groups[0][k] is o1.defaults[k] and o1.defaults[k] in (None, False)
    train(m1, o1, data)
    del torch


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_load_state_dict_fits_odd_saved_state(case):
    """Step counters saved as numbers or float64 tensors, buffers in float64 or non-contiguous:
    loading fits them to the kernels (torch.optim would accept them too)."""
    torch = torch_or_skip()
    m1, o1, m2, o2 = _pair(case, **{**case.settings[0], **case.base})
    data = make_data(6)
    train(m1, o1, data[:3])
    train(m2, o2, data[:3])
    sd = copy.deepcopy(o2.state_dict())
    for st in sd["state"].values():
        for k in list(st):
            if k == "step":
                st[k] = int(st[k])
            elif st[k].dim() == 2:
                st[k] = st[k].double().t().contiguous().t()   # float64, non-contiguous
    o1.load_state_dict(sd)
    for p in m1.parameters():
        for k, v in o1.state[p].items():
            assert v.is_contiguous() and (k == "step" or v.dtype == p.dtype)
    train(m1, o1, data[3:])
    train(m2, o2, data[3:])
    assert_same_training(m1, o1, m2, o2)


@pytest.mark.parametrize("sched", ["StepLR", "CosineAnnealingLR", "OneCycleLR", "LambdaLR"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_lr_schedulers(case, sched):
    torch = torch_or_skip()
    if sched == "OneCycleLR" and not case.one_cycle:
        pytest.skip(f"OneCycleLR does not apply to {case.name}")
    S = torch.optim.lr_scheduler
    make = {
        "StepLR": lambda o: S.StepLR(o, step_size=5, gamma=0.5),
        "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=1e-3),
        "OneCycleLR": lambda o: S.OneCycleLR(o, max_lr=0.2 * case.lr_scale, total_steps=25,
                                             **case.one_cycle_kwargs),
        "LambdaLR": lambda o: S.LambdaLR(o, lambda e: 1.0 / (1 + e)),
    }[sched]
    m1, o1, m2, o2 = _pair(case, lr=0.05 * case.lr_scale, **case.base)
    s1, s2 = make(o1), make(o2)
    data = make_data(25)
    train(m1, o1, data, sched=s1)
    train(m2, o2, data, sched=s2)
    assert o1.param_groups[0]["lr"] == o2.param_groups[0]["lr"] != 0.05 * case.lr_scale
    assert_same_training(m1, o1, m2, o2)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_clip_grad_norm_before_the_step(case):
    torch_or_skip()
    m1, o1, m2, o2 = _pair(case, lr=0.1 * case.lr_scale, **case.base)
    data = make_data(20)
    train(m1, o1, data, clip=0.05)
    train(m2, o2, data, clip=0.05)
    assert_same_training(m1, o1, m2, o2)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_closure_runs_with_grad_enabled_and_its_loss_is_returned(case):
    torch = torch_or_skip()
    m1, o1, m2, o2 = _pair(case, **case.base)
    data = make_data(10)
    with torch.no_grad():
        l1 = train(m1, o1, data, closure=True)
        l2 = train(m2, o2, data, closure=True)
    assert l1 == pytest.approx(l2, rel=1e-5)
    assert_same_training(m1, o1, m2, o2)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_step_is_zero_copy(case):
    """Kernels write the tensors' own memory: same storage, same state objects, no copies."""
    torch = torch_or_skip()
    ours_cls, _ = classes(case)
    m = make_model()
    opt = ours_cls(m.parameters(), **case.base)
    data = make_data(5)
    train(m, opt, data[:1])
    params = list(m.parameters())
    ptrs = [p.data_ptr() for p in params]
    views = [p.detach() for p in params]          # share memory with the params
    before = [v.clone() for v in views]
    state = {p: dict(opt.state[p]) for p in params}
    state_ptrs = {p: {k: v.data_ptr() for k, v in st.items()} for p, st in state.items()}
    versions = [p._version for p in params]
    train(m, opt, data[1:])
    assert [p.data_ptr() for p in params] == ptrs
    assert all(not torch.equal(v, b) for v, b in zip(views, before))
    for p in params:
        for k, v in opt.state[p].items():
            assert v is state[p][k] and v.data_ptr() == state_ptrs[p][k]
    assert all(p._version > v for p, v in zip(params, versions))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_changed_tensors_are_followed(case):
    """Between steps, params get new memory (p.data = ...) and state entries are replaced:
    each step re-checks its cached pointers, and results stay those of torch."""
    torch = torch_or_skip()
    m1, o1, m2, o2 = _pair(case, lr=0.05 * case.lr_scale, **case.base)
    data = make_data(12)
    train(m1, o1, data[:4])
    train(m2, o2, data[:4])
    for p in m1.parameters():
        p.data = p.data.clone()                   # new storage
    w = m1[0].weight
    key = next(k for k in o1.state[w] if k != "step")
    o1.state[w][key] = o1.state[w][key].clone()    # a replaced state tensor
    o1.state[m1[0].bias] = {k: v.clone() for k, v in o1.state[m1[0].bias].items()}
    train(m1, o1, data[4:])
    train(m2, o2, data[4:])
    assert_same_training(m1, o1, m2, o2)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_step_hooks_and_profiler(case):
    torch = torch_or_skip()
    from torch.optim.optimizer import (register_optimizer_step_post_hook,
                                       register_optimizer_step_pre_hook)
    ours_cls, _ = classes(case)
    m = make_model()
    opt = ours_cls(m.parameters(), **case.base)
    calls = []
    handles = [
        opt.register_step_pre_hook(lambda o, a, k: calls.append("pre")),
        opt.register_step_post_hook(lambda o, a, k: calls.append("post")),
        register_optimizer_step_pre_hook(lambda o, a, k: calls.append("global pre")),
        register_optimizer_step_post_hook(lambda o, a, k: calls.append("global post")),
    ]
    try:
        train(m, opt, make_data(1))
        assert calls == ["global pre", "pre", "post", "global post"]
    finally:
        for h in handles:
            h.remove()
    calls.clear()
    train(m, opt, make_data(1))
    assert calls == []
    # a pre hook may replace the arguments: here it supplies a closure
    seen = []
    h = opt.register_step_pre_hook(lambda o, a, k: ((), {"closure": lambda: seen.append(1) or 7.0}))
    assert opt.step() == 7.0 and seen == [1]
    h.remove()
    with torch.profiler.profile() as prof:
        train(m, opt, make_data(1))
    names = {e.name for e in prof.events()}
    assert f"Optimizer.step#{case.name}.step" in names
    assert f"Optimizer.zero_grad#{case.name}.zero_grad" in names


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_repr_and_deepcopy(case):
    torch_or_skip()
    ours_cls, theirs_cls = classes(case)
    m = make_model()
    opt = ours_cls(m.parameters(), lr=0.03)
    assert repr(opt).startswith(f"{case.name} (") and "lr: 0.03" in repr(opt)
    train(m, opt, make_data(2))
    twin = copy.deepcopy(opt)     # pickling goes through __getstate__/__setstate__
    assert len(twin.state) == len(opt.state)
    assert issubclass(ours_cls, torch_or_skip().optim.Optimizer)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_constructor_matches_torch(case):
    """Same signature as torch.optim's class: names, order, kinds, defaults; ours end with
    ``**precision`` (master_weights, state_dtype, seed: fastopt.torch._half), which torch's
    do not have."""
    torch_or_skip()
    import inspect
    ours_cls, theirs_cls = classes(case)
    pa = dict(inspect.signature(ours_cls.__init__).parameters)
    pb = inspect.signature(theirs_cls.__init__).parameters
    extra = pa.pop("precision")
    assert extra.kind is inspect.Parameter.VAR_KEYWORD
    assert list(pa) == list(pb)
    for name in pa:
        assert pa[name].kind == pb[name].kind, name
        assert pa[name].default == pb[name].default, name


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_default_dtype_float64_keeps_float64_step_counters(case):
    """torch.optim makes step counters float64 when the default dtype is float64; so do we
    (the plan then reads and writes them as doubles)."""
    torch = torch_or_skip()
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        m1, o1, m2, o2 = _pair(case, torch.float64, **case.settings[-1])
        data = make_data(12, torch.float64)
        train(m1, o1, data)
        train(m2, o2, data)
    finally:
        torch.set_default_dtype(before)
    assert_same_training(m1, o1, m2, o2)
    assert o1.state and all(st["step"].dtype == torch.float64 for st in o1.state.values()
                            if case.has_step)


def test_algorithms_without_a_step_counter_see_step_1_then_2():
    """The plumbing for SGD-like classes (``_step_key = None``): the kernel gets step 1 on a
    param's first step (its buffers just created) and 2 afterwards, also after a reload.
    Checked with an Adagrad variant, whose lr_decay makes the step visible."""
    torch = torch_or_skip()
    import numpy as np

    import fastopt.torch
    from fastopt import reference

    class NoStep(fastopt.torch.Adagrad):
        _step_key = None
        _eager_state = False    # SGD's state appears at a param's first step with a grad

        def _init_state(self, p, group):
            return {"sum": torch.zeros_like(p)}

    kw = dict(lr=0.1, lr_decay=0.5)
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    opt = NoStep([p], **kw)
    x, s = p.detach().numpy().copy(), np.zeros(3, np.float32)
    grads = [np.array([0.5, -1.0, 2.0], np.float32) * (k + 1) for k in range(4)]
    for k, g in enumerate(grads[:3]):
        p.grad = torch.from_numpy(g.copy())
        opt.step()
        reference.adagrad([x], [g], [s], 1 if k == 0 else 2, **kw)
    assert "step" not in opt.state[p]
    np.testing.assert_array_equal(p.detach().numpy(), x)
    opt.load_state_dict(opt.state_dict())       # a rebuilt plan: existing state, step 2
    p.grad = torch.from_numpy(grads[3].copy())
    opt.step()
    reference.adagrad([x], [grads[3]], [s], 2, **kw)
    np.testing.assert_array_equal(p.detach().numpy(), x)
    np.testing.assert_array_equal(opt.state[p]["sum"].numpy(), s)


def test_adam_with_decoupled_weight_decay_is_adamw():
    """torch 2.13's Adam(decoupled_weight_decay=True) is AdamW: bit for bit here too, and
    AdamW stays decoupled whatever a loaded state dict says (as torch.optim.AdamW)."""
    torch = torch_or_skip()
    import fastopt.torch
    kw = dict(lr=0.01, weight_decay=0.1, amsgrad=True)
    m1, m2 = make_model(), make_model()
    o1 = fastopt.torch.Adam(m1.parameters(), decoupled_weight_decay=True, **kw)
    o2 = fastopt.torch.AdamW(m2.parameters(), **kw)
    assert isinstance(o2, fastopt.torch.Adam) and o2.defaults["decoupled_weight_decay"]
    data = make_data(20)
    train(m1, o1, data)
    train(m2, o2, data)
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(a, b)
        for k, v in o2.state[b].items():
            assert torch.equal(o1.state[a][k], v), k
    sd = torch.optim.Adam(make_model().parameters()).state_dict()   # coupled, no state
    o2.load_state_dict(sd)
    assert o2.param_groups[0]["decoupled_weight_decay"] is True


def test_sgd_momentum_switched_on_mid_training_starts_its_buffer_like_torch():
    """torch.optim.SGD starts the buffer from the gradient of the first step with momentum,
    also when momentum is switched on later (a schedule on momentum): so does fastopt."""
    torch = torch_or_skip()
    import fastopt.torch
    m1, m2 = make_model(), make_model()
    o1 = fastopt.torch.SGD(m1.parameters(), lr=0.05)
    o2 = torch.optim.SGD(m2.parameters(), lr=0.05, foreach=False)
    data = make_data(20)
    train(m1, o1, data[:6])
    train(m2, o2, data[:6])
    assert len(o1.state) == len(o2.state) == 0
    for o in (o1, o2):
        o.param_groups[0]["momentum"] = 0.9
        o.param_groups[0]["dampening"] = 0.5    # not applied to the buffer's first step
    train(m1, o1, data[6:])
    train(m2, o2, data[6:])
    assert_same_training(m1, o1, m2, o2, ("momentum_buffer",))
