"""State buffers that flags switch on (Adam/AdamW's amsgrad, RMSprop's centered and
momentum, SGD's momentum): which exist, what the functional steps take for the ones a
setting does not use, and what happens when a flag changes in a group after some steps.

A buffer switched on later starts at zero (SGD: its first step with momentum sets it to the
gradient and restarts the count, as torch does), checked bitwise against fastopt.reference;
a buffer switched off is kept but neither read nor written. The gated buffers are read from
each algorithm's kernel, so a new one is covered here by adding its case to tests/cases.py.
"""
import numpy as np
import pytest

import fastopt
from fastopt import functional, reference
from cases import CASES


def _gated():
    """(case, flag, state name, functional list name) for every buffer a flag switches on."""
    out = []
    for case in CASES:
        kernel = case.cls.algorithm.dense
        for name, gate, key in zip(kernel.state_names, kernel.gates, case.state_keys):
            assert key.rstrip("s") == name, (case.name, key, name)
            if gate is not None:
                out.append((case, gate, name, key))
    return out


GATED = _gated()
GATED_IDS = [f"{c.name}-{gate}" for c, gate, _, _ in GATED]
#: a value that switches each flag on
ON = {"amsgrad": True, "centered": True, "momentum": 0.9}


def test_the_gated_buffers_are_the_expected_ones():
    assert sorted(GATED_IDS) == ["adam-amsgrad", "adamw-amsgrad", "rmsprop-centered",
                                 "rmsprop-momentum", "sgd-momentum"]


def _off(value):
    return False if isinstance(value, bool) else 0.0


class _Mirror:
    """fastopt.reference stepping the same params as an optimizer object: a copy of each
    param, its state by kernel name, its step count and its group's settings."""

    def __init__(self, case, opt):
        self.case = case
        self.kernel = case.cls.algorithm.dense
        self.params = [p.copy(order="K") for g in opt.param_groups for p in g["params"]]
        self.state = [{n: (None if opt.state[i].get(n) is None else opt.state[i][n].copy("K"))
                       for n in self.kernel.state_names} for i in range(len(self.params))]
        for st in self.state:
            for v in st.values():
                assert v is None or not v.any(), "fresh buffers start at zero"
        self.steps = [0] * len(self.params)

    def step(self, opt, grads):
        i = 0
        for group in opt.param_groups:
            settings = {k: v for k, v in group.items() if k != "params"}
            for _ in group["params"]:
                self.steps[i] += 1
                lists = {key: [self.state[i][name]] for name, key in
                         zip(self.kernel.state_names, self.case.state_keys)}
                self.case.run(self.case.reference, [self.params[i]], [grads[i]], lists,
                              self.steps[i], settings)
                i += 1

    def switch_on(self, i, name, restart):
        """The buffer starts at zero (like the param, its layout too); SGD restarts."""
        self.state[i][name] = np.zeros_like(self.params[i])
        if restart:
            self.steps[i] = 0

    def assert_equal(self, opt, what):
        theirs = [p for g in opt.param_groups for p in g["params"]]
        for i, (q, p) in enumerate(zip(theirs, self.params)):
            assert np.array_equal(q, p), f"param {i}, {what}"
            assert opt.state[i]["step"] == self.steps[i], f"step {i}, {what}"
            for name, want in self.state[i].items():
                got = opt.state[i].get(name)
                if want is None:
                    assert got is None, f"{name} {i}, {what}"
                else:
                    assert got.dtype == want.dtype and got.strides == want.strides, name
                    assert np.array_equal(got, want), f"{name} {i}, {what}"


def _like(p, rng):
    """A random gradient with p's dtype and memory layout."""
    g = np.empty_like(p)
    g[...] = rng.standard_normal(p.shape)
    return g


def _two_groups(case, gate, dtype, rng):
    """Group 0: a Fortran-order 2-D param whose flag will change; group 1: a 1-D param whose
    flag stays as it started. Both start with the flag off (other settings: case.obj_kwargs)."""
    settings = {**case.obj_kwargs, gate: _off(ON[gate])}
    a = np.asfortranarray(rng.standard_normal((5, 4)).astype(dtype))
    b = rng.standard_normal(7).astype(dtype)
    return case.cls([{"params": [a]}, {"params": [b]}], **settings), [a, b]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case, gate, name, key", GATED, ids=GATED_IDS)
