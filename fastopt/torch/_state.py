"""Loaded state made to fit fastopt.torch's step (torch.optim state dicts load both ways)."""
import torch

from fastopt.torch._tensors import COUNTER_KINDS


def scalar_dtype():
    """torch.optim's dtype for step counters (float32 unless the default dtype is float64)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def fit_state(p, st, step_key, step_tensor, buffer_keys, scalar_keys=()):
    """A loaded state dict for param ``p``: buffers on p's device in p's dtype and memory
    layout, step counters as torch keeps them; copies only what does not fit already. What
    cannot be made to fit is left as it is, for the step to report by name."""
    if not (isinstance(p, torch.Tensor) and isinstance(st, dict)):
        return st
    out = dict(st)
    for key, value in st.items():
        if key == step_key:
            out[key] = fit_step(value) if step_tensor else fit_int_step(value)
        elif key in scalar_keys:
            # one number per param (mu_product, eta, mu), stepped in its own dtype: kept,
            # only moved to the CPU (a Python number becomes a float32 tensor, as torch's)
            if isinstance(value, torch.Tensor):
                out[key] = value.cpu() if not value.is_cpu else value
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                out[key] = torch.tensor(float(value), dtype=scalar_dtype())
        elif key in buffer_keys and isinstance(value, torch.Tensor):
            out[key] = fit_buffer(p, value)
    return out


def fit_buffer(p, value):
    dtype = p.dtype if p.is_floating_point() else value.dtype
    value = value.to(device=p.device, dtype=dtype)
    if value.shape == p.shape and value.stride() != p.stride():
        # the param's layout (channels_last, ...), as torch creates state (preserve_format)
        return torch.empty_like(p, dtype=dtype).copy_(value)
    return value if value.shape == p.shape else value.contiguous()


def fit_step(value):
    if (isinstance(value, torch.Tensor) and value.is_cpu and value.dtype in COUNTER_KINDS
            and value.numel() == 1):
        return value
    if isinstance(value, (str, bytes, list, dict)):
        return value  # the step reports it
    try:
        return torch.tensor(float(value), dtype=scalar_dtype())
    except (TypeError, ValueError, RuntimeError):
        return value  # the step reports it


def fit_int_step(value):
    try:
        v = float(value)
        return int(v) if v == int(v) else value
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return value  # the step reports it


def saved_tensors(state_dict, keys):
    """``{(position, key): tensor}`` of the state ``keys`` in a state dict about to be loaded;
    position is the param's place across the saved groups (torch's load_state_dict casts
    state to the param's dtype: what was saved is read here first)."""
    out = {}
    try:
        ids = [i for g in state_dict["param_groups"] for i in g["params"]]
        saved = state_dict["state"]
        for pos, pid in enumerate(ids):
            st = saved.get(pid)
            for key in keys if isinstance(st, dict) else ():
                v = st.get(key)
                if isinstance(v, torch.Tensor):
                    out[(pos, key)] = v
    except (KeyError, TypeError, AttributeError):
        return {}   # torch's load_state_dict reports what is wrong
    return out


def saved_scalar_dtypes(state_dict, keys):
    """``{(position, key): dtype}`` of the float32/float64 scalar state (NAdam's mu_product,
    ASGD's eta and mu) in a state dict about to be loaded (see saved_tensors). torch's
    load_state_dict casts these to the param's dtype, but their dtype is part of the math (an
    uninterrupted torch run keeps stepping them in their own), so
    :func:`restore_scalar_dtypes` puts it back: exactly for a float32 number cast to float64;
    a float64 one loaded beside float32 params comes back rounded to float32."""
    return {k: v.dtype for k, v in saved_tensors(state_dict, keys).items()
            if v.dtype in COUNTER_KINDS}


def restore_scalar_dtypes(optimizer, dtypes):
    """Give loaded scalar state back the dtypes :func:`saved_scalar_dtypes` read."""
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for (pos, key), dtype in dtypes.items():
        st = optimizer.state.get(params[pos]) if pos < len(params) else None
        v = st.get(key) if isinstance(st, dict) else None
        if isinstance(v, torch.Tensor) and v.dtype != dtype and v.numel() == 1:
            st[key] = v.to(dtype)
