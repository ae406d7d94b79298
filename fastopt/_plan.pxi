# ---- the plan: everything one step will do, checked, then one C call ---------------------------
#
# Every front end (fastopt.functional, the NumPy optimizers, fastopt.torch) does a step in
# three phases:
#   1. it reads and converts every Python value: each group's hyper-parameters into a
#      kernel's named scalars (Plan.hyper), each param's step count;
#   2. it adds each param to a Plan (Plan.add for NumPy arrays, Plan.add_raw for memory
#      described by pointers, as fastopt.torch does), which checks the buffers as it records
#      them: dtype, shape, one dense layout shared by param, grad and state, alignment,
#      writeability. This phase runs no Python code of the caller's;
#   3. Plan.run checks that no written buffer overlaps another, then makes one C call
#      (fo_run), which checks the step counters and the sparse indices (on its own copy)
#      before its first write.
# An error in any phase raises naming the param, and nothing has been written.

# span roles besides 0 (param), 1 (grad) and 2 + j (state buffer j)
cdef enum:
    ROLE_INDEX = -1
    ROLE_VALUES = -2
    ROLE_STEP = -3
    ROLE_MASTER = -4

cdef uint64_t _GOLDEN = 0x9E3779B97F4A7C15ULL

#: Steps that update at least this many elements in total release the GIL (about 30 ns).
NOGIL_MIN_ELEMENTS = 32768
cdef Py_ssize_t _nogil_min = NOGIL_MIN_ELEMENTS

_NEEDED_BY = ("by these hyper-parameters", "by a param of this many dimensions")


# ---- the plan ----------------------------------------------------------------------------------

cdef enum:
    # a plan this small needs no memory of its own beyond the object (the common per-call case)
    SMALL_ITEMS = 4
    SMALL_SPANS = 24
    SMALL_HYPER = 32


cdef void *_grow(void *current, void *small, Py_ssize_t used, Py_ssize_t cap,
                 size_t itemsize) except NULL:
    """``current`` (the plan's inline ``small`` array or heap memory holding ``used`` items)
    moved to heap memory for ``cap`` items."""
    cdef void *a
    if current == small:
        a = PyMem_Malloc(cap * itemsize)
        if a != NULL:
            memcpy(a, small, used * itemsize)
    else:
        a = PyMem_Realloc(current, cap * itemsize)
    if a == NULL:
        raise MemoryError()
    return a