def test_a_buffer_switched_on_later_starts_at_zero(case, gate, name, key, dtype):
    """Two steps with the flag off, then on in one group for three more: every param, buffer
    and step count bitwise as fastopt.reference with a zero buffer from the switch on (SGD:
    the buffer starts as the gradient, the count restarts); the other group is unaffected;
    the new buffer has its param's dtype and memory layout."""
    rng = np.random.default_rng(10)
    opt, params = _two_groups(case, gate, dtype, rng)
    mirror = _Mirror(case, opt)
    assert opt.state[0].get(name) is None and opt.state[1].get(name) is None
    for step in range(5):
        if step == 2:
            opt.param_groups[0][gate] = ON[gate]
            mirror.switch_on(0, name, restart=case.cls is fastopt.SGD)   # as torch
        grads = [_like(p, rng) for p in params]
        opt.step(grads)
        mirror.step(opt, grads)
        mirror.assert_equal(opt, f"after step {step + 1}")
    assert opt.state[0][name].strides == params[0].strides
    assert opt.state[1].get(name) is None


@pytest.mark.parametrize("case, gate, name, key", GATED, ids=GATED_IDS)
def test_a_buffer_switched_on_is_not_kept_when_the_step_fails(case, gate, name, key):
    """All or nothing: a step that raises (a bad grad for another param) after the flag was
    switched on writes nothing and keeps no new buffer; the next good step makes it."""
    rng = np.random.default_rng(11)
    opt, params = _two_groups(case, gate, np.float64, rng)
    grads = [_like(p, rng) for p in params]
    opt.step(grads)
    before, sd = [p.copy() for p in params], opt.state_dict()
    opt.param_groups[0][gate] = ON[gate]
    with pytest.raises(ValueError, match="param 1: grad has shape"):
        opt.step([grads[0], np.ones(8)])
    assert all(np.array_equal(a, b) for a, b in zip(before, params))
    assert opt.state[0].get(name) is None
    for i, st in sd["state"].items():
        assert set(opt.state[i]) == set(st)
        for k, v in st.items():
            assert (opt.state[i][k] is None) if v is None else np.array_equal(opt.state[i][k], v)
    opt.step(grads)
    assert opt.state[0][name] is not None and opt.state[1].get(name) is None


@pytest.mark.parametrize("case, gate, name, key", GATED, ids=GATED_IDS)
def test_a_buffer_switched_off_later_is_kept_and_left_alone(case, gate, name, key):
    """On from the start, off after two steps: the steps then equal the reference without
    the flag, and the buffer keeps the bits it had."""
    rng = np.random.default_rng(12)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(6)
    opt = case.cls([{"params": [a]}, {"params": [b]}], **{**case.obj_kwargs, gate: ON[gate]})
    mirror = _Mirror(case, opt)
    for step in range(4):
        if step == 2:
            opt.param_groups[0][gate] = _off(ON[gate])
            kept = opt.state[0][name].copy()
        grads = [rng.standard_normal(p.shape) for p in (a, b)]
        opt.step(grads)
        mirror.step(opt, grads)
        mirror.assert_equal(opt, f"after step {step + 1}")
    assert np.array_equal(opt.state[0][name], kept)


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


def test_sgd_functional_takes_none_buffers_without_momentum():
    p, q = np.ones(3, np.float32), np.ones(3, np.float32)
    g = np.full(3, 0.5, np.float32)
    functional.sgd([p], [g], None, 1, lr=0.1)
    reference.sgd([q], [g], [None], 1, lr=0.1)
    assert np.array_equal(p, q)
    with pytest.raises(ValueError, match="momentum_buffer' is needed"):
        functional.sgd([p], [g], [None], 1, lr=0.1, momentum=0.9)
    assert np.array_equal(p, q)


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


def test_rmsprop_functional_takes_none_for_unused_buffers():
    p, q = np.ones(3), np.ones(3)
    v, w = np.zeros(3), np.zeros(3)
    g = np.full(3, 0.5)
    functional.rmsprop([p], [g], [v], None, None, 1, lr=0.1)
    reference.rmsprop([q], [g], [w], None, None, 1, lr=0.1)
    assert np.array_equal(p, q) and np.array_equal(v, w)


