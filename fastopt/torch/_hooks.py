"""torch.optim.Optimizer's step hooks and profiler range, around fastopt.torch's step."""
import functools
from itertools import chain

import torch
from torch.optim import optimizer as _torch_optimizer

_profiler_enabled = torch._C._autograd._profiler_enabled

# what the steady step (fastopt/_steady_step.pxi, SteadyStep.build) asks torch, from C
STEADY_TORCH_CALLS = (_profiler_enabled, _torch_optimizer, torch.get_num_threads,
                      torch._C._increment_version, torch.Tensor, torch.nn.Parameter,
                      torch.strided, torch._C.TensorBase, torch._C.StorageBase)


def _with_step_hooks(step):
    """``step`` under torch.optim.Optimizer's step hooks (global and per instance, pre and
    post, as ``Optimizer.profile_hook_step`` calls them) and, while a profiler runs, its
    range ``Optimizer.step#<Class>.step`` and ``_optimizer_step_code`` (the range costs
    about 8 us per step, as much as a whole small-model step here)."""

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        if _profiler_enabled():
            name = f"Optimizer.step#{self.__class__.__name__}.step"
            with torch.autograd.profiler.record_function(name):
                out = _call_with_hooks(step, self, args, kwargs)
                # where torch's profiler (python tracing) inspects the optimizer after a step
                self._optimizer_step_code()
                return out
        if (self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks
                or _torch_optimizer._global_optimizer_pre_hooks
                or _torch_optimizer._global_optimizer_post_hooks):
            return _call_with_hooks(step, self, args, kwargs)
        return step(self, *args, **kwargs)   # no hooks: the step alone (about 1 us less)

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
    own_post, post = self._optimizer_step_post_hooks, _torch_optimizer._global_optimizer_post_hooks
    if own_post or post:
        for hook in chain(own_post.values(), post.values()):
            hook(self, args, kwargs)
    return out
