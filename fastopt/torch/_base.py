"""What every fastopt.torch optimizer shares: a ``torch.optim.Optimizer`` whose step is one C call.

Adding an algorithm
-------------------
An algorithm whose kernel is registered (src_c/kernels/registry.h) and whose NumPy side exists
(fastopt/optim/<name>.py with ``kernel_hyper``) becomes a torch optimizer with one small class
in fastopt/torch/<name>.py, exported from fastopt/torch/__init__.py. The class provides:

``_kernel``
    The kernel's registry name (``"adagrad"``). Its registry state names must be torch's state
    keys (``"sum"``, ``"exp_avg"``, ``"momentum_buffer?4"``, ...): they name the state tensors.
``__init__``
    torch.optim 2.13's exact signature and defaults (keyword-only markers included), building
    the ``defaults`` dict with torch's keys in torch's order (the flags ``foreach``, ``fused``,
    ``capturable``, ``differentiable`` included where torch has them), then
    ``super().__init__(params, defaults)``.
``_kernel_hyper(group)``
    The kernel's hyper tuple for a param group: call ``fastopt.optim.<name>.kernel_hyper`` with
    the group's values, in the kernel's convention (e.g. ``eps_inside_sqrt=False``). It raises
    ValueError for invalid values; it runs once per group per step, so keep it plain.
``_init_state(p, group)``
    A new state dict for ``p``, exactly as torch creates it: the step counter from
    ``self._new_step()`` (if the algorithm has one) and each buffer (``torch.zeros_like(p,
    memory_format=torch.contiguous_format)`` or torch's initial value). Torch's quirks are
    kept (torch.optim.Adagrad initializes ``sum`` from the *constructor's*
    ``initial_accumulator_value``, not the group's).

and, where the algorithm differs from the defaults below:

``_eager_state = True``
    torch creates the state in ``__init__`` (Adagrad) rather than at a param's first step with
    a grad (the default, as SGD, RMSprop, Adadelta, Adam, AdamW do).
``_step_key = None``
    torch's state has no step counter (SGD). The kernel then gets step 1 when the param's
    state or a needed buffer was created for this step (lazily, so not with
    ``_eager_state``) and 2 afterwards, so it can tell the first step (SGD sets
    ``momentum_buffer = grad`` on it).
``_init_buffer(p, key, group)``
    A buffer created when an optional (gated) buffer is needed but absent, e.g. SGD's
    ``momentum_buffer`` once momentum != 0; default zeros.
``_check_group(group)``
    Checks of hyper-parameters the kernel never sees (``initial_accumulator_value``); raise
    ValueError.

Sparse gradients (``nn.Embedding(sparse=True)``, ``nn.EmbeddingBag(sparse=True)``): a class
takes them by naming a row kernel (registry.h's FO_ROW_ALGORITHM table) and translating a
group for it:

``_row_kernel``
    The row kernel's registry name (``"adagrad_rows"``). Its state names must be among the
    dense kernel's (they name the same tensors); a class with no dense kernel (``_kernel =
    None``: SparseAdam, RowwiseAdagrad) runs every step through it, dense grads as "every
    row".
``_row_hyper(group, sparse)``
    The row kernel's hyper tuple for a group; raise (RuntimeError as torch, or ValueError)
    for what the row step cannot do (Adagrad: weight_decay != 0 with a sparse grad).
    ``sparse`` is False only for a dense grad of a class without a dense kernel; raising
    then makes the class sparse-only (SparseAdam).
``_step_tensor = False``
    torch keeps the step counter as a Python int (SparseAdam), not a tensor.

SGD (no momentum) opts in with ``_row_kernel = "sgd_rows"`` and ``def _row_hyper(self, group,
sparse): return fastopt.optim.sgd.sgd_row_hyper(group)``.

A step with a sparse COO grad (or of a class without a dense kernel) takes ``_step_rows``
instead of the pointer plan: everything (every group, param, grad, index and state) is
validated, then one all-or-nothing call (``fastopt._kernels.state_step``: the row kernel for
sparse grads, the dense kernel for the rest) on NumPy views of the tensors' own memory; the
COO ``_indices()`` and ``_values()`` go to C as they are (uncoalesced: repeats are summed in
C, in order of appearance), nothing is densified or coalesced. Indices are range-checked
every step.

Everything else is here and generic: validation (with errors naming the param and the group,
raised before anything is written, over all groups), the no-op-only ``foreach`` / ``fused`` /
``capturable`` / ``differentiable`` flags, tensor hyper-parameters refused, lazy state, the
pointer plan (``fastopt._kernels.TensorPlan``: built once, re-checked cheaply each step, one C
call per step), the step hooks and profiler range, state-dict loading (torch's, made to fit the
kernels), the autograd version counters.

A note on this package's name: inside fastopt, ``import torch`` is the real torch (absolute
imports); never import it relatively.
"""
import functools
from collections import defaultdict
from itertools import chain

