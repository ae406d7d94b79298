"""Input the NumPy front ends must handle: each case either raises a clear error naming the
param with nothing written, or gives exactly the reference's result.

Covers the holes of the one-plan redesign: Python code running between the checks and the
write, step counts that are not whole numbers, NumPy scalar hyper-parameters, settings that
are not numbers, groups changed after construction, flags switched on later, dense layouts
other than C order, and state entries that do not fit.
"""
import copy

import numpy as np
import pytest

import fastopt
from fastopt import functional, reference
from cases import CASES, CASE_IDS

SPARSE_FUNCTIONALS = [functional.adagrad_rows, functional.sgd_rows, functional.sparse_adam]


def _snapshot(*arrays):
    return [a.copy() for a in arrays]


def _unchanged(before, *arrays):
    return all(np.array_equal(b, a, equal_nan=True) and b.dtype == a.dtype
               for b, a in zip(before, arrays))


# ---- no Python code between the checks and the write ---------------------------------------

class _Sneaky(float):
    """A float whose conversion runs Python code: the hook the old step had between its
    sparse-index check and its write."""

    def __new__(cls, value, action):
        obj = super().__new__(cls, value)
        obj.action = action
        return obj

    def __float__(self):
        self.action()
        return float.__float__(self)


def test_a_callback_cannot_redirect_sparse_writes_out_of_the_table():
    """__float__ of lr moves an index out of range after the caller built the SparseRows:
    every Python value is converted before any check, so the index check sees the moved
    index, raises, and nothing is written (before the redesign this wrote out of bounds)."""
    table = np.zeros((8, 4), np.float32)
    sums = np.zeros_like(table)
    idx = np.array([1, 2, 3], np.int64)
    grad = fastopt.SparseRows(idx, np.ones((3, 4), np.float32))
    before = _snapshot(table, sums)

    def move():
        idx[0] = 10 ** 9

    with pytest.raises(IndexError, match="param 0.*out of range"):
        functional.adagrad([table], [grad], [sums], 1, lr=_Sneaky(0.1, move))
    assert _unchanged(before, table, sums)


def test_a_callback_in_the_object_step_cannot_redirect_writes():
    table = np.zeros((8, 4), np.float32)
    opt = fastopt.Adagrad([table], lr=0.1)
    idx = np.array([0, 7], np.int32)
    grad = fastopt.SparseRows(idx, np.ones((2, 4), np.float32))
    before = _snapshot(table, opt.state[0]["sum"])

    def move():
        idx[1] = -5

    opt.param_groups[0]["lr"] = _Sneaky(0.1, move)
    with pytest.raises(IndexError, match="param 0"):
        opt.step([grad])
    assert _unchanged(before, table, opt.state[0]["sum"])
    assert opt.state[0]["step"] == 0


def test_a_callback_that_swaps_a_state_buffer_is_caught_by_the_checks():
    """A conversion that replaces the state array: buffers are read after every value, so
    the new (wrong-shaped) buffer is what gets checked."""
    p = np.zeros(5, np.float32)
    opt = fastopt.Adam([p], lr=0.1)

    def swap():
        opt.state[0]["exp_avg"] = np.zeros(2, np.float32)

    opt.param_groups[0]["lr"] = _Sneaky(0.1, swap)
    with pytest.raises(ValueError, match="param 0: state 'exp_avg' has shape"):
        opt.step([np.ones(5, np.float32)])
    assert not p.any()


def test_indices_are_range_checked_on_a_copy():
    """The plan copies the indices before checking them: out-of-range indices anywhere in
    the batch raise IndexError naming position and value."""
    table = np.zeros((4, 2))
    with pytest.raises(IndexError, match=r"index 4 \(at position 2\)"):
        functional.sgd_rows([table], [fastopt.SparseRows(np.array([0, 1, 4]), np.ones((3, 2)))])
    assert not table.any()


# ---- step counts --------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [1.5, 0, -1, True, "2", float("nan"), 2 ** 53 + 1])
def test_step_counts_must_be_whole_numbers(bad):
    p, g, s = np.zeros(3), np.ones(3), np.zeros(3)
    with pytest.raises(ValueError, match="whole number"):
        functional.adagrad([p], [g], [s], bad)
    with pytest.raises(ValueError, match="whole number"):
        reference.adagrad([p], [g], [s], bad)
    assert not p.any() and not s.any()


@pytest.mark.parametrize("step", [2.0, np.int64(2), np.float32(2.0)])
def test_whole_float_and_numpy_steps_are_honoured(step):
    a = [np.ones(5, np.float32), np.ones(5, np.float32)]
    g = np.full(5, 0.5, np.float32)
    s = [np.zeros(5, np.float32), np.zeros(5, np.float32)]
    functional.adagrad([a[0]], [g], [s[0]], step, lr=0.1, lr_decay=0.5)
    reference.adagrad([a[1]], [g], [s[1]], 2, lr=0.1, lr_decay=0.5)
    assert np.array_equal(a[0], a[1]) and np.array_equal(s[0], s[1])


