"""Half-precision storage in NumPy: any reference step run in float32, then rounded.

The kernels' twin (src_c/half.h): a bfloat16 (``ml_dtypes.bfloat16``) or float16 param,
its grad and its state are read as float32, the float32 reference step runs, and each array
is rounded back once, to nearest even (NumPy's and ml_dtypes' ``astype``); float32 master
weights are the step's param, rounded to the half param after it; bfloat16 state of a
float32 param is rounded stochastically (:func:`round_bf16_stochastic`).
"""
import numpy as np

__all__ = ["half_step", "round_bf16_stochastic"]

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix64(z):
    """splitmix64's finalizer, on a Python int."""
    z &= _M64
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & _M64
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _mix32(x):
    """murmur3's finalizer, on a uint32 array (wrapping)."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x85EBCA6B)
    x = x ^ (x >> np.uint32(13))
    x = x * np.uint32(0xC2B2AE35)
    return x ^ (x >> np.uint32(16))


def round_bf16_stochastic(x, *, seed, index, step, j):
    """float32 array ``x`` (a state buffer's new values, C order) stochastically rounded to
    bfloat16 bits (a uint16 array), exactly as the kernels round:

        k   = mix64(seed + GOLDEN * (index + 1))     index: the param's position in the step
        key = low32(mix64(k ^ (step * 4 + j // 2) ^ ((i >> 32) << 56)))   j: the state
                                                     buffer's position (registry order)
        h   = mix32(low32(i) ^ key)                  i: the element's index; one hash for
        r   = h >> 16 if j is even else h & 0xffff      buffers 0 and 1, one for 2 and 3
        out = (bits(x) + r) >> 16                    a NaN: (bits(x) >> 16) | 0x40
    """
    u = np.ascontiguousarray(x, np.float32).reshape(-1).view(np.uint32)
    k = _mix64(seed + _GOLDEN * (index + 1))
    out = np.empty(u.size, np.uint16)
    block = 1 << 32
    for start in range(0, u.size, block):
        part = u[start:start + block]
        key = np.uint32(_mix64(k ^ ((step * 4 + j // 2) & _M64) ^ ((start >> 32) << 56))
                        & 0xFFFFFFFF)
        i = np.arange(part.size, dtype=np.uint32)
        h = _mix32(i ^ key)
        r = h >> np.uint32(16) if j % 2 == 0 else h & np.uint32(0xFFFF)
        rounded = ((part + r) >> np.uint32(16)).astype(np.uint16)
        nan = (part & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
        out[start:start + part.size] = np.where(
            nan, ((part >> np.uint32(16)) | np.uint32(0x40)).astype(np.uint16), rounded)
    return out.reshape(np.shape(x))


def _half(dtype):
    return dtype.itemsize == 2 and dtype.name in ("bfloat16", "float16")


def _sparse(g):
    return isinstance(getattr(g, "values", None), np.ndarray) and hasattr(g, "indices")


def _grad32(g):
    """A grad read as float32: an array, or a row-sparse gradient (``fastopt.SparseRows``:
    its values)."""
    if _sparse(g):
        return type(g)(g.indices, g.values.astype(np.float32)) if _half(g.values.dtype) else g
    return g.astype(np.float32) if _half(g.dtype) else g


def half_step(step_fn, params, grads, *state_lists, steps, masters=None, seed=0, **hyper):
    """One step of reference ``step_fn`` (e.g. :func:`fastopt.reference.adam`, or a row
    step of :mod:`fastopt.reference.sparse` with ``fastopt.SparseRows`` grads) on params,
    grads and state stored in half precision, in place, as fastopt runs it.

    ``state_lists`` are ``step_fn``'s state lists in its order (the kernel's order; None
    for a buffer a flag leaves off). A buffer that is float32 or float64 (scalar state, or
    the float32 state of master weights) is stepped in place; a half one is read as
    float32 and rounded back: to nearest even, or, for bfloat16 state of a float32 param,
    stochastically from ``seed`` (a row-sparse grad's: on its touched rows only, as the row
    kernels write them). ``masters``: a list of float32 master weights (or None
    per param), which the step updates in place and rounds to the params.
    """
    k = len(params)
    masters = masters if masters is not None else [None] * k
    p32 = [m if m is not None else p.astype(np.float32) if _half(p.dtype) else p
           for p, m in zip(params, masters)]
    g32 = [_grad32(g) for g in grads]
    s32 = []
    for lst in state_lists:
        if lst is None:
            s32.append(None)
            continue
        s32.append([b if b is None or not _half(b.dtype) else b.astype(np.float32)
                    for b in lst])
    step_fn(p32, g32, *s32, steps, **hyper)
    step_list = steps if isinstance(steps, (list, tuple)) else [steps] * k
    # a row-sparse grad's param and state are written on its touched rows only (axis 0)
    rows = [np.unique(g.indices) if _sparse(g) else slice(None) for g in grads]
    for i, p in enumerate(params):
        if _half(p.dtype):
            p[rows[i]] = p32[i][rows[i]].astype(p.dtype)
    for j, (lst, new) in enumerate(zip(state_lists, s32)):
        if lst is None:
            continue
        for i, b in enumerate(lst):
            if b is None or not _half(b.dtype):
                continue
            r = rows[i]
            if params[i].dtype == np.float32 and b.dtype.name == "bfloat16":
                b.view(np.uint16)[r] = round_bf16_stochastic(
                    new[i], seed=seed, index=i, step=int(step_list[i]), j=j)[r]
            else:
                b[r] = new[i][r].astype(b.dtype)
