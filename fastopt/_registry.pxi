# ---- the registry: src_c/kernels/registry.h, as Python reads it --------------------------------

# a state buffer's shape (Kernel.shape_kind; registry.h: "Factored state")
cdef enum:
    SHAPE_LIKE_PARAM = 0   # like the param (or, for "x:row" / "x:scalar", as those say)
    SHAPE_ROW_FACTOR = 1   # "x:row_factor": the param's shape, last dim 1 (2-D and up only)
    SHAPE_COL_FACTOR = 2   # "x:col_factor": second-to-last dim 1 (2-D and up only)
    SHAPE_VECTOR = 3       # "x:vector": like the param, 0-D and 1-D params only

cdef inline bint _kept_for_ndim(int kind, int ndim) noexcept:
    """Is a buffer of this shape kind kept for a param of ``ndim`` dimensions?"""
    if kind == SHAPE_ROW_FACTOR or kind == SHAPE_COL_FACTOR:
        return ndim >= 2
    if kind == SHAPE_VECTOR:
        return ndim < 2
    return True

cdef dict _SHAPE_KINDS = {"row_factor": SHAPE_ROW_FACTOR, "col_factor": SHAPE_COL_FACTOR,
                          "vector": SHAPE_VECTOR}

cdef class Kernel:
    """A kernel of ``src_c/kernels/registry.h``: its state buffers and hyper-parameter names.

    ``hyper_names`` are the fields of the kernel's C struct, in its order; a :class:`Plan`
    fills that struct from a dict keyed by these names, so no Python code knows a position.
    ``gates[j]`` is the name of the flag that switches state buffer j on (None: always on);
    ``per_row[j]`` says buffer j holds one element per row (row kernels); ``scalar[j]`` that
    it is one number per param (a 0-d float32 or float64 array or tensor, whatever the param's
    dtype), which the C plan moves on after the step (dense kernels: NAdam's mu_product).
    ``factored[j]`` names buffer j's factored-state kind ("row_factor", "col_factor",
    "vector", or None): which params it is for and its shape (:meth:`buffer_shape`); such a
    kernel's hyper-parameters ``rows`` and ``cols`` are filled by the plan, per param.
    """

    def __init__(self, bint rows, int index):
        cdef const fo_kernel_info *info = fo_kernel(rows, index)
        if info == NULL:
            raise KeyError(f"fastopt: no {'row ' if rows else ''}kernel {index}")
        self.rows = rows
        self.index = index
        self.elementwise = not rows and not fo_dense_whole(index)
        self.name = info.name.decode()
        self.hyper_names = tuple(x.strip() for x in info.hyper_names.decode().split(","))
        self.n_hyper = info.n_hyper
        if len(self.hyper_names) != self.n_hyper:
            raise RuntimeError(f"fastopt: registry line of {self.name!r} is inconsistent")
        names, gates, per_row, scalar, factored = [], [], [], [], []
        text = info.state_names.decode()
        for item in (text.split(",") if text else ()):
            name, _, gate = item.strip().partition("?")
            name, colon, kind = name.partition(":")
            if colon and kind not in ("row", "scalar") and kind not in _SHAPE_KINDS:
                raise RuntimeError(f"fastopt: registry line of {info.name.decode()!r}: unknown "
                                   f"buffer kind {kind!r}")
            names.append(name)
            gates.append(gate or None)
            per_row.append(colon != "" and kind == "row")
            scalar.append(colon != "" and kind == "scalar")
            factored.append(kind if colon and kind in _SHAPE_KINDS else None)
        if len(names) > FO_MAX_STATE:
            raise RuntimeError(f"fastopt: kernel {self.name!r} has more than {FO_MAX_STATE} "
                               f"state buffers")
        self.state_names = tuple(names)
        self.gates = tuple(gates)
        self.per_row = tuple(per_row)
        self.scalar = tuple(scalar)
        self.factored = tuple(factored)
        self.rows_field = self.cols_field = -1
        if any(factored):
            if self.hyper_names[self.n_hyper - 2:] != ("rows", "cols"):
                raise RuntimeError(f"fastopt: registry line of {self.name!r}: factored state "
                                   f"needs the hyper-parameters rows, cols last")
            self.rows_field, self.cols_field = self.n_hyper - 2, self.n_hyper - 1
        self.n_given = self.n_hyper - (2 if self.rows_field >= 0 else 0)
        self.state_what = tuple(f"state {k!r}" for k in names)
        self.n_state = len(names)
        cdef int j
        for j in range(self.n_state):
            self.gate_index[j] = -1 if gates[j] is None else self.hyper_names.index(gates[j])
            self.row_state[j] = per_row[j]
            self.scalar_state[j] = scalar[j]
            self.shape_kind[j] = _SHAPE_KINDS.get(factored[j], SHAPE_LIKE_PARAM)

    cpdef bint for_ndim(self, int j, int ndim) except -1:
        """Is state buffer j kept for a param of ``ndim`` dimensions (factored state)?"""
        if j < 0 or j >= self.n_state:
            raise IndexError(f"fastopt: kernel {self.name!r} has {self.n_state} state buffers")
        return _kept_for_ndim(self.shape_kind[j], ndim)

    def buffer_shape(self, int j, tuple shape):
        """State buffer j's shape for a param of ``shape`` (None where it is not kept)."""
        if not self.for_ndim(j, len(shape)):
            return None
        cdef int kind = self.shape_kind[j]
        cdef Py_ssize_t nd = len(shape)
        if kind == SHAPE_ROW_FACTOR:
            return shape[:nd - 1] + (1,)
        if kind == SHAPE_COL_FACTOR:
            return shape[:nd - 2] + (1, shape[nd - 1])
        return shape

    def optional(self):
        """The names of the buffers a flag switches on (needed only when it is set)."""
        return tuple(n for n, g in zip(self.state_names, self.gates) if g is not None)

    def __repr__(self):
        return (f"<fastopt kernel {self.name!r}: state {self.state_names}, hyper-parameters "
                f"{self.hyper_names}>")


cdef dict _KERNELS = {}


cdef _load_registry():
    cdef int rows, i
    for rows in range(2):
        i = 0
        while fo_kernel(rows, i) != NULL:
            k = Kernel(rows, i)
            _KERNELS[(bool(rows), k.name)] = k
            i += 1


_load_registry()


def kernel(str name):
    """The dense kernel registered as ``name``."""
    try:
        return _KERNELS[(False, name)]
    except KeyError:
        raise KeyError(f"fastopt: no kernel named {name!r}") from None


def row_kernel(str name):
    """The row kernel registered as ``name`` (row-sparse gradients of 2-D params)."""
    try:
        return _KERNELS[(True, name)]
    except KeyError:
        raise KeyError(f"fastopt: no row kernel named {name!r}") from None


def kernels():
    """Every registered kernel, dense ones first."""
    return tuple(_KERNELS.values())
