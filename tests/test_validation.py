"""Bad input raises a clear exception naming the param, and nothing is written.

Every case builds a valid two-param step, breaks one thing, and checks that the call raises
*and* that every param and state buffer (of the good param too) is bit-for-bit unchanged.
"""
import numpy as np
import pytest

import fastopt

from cases import CASE_IDS, CASES


def full_hyper(case):
    """A grid entry (from the middle on) under which every state buffer is in use, so that
    every state breaker below applies."""
    mid = len(case.grid) // 2
    probe = np.zeros(1)
    return next(h for h in case.grid[mid:] + case.grid[:mid]
                if all(v is not None for v in case.new_state(probe, h).values()))


def make(case, dtype=np.float32, n=33):
    rng = np.random.default_rng(0)
    hyper = full_hyper(case)
    params = [rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)]
    grads = [rng.standard_normal(n).astype(dtype) for _ in params]
    states = [case.new_state(p, hyper) for p in params]
    return hyper, params, grads, states


def snapshot(params, states):
    return [p.copy() for p in params] + [v.copy() for s in states for v in s.values()]


def unchanged(before, params, states):
    after = [p for p in params] + [v for s in states for v in s.values()]
    return all(np.array_equal(a, b, equal_nan=True) for a, b in zip(before, after))


def call(case, params, grads, states, hyper, step=1):
    lists = {k: [s[k] for s in states] for k in case.state_keys}
    case.run(case.functional, params, grads, lists, step, hyper)


def _bad_dtype(params, grads, states):
    grads[1] = grads[1].astype(np.float64)


def _bad_param_dtype(params, grads, states):
    params[1] = params[1].astype(np.float16)


def _int_param(params, grads, states):
    params[1] = np.arange(params[1].size)


def _shape(params, grads, states):
    grads[1] = grads[1][:-1].copy()


def _shape_2d(params, grads, states):
    grads[1] = np.ascontiguousarray(grads[1].reshape(3, 11))


def _state_shape(params, grads, states):
    key = next(iter(states[1]))
    states[1][key] = states[1][key][:-2].copy()


def _noncontig_param(params, grads, states):
    params[1] = np.repeat(params[1], 2)[::2]


def _noncontig_grad(params, grads, states):
    grads[1] = np.repeat(grads[1], 2)[::2]


def _readonly_param(params, grads, states):
    params[1].flags.writeable = False


def _readonly_state(params, grads, states):
    next(iter(states[1].values())).flags.writeable = False


def _grad_is_param(params, grads, states):
    grads[1] = params[1]


def _grad_overlaps_other_param(params, grads, states):
    grads[1] = params[0]


def _state_is_param(params, grads, states):
    key = next(iter(states[1]))
    states[1][key] = params[1]


