"""fastopt.torch.Lamb: LAMB (You et al., 2019) as a torch.optim.Optimizer on fastopt's kernel.

Kernel: src_c/kernels/lamb.inc.c. Hyper-parameters: fastopt/optim/lamb.py. torch.optim has
no LAMB; the arguments and state names follow torch.optim.Adam's (``exp_avg``,
``exp_avg_sq``, ``step``), with the paper's eps (1e-6) and torch.optim's ``maximize``.
"""
import torch

from fastopt.optim.lamb import ALGORITHM, MATH
from fastopt.torch._base import Optimizer

__all__ = ["Lamb"]


class Lamb(Optimizer):
    __doc__ = r"""LAMB (You et al., 2019), fused and zero-copy, as a ``torch.optim.Optimizer``.

    For each param :math:`p` with gradient :math:`g`, first moment :math:`m` (``exp_avg``),
    second moment :math:`v` (``exp_avg_sq``) and step :math:`t`, in the kernel's order
    (per-step scalars in double, the rest in the param's dtype)::

        t   = t + 1                                     (the float32 step tensor)
{math}

    Algorithm 2 of the paper, as fastopt.Lamb. torch.optim has no LAMB: the arguments follow
    torch.optim.Adam's, with the paper's ``eps``; state names are Adam's. One C call updates
    every param of every group that has a grad (each param's three passes on one thread,
    the params spread over the threads), reading and writing the tensors' own memory; param
    groups, state dicts, hooks and lr schedulers work as with any torch.optim class.

    Args:
        params: an iterable of tensors or of dicts (param groups), as in torch.optim. Params
            must be contiguous float32, float64, bfloat16 or float16 CPU tensors; keyword
            arguments ``master_weights``, ``state_dtype`` (torch.bfloat16) and ``seed`` set
            half-precision storage (fastopt.torch._half; README "Half precision").
        lr (float): learning rate (default: 1e-3). A Python number: tensor lrs are refused.
        betas (Tuple[float, float]): decay rates of the first and second moment, each in
            [0, 1) (default: (0.9, 0.999)).
        eps (float): added to the root of ``v / bc2`` (default: 1e-6).
        weight_decay (float): decoupled decay added to the direction before the trust ratio
            (default: 0).
        maximize (bool): maximize the objective instead of minimizing (default: False).

    State per param, created at its first step with a grad: ``step`` (a 0-d float32 tensor,
    float64 if torch's default dtype is float64), ``exp_avg`` and ``exp_avg_sq`` (tensors
    like the param, starting at 0).

    The step validates params, grads, state and every group's hyper-parameters before writing
    anything, and raises naming the param (its index across groups) for a CUDA or meta
    tensor, a non-contiguous, complex or half-precision param or grad, a sparse grad, a
    tensor hyper-parameter or overlapping buffers. Params whose ``.grad`` is None are skipped.

    Reference: Y. You et al., "Large Batch Optimization for Deep Learning: Training BERT in
    76 minutes", ICLR 2020 (arXiv:1904.00962), Algorithm 2.
    """.format(math=MATH)

    algorithm = ALGORITHM

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0, *,
                 maximize=False, **precision):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay, "maximize": maximize},
                         **precision)

    def _init_state(self, p, group):
        return {"step": self._new_step(),
                "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
