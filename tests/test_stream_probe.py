"""fastopt._kernels.stream_probe, the benchmark's bandwidth bound: p += g and s_j += g for
0 to 3 state buffers, bit for bit as NumPy adds, on every ISA path and awkward size (its
loop has the kernels' shape: vector blocks from 4096 elements, then a plain loop)."""
import numpy as np
import pytest

from fastopt import _kernels
from conftest import DTYPES, SIZES
from test_kernels_vs_reference import assert_bitwise


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n_state", [0, 1, 2, 3])
@pytest.mark.parametrize("n", SIZES)
def test_probe_adds_the_gradient_to_param_and_each_state(n, n_state, dtype, isa):
    rng = np.random.default_rng(n * 4 + n_state)
    p = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    # each buffer its own values, so a buffer written with another's sum shows
    states = [(rng.standard_normal(n) * 10 ** j).astype(dtype) for j in range(n_state)]
    want_p = p + g
    want_s = [s + g for s in states]
    g_before = g.copy()
    _kernels.stream_probe(p, g, states)
    assert_bitwise(g, g_before, "grad modified")
    assert_bitwise(p, want_p, f"p, n={n}, {n_state} states")
    for j, (s, w) in enumerate(zip(states, want_s)):
        assert_bitwise(s, w, f"s_{j}, n={n}, {n_state} states")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_probe_on_special_values_and_dense_layouts(dtype, isa):
    """inf, NaN, -0.0 and subnormals add as NumPy adds them; a Fortran-order block runs in
    memory order (as the kernels do) and gives the same bits."""
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310, -1e-40, 1.0, -1.0,
                         3e38, 1e308], np.float64)
    with np.errstate(all="ignore"):
        vals = specials.astype(dtype)
    grid = np.array(np.meshgrid(vals, vals)).reshape(2, -1)
    reps = 4096 // grid.shape[1] + 2                                 # long enough for blocks
    p0 = np.tile(grid[0], reps).reshape(-1, 11)
    g0 = np.tile(grid[1], reps).reshape(-1, 11)
    for layout in (np.ascontiguousarray, np.asfortranarray):
        p, g = layout(p0), layout(g0)
        s = [layout(g0[::-1].copy()), layout(p0.copy())]
        with np.errstate(all="ignore"):
            want = [p + g] + [b + g for b in s]
        _kernels.stream_probe(p, g, s)
        for got, w, what in zip([p] + s, want, ["p", "s_0", "s_1"]):
            assert_bitwise(got, w, f"{what}, {layout.__name__}")


def test_probe_refuses_what_it_cannot_run():
    p, g = np.zeros(8), np.ones(8)
    with pytest.raises(ValueError, match="at most 3 state buffers"):
        _kernels.stream_probe(p, g, [np.zeros(8) for _ in range(4)])
    with pytest.raises(ValueError, match="grad has another memory layout"):
        _kernels.stream_probe(np.zeros((4, 2)), np.ones((4, 2), order="F"), [])
    with pytest.raises(TypeError, match="state has dtype float32"):
        _kernels.stream_probe(p, g, [np.zeros(8, np.float32)])
    with pytest.raises(ValueError, match="state has shape"):
        _kernels.stream_probe(p, g, [np.zeros(7)])
    with pytest.raises(ValueError, match="param is not one dense block"):
        _kernels.stream_probe(np.zeros(16)[::2], g, [])
    assert not p.any()
