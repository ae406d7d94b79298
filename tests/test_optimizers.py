"""The optimizer objects: groups, skipped params, state dicts, convergence (table-driven)."""
import copy

import numpy as np
import pytest

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


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_object_equals_reference_with_groups_and_skips(case, isa):
    """Two groups with different hyper-parameters, a param skipped (None grad) on some steps:
    each param's trajectory and step count equal the reference's, bit for bit."""
    rng = np.random.default_rng(3)
    hyper_a, hyper_b = case.grid[-1], case.grid[len(case.grid) // 3]
    params = [rng.standard_normal(s).astype(d) for s, d in
              [((5, 7), np.float32), ((33,), np.float64), ((1,), np.float32)]]
    ref = [p.copy() for p in params]
    opt = case.cls([{"params": params[:2], **hyper_a}, {"params": params[2:], **hyper_b}])
    ref_state = [case.new_state(p, h) for p, h in zip(ref, [hyper_a, hyper_a, hyper_b])]
    ref_steps = [0, 0, 0]
    for step in range(6):
        grads = [rng.standard_normal(p.shape).astype(p.dtype) for p in params]
        if step % 2:
            grads[1] = None
        opt.step(grads)
        for i, (p, g) in enumerate(zip(ref, grads)):
            if g is None:
                continue
            ref_steps[i] += 1
            h = hyper_a if i < 2 else hyper_b
            case.run(case.reference, [p], [g], {k: [v] for k, v in ref_state[i].items()},
                     ref_steps[i], h)
    for i in range(3):
        assert np.array_equal(params[i], ref[i]), i
        assert opt.state[i]["step"] == ref_steps[i]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_state_dict_round_trip_continues_identically(case):
    rng = np.random.default_rng(4)
    params = [rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(5)]
    opt = case.cls([{"params": [params[0]]}, {"params": [params[1]], **case.obj_kwargs}])
    grads = [[rng.standard_normal(p.shape).astype(p.dtype) for p in params] for _ in range(8)]
    for g in grads[:4]:
        opt.step(g)
    sd = opt.state_dict()
    saved = copy.deepcopy(sd)
    clones = [p.copy() for p in params]
    for g in grads[4:]:
        opt.step(g)
    # the saved dict is a copy: stepping did not change it
    for i, st in saved["state"].items():
        for key, value in st.items():
            assert np.array_equal(np.asarray(value), np.asarray(sd["state"][i][key]))
    other = case.cls([{"params": [clones[0]]}, {"params": [clones[1]]}])
    other.load_state_dict(sd)
    assert other.param_groups[1]["lr"] == opt.param_groups[1]["lr"]
    for g in grads[4:]:
        other.step(g)
    for a, b in zip(params, clones):
        assert np.array_equal(a, b)
    for i in opt.state:
        for key, value in opt.state[i].items():
            assert np.array_equal(np.asarray(value), np.asarray(other.state[i][key])), key


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_load_state_dict_rejects_what_does_not_fit(case):
    p = np.zeros((2, 3), np.float32)
    q = np.zeros(4, np.float64)
    opt = case.cls([{"params": [p]}, {"params": [q]}], **case.obj_kwargs)
    opt.step([np.ones_like(p), np.ones_like(q)])
    good = opt.state_dict()
    key = next(k for k, v in good["state"][0].items() if isinstance(v, np.ndarray))

    def broken(fn):
        sd = copy.deepcopy(good)
        fn(sd)
        return sd

    bad = {
        "not a dict": [1, 2],
        "missing key": {"state": {}},
        "group count": broken(lambda sd: sd["param_groups"].pop()),
        "group size": broken(lambda sd: sd["param_groups"][0]["params"].append(7)),
        "state shape": broken(lambda sd: sd["state"][0].__setitem__(key, np.zeros(6))),
        "state dtype": broken(lambda sd: sd["state"][0].__setitem__(
            key, np.zeros((2, 3), np.int32))),
        "state keys": broken(lambda sd: sd["state"][0].pop(key)),
        "extra key": broken(lambda sd: sd["state"][0].__setitem__("bogus", 1)),
        "unknown id": broken(lambda sd: sd["state"].__setitem__(99, sd["state"][0])),
        "bad step": broken(lambda sd: sd["state"][1].__setitem__("step", -3)),
        "bad hyper": broken(lambda sd: sd["param_groups"][1].__setitem__("lr", -1.0)),
    }
    before = opt.state_dict()
    for name, sd in bad.items():
        with pytest.raises(ValueError):
            opt.load_state_dict(sd)
        now = opt.state_dict()
        assert now["param_groups"] == before["param_groups"], name
        for i, st in before["state"].items():
            for k, v in st.items():
                assert np.array_equal(np.asarray(v), np.asarray(now["state"][i][k])), name


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_load_state_dict_casts_to_the_param_dtype(case):
    p = np.zeros(3, np.float32)
    opt = case.cls([p], **case.obj_kwargs)
    opt.step([np.ones(3, np.float32)])
    sd = opt.state_dict()
    for key, value in sd["state"][0].items():
        if isinstance(value, np.ndarray):
            sd["state"][0][key] = value.astype(np.float64)
    opt.load_state_dict(sd)
    for value in opt.state[0].values():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32 and value.flags.c_contiguous


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_add_param_group_and_repr(case):
    a, b = np.zeros(3, np.float32), np.zeros(2, np.float64)
    opt = case.cls([a], **case.obj_kwargs)
    opt.add_param_group({"params": b, "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["params"][0] is b
    assert set(opt.state) == {0, 1}
    opt.step([np.ones(3, np.float32), np.ones(2)])
    assert not np.array_equal(b, 0) and not np.array_equal(a, 0)
    assert "Parameter Group 1" in repr(opt)
    with pytest.raises(ValueError):
        opt.add_param_group({"params": [np.zeros(2)], "lr": -1})
    assert len(opt.param_groups) == 2 and set(opt.state) == {0, 1}


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_lr_changed_in_group_takes_effect(case):
    """Schedulers write group['lr']; the next step must use it (and validate it)."""
    a, b = np.ones(4), np.ones(4)
    opt_a = case.cls([a], **case.obj_kwargs)
    opt_b = case.cls([b], **{**case.obj_kwargs, "lr": case.obj_kwargs.get("lr", 0.1) / 10})
    opt_a.param_groups[0]["lr"] /= 10
    g = [np.full(4, 0.5)]
    opt_a.step(g)
    opt_b.step(g)
    assert np.array_equal(a, b)
    opt_a.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr"):
        opt_a.step(g)
