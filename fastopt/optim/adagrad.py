"""Adagrad: the functional step and the optimizer object.

Kernel: src_c/kernels/adagrad.inc.c. Reference: fastopt/reference/adagrad.py.
"""
import math

import numpy as np

from fastopt import _kernels
from fastopt.optim._base import Optimizer, check_hyper
from fastopt.optim._docs import params_doc, step_doc

_ALGO, _ = _kernels.algorithm("adagrad")
_INF = math.inf


def kernel_hyper(lr, lr_decay, weight_decay, eps, eps_inside_sqrt, maximize):
    """The kernel's hyper tuple (src_c/kernels/adagrad.inc.c); ValueError if invalid."""
    try:
        ok = (0.0 <= lr < _INF and 0.0 <= lr_decay < _INF and 0.0 <= weight_decay < _INF
              and 0.0 <= eps < _INF)
    except TypeError:
        ok = False
    if not ok:
        check_hyper("lr", lr)
        check_hyper("lr_decay", lr_decay)
        check_hyper("weight_decay", weight_decay)
        check_hyper("eps", eps)
    return (lr, lr_decay, weight_decay, eps, maximize, eps_inside_sqrt)


def adagrad(params, grads, sums, steps, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
            eps=1e-10, eps_inside_sqrt=False, maximize=False):
    """One fused Adagrad step over lists of arrays, in place; the math is :class:`Adagrad`'s.

    Args:
        params: list of float32/float64 C-contiguous writeable arrays, updated in place.
        grads: list of arrays with each param's dtype and shape (only read).
        sums: list of the accumulators (``state["sum"]``), updated in place.
        steps: the 1-based number of this step: one int, or a list with one per param.
        lr, lr_decay, weight_decay, eps, eps_inside_sqrt, maximize: as in :class:`Adagrad`.

    All buffers are validated before anything is written; see :mod:`fastopt.reference` for
    the same step in NumPy.
    """
    _kernels.dense_step(_ALGO, params, grads, (sums,),
                        kernel_hyper(lr, lr_decay, weight_decay, eps, eps_inside_sqrt,
                                     maximize), steps)


class Adagrad(Optimizer):
    __doc__ = r"""Adagrad (Duchi, Hazan & Singer, 2011), fused into one pass per param.

    For each param :math:`p` with gradient :math:`g`, accumulator :math:`s` and step
    :math:`t`, in the kernel's order (per-step scalars in double, the rest in the param's
    dtype)::

        clr = lr / (1 + (t - 1) * lr_decay)
        g   = -g                       if maximize
        g   = g + weight_decay * p     if weight_decay != 0
        s   = s + g * g
        p   = p - clr * g / (sqrt(s) + eps)      # eps_inside_sqrt=False (torch.optim)
        p   = p - clr * g / sqrt(s + eps)        # eps_inside_sqrt=True  (d2l, optax, Keras)

    where ``s`` starts at ``initial_accumulator_value`` and ``t`` counts this param's steps.
    With ``eps_inside_sqrt=False`` this is torch.optim.Adagrad (2.13), state names included.

    {params_doc}
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay (default 0).
        weight_decay: L2 penalty added to the gradient (default 0); it enters both the
            accumulator and the numerator, as in torch.
        initial_accumulator_value: starting value of ``sum`` (default 0).
        eps: added to the denominator for stability (default 1e-10).
        eps_inside_sqrt: put ``eps`` under the root (default False).
        maximize: maximize the objective instead of minimizing (default False).

    State per param: ``step`` (int), ``sum`` (array like the param).

    {step_doc}

    Example::

        >>> import numpy as np, fastopt
        >>> x = np.array([-5.0, -2.0])
        >>> opt = fastopt.Adagrad([x], lr=2.0, eps=1e-6, eps_inside_sqrt=True)
        >>> for _ in range(20):
        ...     opt.step([np.array([0.2, 4.0]) * x])
        >>> print(f"{{x[0]:.6f}} {{x[1]:.6f}}")
        -0.002295 -0.000000

    .. warning:: The accumulator only grows, so the effective step size shrinks for ever;
       RMSprop, AdaDelta and Adam are the usual cures.

    Reference: J. Duchi, E. Hazan, Y. Singer, "Adaptive Subgradient Methods for Online
    Learning and Stochastic Optimization", JMLR 12 (2011).
    """.format(params_doc=params_doc, step_doc=step_doc)

    _kernel = "adagrad"

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, eps_inside_sqrt=False,
                 maximize=False):
        super().__init__(params, dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps=eps,
            eps_inside_sqrt=eps_inside_sqrt, maximize=maximize))

    def _kernel_hyper(self, group):
        return kernel_hyper(group["lr"], group["lr_decay"], group["weight_decay"], group["eps"],
                            group["eps_inside_sqrt"], group["maximize"])

    def _check_group(self, group):
        self._kernel_hyper(group)
        check_hyper("initial_accumulator_value", group["initial_accumulator_value"])

    def _new_state(self, p, group):
        return {"step": 0, "sum": np.full_like(p, group["initial_accumulator_value"])}
