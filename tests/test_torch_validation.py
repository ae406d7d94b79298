"""fastopt.torch refuses what it cannot do with a clear error naming the param, before writing.

Every step-time case trains a two-group model a little, computes fresh grads, breaks one thing
(in the *last* group, so a per-param loop would already have written the first), and checks
that step() raises naming the culprit *and* that no param, grad or state entry changed and no
state was created. Needs torch (CI: torch==2.13.0).
"""
import pytest

from conftest import torch_or_skip
from torch_cases import CASE_IDS, CASES
from torch_util import assert_unchanged, classes, make_data, make_model, train


def _ready(case):
    """A model with two param groups (params 0-1 and 2-3), a few steps in, grads computed."""
    torch = torch_or_skip()
    ours_cls, _ = classes(case)
    m = make_model()
    opt = ours_cls([dict(params=list(m[0].parameters())),
                    dict(params=list(m[2].parameters()), lr=0.02)], **case.base)
    data = make_data(4)
    train(m, opt, data[:3])
    x, y = data[3]
    opt.zero_grad()
    torch.nn.functional.mse_loss(m(x), y).backward()
    return torch, m, opt


def _buffer(opt, p):
    """The first state buffer shaped like the param (not the step, not scalar state)."""
    return next(k for k in opt.state[p]
                if k != "step" and k not in opt.algorithm.scalar_state)


# (id, breaker(torch, model, opt), exception, message regex)
STEP_BREAKERS = [
    ("grad in another layout than its param",
     lambda t, m, o: setattr(m[2].weight, "grad", t.randn(16, 3).t()),
     ValueError, r"param 2: grad has another memory layout than the param"),
    ("grad not dense",
     lambda t, m, o: setattr(m[2].weight, "grad", t.randn(3, 32)[:, ::2]),
     ValueError, r"param 2: grad has another memory layout than the param"),
    ("grad sparse, not by rows",   # row-sparse COO grads: test_torch_sparse.py
     lambda t, m, o: setattr(m[2].weight, "grad", t.randn(3, 16).to_sparse(2)),
     ValueError, r"param 2's grad (is sparse|has sparse_dim 2)|param 2: SGD with momentum"),
    ("grad is its own state",
     lambda t, m, o: setattr(m[2].bias, "grad", o.state[m[2].bias][_buffer(o, m[2].bias)]),
     ValueError, r"param 3's (grad|state .*) and param 3's (grad|state .*) overlap"),
    ("grad views another param",
     lambda t, m, o: setattr(m[2].bias, "grad", m[0].bias.detach()[:3]),
     ValueError, r"param 1's param and param 3's grad overlap"),
    ("param turned half",
     lambda t, m, o: setattr(m[2].bias, "data", m[2].bias.data.half()),
     TypeError, r"param 3: (grad has dtype float32 but the param has dtype float16|the \w+ "
                r"step takes float32 and float64)|param 3 has dtype torch.float16; row-sparse"),
    ("param turned non-contiguous",
     lambda t, m, o: setattr(m[2].weight, "data", m[2].weight.data.t().contiguous().t()),
     ValueError, r"param 2: ((grad|state '\w+') has another memory layout than the param|"
                 r"the adafactor step keeps factored state .* must be C-contiguous)"),
    ("tensor lr",
     lambda t, m, o: o.param_groups[1].__setitem__("lr", t.tensor(0.01)),
     TypeError, r"param group 1: lr must be Python numbers"),
    ("negative lr",
     lambda t, m, o: o.param_groups[1].__setitem__("lr", -0.1),
     ValueError, r"param group 1: invalid lr"),
    ("foreach switched on",
     lambda t, m, o: o.param_groups[1].__setitem__("foreach", True),
     ValueError, r"foreach=True in param group 1 is not supported"),
    ("state buffer of another shape",
     lambda t, m, o: o.state[m[2].bias].__setitem__(_buffer(o, m[2].bias), t.zeros(2)),
     ValueError, r"param 3: state '\w+' has shape \(2,\)"),
    ("state buffer of another dtype",
     lambda t, m, o: o.state[m[2].bias].__setitem__(_buffer(o, m[2].bias),
                                                     t.zeros(3, dtype=t.float64)),
     TypeError, r"param 3: state '\w+' has dtype float64"),
    ("state buffer not contiguous",
     lambda t, m, o: o.state[m[2].weight].__setitem__(_buffer(o, m[2].weight),
                                                       t.zeros(16, 3).t()),
     ValueError, r"param 2: state '\w+' (has another memory layout|has shape .* needs)"),
    ("step counter int64",
     lambda t, m, o: o.state[m[2].bias].__setitem__("step", t.tensor(3)),
     TypeError, r"param 3's state 'step' must be a one-element float32 or float64"),
    ("step counter negative",
     lambda t, m, o: o.state[m[2].bias]["step"].fill_(-2.0),
     ValueError, r"param 3: state 'step' must hold a whole number >= 0"),
    ("step counter nan",
     lambda t, m, o: o.state[m[2].bias]["step"].fill_(float("nan")),
     ValueError, r"param 3: state 'step' must hold a whole number >= 0"),
    ("step counter gone",
     lambda t, m, o: o.state[m[2].bias].pop("step"),
     ValueError, r"param 3: its state has no 'step'"),
]


