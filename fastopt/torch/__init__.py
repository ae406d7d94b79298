"""fastopt for PyTorch: drop-in ``torch.optim`` optimizers that run fastopt's kernels on the
tensors' own memory (CPU, contiguous, float32/float64/bfloat16/float16), one C call per step.

    >>> import torch, fastopt.torch
    >>> model = torch.nn.Linear(4, 2)
    >>> opt = fastopt.torch.Adagrad(model.parameters(), lr=0.1)   # was torch.optim.Adagrad
    >>> model(torch.randn(8, 4)).square().mean().backward()
    >>> opt.step()

Each class takes torch.optim 2.13's arguments and defaults, keeps torch's state names and
layout (state dicts load both ways), and works with lr schedulers, hooks, ``clip_grad_norm_``
and ``ZeroRedundancyOptimizer``. ``import fastopt`` never imports torch; this subpackage needs
it (``pip install fastopt[torch]``).
"""
try:
    import torch as _torch  # absolute: the real torch, never this package
except ImportError as e:  # pragma: no cover - exercised only without torch
    raise ImportError("fastopt.torch needs PyTorch (pip install 'fastopt[torch]', or "
                      "pip install torch); the NumPy optimizers in fastopt work without it"
                      ) from e

from fastopt._discover import public
from fastopt.torch._base import Optimizer

_found = public(__name__, __path__, lambda name, obj: isinstance(obj, type))
globals().update(_found)
__all__ = ["Optimizer", *_found]
