"""Adafactor's factored state: params of two or more dimensions against the reference on
every ISA path and thread count (bit for bit, params and factors), the fixed order of its
sums, what the plan checks of the factors (shape, dtype, C order; nothing written on a
refusal), and fastopt.torch.Adafactor beside torch.optim.Adafactor. The generic tables
(tests/cases.py, tests/torch_cases.py, test_torch_oracle.py) cover the 1-D params and the
hyper-parameter grids on their shapes."""
import copy

import numpy as np
import pytest

import fastopt
from conftest import torch_or_skip
from fastopt import reference
from fastopt.reference._util import line_sums

# awkward matrices: one row, one column, the sizes around the 16 lanes and the 256-column
# chunk of the column sums, batches of matrices
SHAPES = [(1, 1), (1, 7), (7, 1), (15, 17), (17, 33), (2, 257), (3, 1, 1023), (1023, 2),
          (2, 3, 4, 5), (4, 4097), (0, 5), (5, 0), (2, 0, 3)]
GRID = [dict(), dict(lr=0.5, beta2_decay=-0.3), dict(eps=(1e-2, 0.5), d=3.0),
        dict(weight_decay=0.1, maximize=True), dict(eps=(0.0, 0.0), d=1.0)]


def _state(p):
    return (np.zeros(p.shape[:-1] + (1,), p.dtype),
            np.zeros(p.shape[:-2] + (1, p.shape[-1]), p.dtype))


def _run(impl, params, grads, states, step, hyper):
    impl(params, grads, [s[0] for s in states], [s[1] for s in states],
         [None] * len(params), step, **hyper)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hyper", GRID, ids=str)
def test_factored_params_match_the_reference_bitwise_on_every_isa(isa, dtype, hyper):
    rng = np.random.default_rng(0)
    ours = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    theirs = [p.copy() for p in ours]
    s_ours, s_theirs = [_state(p) for p in ours], [_state(p) for p in ours]
    for step in (1, 2, 3, 4):
        grads = [rng.standard_normal(p.shape).astype(dtype) for p in ours]
        _run(fastopt.functional.adafactor, ours, grads, s_ours, step, hyper)
        _run(reference.adafactor, theirs, grads, s_theirs, step, hyper)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a.tobytes() == b.tobytes(), f"{isa}: param {i} {a.shape}"
        for j in range(2):
            assert s_ours[i][j].tobytes() == s_theirs[i][j].tobytes(), (isa, i, j)
    assert any(s[0].any() for s in s_ours)   # the factors moved


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_every_thread_count_gives_the_same_bits(threads):
    """Each param is one unit of work (never cut); params spread over the threads."""
    rng = np.random.default_rng(1)
    shapes = [(300, 301), (7,), (64, 4097), (5, 3, 1000), (90000,), (2, 2)]
    params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    want = [p.copy() for p in params]
    states = [_state(p) if p.ndim > 1 else np.zeros_like(p) for p in params]
    want_states = [tuple(x.copy() for x in s) if isinstance(s, tuple) else s.copy()
                   for s in states]

    def lists(sts):
        return ([s[0] if isinstance(s, tuple) else None for s in sts],
                [s[1] if isinstance(s, tuple) else None for s in sts],
                [None if isinstance(s, tuple) else s for s in sts])

    for step in (1, 2):
        grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        with fastopt.num_threads(threads):
            fastopt.functional.adafactor(params, grads, *lists(states), step, lr=0.05)
        reference.adafactor(want, grads, *lists(want_states), step, lr=0.05)
    for a, b in zip(params, want):
        assert a.tobytes() == b.tobytes()
    for got, expected in zip(lists(states), lists(want_states)):
        for x, y in zip(got, expected):
            assert (x is None and y is None) or x.tobytes() == y.tobytes()


def test_the_sums_have_one_fixed_order():
    """A line's sum: lane c % 16, lanes in order, folded 16 -> 8 -> 4 -> 2 -> 1; written out
    here element by element in Python floats (the kernel and the reference must agree with
    it, and they do on every ISA: the bitwise tests above)."""
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((3, 41)) * 10.0 ** rng.integers(-8, 8, (3, 41))).astype(np.float32)
    one = (rng.standard_normal((1, 1000)) * 10.0 ** rng.integers(-8, 8, (1, 1000)))
    for line, got in [*zip(x, line_sums(x)), (one[0], line_sums(one)[0])]:   # (1 line: its
        # own branch)
        lanes = [0.0] * 16
        for c, v in enumerate(line):
            lanes[c % 16] += float(v) * float(v)
        w = 8
        while w >= 1:
            for k in range(w):
                lanes[k] += lanes[k + w]
            w //= 2
        assert got == lanes[0]


