"""Shared fixtures: every test that takes `isa` runs once per ISA path this machine has.

Two environment variables turn a run into a check of the run itself (``.ci/run`` sets them):
  FASTOPT_TEST_INSTALLED=1   fastopt must come from an installed wheel, not a source tree
                             (no setup.py or src_c/ beside the package);
  FASTOPT_EXPECT_ISA=<name>  the path chosen at import must be <name> (under qemu's CPU
                             models: baseline without AVX, avx2 on Haswell).
"""
import os

import numpy as np
import pytest

import fastopt
from fastopt import _kernels

#: Awkward sizes: empty, single, around every vector width and unroll, and big enough to leave
#: the L1/L2 caches and cross the GIL-release threshold.
SIZES = (0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 63, 1023, 4097, 100003)
if os.environ.get("FASTOPT_EXPECT_ISA"):
    # under one of qemu's CPU models (see below): 4097 already runs the vector blocks; the
    # largest size is the native runs' (emulated, it was a third of CI's qemu time)
    SIZES = SIZES[:-1]
DTYPES = (np.float32, np.float64)


#: The ISA paths the `isa` fixture runs: all this machine has, or, under FASTOPT_EXPECT_ISA
#: (a run under one of qemu's CPU models), that path only: the native run and the other CPU
#: model cover the rest, and emulated AVX2 is slow.
ISAS = ([os.environ["FASTOPT_EXPECT_ISA"]] if os.environ.get("FASTOPT_EXPECT_ISA")
        else _kernels.available_isas())


#: A thinner sample of sizes and settings in the slow runs, which check something else than
#: the math on every setting (the README's suite runs them all): under one of qemu's CPU
#: models (FASTOPT_EXPECT_ISA: the dispatch and the code of one path on a CPU without the
#: others) and in the sanitized build (FASTOPT_THIN_TESTS: memory errors, tails and cuts).
THIN = bool(os.environ.get("FASTOPT_EXPECT_ISA") or os.environ.get("FASTOPT_THIN_TESTS"))


@pytest.fixture(params=ISAS)
def isa(request):
    """Run the test on one ISA path, then restore the one chosen at import."""
    before = _kernels.isa_paths()
    _kernels._set_isa(request.param)
    yield request.param
    _kernels._set_isa(*before)


def torch_or_skip():
    """torch, or a skip; with FASTOPT_REQUIRE_TORCH=1 (CI) a missing torch fails instead."""
    try:
        import torch
    except ImportError:
        if os.environ.get("FASTOPT_REQUIRE_TORCH") == "1":
            pytest.fail("FASTOPT_REQUIRE_TORCH=1 but torch is not installed")
        pytest.skip("torch is not installed (pip install torch==2.13.0)")
    return torch


def pytest_configure(config):
    if os.environ.get("FASTOPT_TEST_INSTALLED") == "1":
        root = os.path.dirname(os.path.dirname(os.path.abspath(fastopt.__file__)))
        if any(os.path.exists(os.path.join(root, f)) for f in ("setup.py", "src_c")):
            raise pytest.UsageError(f"FASTOPT_TEST_INSTALLED=1, but fastopt was imported from "
                                    f"the source tree {root}, not from an installed wheel")
    want = os.environ.get("FASTOPT_EXPECT_ISA")
    if want and _kernels.current_isa() != want:
        raise pytest.UsageError(f"FASTOPT_EXPECT_ISA={want}, but fastopt chose "
                                f"{_kernels.current_isa()} (available: "
                                f"{', '.join(_kernels.available_isas())})")


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """torch.set_num_threads in a test (the benchmark report's helpers set 1) also sets the
    OpenMP thread limit that torch and fastopt share: put it back after each test, or every
    later test would step on one thread and the thread-count tests compare 1 with 1."""
    import sys
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(before if before is not None else fastopt.get_num_threads())


@pytest.fixture
def threaded():
    """For tests comparing thread counts: skip (saying why) where OpenMP allows one thread,
    rather than compare one thread with one thread."""
    if _kernels.threads_max() < 2:
        pytest.skip("OpenMP allows one thread here (a build without OpenMP, OMP_NUM_THREADS=1, "
                    "or a limit a library set)")
