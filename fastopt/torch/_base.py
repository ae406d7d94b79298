"""What every fastopt.torch optimizer shares: a ``torch.optim.Optimizer`` whose step is one plan.

Adding an algorithm
-------------------
An algorithm with a kernel and a module ``fastopt/optim/<name>.py`` (its ``ALGORITHM``:
kernels and hyper translation) becomes a torch optimizer with one small class in
``fastopt/torch/<name>.py``, exported from ``fastopt/torch/__init__.py``. The class gives:

``algorithm``
    The algorithm of ``fastopt/optim/<name>.py`` (the same hyper translation the NumPy class
    and the functional step use). Its kernel's state names are torch's state keys.
``__init__``
    torch.optim 2.13's exact signature and defaults, building ``defaults`` with torch's keys
    in torch's order (``foreach``, ``fused``, ``capturable``, ``differentiable`` included
    where torch has them), then ``super().__init__(params, defaults)``.
``_init_state(p, group)``
    A new state dict for ``p``, exactly as torch creates it (``self._new_step()`` for the
    counter; buffers ``torch.zeros_like(p, memory_format=torch.preserve_format)``).

and, where the algorithm differs from these defaults: ``_eager_state = True`` (torch creates
state in ``__init__``: Adagrad), ``_step_key = None`` (no step counter: SGD; the kernel then
gets step 1 when the param's state or a buffer is created for this step, 2 afterwards),
``_step_tensor = False`` (the counter is a Python int: SparseAdam), ``_check_group(group)``
(settings the kernel never sees), ``_sparse_error`` (the exception a sparse gradient gets for
settings the row step cannot honour: RuntimeError for Adagrad, as torch).

The step (see ``fastopt/_plan.pxi`` for the three phases): every group's settings are checked
and translated and every step counter located; then each param with a grad is added to one
plan, dense grads as records of the tensors' own memory (``Plan.add_raw``: zero-copy, step
counters read and incremented in C), sparse COO grads (and classes with no dense kernel) as
NumPy views (``Plan.add``, the COO ``_indices()``/``_values()`` as they are, uncoalesced);
then one C call. All or nothing; errors name the param (its index across groups).

When every param of that step took the dense path, the plan is kept as a
``fastopt._kernels.SteadyStep`` (``fastopt/_steady_step.pxi``): the next steps check, in C,
that only grads and settings changed and run that plan again with the new grads (the same
checks of grads, settings, overlaps and counters); anything else falls back to the full step,
which reports it and keeps a new plan.

A note on this package's name: inside fastopt, ``import torch`` is the real torch (absolute
imports); never import it relatively.
"""
from collections import defaultdict

import numpy as np
import torch

from fastopt import _kernels
from fastopt.torch import _half
from fastopt.torch._hooks import STEADY_TORCH_CALLS, _with_step_hooks
from fastopt.torch._state import (fit_state, restore_scalar_dtypes, saved_scalar_dtypes,
                                  saved_tensors, scalar_dtype)
from fastopt.torch._tensors import (STRIDED, _what, array, cached_counter, cached_record,
                                    counter, describe, record, sparse_rows)

#: torch.optim's implementation switches and the value each must keep here ("no-op"): fastopt
#: always runs its own fused CPU kernel.
NOOP_FLAGS = {"foreach": None, "fused": None, "capturable": False, "differentiable": False}

#: The argument doc of each of these switches, written once: a class's docstring lists the
#: ones its signature has with :func:`noop_flags_doc`.
NOOP_FLAG_DOCS = {
    "foreach": "foreach (None or False): accepted for compatibility (fastopt always runs one "
               "fused\n            kernel call); must stay None or False (default: None).",
    "capturable": "capturable (False): accepted for compatibility; must stay False.",
    "differentiable": "differentiable (False): accepted for compatibility; must stay False.",
    "fused": "fused (None or False): accepted for compatibility; must stay None or False.",
}


def noop_flags_doc(*names):
    """The Args lines of the switches ``names``, in that order, indented as a class
    docstring's Args entries (the first line's indent is the template's)."""
    return "\n        ".join(NOOP_FLAG_DOCS[name] for name in names)