import numpy as np
import torch
from torch.optim import optimizer as _torch_optimizer

from fastopt import _kernels

_STRIDED = torch.strided
_SPARSE_COO = torch.sparse_coo
_STEP_INT = -1     # a Python int step counter (torch.optim.SparseAdam); never in a TensorPlan
_DTYPE_CODES = {torch.float32: 0, torch.float64: 1}
_STEP_KINDS = {torch.float32: _kernels.STEP_F32, torch.float64: _kernels.STEP_F64}

#: torch.optim's implementation switches and the value each must keep here ("no-op"): fastopt
#: always runs its own fused CPU kernel.
NOOP_FLAGS = {"foreach": None, "fused": None, "capturable": False, "differentiable": False}

_profiler_enabled = torch._C._autograd._profiler_enabled
_increment_version = torch._C._increment_version


def _scalar_dtype():
    """torch.optim's dtype for step counters (float32 unless the default dtype is float64)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _holds_tensor(v):
    if isinstance(v, torch.Tensor):
        return True
    return isinstance(v, (tuple, list)) and any(isinstance(x, torch.Tensor) for x in v)


def _all_numbers(hypers):
    """Every value a Python float, int or bool (not a tensor, not a NumPy number)."""
    for h in hypers:
        for x in h:
            t = type(x)
            if t is not float and t is not int and t is not bool:
                return False
    return True


def _message(e):
    text = str(e)
    return text[len("fastopt: "):] if text.startswith("fastopt: ") else text


def check_tensor(t, what):
    """``(dtype code, data pointer)`` of a tensor fastopt can step in place; else raise.

    ``what`` names it in the message ("param 3", "param 3's grad", "param 3's state 'sum'").
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"fastopt: {what} must be a torch.Tensor, got {type(t).__name__}")
    if t.layout is not _STRIDED:
        raise ValueError(f"fastopt: {what} has layout {t.layout}; fastopt.torch steps dense "
                         f"(strided) tensors only")
    if t.device.type != "cpu":
        raise ValueError(f"fastopt: {what} is on device {t.device}; fastopt.torch steps CPU "
                         f"tensors only (keep params and optimizer on the CPU, as in "
                         f"ZeRO-Offload, or use torch.optim on this device)")
    code = _DTYPE_CODES.get(t.dtype)
    if code is None:
        hint = (" (complex params: step torch.view_as_real(p) instead)" if t.is_complex()
                else " (half precision: keep float32 master params)"
                if t.dtype in (torch.float16, torch.bfloat16) else "")
        raise TypeError(f"fastopt: {what} has dtype {t.dtype}; fastopt steps float32 and "
                        f"float64 tensors{hint}")
    if not t.is_contiguous():
        raise ValueError(f"fastopt: {what} is not contiguous (strides {t.stride()} for shape "
                         f"{tuple(t.shape)}); fastopt updates tensors in place and never "
                         f"copies: make it contiguous before building the optimizer")
    try:
        ptr = t.data_ptr()
    except RuntimeError as e:
        raise ValueError(f"fastopt: {what} has no memory fastopt can address ({e})") from None
    return code, ptr


