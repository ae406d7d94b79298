"""Scalar state: one number per param that the plan itself moves on (registry "x:scalar":
NAdam's mu_product, ASGD's eta and mu), float32 or float64 whatever the param's dtype.

The kernels read the value before the step (ASGD) or after it (NAdam) from a copy the plan
makes before its first write; the new values are stored once every kernel has run, so a
threaded step that cuts a param into pieces advances its scalars exactly once. Bad scalar
buffers are refused naming the param, with nothing written.
"""
import numpy as np
import pytest

import fastopt
from conftest import torch_or_skip
from fastopt import functional, reference

DTYPES = (np.float32, np.float64)


def _nadam_state(p, scalar_dtype=np.float32):
    return [np.zeros_like(p), np.zeros_like(p), np.ones((), scalar_dtype)]


def _asgd_state(p, lr, scalar_dtype=np.float32):
    return [np.zeros_like(p), np.ones((), scalar_dtype), np.array(lr, scalar_dtype)]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("scalar_dtype", DTYPES, ids=lambda d: "scalar-" + np.dtype(d).name)
def test_scalar_state_of_either_dtype_is_stepped_in_its_own(dtype, scalar_dtype, isa):
    """A float64 mu_product beside a float32 param (and the reverse) is computed in its own
    dtype, bitwise as the reference; ASGD's eta and mu too, and t0 = 2 makes mu < 1."""
    rng = np.random.default_rng(3)
    for n in (0, 1, 17, 4097):
        p = rng.standard_normal(n).astype(dtype)
        ours, theirs = [p.copy(), *_nadam_state(p, scalar_dtype)], \
            [p.copy(), *_nadam_state(p, scalar_dtype)]
        a_ours, a_theirs = [p.copy(), *_asgd_state(p, 0.05, scalar_dtype)], \
            [p.copy(), *_asgd_state(p, 0.05, scalar_dtype)]
        for step in range(1, 6):
            g = rng.standard_normal(n).astype(dtype)
            functional.nadam([ours[0]], [g], *[[x] for x in ours[1:]], step, lr=0.01,
                             momentum_decay=0.3)
            reference.nadam([theirs[0]], [g], *[[x] for x in theirs[1:]], step, lr=0.01,
                            momentum_decay=0.3)
            functional.asgd([a_ours[0]], [g], *[[x] for x in a_ours[1:]], step, lr=0.05,
                            lambd=0.01, t0=2)
            reference.asgd([a_theirs[0]], [g], *[[x] for x in a_theirs[1:]], step, lr=0.05,
                           lambd=0.01, t0=2)
        for x, y in zip(ours + a_ours, theirs + a_theirs):
            assert x.dtype == y.dtype and np.array_equal(x, y), (n, x, y)
        assert ours[3].dtype == scalar_dtype and a_ours[2].dtype == scalar_dtype
        assert a_ours[2] == scalar_dtype(1.0 / 3.0)   # mu after step 5: 1 / (5 - t0)


def test_an_empty_param_still_advances_its_scalars():
    """torch multiplies mu_product for a param with no elements too: so does the plan."""
    p = np.zeros(0, np.float32)
    st = _nadam_state(p)
    functional.nadam([p], [p.copy()], *[[x] for x in st], 1)
    assert st[2] == np.float32(0.9 * (1 - 0.5 * 0.96 ** 0.004))


