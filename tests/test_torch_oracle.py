"""fastopt's NumPy objects against torch.optim (the oracle): same params and state after
20 steps, to float32 rounding. Needs torch (CI installs torch==2.13.0)."""
import numpy as np
import pytest

import fastopt
from conftest import torch_or_skip

ADAGRAD_SETTINGS = [
    {},
    dict(lr=0.1),
    dict(lr=0.05, lr_decay=0.01),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, initial_accumulator_value=0.3),
    dict(lr=0.05, eps=1e-3),
    dict(lr=0.05, maximize=True),
    dict(lr=0.05, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1,
         maximize=True),
]


@pytest.mark.parametrize("kwargs", ADAGRAD_SETTINGS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adagrad_matches_torch(kwargs, dtype):
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    shapes = [(7, 5), (33,), (1,)]
    ours = [rng.standard_normal(s).astype(dtype) for s in shapes]
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in ours]
    opt = fastopt.Adagrad(ours, **kwargs)
    topt = torch.optim.Adagrad(theirs, foreach=False, **kwargs)
    for _ in range(25):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        opt.step(grads)
        for t, g in zip(theirs, grads):
            t.grad = torch.from_numpy(g.copy())
        topt.step()
    tol = dict(rtol=2e-6, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    for i, (a, t) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a, t.detach().numpy(), **tol)
        np.testing.assert_allclose(opt.state[i]["sum"], topt.state[t]["sum"].numpy(), **tol)
        assert opt.state[i]["step"] == int(topt.state[t]["step"])


# ---- row-sparse gradients: torch.sparse_coo_tensor grads on torch.optim ------------------------

def _sparse_batches(rng, n_rows, dim, dtype, n_steps):
    """Zipf-like ids with many repeats (and one empty batch), values of the param's dtype."""
    out = []
    for step in range(n_steps):
        k = 0 if step == 3 else int(rng.integers(1, 60))
        ranks = (rng.zipf(1.3, size=k) - 1) % n_rows
        idx = rng.permutation(n_rows)[ranks]
        out.append((idx, rng.standard_normal((k, dim)).astype(dtype)))
    return out


def _torch_sparse(torch, idx, values, shape):
    return torch.sparse_coo_tensor(torch.from_numpy(idx.reshape(1, -1).astype(np.int64)),
                                   torch.from_numpy(values.copy()), shape)


def _run_sparse_oracle(torch, ours_cls, theirs_cls, kwargs, dtype, state_keys):
    rng = np.random.default_rng(1)
    shapes = [(40, 7), (5, 33)]
    ours = [rng.standard_normal(s).astype(dtype) for s in shapes]
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in ours]
    opt = ours_cls(ours, **kwargs)
    topt = theirs_cls(theirs, **kwargs)
    batches = [_sparse_batches(rng, s[0], s[1], dtype, 25) for s in shapes]
    with torch.sparse.check_sparse_tensor_invariants(True):   # explicit: torch warns otherwise
        _steps(torch, opt, topt, theirs, shapes, batches)
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    for i, (a, t) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a, t.detach().numpy(), **tol)
        for key in state_keys:
            np.testing.assert_allclose(opt.state[i][key], topt.state[t][key].numpy(), **tol)
        assert opt.state[i]["step"] == int(topt.state[t]["step"])


def _steps(torch, opt, topt, theirs, shapes, batches):
    for step in range(25):
        grads = []
        for j, (t, s) in enumerate(zip(theirs, shapes)):
            idx, values = batches[j][step]
            grads.append(fastopt.SparseRows(idx, values))
            t.grad = _torch_sparse(torch, idx, values, s)
        opt.step(grads)
        topt.step()


SPARSE_ADAGRAD_SETTINGS = [
    {},
    dict(lr=0.1),
    dict(lr=0.05, lr_decay=0.01),
    dict(lr=0.05, initial_accumulator_value=0.3),
    dict(lr=0.05, eps=1e-3),
    dict(lr=0.05, maximize=True),
    dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1, maximize=True),
]


@pytest.mark.parametrize("kwargs", SPARSE_ADAGRAD_SETTINGS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adagrad_sparse_matches_torch(kwargs, dtype):
    torch = torch_or_skip()
    _run_sparse_oracle(torch, fastopt.Adagrad,
                       lambda ps, **kw: torch.optim.Adagrad(ps, foreach=False, **kw),
                       kwargs, dtype, ("sum",))


SPARSE_ADAM_SETTINGS = [
    {},
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.9)),
    dict(lr=0.01, betas=(0.0, 0.5)),
    dict(lr=0.01, eps=1e-3),
    dict(lr=0.01, maximize=True),
    dict(lr=0.02, betas=(0.5, 0.99), eps=1e-6, maximize=True),
]


@pytest.mark.parametrize("kwargs", SPARSE_ADAM_SETTINGS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_adam_matches_torch(kwargs, dtype):
    torch = torch_or_skip()
    _run_sparse_oracle(torch, fastopt.SparseAdam, torch.optim.SparseAdam, kwargs, dtype,
                       ("exp_avg", "exp_avg_sq"))