def check_grad(p, g, what):
    """The grad's data pointer if it fits param p; else raise (``what`` names the grad)."""
    if isinstance(g, torch.Tensor) and g.layout is not _STRIDED:
        raise ValueError(f"fastopt: {what} is sparse ({g.layout}); this optimizer steps "
                         f"dense gradients only (sparse COO gradients: fastopt.torch.Adagrad, SGD, "
                         f"SparseAdam, RowwiseAdagrad)")
    _, ptr = check_tensor(g, what)
    if g.dtype != p.dtype:
        raise TypeError(f"fastopt: {what} has dtype {g.dtype} but the param has dtype "
                        f"{p.dtype}")
    if g.shape != p.shape:
        raise ValueError(f"fastopt: {what} has shape {tuple(g.shape)} but the param has shape "
                         f"{tuple(p.shape)}")
    return ptr


def _array(t):
    """A NumPy view of a CPU tensor's memory (no copy)."""
    return (t.detach() if t.requires_grad else t).numpy()


def sparse_rows(p, g, what):
    """A ``fastopt.SparseRows`` viewing a sparse COO grad's own ``_indices()`` / ``_values()``
    (uncoalesced as they are; no copy) for param p, seen as ``rows x dim``; else raise."""
    if g.layout is not _SPARSE_COO:
        raise ValueError(f"fastopt: {what} is sparse ({g.layout}); fastopt.torch steps dense "
                         f"and sparse COO gradients only (nn.Embedding(sparse=True))")
    if g.device.type != "cpu":
        raise ValueError(f"fastopt: {what} is on device {g.device}; fastopt.torch steps CPU "
                         f"tensors only")
    if g.dtype != p.dtype:
        raise TypeError(f"fastopt: {what} has dtype {g.dtype} but the param has dtype "
                        f"{p.dtype}")
    if g.shape != p.shape:
        raise ValueError(f"fastopt: {what} has shape {tuple(g.shape)} but the param has shape "
                         f"{tuple(p.shape)}")
    if g.sparse_dim() != 1:
        raise ValueError(f"fastopt: {what} has sparse_dim {g.sparse_dim()}; fastopt steps "
                         f"row-sparse gradients (sparse_dim 1: whole rows, as nn.Embedding "
                         f"gives)")
    idx, vals = g._indices(), g._values()
    for t, name in ((idx, "indices"), (vals, "values")):
        if not t.is_contiguous():
            raise ValueError(f"fastopt: {what}'s {name} are not contiguous (strides "
                             f"{t.stride()}); fastopt reads them in place and never copies")
    rows = p.shape[0]
    dim = p.numel() // rows if rows else int(np.prod(p.shape[1:]))
    return _kernels.SparseRows(_array(idx).reshape(-1),
                               _array(vals).reshape(vals.shape[0], dim))


def check_step(t, what):
    """``(step kind, data pointer)`` of a step counter tensor; else raise."""
    if not (isinstance(t, torch.Tensor) and t.layout is _STRIDED and t.device.type == "cpu"
            and t.dtype in _STEP_KINDS and t.numel() == 1 and t.is_contiguous()):
        raise TypeError(f"fastopt: {what} must be a one-element float32 or float64 CPU tensor "
                        f"(as torch.optim keeps it), got {_describe(t)}")
    v = float(t)
    if not (v >= 0 and v == int(v) and v < 2.0 ** 53):
        raise ValueError(f"fastopt: {what} must hold a whole number >= 0, got {v!r}")
    return _STEP_KINDS[t.dtype], t.data_ptr()


def _describe(t):
    if isinstance(t, torch.Tensor):
        return f"a {t.dtype} tensor of shape {tuple(t.shape)} on {t.device}"
    return f"{type(t).__name__} {t!r}"


def _with_step_hooks(step):
    """``step`` under torch.optim.Optimizer's step hooks (global and per instance, pre and
    post, as ``Optimizer.profile_hook_step`` calls them), ``_optimizer_step_code`` and its
    profiler range ``Optimizer.step#<Class>.step``, which is opened only while a profiler
    runs: the range costs about 8 us per step, as much as a whole small-model step here."""

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        if _profiler_enabled():
            name = f"Optimizer.step#{self.__class__.__name__}.step"
            with torch.autograd.profiler.record_function(name):
                return _call_with_hooks(step, self, args, kwargs)
        return _call_with_hooks(step, self, args, kwargs)

    wrapper.hooked = True  # torch's _patch_step_function leaves it alone
    return wrapper


