"""How fastopt.torch finds its buffers: tensors as the records a Plan checks.

Everything here is about tensors (device, layout, lazy negation and conjugation bits,
ZeroTensors, storage bounds); what a step needs of a buffer (dtype, shape, one dense layout
shared by param, grad and state, no overlaps) is checked by the plan
(``fastopt/_plan.pxi``), for tensors and NumPy arrays alike.
"""
import numpy as np
import torch

from fastopt import _kernels

Tensor = torch.Tensor
STRIDED = torch.strided
SPARSE_COO = torch.sparse_coo
DTYPE_CODES = {torch.float32: 0, torch.float64: 1, torch.bfloat16: 2, torch.float16: 3}
_ITEMSIZE = (4, 8, 2, 2)
#: the kinds of step counter a plan reads through a pointer (torch's float step tensors)
COUNTER_KINDS = {torch.float32: 1, torch.float64: 2}


def _what(what):
    """A buffer's name for a message: a string, or ``(index, rest)`` formatted only when an
    error needs it (a step builds no strings)."""
    return what if type(what) is str else f"param {what[0]}{what[1]}"


def record(t, what):
    """``(address, dtype code, shape, strides)`` of a tensor fastopt can step in place, as a
    :meth:`fastopt._kernels.Plan.add_raw` record; raises naming ``what`` otherwise."""
    if not isinstance(t, Tensor):
        raise TypeError(f"fastopt: {_what(what)} must be a torch.Tensor, got {type(t).__name__}")
    code = DTYPE_CODES.get(t.dtype)
    if code is None or t.layout is not STRIDED or not t.is_cpu or t.is_neg():
        _refuse(t, what)   # (a conjugate bit matters only for complex dtypes, refused here)
    ptr = t.data_ptr()
    shape = tuple(t.shape)
    stride = t.stride()
    if ptr == 0 and t.numel():
        if t._is_zerotensor():
            raise ValueError(f"fastopt: {_what(what)} is a ZeroTensor, which has no memory; pass a "
                             f"real zero tensor (torch.zeros_like) or set it to None to skip "
                             f"the param")
        raise ValueError(f"fastopt: {_what(what)} has no memory (a null data pointer)")
    last = t.storage_offset()
    for d, st in zip(shape, stride):
        if d == 0:
            break
        if st > 0:
            last += (d - 1) * st
    else:
        if (last + 1) * _ITEMSIZE[code] > t.untyped_storage().nbytes():
            raise ValueError(f"fastopt: {_what(what)} reaches past the end of its storage "
                             f"({t.untyped_storage().nbytes()} bytes); fastopt would read "
                             f"or write outside it")
    return (ptr, code, shape, stride)


def _refuse(t, what):
    """Raise the error for a tensor record() cannot take."""
    if t.layout is not STRIDED:
        raise ValueError(f"fastopt: {_what(what)} has layout {t.layout}; this step takes dense "
                         f"(strided) tensors here (sparse COO gradients: fastopt.torch."
                         f"Adagrad, SGD, SparseAdam, RowwiseAdagrad)")
    if not t.is_cpu:
        raise ValueError(f"fastopt: {_what(what)} is on device {t.device}; fastopt.torch steps CPU "
                         f"tensors only (keep params and optimizer on the CPU, as in "
                         f"ZeRO-Offload, or use torch.optim on this device)")
    if t.dtype not in DTYPE_CODES:
        hint = (" (complex params: step torch.view_as_real(p) instead)" if t.is_complex()
                else "")
        raise TypeError(f"fastopt: {_what(what)} has dtype {t.dtype}; fastopt steps float32, "
                        f"float64, bfloat16 and float16 tensors{hint}")
    raise ValueError(f"fastopt: {_what(what)} carries torch's lazy negation bit (a view such as "
                     f"x.neg() or a conjugate); its memory holds other values than it "
                     f"reads as, and fastopt never copies: pass t.resolve_neg()")


def cached_record(cache, new_cache, t, what):
    """record(t), reused from the last step's ``cache`` if t is the same tensor at the same
    address with the same strides and element count (a param or state tensor, which the
    step writes in place; with those, a dense layout's shape is the same too); entries used
    go to ``new_cache``, so a tensor no longer stepped is let go."""
    key = id(t)
    c = cache.get(key)
    if c is not None and c[0] is t:
        rec = c[1]
        if t.data_ptr() == rec[0] and t.stride() == rec[3] and t.numel() == c[2]:
            new_cache[key] = c
            return rec
    rec = record(t, what)
    new_cache[key] = (t, rec, t.numel())
    return rec