@cython.final
@cython.freelist(8)
cdef class Plan:
    """One step over many params: filled by a front end, then run once (see above).

    ``hyper(kernel, values)`` stores a kernel's scalars (a :class:`Scalars`, or a dict keyed
    by its hyper-parameter names) and returns a handle; ``add`` / ``add_raw`` add a param
    with its grad, its state buffers (the kernel's order; a buffer whose flag is off is
    ignored and may be None), a hyper handle and its step number; ``run`` writes. A plan runs
    once.
    """
    cdef fo_item *items
    cdef Py_ssize_t *hyper_of      # per item: its row in self.hyper
    cdef int *index_of             # per item: the param's index, for messages
    cdef Py_ssize_t n, cap
    cdef double *hyper_table
    cdef Py_ssize_t n_hyper, hyper_cap
    cdef fo_span *spans
    cdef Py_ssize_t n_spans, spans_cap
    cdef Py_ssize_t total
    cdef bint done
    cdef bint adding               # an add is under way (or failed: then the plan cannot run)
    cdef list held                 # every object whose memory the plan points into
    cdef list kernels              # per hyper row: its Kernel
    # inline storage for small plans
    cdef fo_item small_items[SMALL_ITEMS]
    cdef Py_ssize_t small_hyper_of[SMALL_ITEMS]
    cdef int small_index_of[SMALL_ITEMS]
    cdef fo_span small_spans[SMALL_SPANS]
    cdef double small_hyper[SMALL_HYPER]

    def __cinit__(self, Py_ssize_t size_hint=4):
        self.held = []
        self.kernels = []
        self.items = self.small_items
        self.hyper_of = self.small_hyper_of
        self.index_of = self.small_index_of
        self.cap = SMALL_ITEMS
        self.spans = self.small_spans
        self.spans_cap = SMALL_SPANS
        self.hyper_table = self.small_hyper
        self.hyper_cap = SMALL_HYPER
        if size_hint > SMALL_ITEMS:
            self._reserve_items(size_hint)
            self._reserve_spans(size_hint * 4)

    def __dealloc__(self):
        if self.items != self.small_items:
            PyMem_Free(self.items)
        if self.hyper_of != self.small_hyper_of:
            PyMem_Free(self.hyper_of)
        if self.index_of != self.small_index_of:
            PyMem_Free(self.index_of)
        if self.hyper_table != self.small_hyper:
            PyMem_Free(self.hyper_table)
        if self.spans != self.small_spans:
            PyMem_Free(self.spans)

    cdef int _reserve_items(self, Py_ssize_t need) except -1:
        if need <= self.cap:
            return 0
        cdef Py_ssize_t cap = max(need, 2 * self.cap)
        self.items = <fo_item *>_grow(self.items, self.small_items, self.n, cap,
                                      sizeof(fo_item))
        self.hyper_of = <Py_ssize_t *>_grow(self.hyper_of, self.small_hyper_of, self.n, cap,
                                            sizeof(Py_ssize_t))
        self.index_of = <int *>_grow(self.index_of, self.small_index_of, self.n, cap,
                                     sizeof(int))
        self.cap = cap
        return 0

    cdef int _reserve_spans(self, Py_ssize_t need) except -1:
        if need <= self.spans_cap:
            return 0
        cdef Py_ssize_t cap = max(need, 2 * self.spans_cap)
        self.spans = <fo_span *>_grow(self.spans, self.small_spans, self.n_spans, cap,
                                      sizeof(fo_span))
        self.spans_cap = cap
        return 0

    cdef int _reserve_hyper(self, Py_ssize_t need) except -1:
        if need <= self.hyper_cap:
            return 0
        cdef Py_ssize_t cap = max(need, 2 * self.hyper_cap)
        self.hyper_table = <double *>_grow(self.hyper_table, self.small_hyper, self.n_hyper,
                                           cap, sizeof(double))
        self.hyper_cap = cap
        return 0

    cdef inline void _span(self, uintptr_t start, Py_ssize_t nbytes, int writable,
                           int role) noexcept:
        # _reserve_spans was called for this item's buffers
        cdef fo_span *s = &self.spans[self.n_spans]
        s.start = start
        s.end = start + <uintptr_t>nbytes
        s.writable = writable
        s.param = <int>self.n    # the item; its param index is index_of[item]
        s.role = role
        self.n_spans += 1

    # ---- phase 1: the scalars ----

    cpdef Py_ssize_t hyper(self, Kernel kernel, values) except -1:
        """Store ``kernel``'s hyper-parameters as doubles; returns a handle. ``values`` is a
        :class:`Scalars` of this kernel, or a dict with exactly the kernel's names (fastopt's
        own translation makes it; a mismatch is a bug, reported as RuntimeError)."""
        cdef Py_ssize_t nh = kernel.n_hyper, row = self.n_hyper
        cdef Scalars sc
        self._reserve_hyper(row + nh)
        if type(values) is Scalars:
            sc = <Scalars>values
            if sc.kernel is not kernel:
                raise RuntimeError(f"fastopt: scalars of kernel {sc.kernel.name!r} given for "
                                   f"kernel {kernel.name!r}")
            memcpy(&self.hyper_table[row], sc.packed, nh * sizeof(double))
        else:
            _pack_hyper(kernel, <dict?>values, &self.hyper_table[row])
        self.n_hyper = row + nh
        self.kernels.append(kernel)
        return row

    # ---- phase 2: the buffers ----

    cdef fo_item *_new_item(self, Kernel kernel, Py_ssize_t index, Py_ssize_t hyper,
                            long long step) except NULL:
        if self.done or self.adding:
            raise RuntimeError("fastopt: this plan has run or an add to it failed; make a "
                               "new one")
        self.adding = True
        if hyper < 0 or hyper + kernel.n_hyper > self.n_hyper:
            raise RuntimeError("fastopt: no such hyper-parameter handle")
        if step < 1 or step > 9007199254740992:
            raise ValueError(f"fastopt: param {index}: step must be a whole number in "
                             f"[1, 2**53], got {step}")
        self._reserve_items(self.n + 1)
        self._reserve_spans(self.n_spans + 4 + kernel.n_state)
        cdef fo_item *it = &self.items[self.n]
        memset(it, 0, sizeof(fo_item))
        it.rows = kernel.rows
        it.kernel = kernel.index
        it.step_kind = FO_STEP_VALUE
        it.step = step
        it.index_type = FO_INDEX_NONE
        self.hyper_of[self.n] = hyper
        self.index_of[self.n] = <int>index
        return it

    cdef inline bint _uses(self, Kernel kernel, Py_ssize_t hyper, int j, int ndim) noexcept:
        """Is state buffer j in use: its flag on (or none) and, for factored state, kept for
        a param of ``ndim`` dimensions?"""
        cdef int gate = kernel.gate_index[j]
        if gate >= 0 and self.hyper_table[hyper + gate] == 0.0:
            return False
        return _kept_for_ndim(kernel.shape_kind[j], ndim)

    cdef Py_ssize_t _shaped_row(self, Kernel kernel, Py_ssize_t hyper, size_t rows,
                                size_t cols) except -1:
        """A copy of hyper row ``hyper`` with the kernel's ``rows`` and ``cols`` filled (a
        kernel with factored state: registry.h); the row itself for other kernels."""
        if kernel.rows_field < 0:
            return hyper
        cdef Py_ssize_t nh = kernel.n_hyper, row = self.n_hyper
        self._reserve_hyper(row + nh)
        memcpy(&self.hyper_table[row], &self.hyper_table[hyper], nh * sizeof(double))
        self.hyper_table[row + kernel.rows_field] = <double>rows
        self.hyper_table[row + kernel.cols_field] = <double>cols
        self.n_hyper = row + nh
        self.kernels.append(kernel)
        return row

    cdef int _factored_param(self, fo_item *it, Kernel kernel, Py_ssize_t index, int nd,
                             const cnp.npy_intp *shape, bint c_order) except -1:
        """For a kernel with factored state: the param's matrix shape into the item, and the
        item's own hyper row with it. A param of two or more dimensions must be C-contiguous
        (its last two dims are the matrices its factors describe)."""
        if kernel.rows_field < 0:
            return 0
        if nd >= 2:
            if not c_order:
                raise ValueError(f"fastopt: param {index}: the {kernel.name} step keeps "
                                 f"factored state for the last two dims of a param, which "
                                 f"must be C-contiguous; this one is another dense layout "
                                 f"(make it with np.ascontiguousarray / .contiguous())")
            it.n_rows = <size_t>shape[nd - 2]
            it.dim = <size_t>shape[nd - 1]
        self.hyper_of[self.n] = self._shaped_row(kernel, self.hyper_of[self.n], it.n_rows,
                                                 it.dim)
        return 0

    cdef int _storage(self, fo_item *it, Kernel kernel, Py_ssize_t index, int code,
                      int first_state, bint master, uint64_t seed) except -1:
        """The item's dtypes from its param's (``code``), its first state buffer's like the
        param (``first_state``, or -1) and whether it has master weights: one of the
        combinations half.h runs, or a TypeError naming the param. Returns the state's
        dtype code."""
        cdef int scode = code
        if master:
            if code != FO_BF16 and code != FO_F16:
                raise TypeError(f"fastopt: param {index}: float32 master weights are for "
                                f"bfloat16 and float16 params; this param is "
                                f"{_DTYPE_NAMES[code]}")
            scode = FO_F32
        elif code == FO_F32 and first_state == FO_BF16:
            scode = FO_BF16   # (stored with stochastic rounding: fo_item_stochastic)
        it.p_dtype = code
        it.dtype = FO_F32 if code >= FO_BF16 else code
        it.state_dtype = scode
        it.seed = seed + _GOLDEN * <uint64_t>(index + 1)
        return scode

    cdef int _first_like_param(self, Kernel kernel, Py_ssize_t hyper, int nd) noexcept:
        """The first array state buffer the step uses (like the param, per row of it, or a
        factor of it; not scalar state): its dtype decides the state's (_storage), or -1."""
        cdef int j
        for j in range(kernel.n_state):
            if not kernel.scalar_state[j] and self._uses(kernel, hyper, j, nd):
                return j
        return -1

    cpdef add(self, Kernel kernel, Py_ssize_t index, object param, object grad, tuple buffers,
              Py_ssize_t hyper, long long step, object master=None, uint64_t seed=0):
        """Add param ``index`` (a NumPy array) with its grad and state buffers.

        For a dense kernel the grad is an array like the param. For a row kernel the param is
        2-D (rows x dim; state buffers marked per-row have one element per row) and the grad
        a :class:`SparseRows` (its rows only) or an array like the param (every row).

        Half precision (src_c/half.h): a bfloat16 or float16 param has a grad (SparseRows
        values) of its dtype and state in its dtype, or, with ``master`` (its float32 master
        weights, an array like the param), float32 state; a float32 param may keep all its
        array state buffers (like the param, per row, or factors) in bfloat16, stored with
        stochastic rounding from ``seed``.
        """
        cdef fo_item *it = self._new_item(kernel, index, hyper, step)
        cdef int code = _param_code(param, index), scode
        cdef cnp.ndarray p = <cnp.ndarray>param, g, s
        cdef Py_ssize_t j, n_rows
        cdef int nd = cnp.PyArray_NDIM(p)
        if len(buffers) != kernel.n_state:
            raise RuntimeError(f"fastopt: kernel {kernel.name!r} has state "
                               f"{kernel.state_names}, got {len(buffers)} buffers")
        j = self._first_like_param(kernel, hyper, nd)
        scode = self._storage(it, kernel, index, code, _dtype_code(buffers[j]) if j >= 0 else -1,
                              master is not None, seed)
        it.n = <size_t>cnp.PyArray_SIZE(p)
        it.p = cnp.PyArray_DATA(p)
        self._span(<uintptr_t>it.p, cnp.PyArray_NBYTES(p), 1, 0)
        if master is not None:
            _check_like_param(p, master, FO_F32, index, "master weights", True)
            if kernel.rows:
                _check_c_order(master, index, "master weights")
            it.master = cnp.PyArray_DATA(<cnp.ndarray>master)
            self._span(<uintptr_t>it.master, cnp.PyArray_NBYTES(<cnp.ndarray>master), 1,
                       ROLE_MASTER)
        if kernel.rows:
            self._add_rows_grad(it, index, p, grad)
        else:
            _check_like_param(p, grad, code, index, "grad", False)
            g = <cnp.ndarray>grad
            it.g = cnp.PyArray_DATA(g)
            self._span(<uintptr_t>it.g, cnp.PyArray_NBYTES(g), 0, 1)
        self._factored_param(it, kernel, index, nd, cnp.PyArray_DIMS(p),
                             cnp.PyArray_IS_C_CONTIGUOUS(p))
        for j in range(kernel.n_state):
            buf = buffers[j]
            if not self._uses(kernel, hyper, j, nd):
                continue
            if buf is None:
                raise ValueError(f"fastopt: param {index}: {kernel.state_what[j]} is needed "
                                 f"{_NEEDED_BY[kernel.shape_kind[j] != SHAPE_LIKE_PARAM]} "
                                 f"but is None")
            if kernel.shape_kind[j] == SHAPE_ROW_FACTOR or kernel.shape_kind[j] == SHAPE_COL_FACTOR:
                _check_factor(buf, scode, index, kernel.state_what[j],
                              kernel.buffer_shape(j, (<object>p).shape), (<object>p).dtype)
                s = <cnp.ndarray>buf
                it.state[j] = cnp.PyArray_DATA(s)
                it.state_n[j] = <size_t>cnp.PyArray_SIZE(s)
                self._span(<uintptr_t>it.state[j], cnp.PyArray_NBYTES(s), 1, 2 + <int>j)
                continue
            if kernel.scalar_state[j]:
                self._add_scalar(it, j, index, kernel.state_what[j], _array_code(
                    buf, index, kernel.state_what[j]), cnp.PyArray_SIZE(<cnp.ndarray>buf),
                    cnp.PyArray_ISWRITEABLE(<cnp.ndarray>buf)
                    and cnp.PyArray_ISALIGNED(<cnp.ndarray>buf),
                    <uintptr_t>cnp.PyArray_DATA(<cnp.ndarray>buf))
                continue
            if kernel.row_state[j]:
                n_rows = cnp.PyArray_DIM(p, 0) if cnp.PyArray_NDIM(p) else 1
                if _array_code(buf, index, kernel.state_what[j]) != scode:
                    raise TypeError(f"fastopt: param {index}: {kernel.state_what[j]} has "
                                    f"dtype {buf.dtype} but the param has dtype "
                                    f"{(<object>p).dtype}{_half_rule(scode, code)}")
                if buf.shape != (n_rows,):
                    raise ValueError(f"fastopt: param {index}: {kernel.state_what[j]} has "
                                     f"shape {buf.shape} but expected {(n_rows,)}, one per "
                                     f"row of the param")
                if not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>buf) or not \
                        cnp.PyArray_ISALIGNED(<cnp.ndarray>buf):
                    raise ValueError(f"fastopt: param {index}: {kernel.state_what[j]} is "
                                     f"read-only or not aligned")
                _check_c_order(buf, index, kernel.state_what[j])
            else:
                _check_like_param(p, buf, scode, index, kernel.state_what[j], True)
                if kernel.rows:
                    _check_c_order(buf, index, kernel.state_what[j])
            s = <cnp.ndarray>buf
            it.state[j] = cnp.PyArray_DATA(s)
            it.state_n[j] = <size_t>cnp.PyArray_SIZE(s)
            self._span(<uintptr_t>it.state[j], cnp.PyArray_NBYTES(s), 1, 2 + <int>j)
        self.held.append((param, grad, buffers))
        self.n += 1
        self.adding = False

    cdef int _add_scalar(self, fo_item *it, Py_ssize_t j, Py_ssize_t index, str what, int code,
                         Py_ssize_t size, bint writable, uintptr_t addr) except -1:
        """Record state buffer ``j`` as scalar state: one float32 or float64 number, whatever
        the param's dtype (its caller has read ``code``, ``size`` and ``writable``)."""
        if code != FO_F32 and code != FO_F64:
            raise TypeError(f"fastopt: param {index}: {what} has dtype {_DTYPE_NAMES[code]}; "
                            f"scalar state is float32 or float64")
        if size != 1:
            raise ValueError(f"fastopt: param {index}: {what} must hold one number (a 0-d "
                             f"array or tensor), got {size} elements")
        if not writable:
            raise ValueError(f"fastopt: param {index}: {what} is read-only or not aligned")
        it.state[j] = <void *>addr
        it.scalars |= 1u << j
        if code == FO_F64:
            it.scalars_f64 |= 1u << j
        self._span(addr, _ITEMSIZE[code], 1, 2 + <int>j)
        return 0

    cdef int _add_rows_grad(self, fo_item *it, Py_ssize_t index, cnp.ndarray p,
                            object grad) except -1:
        cdef SparseRows sr
        cdef cnp.ndarray idx, vals, g
        cdef Py_ssize_t k, n_rows, dim
        if cnp.PyArray_NDIM(p) < 1:
            raise ValueError(f"fastopt: param {index}: a row-wise step needs a param with at "
                             f"least 1 dimension (rows first), got shape ()")
        _check_c_order(p, index, "param")
        n_rows = cnp.PyArray_DIM(p, 0)
        dim = cnp.PyArray_SIZE(p) // n_rows if n_rows else 0
        it.n_rows = <size_t>n_rows
        it.dim = <size_t>dim
        if type(grad) is not SparseRows:
            _check_like_param(p, grad, it.p_dtype, index, "grad", False)
            _check_c_order(grad, index, "grad")
            g = <cnp.ndarray>grad
            it.index_type = FO_INDEX_NONE
            it.k = <size_t>n_rows
            it.g = cnp.PyArray_DATA(g)
            self._span(<uintptr_t>it.g, cnp.PyArray_NBYTES(g), 0, 1)
            self.total += cnp.PyArray_SIZE(p)
            return 0
        sr = <SparseRows>grad
        if cnp.PyArray_NDIM(p) != 2:
            raise ValueError(f"fastopt: param {index}: a SparseRows gradient needs a 2-D "
                             f"param (rows x dim), got shape {(<object>p).shape}")
        it.index_type = _index_type(sr.indices, index)
        idx = <cnp.ndarray>sr.indices
        k = cnp.PyArray_DIM(idx, 0)
        if _array_code(sr.values, index, "SparseRows values") != it.p_dtype:
            raise TypeError(f"fastopt: param {index}: SparseRows values have dtype "
                            f"{sr.values.dtype} but the param has dtype {(<object>p).dtype}")
        vals = <cnp.ndarray>sr.values
        if (cnp.PyArray_NDIM(vals) != 2 or cnp.PyArray_DIM(vals, 0) != k
                or cnp.PyArray_DIM(vals, 1) != dim):
            raise ValueError(f"fastopt: param {index}: SparseRows values have shape "
                             f"{sr.values.shape}; expected {(k, dim)} for {k} indices into "
                             f"a param of shape {(<object>p).shape}")
        if not cnp.PyArray_IS_C_CONTIGUOUS(vals) or not cnp.PyArray_ISALIGNED(vals):
            raise ValueError(f"fastopt: param {index}: SparseRows values are not C-contiguous "
                             f"and aligned")
        it.k = <size_t>k
        it.index = cnp.PyArray_DATA(idx)
        it.g = cnp.PyArray_DATA(vals)
        self._span(<uintptr_t>it.index, cnp.PyArray_NBYTES(idx), 0, ROLE_INDEX)
        self._span(<uintptr_t>it.g, cnp.PyArray_NBYTES(vals), 0, ROLE_VALUES)
        self.held.append((idx, vals))
        self.total += k * dim
        return 0

    def add_raw(self, Kernel kernel, Py_ssize_t index, tuple param, tuple grad, tuple buffers,
                Py_ssize_t hyper, long long step, uintptr_t step_counter=0,
                int counter_kind=FO_STEP_VALUE, tuple master=None, uint64_t seed=0):
        """Add param ``index`` described by records ``(address, dtype code, shape, strides in
        elements)`` for param, grad and each state buffer (None for a buffer whose flag is
        off), as fastopt.torch reads them from tensors; dense kernels only. The caller keeps
        the memory alive until run() returns. ``step_counter`` (with ``counter_kind``
        FO_STEP_F32 / FO_STEP_F64) is the address of a float counter: the step is the counter
        + 1, stored back after the update; otherwise ``step`` is used. ``master`` (a record,
        float32 master weights) and ``seed``: half precision, as in :meth:`add`.
        """
        if kernel.rows:
            raise RuntimeError("fastopt: add_raw takes dense kernels")
        cdef fo_item *it = self._new_item(kernel, index, hyper, 1 if step_counter else step)
        cdef cnp.npy_intp shape[MAX_DIMS]
        cdef cnp.npy_intp pstr[MAX_DIMS]
        cdef cnp.npy_intp bstr[MAX_DIMS]
        cdef int nd, code, d
        cdef Py_ssize_t j, n = 1, itemsize, n_scalar
        cdef str what
        if len(buffers) != kernel.n_state:
            raise RuntimeError(f"fastopt: kernel {kernel.name!r} has state "
                               f"{kernel.state_names}, got {len(buffers)} buffers")
        addr, code, pshape, pstrides = param
        if not 0 <= code < 4:
            raise RuntimeError(f"fastopt: param {index}: bad dtype code {code}")
        itemsize = _ITEMSIZE[code]
        nd = len(pshape)
        if nd > MAX_DIMS or len(pstrides) != nd:
            raise ValueError(f"fastopt: param {index}: at most {MAX_DIMS} dimensions")
        for d in range(nd):
            shape[d] = pshape[d]
            pstr[d] = pstrides[d] * itemsize
            n *= shape[d]
        if not _dense_layout(nd, shape, pstr, itemsize):
            raise ValueError(f"fastopt: param {index}: param is not one dense block of memory "
                             f"(shape {tuple(pshape)}, strides {tuple(pstrides)}); fastopt "
                             f"steps dense tensors of any dimension order in place and never "
                             f"copies")
        j = self._first_like_param(kernel, hyper, nd)
        first = buffers[j][1] if j >= 0 and buffers[j] is not None else -1
        cdef int scode = self._storage(it, kernel, index, code, first, master is not None,
                                       seed)
        it.n = <size_t>n
        it.p = <void *><uintptr_t>addr
        self._span(<uintptr_t>addr, n * itemsize, 1, 0)
        self._factored_param(it, kernel, index, nd, shape, _c_strides(tuple(pshape), pstrides))
        for d in range(nd):
            pstr[d] = pstrides[d]   # (from here on: in elements, as every record's)
        for j in range(-2 if master is not None else -1, kernel.n_state):
            rec = master if j == -2 else grad if j < 0 else buffers[j]
            what = "master weights" if j == -2 else "grad" if j < 0 else kernel.state_what[j]
            if j >= 0 and not self._uses(kernel, hyper, <int>j, nd):
                continue
            if rec is None:
                raise ValueError(f"fastopt: param {index}: {what} is needed "
                                 f"{_NEEDED_BY[j >= 0 and kernel.shape_kind[j] != SHAPE_LIKE_PARAM]}"
                                 f" but is None")
            baddr, bcode, bshape, bstrides = rec
            if j >= 0 and (kernel.shape_kind[j] == SHAPE_ROW_FACTOR
                           or kernel.shape_kind[j] == SHAPE_COL_FACTOR):
                expected = kernel.buffer_shape(j, tuple(pshape))
                if bcode != scode:
                    raise TypeError(f"fastopt: param {index}: {what} has dtype "
                                    f"{_DTYPE_NAMES[bcode] if 0 <= bcode <= 3 else bcode} but "
                                    f"the param has dtype {_DTYPE_NAMES[code]}"
                                    f"{_half_rule(scode, code)}")
                if tuple(bshape) != expected:
                    raise ValueError(f"fastopt: param {index}: {what} has shape "
                                     f"{tuple(bshape)}; a param of shape {tuple(pshape)} "
                                     f"needs {expected}")
                if not _c_strides(expected, bstrides):
                    raise ValueError(f"fastopt: param {index}: {what} is not C-contiguous "
                                     f"(strides {tuple(bstrides)})")
                n_scalar = 1
                for d in range(len(expected)):
                    n_scalar *= expected[d]
                it.state[j] = <void *><uintptr_t>baddr
                it.state_n[j] = <size_t>n_scalar
                self._span(<uintptr_t>baddr, n_scalar * _ITEMSIZE[scode], 1, 2 + <int>j)
                continue
            if j >= 0 and kernel.scalar_state[j]:
                if bcode != FO_F32 and bcode != FO_F64:
                    raise TypeError(f"fastopt: param {index}: {what} has dtype code {bcode}; "
                                    f"scalar state is float32 or float64")
                n_scalar = 1
                for d in range(len(bshape)):
                    n_scalar *= bshape[d]
                self._add_scalar(it, j, index, what, bcode, n_scalar,
                                 baddr % _ITEMSIZE[bcode] == 0, baddr)
                continue
            want = FO_F32 if j == -2 else code if j == -1 else scode
            if bcode != want:
                raise TypeError(f"fastopt: param {index}: {what} has dtype "
                                f"{_DTYPE_NAMES[bcode] if 0 <= bcode <= 3 else bcode} but the "
                                f"param has dtype {_DTYPE_NAMES[code]}"
                                f"{_half_rule(want, code) if j >= 0 else ''}")
            if tuple(bshape) != tuple(pshape) or len(bstrides) != nd:
                raise ValueError(f"fastopt: param {index}: {what} has shape "
                                 f"{tuple(bshape)} but the param has shape {tuple(pshape)}")
            for d in range(nd):
                bstr[d] = bstrides[d]
            if not _same_layout(nd, shape, bstr, nd, shape, pstr):
                raise ValueError(f"fastopt: param {index}: {what} has another memory layout "
                                 f"than the param ({what}: strides {tuple(bstrides)}; param: "
                                 f"strides {tuple(pstrides)}, shape {tuple(pshape)}); an "
                                 f"elementwise step needs one layout for param, grad and "
                                 f"state, and fastopt never copies")
            if j == -2:
                it.master = <void *><uintptr_t>baddr
                self._span(<uintptr_t>baddr, n * 4, 1, ROLE_MASTER)
            elif j < 0:
                it.g = <const void *><uintptr_t>baddr
                self._span(<uintptr_t>baddr, n * itemsize, 0, 1)
            else:
                it.state[j] = <void *><uintptr_t>baddr
                it.state_n[j] = <size_t>n
                self._span(<uintptr_t>baddr, n * _ITEMSIZE[scode], 1, 2 + <int>j)
        if step_counter:
            if counter_kind != FO_STEP_F32 and counter_kind != FO_STEP_F64:
                raise RuntimeError("fastopt: bad step counter kind")
            it.step_kind = counter_kind
            it.step_counter = <void *>step_counter
            self._span(step_counter, 4 if counter_kind == FO_STEP_F32 else 8, 1, ROLE_STEP)
        self.n += 1
        self.adding = False

    cdef int _add_copy(self, Kernel kernel, const fo_item *item, const fo_span *spans,
                       int n_spans, int index, Py_ssize_t hyper, const void *grad,
                       Py_ssize_t grad_bytes, long long step) except -1:
        """Add a copy of an item a plan checked before (fastopt.torch's steady step, see
        ``_steady_step.pxi``), with its written ``spans``, a new grad and (for a step passed
        by value) a new step."""
        if self.done or self.adding:
            raise RuntimeError("fastopt: this plan has run or an add to it failed; make a "
                               "new one")
        if hyper < 0 or hyper + kernel.n_hyper > self.n_hyper or item.kernel != kernel.index:
            raise RuntimeError("fastopt: no such hyper-parameter handle")
        self._reserve_items(self.n + 1)
        self._reserve_spans(self.n_spans + n_spans + 1)
        cdef fo_item *it = &self.items[self.n]
        cdef int j
        it[0] = item[0]
        it.g = grad
        if it.step_kind == FO_STEP_VALUE:
            it.step = step
        self.hyper_of[self.n] = self._shaped_row(kernel, hyper, item.n_rows, item.dim)
        self.index_of[self.n] = index
        for j in range(n_spans):
            self.spans[self.n_spans] = spans[j]
            self.spans[self.n_spans].param = <int>self.n
            self.n_spans += 1
        self._span(<uintptr_t>grad, grad_bytes, 0, 1)
        self.n += 1
        return 0

    # ---- phase 3: the write ----

    cpdef run(self, int n_threads=0):
        """Check every recorded buffer for overlap, then run every item in one C call, the
        dense items on up to ``n_threads`` threads (0: fastopt's setting, see
        ``fastopt.get_num_threads``)."""
        cdef fo_span sa, sb
        cdef fo_status status
        cdef Py_ssize_t i
        cdef int rc
        if self.done or self.adding:
            raise RuntimeError("fastopt: this plan has run or an add to it failed; make a "
                               "new one")
        self.done = True
        if self.n == 0:
            return
        if fo_find_overlap(<size_t>self.n_spans, self.spans, &sa, &sb):
            raise ValueError(
                f"fastopt: param {self.index_of[sa.param]}'s {self._role(sa)} and param "
                f"{self.index_of[sb.param]}'s {self._role(sb)} overlap in memory; fastopt "
                f"needs separate buffers")
        for i in range(self.n):
            self.items[i].hyper = &self.hyper_table[self.hyper_of[i]]
            if not self.items[i].rows:
                self.total += <Py_ssize_t>self.items[i].n
        cdef int threads = _threads_for(n_threads)
        if self.total >= _nogil_min:
            with nogil:
                rc = fo_run(<size_t>self.n, self.items, threads, &status)
        else:
            rc = fo_run(<size_t>self.n, self.items, threads, &status)   # (tests split small)
        if rc == FO_OK:
            return
        i = self.index_of[status.item]
        if rc == FO_ERR_INDEX:
            raise IndexError(f"fastopt: param {i}: SparseRows index {status.value} (at "
                             f"position {status.position}) is out of range for a param with "
                             f"{self.items[status.item].n_rows} rows; nothing was written")
        if rc == FO_ERR_STEP:
            raise ValueError(f"fastopt: param {i}: state 'step' must hold a whole number >= 0 "
                             f"(and below 2**53); nothing was written")
        raise MemoryError("fastopt: no memory for the row-sparse workspace; nothing was "
                          "written")

    cdef str _role(self, fo_span s):
        if s.role == 0:
            return "param"
        if s.role == 1:
            return "grad"
        if s.role == ROLE_INDEX:
            return "SparseRows indices"
        if s.role == ROLE_VALUES:
            return "SparseRows values"
        if s.role == ROLE_STEP:
            return "state 'step'"
        if s.role == ROLE_MASTER:
            return "master weights"
        cdef Kernel k = self.kernels[self._hyper_row_index(self.hyper_of[s.param])]
        return k.state_what[s.role - 2]

    cdef Py_ssize_t _hyper_row_index(self, Py_ssize_t offset):
        cdef Py_ssize_t r = 0, at = 0
        for r in range(len(self.kernels)):
            if at == offset:
                return r
            at += (<Kernel>self.kernels[r]).n_hyper
        return 0

    @property
    def size(self):
        """The number of params added."""
        return self.n


