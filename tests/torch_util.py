"""Helpers for the fastopt.torch tests: a small model, its data, training, comparison.

Imports torch only inside functions, so test modules import without it.
"""
#: Tolerances for "equal up to float32 (float64) rounding" after 20-30 steps of training: both
#: sides round differently (torch's ATen loops may fuse multiply-adds), and the differences
#: feed back through the model's gradients.
TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-12, atol=1e-13)}


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
    import torch
    for i, (a, b) in enumerate(zip(ours_model.parameters(), theirs_model.parameters())):
        tol = TOL[str(b.dtype).split(".")[-1]]
        torch.testing.assert_close(a, b, **tol, msg=lambda m: f"param {i}: {m}")
        sa, sb = ours.state.get(a, {}), theirs.state.get(b, {})
        assert set(sa) == set(sb), f"param {i}: state keys {sorted(sa)} vs torch {sorted(sb)}"
        if state_keys is not None and sb:
            assert set(sb) == set(state_keys)
        for key in sb:
            va, vb = sa[key], sb[key]
            assert isinstance(va, torch.Tensor) and va.dtype == vb.dtype, (
                f"param {i}: state {key!r} is {va!r}, torch has {vb!r}")
            assert va.shape == vb.shape
            if key == "step":
                assert float(va) == float(vb), f"param {i}: step {va} vs torch {vb}"
            else:
                torch.testing.assert_close(va, vb, **tol, msg=lambda m: f"param {i} {key}: {m}")


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
