"""Lion (no torch.optim class to serve as the oracle): fastopt.torch.Lion against the NumPy
object bit for bit, against straightforward PyTorch transcriptions of the paper, and as a
torch.optim.Optimizer (groups, state dicts, schedulers, validation). The kernel against the
reference, on every ISA path and hyper-parameter, is tests/cases.py's LION row."""
import numpy as np
import pytest

import fastopt
from conftest import torch_or_skip

DTYPES = ("float32", "float64")


def _model(torch, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=dtype).requires_grad_(True)
            for s in ((7, 5), (33,), (1,))]


def _grads(torch, dtype, n_steps, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(s, generator=gen, dtype=dtype) for s in ((7, 5), (33,), (1,))]
            for _ in range(n_steps)]


def _paper_algorithm_2(torch, params, grads, lr, betas, weight_decay):
    """Chen et al. (2023), Algorithm 2, line by line, in PyTorch."""
    beta1, beta2 = betas
    ms = [torch.zeros_like(p) for p in params]
    with torch.no_grad():
        for step_grads in grads:
            for p, g, m in zip(params, step_grads, ms):
                c = beta1 * m + (1 - beta1) * g
                p.sub_(lr * (torch.sign(c) + weight_decay * p))
                m.copy_(beta2 * m + (1 - beta2) * g)
    return ms


def _authors_pytorch(torch, params, grads, lr, betas, weight_decay):
    """The authors' PyTorch implementation's order: decay first, then the signed update."""
    beta1, beta2 = betas
    ms = [torch.zeros_like(p) for p in params]
    with torch.no_grad():
        for step_grads in grads:
            for p, g, m in zip(params, step_grads, ms):
                p.mul_(1 - lr * weight_decay)
                update = m * beta1 + g * (1 - beta1)
                p.add_(torch.sign(update), alpha=-lr)
                m.mul_(beta2).add_(g, alpha=1 - beta2)
    return ms


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [dict(lr=0.01), dict(lr=0.003, betas=(0.8, 0.95),
                                                        weight_decay=0.3)], ids=str)
def test_matches_the_papers_algorithm_and_the_authors_implementation(dtype, kwargs):
    torch = torch_or_skip()
    import fastopt.torch
    dt = getattr(torch, dtype)
    grads = _grads(torch, dt, 20)
    ours = _model(torch, dt)
    opt = fastopt.torch.Lion(ours, **kwargs)
    for step_grads in grads:
        for p, g in zip(ours, step_grads):
            p.grad = g.clone()
        opt.step()
    full = dict(dict(betas=(0.9, 0.99), weight_decay=0.0), **kwargs)
    # float32: torch's scalar-tensor products round differently in a few elements, and a
    # momentum near 0 can then flip a sign: one lr of difference at most
    tol = dict(rtol=0, atol=1e-12) if dtype == "float64" else dict(rtol=0, atol=2.01 * full["lr"])
    for transcription in (_paper_algorithm_2, _authors_pytorch):
        theirs = _model(torch, dt)
        ms = transcription(torch, theirs, grads, full["lr"], full["betas"], full["weight_decay"])
        for p, q, m in zip(ours, theirs, ms):
            torch.testing.assert_close(p.detach(), q.detach(), **tol)
            torch.testing.assert_close(opt.state[p]["exp_avg"], m,
                                       **(dict(rtol=0, atol=1e-12) if dtype == "float64"
                                          else dict(rtol=1e-5, atol=1e-6)))
        assert float(opt.state[ours[0]]["step"]) == len(grads)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fastopt_torch_is_the_numpy_object_bit_for_bit_with_groups(dtype):
    torch = torch_or_skip()
    import fastopt.torch
    dt = getattr(torch, dtype)
    tensors = _model(torch, dt)
    arrays = [t.detach().numpy().copy() for t in tensors]
    groups = dict(lr=0.01, betas=(0.5, 0.9), weight_decay=0.2, maximize=True)
    topt = fastopt.torch.Lion([{"params": tensors[:2]}, {"params": tensors[2:], **groups}],
                              lr=0.02)
    nopt = fastopt.Lion([{"params": arrays[:2]}, {"params": arrays[2:], **groups}], lr=0.02)
    for step_grads in _grads(torch, dt, 8):
        for t, g in zip(tensors, step_grads):
            t.grad = g
        topt.step()
        nopt.step([g.numpy() for g in step_grads])
    for i, (t, a) in enumerate(zip(tensors, arrays)):   # the NumPy state: by param index
        assert t.detach().numpy().tobytes() == a.tobytes()
        assert topt.state[t]["exp_avg"].numpy().tobytes() == nopt.state[i]["exp_avg"].tobytes()
        assert nopt.state[i]["step"] == 8 and float(topt.state[t]["step"]) == 8


def test_state_dict_round_trip_continues_the_same_training():
    torch = torch_or_skip()
    import fastopt.torch
    grads = _grads(torch, torch.float32, 10)

    def run(split):
        params = _model(torch, torch.float32)
        opt = fastopt.torch.Lion(params, lr=0.01, weight_decay=0.1)
        for i, step_grads in enumerate(grads):
            if i == split:
                saved = opt.state_dict()
                assert sorted(saved["state"][0]) == ["exp_avg", "step"]
                opt = fastopt.torch.Lion(params, lr=0.5)   # the loaded groups replace these
                opt.load_state_dict(saved)
            for p, g in zip(params, step_grads):
                p.grad = g
            opt.step()
        return params, opt

    straight, o1 = run(split=None)
    resumed, o2 = run(split=5)
    for p, q in zip(straight, resumed):
        assert torch.equal(p, q)
        assert torch.equal(o1.state[p]["exp_avg"], o2.state[q]["exp_avg"])
    assert o2.param_groups[0]["lr"] == 0.01


def test_an_lr_scheduler_scales_the_step():
    torch = torch_or_skip()
    import fastopt.torch
    p = torch.zeros(4, requires_grad=True)
    opt = fastopt.torch.Lion([p], lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    moved = []
    for _ in range(3):
        before = p.detach().clone()
        p.grad = torch.ones(4)
        opt.step()
        sched.step()
        moved.append(float((before - p.detach()).abs().max()))
    assert moved == pytest.approx([0.1, 0.05, 0.025], rel=1e-6)   # one lr per element


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(betas=(1.0, 0.9)),
                                    dict(weight_decay=-0.1), dict(lr=float("nan"))], ids=str)
def test_invalid_settings_raise_before_anything_is_written(kwargs):
    torch = torch_or_skip()
    import fastopt.torch
    p = torch.ones(5, requires_grad=True)
    p.grad = torch.ones(5)
    with pytest.raises(ValueError):
        fastopt.torch.Lion([p], **kwargs).step()
    assert torch.equal(p.detach(), torch.ones(5))


def test_numpy_and_functional_agree():
    p, q = np.linspace(-1, 1, 9), np.linspace(-1, 1, 9)
    m = np.zeros(9)
    opt = fastopt.Lion([q], lr=0.1, weight_decay=0.5)
    for t in (1, 2, 3):
        g = np.cos(np.arange(9.0) * t)
        fastopt.functional.lion([p], [g], [m], t, lr=0.1, weight_decay=0.5)
        opt.step([g])
    assert p.tobytes() == q.tobytes()
