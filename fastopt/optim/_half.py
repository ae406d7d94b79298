"""The NumPy optimizers' half-precision options: which dtypes a param's state is kept in.

- a bfloat16 (``ml_dtypes.bfloat16``) or float16 param keeps its state in its own dtype, as
  torch.optim does; with ``master_weights=True`` it keeps float32 state and a float32 copy of
  itself, ``state["master"]``, which the step updates and rounds back to the param in the
  same pass;
- with ``state_dtype=ml_dtypes.bfloat16`` a float32 param keeps its state buffers like the
  param in bfloat16, stored with stochastic rounding from ``seed`` (reproducible, the same
  for any thread count); float64 params and scalar state are not affected.

The step itself is the plan's (``Plan.add``: the combinations it takes) and the kernels'
(``src_c/half.h``); ``fastopt.reference.half`` is the same step in NumPy.
"""
import numpy as np

HALF_NAMES = ("bfloat16", "float16")


def _is_half(dtype):
    return dtype.itemsize == 2 and dtype.name in HALF_NAMES


def options(master_weights, state_dtype, seed):
    """The three options, checked: ``(master_weights, state_dtype or None, seed)``."""
    if type(master_weights) is not bool:
        raise TypeError(f"fastopt: master_weights must be True or False, got "
                        f"{master_weights!r}")
    if state_dtype is not None:
        try:
            dt = np.dtype(state_dtype)
        except TypeError:
            dt = None
        if dt is None or dt.name != "bfloat16" or dt.itemsize != 2:
            raise TypeError(f"fastopt: state_dtype must be None or ml_dtypes.bfloat16 (for "
                            f"float32 params), got {state_dtype!r}")
        state_dtype = dt
    return master_weights, state_dtype, check_seed(seed)


def check_seed(seed):
    """The stochastic rounding seed as an int in [0, 2**64), or ValueError."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (
            0 <= int(seed) < 2 ** 64):
        raise ValueError(f"fastopt: seed must be an int in [0, 2**64), got {seed!r}")
    return int(seed)


def _like(p, v):
    """Is v an array state buffer in p's dtype (not a 0-d scalar, unless p is 0-d too)? Like
    p, one element per row of it (RowwiseAdagrad's ``sum``) or a factor of it (Adafactor's
    ``row_var``, ``col_var``): the plan checks which shape each buffer needs."""
    return isinstance(v, np.ndarray) and v.dtype == p.dtype and (
        v.shape == p.shape or v.ndim >= 1)


def fit_buffer(opt, p, buf):
    """A new state buffer like ``p`` (zeros, or a start value) in the dtype opt keeps it."""
    if not _like(p, buf):
        return buf
    if opt.master_weights and _is_half(p.dtype):
        return buf.astype(np.float32)
    if opt.state_dtype is not None and p.dtype == np.float32:
        return buf.astype(opt.state_dtype)
    return buf


def fresh_state(opt, p, make):
    """A fresh state dict for ``p`` (``make``: its class's ``_new_state`` for a param) in the
    dtypes opt keeps: with master weights, made for the float32 master (start values such
    as Rprop's step size are not rounded through the half dtype) plus ``state["master"]``,
    a float32 copy of the param; with bfloat16 state, its buffers like the param rounded."""
    if opt.master_weights and _is_half(p.dtype):
        master = p.astype(np.float32)
        state = make(master)
        state["master"] = master
        return state
    state = make(p)
    if opt.state_dtype is None:
        return state
    scalar = set(opt.algorithm.scalar_state)
    for key, value in state.items():
        if key not in scalar:
            state[key] = fit_buffer(opt, p, value)
    return state
