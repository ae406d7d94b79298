# ---- the plan's items from NumPy arrays (Plan.add): the NumPy objects and functional steps ----
#
# Reads each array's dtype, shape, strides and flags through NumPy's C API, checks them by the
# rules of _checks.pxi and fills one fo_item; nothing is written until Plan.run.


cdef int _add_arrays(Plan plan, Kernel kernel, Py_ssize_t index, object param, object grad,
                     tuple buffers, Py_ssize_t hyper, long long step, object master,
                     uint64_t seed) except -1:
    """Plan.add's work (see its docstring)."""
    cdef fo_item *it = plan._new_item(kernel, index, hyper, step)
    cdef int code = _param_code(param, index), scode
    cdef cnp.ndarray p = <cnp.ndarray>param, g, s
    cdef Py_ssize_t j, n_rows
    cdef int nd = cnp.PyArray_NDIM(p)
    if len(buffers) != kernel.n_state:
        raise RuntimeError(f"fastopt: kernel {kernel.name!r} has state "
                           f"{kernel.state_names}, got {len(buffers)} buffers")
    j = plan._first_like_param(kernel, hyper, nd)
    scode = plan._storage(it, kernel, index, code, _dtype_code(buffers[j]) if j >= 0 else -1,
                          master is not None, seed)
    it.n = <size_t>cnp.PyArray_SIZE(p)
    it.p = cnp.PyArray_DATA(p)
    plan._span(<uintptr_t>it.p, cnp.PyArray_NBYTES(p), 1, 0)
    if master is not None:
        _check_like_param(p, master, FO_F32, index, "master weights", True)
        if kernel.rows:
            _check_c_order(master, index, "master weights")
        it.master = cnp.PyArray_DATA(<cnp.ndarray>master)
        plan._span(<uintptr_t>it.master, cnp.PyArray_NBYTES(<cnp.ndarray>master), 1,
                   ROLE_MASTER)
    if kernel.rows:
        _add_rows_grad(plan, it, index, p, grad)
    else:
        _check_like_param(p, grad, code, index, "grad", False)
        g = <cnp.ndarray>grad
        it.g = cnp.PyArray_DATA(g)
        plan._span(<uintptr_t>it.g, cnp.PyArray_NBYTES(g), 0, 1)
    plan._factored_param(it, kernel, index, nd, cnp.PyArray_DIMS(p),
                         cnp.PyArray_IS_C_CONTIGUOUS(p))
    for j in range(kernel.n_state):
        buf = buffers[j]
        if not plan._uses(kernel, hyper, j, nd):
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
            plan._span(<uintptr_t>it.state[j], cnp.PyArray_NBYTES(s), 1, 2 + <int>j)
            continue
        if kernel.scalar_state[j]:
            plan._add_scalar(it, j, index, kernel.state_what[j], _array_code(
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
        plan._span(<uintptr_t>it.state[j], cnp.PyArray_NBYTES(s), 1, 2 + <int>j)
    plan.held.append((param, grad, buffers))
    plan.n += 1
    plan.adding = False
    return 0


cdef int _add_rows_grad(Plan plan, fo_item *it, Py_ssize_t index, cnp.ndarray p,
                        object grad) except -1:
    """A row kernel's grad: a SparseRows (its rows only) or an array like the param."""
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
        plan._span(<uintptr_t>it.g, cnp.PyArray_NBYTES(g), 0, 1)
        plan.total += cnp.PyArray_SIZE(p)
        return 0
    sr = <SparseRows>grad
    if cnp.PyArray_NDIM(p) != 2:
        raise ValueError(f"fastopt: param {index}: a SparseRows gradient needs a 2-D "
                         f"param (rows x dim), got shape {(<object>p).shape}")
    it.index_type = _index_type(sr.indices, index)
    idx = <cnp.ndarray>sr.indices
    k = cnp.PyArray_DIM(idx, 0)
    if k > 0xFFFFFFFE:   # (the fold's slots and positions are 32-bit, src_c/threads.c)
        raise ValueError(f"fastopt: param {index}: a SparseRows gradient takes at most "
                         f"2**32 - 2 indices, got {k}; split the batch")
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
    plan._span(<uintptr_t>it.index, cnp.PyArray_NBYTES(idx), 0, ROLE_INDEX)
    plan._span(<uintptr_t>it.g, cnp.PyArray_NBYTES(vals), 0, ROLE_VALUES)
    plan.held.append((idx, vals))
    plan.total += k * dim
    return 0


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