def cached_counter(cache, new_cache, t, what):
    """counter_address(t), reused from the last step's ``cache`` as cached_record does."""
    key = ("step", id(t))
    c = cache.get(key)
    if c is not None and c[0] is t and t.data_ptr() == c[1][1]:
        new_cache[key] = c   # (a one-element tensor resized in place gets a new address)
        return c[1]
    rec = counter_address(t, what)
    new_cache[key] = (t, rec)
    return rec


def counter_address(t, what):
    """``(kind, address)`` of a step counter tensor that the plan reads and increments in C
    (which checks its value); raises if it is not one."""
    if not (isinstance(t, torch.Tensor) and t.dtype in COUNTER_KINDS and t.layout is STRIDED
            and t.is_cpu and t.numel() == 1 and not t.is_neg()):
        raise TypeError(f"fastopt: {_what(what)} must be a one-element float32 or float64 CPU tensor "
                        f"(as torch.optim keeps it), got {describe(t)}")
    return COUNTER_KINDS[t.dtype], t.data_ptr()


def counter(t, what):
    """``(kind, address)`` of a step counter tensor (a one-element float32/float64 CPU
    tensor, as torch.optim keeps it), after checking it holds a whole number >= 0."""
    if not (isinstance(t, torch.Tensor) and t.layout is STRIDED and t.is_cpu
            and t.dtype in COUNTER_KINDS and t.numel() == 1 and not t.is_neg()):
        raise TypeError(f"fastopt: {_what(what)} must be a one-element float32 or float64 CPU tensor "
                        f"(as torch.optim keeps it), got {describe(t)}")
    v = float(t)
    if not (v >= 0 and v == int(v) and v < 2.0 ** 53):
        raise ValueError(f"fastopt: {_what(what)} must hold a whole number >= 0, got {v!r}")
    return COUNTER_KINDS[t.dtype], t.data_ptr()


def array(t):
    """A NumPy view of a CPU tensor's memory (no copy), for the row-sparse path; a bfloat16
    tensor's as ``ml_dtypes.bfloat16`` (NumPy has no bfloat16 of its own)."""
    t = t.detach() if t.requires_grad else t
    if t.dtype is torch.bfloat16:
        return t.view(torch.int16).numpy().view(_numpy_bfloat16())
    return t.numpy()


def _numpy_bfloat16():
    try:
        import ml_dtypes
    except ImportError:
        raise TypeError("fastopt: row-sparse steps of bfloat16 tensors view them as NumPy "
                        "arrays of ml_dtypes.bfloat16: pip install ml_dtypes (or "
                        "fastopt[bf16])") from None
    return ml_dtypes.bfloat16


def sparse_rows(p, g, what):
    """A ``fastopt.SparseRows`` viewing a sparse COO grad's own ``_indices()`` / ``_values()``
    (uncoalesced as they are; no copy) for param p, seen as ``rows x dim``; else raise."""
    if g.layout is not SPARSE_COO:
        raise ValueError(f"fastopt: {_what(what)} is sparse ({g.layout}); fastopt.torch steps dense "
                         f"and sparse COO gradients only (nn.Embedding(sparse=True))")
    if not g.is_cpu:
        raise ValueError(f"fastopt: {_what(what)} is on device {g.device}; fastopt.torch steps CPU "
                         f"tensors only")
    if g.dtype != p.dtype:
        raise TypeError(f"fastopt: {_what(what)} has dtype {g.dtype} but the param has dtype "
                        f"{p.dtype}")
    if g.shape != p.shape:
        raise ValueError(f"fastopt: {_what(what)} has shape {tuple(g.shape)} but the param has shape "
                         f"{tuple(p.shape)}")
    if g.sparse_dim() != 1:
        raise ValueError(f"fastopt: {_what(what)} has sparse_dim {g.sparse_dim()}; fastopt steps "
                         f"row-sparse gradients (sparse_dim 1: whole rows, as nn.Embedding "
                         f"gives)")
    idx, vals = g._indices(), g._values()
    for t, name in ((idx, "indices"), (vals, "values")):
        if not t.is_contiguous():
            raise ValueError(f"fastopt: {_what(what)}'s {name} are not contiguous (strides "
                             f"{t.stride()}); fastopt reads them in place and never copies")
        if t.is_neg() or t.is_conj():
            raise ValueError(f"fastopt: {_what(what)}'s {name} carry torch's lazy negation bit")
    rows = p.shape[0]
    dim = p.numel() // rows if rows else int(np.prod(p.shape[1:]))
    return _kernels.SparseRows(array(idx).reshape(-1), array(vals).reshape(vals.shape[0], dim))


def describe(t):
    if isinstance(t, torch.Tensor):
        return f"a {t.dtype} tensor of shape {tuple(t.shape)} on {t.device}"
    return f"{type(t).__name__} {t!r}"
