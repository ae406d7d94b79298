"""How many threads fastopt's steps use: ``set_num_threads``, ``get_num_threads``,
``num_threads`` (a context manager) and ``FASTOPT_NUM_THREADS``.

The default is the number of CPUs this process may use: its CPU affinity mask, capped by a
cgroup CPU quota (containers, CI runners), never the host's core count. ``FASTOPT_NUM_THREADS``
replaces that default at import. ``fastopt.torch`` uses ``torch.get_num_threads()`` instead,
as torch's own fused kernels do, unless a count was set here. Every step also stays within
what the OpenMP runtime allows (``OMP_NUM_THREADS``; ``threadpoolctl.threadpool_limits``,
which sees fastopt's OpenMP runtime), runs on one thread in a forked child, and keeps small
steps on the calling thread (``show_config()`` prints the threshold). The split is static,
so results are bitwise the same for every count.
"""
import contextlib
import math
import os

from fastopt import _kernels

__all__ = ["get_num_threads", "set_num_threads", "num_threads"]


def _cgroup_cpus():
    """The CPU quota of this process's cgroup, rounded up, or None (no quota / no cgroup)."""
    try:   # cgroup v2: "max 100000" or "200000 100000"
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max" and int(period) > 0:
            return max(1, math.ceil(int(quota) / int(period)))
        return None
    except (OSError, ValueError):
        pass
    try:   # cgroup v1
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period = int(f.read())
        if quota > 0 and period > 0:
            return max(1, math.ceil(quota / period))
    except (OSError, ValueError):
        pass
    return None


def available_cpus():
    """The CPUs this process may use: its affinity mask, capped by a cgroup CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_cpus()
    return max(1, min(n, quota) if quota else n)


def _count(n, what):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"fastopt: {what} must be an int >= 1, got {n!r}")
    return n


def _default():
    env = os.environ.get("FASTOPT_NUM_THREADS", "").strip()
    if env:
        try:
            return _count(int(env), "FASTOPT_NUM_THREADS")
        except ValueError:
            raise ValueError(f"fastopt: FASTOPT_NUM_THREADS must be an int >= 1, got "
                             f"{env!r}") from None
    return available_cpus()


def set_num_threads(n):
    """Use at most ``n`` threads per step (NumPy API and fastopt.torch alike); ``None``
    goes back to the default (the CPUs this process may use; fastopt.torch: torch's)."""
    _kernels.set_threads(0 if n is None else _count(n, "the thread count"))


def get_num_threads():
    """The threads a large step uses now (fastopt's setting or default, within what the
    OpenMP runtime allows)."""
    return _kernels.threads_for(0)


@contextlib.contextmanager
def num_threads(n):
    """``with fastopt.num_threads(n):`` steps inside use at most ``n`` threads (process-wide,
    like set_num_threads; the previous setting comes back on exit)."""
    previous = _kernels.set_threads(_count(n, "the thread count"))
    try:
        yield
    finally:
        _kernels.set_threads(previous)


_kernels.set_threads(0, _default())
