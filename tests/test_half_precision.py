"""Half-precision storage (src_c/half.h): bfloat16/float16 params, float32 master weights,
bfloat16 state with stochastic rounding, against fastopt.reference run in float32 and rounded
(fastopt.reference.half_step), bitwise, on every ISA path and thread count; and the dtype
combinations the plan refuses, with nothing written.
"""

import numpy as np
import pytest

import fastopt
from fastopt import _kernels, reference
from cases import CASES
from conftest import ISAS, THIN

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
HALVES = (BF16, F16)

#: every dense case takes half-precision storage (src_c/half.h; Lamb and Adafactor on float32
#: copies of the whole param, RowwiseAdagrad through its row kernel)
HALF_CASES = CASES
HALF_IDS = [c.name for c in HALF_CASES]
SIZES = (0, 1, 7, 15, 17, 33, 1023, 4097)
#: a thinner sample in CI's slow runs (conftest.THIN): the vector blocks, the tiles and the
#: tails are all reached at these sizes
if THIN:
    SIZES = (0, 33, 4097)


def u16(a):
    return np.asarray(a).view(np.uint16)


def same_bits(got, want, what):
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    g = got.view(np.uint16 if got.dtype.itemsize == 2 else
                 np.uint32 if got.dtype.itemsize == 4 else np.uint64)
    w = want.view(g.dtype)
    if not np.array_equal(g, w):
        bad = np.flatnonzero(g != w)
        raise AssertionError(f"{what}: {bad.size} elements differ, first at {bad[0]}: "
                             f"{got.flat[bad[0]]!r} != {want.flat[bad[0]]!r}")


def _state(case, p, hyper, state_dtype=None):
    """The case's fresh state for p: buffers like the param in p's dtype (or state_dtype),
    scalar state (0-d) in float32."""
    out = {}
    for k, v in case.new_state(p.astype(np.float32), hyper).items():
        if v is None or v.ndim == 0 and p.ndim != 0:
            out[k] = v
        else:
            out[k] = v.astype(state_dtype or p.dtype)
    return out


def _check_order(case):
    """half_step's j is the state list's position: it must be the kernel's order."""
    names = case.cls.algorithm.dense.state_names
    assert len(case.state_keys) == len(names), case.name


def _run_both(case, hyper, p0, grads, steps, state_dtype=None, seed=0):
    ours, theirs = p0.copy(), p0.copy()
    s_ours, s_theirs = _state(case, p0, hyper, state_dtype), _state(case, p0, hyper, state_dtype)
    functional_hyper = {k: v for k, v in hyper.items() if k != "initial_accumulator_value"}
    for step, g in zip(steps, grads):
        case.run(case.functional, [ours], [g], {k: [v] for k, v in s_ours.items()}, step,
                 hyper)
        reference.half_step(case.reference, [theirs], [g],
                            *[[s_theirs.get(k)] for k in case.state_keys], steps=step,
                            seed=seed, **functional_hyper)
    return ours, theirs, s_ours, s_theirs


