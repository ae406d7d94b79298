# cython: language_level=3, embedsignature=True
"""The boundary between Python and the C kernels in src_c/.

Every public entry point validates *all* of its buffers before it writes anything: dtype,
byte order, shape, C-contiguity, alignment, writeability and memory overlap, each error naming
the parameter index. Only then does it make one C call that updates every parameter
(``fo_run_dense``; row-sparse gradients, :class:`SparseRows`, go to ``fo_run_rows`` first,
whose only failure, out of memory, happens before it writes). The GIL is released when the
call has enough elements to amortize it.

This module is private; ``fastopt.optim.*`` (the functional steps) and ``fastopt.torch``
(through ``TensorPlan``, the pointer-based entry) are its only callers, and tests use the ISA
helpers at the bottom. It never imports torch.
"""
import os
import warnings

import numpy as np

from cpython.dict cimport PyDict_Check, PyDict_GetItem
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uintptr_t
from libc.math cimport INFINITY
from libc.string cimport memcpy, memset

cimport numpy as cnp

cnp.import_array()

cdef extern from "fastopt.h" nogil:
    ctypedef struct fo_span:
        uintptr_t start
        uintptr_t end
        int writable
        int param
        int role

    ctypedef struct fo_kernel_info:
        const char *name
        const char *state_names
        const char *hyper_names
        int n_hyper
    const fo_kernel_info *fo_kernel(int row, int index) noexcept

    int fo_isa_compiled(int isa) noexcept
    int fo_isa_supported(int isa) noexcept
    int fo_best_isa() noexcept
    int fo_current_isa() noexcept
    const char *fo_isa_name(int isa) noexcept
    int fo_set_isa(int isa) noexcept

    void fo_run_dense(int algo, size_t k, const int *dtype, const size_t *n, void *const *p,
                      const void *const *g, void *const *state, const double *hyper,
                      const int64_t *step) noexcept
    void fo_stream_probe(int dtype, size_t n, void *p, const void *g, void *const *state,
                         int n_state) noexcept
    int fo_find_overlap(size_t m, fo_span *spans, fo_span *a, fo_span *b) noexcept

    ctypedef struct fo_rows_job:
        int dtype
        int index_type
        size_t n_rows, dim, k
        const void *index
        const void *values
        void *p
        void *const *state
        const double *hyper
        int64_t step

    int fo_run_rows(int algo, size_t n_jobs, const fo_rows_job *jobs) noexcept
    int64_t fo_check_index(int index_type, const void *index, size_t k, size_t n_rows) noexcept

    enum:
        FO_N_ISAS
        FO_INDEX_NONE
        FO_INDEX_I32
        FO_INDEX_I64

cdef extern from *:
    """
    #ifndef FO_BUILD_FLAGS
    #define FO_BUILD_FLAGS "unknown"
    #endif
    """
    const char *FO_BUILD_FLAGS

#: Calls that update at least this many elements in total release the GIL (about 30 ns).
NOGIL_MIN_ELEMENTS = 32768
cdef Py_ssize_t _nogil_min = NOGIL_MIN_ELEMENTS

BUILD_FLAGS = FO_BUILD_FLAGS.decode()
ISA_NAMES = tuple(fo_isa_name(i).decode() for i in range(FO_N_ISAS))


cdef int _n_kernels(int row) noexcept:
    cdef int i = 0
    while fo_kernel(row, i) != NULL:
        i += 1
    return i

cdef int fo_n_algorithms() noexcept:
    return _n_kernels(0)

cdef int fo_n_row_algorithms() noexcept:
    return _n_kernels(1)

cdef const char *fo_algorithm_name(int a) noexcept:
    return fo_kernel(0, a).name

cdef const char *fo_row_algorithm_name(int a) noexcept:
    return fo_kernel(1, a).name

cdef int fo_algorithm_n_hyper(int a) noexcept:
    return fo_kernel(0, a).n_hyper

cdef int fo_row_algorithm_n_hyper(int a) noexcept:
    return fo_kernel(1, a).n_hyper

def _hyper_names(int row, int a):
    return tuple(x.strip() for x in fo_kernel(row, a).hyper_names.decode().split(","))

cdef int _n_state_cache[2][64]

cdef int fo_algorithm_n_state(int a) noexcept:
    return _n_state_cache[0][a]

cdef int fo_row_algorithm_n_state(int a) noexcept:
    return _n_state_cache[1][a]


# ---- the registry ---------------------------------------------------------------------------

def _parse_state_names(str text, tuple hyper_names):
    """Names, gates and per-row flags of state buffers, from a registry string.

    "square_avg,momentum_buffer?4" declares two buffers: square_avg, always written, and
    momentum_buffer, written only when hyper[4] != 0 (gate 4); gate -1 means always.
    "sum:row" (row kernels only) declares a buffer of one element per row of the param.
    """
    names, gates, per_row = [], [], []
    for item in (text.split(",") if text else ()):
        name, _, gate = item.partition("?")
        name, colon, kind = name.partition(":")
        row = colon != "" and kind == "row"
        names.append(name)
        gates.append(hyper_names.index(gate) if gate else -1)
        per_row.append(row)
    return tuple(names), tuple(gates), tuple(per_row)


def _parse_states(int a):
    """Names and gates of dense kernel a's state buffers (see _parse_state_names)."""
    return _parse_state_names(fo_kernel(0, a).state_names.decode(), _hyper_names(0, a))[:2]


def algorithm(str name):
    """``(index, state names)`` of the kernel registered as ``name`` in kernels/registry.h."""
    for a in range(fo_n_algorithms()):
        if fo_algorithm_name(a).decode() == name:
            return a, _parse_states(a)[0]
    raise KeyError(f"fastopt: no kernel named {name!r}")


for _r in range(2):
    for _a in range(_n_kernels(_r)):
        _n_state_cache[_r][_a] = len(_parse_state_names(fo_kernel(_r, _a).state_names.decode(),
                                                        _hyper_names(_r, _a))[0])

#: Per algorithm, the keys of its state buffers in a param's state dict: ("sum",).
_STATE_KEYS = [_parse_states(a)[0] for a in range(fo_n_algorithms())]
#: Per algorithm, per buffer, the hyper-parameter index that gates it (-1: always needed).
_STATE_GATES = [_parse_states(a)[1] for a in range(fo_n_algorithms())]
#: Per algorithm, how errors name its state buffers: ("state 'sum'",) for Adagrad.
_STATE_WHAT = [tuple(f"state {k!r}" for k in keys) for keys in _STATE_KEYS]

_ROW_STATES = [_parse_state_names(fo_kernel(1, a).state_names.decode(), _hyper_names(1, a))
               for a in range(fo_n_row_algorithms())]
#: Per row kernel: state keys, gates, per-row flags and how errors name the buffers.
_ROW_STATE_KEYS = [st[0] for st in _ROW_STATES]
_ROW_STATE_GATES = [st[1] for st in _ROW_STATES]
_ROW_STATE_PER_ROW = [st[2] for st in _ROW_STATES]
_ROW_STATE_WHAT = [tuple(f"state {k!r}" for k in keys) for keys in _ROW_STATE_KEYS]