cdef bint _c_strides(tuple shape, strides):
    """Are ``strides`` (in elements) C-contiguous for ``shape`` (a dim of one element may have
    any stride, as torch's is_contiguous allows)?"""
    cdef Py_ssize_t expect = 1, d
    if len(strides) != len(shape):
        return False
    if 0 in shape:
        return True   # no elements: any strides (torch gives an empty tensor max(size, 1)'s)
    for d in range(len(shape) - 1, -1, -1):
        if shape[d] != 1 and strides[d] != expect:
            return False
        expect *= shape[d]
    return True


cdef int _check_factor(object buf, int code, Py_ssize_t index, str what, tuple expected,
                       object dtype) except -1:
    """A factored state buffer (registry.h): the param's dtype, the factor's shape,
    C-contiguous, aligned and writeable."""
    if _array_code(buf, index, what) != code:
        raise TypeError(f"fastopt: param {index}: {what} has dtype {buf.dtype} but the param "
                        f"has dtype {dtype}")
    if buf.shape != expected:
        raise ValueError(f"fastopt: param {index}: {what} has shape {buf.shape}; this param "
                         f"needs {expected}")
    cdef cnp.ndarray a = <cnp.ndarray>buf
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError(f"fastopt: param {index}: {what} is not C-contiguous")
    if not cnp.PyArray_ISALIGNED(a) or not cnp.PyArray_ISWRITEABLE(a):
        raise ValueError(f"fastopt: param {index}: {what} is read-only or not aligned")
    return 0


def check_params(list params):
    """Check params as a step will (dtype, layout, alignment, writeability, no two sharing
    memory), for optimizers to refuse bad params at construction; errors name the param by
    its position in ``params``."""
    cdef Py_ssize_t i, k = len(params)
    cdef fo_span *spans = <fo_span *>PyMem_Malloc((k + 1) * sizeof(fo_span))
    cdef fo_span sa, sb
    cdef cnp.ndarray p
    if spans == NULL:
        raise MemoryError()
    try:
        for i in range(k):
            _param_code(params[i], i)
            p = <cnp.ndarray>params[i]
            spans[i].start = <uintptr_t>cnp.PyArray_DATA(p)
            spans[i].end = spans[i].start + <uintptr_t>cnp.PyArray_NBYTES(p)
            spans[i].writable = 1
            spans[i].param = <int>i
            spans[i].role = 0
        if fo_find_overlap(<size_t>k, spans, &sa, &sb):
            raise ValueError(f"fastopt: params {min(sa.param, sb.param)} and "
                             f"{max(sa.param, sb.param)} share memory (the same array twice, "
                             f"or overlapping views)")
    finally:
        PyMem_Free(spans)
