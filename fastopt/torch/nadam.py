"""fastopt.torch.NAdam: torch.optim.NAdam's interface on fastopt's NAdam kernel.

Kernel: src_c/kernels/nadam.inc.c. Hyper-parameters: fastopt/optim/nadam.py.
"""
import torch

from fastopt.optim.nadam import ALGORITHM, MATH
from fastopt.torch._base import Optimizer, noop_flags_doc
from fastopt.torch._state import scalar_dtype

__all__ = ["NAdam"]


class NAdam(Optimizer):
    __doc__ = r"""NAdam (Dozat, 2016): ``torch.optim.NAdam``, fused and zero-copy.

    A drop-in replacement for ``torch.optim.NAdam`` (2.13) on CPU tensors: same arguments,
    defaults, param groups, state (``step``, ``mu_product``, ``exp_avg``, ``exp_avg_sq``) and
    state dicts, which load both ways. For each param :math:`p` with gradient :math:`g`, first
    moment :math:`m` (``exp_avg``), second moment :math:`v` (``exp_avg_sq``) and step
    :math:`t`, in the kernel's order (per-step scalars in double, the rest in the param's
    dtype)::

        t       = t + 1                                (the float32 step tensor, as torch)
{math}

    One C call updates every param of every group that has a grad, ``mu_product`` included,
    reading and writing the tensors' own memory.

    Args:
        params: an iterable of tensors or of dicts (param groups), as in torch.optim. Params
            must be contiguous float32, float64, bfloat16 or float16 CPU tensors; keyword
            arguments ``master_weights``, ``state_dtype`` (torch.bfloat16) and ``seed`` set
            half-precision storage (fastopt.torch._half; README "Half precision").
        lr (float): learning rate (default: 2e-3). A Python number: tensor lrs are refused.
        betas (Tuple[float, float]): decay rates of the first and second moment, each in
            [0, 1) (default: (0.9, 0.999)).
        eps (float): added to the root of ``v / bc2`` (default: 1e-8).
        weight_decay (float): L2 penalty added to the gradient or, with
            ``decoupled_weight_decay``, a decay of the param (default: 0).
        momentum_decay (float): how fast ``mu`` approaches ``beta1`` (default: 4e-3).
        decoupled_weight_decay (bool): decay the param by ``1 - lr * weight_decay``, as AdamW
            (default: False).
        maximize (bool): maximize the objective instead of minimizing (default: False).
        {flags}

    State per param, created at its first step with a grad, as torch does: ``step`` and
    ``mu_product`` (0-d float32 tensors, float64 if torch's default dtype is float64;
    load_state_dict keeps ``mu_product``'s saved dtype, where torch casts it to the param's),
    ``exp_avg`` and ``exp_avg_sq`` (tensors like the param, starting at 0).

    The step validates params, grads, state and every group's hyper-parameters before writing
    anything, and raises naming the param (its index across groups) for a CUDA or meta
    tensor, a non-contiguous, complex or half-precision param or grad, a sparse grad, a
    tensor hyper-parameter or overlapping buffers. Params whose ``.grad`` is None are skipped.

    Reference: T. Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop.
    """.format(math=MATH, flags=noop_flags_doc("foreach", "capturable", "differentiable"))

    algorithm = ALGORITHM

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False, **precision):
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults, **precision)

    def _init_state(self, p, group):
        # torch's keys and order: step, mu_product, exp_avg, exp_avg_sq
        return {"step": self._new_step(),
                "mu_product": torch.tensor(1.0, dtype=scalar_dtype()),
                "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
