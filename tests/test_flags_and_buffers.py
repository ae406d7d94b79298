"""What SGD and RMSprop have beyond the table-driven tests: optional state buffers (momentum
started late, torch-style state dicts), and the textbook forms (d2l) they must reproduce."""
import copy

import numpy as np
import pytest

import fastopt
from fastopt import functional, reference


def quadratic_grad(x):
    return np.array([0.2, 4.0], x.dtype) * x


# ---- SGD ------------------------------------------------------------------------------------

def test_sgd_without_momentum_keeps_no_buffer():
    p = np.ones(3)
    opt = fastopt.SGD([p], lr=0.1)
    opt.step([np.ones(3)])
    assert opt.state[0] == {"step": 1, "momentum_buffer": None}
    sd = opt.state_dict()
    other = fastopt.SGD([np.ones(3)], lr=0.1)
    other.load_state_dict(sd)
    assert other.state[0] == {"step": 1, "momentum_buffer": None}


def test_sgd_momentum_started_late_sets_buffer_from_gradient():
    p = np.zeros(4)
    opt = fastopt.SGD([p], lr=0.1, dampening=0.5)
    opt.step([np.ones(4)])
    opt.param_groups[0]["momentum"] = 0.9
    g = np.arange(4.0)
    opt.step([g])
    # torch: the buffer starts as the gradient (no dampening on its first step)
    assert np.array_equal(opt.state[0]["momentum_buffer"], g)
    assert opt.state[0]["step"] == 1
    np.testing.assert_array_equal(p, -0.1 * np.ones(4) - 0.1 * g)


def test_sgd_momentum_started_late_is_undone_when_the_step_fails():
    params = [np.zeros(4), np.zeros(2)]
    opt = fastopt.SGD(params, lr=0.1)
    opt.step([np.ones(4), np.ones(2)])
    before = [p.copy() for p in params]
    opt.param_groups[0]["momentum"] = 0.9
    with pytest.raises(ValueError, match="param 1: grad has shape"):
        opt.step([np.ones(4), np.ones(3)])
    assert all(np.array_equal(a, b) for a, b in zip(params, before))
    assert opt.state == {0: {"step": 1, "momentum_buffer": None},
                         1: {"step": 1, "momentum_buffer": None}}


def test_sgd_loads_a_torch_style_state_dict_as_started():
    """torch.optim.SGD saves only the buffer: it must be used (step 2 path), not overwritten."""
    rng = np.random.default_rng(0)
    p = rng.standard_normal(5)
    buf = rng.standard_normal(5)
    kwargs = dict(lr=0.1, momentum=0.9, dampening=0.25)
    opt = fastopt.SGD([p], **kwargs)
    opt.load_state_dict({"state": {0: {"momentum_buffer": buf.copy()}},
                         "param_groups": [dict(kwargs, nesterov=False, weight_decay=0.0,
                                               maximize=False, params=[0])]})
    assert opt.state[0]["step"] == 1
    q, b = p.copy(), buf.copy()
    g = rng.standard_normal(5)
    opt.step([g])
    reference.sgd([q], [g], [b], 2, **kwargs)
    assert np.array_equal(p, q) and np.array_equal(opt.state[0]["momentum_buffer"], b)


def test_sgd_loads_a_missing_buffer_as_not_started():
    p = np.zeros(3)
    opt = fastopt.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    sd = opt.state_dict()
    sd["state"] = {0: {}}  # torch keeps no entry for a param it never stepped
    opt.load_state_dict(sd)
    assert opt.state[0]["step"] == 0
    opt.step([np.full(3, 2.0)])
    assert np.array_equal(opt.state[0]["momentum_buffer"], np.full(3, 2.0))


