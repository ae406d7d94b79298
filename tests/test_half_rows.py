"""Half-precision row-sparse steps (src_c/half.h, row items): bfloat16/float16 tables and
SparseRows values, float32 master weights, bfloat16 state with stochastic rounding, against
the row references run in float32 and rounded (fastopt.reference.half_step), bitwise, on
every ISA path and thread count; dense grads through a row kernel; the mixes refused.
"""
import numpy as np
import pytest

import fastopt
from fastopt import SparseRows, reference
from conftest import THIN
from test_half_precision import BF16, F16, HALVES, same_bits, u16
from test_sparse_rows import SPARSE_CASES, SPARSE_IDS, sparse_grad

#: 1100: a row longer than a tile (fo_row_tile: one row per batch)
DIMS = (1, 17, 1100) if THIN else (1, 7, 17, 33, 64, 1100)
KS = (0, 300) if THIN else (0, 1, 5, 300)
N_ROWS = 97
N_STEPS = 3


def _state(case, p, hyper, dtype):
    """The case's fresh state for p (made in float32, then in dtype)."""
    return {k: v.astype(dtype) for k, v in case.init(p.astype(np.float32), hyper).items()}


def _ref_step(case, p, g, states, step, hyper, **half):
    args = [[states[k]] for k in case.state_keys]
    if not case.takes_steps:   # (sgd_rows: no state, no step; half_step passes steps)
        def fn(params, grads, steps, **h):
            case.reference(params, grads, **h)
        reference.half_step(fn, [p], [g], steps=step, **half, **hyper)
    else:
        reference.half_step(case.reference, [p], [g], *args, steps=step, **half, **hyper)