def _call_with_hooks(step, self, args, kwargs):
    pre, own_pre = _torch_optimizer._global_optimizer_pre_hooks, self._optimizer_step_pre_hooks
    if pre or own_pre:
        for hook in chain(pre.values(), own_pre.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                if isinstance(result, tuple) and len(result) == 2:
                    args, kwargs = result
                else:
                    raise RuntimeError(f"{step} must return None or a tuple of "
                                       f"(new_args, new_kwargs), but got {result}.")
    out = step(self, *args, **kwargs)
    self._optimizer_step_code()
    own_post, post = self._optimizer_step_post_hooks, _torch_optimizer._global_optimizer_post_hooks
    if own_post or post:
        for hook in chain(own_post.values(), post.values()):
            hook(self, args, kwargs)
    return out


class Optimizer(torch.optim.Optimizer):
    """Base class of fastopt.torch's optimizers; see the module docstring for the contract.

    The step validates everything (params, grads, state, hyper-parameters of every group)
    before it writes anything, then updates every param that has a grad in one C call on the
    tensors' own memory: no copies of params, grads or state. Params whose ``.grad`` is None
    are skipped, as torch does.
    """

    _kernel = None
    _row_kernel = None
    _step_key = "step"
    _step_tensor = True
    _eager_state = False
    _plan = None        # the TensorPlan in use; None until the first step or after a change
    _algo = _row_algo = -1
    _per_row = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "_kernel" not in cls.__dict__ and "_row_kernel" not in cls.__dict__:
            return
        if cls._kernel is not None:
            cls._algo, cls._buffer_keys = _kernels.algorithm(cls._kernel)
            cls._gates = _kernels._STATE_GATES[cls._algo]
            cls._per_row = (False,) * len(cls._buffer_keys)
        else:
            cls._algo = -1
        cls._row_algo = -1
        if cls._row_kernel is not None:
            cls._row_algo, row_keys = _kernels.row_algorithm(cls._row_kernel)
            if cls._kernel is None:
                cls._buffer_keys = row_keys
                cls._gates = _kernels._ROW_STATE_GATES[cls._row_algo]
                cls._per_row = _kernels._ROW_STATE_PER_ROW[cls._row_algo]
            elif not set(row_keys) <= set(cls._buffer_keys):
                raise TypeError(f"fastopt.torch.{cls.__name__}: row kernel "
                                f"{cls._row_kernel!r} has state {row_keys}, not among kernel "
                                f"{cls._kernel!r}'s {cls._buffer_keys}")

    def __init__(self, params, defaults):
        if self._kernel is None and self._row_kernel is None:
            raise TypeError("fastopt.torch.Optimizer is abstract; use an algorithm's class")
        self._validate_group(defaults, None)
        super().__init__(params, defaults)
        if self._eager_state:
            with torch.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        self.state[p] = self._init_state(p, group)

    # ---- what algorithm classes provide (see the module docstring) ----

    def _kernel_hyper(self, group):
        raise NotImplementedError

    def _init_state(self, p, group):
        raise NotImplementedError

    def _check_group(self, group):
        """Check hyper-parameters the kernel never sees; raise ValueError."""

    def _row_hyper(self, group, sparse):
        raise NotImplementedError

    def _init_buffer(self, p, key, group):
        """A gated buffer that is needed but absent: zeros like p."""
        return torch.zeros_like(p, memory_format=torch.contiguous_format)

    def _new_step(self):
        """A new step counter, as torch.optim makes it (a 0-d float32 tensor, float64 if the
        default dtype is float64)."""
        return torch.tensor(0.0, dtype=_scalar_dtype())

    # ---- hyper-parameters ----

    def _validate_group(self, group, gi):
        """The group's kernel hyper tuple, after checking everything about its settings."""
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
            hyper = self._kernel_hyper(group)
            self._check_group(group)
        except (ValueError, TypeError) as e:
            raise type(e)(f"fastopt: {where}: {_message(e)}") from None
        return hyper

    def _hypers(self, groups):
        """One kernel hyper tuple per group, read afresh each step (schedulers change lr)."""
        if self._plain_groups(groups):
            try:
                hypers = [self._kernel_hyper(g) for g in groups]
            except (ValueError, TypeError):
                pass
            else:
                if _all_numbers(hypers):
                    return hypers
        # something is off (or NumPy numbers): find what and say so, naming the group
        return [self._validate_group(g, gi) for gi, g in enumerate(groups)]

    @staticmethod
    def _plain_groups(groups):
        """No implementation flag switched on in any group (cheap, each step)."""
        for g in groups:
            if g.get("foreach") or g.get("fused") or g.get("capturable") or \
                    g.get("differentiable"):
                return False
        return True

    # ---- param groups ----

    def add_param_group(self, param_group):
        """torch's add_param_group, plus fastopt's checks of the new group and its params
        (on error the group is not added)."""
        before = len(self.param_groups)
        super().add_param_group(param_group)
        if len(self.param_groups) > before:
            group = self.param_groups[-1]
            try:
                self._validate_group(group, before)
                start = sum(len(g["params"]) for g in self.param_groups[:-1])
                for j, p in enumerate(group["params"]):
                    check_tensor(p, f"param {start + j}")
            except Exception:
                self.param_groups.pop()
                raise
        self._plan = None

    # ---- the step ----

    @_with_step_hooks
    def step(self, closure=None):
        """Perform a single optimization step.

        Args:
            closure (Callable, optional): A closure that reevaluates the model and returns
                the loss (run under ``torch.enable_grad()``).
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        groups = self.param_groups
        hypers = self._hypers(groups)
        plan = self._plan
        stepped = None if plan is None else plan.run(groups, self.state, hypers)
        if stepped is None and self._row_algo >= 0 and (self._algo < 0
                                                         or _any_sparse_grad(groups)):
            stepped = self._step_rows(hypers)
        elif stepped is None:
            self._rebuild(hypers)
            stepped = self._plan.run(groups, self.state, hypers)
            if stepped is None:
                raise RuntimeError("fastopt.torch: internal error: the step plan does not fit "
                                   "right after it was built; please report this")
        if stepped:
            _increment_version(stepped)  # as torch's in-place ops do, for autograd's checks
        return loss

    def _rebuild(self, hypers):
        """Validate every group, param, grad and state; then build the step's TensorPlan.

        Raises naming the param (its index across groups, as in state dicts) on the first
        problem; params, grads and state are unchanged then (new state is committed only once
        the plan stands).
        """
        groups = self.param_groups
        for gi, group in enumerate(groups):
            self._validate_group(group, gi)
        slots, sizes, commits, keepalive = [], [], [], []
        seen = {}
        index = 0
        with torch.no_grad():
            for gi, group in enumerate(groups):
                params = group["params"]
                sizes.append(len(params))
                for p in params:
                    code, pptr = check_tensor(p, f"param {index}")
                    if seen.setdefault(id(p), index) != index:
                        raise ValueError(f"fastopt: param {index} is the same tensor as param "
                                         f"{seen[id(p)]}; list each param once")
                    keepalive.append(p.untyped_storage())
                    g = p.grad
                    if g is None:
                        slots.append((gi, index, p, pptr, p.numel(), code, p.dtype, p.shape,
                                      None, None, None, None, 0, _kernels.STEP_NONE, 1, 0))
                    else:
                        gptr = check_grad(p, g, f"param {index}'s grad")
                        slots.append(self._slot(gi, index, p, pptr, code, group, hypers[gi],
                                                gptr, commits, keepalive))
                    index += 1
            plan = _kernels.TensorPlan(self._algo, slots, sizes, list(hypers), _STRIDED,
                                       self._step_key, self._buffer_keys, keepalive)
        for p, st in commits:
            self.state[p] = st
        self._plan = plan

    def _step_rows(self, hypers):
        """The step when a grad is sparse (or the class has no dense kernel); see the module
        docstring. Validated afresh each step (sparse grads are new tensors every step, and
        their indices need a range check anyway); returns the params stepped."""
        groups = self.param_groups   # hypers: checked by _hypers, as for a TensorPlan run
        arrays, grads, states, hyper_list, group_of = [], [], {}, [], []
        commits, counters, stepped = [], [], []
        seen = {}
        index = 0
        keys = self._buffer_keys
        with torch.no_grad():
            for gi, group in enumerate(groups):
                for p in group["params"]:
                    code, pptr = check_tensor(p, f"param {index}")
                    if seen.setdefault(id(p), index) != index:
                        raise ValueError(f"fastopt: param {index} is the same tensor as param "
                                         f"{seen[id(p)]}; list each param once")
                    hyper_list.append(hypers[gi])
                    group_of.append(group)
                    g = p.grad
                    if g is None:
                        arrays.append(None)
                        grads.append(None)
                        index += 1
                        continue
                    what = f"param {index}'s grad"
                    sparse = isinstance(g, torch.Tensor) and g.layout is not _STRIDED
                    if sparse:
                        grad = sparse_rows(p, g, what)
                    else:
                        check_grad(p, g, what)
                        grad = _array(g)
                    slot = self._slot(gi, index, p, pptr, code, group, hypers[gi], 0, commits,
                                      [])
                    st, tensors, step_t, kind, fixed = slot[8], slot[9], slot[11], slot[13], \
                        slot[14]
                    a = p.detach().numpy()
                    shape = grad.values.shape[1:] if sparse else None
                    if sparse:
                        a = a.reshape(a.shape[0], shape[0])
                    bufs = {}
                    for key, t, row in zip(keys, tensors, self._per_row):
                        bufs[key] = None if t is None else (
                            _array(t).reshape(a.shape) if sparse and not row else _array(t))
                    if kind == _kernels.STEP_F32:
                        new = float(np.float32(float(step_t) + 1.0))
                    elif kind == _kernels.STEP_F64:
                        new = float(step_t) + 1.0
                    elif kind == _STEP_INT:
                        new = step_t + 1
                    else:
                        new = fixed
                    bufs["step"] = int(new) - 1
                    states[index] = bufs
                    counters.append((st, step_t, kind, new))
                    arrays.append(a)
                    grads.append(grad)
                    stepped.append(p)
                    index += 1

            def row_hyper(i, sparse):
                try:
                    return self._row_hyper(group_of[i], sparse)
                except (TypeError, ValueError, RuntimeError) as e:
                    raise type(e)(f"fastopt: param {i}: {_message(e)}") from None

            try:
                _kernels.state_step(self._algo, arrays, grads, states,
                                    hyper_list if self._algo >= 0 else None, self._row_algo,
                                    row_hyper, type(self).__name__)
            except (TypeError, ValueError, IndexError) as e:
                if "SparseRows" not in str(e):
                    raise
                raise type(e)(str(e).replace("SparseRows", "sparse grad")) from None
            # ---- written: commit new state and count the step, as torch does ----
            for p, st in commits:
                self.state[p] = st
            for st, step_t, kind, new in counters:
                if kind == _STEP_INT:
                    st[self._step_key] = new
                elif kind != _kernels.STEP_NONE:
                    step_t.fill_(new)
        self._plan = None
        return stepped

    def _slot(self, gi, index, p, pptr, code, group, hyper, gptr, commits, keepalive):
        """The plan slot of a param with a grad: its state validated (created if absent)."""
        st = dict.get(self.state, p)
        fresh = not st
        if fresh:
            st = self._init_state(p, group)
        elif not isinstance(st, dict):
            raise TypeError(f"fastopt: param {index}: its state must be a dict, got "
                            f"{type(st).__name__}")
        changed = fresh
        tensors, ptrs = [], []
        for key, gate, row in zip(self._buffer_keys, self._gates, self._per_row):
            if gate >= 0 and hyper[gate] == 0:
                tensors.append(None)
                ptrs.append(0)
                continue
            buf = st.get(key)
            if buf is None:
                if not changed:
                    st, changed = dict(st), True
                buf = st[key] = self._init_buffer(p, key, group)
                fresh = True
            what = f"param {index}'s state {key!r}"
            bcode, bptr = check_tensor(buf, what)
            if bcode != code:
                raise TypeError(f"fastopt: {what} has dtype {buf.dtype} but the param has "
                                f"dtype {p.dtype}")
            if buf.shape != (p.shape[:1] if row else p.shape):
                raise ValueError(f"fastopt: {what} has shape {tuple(buf.shape)} but the param "
                                 f"has shape {tuple(p.shape)}" + (" (one per row expected)"
                                                                  if row else ""))
            tensors.append(buf)
            ptrs.append(bptr)
            keepalive.append(buf.untyped_storage())
        step_t, kind, sptr = None, _kernels.STEP_NONE, 0
        if self._step_key is not None:
            if self._step_key not in st:
                raise ValueError(f"fastopt: param {index}: its state has no {self._step_key!r}")
            step_t = st[self._step_key]
            if self._step_tensor:
                kind, sptr = check_step(step_t, f"param {index}'s state {self._step_key!r}")
                keepalive.append(step_t.untyped_storage())
            else:
                kind = _STEP_INT
                if type(step_t) is not int or step_t < 0:
                    raise TypeError(f"fastopt: param {index}'s state {self._step_key!r} must "
                                    f"be an int >= 0 (as torch.optim keeps it), got "
                                    f"{_describe(step_t)}")
        if changed and st:  # torch keeps no entry for a param without state (SGD, no momentum)
            commits.append((p, st))
        return (gi, index, p, pptr, p.numel(), code, p.dtype, p.shape, st, tuple(tensors),
                tuple(ptrs), step_t, sptr, kind, 1 if fresh else 2, gptr)

    # ---- state dicts and pickling ----

    def load_state_dict(self, state_dict):
        """torch's load_state_dict, then made to fit the kernels.

        Loads state dicts saved by this class or by its torch.optim twin (both ways). The
        saved ``foreach`` / ``fused`` / ``capturable`` / ``differentiable`` flags are replaced
        by this optimizer's own (they choose an implementation, not the math); state buffers
        are made contiguous CPU tensors of the param's dtype and step counters one-element
        float tensors, copying only what does not fit already.
        """
        own = [{k: g[k] for k in NOOP_FLAGS if k in g} for g in self.param_groups]
        super().load_state_dict(state_dict)
        for group, flags in zip(self.param_groups, own):
            group.update(flags)
        self._plan = None

    def __setstate__(self, state):
        state = dict(state)
        if isinstance(state.get("state"), dict):
            fitted = defaultdict(dict)
            for key, value in state["state"].items():
                fitted[key] = self._fit_loaded(key, value)
            state["state"] = fitted
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)
        self._plan = None

    def _fit_loaded(self, p, st):
        if not (isinstance(p, torch.Tensor) and isinstance(st, dict)):
            return st
        out = dict(st)
        for key, value in st.items():
            if key == self._step_key:
                out[key] = _fit_step(value) if self._step_tensor else _fit_int_step(value)
            elif key in self._buffer_keys and isinstance(value, torch.Tensor):
                dtype = p.dtype if p.is_floating_point() else value.dtype
                out[key] = value.to(device=p.device, dtype=dtype).contiguous()
        return out


def _fit_step(value):
    if (isinstance(value, torch.Tensor) and value.device.type == "cpu"
            and value.dtype in _STEP_KINDS and value.numel() == 1 and value.is_contiguous()):
        return value
    try:
        return torch.tensor(float(value), dtype=_scalar_dtype())
    except (TypeError, ValueError, RuntimeError):
        return value  # the step reports it


def _fit_int_step(value):
    try:
        v = float(value)
        return int(v) if v == int(v) else value
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return value  # the step reports it


def _any_sparse_grad(groups):
    for group in groups:
        for p in group["params"]:
            g = p.grad
            if g is not None and g.layout is not _STRIDED:
                return True
    return False
