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
