"""Dense steps per algorithm: fastopt, the memory probe, NumPy forms and torch.optim.

Groups are "<algo>-<dtype>-<n>", so pytest-benchmark's table compares implementations of
one case side by side.
"""
import numpy as np
import pytest

from fastopt import _kernels
from fastopt.bench.dense import ALGORITHMS, _torch_variants, buffers
from fastopt.bench._timing import try_torch

SIZES = [1_000, 100_000, 1 << 22]
IMPLS = ["fastopt", "bound", "numpy textbook", "numpy in-place",
         "torch for-loop", "torch foreach", "torch fused"]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_dense_step(benchmark, name, dtype, n, impl):
    algo = ALGORITHMS[name]
    benchmark.group = f"{name}-{np.dtype(dtype).name}-{n}"
    p, g, states, probe_states = buffers(algo, n, dtype)
    tmp = np.empty(p.shape, dtype)
    if impl == "fastopt":
        benchmark(algo["fastopt"], p, g, states)
    elif impl == "bound":
        benchmark(_kernels.stream_probe, p, g, probe_states)
    elif impl == "numpy textbook":
        benchmark(algo["textbook"], p, g, states)
    elif impl == "numpy in-place":
        benchmark(algo["inplace"], p, g, states, tmp)
    else:
        torch = try_torch()
        if torch is None:
            pytest.skip("torch is not installed")
        if algo["torch"] is None:
            pytest.skip(f"torch.optim has no {name}")
        fns = _torch_variants(torch, *algo["torch"], p, g, states)
        if impl not in fns:
            pytest.skip(f"{impl} does not exist for {name}")
        benchmark(fns[impl])
