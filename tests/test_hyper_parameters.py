"""What hyper-parameters mean beyond the table-driven tests: torch's defaults, the ends of
their ranges, and AdamW's decoupled weight decay (Adam without it, and never in the
moments)."""
import inspect

import numpy as np
import pytest

import fastopt
from cases import CASE_IDS, CASES


def test_adamw_without_decay_is_adam_and_with_decay_is_not():
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal(33)
    ps = [p0.copy() for _ in range(3)]
    opts = [fastopt.Adam([ps[0]], lr=0.01), fastopt.AdamW([ps[1]], lr=0.01, weight_decay=0.0),
            fastopt.AdamW([ps[2]], lr=0.01)]
    for _ in range(5):
        g = rng.standard_normal(33)
        for opt in opts:
            opt.step([g])
    assert np.array_equal(ps[0], ps[1])
    assert not np.array_equal(ps[0], ps[2])


def test_adamw_decay_never_enters_the_moments():
    """With a zero gradient, AdamW only shrinks the param by (1 - lr * wd) per step."""
    p = np.full(4, 2.0)
    opt = fastopt.AdamW([p], lr=0.1, weight_decay=0.5)
    for _ in range(3):
        opt.step([np.zeros(4)])
    assert np.array_equal(p, np.full(4, 2.0 * 0.95 * 0.95 * 0.95))
    assert not opt.state[0]["exp_avg"].any() and not opt.state[0]["exp_avg_sq"].any()


def test_defaults():
    """torch.optim's defaults (2.13), plus fastopt's own eps_inside_sqrt=False."""
    a = fastopt.Adam([np.zeros(1)]).defaults
    w = fastopt.AdamW([np.zeros(1)]).defaults
    d = fastopt.Adadelta([np.zeros(1)]).defaults
    assert a == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                     maximize=False)
    assert w == {**a, "weight_decay": 1e-2}
    assert d == dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False)
    adagrad = dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                   eps=1e-10, eps_inside_sqrt=False, maximize=False)
    assert fastopt.Adagrad([np.zeros(1)]).defaults == adagrad
    assert fastopt.RowwiseAdagrad([np.zeros((1, 1))]).defaults == adagrad
    assert fastopt.SGD([np.zeros(1)]).defaults == dict(
        lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False)
    assert fastopt.RMSprop([np.zeros(1)]).defaults == dict(
        lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
        maximize=False, eps_inside_sqrt=False)
    assert fastopt.SparseAdam([np.zeros((1, 1))]).defaults == dict(
        lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_the_functional_step_has_the_objects_defaults(case):
    """Each functional step's keyword defaults are its class's (for the settings it takes),
    and it takes the half-precision keywords ``masters=None, seed=0`` (the objects'
    ``master_weights`` and ``seed`` options, which are not group settings)."""
    params = inspect.signature(case.functional).parameters
    kw = {k: v.default for k, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY}
    defaults = case.cls([np.zeros((1, 1))]).defaults
    assert kw.pop("masters", "missing") is None and kw.pop("seed", "missing") == 0, case.name
    assert kw, case.name
    for key, value in kw.items():
        assert key in defaults, (case.name, key)
        assert defaults[key] == value, (case.name, key)
    assert set(defaults) - set(kw) <= {"initial_accumulator_value"}, case.name


@pytest.mark.parametrize("rho", [0.0, 1.0])
def test_adadelta_accepts_the_ends_of_rho(rho):
    p = np.ones(3)
    fastopt.Adadelta([p], rho=rho).step([np.ones(3)])
    assert np.all(np.isfinite(p)) and np.all(p < 1)


def test_settings_are_translated_again_when_they_change():
    """The kernel scalars are reused only while a group's settings are the same objects:
    a new lr, a removed key or an invalid value changed after a step all take effect."""
    import numpy as np
    import fastopt
    from fastopt import reference
    p = np.ones(7, np.float32)
    opt = fastopt.Adagrad([p], lr=0.5)
    g = np.full(7, 0.25, np.float32)
    opt.step([g])
    opt.param_groups[0]["lr"] = 0.125          # a scheduler's new value
    opt.step([g])
    q, s = np.ones(7, np.float32), np.zeros(7, np.float32)
    reference.adagrad([q], [g], [s], 1, lr=0.5)
    reference.adagrad([q], [g], [s], 2, lr=0.125)
    assert np.array_equal(p, q) and np.array_equal(opt.state[0]["sum"], s)
    opt.param_groups[0]["lr"] = -1.0
    before = p.copy()
    with pytest.raises(ValueError, match="lr"):
        opt.step([g])
    del opt.param_groups[0]["lr"]
    with pytest.raises(ValueError, match="'lr'"):
        opt.step([g])
    assert np.array_equal(p, before)


def test_functional_settings_cache_sees_each_call():
    import numpy as np
    import fastopt
    p, s = np.ones(5), np.zeros(5)
    g = np.full(5, 2.0)
    fastopt.functional.adagrad([p], [g], [s], 1, lr=1.0)
    after_one = p.copy()
    with pytest.raises(ValueError, match="lr"):
        fastopt.functional.adagrad([p], [g], [s], 2, lr=float("nan"))
    with pytest.raises(ValueError, match="maximize"):
        fastopt.functional.adagrad([p], [g], [s], 2, lr=1.0, maximize=1)
    assert np.array_equal(p, after_one) and np.array_equal(s, np.full(5, 4.0))
