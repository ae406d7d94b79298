"""Every kernel, on every ISA path, is bitwise equal to its NumPy reference: params and state.

The C build has contraction off and computes in the reference's order, so equality is exact,
not approximate; a tail or vector-body bug shows up as a mismatch on some awkward size.
"""
import numpy as np
import pytest

from fastopt import functional, reference
from cases import CASE_IDS, CASES
from conftest import DTYPES, SIZES, THIN

def bits(a):
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def assert_bitwise(got, want, what):
    if got is None or want is None:  # a gated state buffer these hyper-parameters don't use
        assert got is None and want is None, what
        return
    assert got.dtype == want.dtype, what
    if not np.array_equal(bits(got), bits(want)):
        bad = np.flatnonzero(bits(got) != bits(want))
        raise AssertionError(f"{what}: {bad.size} elements differ, first at {bad[0]}: "
                             f"{got.flat[bad[0]]!r} != {want.flat[bad[0]]!r}")


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n", SIZES)
def test_matches_reference(case, dtype, n, isa):
    rng = np.random.default_rng(n)
    # (every setting at every size; in CI's slow runs, conftest.THIN, at 1 and 33 elements)
    full = n in (1, 33) if THIN else n <= 4097
    grid = case.grid if full else case.grid[:: max(1, len(case.grid) // 8)]
    for hyper in grid:
        p0 = rng.standard_normal(n).astype(dtype)
        ours, theirs = p0.copy(), p0.copy()
        s_ours, s_theirs = case.new_state(p0, hyper), case.new_state(p0, hyper)
        for step in case.steps:
            g = rng.standard_normal(n).astype(dtype)
            g_before = g.copy()
            case.run(case.functional, [ours], [g], {k: [v] for k, v in s_ours.items()},
                     step, hyper)
            case.run(case.reference, [theirs], [g], {k: [v] for k, v in s_theirs.items()},
                     step, hyper)
            assert_bitwise(g, g_before, f"grad modified {hyper}")
            assert_bitwise(ours, theirs, f"{case.name} param, step {step}, {hyper}")
            for key in s_ours:
                assert_bitwise(s_ours[key], s_theirs[key],
                               f"{case.name} state {key}, step {step}, {hyper}")


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_many_params_one_call(case, isa):
    """One call over params of mixed sizes and dtypes equals the reference param by param."""
    rng = np.random.default_rng(7)
    hyper = case.grid[-1]
    shapes = [(3,), (17, 5), (0,), (1,), (33, 31), (4097,)]
    dtypes = [np.float32, np.float64, np.float32, np.float64, np.float32, np.float64]
    ours = [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dtypes)]
    theirs = [p.copy() for p in ours]
    s_ours = [case.new_state(p, hyper) for p in ours]
    s_theirs = [case.new_state(p, hyper) for p in ours]
    lists = case.lists
    for step in case.steps:
        grads = [rng.standard_normal(p.shape).astype(p.dtype) for p in ours]
        case.run(case.functional, ours, grads, lists(s_ours), step, hyper)
        case.run(case.reference, theirs, grads, lists(s_theirs), step, hyper)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert_bitwise(a, b, f"param {i}")
        for key in s_ours[i]:
            assert_bitwise(s_ours[i][key], s_theirs[i][key], f"param {i} {key}")


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_isa_paths_agree_on_special_values(case):
    """inf, nan, huge, tiny and denormal inputs give the same bits on every path."""
    from fastopt import _kernels
    before = _kernels.isa_paths()
    specials = np.array([0.0, -0.0, 1e-40, -1e-40, 1e30, -1e30, np.inf, -np.inf, np.nan,
                         1.0, -2.5, 3e-8, 7.0, 1e-45, 65504.0, -1e38, 2.0] * 3, np.float32)
    results = {}
    try:
        for path in _kernels.available_isas():
            _kernels._set_isa(path)
            for dtype in DTYPES:
                p = specials.astype(dtype)
                g = np.roll(specials, 5).astype(dtype)
                for hyper in case.grid[:: max(1, len(case.grid) // 8)]:
                    state = case.new_state(p, hyper)
                    q = p.copy()
                    with np.errstate(all="ignore"):
                        case.run(case.functional, [q], [g], {k: [v] for k, v in state.items()},
                                 1, hyper)
                    results.setdefault((dtype, str(hyper)), []).append(
                        (path, bits(q).copy(),
                         [bits(v).copy() for v in state.values() if v is not None]))
    finally:
        _kernels._set_isa(*before)
    for key, runs in results.items():
        path0, q0, s0 = runs[0]
        for path, q, s in runs[1:]:
            assert np.array_equal(q, q0), (key, path0, path)
            for a, b in zip(s, s0):
                assert np.array_equal(a, b), (key, path0, path)


_NAN_BITS = {np.float32: (np.uint32, 0xFFC00005, 0x7FC00003),
             np.float64: (np.uint64, 0xFFF8000000000005, 0x7FF8000000000003)}


@pytest.mark.parametrize("name", ["adam", "adamw"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_amsgrad_maximum_propagates_nan_on_every_path(name, dtype, isa):
    """amsgrad's vm = np.maximum(vm, v): NaN if either is NaN, vm's NaN if both, bit for bit,
    in the block, single-vector and scalar parts of the loop (n = 203 reaches all three)."""
    uint, nan_a, nan_b = _NAN_BITS[dtype]
    qa, qb = np.array(nan_a, uint).view(dtype), np.array(nan_b, uint).view(dtype)
    n = 203
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal(n).astype(dtype)
    kind = np.arange(n) % 6
    v0 = np.abs(rng.standard_normal(n)).astype(dtype)
    vm0 = np.where(kind == 3, dtype(10.0), dtype(0.0)).astype(dtype)
    vm0[kind == 0] = qa                   # NaN in vm only
    v0[kind == 1] = qb                    # NaN in v only
    vm0[kind == 2], v0[kind == 2] = qa, qb  # both: vm's NaN
    vm0[kind == 5], v0[kind == 5] = qb, qa  # both, the other NaN first
    # Adam's coupled decay would make g = g + wd * p NaN where step 1 made p NaN, and then
    # v + ((1 - beta2) * g) * g adds two NaNs, whose payload IEEE leaves to the instruction's
    # operand order: not what this test is about. AdamW's decay keeps NaNs one at a time.
    wd = 0.1 if name == "adamw" else 0.0
    runs = []
    for impl in (getattr(functional, name), getattr(reference, name)):
        p, m, v, vm = p0.copy(), np.zeros_like(p0), v0.copy(), vm0.copy()
        for step in (1, 2):
            g = np.random.default_rng(step).standard_normal(n).astype(dtype)
            with np.errstate(all="ignore"):
                impl([p], [g], [m], [v], [vm], step, lr=0.01, weight_decay=wd, amsgrad=True)
        runs.append([a.view(uint).copy() for a in (p, m, v, vm)])
    for what, ours, theirs in zip(("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"), *runs):
        bad = np.flatnonzero(ours != theirs)
        assert bad.size == 0, f"{what}: {bad.size} differ, first at {bad[:1]}, kind {kind[bad[:1]]}"
    p_bits, vm_bits = runs[0][0], runs[0][3]
    assert np.all(vm_bits[kind == 2] == nan_a) and np.all(vm_bits[kind == 5] == nan_b)
    assert np.all(p_bits[kind == 2] == nan_a)
