"""Helpers for the fastopt.torch tests: a small model, its data, training, comparison.

Imports torch only inside functions, so test modules import without it.
"""
#: The one tolerance of every comparison with torch.optim (the oracle), by dtype name, used
#: through assert_matches_torch (and by the tests that compare by hand): "equal up to
#: rounding" after 20-30 steps. fastopt does torch's operations in torch's order (the exact
#: test in test_torch_oracle.py checks that bit for bit) yet is not bitwise equal to torch as
#: torch runs, for two reasons, measured on torch 2.13 on CPU:
#:
#: * torch's sqrt is not correctly rounded (about 18% of float32 results one ulp off C's and
#:   NumPy's; float64 too);
#: * torch's compiled kernels contract ``a * b + c`` into fused multiply-adds: its vectorized
#:   ATen loops, lerp (Adam's first moment, RMSprop's centered average) and addcmul (every
#:   running average of squares).
#:
#: Each step agrees to an ulp or so; over the steps the differences add up and, in a trained
#: model, feed back through the gradients. float32 values carry 24 bits, float64 values 53,
#: hence a tolerance per dtype. Measured over test_torch_oracle.py's table and
#: test_torch_optimizers.py's trainings, the worst gap is half of it in float32 (RMSprop's
#: momentum buffers, ~2e-6 on values near 0, where atol holds) and 1/40 of it in float64.
TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-12, atol=1e-13)}

#: Bit for bit: what test_exact_order_against_torch asks once torch's arithmetic is IEEE.
EXACT = dict(rtol=0, atol=0)


def classes(case):
    """(fastopt.torch class, torch.optim class) of a TorchCase."""
    import torch

    import fastopt.torch
    return getattr(fastopt.torch, case.name), getattr(torch.optim, case.name)


def make_model(dtype=None, seed=0):
    """Linear(6, 16) / ReLU / Linear(16, 3), the same weights for the same seed."""
    import torch
    from torch import nn
    dtype = dtype or torch.float32
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model.to(dtype)


def make_data(steps, dtype=None, seed=1):
    import torch
    dtype = dtype or torch.float32
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(32, 6, generator=g, dtype=dtype),
             torch.randn(32, 3, generator=g, dtype=dtype)) for _ in range(steps)]


def train(model, opt, data, *, sched=None, clip=None, closure=False):
    """One optimizer step per batch (zero_grad, backward, optional clipping, step)."""
    import torch
    losses = []
    for x, y in data:
        if closure:
            def fn(x=x, y=y):
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x), y)
                loss.backward()
                return loss
            losses.append(float(opt.step(fn).detach()))
        else:
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            losses.append(float(loss.detach()))
        if sched is not None:
            sched.step()
    return losses


def assert_same_training(ours_model, ours, theirs_model, theirs, state_keys=None):
    """Params and every state entry agree to rounding; step counts exactly; same state keys."""
    a, b = list(ours_model.parameters()), list(theirs_model.parameters())
    assert_matches_torch([(p, ours.state.get(p, {})) for p in a],
                         [(p, theirs.state.get(p, {})) for p in b])
    if state_keys is not None:
        for i, p in enumerate(b):
            keys = state_keys(p) if callable(state_keys) else state_keys   # (by the param's shape)
            assert not theirs.state.get(p) or set(theirs.state[p]) == set(keys), (
                f"param {i}: torch's state keys {sorted(theirs.state[p])}, "
                f"expected {sorted(keys)}")