@pytest.mark.parametrize("bad", [1.5, float("nan"), "3", [1], -2, 2 ** 60])
def test_a_bad_step_in_an_object_state_is_refused(bad):
    p = np.zeros(3)
    opt = fastopt.Adagrad([p])
    opt.state[0]["step"] = bad
    with pytest.raises(ValueError, match="param 0"):
        opt.step([np.ones(3)])
    assert not p.any()


# ---- hyper-parameters ----------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_scalar_hyper_parameters_match_the_reference_bitwise(case, dtype):
    """lr and friends as NumPy float32 scalars: one conversion (fastopt._scalars) for the
    kernel and the reference, so both compute from the same doubles."""
    hyper = {k: (np.float32(v) if type(v) is float else v) for k, v in case.grid[-1].items()}
    if "betas" in hyper:
        hyper["betas"] = tuple(np.float32(b) for b in hyper["betas"])
    rng = np.random.default_rng(3)
    n = 37
    p0 = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    ours, theirs = p0.copy(), p0.copy()
    s1, s2 = case.new_state(p0, hyper), case.new_state(p0, hyper)
    for step in (1, 2, 3):
        case.run(case.functional, [ours], [g], {k: [v] for k, v in s1.items()}, step, hyper)
        case.run(case.reference, [theirs], [g], {k: [v] for k, v in s2.items()}, step, hyper)
    assert np.array_equal(ours, theirs, equal_nan=True)
    for k in s1:
        assert np.array_equal(s1[k], s2[k], equal_nan=True), k


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("bad", ["0.1", b"0.1", np.array([0.1]), np.array(0.1), None, [0.1]])
def test_settings_that_are_not_numbers_are_refused_at_construction(case, bad):
    with pytest.raises(ValueError, match="lr"):
        case.cls([np.zeros(3)], lr=bad)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_a_group_changed_later_is_checked_with_the_constructors_rules(case):
    p = np.zeros(4)
    opt = case.cls([p], **case.obj_kwargs)
    for key, bad in [("lr", -1.0), ("lr", "0.1"), ("maximize", "yes"), ("maximize", None)]:
        group = opt.param_groups[0]
        saved = group[key]
        group[key] = bad
        with pytest.raises(ValueError, match=f"param 0.*{key}|{key}.*param 0|group 0.*{key}"):
            opt.step([np.ones(4)])
        group[key] = saved
    del opt.param_groups[0]["lr"]
    with pytest.raises(ValueError, match="'lr'"):
        opt.step([np.ones(4)])
    assert not p.any()


def test_initial_accumulator_value_is_rechecked_at_the_step():
    p = np.zeros(4)
    opt = fastopt.Adagrad([p])
    opt.param_groups[0]["initial_accumulator_value"] = -1.0
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        opt.step([np.ones(4)])
    assert not p.any()


# ---- flags switched on later ---------------------------------------------------------------

