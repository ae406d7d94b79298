# ---- the plan: everything one step will do, checked, then one C call ---------------------------
#
# Every front end (fastopt.functional, the NumPy optimizers, fastopt.torch) does a step in
# three phases:
#   1. it reads and converts every Python value: each group's hyper-parameters into a
#      kernel's named scalars (Plan.hyper), each param's step count;
#   2. it adds each param to a Plan (Plan.add for NumPy arrays, _plan_arrays.pxi; Plan.add_raw
#      for memory described by pointers, as fastopt.torch does, _plan_records.pxi), which checks the buffers as it records
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
        _add_arrays(self, kernel, index, param, grad, buffers, hyper, step, master, seed)

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
        _add_records(self, kernel, index, param, grad, buffers, hyper, step, step_counter,
                     counter_kind, master, seed)

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
