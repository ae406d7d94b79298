"""fastopt.torch.Lion: Lion (Chen et al., 2023) as a torch.optim.Optimizer on fastopt's kernel.

Kernel: src_c/kernels/lion.inc.c. Hyper-parameters: fastopt/optim/lion.py. torch.optim has
no Lion; the signature, defaults and state name (``exp_avg``) are those of the paper's own
PyTorch implementation (google/automl, lion_pytorch.py), plus torch.optim's ``maximize``.
"""
import torch

from fastopt.optim.lion import ALGORITHM, MATH
from fastopt.torch._base import Optimizer

__all__ = ["Lion"]


class Lion(Optimizer):
    __doc__ = r"""Lion (Chen et al., 2023), fused and zero-copy, as a ``torch.optim.Optimizer``.

    For each param :math:`p` with gradient :math:`g` and momentum :math:`m` (``exp_avg``),
    in the kernel's order (``1 - beta1`` and ``1 - beta2`` in double, rounded once;
    everything else in the param's dtype)::

{math}

    Algorithm 2 of the paper, as fastopt.Lion. torch.optim has no Lion: the arguments,
    defaults and state name are those of the authors' PyTorch implementation (which
    applies the decay as ``p * (1 - lr * weight_decay)`` first, the same update up to
    rounding), plus torch.optim's ``maximize``. One C call updates every param of every
    group that has a grad, reading and writing the tensors' own memory; param groups, state
    dicts, hooks and lr schedulers work as with any torch.optim class.

    Args:
        params: an iterable of tensors or of dicts (param groups), as in torch.optim. Params
            must be contiguous float32, float64, bfloat16 or float16 CPU tensors; keyword
            arguments ``master_weights``, ``state_dtype`` (torch.bfloat16) and ``seed`` set
            half-precision storage (fastopt.torch._half; README "Half precision").
        lr (float): learning rate (default: 1e-4). A Python number: tensor lrs are refused.
        betas (Tuple[float, float]): the interpolation that gives the update's sign and the
            momentum's decay, each in [0, 1) (default: (0.9, 0.99)).
        weight_decay (float): decoupled weight decay (default: 0).
        maximize (bool): maximize the objective instead of minimizing (default: False).

    State per param, created at its first step with a grad: ``step`` (a 0-d float32 tensor,
    as torch.optim's classes keep it; counted, not used by the math) and ``exp_avg`` (a
    tensor like the param, starting at 0).

    The step validates params, grads, state and every group's hyper-parameters before writing
    anything, and raises naming the param (its index across groups) for a CUDA or meta
    tensor, a non-contiguous, complex or half-precision param or grad, a sparse grad, a
    tensor hyper-parameter or overlapping buffers. Params whose ``.grad`` is None are skipped.

    Reference: X. Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023
    (arXiv:2302.06675), Algorithm 2.
    """.format(math=MATH)

    algorithm = ALGORITHM

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, *,
                 maximize=False, **precision):
        super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay,
                                  "maximize": maximize}, **precision)

    def _init_state(self, p, group):
        return {"step": self._new_step(),
                "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format)}
