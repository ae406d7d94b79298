"""Adadelta: the functional step and the optimizer object.

Kernel: src_c/kernels/adadelta.inc.c. Reference: fastopt/reference/adadelta.py.
"""
import numpy as np

from fastopt._scalars import flag, nonnegative, real
from fastopt.optim._algorithm import Algorithm
from fastopt.optim._base import Optimizer
from fastopt.optim._docs import params_doc, step_doc

__all__ = ["Adadelta", "adadelta"]


#: Adadelta's update, in the kernel's order: the one place it is written for readers.
MATH = """\
        g     = -g                       if maximize
        g     = g + weight_decay * p     if weight_decay != 0
        s     = s * rho
        s     = s + ((1 - rho) * g) * g
        delta = sqrt(a + eps) / sqrt(s + eps) * g
        a     = a * rho
        a     = a + ((1 - rho) * delta) * delta
        p     = p - lr * delta"""


def adadelta_hyper(group):
    """Adadelta's settings -> its kernel's scalars (registry.h: adadelta); ValueError if invalid."""
    return {"lr": nonnegative("lr", group["lr"]), "rho": real("rho", group["rho"], 0.0, 1.0),
            "eps": nonnegative("eps", group["eps"]),
            "weight_decay": nonnegative("weight_decay", group["weight_decay"]),
            "maximize": flag("maximize", group["maximize"])}


ALGORITHM = Algorithm("Adadelta", kernel="adadelta", hyper=adadelta_hyper)


def adadelta(params, grads, square_avgs, acc_deltas, steps, *, lr=1.0, rho=0.9, eps=1e-6,
             weight_decay=0.0, maximize=False, masters=None, seed=0):
    """One fused Adadelta step over lists of arrays, in place; the math is :class:`Adadelta`'s.

    Args:
        params: list of float32/float64 writeable arrays, each one dense block in any
            layout (C, Fortran or another order of the dimensions), updated in place.
        grads: list of arrays with each param's dtype, shape and memory layout (only read).
        square_avgs: list of the running averages of g**2 (``state["square_avg"]``, like the
            param), updated in place.
        acc_deltas: list of the running averages of delta**2 (``state["acc_delta"]``, like
            the param), updated in place.
        steps: the 1-based number of this step: one int, or a list with one per param
            (checked, not used by the math).
        lr, rho, eps, weight_decay, maximize: as in :class:`Adadelta`.

    All buffers are validated before anything is written; see :mod:`fastopt.reference` for
    the same step in NumPy.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> p = np.array([1.0, -2.0])
        >>> g = np.array([1.0, -2.0])
        >>> s, a = np.zeros(2), np.zeros(2)
        >>> fastopt.functional.adadelta([p], [g], [s], [a], 1)
        >>> print(p.round(6))   # a starts at 0: the first step is about sqrt(eps / (1 - rho))
        [ 0.996838 -1.996838]
        >>> print(s)   # (1 - rho) * g * g
        [0.1 0.4]
    """
    ALGORITHM.functional(params, grads, {"square_avg": square_avgs, "acc_delta": acc_deltas},
                         steps, {"lr": lr, "rho": rho, "eps": eps,
                                 "weight_decay": weight_decay, "maximize": maximize},
                         masters=masters, seed=seed)


class Adadelta(Optimizer):
    __doc__ = r"""AdaDelta (Zeiler, 2012), fused into one pass per param.

    For each param :math:`p` with gradient :math:`g`, running average of squared gradients
    :math:`s` and of squared updates :math:`a`, in the kernel's order (``1 - rho`` in double,
    rounded once; everything else in the param's dtype)::

{math}

    where ``s`` and ``a`` start at 0. This is torch.optim.Adadelta (2.13), its for-loop
    order and state names included.

    {params_doc}
        lr: scale applied to delta (default 1.0; the paper has none).
        rho: decay of both running averages, in [0, 1] (default 0.9).
        eps: added inside both roots (default 1e-6); it also sets the size of the first
            steps, since ``a`` starts at 0.
        weight_decay: L2 penalty added to the gradient (default 0).
        maximize: maximize the objective instead of minimizing (default False).

    State per param: ``step`` (int, counted as torch does; the math does not use it),
    ``square_avg`` and ``acc_delta`` (arrays like the param).

    {step_doc}

    Example::

        >>> import numpy as np, fastopt
        >>> x = np.array([-5.0, -2.0])
        >>> opt = fastopt.Adadelta([x], lr=1.0, rho=0.9, eps=1e-2)
        >>> for _ in range(100):
        ...     opt.step([np.array([0.2, 4.0]) * x])
        >>> bool(0.1 * x[0] ** 2 + 2 * x[1] ** 2 < 0.5)
        True

    .. warning:: With the default ``eps`` the first steps are about ``sqrt(eps) = 1e-3``
       in size whatever the gradient's scale, so AdaDelta can look stalled at first;
       ``lr`` and ``eps`` are the knobs.

    Reference: M. D. Zeiler, "ADADELTA: An Adaptive Learning Rate Method",
    arXiv:1212.5701 (2012).
    """.format(params_doc=params_doc, step_doc=step_doc, math=MATH)

    algorithm = ALGORITHM

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False,
                 **precision):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize), **precision)

    def _new_state(self, p, group):
        return {"step": 0, "square_avg": np.zeros_like(p), "acc_delta": np.zeros_like(p)}
