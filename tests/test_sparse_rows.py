"""Row-sparse steps (fastopt.SparseRows): kernels vs reference and vs the dense step, bitwise,
on every ISA path; bad input raising before anything is written; objects mixing dense, None
and sparse gradients.

Indices are drawn Zipf-like (many repeats of a few hot rows, scattered over the table), so
the C fold of repeated rows (hash, no sort) is exercised on every test.
"""
from dataclasses import dataclass, field

import subprocess
import sys

import numpy as np
import pytest

import fastopt
from fastopt import SparseRows, functional, reference
from test_kernels_vs_reference import assert_bitwise, bits
from cases import CASES
from conftest import DTYPES, THIN

DIMS = (1, 7, 17, 33, 64)
KS = (0, 1, 5, 300)
N_STEPS = 3


def zipf_indices(rng, n_rows, k, dtype=np.int64, a=1.3):
    """k row ids, Zipf-distributed over ranks, ranks scattered over the table."""
    ranks = (rng.zipf(a, size=k) - 1) % n_rows
    return rng.permutation(n_rows)[ranks].astype(dtype)


def sparse_grad(rng, n_rows, dim, k, dtype, index_dtype=np.int64):
    idx = zipf_indices(rng, n_rows, k, index_dtype)
    return SparseRows(idx, rng.standard_normal((k, dim)).astype(dtype))


@dataclass
class SparseCase:
    name: str
    functional: object
    reference: object
    state_keys: tuple                 # the functional's state lists, in order
    grid: list                        # hyper-parameter dicts
    init: object                      # (p, hyper) -> {key: array}
    dense: object = None              # the dense step to compare with, same signature
    takes_steps: bool = True
    extra: dict = field(default_factory=dict)

    def run(self, impl, params, grads, states, step, hyper):
        args = [states[k] for k in self.state_keys]
        if self.takes_steps:
            args.append(step)
        impl(params, grads, *args, **hyper)


def _sgd_dense(params, grads, *, lr, maximize=False):
    """The dense plain-SGD step in NumPy: p = p - lr * (-g if maximize else g)."""
    for p, g in zip(params, grads):
        p[...] = p - p.dtype.type(lr) * (-g if maximize else g)


def _grid(**axes):
    import itertools
    keys = list(axes)
    return [dict(zip(keys, v)) for v in itertools.product(*axes.values())]


ADAGRAD_GRID = _grid(lr=[0.1], lr_decay=[0.0, 0.05], eps=[1e-10, 1e-3],
                     eps_inside_sqrt=[False, True], maximize=[False, True])
SPARSE_CASES = [
    SparseCase("adagrad_rows", functional.adagrad_rows, reference.adagrad_rows, ("sums",),
               ADAGRAD_GRID, lambda p, h: {"sums": np.full_like(p, 0.1)},
               dense=functional.adagrad),
    SparseCase("sgd_rows", functional.sgd_rows, reference.sgd_rows, (),
               _grid(lr=[0.1, 3e-3], maximize=[False, True]), lambda p, h: {},
               dense=_sgd_dense, takes_steps=False),
    SparseCase("rowwise_adagrad", functional.rowwise_adagrad, reference.rowwise_adagrad,
               ("sums",), ADAGRAD_GRID,
               lambda p, h: {"sums": np.full(p.shape[0], 0.1, p.dtype)},
               dense=functional.rowwise_adagrad),
    SparseCase("sparse_adam", functional.sparse_adam, reference.sparse_adam,
               ("exp_avgs", "exp_avg_sqs"),
               _grid(lr=[1e-2], betas=[(0.9, 0.999), (0.0, 0.5)], eps=[1e-8, 1e-3],
                     maximize=[False, True]),
               lambda p, h: {"exp_avgs": np.zeros_like(p), "exp_avg_sqs": np.zeros_like(p)}),
]
SPARSE_IDS = [c.name for c in SPARSE_CASES]


def _lists(states):
    return {k: [v] for k, v in states.items()}


