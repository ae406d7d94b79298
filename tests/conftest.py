"""Shared fixtures: every test that takes `isa` runs once per ISA path this machine has."""
import os

import numpy as np
import pytest

from fastopt import _kernels

#: Awkward sizes: empty, single, around every vector width and unroll, and big enough to leave
#: the L1/L2 caches and cross the GIL-release threshold.
SIZES = (0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 63, 1023, 4097, 100003)
DTYPES = (np.float32, np.float64)


@pytest.fixture(params=_kernels.available_isas())
def isa(request):
    """Run the test on one ISA path, then restore the one chosen at import."""
    before = _kernels.current_isa()
    _kernels._set_isa(request.param)
    yield request.param
    _kernels._set_isa(before)


def torch_or_skip():
    """torch, or a skip; with FASTOPT_REQUIRE_TORCH=1 (CI) a missing torch fails instead."""
    try:
        import torch
    except ImportError:
        if os.environ.get("FASTOPT_REQUIRE_TORCH") == "1":
            pytest.fail("FASTOPT_REQUIRE_TORCH=1 but torch is not installed")
        pytest.skip("torch is not installed (pip install torch==2.13.0)")
    return torch