def test_rows_and_cols_come_from_the_plan_not_the_settings():
    """The kernel's rows and cols are each param's own: two matrices of the same size but
    other shapes in one call step as they do alone."""
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((6, 10)), rng.standard_normal((10, 6))
    ga, gb = rng.standard_normal(a.shape), rng.standard_normal(b.shape)
    alone = [a.copy(), b.copy()]
    sa, sb = _state(a), _state(b)
    fastopt.functional.adafactor([a, b], [ga, gb], [sa[0], sb[0]], [sa[1], sb[1]],
                                 [None, None], 1)
    for p, g in zip(alone, (ga, gb)):
        s = _state(p)
        fastopt.functional.adafactor([p], [g], [s[0]], [s[1]], [None], 1)
    assert np.array_equal(a, alone[0]) and np.array_equal(b, alone[1])
    assert not np.array_equal(a.reshape(-1), b.T.reshape(-1))


def _bad(what):
    p = np.ones((4, 6))
    row, col = _state(p)
    grads = [np.ones((4, 6))]
    if what == "row_var shape":
        row = np.zeros((4, 6))
        match = r"param 1: state 'row_var' has shape \(4, 6\); this param needs \(4, 1\)"
    elif what == "col_var shape":
        col = np.zeros((6, 1))
        match = r"param 1: state 'col_var' has shape \(6, 1\); this param needs \(1, 6\)"
    elif what == "col_var dtype":
        col = np.zeros((1, 6), np.float32)
        match = "param 1: state 'col_var' has dtype float32"
    elif what == "row_var strided":
        row = np.zeros((4, 2))[:, :1]
        match = "param 1: state 'row_var' is not C-contiguous"
    elif what == "col_var read-only":
        col.flags.writeable = False
        match = "param 1: state 'col_var' is read-only"
    elif what == "row_var missing":
        row = None
        match = "param 1: state 'row_var' is needed"
    elif what == "row_var overlaps param":
        row = p.reshape(-1)[:4].reshape(4, 1)   # C-contiguous, inside the param
        match = "overlap in memory"
    else:   # a Fortran-order param
        p = np.asfortranarray(p)
        grads = [np.asfortranarray(grads[0])]
        match = "param 1: the adafactor step keeps factored state .* must be C-contiguous"
    return p, grads, row, col, match


@pytest.mark.parametrize("what", ["row_var shape", "col_var shape", "col_var dtype",
                                  "row_var strided", "col_var read-only", "row_var missing",
                                  "row_var overlaps param", "param Fortran order"])
def test_bad_factors_are_refused_before_anything_is_written(what):
    p, grads, row, col, match = _bad(what)
    good = np.ones(5)
    variance = np.zeros(5)
    before = [x.copy() for x in (p, good, variance)
              ] + [x.copy() for x in (row, col) if x is not None]
    with pytest.raises((ValueError, TypeError), match=match):
        fastopt.functional.adafactor([good, p], [np.ones(5), grads[0]], [None, row],
                                     [None, col], [variance, None], 1)
    after = [p, good, variance] + [x for x in (row, col) if x is not None]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_a_vector_keeps_variance_and_a_matrix_its_factors():
    """The state each param keeps, as torch.optim.Adafactor keeps it; a buffer the param
    does not keep is never read (anything may stand there)."""
    opt = fastopt.Adafactor([np.ones(()), np.ones(3), np.ones((2, 3)), np.ones((4, 2, 3))])
    assert [sorted(opt.state[i]) for i in range(4)] == [
        ["step", "variance"], ["step", "variance"], ["col_var", "row_var", "step"],
        ["col_var", "row_var", "step"]]
    assert opt.state[3]["row_var"].shape == (4, 2, 1)
    assert opt.state[3]["col_var"].shape == (4, 1, 3)
    p, g, v = np.ones(4), np.full(4, 0.5), np.zeros(4)
    fastopt.functional.adafactor([p], [g], ["not read"], [object()], [v], 1)
    assert v.any() and (p < 1).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fastopt_torch_agrees_with_torch_and_with_the_numpy_object(dtype):
    torch = torch_or_skip()
    import fastopt.torch as ft
    dt = getattr(torch, dtype)
    gen = torch.Generator().manual_seed(4)
    shapes = [(17, 33), (3, 1, 1023), (2, 3, 4, 5), (7,), ()]
    ps = [torch.randn(s, generator=gen, dtype=dt).requires_grad_() for s in shapes]
    qs = [p.detach().clone().requires_grad_() for p in ps]
    arrays = [p.detach().numpy().copy() for p in ps]
    kw = dict(lr=0.05, weight_decay=0.1, d=1.5)
    theirs, ours, obj = torch.optim.Adafactor(ps, **kw), ft.Adafactor(qs, **kw), \
        fastopt.Adafactor(arrays, **kw)
    for _ in range(6):
        grads = [torch.randn(s, generator=gen, dtype=dt) for s in shapes]
        for p, q, g in zip(ps, qs, grads):
            p.grad, q.grad = g.clone(), g.clone()
        theirs.step()
        ours.step()
        obj.step([g.numpy() for g in grads])
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-13)
    for i, (p, q, a) in enumerate(zip(ps, qs, arrays)):
        assert q.detach().numpy().tobytes() == a.tobytes()       # the same kernel, bitwise
        torch.testing.assert_close(q, p, **tol)
        for k, v in theirs.state[p].items():
            assert ours.state[q][k].shape == v.shape and ours.state[q][k].dtype == v.dtype
            torch.testing.assert_close(ours.state[q][k], v, **tol)
            assert np.array_equal(obj.state[i][k], ours.state[q][k].numpy())
    # state dicts both ways: torch's into ours and ours into torch's go on as the runs they
    # came from
    again_ps = [p.detach().clone().requires_grad_() for p in ps]
    again = ft.Adafactor(again_ps, **kw)
    again.load_state_dict(copy.deepcopy(theirs.state_dict()))   # (a state_dict() shares
    # the live tensors)
    back_qs = [q.detach().clone().requires_grad_() for q in qs]
    back = torch.optim.Adafactor(back_qs, **kw)
    back.load_state_dict(copy.deepcopy(ours.state_dict()))
    for _ in range(3):
        grads = [torch.randn(s, generator=gen, dtype=dt) for s in shapes]
        for params, opt in ((ps, theirs), (again_ps, again), (qs, ours), (back_qs, back)):
            for p, g in zip(params, grads):
                p.grad = g.clone()
            opt.step()
    for p, a in zip(ps, again_ps):
        torch.testing.assert_close(a, p, **tol)
    for q, b in zip(qs, back_qs):
        torch.testing.assert_close(b, q, **tol)
    assert sorted(back.state_dict()["state"][0]) == ["col_var", "row_var", "step"]
    assert float(again.state[again_ps[0]]["step"]) == 9.0


