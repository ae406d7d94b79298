"""The optimizer objects: param groups, skipped params, groups added or changed after
construction (table-driven). State dicts: test_state_dicts.py; convergence:
test_convergence.py."""
import numpy as np
import pytest

from cases import CASE_IDS, CASES


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
    # Rprop's lr only filled its step sizes when the param was added: a later lr changes
    # nothing (as in torch once its state exists); every other lr scales the next step
    assert np.array_equal(a, b) != case.lr_sets_state_only
    opt_a.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr"):
        opt_a.step(g)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_whole_step_in_c_equals_the_general_path(case, monkeypatch):
    """The object's step runs whole in C (_kernels.step_groups) while grads are dense and
    state is as it was, else its general path: both give bitwise the same params and state,
    through skipped params, a changed lr and an invalid setting (refused the same way)."""
    from fastopt import _kernels
    calls = []
    whole = _kernels.step_groups

    def counted(*args):
        done = whole(*args)
        calls.append(done)
        return done
    results = []
    for general in (False, True):
        rng = np.random.default_rng(5)
        params = [rng.standard_normal(s).astype(d) for s, d in
                  [((5, 7), np.float32), ((33,), np.float64), ((1,), np.float32)]]
        opt = case.cls([{"params": params[:2], **case.grid[-1]},
                        {"params": params[2:], **case.grid[0]}])
        monkeypatch.setattr(_kernels, "step_groups",
                            (lambda *a: False) if general else counted)
        errors = []
        for step in range(6):
            grads = [rng.standard_normal(p.shape).astype(p.dtype) for p in params]
            if step % 2:
                grads[1] = None
            if step == 3:
                opt.param_groups[1]["lr"] = opt.param_groups[1]["lr"] / 2
            if step == 4:
                good, opt.param_groups[0]["lr"] = opt.param_groups[0]["lr"], -1.0
                with pytest.raises(ValueError) as info:
                    opt.step(grads)
                errors.append(str(info.value))
                opt.param_groups[0]["lr"] = good
            opt.step(grads)
        results.append(([p.copy() for p in params],
                        {i: dict(st) for i, st in opt.state.items()}, errors))
    (pa, sa, ea), (pb, sb, eb) = results
    assert ea == eb and "param 0" in ea[0]
    for x, y in zip(pa, pb):
        assert np.array_equal(x, y)
    for i in sa:
        assert sa[i].keys() == sb[i].keys()
        for k in sa[i]:
            assert np.array_equal(sa[i][k], sb[i][k]), (i, k)
    if case.cls.algorithm.kernel is not None and case.cls.algorithm.dense_grads:
        assert calls.count(True) >= 5   # every good step but (maybe) the first went whole
