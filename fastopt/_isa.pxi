# ---- the memory-bandwidth probe and the ISA paths --------------------------------------------

cdef extern from *:
    """
    #ifndef FO_BUILD_FLAGS
    #define FO_BUILD_FLAGS "unknown"
    #endif
    """
    const char *FO_BUILD_FLAGS

BUILD_FLAGS = FO_BUILD_FLAGS.decode()
ISA_NAMES = tuple(fo_isa_name(i).decode() for i in range(FO_N_ISAS))


def stream_probe(cnp.ndarray p, cnp.ndarray g, list states, int threads=1):
    """Benchmark helper: p += g and s += g for each s in states, on the ISA path in use, on
    up to ``threads`` threads (cut as a step is).

    Moves exactly the bytes of a fused step with len(states) state buffers.
    """
    cdef void *ptrs[3]
    cdef Py_ssize_t j
    if len(states) > 3:
        raise ValueError("fastopt: the probe takes at most 3 state buffers")
    cdef int code = _param_code(p, 0)
    _check_like_param(p, g, code, 0, "grad", False)
    for j in range(len(states)):
        _check_like_param(p, states[j], code, 0, "state", True)
        ptrs[j] = cnp.PyArray_DATA(<cnp.ndarray>states[j])
    cdef size_t n = <size_t>cnp.PyArray_SIZE(p)
    cdef void *pp = cnp.PyArray_DATA(p)
    cdef const void *gp = cnp.PyArray_DATA(g)
    cdef int ns = <int>len(states)
    cdef int nt = _threads_for(threads)
    with nogil:
        if nt > 1:
            fo_stream_probe_threads(code, n, pp, gp, ptrs, ns, nt)
        else:
            fo_stream_probe(code, n, pp, gp, ptrs, ns)


# ---- ISA paths ------------------------------------------------------------------------------

def compiled_isas():
    """Names of the ISA paths this build contains."""
    return tuple(ISA_NAMES[i] for i in range(FO_N_ISAS) if fo_isa_compiled(i))


def available_isas():
    """Names of the ISA paths this CPU and OS can run, lowest first."""
    return tuple(ISA_NAMES[i] for i in range(FO_N_ISAS) if fo_isa_supported(i))


def best_isa():
    """The highest ISA path this CPU and OS can run."""
    return ISA_NAMES[fo_best_isa()]


#: The widest path used unless FASTOPT_ISA asks for more. AVX-512 is built, tested and
#: selectable, but opt-in: measured by ``python -m fastopt.bench`` (ISA table) on an AMD
#: EPYC it gained ~2-3% on Adagrad/RMSprop in cache and lost ~10% on Adam/Adadelta at 1e5,
#: and at 2^24 all paths are memory-bound; on older Intel parts it also down-clocks.
DEFAULT_MAX_ISA = "avx2"


def default_isa():
    """The path chosen at import without FASTOPT_ISA: the highest one this CPU and OS can run,
    up to DEFAULT_MAX_ISA."""
    cdef int isa
    for isa in range(ISA_NAMES.index(DEFAULT_MAX_ISA), 0, -1):
        if fo_isa_supported(isa):
            return ISA_NAMES[isa]
    return ISA_NAMES[0]


def current_isa():
    """The ISA path the kernels run on now."""
    return ISA_NAMES[fo_current_isa()]


def _set_isa(str name):
    """Switch the ISA path (for tests and benchmarks; not thread-safe against running steps)."""
    if name not in ISA_NAMES:
        raise ValueError(f"fastopt: unknown ISA path {name!r}; known: {', '.join(ISA_NAMES)}")
    cdef int isa = ISA_NAMES.index(name)
    if fo_set_isa(isa) != 0:
        raise ValueError(f"fastopt: ISA path {name!r} is not available here; available: "
                         f"{', '.join(available_isas())}")


def _choose_isa_at_import():
    """default_isa(), or the path FASTOPT_ISA asks for (a lower one, or avx512, which is
    opt-in); a path this CPU/OS lacks is never used: that warns and keeps the default."""
    requested = os.environ.get("FASTOPT_ISA", "").strip().lower()
    best = ISA_NAMES.index(default_isa())
    if requested:
        if requested not in ISA_NAMES:
            warnings.warn(f"fastopt: FASTOPT_ISA={requested!r} is not one of "
                          f"{', '.join(ISA_NAMES)}; using {ISA_NAMES[best]!r}",
                          RuntimeWarning, stacklevel=2)
        elif not fo_isa_supported(ISA_NAMES.index(requested)):
            warnings.warn(f"fastopt: FASTOPT_ISA={requested!r} is not available on this "
                          f"CPU/OS; using {ISA_NAMES[best]!r}", RuntimeWarning, stacklevel=2)
        else:
            best = ISA_NAMES.index(requested)
    fo_set_isa(best)


_choose_isa_at_import()