def test_sgd_functional_takes_none_buffers_without_momentum():
    p, q = np.ones(3, np.float32), np.ones(3, np.float32)
    g = np.full(3, 0.5, np.float32)
    functional.sgd([p], [g], None, 1, lr=0.1)
    reference.sgd([q], [g], [None], 1, lr=0.1)
    assert np.array_equal(p, q)
    with pytest.raises(ValueError, match="momentum_buffer' is needed"):
        functional.sgd([p], [g], [None], 1, lr=0.1, momentum=0.9)


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


# ---- RMSprop --------------------------------------------------------------------------------

@pytest.mark.parametrize("momentum, centered, keys", [
    (0.0, False, {"step", "square_avg"}),
    (0.9, False, {"step", "square_avg", "momentum_buffer"}),
    (0.0, True, {"step", "square_avg", "grad_avg"}),
    (0.9, True, {"step", "square_avg", "momentum_buffer", "grad_avg"}),
])
def test_rmsprop_state_keys_follow_the_settings(momentum, centered, keys):
    opt = fastopt.RMSprop([np.zeros(2)], momentum=momentum, centered=centered)
    opt.step([np.ones(2)])
    assert set(opt.state[0]) == keys


@pytest.mark.parametrize("key, value", [("momentum", 0.9), ("centered", True)])
def test_rmsprop_switching_a_buffer_on_later_raises_and_writes_nothing(key, value):
    p = np.ones(3)
    opt = fastopt.RMSprop([p])
    opt.step([np.ones(3)])
    sd, before = opt.state_dict(), p.copy()
    opt.param_groups[0][key] = value
    name = "momentum_buffer" if key == "momentum" else "grad_avg"
    with pytest.raises(ValueError, match=f"{name}' is needed"):
        opt.step([np.ones(3)])
    assert np.array_equal(p, before)
    assert opt.state[0]["step"] == 1
    assert np.array_equal(opt.state[0]["square_avg"], sd["state"][0]["square_avg"])


def test_rmsprop_load_state_dict_optional_buffers():
    opt = fastopt.RMSprop([np.zeros(3, np.float32)], momentum=0.9)
    opt.step([np.ones(3, np.float32)])
    good = opt.state_dict()
    bad = copy.deepcopy(good)
    bad["state"][0]["momentum_buffer"] = None
    with pytest.raises(ValueError, match="momentum_buffer' is None"):
        opt.load_state_dict(bad)
    # keys follow the group's settings: a buffer its hyper-parameters do not use is refused
    extra = copy.deepcopy(good)
    extra["param_groups"][0]["momentum"] = 0.0
    with pytest.raises(ValueError, match="saved state has keys"):
        opt.load_state_dict(extra)
    assert set(opt.state[0]) == {"step", "square_avg", "momentum_buffer"}


def test_sgd_load_state_dict_buffer_without_momentum():
    """SGD keeps the key either way: None, or a buffer kept after momentum was set to 0."""
    opt = fastopt.SGD([np.zeros(3, np.float32)], lr=0.1, momentum=0.9)
    opt.step([np.ones(3, np.float32)])
    sd = opt.state_dict()
    sd["param_groups"][0]["momentum"] = 0.0
    sd["state"][0]["momentum_buffer"] = np.ones(3)
    opt.load_state_dict(sd)
    assert opt.state[0]["momentum_buffer"].dtype == np.float32
    opt.step([np.ones(3, np.float32)])
    assert np.array_equal(opt.state[0]["momentum_buffer"], np.ones(3, np.float32))
    sd["state"][0]["momentum_buffer"] = np.ones(4)
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(sd)


def test_rmsprop_functional_takes_none_for_unused_buffers():
    p, q = np.ones(3), np.ones(3)
    v, w = np.zeros(3), np.zeros(3)
    g = np.full(3, 0.5)
    functional.rmsprop([p], [g], [v], None, None, 1, lr=0.1)
    reference.rmsprop([q], [g], [w], None, None, 1, lr=0.1)
    assert np.array_equal(p, q) and np.array_equal(v, w)


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
