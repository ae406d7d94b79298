"""What every fastopt optimizer object shares: param groups, state, state dicts, the step.

An algorithm's object (``fastopt/optim/<name>.py``) says four things, and this class does the
rest the way ``torch.optim.Optimizer`` does:

- ``_kernel``: the name of its kernel in ``src_c/kernels/registry.h``;
- ``_kernel_hyper(group)``: the group's hyper-parameters as the kernel's tuple of floats,
  raising ``ValueError`` for invalid ones (the functional step uses the same translation);
- ``_new_state(p, group)``: a fresh state dict for param ``p`` (``step`` and its buffers);
- optionally ``_check_group(group)`` for hyper-parameters the kernel never sees;
- optionally ``_row_kernel`` and ``_row_hyper(group, sparse)``, to take row-sparse gradients
  (``fastopt.SparseRows``) for 2-D params: the name of its row kernel in registry.h and the
  group's hyper-parameters as that kernel's tuple, raising ``TypeError`` / ``ValueError`` for
  settings the row step cannot honour (e.g. Adagrad's weight_decay). ``sparse`` is False
  when the object has no dense kernel (``_kernel = None``) and a dense gradient is to run
  through the row kernel over every row (RowwiseAdagrad); refusing it there (raising
  TypeError) makes the object sparse-only (SparseAdam).

A step's gradient list may mix dense arrays, ``None`` and ``SparseRows``; it is still one
all-or-nothing call: every gradient, index and buffer is checked before anything is written.

The layout follows torch.optim: ``param_groups`` is a list of dicts holding ``params`` and the
group's hyper-parameters; ``state`` maps a param's index (its position across all groups, in
order) to its state dict; ``state_dict()`` is ``{"state": {index: {...}}, "param_groups":
[{..., "params": [indices]}]}`` with copies of every buffer.
"""
import copy
import functools
import inspect
import math

import numpy as np

from fastopt import _kernels