@pytest.mark.parametrize("case", HALF_CASES, ids=HALF_IDS)
@pytest.mark.parametrize("dtype", HALVES, ids=lambda d: d.name)
@pytest.mark.parametrize("n", SIZES)
def test_half_params_equal_the_reference_in_float32_rounded(case, dtype, n, isa):
    """Params and state in the param's half dtype: the float32 step, rounded to nearest even
    (as torch's fused kernels), bit for bit, for every hyper-parameter setting."""
    _check_order(case)
    rng = np.random.default_rng(n + 11)
    grid = (case.grid if n in (() if THIN else (1, 33))
            else case.grid[:: max(1, len(case.grid) // 6)])
    for hyper in grid:
        p0 = rng.standard_normal(n).astype(dtype)
        grads = [rng.standard_normal(n).astype(dtype) for _ in case.steps]
        ours, theirs, s_ours, s_theirs = _run_both(case, hyper, p0, grads, case.steps)
        same_bits(ours, theirs, f"{case.name} param {hyper}")
        for k in s_ours:
            if s_ours[k] is not None:
                same_bits(s_ours[k], s_theirs[k], f"{case.name} {k} {hyper}")


@pytest.mark.parametrize("case", [c for c in CASES if c.name in ("lamb", "adafactor")],
                         ids=["lamb", "adafactor"])
@pytest.mark.parametrize("storage", ["bfloat16", "float16", "bfloat16 state"])
def test_whole_param_kernels_on_half_storage_of_every_shape(case, storage, isa):
    """Lamb and Adafactor (norms, row and column sums over the whole param) on matrices and
    stacks of them (Adafactor's factored state in the storage's dtype too): the float32 step
    on float32 copies, rounded once, bit for bit."""
    rng = np.random.default_rng(21)
    dtype = np.dtype(np.float32) if storage == "bfloat16 state" else np.dtype(
        BF16 if storage == "bfloat16" else F16)
    for shape in [(17, 5), (3, 4, 33), (0, 3), (2, 0, 4), (1,), (1, 1)]:
        for hyper in case.grid[:: max(1, len(case.grid) // (2 if THIN else 6))]:
            p0 = rng.standard_normal(shape).astype(dtype)
            grads = [rng.standard_normal(shape).astype(dtype) for _ in case.steps]
            ours, theirs, s_ours, s_theirs = _run_both(
                case, hyper, p0, grads, case.steps, BF16 if storage == "bfloat16 state" else None)
            same_bits(ours, theirs, f"{case.name} {shape} param {hyper}")
            for k in s_ours:
                if s_ours[k] is not None:
                    assert s_ours[k].dtype == (BF16 if storage == "bfloat16 state" else dtype)
                    same_bits(s_ours[k], s_theirs[k], f"{case.name} {shape} {k} {hyper}")


@pytest.mark.parametrize("case", HALF_CASES, ids=HALF_IDS)
@pytest.mark.parametrize("n", (1, 33, 4097))
def test_bfloat16_state_equals_the_reference_stochastic_rounding(case, n, isa):
    """float32 params, every state buffer like the param in bfloat16, rounded stochastically
    from the seed: bitwise the reference's rounding (fastopt.reference.round_bf16_stochastic)."""
    rng = np.random.default_rng(n)
    for hyper in case.grid[:: max(1, len(case.grid) // 4)]:
        p0 = rng.standard_normal(n).astype(np.float32)
        grads = [rng.standard_normal(n).astype(np.float32) for _ in case.steps]
        ours, theirs, s_ours, s_theirs = _run_both(case, hyper, p0, grads, case.steps, BF16)
        same_bits(ours, theirs, f"{case.name} param {hyper}")
        for k in s_ours:
            if s_ours[k] is not None:
                same_bits(s_ours[k], s_theirs[k], f"{case.name} {k} {hyper}")


def test_every_float16_and_bfloat16_value_loads_and_stores_unchanged(isa):
    """Every non-NaN bit pattern through an SGD step of lr=0 (p - 0 * g = p) keeps its bits:
    the loads and the rounding stores, vector and scalar parts, on this path."""
    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    for dtype in HALVES:
        x = bits.view(dtype)
        x = x[~np.isnan(x.astype(np.float32))].copy()
        before = x.copy()
        fastopt.functional.sgd([x], [np.ones_like(x)], [None], 1, lr=0.0)
        same_bits(x, before, dtype.name)


def test_rounding_across_the_range_of_float16(isa):
    """Results from subnormal to overflow (inf): p0 - lr * g from every finite float16 p0,
    rounded by the kernel as NumPy's astype rounds, ties to even included."""
    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    for dtype in HALVES:
        p0 = bits.view(dtype)
        p0 = p0[np.isfinite(p0.astype(np.float32))].copy()
        g = np.random.default_rng(1).permutation(p0)
        for lr in (1e-3, 0.5, 3.7, 1e-7):
            ours, theirs = p0.copy(), p0.copy()
            fastopt.functional.sgd([ours], [g], [None], 1, lr=lr)
            with np.errstate(over="ignore"):   # (bfloat16's range: to inf, as intended)
                reference.half_step(reference.sgd, [theirs], [g], [None], steps=1, lr=lr)
            same_bits(ours, theirs, f"{dtype.name} lr={lr}")


@pytest.mark.parametrize("case", HALF_CASES, ids=HALF_IDS)
@pytest.mark.parametrize("dtype", HALVES, ids=lambda d: d.name)
def test_master_weights_equal_a_float32_run_rounded(case, dtype):
    """The object with master_weights=True: its float32 master and state equal a float32
    optimizer's param and state bitwise, and the half param is that param rounded, after
    every step; state_dict round-trips the masters."""
    rng = np.random.default_rng(5)
    shapes = [(33,), (17, 5), (4097,), (0,)]
    p32 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ph = [p.astype(dtype) for p in p32]
    ref = [p.astype(np.float32) for p in ph]   # the float32 run starts from the half values
    kwargs = dict(case.obj_kwargs)
    ours = case.cls(ph, master_weights=True, **kwargs)
    theirs = case.cls(ref, **kwargs)
    for t in range(4):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        ours.step(grads)
        theirs.step([g.astype(np.float32) for g in grads])
        for i in range(len(shapes)):
            same_bits(ours.state[i]["master"], ref[i], f"master {i} step {t}")
            same_bits(ph[i], ref[i].astype(dtype), f"param {i} step {t}")
            for k, v in theirs.state[i].items():
                if isinstance(v, np.ndarray):
                    same_bits(ours.state[i][k], v, f"{k} {i} step {t}")
    sd = ours.state_dict()
    again = case.cls([p.copy() for p in ph], master_weights=True, **kwargs)
    again.load_state_dict(sd)
    for i in range(len(shapes)):
        same_bits(again.state[i]["master"], ours.state[i]["master"], f"loaded master {i}")


@pytest.mark.parametrize("case", HALF_CASES, ids=HALF_IDS)
@pytest.mark.parametrize("dtype", HALVES, ids=lambda d: d.name)
def test_functional_steps_take_master_weights_and_a_seed(case, dtype, isa):
    """fastopt.functional.<name>(..., masters=, seed=): half params with float32 masters and
    float32 state, and float32 params with bfloat16 state rounded from a seed, two params per
    call (each draws its own stream): bitwise reference.half_step with the same masters and
    seed, for every kind of setting."""
    rng = np.random.default_rng(9)
    functional_hyper = lambda h: {k: v for k, v in h.items() if k != "initial_accumulator_value"}
    for n in (0, 33) if THIN else (0, 1, 33, 4097):
        for hyper in case.grid[:: max(1, len(case.grid) // (2 if THIN else 4))]:
            for storage in ("masters", "bfloat16 state"):
                pdtype = dtype if storage == "masters" else np.dtype(np.float32)
                sdtype = np.float32 if storage == "masters" else BF16
                p0 = [rng.standard_normal(n).astype(pdtype) for _ in range(2)]
                ours, theirs = [p.copy() for p in p0], [p.copy() for p in p0]
                s_ours = [_state(case, p, hyper, sdtype) for p in p0]
                s_theirs = [_state(case, p, hyper, sdtype) for p in p0]
                extra = {"seed": 2 ** 63 + 5}
                if storage == "masters":
                    m_ours = [p.astype(np.float32) for p in p0]
                    m_theirs = [m.copy() for m in m_ours]
                for step in case.steps:
                    grads = [rng.standard_normal(n).astype(pdtype) for _ in range(2)]
                    lists = {k: [st.get(k) for st in s_ours] for k in case.state_keys}
                    case.run(case.functional, ours, grads, lists, step, dict(
                        hyper, **extra, **({"masters": m_ours} if storage == "masters" else {})))
                    reference.half_step(
                        case.reference, theirs, grads,
                        *[[st.get(k) for st in s_theirs] for k in case.state_keys], steps=step,
                        masters=m_theirs if storage == "masters" else None, **extra,
                        **functional_hyper(hyper))
                what = f"{case.name} {storage} n={n} {hyper}"
                for i in range(2):
                    same_bits(ours[i], theirs[i], f"param {i}, {what}")
                    if storage == "masters":
                        same_bits(m_ours[i], m_theirs[i], f"master {i}, {what}")
                    for k, v in s_ours[i].items():
                        if v is not None:
                            same_bits(v, s_theirs[i][k], f"{k} {i}, {what}")


def test_functional_seed_and_masters_are_the_objects():
    """The functional step with masters and a seed is the object's step with master_weights
    and that seed (param i of the list is param i of the object), and the seed matters."""
    rng = np.random.default_rng(3)
    p0 = [rng.standard_normal(n).astype(np.float32) for n in (4097, 100)]
    grads = [[rng.standard_normal(p.size).astype(np.float32) for p in p0] for _ in range(3)]
    runs = {}
    for seed in (0, 7):
        ps = [p.copy() for p in p0]
        sums = [np.zeros(p.size, BF16) for p in p0]
        for t, g in enumerate(grads, 1):
            fastopt.functional.adagrad(ps, g, sums, t, lr=0.01, seed=seed)
        runs[seed] = (ps, sums)
    ps = [p.copy() for p in p0]
    opt = fastopt.Adagrad(ps, lr=0.01, state_dtype=BF16, seed=7)
    for g in grads:
        opt.step(g)
    for i in range(2):
        same_bits(runs[7][0][i], ps[i], f"param {i} vs the object")
        same_bits(runs[7][1][i], opt.state[i]["sum"], f"sum {i} vs the object")
    assert not np.array_equal(u16(runs[0][1][0]), u16(runs[7][1][0]))
    # master weights, a row-sparse table: the object's masters and table
    table = rng.standard_normal((50, 8)).astype(BF16)
    master, sums = table.astype(np.float32), np.zeros((50, 8), np.float32)
    opt = fastopt.Adagrad([table.copy()], lr=0.1, master_weights=True)
    for t in range(1, 4):
        g = fastopt.SparseRows(rng.integers(0, 50, 30), rng.standard_normal((30, 8)).astype(BF16))
        fastopt.functional.adagrad_rows([table], [g], [sums], t, lr=0.1, masters=[master])
        opt.step([g])
    same_bits(master, opt.state[0]["master"], "row master vs the object")
    same_bits(table, opt.param_groups[0]["params"][0], "row table vs the object")
    same_bits(sums, opt.state[0]["sum"], "row sum vs the object")


def test_functional_masters_and_seed_are_checked_before_any_write():
    p = np.ones(9, BF16)
    g = np.ones(9, BF16)
    good = np.ones(9, np.float32)
    bad_calls = [
        (ValueError, "2 masters for 1 params", dict(masters=[good, good])),
        (TypeError, "masters must be a list", dict(masters=good)),
        (TypeError, "master weights", dict(masters=[np.ones(9, np.float16)])),
        (ValueError, "master weights", dict(masters=[np.ones(8, np.float32)])),
        (ValueError, "seed must be an int", dict(seed=-1)),
        (ValueError, "seed must be an int", dict(seed=1.5)),
        (ValueError, "seed must be an int", dict(seed=2 ** 64)),
    ]
    for exc, text, kwargs in bad_calls:
        before = p.copy()
        with pytest.raises(exc, match=text):
            fastopt.functional.sgd([p], [g], [None], 1, lr=0.1, **kwargs)
        same_bits(p, before, f"param after {kwargs}")
    # a good master, then a bad state buffer: neither param nor master is written
    master, before = good.copy(), p.copy()
    with pytest.raises(TypeError, match="momentum"):
        fastopt.functional.sgd([p], [g], [np.zeros(9, np.float64)], 1, lr=0.1, momentum=0.9,
                               masters=[master])
    same_bits(p, before, "param after a bad momentum buffer")
    same_bits(master, good, "master after a bad momentum buffer")
    with pytest.raises(TypeError, match="master"):   # a float32 param has no masters
        fastopt.functional.sgd([good], [good.copy()], [None], 1, lr=0.1, masters=[good.copy()])
    np.testing.assert_array_equal(good, 1.0)


def test_a_state_dict_without_masters_starts_them_from_the_param():
    p = np.arange(9, dtype=np.float32).astype(BF16) / BF16.type(3)
    plain = fastopt.Adam([p.copy()], lr=0.1)
    plain.step([np.ones_like(p)])
    opt = fastopt.Adam([p], lr=0.1, master_weights=True)
    opt.load_state_dict(plain.state_dict())
    same_bits(opt.state[0]["master"], p.astype(np.float32), "master from param")
    assert opt.state[0]["exp_avg"].dtype == np.float32
    np.testing.assert_array_equal(opt.state[0]["exp_avg"],
                                  plain.state[0]["exp_avg"].astype(np.float32))


def test_stochastic_rounding_is_reproducible_and_independent_of_threads(threaded):
    """One large param (both threads cut it): the same seed gives the same bits with 1 and 2
    threads and twice; another seed gives other bits."""
    n = 3 * 65536 + 17
    rng = np.random.default_rng(2)
    p0 = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(3)]

    def run(seed, threads):
        p = p0.copy()
        opt = fastopt.Adagrad([p], lr=0.01, state_dtype=BF16, seed=seed)
        with fastopt.num_threads(threads):
            for g in grads:
                opt.step([g])
        return p, opt.state[0]["sum"]

    p1, s1 = run(7, 1)
    p2, s2 = run(7, 2)
    p3, s3 = run(7, 2)
    p4, s4 = run(8, 2)
    same_bits(p1, p2, "param 1 vs 2 threads")
    same_bits(s1, s2, "sum 1 vs 2 threads")
    same_bits(s2, s3, "sum twice")
    assert not np.array_equal(u16(s2), u16(s4))
    # and it is the reference's rounding (param index 0, buffer 0)
    p, s = p0.copy(), np.zeros(n, BF16)
    for t, g in enumerate(grads, 1):
        reference.half_step(reference.adagrad, [p], [g], [s], steps=t, seed=7, lr=0.01)
    same_bits(s1, s, "sum vs reference")
    same_bits(p1, p, "param vs reference")


def test_half_params_are_independent_of_the_thread_count(threaded):
    n = 2 * 65536 + 33
    rng = np.random.default_rng(4)
    for dtype in HALVES:
        p0 = rng.standard_normal(n).astype(dtype)
        g = rng.standard_normal(n).astype(dtype)
        out = []
        for threads in (1, 2):
            p = p0.copy()
            opt = fastopt.Adam([p], lr=0.01)
            with fastopt.num_threads(threads):
                opt.step([g])
                opt.step([g])
            out.append((p, opt.state[0]["exp_avg_sq"]))
        same_bits(out[0][0], out[1][0], dtype.name)
        same_bits(out[0][1], out[1][1], dtype.name)


def test_stochastic_rounding_is_unbiased_where_nearest_even_stalls():
    """Adagrad's sum of small squares: bfloat16 with round-to-nearest stops growing (each
    g*g is below half an ulp of the sum); stochastic rounding tracks the float32 sum."""
    n, steps = 4096, 600
    g = np.full(n, 0.05, np.float32)     # g*g = 0.0025; after ~400 steps sum ~1: ulp 2^-7
    p32 = np.zeros(n, np.float32)
    ref = fastopt.Adagrad([p32], lr=0.0)
    p = np.zeros(n, np.float32)
    sr = fastopt.Adagrad([p], lr=0.0, state_dtype=BF16, seed=1)
    rne = np.zeros(n, BF16)
    for _ in range(steps):
        ref.step([g])
        sr.step([g])
        rne = (rne.astype(np.float32) + g * g).astype(BF16)
    want = ref.state[0]["sum"]
    got = sr.state[0]["sum"].astype(np.float32)
    assert abs(got.mean() / want.mean() - 1) < 0.01
    assert rne.astype(np.float32).mean() < 0.7 * want.mean()


@pytest.mark.skipif(THIN, reason="an accuracy test, the same math on every path: the README "
                    "suite runs it (conftest.THIN)")
def test_a_small_model_with_bfloat16_state_reaches_the_float32_loss():
    """Linear regression (256 features) with Adam: bfloat16 state (stochastic rounding)
    reaches the float32 run's loss within 5% (the documented accuracy cost)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((512, 256)).astype(np.float32)
    w_true = rng.standard_normal(256).astype(np.float32)
    y = X @ w_true + 0.1 * rng.standard_normal(512).astype(np.float32)

    def train(**kw):
        w = np.zeros(256, np.float32)
        opt = fastopt.Adam([w], lr=0.02, **kw)
        for _ in range(400):
            r = X @ w - y
            opt.step([(X.T @ r / len(y)).astype(np.float32)])
        return float(np.mean((X @ w - y) ** 2))

    f32 = train()
    bf16 = train(state_dtype=BF16, seed=3)
    assert f32 < 0.05
    assert bf16 <= 1.05 * f32 + 1e-3, (bf16, f32)


# ---- what the plan refuses, with nothing written ---------------------------------------------

def _adam_plan():
    k = _kernels.kernel("adam")
    plan = _kernels.Plan(1)
    h = plan.hyper(k, fastopt.optim.adam.adam_hyper(dict(
        lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
        maximize=False)))
    return plan, k, h


@pytest.mark.parametrize("combo", [
    # (param, grad, exp_avg, exp_avg_sq, master): the message's words
    ((BF16, F16, BF16, BF16, None), "grad has dtype float16"),
    ((BF16, np.float32, BF16, BF16, None), "grad has dtype float32"),
    ((F16, F16, BF16, BF16, None), "keeps its state in float16"),
    ((F16, F16, np.float32, np.float32, None), "keeps its state in float16"),
    ((BF16, BF16, BF16, BF16, np.float32), "keeps its state in bfloat16"),
    ((BF16, BF16, np.float32, np.float32, F16), "master weights has dtype float16"),
    ((np.float32, np.float32, F16, F16, None), "or bfloat16 for all"),
    ((np.float32, np.float32, BF16, np.float32, None), "bfloat16 for all of a param"),
    ((np.float32, np.float32, np.float32, np.float32, np.float32), "master weights are for"),
    ((np.float64, np.float64, BF16, BF16, None), "has dtype bfloat16"),
])
def test_mixed_dtypes_outside_the_documented_combinations_are_refused(combo):
    (pd, gd, md, vd, master_dtype), words = combo
    p = np.linspace(-1, 1, 9).astype(pd)
    g = np.ones(9, gd)
    m, v = np.full(9, 0.5, md), np.full(9, 0.25, vd)
    master = None if master_dtype is None else p.astype(master_dtype)
    before = [x.copy() for x in (p, m, v)] + ([] if master is None else [master.copy()])
    plan, k, h = _adam_plan()
    with pytest.raises(TypeError, match=words):
        plan.add(k, 0, p, g, (m, v, None), h, 1, master)
    after = [p, m, v] + ([] if master is None else [master])
    for a, b in zip(after, before):
        assert np.array_equal(u16(a.view(np.uint8)), u16(b.view(np.uint8)))


def test_master_weights_of_another_shape_or_overlapping_are_refused():
    p = np.ones(8, BF16)
    g = np.ones(8, BF16)
    m, v = np.zeros(8, np.float32), np.zeros(8, np.float32)
    plan, k, h = _adam_plan()
    with pytest.raises(ValueError, match="master weights has shape"):
        plan.add(k, 0, p, g, (m, v, None), h, 1, np.zeros(9, np.float32))
    plan, k, h = _adam_plan()
    plan.add(k, 0, p, g, (m, v, None), h, 1, m)    # the master is exp_avg's memory
    with pytest.raises(ValueError, match="overlap"):
        plan.run()
    assert not m.any() and np.array_equal(u16(p), u16(np.ones(8, BF16)))


@pytest.mark.parametrize("kwargs, error", [
    (dict(state_dtype=np.float16), TypeError),
    (dict(state_dtype="float32"), TypeError),
    (dict(master_weights=1), TypeError),
    (dict(seed=-1), ValueError),
    (dict(seed=2 ** 64), ValueError),
    (dict(seed=1.5), ValueError),
    (dict(precision=True), TypeError),
])
def test_bad_precision_options_are_refused(kwargs, error):
    with pytest.raises(error):
        fastopt.Adam([np.ones(3, np.float32)], **kwargs)


def test_half_scalar_state_is_refused():
    p = np.ones(5, BF16)
    k = _kernels.kernel("nadam")
    plan = _kernels.Plan(1)
    h = plan.hyper(k, fastopt.optim.nadam.ALGORITHM.hyper(fastopt.NAdam([np.ones(1)]).param_groups[0]))
    with pytest.raises(TypeError, match="scalar state is float32 or float64"):
        plan.add(k, 0, p, np.ones(5, BF16), (np.zeros(5, BF16), np.zeros(5, BF16),
                                             np.ones((), BF16)), h, 1)


def test_isa_paths_agree_on_half_special_values():
    """inf, nan, subnormal and overflow inputs: the same bits on every path (NaN as NaN)."""
    before = _kernels.isa_paths()
    specials = np.array([0.0, -0.0, 6e-8, -6e-8, 6e-5, 65504.0, -65504.0, np.inf, -np.inf,
                         np.nan, 1.0, -2.5, 1e-3, 7.0] * 3, np.float32)
    try:
        for dtype in HALVES:
            runs = []
            for path in ISAS:
                _kernels._set_isa(path)
                p = specials.astype(dtype)
                g = np.roll(specials, 5).astype(dtype)
                m, v = np.zeros_like(p), np.zeros_like(p)
                with np.errstate(all="ignore"):
                    fastopt.functional.adam([p], [g], [m], [v], None, 1, lr=0.5)
                runs.append((path, u16(p).copy(), u16(m).copy(), u16(v).copy()))
            for path, *arrays in runs[1:]:
                for a, b in zip(arrays, runs[0][1:]):
                    assert np.array_equal(a, b), (dtype.name, path, runs[0][0])
    finally:
        _kernels._set_isa(*before)


@pytest.mark.parametrize("case", [c for c in HALF_CASES if c.name in ("adam", "adagrad",
                                                                      "sgd", "lamb")],
                         ids=lambda c: c.name)
def test_half_storage_on_another_path_than_float32_gives_the_same_bits(case):
    """By default half-precision storage runs on the widest path (AVX-512 where the CPU has
    it) while float32 runs on up to AVX2; its float32 tiles (and Lamb's whole-param copies)
    then go through the other path's float32 kernel: every pairing of paths gives the
    reference's bits (bfloat16 and float16 params, masters, bfloat16 state)."""
    before = _kernels.isa_paths()
    n = 4097 + 33
    rng = np.random.default_rng(5)
    try:
        for main in ISAS:
            for half in ISAS:
                _kernels._set_isa(main, half=half)
                assert _kernels.isa_paths() == (main, half)
                hyper = case.grid[-1]
                for dtype, state_dtype in ((BF16, None), (F16, None), (np.float32, BF16)):
                    p0 = rng.standard_normal(n).astype(dtype)
                    grads = [rng.standard_normal(n).astype(dtype) for _ in case.steps]
                    ours, theirs, s_ours, s_theirs = _run_both(case, hyper, p0, grads,
                                                               case.steps, state_dtype)
                    what = f"{case.name} {np.dtype(dtype).name} float32 on {main}, half on {half}"
                    same_bits(ours, theirs, what)
                    for k in s_ours:
                        if s_ours[k] is not None and np.ndim(s_ours[k]):
                            same_bits(s_ours[k], s_theirs[k], f"{k}, {what}")
    finally:
        _kernels._set_isa(*before)
    assert _kernels.isa_paths() == before