def assert_matches_torch(ours, theirs, tol=None, label="fastopt"):
    """The one comparison with torch.optim, for both front ends: ``ours`` and ``theirs`` are
    lists of (param, state dict) pairs, theirs from torch.optim, ours from fastopt.torch
    (tensors) or from a NumPy object (arrays and an int step; pass its state through
    numpy_state). Every param and every state buffer agree to ``tol`` (default TOL by dtype)
    and have torch's dtype and shape; step counts agree exactly, fastopt.torch's of torch's
    type (a tensor of its dtype, or SparseAdam's int); the state keys are torch's."""
    import numpy as np
    import torch
    assert len(ours) == len(theirs), f"{label}: {len(ours)} params, torch has {len(theirs)}"
    for i, ((a, sa), (b, sb)) in enumerate(zip(ours, theirs)):
        where = f"{label}, param {i}"
        kind = torch.Tensor if isinstance(a, torch.Tensor) else np.ndarray
        t = tol if tol is not None else TOL[str(b.dtype).split(".")[-1]]
        _assert_close(a, b, kind, t, where)
        assert set(sa) == set(sb), f"{where}: state keys {sorted(sa)} vs torch {sorted(sb)}"
        for key, vb in sb.items():
            va = sa[key]
            if key != "step":
                _assert_close(va, vb, kind, t, f"{where}, state {key!r}")
                continue
            if kind is np.ndarray:
                assert type(va) is int, f"{where}: step {va!r}"
            else:   # a tensor, or an int as in torch's SparseAdam
                assert type(va) is type(vb) and getattr(va, "dtype", None) == getattr(
                    vb, "dtype", None), f"{where}: step {va!r}, torch has {vb!r}"
                assert getattr(va, "shape", ()) == getattr(vb, "shape", ()), (
                    f"{where}: step {va!r}, torch has {vb!r}")
            assert float(va) == float(vb), f"{where}: step {va} vs torch {vb}"


def numpy_state(name, state):
    """A NumPy object's state for one param, with torch's keys: its SGD keeps a step count
    (torch's keeps none) and, without momentum, ``momentum_buffer: None`` (torch: no entry)."""
    state = {k: v for k, v in state.items() if v is not None}
    if name == "SGD":
        state.pop("step")
    return state


def _assert_close(a, b, kind, tol, where):
    """``a`` (a ``kind``: tensor or array) equals torch's tensor ``b`` to ``tol``, with its
    dtype, shape and layout."""
    import numpy as np
    import torch
    assert isinstance(a, kind), f"{where}: {type(a).__name__}, not a {kind.__name__}"
    expected = b.detach().numpy()
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.layout == b.layout, f"{where}: {a!r}, torch has {b!r}"
        a = a.detach().numpy()
    assert a.dtype == expected.dtype, f"{where}: dtype {a.dtype}, torch has {expected.dtype}"
    assert a.shape == expected.shape, f"{where}: shape {a.shape}, torch has {expected.shape}"
    np.testing.assert_allclose(a, expected, **tol, err_msg=where)


def snapshot(model, opt):
    """Copies of every param, grad and state tensor, and the identity of each state entry."""
    import torch
    params = [p.detach().clone() for p in model.parameters()]
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    state = {id(p): {k: (v, v.clone() if isinstance(v, torch.Tensor) else v)
                     for k, v in st.items()} for p, st in opt.state.items()}
    return params, grads, state, len(opt.state)


def assert_unchanged(before, model, opt):
    import torch
    params, grads, state, n_state = before
    for i, (p, old) in enumerate(zip(model.parameters(), params)):
        assert torch.equal(p.detach(), old), f"param {i} was written"
    for i, (p, old) in enumerate(zip(model.parameters(), grads)):
        if (old is not None and p.grad is not None and p.grad.shape == old.shape
                and p.grad.layout == old.layout == torch.strided):
            assert torch.equal(p.grad, old), f"grad {i} was written"
    assert len(opt.state) == n_state, "state was created"
    for p, st in opt.state.items():
        for k, v in st.items():
            obj, copy = state[id(p)][k]
            if v is obj and isinstance(v, torch.Tensor) and v.shape == copy.shape:
                assert torch.allclose(v, copy, rtol=0, atol=0, equal_nan=True), (
                    f"state {k!r} was written")


#: SparseAdam settings tested against torch.optim.SparseAdam (NumPy and torch front ends).
SPARSE_ADAM_SETTINGS = [
    {},
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.9)),
    dict(lr=0.01, betas=(0.0, 0.5)),
    dict(lr=0.01, eps=1e-3),
    dict(lr=0.01, maximize=True),
    dict(lr=0.02, betas=(0.5, 0.99), eps=1e-6, maximize=True),
]
