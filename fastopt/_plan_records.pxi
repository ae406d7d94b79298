# ---- the plan's items from pointer records (Plan.add_raw): fastopt.torch's tensors ---------
#
# A record is (address, dtype code, shape, strides in elements), as fastopt/torch/_tensors.py
# reads it from a tensor; the same layout rules as the arrays' (_checks.pxi) apply, and nothing
# is written until Plan.run.


cdef int _add_records(Plan plan, Kernel kernel, Py_ssize_t index, tuple param, tuple grad,
                      tuple buffers, Py_ssize_t hyper, long long step, uintptr_t step_counter,
                      int counter_kind, tuple master, uint64_t seed) except -1:
    """Plan.add_raw's work (see its docstring)."""
    if kernel.rows:
        raise RuntimeError("fastopt: add_raw takes dense kernels")
    cdef fo_item *it = plan._new_item(kernel, index, hyper, 1 if step_counter else step)
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
    j = plan._first_like_param(kernel, hyper, nd)
    first = buffers[j][1] if j >= 0 and buffers[j] is not None else -1
    cdef int scode = plan._storage(it, kernel, index, code, first, master is not None,
                                   seed)
    it.n = <size_t>n
    it.p = <void *><uintptr_t>addr
    plan._span(<uintptr_t>addr, n * itemsize, 1, 0)
    plan._factored_param(it, kernel, index, nd, shape, _c_strides(tuple(pshape), pstrides))
    for d in range(nd):
        pstr[d] = pstrides[d]   # (from here on: in elements, as every record's)
    for j in range(-2 if master is not None else -1, kernel.n_state):
        rec = master if j == -2 else grad if j < 0 else buffers[j]
        what = "master weights" if j == -2 else "grad" if j < 0 else kernel.state_what[j]
        if j >= 0 and not plan._uses(kernel, hyper, <int>j, nd):
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
            plan._span(<uintptr_t>baddr, n_scalar * _ITEMSIZE[scode], 1, 2 + <int>j)
            continue
        if j >= 0 and kernel.scalar_state[j]:
            if bcode != FO_F32 and bcode != FO_F64:
                raise TypeError(f"fastopt: param {index}: {what} has dtype code {bcode}; "
                                f"scalar state is float32 or float64")
            n_scalar = 1
            for d in range(len(bshape)):
                n_scalar *= bshape[d]
            plan._add_scalar(it, j, index, what, bcode, n_scalar,
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
            plan._span(<uintptr_t>baddr, n * 4, 1, ROLE_MASTER)
        elif j < 0:
            it.g = <const void *><uintptr_t>baddr
            plan._span(<uintptr_t>baddr, n * itemsize, 0, 1)
        else:
            it.state[j] = <void *><uintptr_t>baddr
            it.state_n[j] = <size_t>n
            plan._span(<uintptr_t>baddr, n * _ITEMSIZE[scode], 1, 2 + <int>j)
    if step_counter:
        if counter_kind != FO_STEP_F32 and counter_kind != FO_STEP_F64:
            raise RuntimeError("fastopt: bad step counter kind")
        it.step_kind = counter_kind
        it.step_counter = <void *>step_counter
        plan._span(step_counter, 4 if counter_kind == FO_STEP_F32 else 8, 1, ROLE_STEP)
    plan.n += 1
    plan.adding = False
    return 0


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