@pytest.mark.parametrize("cls, key, value, ref, ref_kwargs, buffers", [
    (fastopt.Adam, "amsgrad", True, reference.adam, {"amsgrad": True},
     ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")),
    (fastopt.AdamW, "amsgrad", True, reference.adamw, {"amsgrad": True},
     ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")),
    (fastopt.RMSprop, "centered", True, reference.rmsprop, {"centered": True},
     ("square_avg", "grad_avg", "momentum_buffer")),
    (fastopt.RMSprop, "momentum", 0.9, reference.rmsprop, {"momentum": 0.9},
     ("square_avg", "grad_avg", "momentum_buffer")),
])
def test_switching_a_buffer_on_later_starts_it_at_zero(cls, key, value, ref, ref_kwargs,
                                                        buffers):
    """A buffer a flag switches on after some steps starts at zero then (torch raises a
    KeyError there for amsgrad and RMSprop's buffers; fastopt follows fastopt.SGD)."""
    rng = np.random.default_rng(0)
    p = rng.standard_normal(9)
    g = rng.standard_normal(9)
    opt = cls([p], lr=0.01)
    opt.step([g])
    state = copy.deepcopy(opt.state[0])
    q = p.copy()
    opt.param_groups[0][key] = value
    opt.step([g])
    assert opt.state[0][buffers[-1] if key != "centered" else "grad_avg"] is not None
    lists = [[state.get(b) if state.get(b) is not None else np.zeros_like(q)] for b in buffers]
    ref([q], [g], *lists, 2, lr=0.01, **ref_kwargs)
    assert np.array_equal(p, q)
    for b, lst in zip(buffers, lists):
        if opt.state[0].get(b) is not None:
            assert np.array_equal(opt.state[0][b], lst[0]), b


# ---- dense layouts --------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("order", ["F", "T"])
def test_any_dense_layout_steps_when_param_grad_and_state_share_it(case, order):
    """Fortran-order or transposed (any permutation of a dense block) params step like C
    order when grad and state have the same layout; state is made with the param's."""
    if case.name == "rowwise_adagrad":
        p = np.asfortranarray(np.zeros((5, 3)))
        with pytest.raises(ValueError, match="param 0: param is not C-contiguous.*rows"):
            case.cls([p]).step([np.asfortranarray(np.ones((5, 3)))])
        assert not p.any()
        return   # a row kernel reads whole rows: C order only, refused clearly
    if case.name == "adafactor":
        p = np.asfortranarray(np.zeros((5, 3)))
        with pytest.raises(ValueError, match="param 0: the adafactor step keeps factored state"):
            case.cls([p]).step([np.asfortranarray(np.ones((5, 3)))])
        assert not p.any()
        return   # its factors are the last two dims of C order: refused clearly
    rng = np.random.default_rng(1)
    base = rng.standard_normal((5, 3, 4))
    gbase = rng.standard_normal((5, 3, 4))
    if order == "F":
        p, g = np.asfortranarray(base), np.asfortranarray(gbase)
    else:
        p, g = base.transpose(2, 0, 1).copy().transpose(1, 2, 0), \
            gbase.transpose(2, 0, 1).copy().transpose(1, 2, 0)
    assert not p.flags.c_contiguous
    c_p, c_g = np.ascontiguousarray(p), np.ascontiguousarray(g)
    opt = case.cls([p], **case.obj_kwargs)
    ref = case.cls([c_p], **case.obj_kwargs)
    for _ in range(3):
        opt.step([g])
        ref.step([c_g])
    assert np.array_equal(p, c_p)
    for k, v in opt.state[0].items():
        if isinstance(v, np.ndarray) and v.shape == p.shape:
            assert v.strides == p.strides, k
            assert np.array_equal(v, ref.state[0][k]), k


def test_layouts_that_differ_are_refused_naming_both():
    p = np.zeros((4, 3), order="F")
    g = np.ones((4, 3))
    s = np.zeros((4, 3), order="F")
    with pytest.raises(ValueError, match="param 0: grad has another memory layout"):
        functional.adagrad([p], [g], [s], 1)
    with pytest.raises(ValueError, match="param 0: param is not one dense block"):
        functional.adagrad([np.zeros((4, 6))[:, ::2]], [g], [s], 1)
    assert not p.any() and not s.any()


# ---- state entries that do not fit ---------------------------------------------------------

@pytest.mark.parametrize("key, bad, match", [
    ("step", float("nan"), "step"), ("step", "3", "step"), ("step", [1], "step"),
    ("step", 2.0 ** 60, "step"), ("step", -1, "step"), ("step", 1.5, "step"),
    ("sum", "zeros", "sum"), ("sum", [0.0, 0.0, 0.0], "sum"), ("sum", np.zeros(2), "sum"),
])
def test_a_state_dict_that_does_not_fit_names_the_param(key, bad, match):
    p = np.zeros(3)
    opt = fastopt.Adagrad([p])
    sd = opt.state_dict()
    sd["state"][0][key] = bad
    before = copy.deepcopy(opt.state)
    with pytest.raises(ValueError, match=f"param 0.*{match}"):
        opt.load_state_dict(sd)
    assert opt.state[0]["step"] == before[0]["step"]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_a_state_dict_fastopt_saved_always_loads_back(case):
    p = np.random.default_rng(2).standard_normal((3, 4))
    opt = case.cls([p], **case.obj_kwargs)
    g = np.ones((3, 4)) if case.name != "sparse_adam" else \
        fastopt.SparseRows(np.array([0, 2]), np.ones((2, 4)))
    opt.step([g])
    sd = opt.state_dict()
    other = case.cls([p.copy()], **case.obj_kwargs)
    other.load_state_dict(sd)
    for k, v in opt.state[0].items():
        w = other.state[0][k]
        assert (np.array_equal(v, w) if isinstance(v, np.ndarray) else v == w), k


def test_nan_gradients_poison_param_and_state_as_in_torch():
    """The NaN policy: a NaN gradient makes the param and the state NaN, like torch.optim;
    bitwise equality with the reference holds for every value but NaN sign and payload."""
    p = np.zeros(4)
    opt = fastopt.Adam([p])
    opt.step([np.array([np.nan, 1.0, 1.0, 1.0])])
    assert np.isnan(p[0]) and np.isnan(opt.state[0]["exp_avg"][0])
    assert np.isfinite(p[1:]).all()
