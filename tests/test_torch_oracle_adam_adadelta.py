"""fastopt.Adadelta, Adam and AdamW against torch.optim (the oracle): same params and state
after 25 steps, to float32 rounding, for every combination of the hyper-parameters torch's
own tests use (and more). Needs torch (CI installs torch==2.13.0).

Tolerances: fastopt follows torch's operation order (fastopt.reference is that order, with
every operation rounded) but is not bitwise equal to torch, for two reasons checked by hand
against torch 2.13 on CPU: torch's sqrt is not correctly rounded (up to ~0.75 ulp, float32
and float64), and torch's compiled lerp (Adam's first moment) and addcmul (every running
average) contract ``a * b + c`` into a fused multiply-add. After 25 steps the gap is at most
~5e-6 relative for Adam/AdamW in float32 and ~2e-7 absolute for Adadelta's small params;
float64 agrees to 1e-12 relative.
"""
import itertools

import numpy as np
import pytest

import fastopt
from conftest import torch_or_skip

SHAPES = [(7, 5), (33,), (1,)]
N_STEPS = 25


def _product(**axes):
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


def _drop_defaults(kwargs, defaults):
    return {k: v for k, v in kwargs.items() if defaults.get(k, object()) != v}


# torch's optim_inputs_func_adadelta: default, lr, weight_decay, maximize,
# weight_decay + maximize, rho + weight_decay; here their full product, plus eps.
ADADELTA_SETTINGS = [{}, dict(lr=0.01)] + [
    _drop_defaults(kw, dict(rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False))
    for kw in _product(rho=[0.9, 0.95, 0.0, 1.0], eps=[1e-6, 1e-3], weight_decay=[0.0, 0.1, 0.9],
                       maximize=[False, True])
]

# torch's optim_inputs_func_adam(w): default, lr, weight_decay, weight_decay + maximize,
# weight_decay + amsgrad; here amsgrad x weight_decay x maximize x betas/eps variants.
ADAM_SETTINGS = [{}, dict(lr=0.01)] + [
    dict(lr=0.01, **kw)
    for kw in _product(amsgrad=[False, True], weight_decay=[0.0, 0.1], maximize=[False, True],
                       betas=[(0.9, 0.999), (0.4, 0.99), (0.0, 0.0)], eps=[1e-8, 1e-3])
]


def _tolerance(dtype):
    if dtype == np.float32:
        return dict(rtol=1e-5, atol=1e-6)
    return dict(rtol=1e-12, atol=1e-13)


def _run_both(ours_cls, torch_cls, kwargs, dtype, n_steps=N_STEPS):
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    ours = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in ours]
    opt = ours_cls(ours, **kwargs)
    topt = torch_cls(theirs, foreach=False, **kwargs)
    for _ in range(n_steps):
        grads = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        opt.step(grads)
        for t, g in zip(theirs, grads):
            t.grad = torch.from_numpy(g.copy())
        topt.step()
    return opt, ours, topt, theirs


def _assert_same(opt, ours, topt, theirs, dtype):
    tol = _tolerance(dtype)
    for i, (a, t) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a, t.detach().numpy(), **tol, err_msg=f"param {i}")
        tstate = topt.state[t]
        assert set(opt.state[i]) == set(tstate), (sorted(opt.state[i]), sorted(tstate))
        for key, value in tstate.items():
            if key == "step":
                assert opt.state[i]["step"] == int(value)
            else:
                assert opt.state[i][key].dtype == dtype
                np.testing.assert_allclose(opt.state[i][key], value.numpy(), **tol,
                                           err_msg=f"param {i} state {key}")


@pytest.mark.parametrize("kwargs", ADADELTA_SETTINGS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adadelta_matches_torch(kwargs, dtype):
    torch = torch_or_skip()
    _assert_same(*_run_both(fastopt.Adadelta, torch.optim.Adadelta, kwargs, dtype), dtype)


@pytest.mark.parametrize("kwargs", ADAM_SETTINGS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_matches_torch(name, kwargs, dtype):
    torch = torch_or_skip()
    _assert_same(*_run_both(getattr(fastopt, name), getattr(torch.optim, name), kwargs, dtype),
                 dtype)


@pytest.mark.parametrize("name", ["Adadelta", "Adam", "AdamW"])
def test_defaults_match_torch(name):
    """Same defaults as torch.optim's constructor (AdamW's weight_decay is 1e-2)."""
    torch = torch_or_skip()
    ours = getattr(fastopt, name)([np.zeros(2)]).defaults
    theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)]).defaults
    for key, value in ours.items():
        assert theirs[key] == value, key


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_continues_from_a_torch_state_dict(name):
    """A state dict saved by torch (tensors turned into arrays) loads into fastopt and the
    next steps match torch's: the state layout and key names are torch's."""
    torch = torch_or_skip()
    kwargs = dict(lr=0.01, weight_decay=0.1, amsgrad=True)
    opt, ours, topt, theirs = _run_both(getattr(fastopt, name), getattr(torch.optim, name),
                                        kwargs, np.float64, n_steps=5)
    sd = topt.state_dict()
    sd = {"state": {i: {k: v.numpy().copy() for k, v in st.items()}
                    for i, st in sd["state"].items()},
          "param_groups": sd["param_groups"]}
    fresh = [t.detach().numpy().copy() for t in theirs]
    other = getattr(fastopt, name)(fresh, **kwargs)
    other.load_state_dict(sd)
    rng = np.random.default_rng(1)
    for _ in range(5):
        grads = [rng.standard_normal(s) for s in SHAPES]
        other.step(grads)
        for t, g in zip(theirs, grads):
            t.grad = torch.from_numpy(g.copy())
        topt.step()
    _assert_same(other, fresh, topt, theirs, np.float64)
