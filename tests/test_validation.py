"""Bad input raises a clear exception naming the param, and nothing is written.

Every case builds a valid two-param step, breaks one thing, and checks that the call raises
*and* that every param and state buffer (of the good param too) is bit-for-bit unchanged.
Layouts: any dense layout (C, Fortran, a permutation of the dimensions) steps when param,
grad and state share it; a view that is not one dense block, or a buffer whose layout
differs from its param's, is refused (fastopt never copies).
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
    lists = case.lists(states)
    case.run(case.functional, params, grads, lists, step, hyper)


def _bad_dtype(params, grads, states):
    grads[1] = grads[1].astype(np.float64)


def _bad_param_dtype(params, grads, states):
    params[1] = params[1].astype(np.complex64)   # (float16 is stepped: test_half_precision)


def _int_param(params, grads, states):
    params[1] = np.arange(params[1].size)


def _shape(params, grads, states):
    grads[1] = grads[1][:-1].copy()


def _shape_2d(params, grads, states):
    grads[1] = np.ascontiguousarray(grads[1].reshape(3, 11))


def _state_shape(params, grads, states):
    key = next(iter(states[1]))
    states[1][key] = states[1][key][:-2].copy()


def _strided(a):
    """Every second element of a fresh array holding a's values: a view, not dense."""
    return np.repeat(a, 2)[::2]


def _overlapping(a):
    """A writeable view whose elements all share one address (stride 0): not dense."""
    return np.lib.stride_tricks.as_strided(a[:1].copy(), shape=a.shape, strides=(0,) * a.ndim,
                                           writeable=True)


def _noncontig_param(params, grads, states):
    params[1] = _strided(params[1])


def _reversed_param(params, grads, states):
    params[1] = params[1][::-1]


def _overlapping_param(params, grads, states):
    params[1] = _overlapping(params[1])


def _noncontig_alike(params, grads, states):
    # one shared layout is not enough: it must be dense (the param is checked first)
    params[1] = _strided(params[1])
    grads[1] = _strided(grads[1])
    for key in states[1]:
        states[1][key] = _strided(states[1][key])


def _noncontig_grad(params, grads, states):
    grads[1] = _strided(grads[1])


def _reversed_grad(params, grads, states):
    grads[1] = grads[1][::-1]


def _noncontig_state(params, grads, states):
    key = next(iter(states[1]))
    states[1][key] = _strided(states[1][key])


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
    "param complex64": (_bad_param_dtype, TypeError, "param 1: param has dtype complex64"),
    "param int": (_int_param, TypeError, "param 1"),
    "grad size": (_shape, ValueError, "param 1: grad has shape"),
    "grad 2-D": (_shape_2d, ValueError, "param 1: grad has shape (3, 11)"),
    "state size": (_state_shape, ValueError, "param 1: state"),
    "param not dense": (_noncontig_param, ValueError,
                        "param 1: param is not one dense block of memory"),
    "param reversed": (_reversed_param, ValueError,
                       "param 1: param is not one dense block of memory"),
    "param overlapping strides": (_overlapping_param, ValueError,
                                  "param 1: param is not one dense block of memory"),
    "all not dense alike": (_noncontig_alike, ValueError,
                            "param 1: param is not one dense block of memory"),
    "grad strided": (_noncontig_grad, ValueError, "param 1: grad has another memory layout"),
    "grad reversed": (_reversed_grad, ValueError, "param 1: grad has another memory layout"),
    "state strided": (_noncontig_state, ValueError, "param 1: state '[a-z_]+' has another "
                                                     "memory layout|param 1: state '[a-z_]+' is"),
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


#: Known library bugs, as (case, breaker): the test is expected to fail until they are fixed.
KNOWN_BUGS = {}


def _breaker_params():
    out = []
    for breaker in BREAKERS:
        for case in CASES:
            bug = KNOWN_BUGS.get((case.name, breaker))
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            out.append(pytest.param(case, breaker, id=f"{breaker}-{case.name}", marks=marks))
    return out


