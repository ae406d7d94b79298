# ---- the checks: what an array or a pointer record must be to be stepped ---------------
#
# One set of checks for every front end: NumPy arrays (Plan.add) and pointer records
# (Plan.add_raw, fastopt.torch) go through the same layout rules.

cdef Py_ssize_t _ITEMSIZE[4]
_ITEMSIZE[0] = 4    # FO_F32
_ITEMSIZE[1] = 8    # FO_F64
_ITEMSIZE[2] = 2    # FO_BF16
_ITEMSIZE[3] = 2    # FO_F16
cdef enum:
    MAX_DIMS = 64

_DTYPE_NAMES = ("float32", "float64", "bfloat16", "float16")
cdef int _bf16_type = -1    # NumPy's type number of ml_dtypes.bfloat16, once one is seen

cdef int _dtype_code(object a) noexcept:
    """FO_F32 / FO_F64 / FO_BF16 / FO_F16 for an ndarray of float32 / float64 / bfloat16
    (ml_dtypes) / float16, else -1."""
    global _bf16_type
    if not cnp.PyArray_Check(a):
        return -1
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>a)
    if t == cnp.NPY_FLOAT32:
        return FO_F32
    if t == cnp.NPY_FLOAT64:
        return FO_F64
    if t == cnp.NPY_FLOAT16:
        return FO_F16
    if t == _bf16_type:
        return FO_BF16
    if _bf16_type < 0 and cnp.PyArray_ITEMSIZE(<cnp.ndarray>a) == 2:
        try:
            if (<object>a).dtype.name == "bfloat16":
                _bf16_type = t
                return FO_BF16
        except Exception:
            pass
    return -1

cdef int _array_code(object a, Py_ssize_t i, str what) except -1:
    """_dtype_code(a) for a native array; TypeError otherwise."""
    if not cnp.PyArray_Check(a):
        raise TypeError(f"fastopt: param {i}: {what} must be a numpy.ndarray, "
                        f"got {type(a).__name__}")
    cdef int code = _dtype_code(a)
    if code < 0:
        raise TypeError(f"fastopt: param {i}: {what} has dtype {a.dtype}; fastopt steps "
                        f"float32, float64, float16 and bfloat16 (ml_dtypes) arrays")
    if not cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>a):
        raise TypeError(f"fastopt: param {i}: {what} has non-native byte order ({a.dtype})")
    return code

cdef bint _dense_layout(int ndim, const cnp.npy_intp *shape, const cnp.npy_intp *strides,
                        Py_ssize_t itemsize) noexcept:
    """Do the elements tile one block of memory, no gaps, no overlaps, strides positive?

    C order, Fortran order, channels_last or any other order of the dimensions: an
    elementwise step then runs over the block in memory order.
    """
    cdef int order[MAX_DIMS]
    cdef int m = 0, d, j, t
    for d in range(ndim):
        if shape[d] == 0:
            return True
        if shape[d] != 1:
            # insertion sort of the dimensions that matter, by stride
            j = m
            while j > 0 and strides[order[j - 1]] > strides[d]:
                order[j] = order[j - 1]
                j -= 1
            order[j] = d
            m += 1
    cdef Py_ssize_t expected = itemsize
    for j in range(m):
        t = order[j]
        if strides[t] != expected:
            return False
        expected *= shape[t]
    return True

cdef bint _same_layout(int nd_a, const cnp.npy_intp *shape_a, const cnp.npy_intp *strides_a,
                       int nd_b, const cnp.npy_intp *shape_b, const cnp.npy_intp *strides_b,
                       Py_ssize_t itemsize_a=1, Py_ssize_t itemsize_b=1) noexcept:
    """Same shape, and the same strides (in elements of each side's itemsize) wherever a
    dimension has more than one element."""
    cdef int d
    cdef bint empty = False
    if nd_a != nd_b:
        return False
    for d in range(nd_a):
        if shape_a[d] != shape_b[d]:
            return False
        empty = empty or shape_a[d] == 0
    if empty:
        return True
    for d in range(nd_a):
        if shape_a[d] > 1 and strides_a[d] * itemsize_b != strides_b[d] * itemsize_a:
            return False
    return True

cdef str _layout_hint(object shape, object strides):
    return f"shape {tuple(shape)}, strides {tuple(strides)} bytes"

cdef int _param_code(object param, Py_ssize_t i) except -1:
    """The dtype code of a param array fastopt can step in place; raises otherwise."""
    cdef int code = _array_code(param, i, "param")
    cdef cnp.ndarray p = <cnp.ndarray>param
    if not cnp.PyArray_IS_C_CONTIGUOUS(p) and not _dense_layout(
            cnp.PyArray_NDIM(p), cnp.PyArray_DIMS(p), cnp.PyArray_STRIDES(p), _ITEMSIZE[code]):
        raise ValueError(f"fastopt: param {i}: param is not one dense block of memory "
                         f"({_layout_hint(param.shape, param.strides)}); fastopt steps C-, "
                         f"Fortran- or any-order dense arrays in place and never copies")
    if not cnp.PyArray_ISALIGNED(p):
        raise ValueError(f"fastopt: param {i}: param is not aligned to its dtype")
    if not cnp.PyArray_ISWRITEABLE(p):
        raise ValueError(f"fastopt: param {i}: param is read-only")
    return code