def test_threads_advance_each_scalar_once(isa):
    """A param cut into pieces on several threads: its scalars advance once, bitwise as on
    one thread (and as the reference)."""
    from fastopt import _kernels
    before = _kernels.thread_min_elements(16)
    try:
        rng = np.random.default_rng(5)
        p0 = rng.standard_normal(10007).astype(np.float32)
        grads = [rng.standard_normal(p0.size).astype(np.float32) for _ in range(4)]
        results = []
        for threads in (1, 2, 3):
            p, st = p0.copy(), _nadam_state(p0)
            q, at = p0.copy(), _asgd_state(p0, 0.05)
            with fastopt.num_threads(threads):
                for step, g in enumerate(grads, 1):
                    functional.nadam([p], [g], *[[x] for x in st], step)
                    functional.asgd([q], [g], *[[x] for x in at], step, lr=0.05, t0=1)
            results.append([p, *st, q, *at])
        p, st = p0.copy(), _nadam_state(p0)
        q, at = p0.copy(), _asgd_state(p0, 0.05)
        for step, g in enumerate(grads, 1):
            reference.nadam([p], [g], *[[x] for x in st], step)
            reference.asgd([q], [g], *[[x] for x in at], step, lr=0.05, t0=1)
        for got in results:
            for x, y in zip(got, [p, *st, q, *at]):
                assert np.array_equal(x, y)
    finally:
        _kernels.thread_min_elements(before)


def _bad(kind, p):
    st = _nadam_state(p)
    if kind == "two numbers":
        st[2] = np.ones(2, np.float32)
    elif kind == "read-only":
        st[2].setflags(write=False)
    elif kind == "integer":
        st[2] = np.ones((), np.int32)
    elif kind == "a view of the param":
        st[2] = p[:1].reshape(())
    elif kind == "a view of exp_avg":
        st[2] = st[0][3:4].reshape(())
    return st


@pytest.mark.parametrize("kind,exc,match", [
    ("two numbers", ValueError, r"param 1: state 'mu_product' must hold one number"),
    ("read-only", ValueError, r"param 1: state 'mu_product' is read-only"),
    ("integer", TypeError, r"param 1: state 'mu_product' has dtype int32"),
    ("a view of the param", ValueError, r"param 1's (param|state 'mu_product') and param 1's "
                                        r"(param|state 'mu_product') overlap"),
    ("a view of exp_avg", ValueError, r"overlap"),
])
def test_a_bad_scalar_buffer_is_refused_and_nothing_is_written(kind, exc, match):
    rng = np.random.default_rng(0)
    ps = [rng.standard_normal(5).astype(np.float32) for _ in range(2)]
    states = [_nadam_state(ps[0]), _bad(kind, ps[1])]
    before = [x.copy() for x in ps] + [x.copy() for st in states for x in st]
    with pytest.raises(exc, match=match):
        functional.nadam(ps, [np.ones(5, np.float32)] * 2,
                         *[[st[j] for st in states] for j in range(3)], 1)
    after = ps + [x for st in states for x in st]
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(before, after))


def test_two_params_sharing_one_scalar_are_refused():
    ps = [np.ones(4, np.float32), np.ones(4, np.float32)]
    mu_product = np.ones((), np.float32)
    with pytest.raises(ValueError, match="overlap"):
        functional.nadam(ps, [np.ones(4, np.float32)] * 2,
                         [np.zeros(4, np.float32), np.zeros(4, np.float32)],
                         [np.zeros(4, np.float32), np.zeros(4, np.float32)],
                         [mu_product, mu_product], 1)
    assert mu_product == 1.0 and all((p == 1).all() for p in ps)


@pytest.mark.parametrize("value,match", [
    (np.ones(2, np.float32), "one number"), ("1.0", "one number"), ([1.0], "one number"),
    (np.array(np.nan, np.float32), "finite"), (np.array(np.inf), "finite")])
def test_a_saved_scalar_that_does_not_fit_is_refused_naming_the_param(value, match):
    p = np.zeros(3, np.float32)
    opt = fastopt.NAdam([p])
    opt.step([np.ones(3, np.float32)])
    sd = opt.state_dict()
    sd["state"][0]["mu_product"] = value
    before = opt.state_dict()
    with pytest.raises(ValueError, match=f"param 0: saved 'mu_product'.*{match}"):
        opt.load_state_dict(sd)
    assert opt.state[0]["mu_product"] == before["state"][0]["mu_product"]


