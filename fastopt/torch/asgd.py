"""fastopt.torch.ASGD: torch.optim.ASGD's interface on fastopt's ASGD kernel.

Kernel: src_c/kernels/asgd.inc.c. Hyper-parameters: fastopt/optim/asgd.py.
"""
import torch

from fastopt.optim.asgd import ALGORITHM, MATH
from fastopt.torch._base import Optimizer, noop_flags_doc
from fastopt.torch._state import scalar_dtype

__all__ = ["ASGD"]


class ASGD(Optimizer):
    __doc__ = r"""ASGD (Polyak & Juditsky, 1992): ``torch.optim.ASGD``, fused and zero-copy.

    A drop-in replacement for ``torch.optim.ASGD`` (2.13) on CPU tensors: same arguments,
    defaults, param groups, state (``step``, ``eta``, ``mu``, ``ax``) and state dicts, which
    load both ways. For each param :math:`p` with gradient :math:`g`, running average ``ax``
    and step :math:`t`, in the kernel's order (per-step scalars in double, the rest in the
    param's dtype)::

        t   = t + 1                                    (the float32 step tensor, as torch)
{math}

    One C call updates every param of every group that has a grad, ``eta`` and ``mu``
    included, reading and writing the tensors' own memory.

    Args:
        params: an iterable of tensors or of dicts (param groups), as in torch.optim. Params
            must be contiguous float32, float64, bfloat16 or float16 CPU tensors; keyword
            arguments ``master_weights``, ``state_dtype`` (torch.bfloat16) and ``seed`` set
            half-precision storage (fastopt.torch._half; README "Half precision").
        lr (float): learning rate, the first ``eta`` (default: 1e-2). A Python number:
            tensor lrs are refused.
        lambd (float): decay term (default: 1e-4; at least 0).
        alpha (float): power for the ``eta`` update (default: 0.75).
        t0 (float): the step at which averaging starts (default: 1e6).
        weight_decay (float): L2 penalty added to the gradient (default: 0).
        maximize (bool): maximize the objective instead of minimizing (default: False).
        {flags}

    State per param, created at its first step with a grad, as torch does: ``step``, ``eta``
    (starting at ``lr``) and ``mu`` (starting at 1), 0-d float32 tensors (float64 if torch's
    default dtype is float64; load_state_dict keeps their saved dtype, where torch casts
    them to the param's), and
    ``ax`` (a tensor like the param, starting at 0).

    The step validates params, grads, state and every group's hyper-parameters before writing
    anything, and raises naming the param (its index across groups) for a CUDA or meta
    tensor, a non-contiguous, complex or half-precision param or grad, a sparse grad, a
    tensor hyper-parameter or overlapping buffers. Params whose ``.grad`` is None are skipped.

    Reference: B. T. Polyak, A. B. Juditsky, "Acceleration of Stochastic Approximation by
    Averaging", SIAM J. Control Optim. 30(4), 1992.
    """.format(math=MATH, flags=noop_flags_doc("foreach", "capturable", "differentiable"))

    algorithm = ALGORITHM

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0,
                 foreach=None, maximize=False, differentiable=False, capturable=False, **precision):
        defaults = {
            "lr": lr,
            "lambd": lambd,
            "alpha": alpha,
            "t0": t0,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults, **precision)

    def _init_state(self, p, group):
        # torch's keys and order: step, eta, mu, ax
        return {"step": self._new_step(),
                "eta": torch.tensor(float(group["lr"]), dtype=scalar_dtype()),
                "mu": torch.tensor(1.0, dtype=scalar_dtype()),
                "ax": torch.zeros_like(p, memory_format=torch.preserve_format)}