cdef int _check_like_param(cnp.ndarray p, object a, int code, Py_ssize_t i, str what,
                           bint written) except -1:
    """a must be an array of p's dtype, shape and memory layout (``what`` names it)."""
    cdef int c = _array_code(a, i, what)
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if c != code:
        raise TypeError(f"fastopt: param {i}: {what} has dtype {arr.dtype} but the param has "
                        f"dtype {(<object>p).dtype}"
                        f"{'' if what == 'grad' else _half_rule(code, _param_code_of(p))}")
    cdef int nd = cnp.PyArray_NDIM(p)
    cdef int d
    if cnp.PyArray_NDIM(arr) != nd:
        raise ValueError(f"fastopt: param {i}: {what} has shape {(<object>a).shape} but the param has "
                         f"shape {(<object>p).shape}")
    for d in range(nd):
        if cnp.PyArray_DIM(arr, d) != cnp.PyArray_DIM(p, d):
            raise ValueError(f"fastopt: param {i}: {what} has shape {(<object>a).shape} but the param "
                             f"has shape {(<object>p).shape}")
    if not (cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_IS_C_CONTIGUOUS(p)) and \
            not _same_layout(nd, cnp.PyArray_DIMS(arr), cnp.PyArray_STRIDES(arr),
                             nd, cnp.PyArray_DIMS(p), cnp.PyArray_STRIDES(p),
                             cnp.PyArray_ITEMSIZE(arr), cnp.PyArray_ITEMSIZE(p)):
        raise ValueError(f"fastopt: param {i}: {what} has another memory layout than the "
                         f"param ({what}: {_layout_hint(a.shape, a.strides)}; param: "
                         f"{_layout_hint((<object>p).shape, (<object>p).strides)}); an elementwise step needs "
                         f"one layout for param, grad and state, and fastopt never copies")
    if not cnp.PyArray_ISALIGNED(arr):
        raise ValueError(f"fastopt: param {i}: {what} is not aligned to its dtype")
    if written and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"fastopt: param {i}: {what} is read-only")
    return 0

cdef int _param_code_of(cnp.ndarray p) except -1:
    return _array_code(p, 0, "param")


cdef str _half_rule(int expected, int pcode):
    """The dtype rule of a param's state, for a message ('' for plain float32/float64)."""
    if pcode == FO_F32 and expected == FO_BF16:
        return "; bfloat16 state (state_dtype) is bfloat16 for all of a param's buffers"
    if pcode == FO_F32 and expected == FO_F32:
        return ("; state is float32 like the param, or bfloat16 for all of its buffers "
                "(state_dtype)")
    if pcode >= FO_BF16 or expected == FO_BF16:
        return (f"; a {_DTYPE_NAMES[pcode]} param keeps its state in {_DTYPE_NAMES[pcode]} "
                f"(as torch), or in float32 with float32 master weights (master_weights)")
    return ""


cdef int _check_c_order(object a, Py_ssize_t i, str what) except -1:
    if not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a):
        raise ValueError(f"fastopt: param {i}: {what} is not C-contiguous "
                         f"({_layout_hint(a.shape, a.strides)}); a row-wise step reads "
                         f"whole rows (and per-row state) in place")
    return 0

cdef int _index_type(object a, Py_ssize_t i) except -1:
    """FO_INDEX_I32 / FO_INDEX_I64 for a SparseRows index array; raises otherwise."""
    if not cnp.PyArray_Check(a):
        raise TypeError(f"fastopt: param {i}: SparseRows indices must be a numpy.ndarray, "
                        f"got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int size = cnp.PyArray_ITEMSIZE(arr)
    if not cnp.PyArray_ISINTEGER(arr) or not cnp.PyArray_ISSIGNED(arr) or (
            size != 4 and size != 8):
        raise TypeError(f"fastopt: param {i}: SparseRows indices have dtype {arr.dtype}; "
                        f"expected int32 or int64")
    if not cnp.PyArray_ISNOTSWAPPED(arr):
        raise TypeError(f"fastopt: param {i}: SparseRows indices have non-native byte order "
                        f"({arr.dtype})")
    if cnp.PyArray_NDIM(arr) != 1:
        raise ValueError(f"fastopt: param {i}: SparseRows indices must be 1-D, got shape "
                         f"{(<object>a).shape}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr) or not cnp.PyArray_ISALIGNED(arr):
        raise ValueError(f"fastopt: param {i}: SparseRows indices are not contiguous and "
                         f"aligned")
    if cnp.PyArray_DIM(arr, 0) > 0x7fffffff:
        raise ValueError(f"fastopt: param {i}: SparseRows with {cnp.PyArray_DIM(arr, 0)} "
                         f"rows; at most 2**31 - 1")
    return FO_INDEX_I32 if size == 4 else FO_INDEX_I64



def is_dense(tuple shape, tuple strides):
    """Do elements of this shape and these strides (in elements) tile one block of memory
    (any order of the dimensions, strides positive)? The rule Plan.add_raw applies."""
    cdef cnp.npy_intp sh[MAX_DIMS]
    cdef cnp.npy_intp st[MAX_DIMS]
    cdef int d, nd = len(shape)
    if nd > MAX_DIMS or len(strides) != nd:
        return False
    for d in range(nd):
        sh[d] = shape[d]
        st[d] = strides[d]
    return _dense_layout(nd, sh, st, 1)


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