@pytest.mark.parametrize("name,kwargs", [("NAdam", dict(lr=0.01)),
                                         ("ASGD", dict(lr=0.02, t0=2.0, lambd=0.01))])
@pytest.mark.parametrize("how", ["pickle", "state_dict"])
def test_torch_scalar_state_keeps_its_dtype_through_pickle_and_state_dicts(name, kwargs, how):
    """float64 params, float32 scalar state (torch's): a pickled copy or a resumed optimizer
    keeps the float32 scalars and goes on bit for bit as the original (and as torch)."""
    import copy
    import pickle
    from conftest import torch_or_skip
    torch = torch_or_skip()
    import fastopt.torch
    gen = torch.Generator().manual_seed(0)
    params = [torch.randn(s, generator=gen, dtype=torch.float64) for s in ((7, 5), (3,))]
    grads = [[torch.randn(p.shape, generator=gen, dtype=torch.float64) for p in params]
             for _ in range(8)]
    cls = getattr(fastopt.torch, name)
    opt = cls(params, **kwargs)
    twin_params = [p.clone() for p in params]
    theirs = getattr(torch.optim, name)(twin_params, **kwargs)
    for i, step_grads in enumerate(grads):
        if i == 4:
            if how == "pickle":   # (the optimizer and its params together, as torch.save)
                copy_params, other = pickle.loads(pickle.dumps((params, opt)))
            else:
                copy_params = [p.clone() for p in params]
                other = cls(copy_params, **kwargs)
                # (a copy: torch's load_state_dict keeps the tensors it can, as they are)
                other.load_state_dict(copy.deepcopy(opt.state_dict()))
            for key in opt.algorithm.scalar_state:
                assert other.state[copy_params[0]][key].dtype == torch.float32
        for ps, o in [(params, opt), (twin_params, theirs)] + (
                [(copy_params, other)] if i >= 4 else []):
            for p, g in zip(ps, step_grads):
                p.grad = g.clone()
            o.step()
    for p, q, r in zip(params, copy_params, twin_params):
        assert torch.equal(p, q)
        torch.testing.assert_close(p, r, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind,exc,match", [
    ("two numbers", ValueError, r"param 1: state 'mu_product' must hold one number"),
    ("integer", TypeError, r"param 1's state 'mu_product' has dtype torch.int32"),
    ("misaligned", ValueError, r"param 1: state 'mu_product' is read-only or not aligned"),
    ("the step counter", ValueError, r"param 1's state 'mu_product' and param 1's state "
                                     r"'step' overlap"),
])
def test_torch_a_bad_scalar_tensor_is_refused_and_nothing_is_written(kind, exc, match):
    """fastopt.torch's scalar state (NAdam's mu_product) that does not fit: refused naming the
    param, params and state unchanged."""
    torch = torch_or_skip()
    import fastopt.torch as ft
    ps = [torch.ones(5, requires_grad=True), torch.ones(5, requires_grad=True)]
    opt = ft.NAdam(ps, lr=0.01)
    for p in ps:
        p.grad = torch.full((5,), 0.5)
    opt.step()
    st = opt.state[ps[1]]
    if kind == "two numbers":
        st["mu_product"] = torch.ones(2)
    elif kind == "integer":
        st["mu_product"] = torch.ones((), dtype=torch.int32)
    elif kind == "misaligned":
        raw = np.zeros(5, np.uint8)[1:].view(np.float32).reshape(())   # at an odd address
        st["mu_product"] = torch.from_numpy(raw)
    else:
        st["mu_product"] = st["step"]
    before = [p.detach().clone() for p in ps] + [
        v.clone() for s in opt.state.values() for v in s.values()]
    with pytest.raises(exc, match=match):
        opt.step()
    after = [p.detach() for p in ps] + [v for s in opt.state.values() for v in s.values()]
    assert all(torch.equal(a, b) for a, b in zip(before, after))
