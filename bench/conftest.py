"""pytest-benchmark suite (not part of the test run): ``pytest bench``.

The same cases as ``python -m fastopt.bench``; use pytest-benchmark's comparison and
history features (``--benchmark-autosave``, ``--benchmark-compare``). One thread.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
