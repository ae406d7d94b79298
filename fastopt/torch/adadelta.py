"""fastopt.torch.Adadelta: torch.optim.Adadelta's interface on fastopt's Adadelta kernel.

Kernel: src_c/kernels/adadelta.inc.c. Hyper-parameters: fastopt/optim/adadelta.py.
"""
import torch

from fastopt.optim.adadelta import ALGORITHM, MATH
from fastopt.torch._base import Optimizer, noop_flags_doc

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    __doc__ = r"""AdaDelta (Zeiler, 2012): ``torch.optim.Adadelta``, fused and zero-copy.

    A drop-in replacement for ``torch.optim.Adadelta`` (2.13) on CPU tensors: same
    arguments, defaults, param groups, state (``step``, ``square_avg``, ``acc_delta``) and
    state dicts, which load both ways. For each param :math:`p` with gradient :math:`g`,
    running average of squared gradients :math:`s` and of squared updates :math:`a`, in the
    kernel's order (``1 - rho`` in double, rounded once; everything else in the param's
    dtype)::

        t     = t + 1                    (the float32 step tensor, as torch)
{math}

    One C call updates every param of every group that has a grad, reading and writing the
    tensors' own memory.

    Args:
        params: an iterable of tensors or of dicts (param groups), as in torch.optim. Params
            must be contiguous float32, float64, bfloat16 or float16 CPU tensors; keyword
            arguments ``master_weights``, ``state_dtype`` (torch.bfloat16) and ``seed`` set
            half-precision storage (fastopt.torch._half; README "Half precision").
        lr (float): scale applied to delta (default: 1.0). A Python number: tensor lrs are
            refused.
        rho (float): decay of both running averages, in [0, 1] (default: 0.9).
        eps (float): added inside both roots (default: 1e-6).
        weight_decay (float): L2 penalty added to the gradient (default: 0).
        maximize (bool): maximize the objective instead of minimizing (default: False).
        {flags}

    State per param, created at its first step with a grad, as torch does: ``step`` (a 0-d
    float32 tensor, float64 if torch's default dtype is float64; counted, not used by the
    math), ``square_avg`` and ``acc_delta`` (tensors like the param, starting at 0).

    The step validates params, grads, state and every group's hyper-parameters before writing
    anything, and raises naming the param (its index across groups) for a CUDA or meta
    tensor, a non-contiguous, complex or half-precision param or grad, a sparse grad, a
    tensor hyper-parameter or overlapping buffers. Params whose ``.grad`` is None are skipped.

    .. warning:: ``eps`` sets the size of the first steps (``a`` starts at 0), so it acts as
       a learning rate early on.

    Reference: M. D. Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701
    (2012).
    """.format(math=MATH, flags=noop_flags_doc("foreach", "capturable", "differentiable"))

    algorithm = ALGORITHM

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False, **precision):
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "capturable": capturable,
            "foreach": foreach,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults, **precision)

    def _init_state(self, p, group):
        return {"step": self._new_step(),
                "square_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                "acc_delta": torch.zeros_like(p, memory_format=torch.preserve_format)}
