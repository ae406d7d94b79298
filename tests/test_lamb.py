"""LAMB (no torch.optim class to serve as the oracle): fastopt.torch.Lamb against a
straightforward PyTorch transcription of the paper's Algorithm 2, against the NumPy object
bit for bit, and as a torch.optim.Optimizer (state dicts, schedulers, validation); the fixed
order of its norms. The kernel against the reference, on every ISA path, thread count and
hyper-parameter, is tests/cases.py's LAMB row."""
import math

import numpy as np
import pytest

import fastopt
from conftest import torch_or_skip
from fastopt.reference.lamb import _sum_squares

DTYPES = ("float32", "float64")
SHAPES = ((7, 5), (33,), (1,), (300, 7))


def _model(torch, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=dtype).requires_grad_(True) for s in SHAPES]


def _grads(torch, dtype, n_steps, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(s, generator=gen, dtype=dtype) for s in SHAPES]
            for _ in range(n_steps)]


def _paper_algorithm_2(torch, params, grads, lr, betas, eps, weight_decay):
    """You et al. (2019), Algorithm 2 (LAMB), line by line in PyTorch, phi the identity."""
    beta1, beta2 = betas
    ms = [torch.zeros_like(p) for p in params]
    vs = [torch.zeros_like(p) for p in params]
    with torch.no_grad():
        for t, step_grads in enumerate(grads, 1):
            for x, g, m, v in zip(params, step_grads, ms, vs):
                m.copy_(beta1 * m + (1 - beta1) * g)
                v.copy_(beta2 * v + (1 - beta2) * g * g)
                m_hat = m / (1 - beta1 ** t)
                v_hat = v / (1 - beta2 ** t)
                r = m_hat / (v_hat.sqrt() + eps)
                u = r + weight_decay * x
                x_norm, u_norm = x.norm(), u.norm()
                ratio = x_norm / u_norm if x_norm > 0 and u_norm > 0 else 1.0
                x.sub_(lr * ratio * u)
    return ms, vs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [dict(lr=0.01), dict(lr=0.003, betas=(0.8, 0.95), eps=1e-4,
                                                        weight_decay=0.3)], ids=str)
def test_matches_the_papers_algorithm(dtype, kwargs):
    torch = torch_or_skip()
    import fastopt.torch
    dt = getattr(torch, dtype)
    grads = _grads(torch, dt, 20)
    ours = _model(torch, dt)
    opt = fastopt.torch.Lamb(ours, **kwargs)
    for step_grads in grads:
        for p, g in zip(ours, step_grads):
            p.grad = g.clone()
        opt.step()
    full = dict(dict(betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0), **kwargs)
    theirs = _model(torch, dt)
    ms, vs = _paper_algorithm_2(torch, theirs, grads, full["lr"], full["betas"], full["eps"],
                                full["weight_decay"])
    # the transcription's own roundings (torch's fused lerp-free moments, its norms' order)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=2e-5, atol=2e-6)
    for p, q, m, v in zip(ours, theirs, ms, vs):
        torch.testing.assert_close(p.detach(), q.detach(), **tol)
        torch.testing.assert_close(opt.state[p]["exp_avg"], m, **tol)
        torch.testing.assert_close(opt.state[p]["exp_avg_sq"], v, **tol)
    assert float(opt.state[ours[0]]["step"]) == len(grads)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fastopt_torch_is_the_numpy_object_bit_for_bit_with_groups(dtype):
    torch = torch_or_skip()
    import fastopt.torch
    dt = getattr(torch, dtype)
    tensors = _model(torch, dt)
    arrays = [t.detach().numpy().copy() for t in tensors]
    groups = dict(lr=0.01, betas=(0.5, 0.9), weight_decay=0.2, maximize=True)
    topt = fastopt.torch.Lamb([{"params": tensors[:2]}, {"params": tensors[2:], **groups}],
                              lr=0.02)
    nopt = fastopt.Lamb([{"params": arrays[:2]}, {"params": arrays[2:], **groups}], lr=0.02)
    for step_grads in _grads(torch, dt, 8):
        for t, g in zip(tensors, step_grads):
            t.grad = g
        topt.step()
        nopt.step([g.numpy() for g in step_grads])
    for i, (t, a) in enumerate(zip(tensors, arrays)):
        assert t.detach().numpy().tobytes() == a.tobytes()
        for key in ("exp_avg", "exp_avg_sq"):
            assert topt.state[t][key].numpy().tobytes() == nopt.state[i][key].tobytes()
        assert nopt.state[i]["step"] == 8 and float(topt.state[t]["step"]) == 8