def _state_overlaps_view(params, grads, states):
    key = next(iter(states[0]))
    big = np.zeros(params[0].size * 2, params[0].dtype)
    params[0][...] = 0
    # params[0] and its state overlap by half
    params[0] = big[: params[0].size]
    states[0][key] = big[params[0].size // 2: params[0].size // 2 + params[0].size]


def _swapped(params, grads, states):
    grads[1] = grads[1].astype(grads[1].dtype.newbyteorder())


def _misaligned(params, grads, states):
    raw = np.zeros(params[1].nbytes + 1, np.uint8)
    a = raw[1:].view(params[1].dtype)
    a[...] = params[1]
    params[1] = a


def _not_array(params, grads, states):
    grads[1] = list(grads[1])


def _missing_grad(params, grads, states):
    del grads[1]


BREAKERS = {
    "grad dtype": (_bad_dtype, TypeError, "param 1: grad has dtype float64"),
    "param float16": (_bad_param_dtype, TypeError, "param 1: param has dtype float16"),
    "param int": (_int_param, TypeError, "param 1"),
    "grad size": (_shape, ValueError, "param 1: grad has shape"),
    "grad 2-D": (_shape_2d, ValueError, "param 1: grad has shape (3, 11)"),
    "state size": (_state_shape, ValueError, "param 1: state"),
    "param non-contiguous": (_noncontig_param, ValueError, "param 1: param is not C-contig"),
    "grad non-contiguous": (_noncontig_grad, ValueError, "param 1: grad is not C-contig"),
    "param read-only": (_readonly_param, ValueError, "param 1: param is read-only"),
    "state read-only": (_readonly_state, ValueError, "param 1: state"),
    "grad is param": (_grad_is_param, ValueError, "overlap in memory"),
    "grad is other param": (_grad_overlaps_other_param, ValueError, "overlap in memory"),
    "state is param": (_state_is_param, ValueError, "overlap in memory"),
    "state overlaps param": (_state_overlaps_view, ValueError, "overlap in memory"),
    "byte-swapped grad": (_swapped, TypeError, "non-native byte order"),
    "misaligned param": (_misaligned, ValueError, "not aligned"),
    "grad not an array": (_not_array, TypeError, "param 1: grad must be a numpy.ndarray"),
    "too few grads": (_missing_grad, ValueError, "1 grads for 2 params"),
}


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("breaker", list(BREAKERS), ids=list(BREAKERS))
def test_functional_rejects_and_writes_nothing(case, breaker):
    hyper, params, grads, states = make(case)
    brk, exc, message = BREAKERS[breaker]
    brk(params, grads, states)
    before = snapshot(params, states)
    with pytest.raises(exc, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(case, params, grads, states, hyper)
    assert unchanged(before, params, states)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_bad_step_count(case):
    hyper, params, grads, states = make(case)
    before = snapshot(params, states)
    with pytest.raises(ValueError, match="step must be >= 1"):
        call(case, params, grads, states, hyper, step=[1, 0])
    with pytest.raises(ValueError, match="3 step counts for 2 params"):
        call(case, params, grads, states, hyper, step=[1, 2, 3])
    assert unchanged(before, params, states)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_one_array_instead_of_a_list(case):
    hyper, params, grads, states = make(case)
    with pytest.raises(TypeError, match="list of arrays"):
        call(case, params[0], grads[0], [{k: v for k, v in states[0].items()}], hyper)


INVALID = [(case, kwargs) for case in CASES for kwargs in case.invalid]


@pytest.mark.parametrize("case, kwargs", INVALID,
                         ids=[f"{c.name}-{k}" for c, k in INVALID])
def test_invalid_hyper_parameters(case, kwargs):
    p = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=f"{next(iter(kwargs))}"):
        case.cls([p], **kwargs)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_object_step_rejects_and_writes_nothing(case):
    """A bad grad for the second param leaves the first param and every state untouched."""
    rng = np.random.default_rng(1)
    params = [rng.standard_normal(9).astype(np.float32), rng.standard_normal(4).astype(np.float64)]
    opt = case.cls([{"params": [params[0]]}, {"params": [params[1]], **case.obj_kwargs}],
                   **case.obj_kwargs)
    good = [np.ones(9, np.float32), np.ones(4, np.float64)]
    opt.step(good)
    before = [p.copy() for p in params]
    sd = opt.state_dict()
    for grads, exc in [([good[0], np.ones(4, np.float32)], TypeError),
                       ([good[0], np.ones(5)], ValueError),
                       ([good[0]], ValueError),
                       ([good[0], params[1]], ValueError),
                       (good[0], TypeError)]:
        with pytest.raises(exc):
            opt.step(grads)
        assert all(np.array_equal(a, b) for a, b in zip(before, params))
        now = opt.state_dict()["state"]
        for i, st in sd["state"].items():
            for key, value in st.items():
                assert np.array_equal(np.asarray(value), np.asarray(now[i][key])), (i, key)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_object_rejects_bad_params(case):
    a = np.zeros(4, np.float32)
    with pytest.raises(TypeError, match="not one array"):
        case.cls(a)
    with pytest.raises(ValueError, match="empty parameter list"):
        case.cls([])
    with pytest.raises(ValueError, match="share memory"):
        case.cls([a, a])
    with pytest.raises(ValueError, match="share memory"):
        b = np.zeros(10, np.float32)
        case.cls([b[:6], b[4:]])
    with pytest.raises(ValueError, match="read-only"):
        r = np.zeros(3, np.float32)
        r.flags.writeable = False
        case.cls([r])
    with pytest.raises(TypeError, match="dtype int64"):
        case.cls([np.zeros(3, np.int64)])
    with pytest.raises(ValueError, match="not C-contiguous"):
        case.cls([np.zeros((4, 4), np.float32).T])
    with pytest.raises(TypeError, match="numpy.ndarray"):
        case.cls([[1.0, 2.0]])
    opt = case.cls([a])
    with pytest.raises(ValueError, match="share memory"):
        opt.add_param_group({"params": [a]})
    assert len(opt.param_groups) == 1


FUNCTIONAL_INVALID = [(case, kwargs) for case, kwargs in INVALID
                      if not set(kwargs) & {"initial_accumulator_value"}]


@pytest.mark.parametrize("case, kwargs", FUNCTIONAL_INVALID,
                         ids=[f"{c.name}-{k}" for c, k in FUNCTIONAL_INVALID])
def test_functional_rejects_invalid_hyper_parameters(case, kwargs):
    """The functional steps check hyper-parameters too (the invalid setting on top of the
    functional's defaults, as for the constructor), before writing anything."""
    hyper, params, grads, states = make(case)
    before = snapshot(params, states)
    with pytest.raises(ValueError):
        call(case, params, grads, states, kwargs)
    assert unchanged(before, params, states)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("bad", [None, "no", [1], 2.5])
def test_flags_must_be_bools(case, bad):
    """maximize (and every other on/off hyper-parameter) is checked at construction."""
    flags = [k for k, v in case.cls([np.zeros(3)]).defaults.items() if isinstance(v, bool)]
    assert "maximize" in flags
    for flag in flags:
        with pytest.raises(ValueError, match=f"{flag} must be True or False"):
            case.cls([np.zeros(3)], **{flag: bad})


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_flag_broken_in_a_group_later_is_a_clear_error(case):
    p = np.zeros(3)
    opt = case.cls([p], **case.obj_kwargs)
    opt.param_groups[0]["maximize"] = None
    with pytest.raises(TypeError, match="param 0: hyper-parameters must be numbers"):
        opt.step([np.ones(3)])
    assert np.array_equal(p, np.zeros(3))


@pytest.mark.parametrize("step", [float("inf"), 2 ** 70, -1, 1.5, "x"])
def test_load_state_dict_step_out_of_range(step):
    p = np.zeros(3)
    opt = fastopt.Adagrad([p])
    sd = opt.state_dict()
    sd["state"][0]["step"] = step
    with pytest.raises(ValueError, match="step"):
        opt.load_state_dict(sd)
    assert opt.state[0]["step"] == 0


def test_param_appended_to_a_group_directly_is_a_clear_error():
    opt = fastopt.Adagrad([np.zeros(3)])
    opt.param_groups[0]["params"].append(np.zeros(2))
    with pytest.raises(ValueError, match="param 1 has no state; add params with add_param_group"):
        opt.step([np.ones(3), np.ones(2)])


def test_row_only_optimizers_report_their_own_optional_buffers():
    assert fastopt.SparseAdam([np.zeros((4, 2))])._optional_keys() == set()
    assert fastopt.RowwiseAdagrad([np.zeros((4, 2))])._optional_keys() == set()
    assert fastopt.SGD([np.zeros(2)], momentum=0.5)._optional_keys() == {"momentum_buffer"}