@pytest.mark.parametrize("case", SPARSE_CASES, ids=SPARSE_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("dim", DIMS)
def test_rows_match_reference(case, dtype, dim, isa):
    """Params and every state buffer bitwise equal to the np.unique + np.add.at reference."""
    rng = np.random.default_rng(dim)
    n_rows = 97
    for hyper in case.grid[:: 3 if THIN else 1]:   # (THIN: conftest)
        for k in KS:
            p0 = rng.standard_normal((n_rows, dim)).astype(dtype)
            ours, theirs = p0.copy(), p0.copy()
            s_ours, s_theirs = case.init(p0, hyper), case.init(p0, hyper)
            for step in range(1, N_STEPS + 1):
                g = sparse_grad(rng, n_rows, dim, k, dtype,
                                np.int32 if step % 2 else np.int64)
                idx_before, val_before = g.indices.copy(), g.values.copy()
                case.run(case.functional, [ours], [g], _lists(s_ours), step, hyper)
                case.run(case.reference, [theirs], [g], _lists(s_theirs), step, hyper)
                assert np.array_equal(g.indices, idx_before)
                assert_bitwise(g.values, val_before, "values modified")
                what = f"{case.name} dim={dim} k={k} step {step} {hyper}"
                assert_bitwise(ours, theirs, f"param, {what}")
                for key in s_ours:
                    assert_bitwise(s_ours[key], s_theirs[key], f"{key}, {what}")


@pytest.mark.parametrize("case", [c for c in SPARSE_CASES if c.dense], ids=lambda c: c.name)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_rows_match_the_dense_step_on_the_densified_gradient(case, dtype, isa):
    """Sparse step == dense step on grad.to_dense(rows), bit for bit, on every row."""
    rng = np.random.default_rng(11)
    for n_rows, dim, k in [(50, 17, 400), (1000, 64, 64), (3, 1, 9), (40, 33, 1)]:
        for hyper in case.grid[::3]:
            p0 = rng.standard_normal((n_rows, dim)).astype(dtype)
            sparse_p, dense_p = p0.copy(), p0.copy()
            s_sparse, s_dense = case.init(p0, hyper), case.init(p0, hyper)
            for step in range(1, N_STEPS + 1):
                g = sparse_grad(rng, n_rows, dim, k, dtype)
                dense_g = g.to_dense(n_rows)
                touched = np.zeros(n_rows, bool)
                touched[g.indices] = True
                before = sparse_p.copy()
                case.run(case.functional, [sparse_p], [g], _lists(s_sparse), step, hyper)
                case.run(case.dense, [dense_p], [dense_g], _lists(s_dense), step, hyper)
                what = f"{case.name} {n_rows}x{dim} k={k} step {step} {hyper}"
                assert_bitwise(sparse_p, dense_p, f"param, {what}")
                for key in s_sparse:
                    assert_bitwise(s_sparse[key], s_dense[key], f"{key}, {what}")
                # untouched rows were not written at all
                assert np.array_equal(bits(sparse_p[~touched]), bits(before[~touched]))


#: Row widths from FO_VBLOCK_MIN (4096, src_c/vec.h) up: each touched row runs the dense
#: loop's vector blocks, then its remainder (4096 + 37: a block count plus an odd tail; and
#: about two blocks' worth more, so rows start at addresses of every alignment).
BLOCK_DIMS = (4096, 4133, 8291)


@pytest.mark.parametrize("case", SPARSE_CASES, ids=SPARSE_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_rows_wide_enough_for_vector_blocks_match_reference_and_dense(case, dtype, isa):
    """dim >= 4096: the row kernels' vector-block path, bitwise against the reference and
    (where one exists) the dense step on the densified gradient; untouched rows unwritten.
    Repeated rows (a scratch row each) and rows seen once (read in place) are both in the
    batch."""
    rng = np.random.default_rng(21)
    n_rows = 9
    for dim in BLOCK_DIMS:
        for hyper in case.grid[:: max(1, len(case.grid) // 3)]:
            p0 = rng.standard_normal((n_rows, dim)).astype(dtype)
            ours, theirs, dense_p = p0.copy(), p0.copy(), p0.copy()
            s_ours, s_theirs, s_dense = (case.init(p0, hyper) for _ in range(3))
            for step in range(1, N_STEPS + 1):
                idx = np.array([5, 1, 5, 7, 0, 5][: 2 + 2 * step], np.int64)
                g = SparseRows(idx, rng.standard_normal((idx.size, dim)).astype(dtype))
                untouched = np.setdiff1d(np.arange(n_rows), idx)
                before = ours[untouched].copy()
                case.run(case.functional, [ours], [g], _lists(s_ours), step, hyper)
                case.run(case.reference, [theirs], [g], _lists(s_theirs), step, hyper)
                what = f"{case.name} dim={dim} step {step} {hyper}"
                assert_bitwise(ours, theirs, f"param vs reference, {what}")
                for key in s_ours:
                    assert_bitwise(s_ours[key], s_theirs[key], f"{key} vs reference, {what}")
                assert np.array_equal(bits(ours[untouched]), bits(before)), what
                if case.dense is not None:
                    case.run(case.dense, [dense_p], [g.to_dense(n_rows)], _lists(s_dense), step,
                             hyper)
                    assert_bitwise(ours, dense_p, f"param vs dense, {what}")
                    for key in s_ours:
                        assert_bitwise(s_ours[key], s_dense[key], f"{key} vs dense, {what}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_rowwise_adagrad_dense_gradient_wide_rows_match_reference(dtype, isa):
    """RowwiseAdagrad's dense gradient runs its row kernel over every row: dim >= 4096 too."""
    rng = np.random.default_rng(22)
    for dim in BLOCK_DIMS:
        for hyper in ADAGRAD_GRID[::5]:
            p0 = rng.standard_normal((3, dim)).astype(dtype)
            ours, theirs = p0.copy(), p0.copy()
            s_ours, s_theirs = np.full(3, 0.1, dtype), np.full(3, 0.1, dtype)
            for step in range(1, N_STEPS + 1):
                g = rng.standard_normal((3, dim)).astype(dtype)
                functional.rowwise_adagrad([ours], [g], [s_ours], step, **hyper)
                reference.rowwise_adagrad([theirs], [g], [s_theirs], step, **hyper)
                assert_bitwise(ours, theirs, f"param dim={dim} step {step} {hyper}")
                assert_bitwise(s_ours, s_theirs, f"sum dim={dim} step {step} {hyper}")


def test_fold_equals_np_add_at_including_signed_zeros_and_collisions(isa):
    """The C fold of repeated rows, seen through SGD with lr=1, maximize from a zero table:
    the result is 0 - (-G) = G exactly, so it must equal np.add.at into zeros bit for bit."""
    for dtype in DTYPES:
        rng = np.random.default_rng(5)
        n_rows = 1 << 20
        # multiples of a large power of two collide in weak hashes; repeats in any order
        idx = (rng.integers(0, 16, 5000) << 16).astype(np.int64)
        vals = rng.standard_normal((5000, 3)).astype(dtype)
        vals[::7] = -0.0
        vals[1::11] = np.array([1e30, -1e30, 1e-30], dtype)
        # a row given twice, both times as -0.0: np.add.at gives (0 + -0) + -0 = +0
        idx = np.concatenate([idx, [7, 7]])
        vals = np.concatenate([vals, np.full((2, 3), -0.0, dtype)])
        p = np.zeros((n_rows, 3), dtype)
        functional.sgd_rows([p], [SparseRows(idx, vals)], lr=1.0, maximize=True)
        want = np.zeros((n_rows, 3), dtype)
        np.add.at(want, idx, vals)
        assert_bitwise(p, want, "fold")
        assert not np.signbit(p[7]).any()
        # a row given once, as -0.0, reads as +0.0 (np.add.at into zeros gives +0.0)
        q = np.full((4, 2), -0.0, dtype)
        functional.sgd_rows([q], [SparseRows(np.array([2]), np.full((1, 2), -0.0, dtype))],
                            lr=1.0, maximize=True)
        assert np.signbit(q[2]).tolist() == [False, False]
        assert np.signbit(q[1]).tolist() == [True, True]


def test_all_repeats_of_one_row_and_all_distinct():
    rng = np.random.default_rng(2)
    for idx in (np.full(1000, 3), np.arange(1000)[::-1].copy()):
        p = rng.standard_normal((1000, 9)).astype(np.float32)
        q, s_p, s_q = p.copy(), np.zeros_like(p), np.zeros_like(p)
        g = SparseRows(idx, rng.standard_normal((1000, 9)).astype(np.float32))
        functional.adagrad_rows([p], [g], [s_p], 1, lr=0.1)
        reference.adagrad_rows([q], [g], [s_q], 1, lr=0.1)
        assert_bitwise(p, q, "param")
        assert_bitwise(s_p, s_q, "sum")


# ---- bad input ---------------------------------------------------------------------------------

def _indices_inside(p, g):
    """Valid indices whose memory is the param's first two elements."""
    idx = p.view(np.int32)[0, :2]
    idx[...] = [1, 2]
    return SparseRows(idx, g.values[:2])


def _float_idx(g, p):
    return SparseRows(g.indices.astype(np.float64), g.values)


def _misaligned(a):
    """A copy of a whose data starts one byte into a buffer: not aligned to its dtype."""
    raw = np.zeros(a.nbytes + 1, np.uint8)
    out = raw[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


BAD = {
    "index out of range": (lambda g, p: SparseRows(np.array([0, 3, 20]), g.values[:3]),
                           IndexError, "index 20 .at position 2. is out of range"),
    "negative index": (lambda g, p: SparseRows(np.array([1, -1], np.int32), g.values[:2]),
                       IndexError, "index -1 .at position 1."),
    "float indices": (_float_idx, TypeError, "indices have dtype float64"),
    "bool indices": (lambda g, p: SparseRows(np.ones(len(g.indices), bool), g.values),
                     TypeError, "expected int32 or int64"),
    "uint64 indices": (lambda g, p: SparseRows(g.indices.astype(np.uint64), g.values),
                       TypeError, "indices have dtype uint64"),
    "int16 indices": (lambda g, p: SparseRows(g.indices.astype(np.int16), g.values),
                      TypeError, "indices have dtype int16"),
    "string indices": (lambda g, p: SparseRows(g.indices.astype(str), g.values),
                       TypeError, "indices have dtype <U"),
    "byte-swapped indices": (lambda g, p: SparseRows(
        g.indices.astype(g.indices.dtype.newbyteorder()), g.values),
        TypeError, "indices have non-native byte order"),
    "2-D indices": (lambda g, p: SparseRows(g.indices.reshape(-1, 1), g.values),
                    ValueError, "indices must be 1-D"),
    "non-contiguous indices": (lambda g, p: SparseRows(np.repeat(g.indices, 2)[::2], g.values),
                               ValueError, "indices are not contiguous and aligned"),
    "misaligned indices": (lambda g, p: SparseRows(_misaligned(g.indices), g.values),
                           ValueError, "indices are not contiguous and aligned"),
    "values dtype": (lambda g, p: SparseRows(g.indices, g.values.astype(np.float64)),
                     TypeError, "values have dtype float64 but the param has dtype float32"),
    "values wrong dim": (lambda g, p: SparseRows(g.indices, np.zeros((len(g.indices), 4),
                                                                     np.float32)),
                         ValueError, r"values have shape \(6, 4\); expected \(6, 5\)"),
    "values wrong k": (lambda g, p: SparseRows(g.indices[:-1], g.values),
                       ValueError, r"values have shape \(6, 5\); expected \(5, 5\)"),
    "values 1-D": (lambda g, p: SparseRows(g.indices, g.values[:, 0].copy()),
                   ValueError, "values have shape"),
    "values Fortran order": (lambda g, p: SparseRows(g.indices, np.asfortranarray(g.values)),
                             ValueError, "values are not C-contiguous and aligned"),
    "values strided": (lambda g, p: SparseRows(g.indices, np.repeat(g.values, 2, 0)[::2]),
                       ValueError, "values are not C-contiguous and aligned"),
    "values misaligned": (lambda g, p: SparseRows(g.indices, _misaligned(g.values)),
                          ValueError, "values are not C-contiguous and aligned"),
    "values overlap the param": (lambda g, p: SparseRows(np.arange(6), p[:6]),
                                 ValueError, "overlap in memory"),
    "indices overlap the param": (lambda g, p: _indices_inside(p, g),
                                  ValueError, "overlap in memory"),
    # adagrad_rows and sgd_rows: "<name> takes SparseRows gradients"; SparseAdam as torch
    "dense grad": (lambda g, p: np.zeros_like(p), TypeError,
                   "takes SparseRows gradients|SparseAdam does not take dense gradients"),
}


def _bad_setup(case, seed=0):
    rng = np.random.default_rng(seed)
    hyper = case.grid[0]
    params = [rng.standard_normal((8, 5)).astype(np.float32) for _ in range(2)]
    grads = [sparse_grad(rng, 8, 5, 6, np.float32) for _ in range(2)]
    states = [case.init(p, hyper) for p in params]
    return hyper, params, grads, states


def _raises_and_writes_nothing(case, hyper, params, grads, states, exc, message):
    before = [p.copy() for p in params] + [v.copy() for s in states for v in s.values()]
    lists = {k: [s[k] for s in states] for k in case.state_keys}
    with pytest.raises(exc, match=message):
        case.run(case.functional, params, grads, lists, 1, hyper)
    after = [p for p in params] + [v for s in states for v in s.values()]
    assert all(np.array_equal(a, b) for a, b in zip(before, after)), "something was written"


@pytest.mark.parametrize("case", [c for c in SPARSE_CASES if c.name != "rowwise_adagrad"],
                         ids=lambda c: c.name)
@pytest.mark.parametrize("breaker", list(BAD), ids=list(BAD))
def test_bad_sparse_input_raises_before_writing(case, breaker):
    hyper, params, grads, states = _bad_setup(case)
    make, exc, message = BAD[breaker]
    grads[1] = make(grads[1], params[1])
    _raises_and_writes_nothing(case, hyper, params, grads, states, exc, message)
    # the message names the bad param (an overlap names two buffers of param 1)
    _raises_and_writes_nothing(case, hyper, params, grads, states, exc, "param 1")


@pytest.mark.parametrize("case", SPARSE_CASES, ids=SPARSE_IDS)
@pytest.mark.parametrize("layout", ["F", "T", "strided"])
def test_row_kernels_need_c_order_even_when_every_buffer_agrees(case, layout):
    """A row kernel reads whole rows in place: a Fortran-order or transposed table (with
    state in the same layout) is refused, though a dense kernel would take it; a strided
    one is not dense at all. Nothing is written."""
    hyper, params, grads, states = _bad_setup(case)
    convert = {"F": np.asfortranarray,
               "T": lambda a: np.ascontiguousarray(a.T).T,
               "strided": lambda a: np.repeat(a, 2, 0)[::2]}[layout]
    params[1] = convert(params[1])
    states[1] = {k: convert(v) if v.ndim == 2 else v for k, v in states[1].items()}
    message = ("param 1: param is not C-contiguous.*whole rows" if layout != "strided" else
               "param 1: param is not one dense block|param 1: param is not C-contiguous")
    _raises_and_writes_nothing(case, hyper, params, grads, states, ValueError, message)


@pytest.mark.parametrize("cls", [fastopt.Adagrad, fastopt.RowwiseAdagrad, fastopt.SparseAdam])
def test_non_2d_param_and_bad_index_via_the_object_write_nothing(cls):
    rng = np.random.default_rng(1)
    table = rng.standard_normal((10, 4)).astype(np.float32)
    flat = rng.standard_normal(12).astype(np.float32)
    other = rng.standard_normal((6, 4)).astype(np.float32)
    opt = cls([table, flat, other])
    good = SparseRows(np.array([1, 1, 9]), np.ones((3, 4), np.float32))
    cases = [
        ([good, SparseRows(np.array([0]), np.ones((1, 12), np.float32)), None],
         ValueError, "param 1: a SparseRows gradient needs a 2-D param"),
        ([good, None, SparseRows(np.array([6]), np.ones((1, 4), np.float32))],
         IndexError, "param 2: SparseRows index 6"),
        ([good, None, SparseRows(np.array([0.0]), np.ones((1, 4), np.float32))],
         TypeError, "param 2: SparseRows indices have dtype float64"),
    ]
    before = opt.state_dict()
    snap = [table.copy(), flat.copy(), other.copy()]
    for grads, exc, message in cases:
        with pytest.raises(exc, match=message):
            opt.step(grads)
        for a, b in zip(snap, [table, flat, other]):
            assert np.array_equal(a, b)
        now = opt.state_dict()["state"]
        for i, st in before["state"].items():
            for key, value in st.items():
                assert np.array_equal(np.asarray(value), np.asarray(now[i][key])), (i, key)


def test_sparse_rows_object():
    g = SparseRows([3, 1, 3], [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert g.indices.dtype == np.int64 and g.values.shape == (3, 2)
    assert np.array_equal(g.to_dense(4), [[0, 0], [3, 4], [0, 0], [6, 8]])
    assert "k=3" in repr(g) and "dim=2" in repr(g)
    import pickle
    h = pickle.loads(pickle.dumps(g))
    assert np.array_equal(h.indices, g.indices) and np.array_equal(h.values, g.values)
    with pytest.raises(AttributeError):
        g.indices = np.zeros(1)


# ---- objects ------------------------------------------------------------------------------------

def test_adagrad_object_mixes_dense_none_and_sparse_in_one_step(isa):
    """Two groups, a dense param, a skipped one and two tables: each equals its reference."""
    rng = np.random.default_rng(3)
    dense = rng.standard_normal(33).astype(np.float64)
    skipped = rng.standard_normal((4, 4)).astype(np.float32)
    t32 = rng.standard_normal((200, 17)).astype(np.float32)
    t64 = rng.standard_normal((50, 64))
    params = [dense, skipped, t32, t64]
    ref = [p.copy() for p in params]
    opt = fastopt.Adagrad([{"params": [dense, skipped], "weight_decay": 0.1},
                           {"params": [t32, t64], "lr": 0.05, "lr_decay": 0.01,
                            "initial_accumulator_value": 0.2}])
    ref_sums = [np.zeros_like(dense), np.zeros_like(skipped), np.full_like(t32, 0.2),
                np.full_like(t64, 0.2)]
    for step in range(1, 5):
        g_dense = rng.standard_normal(33)
        g32 = sparse_grad(rng, 200, 17, 500, np.float32, np.int32)
        g64 = sparse_grad(rng, 50, 64, 3 * step, np.float64)
        opt.step([g_dense, None, g32, g64])
        reference.adagrad([ref[0]], [g_dense], [ref_sums[0]], step, lr=1e-2, weight_decay=0.1)
        reference.adagrad_rows([ref[2], ref[3]], [g32, g64], [ref_sums[2], ref_sums[3]], step,
                               lr=0.05, lr_decay=0.01)
    for i in range(4):
        assert_bitwise(params[i], ref[i], f"param {i}")
        assert_bitwise(opt.state[i]["sum"], ref_sums[i], f"sum {i}")
    assert [opt.state[i]["step"] for i in range(4)] == [4, 0, 4, 4]


def test_empty_sparse_grad_counts_a_step_and_changes_nothing():
    for cls in (fastopt.Adagrad, fastopt.RowwiseAdagrad, fastopt.SparseAdam):
        t = np.ones((5, 3), np.float32)
        opt = cls([t])
        opt.step([SparseRows(np.zeros(0, np.int32), np.zeros((0, 3), np.float32))])
        assert opt.state[0]["step"] == 1 and np.array_equal(t, np.ones((5, 3)))
        opt.step([SparseRows(np.array([4]), np.ones((1, 3), np.float32))])
        assert opt.state[0]["step"] == 2 and not np.array_equal(t[4], np.ones(3))
        assert np.array_equal(t[:4], np.ones((4, 3)))


#: The optimizers with no row kernel (derived from their algorithm, checked against this).
DENSE_ONLY = [c for c in CASES if c.cls.algorithm.row_kernel is None]


def test_the_dense_only_optimizers_are_the_expected_ones():
    assert sorted(c.name for c in DENSE_ONLY) == ["adadelta", "adafactor", "adam", "adamax", "adamw",
                                                  "asgd", "lamb", "lion", "nadam", "radam",
                                                  "rmsprop", "rprop"]


@pytest.mark.parametrize("case", DENSE_ONLY, ids=lambda c: c.name)
def test_a_dense_only_optimizer_refuses_sparse_rows_naming_the_param(case):
    """SparseRows for an optimizer without a row kernel: TypeError naming the param and the
    optimizer, at the object and at the functional step; nothing written (params and state,
    step counts included)."""
    rng = np.random.default_rng(6)
    a, t = rng.standard_normal(3).astype(np.float32), rng.standard_normal((4, 2)).astype(np.float32)
    g = SparseRows(np.array([0]), np.ones((1, 2), np.float32))
    opt = case.cls([a, t], **case.obj_kwargs)
    opt.step([np.ones(3, np.float32), np.ones((4, 2), np.float32)])
    before, sd = [a.copy(), t.copy()], opt.state_dict()
    name = case.cls.__name__
    with pytest.raises(TypeError, match=f"param 1: {name} does not take SparseRows"):
        opt.step([np.ones(3, np.float32), g])
    assert np.array_equal(a, before[0]) and np.array_equal(t, before[1])
    for i, st in sd["state"].items():
        assert set(opt.state[i]) == set(st)
        for key, value in st.items():
            assert np.array_equal(np.asarray(value), np.asarray(opt.state[i][key])), (i, key)
    hyper = case.grid[-1]
    states = [case.new_state(p, hyper) for p in (a, t)]
    snap = [v.copy() for st in states for v in st.values() if v is not None]
    lists = case.lists(states)
    with pytest.raises(TypeError, match=f"param 1: {name} does not take SparseRows"):
        case.run(case.functional, [a, t], [np.ones(3, np.float32), g], lists, 1, hyper)
    assert np.array_equal(a, before[0]) and np.array_equal(t, before[1])
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in
               zip(snap, [v for st in states for v in st.values() if v is not None]))


@pytest.mark.parametrize("momentum", [0.9, 1e-300])
def test_sgd_with_momentum_refuses_sparse_rows(momentum):
    """SGD with momentum != 0 has no row step (every row's buffer would move): ValueError
    naming the param, from the object and the functional step; nothing written."""
    a, t = np.zeros(3, np.float32), np.ones((4, 2), np.float32)
    g = SparseRows(np.array([1]), np.ones((1, 2), np.float32))
    opt = fastopt.SGD([a, t], lr=0.1, momentum=momentum)
    with pytest.raises(ValueError, match="param 1: SGD with momentum=.* does not take sparse "
                                         "gradients"):
        opt.step([np.ones(3, np.float32), g])
    assert not a.any() and np.array_equal(t, np.ones((4, 2)))
    assert opt.state[0]["step"] == 0 and opt.state[1]["step"] == 0
    assert not opt.state[0]["momentum_buffer"].any() and not opt.state[1]["momentum_buffer"].any()
    bufs = [np.zeros(3, np.float32), np.zeros((4, 2), np.float32)]
    with pytest.raises(ValueError, match="does not take sparse gradients"):
        functional.sgd([a, t], [np.ones(3, np.float32), g], bufs, 1, lr=0.1, momentum=momentum)
    assert not a.any() and np.array_equal(t, np.ones((4, 2)))
    assert not bufs[0].any() and not bufs[1].any()
    # momentum back to 0: the same gradients step
    opt.param_groups[0]["momentum"] = 0.0
    opt.step([np.ones(3, np.float32), g])
    assert np.array_equal(t[1], np.full(2, 1 - np.float32(0.1) * 1, np.float32))


def test_hyper_parameters_a_sparse_step_cannot_honour():
    a, t = np.zeros(3, np.float32), np.zeros((4, 2), np.float32)
    g = SparseRows(np.array([0]), np.ones((1, 2), np.float32))
    # weight decay in the dense group is fine; in the table's group it is refused
    opt = fastopt.Adagrad([{"params": [a], "weight_decay": 0.1}, {"params": [t]}])
    opt.step([np.ones(3, np.float32), g])
    opt.param_groups[1]["weight_decay"] = 0.01
    before = [a.copy(), t.copy(), opt.state[0]["sum"].copy(), opt.state[1]["sum"].copy()]
    with pytest.raises(ValueError, match="param 1: weight_decay=0.01 is not compatible"):
        opt.step([np.ones(3, np.float32), g])
    after = [a, t, opt.state[0]["sum"], opt.state[1]["sum"]]
    assert all(np.array_equal(x, y) for x, y in zip(before, after))
    assert opt.state[0]["step"] == 1 and opt.state[1]["step"] == 1
    r = fastopt.RowwiseAdagrad([t], weight_decay=0.1)
    r.step([np.ones((4, 2), np.float32)])          # dense: fine
    before = [t.copy(), r.state[0]["sum"].copy()]
    with pytest.raises(ValueError, match="param 0: weight_decay"):
        r.step([g])
    assert np.array_equal(t, before[0]) and np.array_equal(r.state[0]["sum"], before[1])
    assert r.state[0]["step"] == 1
    s = np.zeros_like(t)
    with pytest.raises(ValueError, match="weight_decay"):
        functional.adagrad_rows([t], [g], [s], 1, weight_decay=0.1)
    assert np.array_equal(t, before[0]) and not s.any()
    sa = fastopt.SparseAdam([t])
    with pytest.raises(TypeError, match="param 0: SparseAdam does not take dense gradients"):
        sa.step([np.ones((4, 2), np.float32)])
    assert np.array_equal(t, before[0]) and sa.state[0]["step"] == 0
    assert not sa.state[0]["exp_avg"].any() and not sa.state[0]["exp_avg_sq"].any()
    with pytest.raises(ValueError):
        fastopt.SparseAdam([t], lr=0.0)
    with pytest.raises(ValueError, match="betas"):
        fastopt.SparseAdam([t], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="0-d"):
        fastopt.RowwiseAdagrad([np.zeros((), np.float32)])


def test_sgd_rows_hyper_translation_refuses_momentum_and_weight_decay():
    from fastopt.optim.sgd import sgd_rows_hyper
    group = dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 maximize=False)
    assert sgd_rows_hyper(group) == {"lr": 0.1, "maximize": False}
    assert sgd_rows_hyper({**group, "maximize": True, "dampening": 0.5}) == \
        {"lr": 0.1, "maximize": True}
    for bad, match in (({"momentum": 0.9}, "momentum=0.9 does not take sparse"),
                       ({"weight_decay": 1e-4}, "weight_decay=0.0001 does not take sparse"),
                       ({"lr": -1.0}, "lr"), ({"maximize": 1}, "maximize")):
        with pytest.raises(ValueError, match=match):
            sgd_rows_hyper({**group, **bad})


def test_sparse_adam_and_rowwise_state_dicts_round_trip():
    rng = np.random.default_rng(9)
    for cls in (fastopt.SparseAdam, fastopt.RowwiseAdagrad):
        t = rng.standard_normal((30, 8)).astype(np.float32)
        clone = t.copy()
        opt = cls([t], lr=0.05)
        grads = [sparse_grad(rng, 30, 8, 20, np.float32) for _ in range(6)]
        for g in grads[:3]:
            opt.step([g])
        other = cls([clone], lr=0.05)
        other.load_state_dict(opt.state_dict())
        clone[...] = t
        for g in grads[3:]:
            opt.step([g])
            other.step([g])
        assert np.array_equal(t, clone)
        for key, value in opt.state[0].items():
            assert np.array_equal(np.asarray(value), np.asarray(other.state[0][key])), key


def test_rowwise_state_is_one_float_per_row():
    t = np.zeros((100_000, 64), np.float32)
    opt = fastopt.RowwiseAdagrad([t])
    assert opt.state[0]["sum"].nbytes == 100_000 * 4


_UNTOUCHED_ROWS_SCRIPT = """
import ctypes, mmap, sys
import numpy as np
from fastopt import SparseRows, functional
rows, dim, page = 1 << 20, 4, mmap.PAGESIZE
libc = ctypes.CDLL(None)
libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
idx = np.array([5, 70000, 999999, 5, 123456], np.int64)
tables = []
for _ in range(2):   # the param and its state: only the pages of the batch rows may be touched
    buf = mmap.mmap(-1, rows * dim * 4)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    assert libc.mprotect(addr, rows * dim * 4, 0) == 0   # PROT_NONE
    for r in idx:
        start = (addr + int(r) * dim * 4) // page * page
        assert libc.mprotect(start, page, mmap.PROT_READ | mmap.PROT_WRITE) == 0
    tables.append(np.frombuffer(buf, np.float32).reshape(rows, dim))
t, s = tables
functional.adagrad_rows([t], [SparseRows(idx, np.ones((5, dim), np.float32))], [s], 1)
print((t[idx].tolist(), s[idx].tolist()))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mprotect via libc")
def test_a_sparse_step_never_touches_the_rows_outside_its_batch():
    """A table of 2**20 rows whose every page but the batch rows' is unreadable (mprotect
    PROT_NONE, in a subprocess: a touch would kill it): the step reads and writes only the
    rows its indices name (a repeated one once, with the summed gradient)."""
    out = subprocess.run([sys.executable, "-c", _UNTOUCHED_ROWS_SCRIPT], capture_output=True,
                         text=True)
    assert out.returncode == 0, (out.returncode, out.stderr)
    params, sums = eval(out.stdout)
    assert sums[0] == sums[3] == [4.0] * 4 and sums[1] == [1.0] * 4   # row 5 twice: (1 + 1)^2
    assert params[1] == [float(np.float32(-0.01))] * 4 and all(x < 0 for x in params[0])
    # the control: a read of a row outside the batch does kill it
    out = subprocess.run([sys.executable, "-c", _UNTOUCHED_ROWS_SCRIPT + "print(t[500000])"],
                         capture_output=True, text=True)
    assert out.returncode != 0