def _grid(case):
    return case.grid if not THIN else case.grid[:: max(1, len(case.grid) // 3)]


@pytest.mark.parametrize("case", SPARSE_CASES, ids=SPARSE_IDS)
@pytest.mark.parametrize("dtype", HALVES, ids=lambda d: d.name)
@pytest.mark.parametrize("dim", DIMS)
def test_half_rows_equal_the_reference_in_float32_rounded(case, dtype, dim, isa):
    """Half table, values and state: each touched row's float32 step, rounded to nearest
    even once; untouched rows never change; every setting, k (repeats folded in float32)."""
    rng = np.random.default_rng(dim + 3)
    for hyper in _grid(case)[:: 1 if dim < 1000 else 4]:
        for k in KS:
            p0 = rng.standard_normal((N_ROWS, dim)).astype(dtype)
            ours, theirs = p0.copy(), p0.copy()
            s_ours, s_theirs = _state(case, p0, hyper, dtype), _state(case, p0, hyper, dtype)
            for step in range(1, N_STEPS + 1):
                g = sparse_grad(rng, N_ROWS, dim, k, dtype, np.int32 if step % 2 else np.int64)
                values = g.values.copy()
                case.run(case.functional, [ours], [g], {k_: [v] for k_, v in s_ours.items()},
                         step, hyper)
                _ref_step(case, theirs, g, s_theirs, step, hyper)
                same_bits(g.values, values, "values")
                what = f"{case.name} dim={dim} k={k} step {step} {hyper}"
                same_bits(ours, theirs, f"param, {what}")
                for key in s_ours:
                    same_bits(s_ours[key], s_theirs[key], f"{key}, {what}")


@pytest.mark.parametrize("dtype", HALVES + (np.dtype(np.float32),), ids=lambda d: d.name)
@pytest.mark.parametrize("dim", (1, 33, 1100))
def test_a_dense_grad_through_a_row_kernel(dtype, dim, isa):
    """RowwiseAdagrad with a dense half grad (every row, on float32 tiles) equals the
    reference rounded; with a float32 table and bfloat16 per-row sums, stochastically."""
    case = next(c for c in SPARSE_CASES if c.name == "rowwise_adagrad")
    rng = np.random.default_rng(dim)
    state_dtype = BF16 if dtype == np.float32 else dtype
    for hyper in _grid(case)[::3]:
        p0 = rng.standard_normal((N_ROWS, dim)).astype(dtype)
        ours, theirs = p0.copy(), p0.copy()
        s_ours = _state(case, p0, hyper, state_dtype)
        s_theirs = _state(case, p0, hyper, state_dtype)
        for step in range(1, N_STEPS + 1):
            g = rng.standard_normal((N_ROWS, dim)).astype(dtype)
            fastopt.functional.rowwise_adagrad([ours], [g], [s_ours["sums"]], step, **hyper)
            _ref_step(case, theirs, g, s_theirs, step, hyper)
            same_bits(ours, theirs, f"param dim={dim} step {step} {hyper}")
            same_bits(s_ours["sums"], s_theirs["sums"], f"sum dim={dim} step {step} {hyper}")


@pytest.mark.parametrize("case", [c for c in SPARSE_CASES if c.state_keys],
                         ids=[c.name for c in SPARSE_CASES if c.state_keys])
@pytest.mark.parametrize("dim", (1, 33, 1100))
def test_bfloat16_row_state_equals_the_reference_stochastic_rounding(case, dim, isa):
    """float32 table and values, the state in bfloat16 rounded stochastically: each element
    numbered as the dense step numbers it (row * dim + column; a per-row buffer: row)."""
    rng = np.random.default_rng(dim + 1)
    for hyper in _grid(case)[::2]:
        for k in (1, 300):
            p0 = rng.standard_normal((N_ROWS, dim)).astype(np.float32)
            ours, theirs = p0.copy(), p0.copy()
            s_ours, s_theirs = _state(case, p0, hyper, BF16), _state(case, p0, hyper, BF16)
            for step in range(1, N_STEPS + 1):
                g = sparse_grad(rng, N_ROWS, dim, k, np.float32)
                case.run(case.functional, [ours], [g], {k_: [v] for k_, v in s_ours.items()},
                         step, hyper)
                _ref_step(case, theirs, g, s_theirs, step, hyper)
                what = f"{case.name} dim={dim} k={k} step {step} {hyper}"
                same_bits(ours, theirs, f"param, {what}")
                for key in s_ours:
                    same_bits(s_ours[key], s_theirs[key], f"{key}, {what}")


#: the NumPy classes with a row kernel, their settings, the reference's state lists' keys
CLASSES = [
    ("adagrad_rows", fastopt.Adagrad, dict(lr=0.1, lr_decay=0.01, eps=1e-6), ("sum",)),
    ("sgd_rows", fastopt.SGD, dict(lr=0.1), ()),
    ("rowwise_adagrad", fastopt.RowwiseAdagrad, dict(lr=0.1, eps=1e-6), ("sum",)),
    ("sparse_adam", fastopt.SparseAdam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
     ("exp_avg", "exp_avg_sq")),
]


@pytest.mark.parametrize("name, cls, kwargs, keys", CLASSES, ids=[c[0] for c in CLASSES])
@pytest.mark.parametrize("dtype", HALVES, ids=lambda d: d.name)
def test_row_master_weights_equal_a_float32_run_rounded(name, cls, kwargs, keys, dtype):
    """The objects with master_weights=True on row-sparse grads: master and float32 state
    equal a float32 run of the same class, the half table that run rounded; state_dict and
    pickling keep the masters."""
    import pickle
    rng = np.random.default_rng(8)
    shape = (N_ROWS, 33)
    ph = rng.standard_normal(shape).astype(dtype)
    ref = ph.astype(np.float32)
    ours = cls([ph], master_weights=True, **kwargs)
    theirs = cls([ref], **kwargs)
    for t in range(4):
        g = sparse_grad(rng, N_ROWS, shape[1], 200, dtype)
        ours.step([g])
        theirs.step([SparseRows(g.indices, g.values.astype(np.float32))])
        same_bits(ours.state[0]["master"], ref, f"master step {t}")
        same_bits(ph, ref.astype(dtype), f"param step {t}")
        for key in keys:
            same_bits(ours.state[0][key], theirs.state[0][key], f"{key} step {t}")
    again = cls([ph.copy()], master_weights=True, **kwargs)
    again.load_state_dict(ours.state_dict())
    same_bits(again.state[0]["master"], ours.state[0]["master"], "loaded master")
    back = pickle.loads(pickle.dumps(ours))
    same_bits(back.state[0]["master"], ours.state[0]["master"], "pickled master")


def test_half_rows_are_independent_of_the_thread_count(threaded):
    """A batch large enough for several threads (each folds and steps the rows dealt to it):
    the same bits with 1, 2 and 3 threads (as many as OpenMP allows here; 3 for real in
    test_thread_counts.py's child with more threads than cores), for half tables and for
    bfloat16 state, and the reference's."""
    n_rows, dim, k = 5000, 64, 8192
    rng = np.random.default_rng(6)
    for dtype, state_dtype in ((BF16, BF16), (F16, F16), (np.dtype(np.float32), BF16)):
        p0 = rng.standard_normal((n_rows, dim)).astype(dtype)
        grads = [sparse_grad(rng, n_rows, dim, k, dtype) for _ in range(2)]
        out = []
        counts = sorted({min(t, fastopt._kernels.threads_max()) for t in (1, 2, 3)})
        for threads in counts:
            p = p0.copy()
            opt = fastopt.Adagrad([p], lr=0.05, state_dtype=state_dtype if dtype ==
                                  np.float32 else None, seed=11)
            with fastopt.num_threads(threads):
                for g in grads:
                    opt.step([g])
            out.append((p, opt.state[0]["sum"]))
        for (p_t, s_t), t in zip(out[1:], counts[1:]):
            same_bits(out[0][0], p_t, f"{dtype.name} param 1 vs {t} threads")
            same_bits(out[0][1], s_t, f"{dtype.name} sum 1 vs {t} threads")
        p, s = p0.copy(), np.zeros(p0.shape, state_dtype)
        for t, g in enumerate(grads, 1):
            reference.half_step(reference.adagrad_rows, [p], [g], [s], steps=t, seed=11,
                                lr=0.05)
        same_bits(out[0][0], p, f"{dtype.name} param vs reference")
        same_bits(out[0][1], s, f"{dtype.name} sum vs reference")


@pytest.mark.parametrize("dtype", HALVES, ids=lambda d: d.name)
def test_row_master_weights_with_dense_grads(dtype):
    """RowwiseAdagrad with master weights and dense half grads (every row through the row
    kernel, on float32 tiles): a float32 run, its table rounded."""
    rng = np.random.default_rng(9)
    ph = rng.standard_normal((40, 1100)).astype(dtype)
    ref = ph.astype(np.float32)
    ours = fastopt.RowwiseAdagrad([ph], lr=0.1, master_weights=True)
    theirs = fastopt.RowwiseAdagrad([ref], lr=0.1)
    for t in range(3):
        g = rng.standard_normal(ph.shape).astype(dtype)
        ours.step([g])
        theirs.step([g.astype(np.float32)])
        same_bits(ours.state[0]["master"], ref, f"master step {t}")
        same_bits(ours.state[0]["sum"], theirs.state[0]["sum"], f"sum step {t}")
        same_bits(ph, ref.astype(dtype), f"param step {t}")


@pytest.mark.parametrize("table, values, sums, words", [
    (BF16, F16, BF16, "values have dtype float16"),
    (BF16, np.float32, BF16, "values have dtype float32"),
    (F16, F16, np.float32, "keeps its state in float16"),
    (np.float32, BF16, np.float32, "values have dtype bfloat16"),
    (np.float32, np.float32, F16, "or bfloat16 for all"),
])
def test_row_steps_refuse_other_mixes(table, values, sums, words):
    p = np.ones((6, 8), table)
    s = np.full((6, 8), 0.5, sums)
    before = p.copy(), s.copy()
    rows = SparseRows(np.array([1, 2, 1]), np.ones((3, 8), values))
    with pytest.raises(TypeError, match=words):
        fastopt.functional.adagrad_rows([p], [rows], [s], 1, lr=0.1)
    assert np.array_equal(p.view(np.uint8), before[0].view(np.uint8))
    assert np.array_equal(s.view(np.uint8), before[1].view(np.uint8))


def test_per_row_state_of_another_dtype_is_refused():
    p = np.ones((6, 8), BF16)
    s = np.zeros(6, np.float32)    # RowwiseAdagrad's sum, float32 for a bfloat16 table
    rows = SparseRows(np.array([1]), np.ones((1, 8), BF16))
    with pytest.raises(TypeError, match="'sum' has dtype float32"):
        fastopt.functional.rowwise_adagrad([p], [rows], [s], 1, lr=0.1)
    assert not s.any() and np.array_equal(u16(p), u16(np.ones((6, 8), BF16)))