_increment_version = torch._C._increment_version
_grad_enabled = torch._C.is_grad_enabled
_torch_threads = torch.get_num_threads
_threads_setting = _kernels.threads_setting
_set_grad_enabled = torch._C._set_grad_enabled


_PLAIN = (float, int, bool, type(None), str)


def _holds_tensor(v):
    t = type(v)
    if t in _PLAIN:
        return False
    if isinstance(v, torch.Tensor):
        return True
    return isinstance(v, (tuple, list)) and any(isinstance(x, torch.Tensor) for x in v)


def _message(e):
    text = str(e)
    return text[len("fastopt: "):] if text.startswith("fastopt: ") else text


class _SparseSettingError(ValueError):
    """A group setting the row step cannot honour (raised as the class's _sparse_error)."""


class Optimizer(torch.optim.Optimizer):
    """Base class of fastopt.torch's optimizers; see the module docstring for the contract.

    The step checks everything (params, grads, state, every group's settings) before it
    writes anything, then updates every param that has a grad in one C call on the tensors'
    own memory: no copies of params, grads or state. Params whose ``.grad`` is None are
    skipped, as torch does.
    """

    algorithm = None
    _step_key = "step"
    _step_tensor = True
    _eager_state = False
    _sparse_error = ValueError   # what settings a row step cannot honour raise
    _dense_error = TypeError     # what a dense grad raises where only sparse ones are taken
    _records = {}       # id -> (tensor, record, shape): params and state seen last step
    _steady = _kernels.SteadyStep()   # the last full step's plan, while it fits (empty here)

    def __init__(self, params, defaults, *, master_weights=False, state_dtype=None, seed=0):
        if self.algorithm is None:
            raise TypeError("fastopt.torch.Optimizer is abstract; use an algorithm's class")
        try:
            defaults = dict(defaults, **_half.options(master_weights, state_dtype,
                                                      seed))
        except (TypeError, ValueError) as e:
            raise type(e)(f"fastopt.torch.{type(self).__name__}: {e}") from None
        self._group_scalars(defaults, None, False)
        super().__init__(params, defaults)
        if self._eager_state:
            with torch.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        self.state[p] = self._fresh_state(p, group)

    # ---- what algorithm classes provide (see the module docstring) ----

    def _init_state(self, p, group):
        raise NotImplementedError

    def _check_group(self, group):
        """Check settings the kernel never sees; raise ValueError."""

    def _fresh_state(self, p, group):
        """_init_state in the dtypes the group's half-precision settings keep (_half.py)."""
        return _half.fresh_state(p, group, lambda q: self._init_state(q, group),
                                 self._buffer_keys())

    def _buffer_keys(self):
        """The state keys of buffers like the param (not scalar state, not the counter)."""
        alg = self.algorithm
        return tuple(k for k in alg.state_names if k not in alg.scalar_state)

    def _init_buffer(self, p, name, group):
        """A buffer a flag switched on after the state was made: zeros like p."""
        return torch.zeros_like(p, memory_format=torch.preserve_format)

    def _new_step(self):
        """A new step counter, as torch.optim makes it (a 0-d float32 tensor, float64 if the
        default dtype is float64)."""
        return torch.tensor(0.0, dtype=scalar_dtype())

    # ---- settings ----

    def _group_scalars(self, group, gi, sparse):
        """The kernel's scalars for a group, after checking all of its settings."""
        where = "the defaults" if gi is None else f"param group {gi}"
        name = type(self).__name__
        for flag, noop in NOOP_FLAGS.items():
            value = group.get(flag, noop)
            if not (value is None or value is False):
                raise ValueError(f"fastopt.torch.{name}: {flag}={value!r} in {where} is not "
                                 f"supported: fastopt always runs its own fused CPU kernel, "
                                 f"so leave {flag} at {noop!r}")
        tensors = sorted(k for k, v in group.items() if k != "params" and _holds_tensor(v))
        if tensors:
            raise TypeError(f"fastopt: {where}: {', '.join(tensors)} must be Python numbers, "
                            f"not tensors (tensor hyper-parameters serve capturable and "
                            f"compiled steps, which fastopt.torch does not run)")
        try:
            scalars = self.algorithm.hyper(group)
            self._check_group(group)
            _half.check_group(group)
        except KeyError as e:
            raise ValueError(f"fastopt: {where} has no {e.args[0]!r}") from None
        except (ValueError, TypeError) as e:
            raise type(e)(f"fastopt: {where}: {_message(e)}") from None
        if not sparse:
            return scalars
        try:
            return self.algorithm.row_hyper(group)
        except ValueError as e:
            raise _SparseSettingError(_message(e)) from None

    def _cached_scalars(self, group, gi, sparse):
        """_group_scalars as a Scalars, reused while the group's settings are the very same
        objects as at the last step (a scheduler that sets a new lr makes them differ)."""
        cache = self.__dict__.get("_settings")
        if cache is None:
            cache = self._settings = _kernels.SettingsCache()
        alg = self.algorithm
        kernel = alg.row_kernel if sparse else (alg.kernel or alg.dense)
        return cache.get((gi, sparse), group, kernel, self._group_scalars, (group, gi, sparse))

    # ---- param groups ----

    def add_param_group(self, param_group):
        """torch's add_param_group, plus fastopt's checks of the new group and its params
        (on error the group is not added)."""
        before = len(self.param_groups)
        super().add_param_group(param_group)
        if len(self.param_groups) > before:
            group = self.param_groups[-1]
            try:
                self._group_scalars(group, before, False)
                start = sum(len(g["params"]) for g in self.param_groups[:-1])
                for j, p in enumerate(group["params"]):
                    rec = record(p, f"param {start + j}")
                    if not _kernels.is_dense(rec[2], rec[3]):
                        raise ValueError(f"fastopt: param {start + j}: param is not one dense "
                                         f"block of memory (shape {rec[2]}, strides {rec[3]}); "
                                         f"fastopt steps tensors in place and never copies")
            except Exception:
                self.param_groups.pop()
                raise

    # ---- the step ----

    def step(self, closure=None):
        """Perform a single optimization step.

        Args:
            closure (Callable, optional): A closure that reevaluates the model and returns
                the loss (run under ``torch.enable_grad()``).
        """
        if closure is None:
            if self._steady.step(self):   # only grads and settings changed, no hooks: in C
                return None
            return self._hooked_step()
        return self._hooked_step(closure)

    step.hooked = True   # torch's _patch_step_function leaves it alone: hooks run in _hooked_step

    @_with_step_hooks
    def _hooked_step(self, closure=None):
        """The step under torch.optim's step hooks and profiler range."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # torch's thread count, as its fused kernels use, unless fastopt's is set
        threads = 0 if _threads_setting()[0] else _torch_threads()
        stepped = self._steady.run(self.param_groups, self.state, threads)
        if stepped is None:   # something else than grads and settings changed: check it all
            grad_was = _grad_enabled()
            _set_grad_enabled(False)   # torch.no_grad(), at a tenth of its cost
            try:
                stepped = self._step(threads)
            finally:
                _set_grad_enabled(grad_was)
        if stepped:
            _increment_version(stepped)  # as torch's in-place ops do, for autograd's checks
        return loss

    def _step(self, threads):
        alg = self.algorithm
        groups = self.param_groups
        state = self.state
        plan = _kernels.Plan(8)
        handles = {}
        adds, commits, counters, stepped = [], [], [], []
        seen = {}
        index = 0
        step_key = self._step_key
        # phase 1: every setting and step counter; new state (committed after the write)
        for gi, group in enumerate(groups):
            for p in group["params"]:
                g = p.grad
                if g is None:
                    index += 1
                    continue
                if seen.setdefault(id(p), index) != index:
                    raise ValueError(f"fastopt: param {index} is the same tensor as param "
                                     f"{seen[id(p)]}; list each param once")
                raw = alg.kernel is not None and g.layout is STRIDED
                sparse = not raw and g.layout is not STRIDED
                kernel = alg.kernel if raw else (alg.row_kernel if sparse else alg.dense)
                if not sparse and not raw and not alg.dense_grads:
                    raise self._dense_error(
                        f"fastopt: param {index}: {type(self).__name__} does not support "
                        f"dense gradients, please consider Adam instead (as torch.optim."
                        f"{type(self).__name__})")
                if sparse and alg.row_kernel is None:
                    raise ValueError(
                        f"fastopt: param {index}'s grad is sparse ({g.layout}); "
                        f"{type(self).__name__} steps dense gradients only (sparse COO "
                        f"gradients: fastopt.torch.Adagrad, SGD, SparseAdam, RowwiseAdagrad)")
                if kernel is None:
                    try:
                        alg.route(_kernels.SparseRows((), ()) if sparse else g)
                    except TypeError as e:
                        raise TypeError(f"fastopt: param {index}: {_message(e)}") from None
                key = (gi, sparse)
                entry = handles.get(key)
                if entry is None:
                    try:
                        scalars = self._cached_scalars(group, gi, sparse)
                    except _SparseSettingError as e:
                        raise self._sparse_error(f"fastopt: param {index}: {e}") from None
                    entry = handles[key] = (plan.hyper(kernel, scalars), scalars)
                st = dict.get(state, p)
                fresh = not st
                if fresh:
                    st = self._fresh_state(p, group)
                elif type(st) is not dict:
                    raise TypeError(f"fastopt: param {index}: its state must be a dict, got "
                                    f"{type(st).__name__}")
                changed = fresh
                bufs = []
                for j, (name, gate) in enumerate(zip(kernel.state_names, kernel.gates)):
                    if (gate is not None and not entry[1][gate]) or (
                            kernel.factored[j] is not None and not kernel.for_ndim(j, p.dim())):
                        bufs.append(None)   # off, or factored state another shape keeps
                        continue
                    b = st.get(name)
                    if b is None:
                        if not changed:
                            st, changed = dict(st), True
                        b = st[name] = _half.fit_buffer(p, group,
                                                        self._init_buffer(p, name, group))
                        fresh = True
                    bufs.append(b)
                step = 1 if fresh else 2
                step_t = None
                if step_key is not None:
                    if step_key not in st:
                        raise ValueError(f"fastopt: param {index}: its state has no "
                                         f"{step_key!r}")
                    step_t = st[step_key]
                    what = (index, f"'s state {step_key!r}")
                    if not self._step_tensor:
                        if type(step_t) is not int or step_t < 0:
                            raise TypeError(f"fastopt: {_what(what)} must be an int >= 0 (as "
                                            f"torch.optim keeps it), got {describe(step_t)}")
                        step = step_t + 1
                    elif not raw:
                        counter(step_t, what)
                        new = float(step_t) + 1.0
                        if step_t.dtype == torch.float32:
                            new = float(np.float32(new))
                        step = int(new)
                if changed and st:  # torch keeps no entry for a stateless param (SGD)
                    commits.append((p, st))
                master = st.get("master") if _half.has_master(p, group) else None
                adds.append((raw, kernel, index, p, g, bufs, entry[0], step, st, step_t,
                             master, group.get("seed", 0)))
                stepped.append(p)
                index += 1
        # phase 2: every buffer
        cache, new_cache = self._records, {}
        for raw, kernel, index, p, g, bufs, h, step, st, step_t, master, seed in adds:
            if raw:
                names = kernel.state_names
                recs = []
                for j, b in enumerate(bufs):
                    recs.append(None if b is None else cached_record(
                        cache, new_cache, b, (index, f"'s state {names[j]!r}")))
                prec = cached_record(cache, new_cache, p, (index, ""))
                grec = record(g, (index, "'s grad"))
                mrec = None if master is None else cached_record(
                    cache, new_cache, master, (index, "'s state 'master'"))
                if step_t is not None and self._step_tensor:
                    kind, addr = cached_counter(cache, new_cache, step_t,
                                                (index, f"'s state {step_key!r}"))
                    plan.add_raw(kernel, index, prec, grec, tuple(recs), h, step, addr, kind,
                                 mrec, seed)
                else:
                    plan.add_raw(kernel, index, prec, grec, tuple(recs), h, step, 0, 0, mrec,
                                 seed)
            else:
                self._add_view(plan, kernel, index, p, g, bufs, h, step, master, seed)
                if step_t is not None:
                    counters.append((st, step_t, step))
        # phase 3: one C call
        try:
            plan.run(threads)
        except (TypeError, ValueError, IndexError) as e:
            if "SparseRows" not in str(e):
                raise
            raise type(e)(str(e).replace("SparseRows", "sparse grad")) from None
        self._records = new_cache
        # written: commit new state and count the steps of the view path, as torch does
        for p, st in commits:
            state[p] = st
        for st, step_t, new in counters:
            if self._step_tensor:
                step_t.fill_(new)
            else:
                st[step_key] = new
        if adds and not counters and all(a[0] and a[10] is None for a in adds):
            # (a param with master weights always takes the full step, which finds them)
            # every param dense: keep this plan for the next steps (fastopt/_steady_step.pxi)
            steady = _kernels.SteadyStep()
            steady.build(alg.kernel, plan, groups,
                         [(a[2], a[3], dict.get(state, a[3]), a[5], a[9]) for a in adds],
                         step_key, self._settings, self._group_scalars, STEADY_TORCH_CALLS)
            self._steady = steady
        return stepped

    def _add_view(self, plan, kernel, index, p, g, bufs, h, step, master, seed):
        """A param of the row path: NumPy views of its tensors (checked as tensors first)."""
        what = f"param {index}"
        record(p, what)
        sparse = g.layout is not STRIDED
        if sparse:
            grad = sparse_rows(p, g, f"{what}'s grad")
        else:
            record(g, f"{what}'s grad")
            grad = array(g)
        a = array(p)
        if sparse:
            a = a.reshape(a.shape[0], grad.values.shape[1])
        views = []
        for b, name, row in zip(bufs, kernel.state_names, kernel.per_row):
            if b is None:
                views.append(None)
                continue
            record(b, f"{what}'s state {name!r}")
            v = array(b)
            views.append(v.reshape(a.shape) if sparse and not row and v.shape != a.shape
                         and v.size == a.size else v)
        if master is not None:
            record(master, f"{what}'s state 'master'")
            if master.shape != p.shape or not master.is_contiguous():
                raise ValueError(f"fastopt: {what}'s state 'master' must be a contiguous "
                                 f"tensor of the param's shape {tuple(p.shape)}, got "
                                 f"{describe(master)}")
            master = array(master).reshape(a.shape)
        plan.add(kernel, index, a, grad, tuple(views), h, step, master, seed)

    # ---- state dicts and pickling ----

    def load_state_dict(self, state_dict):
        """torch's load_state_dict, then made to fit the kernels.

        Loads state dicts saved by this class or by its torch.optim twin (both ways). The
        saved ``foreach`` / ``fused`` / ``capturable`` / ``differentiable`` flags are replaced
        by this optimizer's own (they choose an implementation, not the math); state buffers
        are made CPU tensors of the param's dtype and layout, and step counters one-element
        float tensors, copying only what does not fit already; scalar state (NAdam's
        ``mu_product``, ASGD's ``eta`` and ``mu``) keeps its saved float32 or float64 dtype
        (torch casts it to the param's), so that a resumed run goes on as an uninterrupted
        torch run does.
        """
        own = [{k: g[k] for k in NOOP_FLAGS if k in g} for g in self.param_groups]
        scalar_dtypes = saved_scalar_dtypes(state_dict, self.algorithm.scalar_state)
        saved = saved_tensors(state_dict, self._buffer_keys() + ("master",))
        super().load_state_dict(state_dict)
        for group, flags in zip(self.param_groups, own):
            group.update(flags)
        restore_scalar_dtypes(self, scalar_dtypes)
        _half.refit(self, saved, self._buffer_keys())

    def __setstate__(self, state):
        state = dict(state)
        if isinstance(state.get("state"), dict):
            raw = state["state"]
            fitted = defaultdict(dict)
            for key, value in raw.items():
                fitted[key] = fit_state(key, value, self._step_key, self._step_tensor,
                                        self.algorithm.state_names,
                                        self.algorithm.scalar_state)
            state["state"] = fitted
        else:
            raw = None
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)
        if raw:   # half precision: the dtypes each group keeps, from the pickled tensors
            keys = self._buffer_keys() + ("master",)
            params = [p for g in self.param_groups for p in g["params"]]
            _half.refit(self, {(pos, k): raw[p][k] for pos, p in enumerate(params)
                               if isinstance(raw.get(p), dict) for k in keys if k in raw[p]},
                        self._buffer_keys())
