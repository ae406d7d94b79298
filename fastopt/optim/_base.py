"""What every fastopt NumPy optimizer shares: param groups, state, state dicts, the step.

An algorithm's class (``fastopt/optim/<name>.py``) says:

- ``algorithm``: its :class:`fastopt.optim._algorithm.Algorithm` (kernels and hyper
  translation, shared with its functional step and its fastopt.torch class);
- ``__init__``: its signature and defaults, passed on as the ``defaults`` dict;
- ``_new_state(p, group)``: a fresh state dict for param ``p`` (``step`` and its buffers);
- optionally ``_check_group(group)`` for settings the kernel never sees (e.g.
  ``initial_accumulator_value``) and ``_new_buffer(p, name, group, state)`` for a buffer a
  flag switches on after the state was made (default: zeros like the param).

and this class does the rest the way ``torch.optim.Optimizer`` does. ``param_groups`` is a
list of dicts holding ``params`` and the group's settings; ``state`` maps a param's index
(its position across all groups, in order) to its state dict; ``state_dict()`` is
``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}`` with copies of
every buffer.

The step goes through the same plan as the functional step: every group's settings are
checked with the constructor's rules and translated, every step count read, then each param
with a gradient is added to one :class:`fastopt._kernels.Plan` (its buffers checked), and
the plan runs in one C call. A gradient list may mix dense arrays, ``None`` (skip the param)
and ``fastopt.SparseRows``; it is all or nothing.
"""
import copy
import functools
import inspect

import numpy as np

from fastopt import _kernels, _scalars
from fastopt.optim import _half

_TWO_53 = 2 ** 53


