"""fastopt.torch.RMSprop: torch.optim.RMSprop's interface on fastopt's RMSprop kernel.

Kernel: src_c/kernels/rmsprop.inc.c. Hyper-parameters: fastopt/optim/rmsprop.py.
"""
import torch

from fastopt.optim.rmsprop import ALGORITHM, MATH
from fastopt.torch._base import Optimizer, noop_flags_doc

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    __doc__ = r"""RMSprop (Tieleman & Hinton, 2012): ``torch.optim.RMSprop``, fused and zero-copy.

    A drop-in replacement for ``torch.optim.RMSprop`` (2.13) on CPU tensors: same arguments,
    defaults, param groups, state and state dicts, which load both ways. For each param
    :math:`p` with gradient :math:`g`, running average of squares :math:`v`
    (``square_avg``), of gradients :math:`m` (``grad_avg``) and momentum buffer :math:`b`,
    in the kernel's order (``w`` in double, rounded once; the rest in the param's dtype)::

        t = t + 1                               (the float32 step tensor, as torch)
{math}

    where ``eps_inside_sqrt`` is False (torch.optim.RMSprop's form; it has no such argument).
    One C call updates every param of every group that has a grad, reading and writing the
    tensors' own memory.

    Args:
        params: an iterable of tensors or of dicts (param groups), as in torch.optim. Params
            must be contiguous float32, float64, bfloat16 or float16 CPU tensors; keyword
            arguments ``master_weights``, ``state_dtype`` (torch.bfloat16) and ``seed`` set
            half-precision storage (fastopt.torch._half; README "Half precision").
        lr (float): learning rate (default: 1e-2). A Python number: tensor lrs are refused.
        alpha (float): smoothing constant of the running averages (default: 0.99).
        eps (float): added to the denominator, outside the root (default: 1e-8).
        weight_decay (float): L2 penalty added to the gradient (default: 0).
        momentum (float): momentum factor (default: 0).
        centered (bool): normalize by the estimated variance of the gradient instead of its
            second moment (default: False).
        maximize (bool): maximize the objective instead of minimizing (default: False).
        {flags}

    State per param, created at its first step with a grad, as torch does: ``step`` (a 0-d
    float32 tensor, float64 if torch's default dtype is float64; counted, not used by the
    math), ``square_avg``, ``momentum_buffer`` (if momentum > 0) and ``grad_avg`` (if
    centered), tensors like the param starting at 0. A buffer a group needs later (momentum
    or centered switched on) starts at 0 then.

    The step validates params, grads, state and every group's hyper-parameters before writing
    anything, and raises naming the param (its index across groups) for a CUDA or meta
    tensor, a non-contiguous, complex or half-precision param or grad, a sparse grad, a
    tensor hyper-parameter or overlapping buffers. Params whose ``.grad`` is None are skipped.

    .. warning:: The first steps are large (``v`` starts at 0 and has no bias correction), as
       in torch; a small lr or a warm-up schedule helps.

    Reference: T. Tieleman, G. Hinton, Lecture 6.5 "rmsprop", COURSERA: Neural Networks for
    Machine Learning (2012); centered: A. Graves, "Generating Sequences With Recurrent Neural
    Networks", arXiv:1308.0850 (2013).
    """.format(math=MATH, flags=noop_flags_doc("capturable", "foreach", "differentiable"))

    algorithm = ALGORITHM

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False, **precision):
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults, **precision)

    def _init_state(self, p, group):
        # torch's keys and order: step, square_avg, momentum_buffer, grad_avg
        st = {"step": self._new_step(),
              "square_avg": torch.zeros_like(p, memory_format=torch.preserve_format)}
        if group["momentum"] > 0:
            st["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["centered"]:
            st["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return st