def check_hyper(name, value, low=0.0, high=math.inf, *, low_open=False, high_open=True):
    """Raise ValueError unless ``low <= value < high`` (with the given openness), finite."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"fastopt: {name} must be a real number, got {value!r}") from None
    ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok or math.isnan(v) or math.isinf(v):
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"fastopt: invalid {name}: {value!r}; expected a finite value in "
                         f"{lo}{low}, {high}{hi}")
    return v


def _address_range(a):
    start = a.__array_interface__["data"][0]
    return start, start + a.nbytes


def check_param(p, where):
    """Raise unless p can be stepped in place by fastopt (``where`` names it in messages)."""
    if not isinstance(p, np.ndarray):
        raise TypeError(f"fastopt: {where} must be a numpy.ndarray, got {type(p).__name__}")
    if p.dtype not in (np.float32, np.float64) or not p.dtype.isnative:
        raise TypeError(f"fastopt: {where} has dtype {p.dtype}; fastopt steps native float32 "
                        f"and float64 arrays")
    if not p.flags.c_contiguous:
        raise ValueError(f"fastopt: {where} is not C-contiguous; fastopt updates params in "
                         f"place and never copies")
    if not p.flags.aligned:
        raise ValueError(f"fastopt: {where} is not aligned to its dtype")
    if not p.flags.writeable:
        raise ValueError(f"fastopt: {where} is read-only")


def check_no_overlap(params):
    """Raise if two params are the same array or share memory."""
    spans = sorted((_address_range(p) + (i,) for i, p in enumerate(params) if p.nbytes),
                   key=lambda s: s[0])
    for (s0, e0, i0), (s1, e1, i1) in zip(spans, spans[1:]):
        if s1 < e0:
            raise ValueError(f"fastopt: params {min(i0, i1)} and {max(i0, i1)} share memory "
                             f"(the same array twice, or overlapping views)")


class Optimizer:
    """Base class of fastopt's NumPy optimizers; see the module docstring."""

    _kernel = None
    _row_kernel = None

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self._validate_group(self.defaults)
        # -1: no dense kernel (sparse-only or row-wise objects) / no row kernel
        self._algo, self._state_keys = (_kernels.algorithm(self._kernel) if self._kernel
                                        else (-1, ()))
        self._row_algo = -1
        if self._row_kernel:
            self._row_algo, row_keys = _kernels.row_algorithm(self._row_kernel)
            if self._algo < 0:
                self._state_keys = row_keys
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

    def _kernel_hyper(self, group):
        raise NotImplementedError

    def _new_state(self, p, group):
        raise NotImplementedError

    def _check_group(self, group):
        """Validate a group's hyper-parameters (by default: those the kernel takes)."""
        self._kernel_hyper(group)

    def _validate_group(self, group):
        """_check_group, plus: every flag (a hyper-parameter whose default is a bool) must be
        a bool, so ``maximize=None`` or ``"no"`` fails here, not at the first step."""
        for key in _flag_keys(type(self)):
            if key in group and not isinstance(group[key], (bool, np.bool_)):
                raise ValueError(f"fastopt: {key} must be True or False, got {group[key]!r}")
        self._check_group(group)

    def _row_hyper(self, group, sparse):
        raise NotImplementedError

    def _row_hyper_of(self, i, sparse):
        """_row_hyper for param i's group; errors name param i. Called by the step only for
        params whose gradient goes through the row kernel."""
        start = 0
        for group in self.param_groups:
            if i < start + len(group["params"]):
                break
            start += len(group["params"])
        try:
            return self._row_hyper(group, sparse)
        except (TypeError, ValueError) as e:
            message = str(e).removeprefix("fastopt: ")
            raise type(e)(f"fastopt: param {i}: {message}") from None

    # ---- param groups ----

    def _all_params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def add_param_group(self, param_group):
        """Add a group (a dict with ``params`` and optional hyper-parameters), as torch does."""
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
        for j, p in enumerate(params):
            check_param(p, f"param {len(existing) + j}")
        check_no_overlap(existing + params)
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        group["params"] = params
        self._validate_group(group)
        start = len(existing)
        new_state = {start + j: self._new_state(p, group) for j, p in enumerate(params)}
        self.param_groups.append(group)
        self.state.update(new_state)

    # ---- the step ----

    def step(self, grads):
        """Update every param in place from its gradient (``grads`` in param order).

        A ``None`` gradient skips its param (its state and step count stay). Optimizers with
        a row kernel also take ``fastopt.SparseRows`` for 2-D params. The step is
        all-or-nothing: every param, gradient and state buffer of every group is validated
        before anything is written.
        """
        groups = self.param_groups
        if self._algo < 0:
            params = self._all_params() if len(groups) > 1 else groups[0]["params"]
            hypers = None
        elif len(groups) == 1:
            params = groups[0]["params"]
            hypers = self._kernel_hyper(groups[0])
        else:
            params, hypers = [], []
            for group in groups:
                h = self._kernel_hyper(group)
                params.extend(group["params"])
                hypers.extend([h] * len(group["params"]))
        if self._row_algo < 0:
            _kernels.state_step(self._algo, params, grads, self.state, hypers, -1, None,
                                type(self).__name__)
        else:
            _kernels.state_step(self._algo, params, grads, self.state, hypers, self._row_algo,
                                self._row_hyper_of, type(self).__name__)

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
                self._validate_group(new)
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
                new_state[i] = self._new_state(p, group)
        self.param_groups = new_groups
        self.state = new_state

    def _load_param_state(self, p, saved, i, group):
        """A validated copy of one param's saved state, fitted to p."""
        if not isinstance(saved, dict):
            raise ValueError(f"fastopt: param {i}: saved state must be a dict")
        fresh = self._new_state(p, group)
        missing = set(fresh) - set(saved)
        extra = set(saved) - set(fresh)
        if missing or extra:
            raise ValueError(f"fastopt: param {i}: saved state has keys {sorted(saved)}, "
                             f"expected {sorted(fresh)}")
        # A gated buffer (registry "name?gate") that a fresh state holds as None (SGD's
        # momentum_buffer without momentum) loads as None or, if saved, as a checked array.
        optional = self._optional_keys()
        out = {}
        for key, ref in fresh.items():
            value = saved[key]
            if key == "step":
                out[key] = _load_step(value, i)
            elif ref is None and key in optional:
                out[key] = None if value is None else _load_buffer(value, p, i, key)
            elif isinstance(ref, np.ndarray):
                out[key] = _load_buffer(value, ref, i, key)
            else:
                out[key] = copy.deepcopy(value)
        return out

    def _optional_keys(self):
        """State keys of buffers the kernel needs only under some hyper-parameters."""
        if self._algo >= 0:
            gates = _kernels._STATE_GATES[self._algo]
        else:  # a row kernel only (SparseAdam, RowwiseAdagrad)
            gates = _kernels._ROW_STATE_GATES[self._row_algo]
        return {key for key, gate in zip(self._state_keys, gates) if gate >= 0}

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


def _load_step(value, i):
    try:
        v = float(np.asarray(value))
    except (TypeError, ValueError):
        raise ValueError(f"fastopt: param {i}: saved 'step' is not a number: {value!r}") from None
    # below 2**53: exact in a double, and far inside the kernels' int64
    if not (0 <= v < 2.0 ** 53 and v == int(v)):
        raise ValueError(f"fastopt: param {i}: saved 'step' must be a whole number in "
                         f"[0, 2**53), got {value!r}")
    return int(v)


def _load_buffer(value, ref, i, key):
    """value as a fresh C-contiguous copy with ref's dtype; ref's shape is required."""
    if value is None:
        raise ValueError(f"fastopt: param {i}: saved {key!r} is None, but the group's "
                         f"hyper-parameters need it")
    try:
        a = np.asarray(value)
    except Exception as e:  # e.g. a CUDA tensor
        raise ValueError(f"fastopt: param {i}: saved {key!r} cannot be read as an array: "
                         f"{e}") from None
    if a.dtype.kind != "f":
        raise ValueError(f"fastopt: param {i}: saved {key!r} has dtype {a.dtype}, "
                         f"expected floating point")
    if a.shape != ref.shape:
        raise ValueError(f"fastopt: param {i}: saved {key!r} has shape {a.shape}, expected "
                         f"{ref.shape}")
    return np.array(a, dtype=ref.dtype, order="C", copy=True)