class Optimizer:
    """Base class of fastopt's NumPy optimizers; see the module docstring."""

    algorithm = None
    #: a buffer switched on later starts the param's count again (SGD: its first step with
    #: momentum sets the buffer to the gradient, as torch does)
    _restart_on_new_buffer = False

    def __init__(self, params, defaults, *, master_weights=False, state_dtype=None, seed=0):
        if self.algorithm is None:
            raise TypeError("fastopt.Optimizer is abstract; use an algorithm's class")
        self.master_weights, self.state_dtype, self.seed = _half.options(
            master_weights, state_dtype, seed)
        self.defaults = dict(defaults)
        self._settings = _kernels.SettingsCache()  # each group's kernel scalars, reused
        self._validate_group(self.defaults, None)
        self.param_groups = []
        self.state = {}
        if isinstance(params, np.ndarray):
            raise TypeError("fastopt: params must be a list of arrays (or of dicts), "
                            "not one array")
        groups = list(params)
        if not groups:
            raise ValueError("fastopt: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ---- what subclasses provide ----

    def _new_state(self, p, group):
        raise NotImplementedError

    def _check_group(self, group):
        """Check settings the kernel never sees; raise ValueError."""

    def _new_buffer(self, p, name, group, state):
        """A buffer that a flag switched on after ``state`` was made: zeros like ``p``."""
        return np.zeros_like(p)

    def _fresh_state(self, p, group):
        """_new_state(p, group) in the dtypes the half-precision options give (_half.py)."""
        return _half.fresh_state(self, p, lambda q: self._new_state(q, group))

    # ---- settings ----

    def _validate_group(self, group, gi):
        """The group's dense scalars (a dict), after checking every setting as the
        constructor does: each flag a bool, each value in range, none missing."""
        where = "the defaults" if gi is None else f"param group {gi}"
        try:
            for key in _flag_keys(type(self)):
                if key in group:
                    _scalars.flag(key, group[key])
            scalars = self.algorithm.hyper(group)
            self._check_group(group)
            return scalars
        except KeyError as e:
            raise ValueError(f"fastopt: {where} has no {e.args[0]!r}") from None
        except (ValueError, TypeError) as e:
            raise type(e)(f"fastopt: {where}: {_message(e)}") from None

    def _group_scalars(self, group, gi, sparse):
        if not sparse:
            return self._validate_group(group, gi)
        self._validate_group(group, gi)
        try:
            return self.algorithm.row_hyper(group)
        except KeyError as e:
            raise ValueError(f"fastopt: param group {gi} has no {e.args[0]!r}") from None

    # ---- param groups ----

    def _all_params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def add_param_group(self, param_group):
        """Add a group (a dict with ``params`` and optional settings), as torch does."""
        if not isinstance(param_group, dict):
            raise TypeError(f"fastopt: a param group must be a dict, got "
                            f"{type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, np.ndarray):
            params = [params]
        elif isinstance(params, set) or params is None:
            raise TypeError("fastopt: a param group's 'params' must be a list of arrays")
        params = list(params)
        existing = self._all_params()
        _kernels.check_params(existing + params)
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        group["params"] = params
        self._validate_group(group, len(self.param_groups))
        start = len(existing)
        new_state = {start + j: self._fresh_state(p, group) for j, p in enumerate(params)}
        self.param_groups.append(group)
        self.state.update(new_state)

    # ---- the step ----

    def step(self, grads):
        """Update every param in place from its gradient (``grads`` in param order).

        A ``None`` gradient skips its param (its state and step count stay). Optimizers with
        a row kernel also take ``fastopt.SparseRows`` for 2-D params. All or nothing: every
        setting, param, gradient and state buffer of every group is checked before anything
        is written.
        """
        alg = self.algorithm
        grads = grads if type(grads) is list else _grad_list(grads)
        groups = self.param_groups
        if alg.kernel is not None and alg.dense_grads and _kernels.step_groups(
                alg.kernel, groups, grads, self.state, self._settings, self._group_scalars,
                self.seed):
            return   # dense grads and state as it was: this whole step in one call
        n = 0
        for group in groups:
            n += len(group["params"])
        if len(grads) != n:
            raise ValueError(f"fastopt: step() got {len(grads)} grads for {n} params")
        plan = _kernels.Plan(n)
        state = self.state
        handles = {}
        adds = []
        created = []
        i = 0
        # phase 1: every setting and step count (and buffers a flag switched on)
        for gi, group in enumerate(groups):
            for p in group["params"]:
                g = grads[i]
                if g is None:
                    i += 1
                    continue
                st = state.get(i)
                if type(st) is not dict:
                    raise ValueError(f"fastopt: param {i} has no state; add params with "
                                     f"add_param_group(), not by changing a group's list")
                if type(g) is _kernels.SparseRows or not alg.dense_grads \
                        or alg.kernel is None:
                    try:
                        kernel, sparse = alg.route(g)
                    except TypeError as e:
                        raise TypeError(f"fastopt: param {i}: {_message(e)}") from None
                else:
                    kernel, sparse = alg.kernel, False
                key = (gi, sparse)
                entry = handles.get(key)
                if entry is None:
                    try:
                        scalars = self._settings.get(key, group, kernel, self._group_scalars,
                                                     (group, gi, sparse))
                    except (ValueError, TypeError) as e:
                        raise type(e)(f"fastopt: param {i}: {_message(e)}") from None
                    entry = handles[key] = (plan.hyper(kernel, scalars), scalars)
                step = st.get("step")
                if type(step) is not int or not 0 <= step < _TWO_53:
                    step = _scalars.step(step + 1 if isinstance(step, (int, float, np.number))
                                         and not isinstance(step, bool) else step,
                                         f"param {i}'s state 'step' + 1") - 1
                bufs = []
                for name, gate in zip(kernel.state_names, kernel.gates):
                    b = st.get(name)
                    if b is None and gate is not None and entry[1][gate]:
                        b = _half.fit_buffer(self, p, self._new_buffer(p, name, group, st))
                        created.append((st, name, b))
                        if self._restart_on_new_buffer:
                            step = 0
                    bufs.append(b)
                adds.append((kernel, i, p, g, tuple(bufs), entry[0], step + 1, st))
                i += 1
        # phase 2: every buffer
        for kernel, i, p, g, bufs, h, step, st in adds:
            plan.add(kernel, i, p, g, bufs, h, step, st.get("master"), self.seed)
        # phase 3: one C call
        plan.run()
        for st, name, b in created:
            self._commit_buffer(st, name, b)
        for a in adds:
            a[7]["step"] = a[6]

    def _commit_buffer(self, state, name, buf):
        """Keep a buffer that a flag switched on, once the step that used it has run."""
        state[name] = buf

    # ---- state dicts ----

    def state_dict(self):
        """``{"state": {index: {...}}, "param_groups": [...]}``, copying every buffer."""
        groups, start = [], 0
        for group in self.param_groups:
            saved = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            saved["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(saved)
        state = {i: {k: (v.copy() if isinstance(v, np.ndarray) else copy.deepcopy(v))
                     for k, v in st.items()}
                 for i, st in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a state dict saved by this optimizer class (or by torch.optim's twin).

        Everything is checked first (group count and sizes, hyper-parameters, state keys,
        shapes, dtypes); on any error nothing changes. Buffers are copied, and cast to their
        param's dtype as torch does.
        """
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError("fastopt: a state dict has exactly the keys 'state' and "
                             "'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"fastopt: the state dict has {len(saved_groups)} param groups, "
                             f"this optimizer has {len(self.param_groups)}")
        new_groups, index_of, start = [], {}, 0
        for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            ids = list(saved.get("params", ()))
            if len(ids) != len(group["params"]):
                raise ValueError(f"fastopt: param group {gi} of the state dict has {len(ids)} "
                                 f"params, this optimizer's has {len(group['params'])}")
            new = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            for key, value in self.defaults.items():
                new.setdefault(key, value)
            new["params"] = group["params"]
            try:
                self._validate_group(new, gi)
            except ValueError as e:
                raise ValueError(f"fastopt: param group {gi} of the state dict: {e}") from None
            new_groups.append(new)
            for j, saved_id in enumerate(ids):
                index_of[saved_id] = start + j
            start += len(ids)
        params = [p for group in new_groups for p in group["params"]]
        new_state = {}
        for saved_id, saved in state_dict["state"].items():
            if saved_id not in index_of:
                raise ValueError(f"fastopt: the state dict has state for param id {saved_id!r},"
                                 f" which no param group lists")
            i = index_of[saved_id]
            group = next(g for g in new_groups if any(p is params[i] for p in g["params"]))
            new_state[i] = self._load_param_state(params[i], saved, i, group)
        for i, p in enumerate(params):
            if i not in new_state:
                group = next(g for g in new_groups if any(q is p for q in g["params"]))
                new_state[i] = self._fresh_state(p, group)
        self.param_groups = new_groups
        self.state = new_state

    def _load_param_state(self, p, saved, i, group):
        """A validated copy of one param's saved state, fitted to p."""
        if not isinstance(saved, dict):
            raise ValueError(f"fastopt: param {i}: saved state must be a dict")
        fresh = self._fresh_state(p, group)
        optional = self._optional_keys()
        if "master" in fresh and "master" not in saved:
            saved = dict(saved, master=p)   # (torch's state dicts have none: from the param)
        # A buffer a flag switches on may be there or not, whatever the flag says now: kept
        # (checked) if saved; if not, the step that needs it makes it, as when the flag is
        # switched on later.
        missing = set(fresh) - set(saved) - optional
        extra = set(saved) - set(fresh) - optional
        if missing or extra:
            raise ValueError(f"fastopt: param {i}: saved state has keys {sorted(saved)}, "
                             f"expected {sorted(fresh)}")
        for key in sorted(set(saved) - set(fresh)):
            fresh[key] = None
        out = {}
        for key, ref in fresh.items():
            if key not in saved:
                out[key] = None   # made at the step that needs it (as a flag switched on)
                continue
            value = saved[key]
            if key == "step":
                out[key] = _load_step(value, i)
            elif key in self.algorithm.scalar_state:
                out[key] = _load_scalar(value, i, key)
            elif ref is None and key in optional:
                out[key] = None if value is None else _load_buffer(value, p, i, key)
            elif isinstance(ref, np.ndarray):
                out[key] = _load_buffer(value, ref, i, key)
            else:
                out[key] = copy.deepcopy(value)
        return out

    def _optional_keys(self):
        """State keys of buffers that a flag switches on."""
        return set(self.algorithm.dense.optional())

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for gi, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {gi}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)



@functools.lru_cache(maxsize=None)
def _flag_keys(cls):
    """The constructor arguments of ``cls`` whose default is a bool: its on/off flags."""
    return tuple(name for name, arg in inspect.signature(cls.__init__).parameters.items()
                 if isinstance(arg.default, bool))


def _grad_list(grads):
    if grads is None or isinstance(grads, (str, bytes, dict, np.ndarray)):
        raise TypeError("fastopt: step() takes a list of grads, one per param")
    return list(grads)


def _message(e):
    text = str(e)
    return text[len("fastopt: "):] if text.startswith("fastopt: ") else text


def _load_step(value, i):
    """A saved step count: a whole number in [0, 2**53) (torch saves a float tensor)."""
    if isinstance(value, (bool, np.bool_, str, bytes, list, tuple, dict)) or value is None:
        raise ValueError(f"fastopt: param {i}: saved 'step' must be a whole number >= 0, got "
                         f"{type(value).__name__} {value!r}")
    try:
        v = np.asarray(value)
        v = v.item() if v.size == 1 else value
    except Exception:
        v = value
    try:
        return _scalars.step(v + 1, f"param {i}: saved 'step' + 1") - 1
    except (TypeError, ValueError):
        raise ValueError(f"fastopt: param {i}: saved 'step' must be a whole number in "
                         f"[0, 2**53), got {value!r}") from None


def _load_scalar(value, i, key):
    """A saved scalar state entry (NAdam's mu_product, ...): one finite number, kept as a
    0-d array of its own float32 / float64 dtype (float32 for anything else, as torch)."""
    try:
        a = np.asarray(value)
    except Exception:
        a = None
    if a is None or a.dtype.kind not in "fiu" or a.size != 1 or isinstance(value, (list, str)):
        raise ValueError(f"fastopt: param {i}: saved {key!r} must be one number (a 0-d "
                         f"array or tensor), got {type(value).__name__} {value!r}")
    keep = isinstance(value, np.ndarray) or hasattr(value, "dtype")   # an array or tensor
    out = np.array(a.reshape(()), a.dtype if keep and a.dtype in (np.float32, np.float64)
                   else np.float32)
    if not np.isfinite(out):
        raise ValueError(f"fastopt: param {i}: saved {key!r} is {float(out)}; expected a "
                         f"finite number")
    return out


def _load_buffer(value, ref, i, key):
    """value as a fresh C-contiguous copy with ref's dtype; ref's shape is required."""
    if value is None:
        raise ValueError(f"fastopt: param {i}: saved {key!r} is None, but the group's "
                         f"hyper-parameters need it")
    if not (isinstance(value, np.ndarray) or hasattr(value, "__array__")) or isinstance(
            value, (list, tuple, str, bytes)):
        raise ValueError(f"fastopt: param {i}: saved {key!r} must be an array, got "
                         f"{type(value).__name__}")
    try:
        a = np.asarray(value)
    except Exception as e:  # e.g. a CUDA tensor
        raise ValueError(f"fastopt: param {i}: saved {key!r} cannot be read as an array: "
                         f"{e}") from None
    if a.dtype.kind != "f" and a.dtype.name != "bfloat16":   # (ml_dtypes: kind "V")
        raise ValueError(f"fastopt: param {i}: saved {key!r} has dtype {a.dtype}, "
                         f"expected floating point")
    if a.shape != ref.shape:
        raise ValueError(f"fastopt: param {i}: saved {key!r} has shape {a.shape}, expected "
                         f"{ref.shape}")
    out = np.empty_like(ref)    # the param's memory layout (C, Fortran, any order)
    out[...] = a
    return out
