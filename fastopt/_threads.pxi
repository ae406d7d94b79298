# ---- threads: how many a step may use (the runtime and the split are in src_c/threads.c) ----

cdef int _threads_set = 0       # fastopt.set_num_threads(n) or a num_threads(n) block; 0: none
cdef int _threads_default = 1   # the CPUs this process may use (fastopt._threads sets it)


cdef inline int _threads_for(int requested) noexcept:
    """The threads a step uses: ``requested`` if > 0 (fastopt.torch passes torch's count),
    else fastopt's setting, else the default; never more than the OpenMP runtime allows
    (OMP_NUM_THREADS, threadpoolctl's limits) and 1 in a forked child."""
    cdef int n = requested if requested > 0 else (_threads_set if _threads_set > 0
                                                  else _threads_default)
    cdef int most = fo_threads_max()
    return n if n < most else most


def threads_runtime():
    """The thread runtime built in: "openmp", or "none" (steps run on the calling thread)."""
    return "openmp" if fo_threads_runtime() else "none"


def threads_max():
    """What the OpenMP runtime allows the calling thread (1 without OpenMP or after fork)."""
    return fo_threads_max()


def set_threads(int n, int default=0):
    """Set fastopt's thread count (0: none set, use the default); with ``default`` > 0,
    also the default. Returns the previous setting."""
    global _threads_set, _threads_default
    if n < 0 or default < 0:
        raise ValueError("fastopt: thread counts are >= 0")
    previous = _threads_set
    _threads_set = n
    if default > 0:
        _threads_default = default
    return previous


def threads_setting():
    """(the count set, or 0; the default)."""
    return _threads_set, _threads_default


def threads_for(int requested=0):
    """The threads a step would use now (see _threads_for)."""
    return _threads_for(requested)


def thread_min_elements(Py_ssize_t n=-1):
    """Elements per thread below which a dense step is not cut (n >= 1 sets it: tests use a
    small value to split small arrays); returns the previous value."""
    global fo_thread_min_elements
    cdef size_t previous = fo_thread_min_elements
    if n >= 1:
        fo_thread_min_elements = <size_t>n
    elif n != -1:
        raise ValueError("fastopt: thread_min_elements must be >= 1")
    return previous