@pytest.mark.parametrize("case, breaker", _breaker_params())
def test_functional_rejects_and_writes_nothing(case, breaker):
    hyper, params, grads, states = make(case)
    brk, exc, message = BREAKERS[breaker]
    brk(params, grads, states)
    before = snapshot(params, states)
    with pytest.raises(exc, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(case, params, grads, states, hyper)
    assert unchanged(before, params, states)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", float("nan"), float("inf"), None,
                                 2 ** 53 + 1, np.float64(2.5)],
                         ids=lambda v: f"{type(v).__name__}({v!r})")
def test_bad_step_count(case, bad):
    """A step count must be a whole number in [1, 2**53], for one param of the list as for
    all of them: refused naming its position, nothing written."""
    hyper, params, grads, states = make(case)
    before = snapshot(params, states)
    with pytest.raises(ValueError, match=r"steps\[1\] must be a whole number"):
        call(case, params, grads, states, hyper, step=[1, bad])
    with pytest.raises(ValueError, match=r"steps must be a whole number"):
        call(case, params, grads, states, hyper, step=bad)
    assert unchanged(before, params, states)


@pytest.mark.parametrize("case", [
    pytest.param(c, id=c.name) for c in CASES])
def test_the_reference_refuses_the_same_step_counts(case):
    hyper, params, grads, states = make(case)
    before = snapshot(params, states)
    lists = case.lists(states)
    for bad in (0, 1.5, True, "2", 2 ** 53 + 1):
        with pytest.raises(ValueError, match="whole number"):
            case.run(case.reference, params, grads, lists, [1, bad], hyper)
    assert unchanged(before, params, states)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_step_list_of_the_wrong_length(case):
    hyper, params, grads, states = make(case)
    before = snapshot(params, states)
    for steps in ([1, 2, 3], [1], []):
        with pytest.raises(ValueError, match=f"{len(steps)} step counts for 2 params"):
            call(case, params, grads, states, hyper, step=steps)
    assert unchanged(before, params, states)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_whole_step_counts_of_any_number_type_are_honoured(case):
    """2**53 is the largest count; a float or NumPy scalar holding a whole number counts as
    that number: the same bits as the int."""
    hyper, params, grads, states = make(case, dtype=np.float64)
    # SGD's fresh buffers are NaN (unread on step 1); later steps read them: start at 1.0
    states = [{k: np.ones_like(v) for k, v in st.items()} for st in states]

    def run(steps):
        ps = [p.copy() for p in params]
        ss = [{k: v.copy() for k, v in st.items()} for st in states]
        call(case, ps, grads, ss, hyper, step=steps)
        return ps + [v for st in ss for v in st.values()]

    for steps in ([3.0, np.int32(2)], [np.float32(2.0), 2 ** 53], [np.uint8(7), float(2 ** 53)]):
        got, want = run(steps), run([int(v) for v in steps])
        assert all(np.array_equal(a, b) for a, b in zip(got, want)), steps
        assert not np.array_equal(got[0], params[0]), steps


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("which", ["params", "grads", "state"])
def test_one_array_instead_of_a_list(case, which):
    """One array where a list of arrays (one per param) belongs: TypeError, nothing written
    (a 1-D array is iterable and would otherwise be read as a list of 0-d params)."""
    hyper, params, grads, states = make(case)
    before = snapshot(params, states)
    lists = case.lists(states)
    key = next(k for k in case.state_keys if k in states[0])
    args = {"params": params, "grads": grads, **lists}
    what = {"params": "params", "grads": "grads"}.get(which, "the [a-z_]+ list")
    if which == "state":
        args[key] = states[0][key]
    else:
        args[which] = args[which][0]
    with pytest.raises(TypeError, match=f"{what} must be a list"):
        case.run(case.functional, args["params"], args["grads"],
                 {k: args[k] for k in case.state_keys}, 1, hyper)
    assert unchanged(before, params, states)


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
    for grads, exc, message in [
            ([good[0], np.ones(4, np.float32)], TypeError, "param 1: grad has dtype float32"),
            ([good[0], np.ones(5)], ValueError, "param 1: grad has shape"),
            ([good[0]], ValueError, "1 grads for 2 params"),
            ([good[0], params[1]], ValueError, "overlap in memory"),
            ([good[0], np.ones(8)[::2]], ValueError, "param 1: grad has another memory layout"),
            (good[0], TypeError, "takes a list of grads")]:
        with pytest.raises(exc, match=message):
            opt.step(grads)
        assert all(np.array_equal(a, b) for a, b in zip(before, params))
        assert_state_unchanged(sd, opt)


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
    with pytest.raises(ValueError, match="param 0: param is not one dense block"):
        case.cls([np.zeros((4, 4), np.float32)[:, ::2]])
    with pytest.raises(ValueError, match="param 1: param is not one dense block"):
        case.cls([a, np.zeros(8, np.float32)[::-1]])
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
@pytest.mark.parametrize("bad", [None, "yes", 1, np.float64(1.0)], ids=repr)
def test_flag_broken_in_a_group_later_is_a_clear_error(case, bad):
    """A flag changed in a group after construction is checked with the constructor's rule
    at the next step, naming the param and the flag; nothing is written (params or state)."""
    rng = np.random.default_rng(5)
    params = [rng.standard_normal(3), rng.standard_normal(4)]
    opt = case.cls([{"params": params[:1]}, {"params": params[1:]}], **case.obj_kwargs)
    opt.step([np.ones(3), np.ones(4)])
    before, sd = [p.copy() for p in params], opt.state_dict()
    opt.param_groups[1]["maximize"] = bad
    with pytest.raises(ValueError, match="param 1: .*maximize must be True or False"):
        opt.step([np.ones(3), np.ones(4)])
    assert all(np.array_equal(a, b) for a, b in zip(before, params))
    assert_state_unchanged(sd, opt)