def _moments(p):
    return [np.zeros_like(p)], [np.zeros_like(p)]


@pytest.mark.parametrize("cls", [fastopt.Adam, fastopt.AdamW])
def test_max_exp_avg_sq_exists_only_with_amsgrad(cls):
    a, b = np.zeros(3, np.float32), np.zeros(4)
    opt = cls([{"params": [a]}, {"params": [b], "amsgrad": True}])
    opt.step([np.ones(3, np.float32), np.ones(4)])
    assert set(opt.state[0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert set(opt.state[1]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert opt.state[1]["max_exp_avg_sq"].dtype == np.float64
    assert np.all(opt.state[1]["max_exp_avg_sq"] > 0)
    sd = opt.state_dict()
    # a buffer a flag switches on may be saved or not, whatever the flag says now (a state
    # dict saved after amsgrad was switched off has it): it loads, checked, and is kept
    sd["state"][0]["max_exp_avg_sq"] = np.full(3, 2.0, np.float32)
    opt.load_state_dict(sd)
    assert np.array_equal(opt.state[0]["max_exp_avg_sq"], np.full(3, 2.0, np.float32))
    sd["state"][0]["max_exp_avg_sq"] = np.zeros(2, np.float32)
    with pytest.raises(ValueError, match="param 0: saved 'max_exp_avg_sq' has shape"):
        opt.load_state_dict(sd)


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_functional_takes_no_max_buffer_without_amsgrad(name):
    rng = np.random.default_rng(0)
    p = rng.standard_normal(9).astype(np.float32)
    q = p.copy()
    g = rng.standard_normal(9).astype(np.float32)
    m, v = _moments(p)
    m2, v2 = _moments(p)
    getattr(functional, name)([p], [g], m, v, None, 1, lr=0.1)
    getattr(reference, name)([q], [g], m2, v2, None, 1, lr=0.1)
    assert np.array_equal(p, q) and np.array_equal(m[0], m2[0]) and np.array_equal(v[0], v2[0])
    before = [p.copy(), m[0].copy(), v[0].copy()]
    with pytest.raises(ValueError, match="max_exp_avg_sq' is needed"):
        getattr(functional, name)([p], [g], m, v, None, 2, lr=0.1, amsgrad=True)
    assert all(np.array_equal(a, b) for a, b in zip(before, [p, m[0], v[0]]))


@pytest.mark.parametrize("case, gate, name, key", GATED, ids=GATED_IDS)
def test_the_functional_needs_a_gated_buffer_only_when_its_flag_is_on(case, gate, name, key):
    """Flag off: the buffer may be None (a list of None, or None for the list) and the step
    equals the reference; flag on: None is refused naming the param and the buffer, and
    nothing (param or other state) is written."""
    rng = np.random.default_rng(13)
    p0, g = rng.standard_normal(11), rng.standard_normal(11)
    settings = {**case.obj_kwargs, gate: _off(ON[gate])}
    for none in (None, [None, None]):
        runs = []
        for impl in (case.functional, case.reference):
            ps = [p0.copy(), p0.copy()]
            states = {k: [np.zeros(11), np.zeros(11)] for k in case.state_keys}
            states[key] = none if impl is case.functional else [None, None]
            case.run(impl, ps, [g, g], states, 2, settings)
            runs.append(ps + [a for k in case.state_keys if k != key for a in states[k]])
        assert all(np.array_equal(a, b) for a, b in zip(*runs))
    ps = [p0.copy(), p0.copy()]
    states = {k: [np.zeros(11), np.zeros(11)] for k in case.state_keys}
    states[key] = [np.zeros(11), None]
    snap = [a.copy() for a in ps + [a for v in states.values() for a in v if a is not None]]
    with pytest.raises(ValueError, match=f"param 1: state '{name}' is needed"):
        case.run(case.functional, ps, [g, g], states, 2, {**settings, gate: ON[gate]})
    after = ps + [a for v in states.values() for a in v if a is not None]
    assert all(np.array_equal(a, b) for a, b in zip(snap, after))
