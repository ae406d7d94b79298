"""fastopt.torch.Adam and AdamW: torch.optim's interfaces on fastopt's Adam kernel.

Kernel: src_c/kernels/adam.inc.c. Hyper-parameters: fastopt/optim/adam.py.
"""
import torch

from fastopt.optim.adam import ALGORITHM, MATH, WEIGHT_DECAY
from fastopt.torch._base import Optimizer, noop_flags_doc

__all__ = ["Adam", "AdamW"]

#: The torch-only first line of the update: then fastopt.optim.adam.MATH.
_STEP = """\
        t         = t + 1                           (the float32 step tensor, as torch)
"""

#: fastopt.torch.Adam's weight-decay lines: one of the two, by ``decoupled_weight_decay``.
_ADAM_DECAY = (WEIGHT_DECAY["Adam"] + "   (default)\n        "
               + WEIGHT_DECAY["AdamW"] + "   (decoupled_weight_decay)")

#: Both classes have torch.optim.Adam's four switches.
_FLAGS = noop_flags_doc("foreach", "capturable", "differentiable", "fused")

_COMMON = r"""
    One C call updates every param of every group that has a grad, reading and writing the
    tensors' own memory.

    Args:
        params: an iterable of tensors or of dicts (param groups), as in torch.optim. Params
            must be contiguous float32, float64, bfloat16 or float16 CPU tensors; keyword
            arguments ``master_weights``, ``state_dtype`` (torch.bfloat16) and ``seed`` set
            half-precision storage (fastopt.torch._half; README "Half precision").
        lr (float): learning rate (default: 1e-3). A Python number: tensor lrs are refused.
        betas (Tuple[float, float]): decay rates of the first and second moment, each in
            [0, 1) (default: (0.9, 0.999)). Python floats: tensor betas are refused.
        eps (float): added to the denominator, outside the root (default: 1e-8).
        weight_decay (float): {wd}
        amsgrad (bool): normalize by the running maximum of ``v`` (AMSGrad) (default: False).
        maximize (bool): maximize the objective instead of minimizing (default: False).
        {flags}{extra}

    State per param, created at its first step with a grad, as torch does: ``step`` (a 0-d
    float32 tensor, float64 if torch's default dtype is float64), ``exp_avg`` and
    ``exp_avg_sq`` and, with amsgrad only, ``max_exp_avg_sq`` (tensors like the param,
    starting at 0; if amsgrad is switched on later, it starts at 0 then).

    The step validates params, grads, state and every group's hyper-parameters before writing
    anything, and raises naming the param (its index across groups) for a CUDA or meta
    tensor, a non-contiguous, complex or half-precision param or grad, a sparse grad, a
    tensor hyper-parameter (lr, betas, weight_decay) or overlapping buffers. Params whose
    ``.grad`` is None are skipped.
"""


def _check_betas(betas):
    """torch.optim.Adam's rule for non-tensor betas (tensors are refused later, by name);
    the pair as a tuple, as torch stores it."""
    if isinstance(betas, (tuple, list)) and len(betas) == 2:
        if not any(isinstance(b, torch.Tensor) for b in betas) and not (
                isinstance(betas[0], float) and isinstance(betas[1], float)):
            raise ValueError(f"fastopt: betas must be either both floats or both Tensors "
                             f"(as in torch.optim.Adam), got {betas!r}")
        return tuple(betas)
    return betas   # kernel_hyper reports it


class Adam(Optimizer):
    __doc__ = r"""Adam (Kingma & Ba, 2015), optionally AMSGrad or AdamW: ``torch.optim.Adam``,
    fused and zero-copy.

    A drop-in replacement for ``torch.optim.Adam`` (2.13) on CPU tensors: same arguments,
    defaults, param groups, state and state dicts, which load both ways. For each param
    :math:`p` with gradient :math:`g`, first moment :math:`m` (``exp_avg``), second moment
    :math:`v` (``exp_avg_sq``), its running maximum :math:`vm` (``max_exp_avg_sq``) and step
    :math:`t`, in the kernel's order (per-step scalars in double, the rest in the param's
    dtype)::

{step}{math}

    where ``m``, ``v`` (and ``vm``) start at 0 and ``decoupled_weight_decay`` picks one of the
    two weight-decay lines.
""".format(step=_STEP, math=MATH.format(decay=_ADAM_DECAY)) + _COMMON.format(
        flags=_FLAGS, wd="L2 penalty added to the gradient or, with\n"
           "            ``decoupled_weight_decay``, AdamW's decay of the param (default: 0).",
        extra="\n        decoupled_weight_decay (bool): decay the param directly instead of "
              "adding the\n            penalty to the gradient, which makes this AdamW "
              "(default: False).") + r"""
    .. warning:: Without ``decoupled_weight_decay`` the weight decay is an L2 term added to
       the gradient, so the adaptive denominator rescales it; :class:`AdamW` decays the
       param directly.

    Reference: D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015;
    AMSGrad: S. J. Reddi, S. Kale, S. Kumar, "On the Convergence of Adam and Beyond",
    ICLR 2018.
    """

    algorithm = ALGORITHM

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False, **precision):
        defaults = {
            "lr": lr,
            "betas": _check_betas(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults, **precision)

    def _init_state(self, p, group):
        # torch's keys and order: step, exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad only)
        st = {"step": self._new_step(),
              "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
              "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
        if group["amsgrad"]:
            st["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return st


class AdamW(Adam):
    __doc__ = r"""AdamW (Loshchilov & Hutter, 2019): ``torch.optim.AdamW``, fused and zero-copy.

    A drop-in replacement for ``torch.optim.AdamW`` (2.13) on CPU tensors, and like it a
    subclass of :class:`Adam` with ``decoupled_weight_decay=True`` (kept True in every group,
    also after loading a state dict). For each param :math:`p` with gradient :math:`g`,
    first moment :math:`m` (``exp_avg``), second moment :math:`v` (``exp_avg_sq``), its
    running maximum :math:`vm` (``max_exp_avg_sq``) and step :math:`t`, in the kernel's order
    (per-step scalars in double, the rest in the param's dtype)::

{step}{math}

    where ``m``, ``v`` (and ``vm``) start at 0. The decay multiplies the param before the
    moments are updated and never enters them.
""".format(step=_STEP, math=MATH.format(decay=WEIGHT_DECAY["AdamW"])) + \
        _COMMON.format(flags=_FLAGS, wd="decoupled weight decay: the param is multiplied by\n"
                          "            ``1 - lr * weight_decay`` each step (default: 1e-2).",
                       extra="") + r"""
    .. warning:: The decay is ``lr * weight_decay`` per step, so it follows lr schedules;
       keep ``lr * weight_decay`` well below 1.

    Reference: I. Loshchilov, F. Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None, **precision):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True, **precision)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:   # as torch.optim.AdamW: always decoupled
            group["decoupled_weight_decay"] = True
