"""fastopt.torch's half-precision options: the dtypes a param's state is kept in.

Three group settings, present only when not at their default (so state dicts keep torch's
format): ``master_weights`` (a bfloat16/float16 param keeps float32 state and float32 master
weights, ``state["master"]``, updated and rounded back to the param in the same pass),
``state_dtype`` (``torch.bfloat16``: a float32 param's state buffers like the param in
bfloat16, stored with stochastic rounding) and ``seed`` (of that rounding). Without them a
half param keeps its state in its own dtype, as torch.optim does. The rules are the NumPy
objects' (``fastopt/optim/_half.py``); the step is the plan's and the kernels'.
"""
import torch

HALF = (torch.bfloat16, torch.float16)


def options(master_weights=False, state_dtype=None, seed=0):
    """Checked ``{setting: value}`` for a group (only the settings not at their default)."""
    if type(master_weights) is not bool:
        raise TypeError(f"master_weights must be True or False, got {master_weights!r}")
    if state_dtype is not None and state_dtype is not torch.bfloat16:
        raise TypeError(f"state_dtype must be None or torch.bfloat16 (for float32 params), "
                        f"got {state_dtype!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 64:
        raise ValueError(f"seed must be an int in [0, 2**64), got {seed!r}")
    out = {}
    if master_weights:
        out["master_weights"] = True
    if state_dtype is not None:
        out["state_dtype"] = state_dtype
    if seed:
        out["seed"] = seed
    return out


def check_group(group):
    """The group's three settings, checked (TypeError / ValueError)."""
    options(group.get("master_weights", False), group.get("state_dtype"),
            group.get("seed", 0))


def has_master(p, group):
    return bool(group.get("master_weights")) and p.dtype in HALF


def buffer_dtype(p, group):
    """The dtype of p's state buffers like the param."""
    if has_master(p, group):
        return torch.float32
    if group.get("state_dtype") is not None and p.dtype == torch.float32:
        return group["state_dtype"]
    return p.dtype


def like_param(p, v):
    """Is v an array state buffer of p (a tensor, not 0-d unless p is)? Like p, one element
    per row of it (RowwiseAdagrad's ``sum``) or a factor of it (Adafactor's ``row_var``,
    ``col_var``): the plan checks which shape each buffer needs. (Never scalar state:
    callers pass the buffer keys.)"""
    return isinstance(v, torch.Tensor) and (v.shape == p.shape or v.dim() >= 1)


def new_master(p):
    """float32 master weights for half param p, in its memory layout."""
    return torch.empty_like(p, dtype=torch.float32,
                            memory_format=torch.preserve_format).copy_(p.detach())


def fresh_state(p, group, make, buffer_keys):
    """A new state dict for p (``make``: the class's ``_init_state`` for a param) in the
    dtypes the group keeps: with master weights, made for the float32 master (start values
    are not rounded through the half dtype) plus ``state["master"]``."""
    if has_master(p, group):
        master = new_master(p)
        st = make(master)
        st["master"] = master
        return st
    st = make(p)
    dtype = buffer_dtype(p, group)
    if dtype != p.dtype:
        for key in buffer_keys:
            v = st.get(key)
            if like_param(p, v) and v.dtype == p.dtype:
                st[key] = v.to(dtype)
    return st


def fit_buffer(p, group, b):
    """A buffer made like p (a flag switched on later) in the dtype the group keeps."""
    dtype = buffer_dtype(p, group)
    return b if b.dtype == dtype else b.to(dtype)


def refit(optimizer, saved, buffer_keys):
    """After torch's load: each state in the dtypes its group keeps (``saved``: the state
    dict's tensors before torch cast them to the param's dtype, _state.saved_tensors). A
    saved tensor of that dtype is copied as saved (exact); otherwise the loaded one is cast.
    Master weights come from the saved ones, or from the param (a torch.optim state dict
    has none)."""
    pos = 0
    for group in optimizer.param_groups:
        for p in group["params"]:
            st = optimizer.state.get(p)
            if isinstance(st, dict) and st:
                dtype = buffer_dtype(p, group)
                for key in buffer_keys:
                    v = st.get(key)
                    if not like_param(p, v):
                        continue
                    s = saved.get((pos, key))
                    src = s if isinstance(s, torch.Tensor) and s.dtype == dtype and \
                        s.shape == v.shape else v
                    if src.dtype != dtype or src is s:
                        st[key] = torch.empty_like(p if v.shape == p.shape else v, dtype=dtype,
                                                   memory_format=torch.preserve_format
                                                   ).copy_(src)
                if has_master(p, group):
                    s = saved.get((pos, "master"))
                    st["master"] = (new_master(p) if not isinstance(s, torch.Tensor)
                                    or s.shape != p.shape else
                                    torch.empty_like(p, dtype=torch.float32,
                                                     memory_format=torch.preserve_format
                                                     ).copy_(s))
                else:
                    st.pop("master", None)
            pos += 1
