"""fastopt.torch.Adamax: torch.optim.Adamax's interface on fastopt's Adamax kernel.

Kernel: src_c/kernels/adamax.inc.c. Hyper-parameters: fastopt/optim/adamax.py.
"""
import torch

from fastopt.optim.adamax import ALGORITHM, MATH
from fastopt.torch._base import Optimizer, noop_flags_doc

__all__ = ["Adamax"]


class Adamax(Optimizer):
    __doc__ = r"""Adamax (Kingma & Ba, 2015): ``torch.optim.Adamax``, fused and zero-copy.

    A drop-in replacement for ``torch.optim.Adamax`` (2.13) on CPU tensors: same arguments,
    defaults, param groups, state (``step``, ``exp_avg``, ``exp_inf``) and state dicts, which
    load both ways. For each param :math:`p` with gradient :math:`g`, first moment :math:`m`
    (``exp_avg``), exponentially weighted infinity norm :math:`u` (``exp_inf``) and step
    :math:`t`, in the kernel's order (per-step scalars in double, the rest in the param's
    dtype)::

        t   = t + 1                                (the float32 step tensor, as torch)
{math}

    One C call updates every param of every group that has a grad, reading and writing the
    tensors' own memory.

    Args:
        params: an iterable of tensors or of dicts (param groups), as in torch.optim. Params
            must be contiguous float32, float64, bfloat16 or float16 CPU tensors; keyword
            arguments ``master_weights``, ``state_dtype`` (torch.bfloat16) and ``seed`` set
            half-precision storage (fastopt.torch._half; README "Half precision").
        lr (float): learning rate (default: 2e-3). A Python number: tensor lrs are refused.
        betas (Tuple[float, float]): decay rates of the first moment and of the infinity
            norm, each in [0, 1) (default: (0.9, 0.999)).
        eps (float): added to ``abs(g)`` inside the maximum (default: 1e-8).
        weight_decay (float): L2 penalty added to the gradient (default: 0).
        maximize (bool): maximize the objective instead of minimizing (default: False).
        {flags}

    State per param, created at its first step with a grad, as torch does: ``step`` (a 0-d
    float32 tensor, float64 if torch's default dtype is float64), ``exp_avg`` and ``exp_inf``
    (tensors like the param, starting at 0).

    The step validates params, grads, state and every group's hyper-parameters before writing
    anything, and raises naming the param (its index across groups) for a CUDA or meta
    tensor, a non-contiguous, complex or half-precision param or grad, a sparse grad, a
    tensor hyper-parameter or overlapping buffers. Params whose ``.grad`` is None are skipped.

    Reference: D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015
    (section 7.1, AdaMax).
    """.format(math=MATH, flags=noop_flags_doc("foreach", "capturable", "differentiable"))

    algorithm = ALGORITHM

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False, **precision):
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults, **precision)

    def _init_state(self, p, group):
        # torch's keys and order: step, exp_avg, exp_inf
        return {"step": self._new_step(),
                "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                "exp_inf": torch.zeros_like(p, memory_format=torch.preserve_format)}
