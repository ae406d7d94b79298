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