def row_algorithm(str name):
    """``(index, state names)`` of the row kernel registered as ``name`` in registry.h."""
    for a in range(fo_n_row_algorithms()):
        if fo_row_algorithm_name(a).decode() == name:
            return a, _ROW_STATE_KEYS[a]
    raise KeyError(f"fastopt: no row kernel named {name!r}")


# ---- row-sparse gradients ---------------------------------------------------------------------

cdef class SparseRows:
    """A row-sparse gradient of a 2-D param (``rows x dim``): ``values[j]`` is the gradient
    of row ``indices[j]``; every other row's gradient is zero.

    Args:
        indices: int32 or int64 array of shape ``(k,)``, each in ``[0, rows)``. Repeats are
            allowed and summed, as ``torch.Tensor.coalesce`` and ``np.add.at`` do.
        values: array of shape ``(k, dim)`` with the param's dtype, C-contiguous.

    Pass one in place of a dense gradient to ``opt.step(...)`` of an optimizer that supports
    it (Adagrad, SGD without momentum, RowwiseAdagrad, SparseAdam). Nothing is copied here:
    the arrays are checked at the step, before anything is written. Lists are converted with
    ``np.asarray``.

    A step costs in proportion to ``k * dim`` and never reads untouched rows. The folded
    gradient of a repeated row is ``((0 + v_first) + v_second) + ...`` in order of
    appearance: bit for bit what ``to_dense`` (``np.add.at`` into zeros) gives. So a sparse
    step equals the optimizer's dense step on ``to_dense(rows)`` exactly, on every row (the
    untouched rows it leaves alone are rows the dense step would not change, except where
    the dense step itself makes NaN of them, e.g. Adagrad with eps=0 and a zero accumulator).
    Against torch, which folds repeats in its own order, results agree to float rounding.
    """
    cdef readonly object indices
    cdef readonly object values

    def __init__(self, indices, values):
        self.indices = indices if cnp.PyArray_Check(indices) else np.asarray(indices)
        self.values = values if cnp.PyArray_Check(values) else np.asarray(values)

    def to_dense(self, n_rows):
        """The dense gradient: zeros of shape ``(n_rows, dim)``, then ``np.add.at``."""
        out = np.zeros((n_rows,) + self.values.shape[1:], self.values.dtype)
        np.add.at(out, self.indices, self.values)
        return out

    def __reduce__(self):
        return (SparseRows, (self.indices, self.values))

    def __repr__(self):
        return (f"SparseRows(k={self.indices.shape[0] if self.indices.ndim else '?'}, "
                f"dim={self.values.shape[1] if self.values.ndim == 2 else '?'}, "
                f"indices={self.indices.dtype}, values={self.values.dtype})")


# ---- validation -----------------------------------------------------------------------------

# span roles: 0 param, 1 grad, 2 + j dense state j, ROLE_ROWS + j row state j, and:
cdef enum:
    ROLE_INDEX = -1
    ROLE_VALUES = -2
    ROLE_ROWS = 1000


cdef str _role_name(int role, tuple state_what, tuple row_state_what):
    if role == 0:
        return "param"
    if role == 1:
        return "grad"
    if role == ROLE_INDEX:
        return "SparseRows indices"
    if role == ROLE_VALUES:
        return "SparseRows values"
    if role >= ROLE_ROWS:
        return row_state_what[role - ROLE_ROWS]
    return state_what[role - 2]


