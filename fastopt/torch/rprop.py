"""fastopt.torch.Rprop: torch.optim.Rprop's interface on fastopt's Rprop kernel.

Kernel: src_c/kernels/rprop.inc.c. Hyper-parameters: fastopt/optim/rprop.py.
"""
import torch

from fastopt.optim.rprop import ALGORITHM, MATH
from fastopt.torch._base import Optimizer, noop_flags_doc

__all__ = ["Rprop"]


class Rprop(Optimizer):
    __doc__ = r"""Rprop (Riedmiller & Braun, 1993): ``torch.optim.Rprop``, fused and zero-copy.

    A drop-in replacement for ``torch.optim.Rprop`` (2.13) on CPU tensors: same arguments,
    defaults, param groups, state (``step``, ``prev``, ``step_size``) and state dicts, which
    load both ways. For each param :math:`p` with gradient :math:`g`, previous gradient
    ``prev`` and step sizes :math:`s`, in the kernel's order (all in the param's dtype)::

        t    = t + 1                               (the float32 step tensor, as torch)
{math}

    where ``prev`` starts at 0 and ``s`` at ``lr``. ``sign`` is ``np.sign``: a NaN stays NaN
    (torch's ``sign`` makes it 0); with finite gradients the two agree.

    One C call updates every param of every group that has a grad, reading and writing the
    tensors' own memory.

    Args:
        params: an iterable of tensors or of dicts (param groups), as in torch.optim. Params
            must be contiguous float32, float64, bfloat16 or float16 CPU tensors; keyword
            arguments ``master_weights``, ``state_dtype`` (torch.bfloat16) and ``seed`` set
            half-precision storage (fastopt.torch._half; README "Half precision").
        lr (float): the step size every element starts with (default: 1e-2).
        etas (Tuple[float, float]): ``(etaminus, etaplus)``, ``0 < etaminus < 1 < etaplus``
            (default: (0.5, 1.2)).
        step_sizes (Tuple[float, float]): the ``(min, max)`` step sizes are clipped to
            (default: (1e-6, 50)).
        maximize (bool): maximize the objective instead of minimizing (default: False).
        {flags}

    State per param, created at its first step with a grad, as torch does: ``step`` (a 0-d
    float32 tensor, float64 if torch's default dtype is float64; counted, not used by the
    math), ``prev`` (zeros) and ``step_size`` (filled with the group's ``lr``), tensors like
    the param.

    The step validates params, grads, state and every group's hyper-parameters before writing
    anything, and raises naming the param (its index across groups) for a CUDA or meta
    tensor, a non-contiguous, complex or half-precision param or grad, a sparse grad, a
    tensor hyper-parameter or overlapping buffers. Params whose ``.grad`` is None are skipped.

    Reference: M. Riedmiller, H. Braun, "A Direct Adaptive Method for Faster
    Backpropagation Learning: The RPROP Algorithm", IEEE ICNN 1993.
    """.format(math=MATH, flags=noop_flags_doc("foreach", "capturable", "differentiable"))

    algorithm = ALGORITHM

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 capturable=False, foreach=None, maximize=False, differentiable=False, **precision):
        defaults = {
            "lr": lr,
            "etas": etas,
            "step_sizes": step_sizes,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults, **precision)

    def _init_state(self, p, group):
        # torch's keys and order: step, prev, step_size (filled with the group's lr)
        return {"step": self._new_step(),
                "prev": torch.zeros_like(p, memory_format=torch.preserve_format),
                "step_size": torch.full_like(p, float(group["lr"]))}
