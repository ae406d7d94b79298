"""Which OpenMP runtime fastopt's threads run on, and how its idle workers wait.

Imported first by ``fastopt/__init__.py``: it loads the extension, so it decides the
environment the OpenMP runtime starts with (GNU OpenMP reads its settings once, when it is
loaded).

- **Bundled** (a wheel repaired by auditwheel): the extension carries its own renamed copy of
  GNU OpenMP in ``fastopt.libs/``, used by fastopt alone. Left at libgomp's default, its idle
  workers spin for 300,000 rounds after every parallel region: measured here, 7.7-9.3 ms of
  CPU burnt after each threaded step at 2 threads, on the cores that torch's or NumPy's own
  threads need next (a torch MLP's forward and backward ran 1.08x slower next to fastopt's
  steps than next to torch fused's). So that copy starts with ``GOMP_SPINCOUNT=3000`` (0.1-0.3
  ms of spinning; back-to-back steps of 2^18 elements 9% slower than with the default; with
  none at all, 2.3x slower: every step would wake its workers from sleep). A
  ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` of the user's is left as it is. The variable is set
  only while the extension loads, and removed again: nothing else in the process sees it.
- **System** (built from source): the extension links the system's ``libgomp.so.1``, the
  runtime torch's wheel loads too, so one pool serves both; fastopt leaves its settings alone
  (setting them would change torch's runtime as well).
- **None** (built with ``FASTOPT_OPENMP=0``): steps run on the calling thread.

``RUNTIME`` is one of "bundled", "system", "none"; ``SPINCOUNT`` is the ``GOMP_SPINCOUNT``
fastopt started the bundled runtime with, or None. ``fastopt.show_config()`` prints both.
"""
import glob
import os

#: the GOMP_SPINCOUNT fastopt's own (bundled) runtime starts with, unless the user set one
BUNDLED_SPINCOUNT = "3000"
_USER_SETTINGS = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")


def _bundled_runtime():
    """The bundled GNU OpenMP beside the package (auditwheel's fastopt.libs/), or None."""
    package = os.path.dirname(os.path.abspath(__file__))
    found = glob.glob(os.path.join(os.path.dirname(package), "fastopt.libs", "libgomp*.so*"))
    return found[0] if found else None


def _load():
    bundled = _bundled_runtime()
    spincount = None
    if bundled and not any(k in os.environ for k in _USER_SETTINGS):
        spincount = BUNDLED_SPINCOUNT
        os.environ["GOMP_SPINCOUNT"] = spincount
    try:
        from fastopt import _kernels
    finally:
        if spincount is not None:
            del os.environ["GOMP_SPINCOUNT"]
    if not _kernels.threads_runtime() == "openmp":
        return "none", None
    return ("bundled" if bundled else "system"), spincount


RUNTIME, SPINCOUNT = _load()