def assert_state_unchanged(saved, opt):
    """Every entry of opt.state equals the state_dict() taken before (no key added)."""
    now = opt.state_dict()["state"]
    assert set(now) == set(saved["state"])
    for i, st in saved["state"].items():
        assert set(now[i]) == set(st), i
        for key, value in st.items():
            if value is None:
                assert now[i][key] is None, (i, key)
            else:
                assert np.array_equal(np.asarray(value), np.asarray(now[i][key])), (i, key)


@pytest.mark.parametrize("step", [float("inf"), 2 ** 70, -1, 1.5, "x"])
def test_load_state_dict_step_out_of_range(step):
    p = np.zeros(3)
    opt = fastopt.Adagrad([p])
    opt.step([np.ones(3)])
    saved = opt.state_dict()
    sd = opt.state_dict()
    sd["state"][0]["step"] = step
    sd["state"][0]["sum"] = np.full(3, 7.0)
    with pytest.raises(ValueError, match="param 0: saved 'step'"):
        opt.load_state_dict(sd)
    assert_state_unchanged(saved, opt)


def test_param_appended_to_a_group_directly_is_a_clear_error():
    a, b = np.zeros(3), np.zeros(2)
    opt = fastopt.Adagrad([a])
    saved = opt.state_dict()
    opt.param_groups[0]["params"].append(b)
    with pytest.raises(ValueError, match="param 1 has no state; add params with add_param_group"):
        opt.step([np.ones(3), np.ones(2)])
    assert not a.any() and not b.any()
    assert_state_unchanged(saved, opt)


def test_row_only_optimizers_report_their_own_optional_buffers():
    assert fastopt.SparseAdam([np.zeros((4, 2))])._optional_keys() == set()
    assert fastopt.RowwiseAdagrad([np.zeros((4, 2))])._optional_keys() == set()
    assert fastopt.SGD([np.zeros(2)], momentum=0.5)._optional_keys() == {"momentum_buffer"}


# ---- dense layouts ------------------------------------------------------------------------