# every breaker for every class, except step-counter breakers for classes with no counter
_STEP_MATRIX = [(case, *b[1:]) for case in CASES for b in STEP_BREAKERS
                if case.has_step or "'step'" not in b[3]]


@pytest.mark.parametrize("case,breaker,exc,match", _STEP_MATRIX,
                         ids=[f"{c.name}-{b[0]}" for c in CASES for b in STEP_BREAKERS
                              if c.has_step or "'step'" not in b[3]])
def test_step_rejects_and_writes_nothing(case, breaker, exc, match):
    torch, m, opt = _ready(case)
    assert opt._records   # the cached records must notice the change, not just a rebuild
    breaker(torch, m, opt)
    from torch_util import snapshot
    before = snapshot(m, opt)
    with pytest.raises(exc, match=match):
        opt.step()
    assert_unchanged(before, m, opt)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_overlapping_params_are_refused(case):
    torch = torch_or_skip()
    ours_cls, _ = classes(case)
    base = torch.zeros(10)
    a, b = torch.nn.Parameter(base[:6]), torch.nn.Parameter(base[4:])
    opt = ours_cls([a, b])
    a.grad, b.grad = torch.ones(6), torch.ones(6)
    with pytest.raises(ValueError, match=r"param 0's param and param 1's param overlap"):
        opt.step()
    assert torch.equal(base, torch.zeros(10))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_a_param_listed_twice_is_refused(case):
    torch = torch_or_skip()
    ours_cls, _ = classes(case)
    p = torch.nn.Parameter(torch.ones(3))
    with pytest.warns(UserWarning, match="duplicate parameters"):   # torch's own warning
        opt = ours_cls([p, p])
    p.grad = torch.ones(3)
    with pytest.raises(ValueError, match="param 1 is the same tensor as param 0"):
        opt.step()
    assert torch.equal(p.detach(), torch.ones(3))


def _bad_params(torch):
    return [
        ("complex", torch.zeros(3, dtype=torch.complex64), TypeError, r"param 1 .*complex64"),
        ("int", torch.zeros(3, dtype=torch.int64), TypeError, r"param 1 has dtype torch.int64"),
        ("not dense", torch.zeros(4, 6)[:, ::2], ValueError,
         r"param 1: param is not one dense block of memory"),
        ("meta", torch.zeros(3, device="meta"), ValueError, r"param 1 is on device meta"),
    ]


@pytest.mark.parametrize("which", range(4))
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_constructor_and_add_param_group_refuse_bad_params(case, which):
    torch = torch_or_skip()
    ours_cls, _ = classes(case)
    _, bad, exc, match = _bad_params(torch)[which]
    good = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(exc, match=match):
        ours_cls([good, bad])
    opt = ours_cls([good])
    with pytest.raises(exc, match=match):
        opt.add_param_group(dict(params=[bad]))
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_constructor_refuses_what_torch_refuses_and_what_fastopt_cannot_do(case):
    torch = torch_or_skip()
    ours_cls, _ = classes(case)
    p = torch.nn.Parameter(torch.zeros(3))
    for kwargs, exc in case.rejected:
        if kwargs == "tensor lr":
            kwargs = dict(lr=torch.tensor(0.01))
        elif callable(kwargs):
            kwargs = kwargs(torch)
        with pytest.raises(exc):
            ours_cls([p], **kwargs)
    with pytest.raises(TypeError):
        ours_cls(p)                                   # one tensor, not an iterable of them
    with pytest.raises(ValueError, match="empty parameter list"):
        ours_cls([])
    opt = ours_cls([p])
    with pytest.raises(ValueError, match="param group 1: invalid lr"):
        opt.add_param_group(dict(params=[torch.nn.Parameter(torch.zeros(2))], lr=-1.0))
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_accepts_noop_flag_values(case):
    torch = torch_or_skip()
    ours_cls, theirs_cls = classes(case)
    import inspect
    names = inspect.signature(theirs_cls.__init__).parameters
    p = torch.nn.Parameter(torch.zeros(3))
    flags = {k: v for k, v in dict(foreach=False, fused=False, capturable=False,
                                   differentiable=False).items() if k in names}
    opt = ours_cls([p], **flags)
    p.grad = torch.ones(3)
    opt.step()