cdef int _dtype_code(object a, Py_ssize_t i, str what) except -1:
    """0 for float32, 1 for float64; TypeError for anything else, naming param i."""
    if not cnp.PyArray_Check(a):
        raise TypeError(f"fastopt: param {i}: {what} must be a numpy.ndarray, "
                        f"got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int t = cnp.PyArray_TYPE(arr)
    if t == cnp.NPY_FLOAT32:
        code = 0
    elif t == cnp.NPY_FLOAT64:
        code = 1
    else:
        raise TypeError(f"fastopt: param {i}: {what} has dtype {arr.dtype}; "
                        f"fastopt steps float32 and float64 arrays")
    if not cnp.PyArray_ISNOTSWAPPED(arr):
        raise TypeError(f"fastopt: param {i}: {what} has non-native byte order ({arr.dtype})")
    return code


cdef int _check_layout(cnp.ndarray a, Py_ssize_t i, str what, bint written) except -1:
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError(f"fastopt: param {i}: {what} is not C-contiguous; fastopt never "
                         f"copies, pass np.ascontiguousarray(...) and keep that array")
    if not cnp.PyArray_ISALIGNED(a):
        raise ValueError(f"fastopt: param {i}: {what} is not aligned to its dtype")
    if written and not cnp.PyArray_ISWRITEABLE(a):
        raise ValueError(f"fastopt: param {i}: {what} is read-only")
    return 0


cdef int _check_like(cnp.ndarray ref, object a, Py_ssize_t i, str what, int code,
                     bint written) except -1:
    """a must be an array of ref's dtype and shape (what names it in errors)."""
    cdef int c = _dtype_code(a, i, what)
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if c != code:
        raise TypeError(f"fastopt: param {i}: {what} has dtype {arr.dtype} but the param "
                        f"has dtype {ref.dtype}")
    cdef int nd = cnp.PyArray_NDIM(ref)
    cdef bint same = cnp.PyArray_NDIM(arr) == nd
    cdef int d
    if same:
        for d in range(nd):
            if cnp.PyArray_DIM(arr, d) != cnp.PyArray_DIM(ref, d):
                same = False
                break
    if not same:
        raise ValueError(f"fastopt: param {i}: {what} has shape {(<object>arr).shape} but the param "
                         f"has shape {(<object>ref).shape}")
    _check_layout(arr, i, what, written)
    return 0


# ---- the plan: everything one step will do, checked before anything runs ------------------

cdef struct Plan:
    # one block of memory for everything fo_run_dense / fo_run_rows need about k params
    void *block
    Py_ssize_t k, n_state, n_hyper, total
    fo_span *spans      # up to k * (3 + max(n_state, r_n_state)), appended (n_spans)
    Py_ssize_t n_spans
    void **p            # k
    const void **g      # k
    void **state        # k * n_state
    double *hyper       # k * n_hyper
    int64_t *step       # k
    size_t *n           # k
    int *dtype          # k
    # row steps (SparseRows, or dense gradients through a row kernel)
    Py_ssize_t r_n_state, r_n_hyper, r_used
    fo_rows_job *jobs   # k
    void **r_state      # k * r_n_state
    double *r_hyper     # k * r_n_hyper


cdef int _plan_alloc(Plan *plan, int algo, Py_ssize_t k, int row_algo=-1) except -1:
    plan.k = k
    plan.n_state = fo_algorithm_n_state(algo) if algo >= 0 else 0
    plan.n_hyper = fo_algorithm_n_hyper(algo) if algo >= 0 else 0
    plan.r_n_state = fo_row_algorithm_n_state(row_algo) if row_algo >= 0 else 0
    plan.r_n_hyper = fo_row_algorithm_n_hyper(row_algo) if row_algo >= 0 else 0
    plan.total = 0
    plan.n_spans = 0
    plan.r_used = 0
    cdef Py_ssize_t ns = plan.n_state, nh = plan.n_hyper
    cdef Py_ssize_t rns = plan.r_n_state, rnh = plan.r_n_hyper
    cdef Py_ssize_t per = 3 + (ns if ns > rns else rns)
    cdef size_t size = (k * per * sizeof(fo_span) + 2 * k * sizeof(void *)
                        + k * ns * sizeof(void *) + k * nh * sizeof(double)
                        + k * sizeof(int64_t) + k * sizeof(size_t) + k * sizeof(int)
                        + k * sizeof(fo_rows_job) + k * rns * sizeof(void *)
                        + k * rnh * sizeof(double) + 64)
    plan.block = PyMem_Malloc(size)
    if plan.block == NULL:
        raise MemoryError()
    cdef char *c = <char *>plan.block
    plan.spans = <fo_span *>c;   c += k * per * sizeof(fo_span)
    plan.p = <void **>c;         c += k * sizeof(void *)
    plan.g = <const void **>c;   c += k * sizeof(void *)
    plan.state = <void **>c;     c += k * ns * sizeof(void *)
    plan.hyper = <double *>c;    c += k * nh * sizeof(double)
    plan.step = <int64_t *>c;    c += k * sizeof(int64_t)
    plan.r_state = <void **>c;   c += k * rns * sizeof(void *)
    plan.r_hyper = <double *>c;  c += k * rnh * sizeof(double)
    plan.jobs = <fo_rows_job *>c; c += k * sizeof(fo_rows_job)
    plan.n = <size_t *>c;        c += k * sizeof(size_t)
    plan.dtype = <int *>c
    return 0


cdef inline void _add_span(Plan *plan, const void *data, size_t nbytes, int writable, int param,
                           int role) noexcept:
    cdef fo_span *s = &plan.spans[plan.n_spans]
    s.start = <uintptr_t>data
    s.end = s.start + <uintptr_t>nbytes
    s.writable = writable
    s.param = param
    s.role = role
    plan.n_spans += 1


cdef inline void _add_array_span(Plan *plan, cnp.ndarray a, int writable, int param,
                                 int role) noexcept:
    _add_span(plan, cnp.PyArray_DATA(a), <size_t>cnp.PyArray_NBYTES(a), writable, param, role)


cdef int _plan_param(Plan *plan, Py_ssize_t slot, Py_ssize_t i, object param, object grad,
                     object buffers, tuple state_what, tuple gates, list held) except -1:
    """Validate param i (its grad and state buffers) and record it in plan slot `slot`.

    Every object whose memory the plan points into is appended to ``held``, which the caller
    keeps until the C call returns: while the GIL is released, another thread may drop the
    last other reference to an array (``opt.state[i]["sum"] = ...``, a list being cleared).

    Call after _plan_scalars: a gated buffer is needed only if its gate hyper-parameter in
    this slot is non-zero; otherwise it is ignored (may be None) and the kernel gets NULL.
    """
    cdef int code = _dtype_code(param, i, "param")
    cdef cnp.ndarray p = <cnp.ndarray>param
    _check_layout(p, i, "param", True)
    _check_like(p, grad, i, "grad", code, False)
    cdef cnp.ndarray g = <cnp.ndarray>grad
    cdef Py_ssize_t j, ns = plan.n_state
    plan.dtype[slot] = code
    plan.n[slot] = <size_t>cnp.PyArray_SIZE(p)
    plan.p[slot] = cnp.PyArray_DATA(p)
    plan.g[slot] = cnp.PyArray_DATA(g)
    plan.total += cnp.PyArray_SIZE(p)
    _add_array_span(plan, p, 1, <int>i, 0)
    _add_array_span(plan, g, 0, <int>i, 1)
    cdef cnp.ndarray s
    cdef int gate
    for j in range(ns):
        buf = buffers[j]
        gate = gates[j]
        if gate >= 0 and plan.hyper[slot * plan.n_hyper + gate] == 0.0:
            plan.state[slot * ns + j] = NULL
            continue
        if buf is None:
            raise ValueError(f"fastopt: param {i}: {state_what[j]} is needed by these "
                             f"hyper-parameters but is None")
        _check_like(p, buf, i, state_what[j], code, True)
        s = <cnp.ndarray>buf
        plan.state[slot * ns + j] = cnp.PyArray_DATA(s)
        _add_array_span(plan, s, 1, <int>i, <int>(2 + j))
    held.append((param, grad, buffers))
    return 0


cdef int _plan_scalars(Plan *plan, Py_ssize_t slot, Py_ssize_t i, object hyper,
                       long long step, bint same_as_previous) except -1:
    """Record param i's hyper-parameters (as doubles) and step number in plan slot `slot`.

    same_as_previous: hyper is the object the previous slot got, so copy that row.
    """
    cdef Py_ssize_t j, nh = plan.n_hyper
    cdef tuple ht
    if same_as_previous and slot > 0:
        for j in range(nh):
            plan.hyper[slot * nh + j] = plan.hyper[(slot - 1) * nh + j]
    else:
        if len(hyper) != nh:
            raise ValueError(f"fastopt: param {i}: expected {nh} hyper-parameters, "
                             f"got {len(hyper)}")
        try:
            if type(hyper) is tuple:
                ht = <tuple>hyper
                for j in range(nh):
                    plan.hyper[slot * nh + j] = <double>ht[j]
            else:
                for j in range(nh):
                    plan.hyper[slot * nh + j] = <double>hyper[j]
        except TypeError:
            raise TypeError(f"fastopt: param {i}: hyper-parameters must be numbers and bools, "
                            f"got {hyper!r}") from None
    if step < 1:
        raise ValueError(f"fastopt: param {i}: step must be >= 1, got {step}")
    plan.step[slot] = step
    return 0


cdef int _index_type(object a, Py_ssize_t i) except -1:
    """FO_INDEX_I32 / FO_INDEX_I64 for a valid SparseRows index array; raises otherwise."""
    if not cnp.PyArray_Check(a):
        raise TypeError(f"fastopt: param {i}: SparseRows indices must be a numpy.ndarray, "
                        f"got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int t = cnp.PyArray_TYPE(arr)
    cdef int size = cnp.PyArray_ITEMSIZE(arr)
    if not cnp.PyArray_ISSIGNED(arr) or (size != 4 and size != 8):
        raise TypeError(f"fastopt: param {i}: SparseRows indices have dtype {arr.dtype}; "
                        f"expected int32 or int64")
    if not cnp.PyArray_ISNOTSWAPPED(arr):
        raise TypeError(f"fastopt: param {i}: SparseRows indices have non-native byte order "
                        f"({arr.dtype})")
    if cnp.PyArray_NDIM(arr) != 1:
        raise ValueError(f"fastopt: param {i}: SparseRows indices must be 1-D, got shape "
                         f"{(<object>arr).shape}")
    _check_layout(arr, i, "SparseRows indices", False)
    return FO_INDEX_I32 if size == 4 else FO_INDEX_I64


cdef int _plan_rows(Plan *plan, Py_ssize_t i, object param, object grad, object buffers,
                    object hyper, long long step, tuple state_what, tuple gates,
                    tuple per_row, list held) except -1:
    """Validate param i for a row step (grad a SparseRows, or a dense array meaning every
    row) and record it as the next row job. Range-checks every index."""
    cdef Py_ssize_t slot = plan.r_used, j, nh = plan.r_n_hyper, ns = plan.r_n_state
    cdef int code = _dtype_code(param, i, "param")
    cdef cnp.ndarray p = <cnp.ndarray>param
    _check_layout(p, i, "param", True)
    if len(hyper) != nh:
        raise ValueError(f"fastopt: param {i}: expected {nh} hyper-parameters, got {len(hyper)}")
    try:
        for j in range(nh):
            plan.r_hyper[slot * nh + j] = <double>hyper[j]
    except TypeError:
        raise TypeError(f"fastopt: param {i}: hyper-parameters must be numbers and bools, "
                        f"got {hyper!r}") from None
    if step < 1:
        raise ValueError(f"fastopt: param {i}: step must be >= 1, got {step}")
    cdef fo_rows_job *job = &plan.jobs[slot]
    cdef SparseRows sr
    cdef cnp.ndarray idx = None, vals = None, g
    cdef Py_ssize_t n_rows, dim, k
    cdef int64_t bad
    if type(grad) is SparseRows:
        sr = <SparseRows>grad
        if cnp.PyArray_NDIM(p) != 2:
            raise ValueError(f"fastopt: param {i}: a SparseRows gradient needs a 2-D param "
                             f"(rows x dim), got shape {(<object>p).shape}")
        n_rows = cnp.PyArray_DIM(p, 0)
        dim = cnp.PyArray_DIM(p, 1)
        job.index_type = _index_type(sr.indices, i)
        idx = <cnp.ndarray>sr.indices
        k = cnp.PyArray_DIM(idx, 0)
        if k > 0x7fffffff:
            raise ValueError(f"fastopt: param {i}: SparseRows with {k} rows; at most 2**31 - 1")
        if _dtype_code(sr.values, i, "SparseRows values") != code:
            raise TypeError(f"fastopt: param {i}: SparseRows values have dtype "
                            f"{sr.values.dtype} but the param has dtype {p.dtype}")
        vals = <cnp.ndarray>sr.values
        if (cnp.PyArray_NDIM(vals) != 2 or cnp.PyArray_DIM(vals, 0) != k
                or cnp.PyArray_DIM(vals, 1) != dim):
            raise ValueError(f"fastopt: param {i}: SparseRows values have shape "
                             f"{sr.values.shape}; expected {(k, dim)} for {k} indices into "
                             f"a param of shape {(<object>p).shape}")
        _check_layout(vals, i, "SparseRows values", False)
        bad = fo_check_index(job.index_type, cnp.PyArray_DATA(idx), <size_t>k, <size_t>n_rows)
        if bad >= 0:
            raise IndexError(f"fastopt: param {i}: SparseRows index {sr.indices[bad]} (at "
                             f"position {bad}) is out of range for a param with {n_rows} rows")
        job.k = <size_t>k
        job.index = cnp.PyArray_DATA(idx)
        job.values = cnp.PyArray_DATA(vals)
        _add_array_span(plan, idx, 0, <int>i, ROLE_INDEX)
        _add_array_span(plan, vals, 0, <int>i, ROLE_VALUES)
        plan.total += k * dim
    else:
        if cnp.PyArray_NDIM(p) < 1:
            raise ValueError(f"fastopt: param {i}: a row-wise step needs a param with at least "
                             f"1 dimension (rows first), got shape ()")
        _check_like(p, grad, i, "grad", code, False)
        g = <cnp.ndarray>grad
        n_rows = cnp.PyArray_DIM(p, 0)
        dim = cnp.PyArray_SIZE(p) // n_rows if n_rows else 0
        job.index_type = FO_INDEX_NONE
        job.k = <size_t>n_rows
        job.index = NULL
        job.values = cnp.PyArray_DATA(g)
        _add_array_span(plan, g, 0, <int>i, 1)
        plan.total += cnp.PyArray_SIZE(p)
    job.dtype = code
    job.n_rows = <size_t>n_rows
    job.dim = <size_t>dim
    job.p = cnp.PyArray_DATA(p)
    job.state = &plan.r_state[slot * ns]
    job.hyper = &plan.r_hyper[slot * nh]
    job.step = step
    _add_array_span(plan, p, 1, <int>i, 0)
    cdef cnp.ndarray s
    cdef int gate
    for j in range(ns):
        buf = buffers[j]
        gate = gates[j]
        if gate >= 0 and plan.r_hyper[slot * nh + gate] == 0.0:
            plan.r_state[slot * ns + j] = NULL
            continue
        if buf is None:
            raise ValueError(f"fastopt: param {i}: {state_what[j]} is needed by these "
                             f"hyper-parameters but is None")
        if per_row[j]:
            if _dtype_code(buf, i, state_what[j]) != code:
                raise TypeError(f"fastopt: param {i}: {state_what[j]} has dtype {buf.dtype} "
                                f"but the param has dtype {p.dtype}")
            if buf.shape != (n_rows,):
                raise ValueError(f"fastopt: param {i}: {state_what[j]} has shape {buf.shape} "
                                 f"but expected {(n_rows,)}, one per row of the param")
            _check_layout(<cnp.ndarray>buf, i, state_what[j], True)
        else:
            _check_like(p, buf, i, state_what[j], code, True)
        s = <cnp.ndarray>buf
        plan.r_state[slot * ns + j] = cnp.PyArray_DATA(s)
        _add_array_span(plan, s, 1, <int>i, <int>(ROLE_ROWS + j))
    # kept alive until the C call returns (see _plan_param), the SparseRows' arrays included
    held.append((param, grad, buffers, idx, vals))
    plan.r_used += 1
    return 0


cdef int _plan_run(Plan *plan, int algo, Py_ssize_t used, tuple state_what, int row_algo=-1,
                   tuple row_state_what=()) except -1:
    """Check every recorded buffer for overlap, then run the row steps and the dense steps."""
    cdef fo_span sa, sb
    cdef int failed = 0
    cdef Py_ssize_t r_used = plan.r_used
    if fo_find_overlap(<size_t>plan.n_spans, plan.spans, &sa, &sb):
        raise ValueError(
            f"fastopt: param {sa.param}'s {_role_name(sa.role, state_what, row_state_what)} and "
            f"param {sb.param}'s {_role_name(sb.role, state_what, row_state_what)} overlap in "
            f"memory; fastopt needs separate buffers")
    # Rows first: fo_run_rows can only fail (out of memory) before it writes anything. They
    # run with the GIL held: their indices were range-checked under it, and no other Python
    # thread may change them between that check and their use (an out-of-bounds write).
    if r_used:
        failed = fo_run_rows(row_algo, <size_t>r_used, plan.jobs)
    if used and not failed:
        if plan.total >= _nogil_min:
            with nogil:
                fo_run_dense(algo, <size_t>used, plan.dtype, plan.n, plan.p, plan.g,
                             plan.state, plan.hyper, plan.step)
        else:
            fo_run_dense(algo, <size_t>used, plan.dtype, plan.n, plan.p, plan.g, plan.state,
                         plan.hyper, plan.step)
    if failed:
        raise MemoryError("fastopt: no memory for folding the SparseRows indices; nothing "
                          "was written")
    return 0


cdef list _as_list(object seq, str what):
    if type(seq) is list:
        return <list>seq
    if isinstance(seq, (str, bytes, dict)) or cnp.PyArray_Check(seq) or seq is None:
        raise TypeError(f"fastopt: {what} must be a list of arrays, one per param")
    return list(seq)


cdef int _check_algo(int algo) except -1:
    if algo < 0 or algo >= fo_n_algorithms():
        raise ValueError(f"fastopt: no kernel {algo}")
    return 0


cdef int _check_row_algo(int algo) except -1:
    if algo < 0 or algo >= fo_n_row_algorithms():
        raise ValueError(f"fastopt: no row kernel {algo}")
    return 0


cdef list _check_counts(Py_ssize_t k, list gs, object states, int n_state, object hypers,
                        bint shared_hyper, object steps, bint shared_step, int algo,
                        bint row):
    """Check that every per-param list has k entries; return the state lists as lists.
    (algo, row) name the kernel in errors: built only then, this runs on every step.)"""
    if len(gs) != k:
        raise ValueError(f"fastopt: {len(gs)} grads for {k} params")
    if len(states) != n_state:
        kernel = (f"row kernel {fo_row_algorithm_name(algo).decode()!r}" if row
                  else f"kernel {fo_algorithm_name(algo).decode()!r}")
        raise ValueError(f"fastopt: {kernel} takes {n_state} state lists, got {len(states)}")
    cdef list state_lists = [_as_list(sl, "each state list") for sl in states]
    cdef Py_ssize_t j
    for j in range(n_state):
        if len(state_lists[j]) != k:
            raise ValueError(f"fastopt: state list {j} has {len(state_lists[j])} arrays "
                             f"for {k} params")
    if not shared_hyper and len(hypers) != k:
        raise ValueError(f"fastopt: {len(hypers)} hyper-parameter tuples for {k} params")
    if not shared_step and len(steps) != k:
        raise ValueError(f"fastopt: {len(steps)} step counts for {k} params")
    return state_lists


def nonnegative_finite(double a, double b, double c, double d):
    """True if 0 <= x < inf for each of the four (NaN is False): the functional steps'
    common hyper-parameter check at C speed, ~100 ns less per call than the Python chain.
    TypeError if one is not a real number."""
    return (0.0 <= a < INFINITY and 0.0 <= b < INFINITY and 0.0 <= c < INFINITY
            and 0.0 <= d < INFINITY)


def dense_step(int algo, params, grads, states, hypers, steps):
    """Update ``params`` in place with kernel ``algo``; all-or-nothing.

    params   list of k arrays (float32 or float64, C-contiguous, aligned, writeable)
    grads    list of k arrays, each with its param's dtype and shape (only read)
    states   sequence of n_state lists of k arrays, each like its param (written)
    hypers   one tuple of n_hyper numbers for all params, or a list of k such tuples
    steps    one int >= 1 for all params, or a list of k ints: the number of this step

    Raises TypeError / ValueError naming the parameter before anything is written.
    """
    _check_algo(algo)
    cdef list ps = _as_list(params, "params")
    cdef list gs = _as_list(grads, "grads")
    cdef Py_ssize_t k = len(ps), i, j
    cdef int n_state = fo_algorithm_n_state(algo)
    cdef tuple state_what = _STATE_WHAT[algo]
    cdef tuple gates = _STATE_GATES[algo]
    cdef bint shared_hyper = type(hypers) is tuple
    cdef bint shared_step = not isinstance(steps, list)
    cdef list state_lists = _check_counts(
        k, gs, states, n_state, hypers, shared_hyper, steps, shared_step, algo, False)
    if k == 0:
        return
    cdef list held = []   # every object the plan points into, alive until the C call returns
    cdef Plan plan
    _plan_alloc(&plan, algo, k)
    try:
        for i in range(k):
            _plan_scalars(&plan, i, i, hypers if shared_hyper else hypers[i],
                          steps if shared_step else steps[i], shared_hyper)
            _plan_param(&plan, i, i, ps[i], gs[i], [sl[i] for sl in state_lists]
                        if n_state != 1 else (state_lists[0][i],), state_what, gates, held)
        _plan_run(&plan, algo, k, state_what)
    finally:
        PyMem_Free(plan.block)


def rows_step(int row_algo, params, grads, states, hypers, steps, *, bint dense_ok=True,
              str owner="this step"):
    """Like dense_step, with row kernel ``row_algo``: each grad is a :class:`SparseRows` (its
    rows only) or, if ``dense_ok``, a dense array of the param's shape (every row); otherwise
    a TypeError names ``owner``. All-or-nothing."""
    _check_row_algo(row_algo)
    cdef list ps = _as_list(params, "params")
    cdef list gs = _as_list(grads, "grads")
    cdef Py_ssize_t k = len(ps), i, j
    cdef int n_state = fo_row_algorithm_n_state(row_algo)
    cdef tuple state_what = _ROW_STATE_WHAT[row_algo]
    cdef tuple gates = _ROW_STATE_GATES[row_algo]
    cdef tuple per_row = _ROW_STATE_PER_ROW[row_algo]
    cdef bint shared_hyper = type(hypers) is tuple
    cdef bint shared_step = not isinstance(steps, list)
    cdef list state_lists = _check_counts(
        k, gs, states, n_state, hypers, shared_hyper, steps, shared_step, row_algo, True)
    if k == 0:
        return
    cdef list held = []   # every object the plan points into, alive until the C call returns
    cdef Plan plan
    _plan_alloc(&plan, -1, k, row_algo)
    try:
        for i in range(k):
            if not dense_ok and type(gs[i]) is not SparseRows:
                raise TypeError(f"fastopt: param {i}: {owner} takes SparseRows gradients, "
                                f"got {type(gs[i]).__name__}")
            _plan_rows(&plan, i, ps[i], gs[i], [sl[i] for sl in state_lists],
                       hypers if shared_hyper else hypers[i],
                       steps if shared_step else steps[i], state_what, gates, per_row, held)
        _plan_run(&plan, -1, 0, (), row_algo, state_what)
    finally:
        PyMem_Free(plan.block)


def state_step(int algo, list params, grads, dict state, hypers, int row_algo=-1,
               row_hyper=None, str owner="this optimizer"):
    """The optimizer objects' step: like dense_step, with buffers and counts from ``state``.

    ``state[i]`` is param i's dict: ``"step"`` (int) and one array per state name of the
    kernel. A ``None`` grad skips its param. After the update, each stepped param's
    ``"step"`` is incremented; nothing is written if anything is invalid.

    Row-sparse gradients: a :class:`SparseRows` grad goes to row kernel ``row_algo`` with
    hyper-parameters ``row_hyper(i, True)``; with no row kernel (-1) it raises TypeError
    naming ``owner``. A dense grad goes to dense kernel ``algo``, or, if ``algo`` is -1, to
    the row kernel (every row) with ``row_hyper(i, False)``, which may raise to refuse it.
    """
    if algo >= 0:
        _check_algo(algo)
    if row_algo >= 0:
        _check_row_algo(row_algo)
    elif algo < 0:
        raise ValueError("fastopt: state_step needs a dense or a row kernel")
    cdef list gs = _as_list(grads, "grads")
    cdef Py_ssize_t k = len(params), i, j, used = 0
    cdef int n_state = fo_algorithm_n_state(algo) if algo >= 0 else 0
    cdef tuple state_what = _STATE_WHAT[algo] if algo >= 0 else ()
    cdef tuple keys = _STATE_KEYS[algo] if algo >= 0 else ()
    cdef tuple gates = _STATE_GATES[algo] if algo >= 0 else ()
    cdef tuple r_what = _ROW_STATE_WHAT[row_algo] if row_algo >= 0 else ()
    cdef tuple r_keys = _ROW_STATE_KEYS[row_algo] if row_algo >= 0 else ()
    cdef tuple r_gates = _ROW_STATE_GATES[row_algo] if row_algo >= 0 else ()
    cdef tuple r_per_row = _ROW_STATE_PER_ROW[row_algo] if row_algo >= 0 else ()
    cdef bint shared_hyper = type(hypers) is tuple
    if len(gs) != k:
        raise ValueError(f"fastopt: step() got {len(gs)} grads for {k} params")
    if algo >= 0 and not shared_hyper and len(hypers) != k:
        raise ValueError(f"fastopt: {len(hypers)} hyper-parameter tuples for {k} params")
    cdef Plan plan
    cdef dict st
    cdef list stepped = []
    cdef list held = []   # every object the plan points into, alive until the C call returns
    _plan_alloc(&plan, algo, k, row_algo)
    try:
        for i in range(k):
            g = gs[i]
            if g is None:
                continue
            st = state.get(i)
            if st is None:
                raise ValueError(f"fastopt: param {i} has no state; add params with "
                                 f"add_param_group(), not by changing a group's list")
            if type(g) is SparseRows or algo < 0:
                if row_algo < 0:
                    raise TypeError(
                        f"fastopt: param {i}: {owner} does not take SparseRows gradients; "
                        f"row-sparse steps are supported by Adagrad, SGD (no momentum), "
                        f"RowwiseAdagrad and SparseAdam")
                _plan_rows(&plan, i, params[i], g, [st.get(key) for key in r_keys],
                           row_hyper(i, type(g) is SparseRows), st["step"] + 1, r_what,
                           r_gates, r_per_row, held)
            else:
                if n_state == 1:
                    bufs = (st.get(keys[0]),)
                else:
                    bufs = [st.get(key) for key in keys]
                _plan_scalars(&plan, used, i, hypers if shared_hyper else hypers[i],
                              st["step"] + 1, shared_hyper)
                _plan_param(&plan, used, i, params[i], g, bufs, state_what, gates, held)
                used += 1
            stepped.append(st)
        if stepped:
            _plan_run(&plan, algo, used, state_what, row_algo, r_what)
    finally:
        PyMem_Free(plan.block)
    for st in stepped:
        st["step"] += 1


# ---- the pointer step (fastopt.torch) -------------------------------------------------------

cdef inline bint _hits_written(const fo_span *w, Py_ssize_t m, uintptr_t start,
                               uintptr_t end) noexcept nogil:
    """Does [start, end) overlap a span of w (sorted by start, disjoint, none empty)?"""
    cdef Py_ssize_t lo = 0, hi = m, mid
    # first span that ends after start (ends are sorted too, as the spans are disjoint)
    while lo < hi:
        mid = (lo + hi) // 2
        if w[mid].end <= start:
            lo = mid + 1
        else:
            hi = mid
    return lo < m and w[lo].start < end


#: TensorPlan step kinds: how a slot's step count is kept.
STEP_NONE = 0      # no step tensor: the kernel gets the slot's fixed step (1 when fresh, then 2)
STEP_F32 = 1       # a float32 scalar tensor, incremented in float32 as torch does
STEP_F64 = 2       # a float64 scalar tensor

cdef int _ITEMSIZE[2]
_ITEMSIZE[0] = 4
_ITEMSIZE[1] = 8


cdef class TensorPlan:
    """One optimizer's step over tensors, through their data pointers: fastopt.torch's entry.

    The caller (fastopt/torch/_base.py) validates every tensor, then builds a plan with one
    *slot* per param of every group, in order. The plan records each slot's pointers (param,
    state buffers, step counter), sizes and dtypes once, and checks them, together with the
    grads of the moment, for memory overlap (fo_find_overlap) before it accepts them.

    ``run`` is the step. Without writing anything it re-checks, cheaply, that what it cached
    still holds: the same groups and params (by identity), each param's data pointer and
    contiguity, the same state dict and state tensors (by identity) at the same data
    pointers, the gates of optional buffers; and that each grad is a dense, contiguous CPU
    tensor of the param's dtype and shape whose memory overlaps nothing written (a binary
    search in the sorted written spans). If anything differs it returns None and the caller
    rebuilds (and reports what is wrong). Otherwise it reads each step counter through its
    pointer, makes one C call (fo_run_dense) for every param that has a grad, writes the
    incremented counters back and returns the list of params it stepped.

    Duck-typed: it calls ``.grad``, ``.data_ptr()``, ``.is_contiguous()``, ``.layout``,
    ``.is_cpu``, ``.dtype`` and ``.shape`` on the objects; this module never imports torch.
    """
    cdef Plan plan                # every slot, in order (g and hyper filled per run)
    cdef Plan packed              # the stepped slots only, when some grads are None
    cdef int algo
    cdef Py_ssize_t k, ns, nh, n_groups, m
    cdef void *block
    cdef fo_span *written         # m non-empty written spans, sorted by start
    cdef void **step_ptr          # k
    cdef int *step_kind           # k: STEP_NONE / STEP_F32 / STEP_F64
    cdef int64_t *fixed_step      # k: the step STEP_NONE slots pass
    cdef double *new_step         # k: scratch
    cdef double *ghyper           # n_groups * nh
    cdef unsigned char *used      # k: scratch
    cdef unsigned char *gate_on   # k * ns: the optional buffer is in use
    cdef unsigned char *has_state # k: the slot's state is part of the plan
    cdef int *group_of            # k
    cdef int *gates               # ns: the gating hyper-parameter of each buffer, -1 if none
    cdef list params, shapes, dtypes, dicts, tensors, group_sizes
    cdef tuple keys
    cdef object step_key, strided, keepalive
    cdef readonly tuple state_what

    def __cinit__(self, int algo, list slots, list group_sizes, list hypers, object strided,
                  object step_key, tuple state_keys, object keepalive=None):
        """Record ``slots`` (already validated by the caller) and check them for overlap.

        Each slot is a tuple ``(group, index, param, param_ptr, numel, dtype_code, dtype,
        shape, state_dict, state_tensors, state_ptrs, step_tensor, step_ptr, step_kind,
        fixed_step, grad_ptr)``: ``index`` names the param in errors; ``state_dict`` is None
        when the slot's state is not part of the plan (then run() wants a rebuild as soon as
        the param has a grad), and an empty dict when the step needs no state at all (then
        it is not looked up); ``state_tensors``/``state_ptrs`` follow ``state_keys`` (the
        kernel's buffer order), None/0 for an optional buffer not in use; ``grad_ptr`` is 0
        for no grad. ``hypers`` holds one kernel hyper tuple per group.
        """
        _check_algo(algo)
        cdef Py_ssize_t k = len(slots), ns = fo_algorithm_n_state(algo)
        cdef Py_ssize_t nh = fo_algorithm_n_hyper(algo), ng = len(group_sizes)
        cdef Py_ssize_t s, j, gi, nb = 0, nw = 0
        if len(state_keys) != ns:
            raise ValueError(f"fastopt: kernel {fo_algorithm_name(algo).decode()!r} has {ns} "
                             f"state buffers, got {len(state_keys)} keys")
        if len(hypers) != ng or sum(group_sizes) != k:
            raise ValueError("fastopt: group sizes and hyper tuples do not match the slots")
        self.algo, self.k, self.ns, self.nh, self.n_groups = algo, k, ns, nh, ng
        self.keys = state_keys
        self.step_key = step_key
        self.strided = strided
        self.keepalive = keepalive
        self.group_sizes = list(group_sizes)
        self.state_what = _STATE_WHAT[algo] + ("state 'step'",)
        _plan_alloc(&self.plan, algo, k)
        _plan_alloc(&self.packed, algo, k)
        cdef size_t size = (k * (3 + ns) * sizeof(fo_span) + k * sizeof(void *)
                            + k * sizeof(int) + k * sizeof(int64_t) + k * sizeof(double)
                            + ng * nh * sizeof(double) + 2 * k + k * ns + k * sizeof(int)
                            + ns * sizeof(int) + 64)
        self.block = PyMem_Malloc(size)
        if self.block == NULL:
            raise MemoryError()
        memset(self.block, 0, size)
        cdef char *c = <char *>self.block
        self.written = <fo_span *>c;        c += k * (3 + ns) * sizeof(fo_span)
        self.step_ptr = <void **>c;         c += k * sizeof(void *)
        self.fixed_step = <int64_t *>c;     c += k * sizeof(int64_t)
        self.new_step = <double *>c;        c += k * sizeof(double)
        self.ghyper = <double *>c;          c += ng * nh * sizeof(double)
        self.step_kind = <int *>c;          c += k * sizeof(int)
        self.group_of = <int *>c;           c += k * sizeof(int)
        self.gates = <int *>c;              c += ns * sizeof(int)
        self.used = <unsigned char *>c;     c += k
        self.has_state = <unsigned char *>c; c += k
        self.gate_on = <unsigned char *>c
        for j in range(ns):
            self.gates[j] = _STATE_GATES[algo][j]
        self._set_hypers(hypers)

        # all spans of the build, grads included; written ones are copied to self.written
        cdef fo_span *spans = <fo_span *>PyMem_Malloc(k * (3 + ns) * sizeof(fo_span) + 1)
        if spans == NULL:
            raise MemoryError()
        cdef fo_span sa, sb
        cdef uintptr_t ptr
        cdef int code, kind
        cdef Py_ssize_t n, index
        self.params, self.shapes, self.dtypes, self.dicts, self.tensors = [], [], [], [], []
        try:
            for s in range(k):
                (gi, index, param, pptr, n, code, dtype, shape, st, tens, sptrs, step_t,
                 step_ptr, kind, fixed, gptr) = slots[s]
                if code != 0 and code != 1:
                    raise ValueError(f"fastopt: param {index}: bad dtype code {code}")
                self.params.append(param)
                self.shapes.append(shape)
                self.dtypes.append(dtype)
                self.dicts.append(st)
                self.group_of[s] = <int>gi
                self.plan.dtype[s] = code
                self.plan.n[s] = <size_t>n
                self.plan.p[s] = <void *><uintptr_t>pptr
                self.plan.g[s] = NULL
                # 1: a state dict to check each run; 2: nothing to keep (e.g. SGD without
                # momentum: torch keeps no state entry), so no dict to check
                self.has_state[s] = 0 if st is None else (2 if type(st) is dict and not st
                                                          else 1)
                if self.has_state[s] == 2:
                    st = None
                nb = _put_span(spans, nb, <uintptr_t>pptr, n * _ITEMSIZE[code], 1, index, 0)
                if gptr:
                    nb = _put_span(spans, nb, <uintptr_t>gptr, n * _ITEMSIZE[code], 0, index, 1)
                for j in range(ns):
                    on = self.gates[j] < 0 or self.ghyper[gi * nh + self.gates[j]] != 0.0
                    self.gate_on[s * ns + j] = on
                    if self.has_state[s] == 1 and on:
                        ptr = <uintptr_t>sptrs[j]
                        self.plan.state[s * ns + j] = <void *>ptr
                        self.tensors.append(tens[j])
                        nb = _put_span(spans, nb, ptr, n * _ITEMSIZE[code], 1, index, 2 + j)
                    else:
                        self.plan.state[s * ns + j] = NULL
                        self.tensors.append(None)
                if self.has_state[s] != 1:
                    kind = STEP_NONE
                    step_t = None
                    step_ptr = 0
                if kind != STEP_NONE and kind != STEP_F32 and kind != STEP_F64:
                    raise ValueError(f"fastopt: param {index}: bad step kind {kind}")
                self.tensors.append(step_t)
                self.step_kind[s] = kind
                self.step_ptr[s] = <void *><uintptr_t>step_ptr
                self.fixed_step[s] = fixed
                if kind != STEP_NONE:
                    nb = _put_span(spans, nb, <uintptr_t>step_ptr, 4 if kind == STEP_F32 else 8,
                                   1, index, 2 + ns)
            if fo_find_overlap(<size_t>nb, spans, &sa, &sb):
                raise ValueError(
                    f"fastopt: param {sa.param}'s {_role_name(sa.role, self.state_what, ())} and "
                    f"param {sb.param}'s {_role_name(sb.role, self.state_what, ())} overlap in "
                    f"memory; fastopt needs separate buffers")
            for s in range(nb):
                if spans[s].writable and spans[s].end > spans[s].start:
                    self.written[nw] = spans[s]
                    nw += 1
            self.m = nw   # spans was sorted by start, so self.written is too
        finally:
            PyMem_Free(spans)

    def __dealloc__(self):
        PyMem_Free(self.plan.block)
        PyMem_Free(self.packed.block)
        PyMem_Free(self.block)

    cdef int _set_hypers(self, list hypers) except -1:
        cdef Py_ssize_t gi, j, nh = self.nh
        for gi in range(self.n_groups):
            h = hypers[gi]
            if len(h) != nh:
                raise ValueError(f"fastopt: group {gi}: expected {nh} hyper-parameters, "
                                 f"got {len(h)}")
            for j in range(nh):
                self.ghyper[gi * nh + j] = <double>h[j]
        return 0

    def run(self, list param_groups, object state, list hypers):
        """Step every param that has a grad, in one C call; see the class docstring.

        Returns the list of params stepped, or None (nothing written) if the plan no longer
        fits: the caller then rebuilds it, which validates everything and names what is wrong.
        """
        cdef Py_ssize_t k = self.k, ns = self.ns, nh = self.nh
        cdef Py_ssize_t gi, s = 0, j, u = 0, total = 0, size
        cdef uintptr_t gptr
        cdef PyObject *cur
        cdef double v
        cdef bint on
        cdef int kind
        if (len(param_groups) != self.n_groups or len(hypers) != self.n_groups
                or not PyDict_Check(state)):
            return None
        self._set_hypers(hypers)
        strided = self.strided
        keys = self.keys
        cdef list stepped = []
        cdef list held = []
        for gi in range(self.n_groups):
            params = param_groups[gi]["params"]
            if len(params) != <Py_ssize_t>self.group_sizes[gi]:
                return None
            for p in params:
                if p is not self.params[s]:
                    return None
                g = p.grad
                if g is None:
                    self.used[s] = 0
                    s += 1
                    continue
                if not self.has_state[s]:
                    return None
                if (g.layout is not strided or not g.is_cpu or g.dtype is not self.dtypes[s]
                        or not g.is_contiguous() or g.shape != self.shapes[s]):
                    return None
                gptr = <uintptr_t>g.data_ptr()
                if <uintptr_t>p.data_ptr() != <uintptr_t>self.plan.p[s] or not p.is_contiguous():
                    return None
                st = self.dicts[s]
                if self.has_state[s] == 1:
                    cur = PyDict_GetItem(state, p)
                    if cur == NULL or <object>cur is not st:
                        return None
                for j in range(ns):
                    on = self.gates[j] < 0 or self.ghyper[gi * nh + self.gates[j]] != 0.0
                    if on != self.gate_on[s * ns + j]:
                        return None
                    if on:
                        t = self.tensors[s * (ns + 1) + j]
                        cur = PyDict_GetItem(st, keys[j])
                        if (cur == NULL or <object>cur is not t
                                or <uintptr_t>t.data_ptr() != <uintptr_t>self.plan.state[s * ns + j]):
                            return None
                kind = self.step_kind[s]
                if kind == STEP_NONE:
                    self.plan.step[s] = self.fixed_step[s]
                else:
                    t = self.tensors[s * (ns + 1) + ns]
                    cur = PyDict_GetItem(st, self.step_key)
                    if (cur == NULL or <object>cur is not t
                            or <uintptr_t>t.data_ptr() != <uintptr_t>self.step_ptr[s]):
                        return None
                    # step_t += 1, in the counter's own dtype (as torch does)
                    if kind == STEP_F32:
                        v = <double>(<float>((<float *>self.step_ptr[s])[0] + 1.0))
                    else:
                        v = (<double *>self.step_ptr[s])[0] + 1.0
                    if not (v >= 1.0 and v <= 9007199254740992.0):
                        return None
                    self.new_step[s] = v
                    self.plan.step[s] = <int64_t>v
                size = <Py_ssize_t>self.plan.n[s] * _ITEMSIZE[self.plan.dtype[s]]
                if size and _hits_written(self.written, self.m, gptr, gptr + <uintptr_t>size):
                    return None
                self.plan.g[s] = <const void *>gptr
                self.used[s] = 1
                stepped.append(p)
                held.append(g)   # alive through the nogil call (zero_grad in another thread)
                total += <Py_ssize_t>self.plan.n[s]
                u += 1
                s += 1
        if s != k:
            return None

        # ---- everything checked: from here on, write ----
        for s in range(k):
            memcpy(&self.plan.hyper[s * nh], &self.ghyper[self.group_of[s] * nh],
                   nh * sizeof(double))
        cdef Plan *run = &self.plan
        if u < k:
            run = &self.packed
            j = 0
            for s in range(k):
                if not self.used[s]:
                    continue
                run.p[j] = self.plan.p[s]
                run.g[j] = self.plan.g[s]
                run.n[j] = self.plan.n[s]
                run.dtype[j] = self.plan.dtype[s]
                run.step[j] = self.plan.step[s]
                memcpy(&run.state[j * ns], &self.plan.state[s * ns], ns * sizeof(void *))
                memcpy(&run.hyper[j * nh], &self.plan.hyper[s * nh], nh * sizeof(double))
                j += 1
        if u:
            if total >= _nogil_min:
                with nogil:
                    fo_run_dense(self.algo, <size_t>u, run.dtype, run.n, run.p, run.g,
                                 run.state, run.hyper, run.step)
            else:
                fo_run_dense(self.algo, <size_t>u, run.dtype, run.n, run.p, run.g, run.state,
                             run.hyper, run.step)
        for s in range(k):
            if not self.used[s]:
                continue
            kind = self.step_kind[s]
            if kind == STEP_F32:
                (<float *>self.step_ptr[s])[0] = <float>self.new_step[s]
            elif kind == STEP_F64:
                (<double *>self.step_ptr[s])[0] = self.new_step[s]
            else:
                self.fixed_step[s] = 2
        return stepped

    @property
    def n_slots(self):
        return self.k


cdef Py_ssize_t _put_span(fo_span *spans, Py_ssize_t nb, uintptr_t start, Py_ssize_t nbytes,
                          int writable, Py_ssize_t index, int role) noexcept:
    spans[nb].start = start
    spans[nb].end = start + <uintptr_t>nbytes
    spans[nb].writable = writable
    spans[nb].param = <int>index
    spans[nb].role = role
    return nb + 1


def stream_probe(cnp.ndarray p, cnp.ndarray g, list states):
    """Benchmark helper: p += g and s += g for each s in states, on the ISA path in use.

    Moves exactly the bytes of a fused step with len(states) state buffers.
    """
    cdef int code = _dtype_code(p, 0, "param")
    _check_layout(p, 0, "param", True)
    _check_like(p, g, 0, "grad", code, False)
    cdef void *ptrs[3]
    cdef Py_ssize_t j
    if len(states) > 3:
        raise ValueError("fastopt: the probe takes at most 3 state buffers")
    for j in range(len(states)):
        _check_like(p, states[j], 0, "state", code, True)
        ptrs[j] = cnp.PyArray_DATA(<cnp.ndarray>states[j])
    cdef size_t n = <size_t>cnp.PyArray_SIZE(p)
    cdef void *pp = cnp.PyArray_DATA(p)
    cdef const void *gp = cnp.PyArray_DATA(g)
    cdef int ns = <int>len(states)
    with nogil:
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
