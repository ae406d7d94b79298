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

#: The widest path for half-precision storage (bfloat16/float16 params, bfloat16 state)
#: unless FASTOPT_ISA names one path for everything: there the conversions are the work,
#: and AVX-512 does them in fewer instructions (one narrowing store, a masked NaN select):
#: measured here (Xeon, 1e5 elements in cache, 1 thread) bfloat16 Adam 0.84 ns/element on
#: AVX-512 against 1.08 on AVX2, with bfloat16 state 0.95 against 1.18; bfloat16
#: SGD-momentum at 1e6 elements 1.5x faster (fastopt/bench/README.md, "Half precision").
DEFAULT_MAX_HALF_ISA = "avx512"


def _widest_up_to(str name):
    cdef int isa
    for isa in range(ISA_NAMES.index(name), 0, -1):
        if fo_isa_supported(isa):
            return ISA_NAMES[isa]
    return ISA_NAMES[0]


def default_isa():
    """The path chosen at import without FASTOPT_ISA: the highest one this CPU and OS can run,
    up to DEFAULT_MAX_ISA."""
    return _widest_up_to(DEFAULT_MAX_ISA)


def default_half_isa():
    """The path chosen at import for half-precision storage without FASTOPT_ISA: the highest
    one this CPU and OS can run, up to DEFAULT_MAX_HALF_ISA."""
    return _widest_up_to(DEFAULT_MAX_HALF_ISA)


def current_isa():
    """The ISA path the kernels run on now."""
    return ISA_NAMES[fo_current_isa()]


def current_half_isa():
    """The ISA path half-precision storage runs on now."""
    return ISA_NAMES[fo_current_half_isa()]


def _set_isa(str name, half=None):
    """Switch the ISA path, of everything or, with ``half``, of half-precision storage to
    that one (for tests and benchmarks; not thread-safe against running steps)."""
    for path in (name, name if half is None else half):
        if path not in ISA_NAMES:
            raise ValueError(f"fastopt: unknown ISA path {path!r}; known: "
                             f"{', '.join(ISA_NAMES)}")
        if not fo_isa_supported(ISA_NAMES.index(path)):
            raise ValueError(f"fastopt: ISA path {path!r} is not available here; available: "
                             f"{', '.join(available_isas())}")
    fo_set_isa(ISA_NAMES.index(name))
    if half is not None:
        fo_set_half_isa(ISA_NAMES.index(half))


def isa_paths():
    """(current_isa(), current_half_isa()): what ``_set_isa(*isa_paths())`` restores."""
    return current_isa(), current_half_isa()


def _choose_isa_at_import():
    """default_isa() (and default_half_isa() for half-precision storage), or the one path
    FASTOPT_ISA asks for, for everything (a lower one, or avx512, which is opt-in); a path
    this CPU/OS lacks is never used: that warns and keeps the defaults."""
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
            fo_set_isa(ISA_NAMES.index(requested))   # one path for everything
            return
    fo_set_isa(best)
    fo_set_half_isa(ISA_NAMES.index(default_half_isa()))


_choose_isa_at_import()
