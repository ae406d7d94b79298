"""Convergence: every optimizer (tests/cases.py) on the ill-conditioned quadratic bowl and
on Rosenbrock's valley, and the textbook forms (d2l) that SGD with momentum and RMSprop
(eps inside the root) must reproduce step by step."""
import numpy as np
import pytest

import fastopt
from cases import CASE_IDS, CASES


def quadratic_grad(x):
    """f(x) = 0.1 x1^2 + 2 x2^2, the textbook's ill-conditioned bowl."""
    return np.array([0.2, 4.0], x.dtype) * x


def quadratic(x):
    return 0.1 * x[0] ** 2 + 2 * x[1] ** 2


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_converges_on_the_quadratic(case, dtype):
    x = np.array([-5.0, -2.0], dtype)
    opt = case.cls([x], **case.obj_kwargs)
    start = quadratic(x)
    losses = []
    for _ in range(100):
        opt.step([quadratic_grad(x)])
        losses.append(quadratic(x))
    assert x.dtype == dtype
    assert losses[-1] < 0.1 * start, losses[::10]
    assert np.mean(losses[-10:]) < np.mean(losses[:10])


def rosenbrock(v):
    x, y = v
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def rosenbrock_grad(v):
    x, y = v
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_makes_progress_on_rosenbrock(case):
    """The curved valley: every optimizer, with its listed settings, at least halves f in
    2000 steps and ends nearer the minimum (1, 1) than it started."""
    v = np.array([-1.5, 2.0])
    start = rosenbrock(v)
    opt = case.cls([v], **case.rosenbrock_kwargs)
    for _ in range(2000):
        opt.step([rosenbrock_grad(v)])
    assert np.all(np.isfinite(v))
    assert rosenbrock(v) < 0.5 * start, v
    assert np.hypot(*(v - 1)) < np.hypot(-2.5, 1.0), v


def test_sgd_momentum_is_the_textbooks():
    """d2l's momentum (v = beta v + g; x -= eta v), 20 steps on the quadratic: same bits."""
    for eta, beta in [(0.4, 0.5), (0.6, 0.5)]:
        x = np.array([-5.0, -2.0])
        opt = fastopt.SGD([x], lr=eta, momentum=beta)
        y, v = x.copy(), np.zeros(2)
        for _ in range(20):
            opt.step([quadratic_grad(x)])
            v = beta * v + quadratic_grad(y)
            y = y - eta * v
        assert np.array_equal(x, y)


def test_rmsprop_eps_inside_sqrt_is_the_textbooks():
    """d2l's RMSProp (s = gamma s + (1 - gamma) g^2; x -= eta g / sqrt(s + eps)), eta 0.4,
    gamma 0.9, eps 1e-6, 20 steps on the quadratic: the same trajectory (to rounding; the
    textbook squares before scaling)."""
    x = np.array([-5.0, -2.0])
    opt = fastopt.RMSprop([x], lr=0.4, alpha=0.9, eps=1e-6, eps_inside_sqrt=True)
    y, s = x.copy(), np.zeros(2)
    for _ in range(20):
        opt.step([quadratic_grad(x)])
        g = quadratic_grad(y)
        s = 0.9 * s + (1 - 0.9) * g * g
        y = y - 0.4 * g / np.sqrt(s + 1e-6)
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
    assert abs(x[0]) < 0.1 and abs(x[1]) < 1e-3