def test_the_norms_have_one_fixed_order():
    """_sum_squares (the kernel's order) is lane i % 16, rows added in turn, then a fold:
    checked against that definition written as plain loops, on sizes around the lanes."""
    rng = np.random.default_rng(4)
    for n in (0, 1, 15, 16, 17, 33, 1023, 4097):
        x = rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n)
        lanes = [0.0] * 16
        for i, xi in enumerate(x):
            lanes[i % 16] += xi * xi
        w = 8
        while w:
            lanes[:w] = [lanes[k] + lanes[k + w] for k in range(w)]
            w //= 2
        assert _sum_squares(x) == lanes[0], n


def test_a_zero_param_takes_the_plain_direction():
    """||p|| = 0 (a zero-initialised bias): the ratio is 1, so the step is lr * u."""
    p = np.zeros(5)
    g = np.array([1.0, -2.0, 0.5, 4.0, -0.25])
    fastopt.functional.lamb([p], [g], [np.zeros(5)], [np.zeros(5)], 1, lr=0.1, eps=0.0)
    assert np.array_equal(p, -0.1 * np.sign(g))


def test_the_trust_ratio_makes_the_step_scale_free():
    """Scaling the gradient changes nothing at step 1 (Adam's direction is scale-free), and
    the step's size is lr * ||p|| whatever the param's size."""
    for scale in (1e-3, 1.0, 1e3):
        p = np.full(64, 2.0)
        g = np.cos(np.arange(64.0)) * scale
        before = p.copy()
        fastopt.functional.lamb([p], [g], [np.zeros(64)], [np.zeros(64)], 1, lr=0.01, eps=0.0)
        assert math.isclose(np.linalg.norm(before - p), 0.01 * np.linalg.norm(before),
                            rel_tol=1e-12)


def test_state_dict_round_trip_and_scheduler():
    torch = torch_or_skip()
    import fastopt.torch
    grads = _grads(torch, torch.float32, 10)

    def run(split):
        params = _model(torch, torch.float32)
        opt = fastopt.torch.Lamb(params, lr=0.01, weight_decay=0.1)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
        for i, step_grads in enumerate(grads):
            if i == split:
                saved, saved_sched = opt.state_dict(), sched.state_dict()
                assert sorted(saved["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
                opt = fastopt.torch.Lamb(params, lr=0.5)
                opt.load_state_dict(saved)
                sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
                sched.load_state_dict(saved_sched)
            for p, g in zip(params, step_grads):
                p.grad = g
            opt.step()
            sched.step()
        return params, opt

    straight, o1 = run(split=None)
    resumed, o2 = run(split=5)
    for p, q in zip(straight, resumed):
        assert torch.equal(p, q)
        assert torch.equal(o1.state[p]["exp_avg_sq"], o2.state[q]["exp_avg_sq"])
    assert o2.param_groups[0]["lr"] == pytest.approx(0.01 * 0.5 ** 3)


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(betas=(1.0, 0.9)), dict(eps=-1.0),
                                    dict(weight_decay=-0.1), dict(lr=float("nan"))], ids=str)
def test_invalid_settings_raise_before_anything_is_written(kwargs):
    torch = torch_or_skip()
    import fastopt.torch
    p = torch.ones(5, requires_grad=True)
    p.grad = torch.ones(5)
    with pytest.raises(ValueError):
        fastopt.torch.Lamb([p], **kwargs).step()
    assert torch.equal(p.detach(), torch.ones(5))