def _layouts(base):
    """base (C order, 3-D) in dense layouts other than C order, each a fresh array: Fortran
    order and a permutation of the dimensions (what a transpose of a dense block gives)."""
    return {"F": np.asfortranarray(base),
            "T": np.ascontiguousarray(base.transpose(2, 0, 1)).transpose(1, 2, 0)}


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("order", ["F", "T"])
def test_any_dense_layout_shared_by_param_grad_and_state_steps_bitwise(case, order):
    """A param in Fortran or permuted order, with grad and state in that same layout, steps
    in place exactly as its C-order copy does (the elementwise step runs in memory order);
    a row kernel (RowwiseAdagrad) reads whole rows, and Adafactor factors the last two dims
    of C order: both refuse it, writing nothing."""
    rng = np.random.default_rng(8)
    hyper = full_hyper(case)
    shape = (5, 3, 4)
    c_params = [rng.standard_normal(7), rng.standard_normal(shape)]
    c_grads = [rng.standard_normal(7), rng.standard_normal(shape)]
    c_states = [case.new_state(p, hyper) for p in c_params]
    params = [c_params[0].copy(), _layouts(c_params[1])[order]]
    grads = [c_grads[0], _layouts(c_grads[1])[order]]
    states = [{k: v.copy() for k, v in c_states[0].items()},
              {k: (_layouts(v)[order] if v.shape == shape else v.copy())
               for k, v in c_states[1].items()}]
    assert not params[1].flags.c_contiguous
    assert params[1].flags.f_contiguous == (order == "F")
    if case.name in ("rowwise_adagrad", "adafactor"):
        before = snapshot(params, states)
        with pytest.raises(ValueError, match="param 1: param is not C-contiguous.*whole rows"
                           if case.name == "rowwise_adagrad" else
                           "param 1: the adafactor step keeps factored state .* must be C-contiguous"):
            call(case, params, grads, states, hyper)
        assert unchanged(before, params, states)
        return
    strides = params[1].strides
    for step in (1, 2, 3):
        call(case, params, grads, states, hyper, step=step)
        call(case, c_params, c_grads, c_states, hyper, step=step)
    assert params[1].strides == strides
    for a, b in zip(params, c_params):
        assert np.array_equal(a, b)
    for sa, sb in zip(states, c_states):
        for k in sa:
            assert np.array_equal(sa[k], sb[k], equal_nan=True), k


@pytest.mark.parametrize("case", [c for c in CASES if c.name != "rowwise_adagrad"],
                         ids=lambda c: c.name)
@pytest.mark.parametrize("what", ["grad", "state"])
def test_a_dense_layout_other_than_the_params_is_refused(case, what):
    """Fortran-order param with a C-order grad, or C-order param and grad with a
    Fortran-order state buffer: each is dense, but the layouts differ, and fastopt never
    copies: refused naming the param and the buffer, nothing written."""
    rng = np.random.default_rng(9)
    hyper = full_hyper(case)
    params = [rng.standard_normal(7), rng.standard_normal((6, 5))]
    grads = [rng.standard_normal(7), rng.standard_normal((6, 5))]
    states = [case.new_state(p, hyper) for p in params]
    if what == "grad":
        params[1] = np.asfortranarray(params[1])
        states[1] = {k: np.asfortranarray(v) for k, v in states[1].items()}
        match = "param 1: grad has another memory layout"
    elif case.name == "adafactor":
        # a factor is (6, 1) or (1, 5): C and Fortran order at once; a strided view is neither
        states[1]["row_vars"] = np.zeros((6, 2))[:, :1]
        match = "param 1: state 'row_var' is not C-contiguous"
    else:
        key = next(iter(states[1]))
        states[1][key] = np.asfortranarray(states[1][key])
        match = "param 1: state '[a-z_]+' has another memory layout"
    before = snapshot(params, states)
    with pytest.raises(ValueError, match=match):
        call(case, params, grads, states, hyper)
    assert unchanged(before, params, states)