@pytest.mark.parametrize("what", ["shape", "strided", "dtype", "missing"])
def test_torch_factors_that_do_not_fit_are_refused_naming_the_param(what):
    torch = torch_or_skip()
    import fastopt.torch as ft
    b = torch.ones(5, requires_grad=True)
    w = torch.ones(4, 6, requires_grad=True)
    opt = ft.Adafactor([b, w])
    b.grad, w.grad = torch.ones(5), torch.ones(4, 6)
    opt.step()
    exc, match = ValueError, None
    if what == "shape":
        opt.state[w]["col_var"] = torch.zeros(4, 1)
        match = r"param 1: state 'col_var' has shape \(4, 1\); a param of shape \(4, 6\) needs \(1, 6\)"
    elif what == "strided":
        opt.state[w]["row_var"] = torch.zeros(4, 2)[:, :1]
        match = r"param 1: state 'row_var' is not C-contiguous"
    elif what == "dtype":
        opt.state[w]["row_var"] = torch.zeros(4, 1, dtype=torch.float64)
        exc, match = TypeError, r"param 1: state 'row_var' has dtype float64"
    else:   # a missing factor is made, as torch.optim makes missing state: zeros
        del opt.state[w]["row_var"]
    before = [b.detach().clone(), w.detach().clone()]
    if match is None:
        opt.step()
        assert opt.state[w]["row_var"].shape == (4, 1) and not torch.equal(w.detach(), before[1])
        return
    with pytest.raises(exc, match=match):
        opt.step()
    assert torch.equal(b.detach(), before[0]) and torch.equal(w.detach(), before[1])
    assert float(opt.state[w]["step"]) == 1.0 and float(opt.state[b]["step"]) == 1.0


def test_empty_params_step_in_numpy():
    arrays = [np.zeros((3, 0)), np.zeros((2, 0, 3)), np.ones(4)]
    opt = fastopt.Adafactor(arrays)
    opt.step([np.ones((3, 0)), np.ones((2, 0, 3)), np.ones(4)])
    assert opt.state[1]["col_var"].shape == (2, 1, 3) and (arrays[2] < 1).all()


def test_empty_params_step_in_fastopt_torch():
    """Empty params (strides of an empty tensor are anything) step, changing nothing."""
    torch = torch_or_skip()
    import fastopt.torch as ft
    ps = [torch.zeros(3, 0, requires_grad=True), torch.zeros(2, 0, 3, requires_grad=True),
          torch.ones(4, requires_grad=True)]
    opt = ft.Adafactor(ps)
    for p in ps:
        p.grad = torch.ones(p.shape)
    opt.step()
    assert opt.state[ps[1]]["col_var"].shape == (2, 1, 3) and (ps[2] < 1).all()
