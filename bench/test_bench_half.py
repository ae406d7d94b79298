"""Half-precision storage: fastopt's step per storage against torch's fused step on the same
dtypes (the cases of ``python -m fastopt.bench --sections half``).

Groups are "<algo>-<storage>-<n>", so pytest-benchmark's table compares fastopt with torch
for one case.
"""
import pytest

from fastopt.bench.half import ALGORITHMS, STORAGE, _bf16, _fastopt_step, _torch_step
from fastopt.bench._timing import try_torch

SIZES = [100_000, 1 << 22]


@pytest.mark.parametrize("impl", ["fastopt", "torch fused"])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("storage", list(STORAGE))
@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_half_step(benchmark, name, storage, n, impl):
    bf16 = _bf16()
    if bf16 is None:
        pytest.skip("ml_dtypes is not installed")
    benchmark.group = f"{name}-{storage}-{n}"
    if impl == "fastopt":
        benchmark(_fastopt_step(name, storage, n, bf16))
        return
    torch = try_torch()
    if torch is None:
        pytest.skip("torch is not installed")
    step = _torch_step(torch, name, storage, n)
    if step is None:
        pytest.skip(f"torch has no fused {name} for {storage}")
    benchmark(step)


@pytest.mark.parametrize("storage", list(STORAGE))
def test_half_sparse_adagrad_step(benchmark, storage):
    """Row-sparse Adagrad, 8192 Zipf ids into a 1e6 x 64 table, per storage (the half
    section's sparse table)."""
    import numpy as np

    import fastopt
    from fastopt.bench.sparse import DIM, _cycle, zipf_batches
    bf16 = _bf16()
    if bf16 is None:
        pytest.skip("ml_dtypes is not installed")
    benchmark.group = "sparse-adagrad-1e6x64-8192"
    dt = bf16 if storage in ("bf16", "bf16+master") else np.dtype(np.float32)
    table = np.zeros((10 ** 6, DIM), dt)
    batches = [fastopt.SparseRows(g.indices, g.values.astype(dt))
               for g in zipf_batches(10 ** 6, 8192, np.random.default_rng(1))]
    opts = (dict(master_weights=True) if storage == "bf16+master" else
            dict(state_dtype=bf16) if storage == "fp32+bf16 state" else {})
    opt = fastopt.Adagrad([table], lr=1e-2, **opts)
    benchmark(_cycle(batches, lambda g, t: opt.step([g])))
