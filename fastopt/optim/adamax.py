"""Adamax: the functional step and the optimizer object.

Kernel: src_c/kernels/adamax.inc.c. Reference: fastopt/reference/adamax.py.
"""
import numpy as np

from fastopt._scalars import flag, nonnegative
from fastopt.optim._algorithm import Algorithm
from fastopt.optim._base import Optimizer
from fastopt.optim._docs import params_doc, step_doc
from fastopt.optim.adam import _betas

__all__ = ["Adamax", "adamax"]


#: Adamax's update, in the kernel's order: the one place it is written for readers.
MATH = """\
        clr = lr / (1 - beta1 ** t)                (double, once per step)
        w   = 1 - beta1                            (in double, rounded to the param's dtype)
        g = -g                                     if maximize
        g = g + weight_decay * p                   if weight_decay != 0
        m = m + w * (g - m)                        if w < 0.5   (torch's lerp)
        m = g + (w - 1) * (g - m)                  otherwise
        u = maximum(u * beta2, abs(g) + eps)
        p = p - (clr * m) / u"""


def adamax_hyper(group):
    """Adamax's settings -> its kernel's scalars (registry.h: adamax); ValueError if invalid."""
    beta1, beta2 = _betas(group["betas"])
    return {"lr": nonnegative("lr", group["lr"]), "beta1": beta1, "beta2": beta2,
            "eps": nonnegative("eps", group["eps"]),
            "weight_decay": nonnegative("weight_decay", group["weight_decay"]),
            "maximize": flag("maximize", group["maximize"])}


ALGORITHM = Algorithm("Adamax", kernel="adamax", hyper=adamax_hyper)


def adamax(params, grads, exp_avgs, exp_infs, steps, *, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
           weight_decay=0.0, maximize=False, masters=None, seed=0):
    """One fused Adamax step over lists of arrays, in place; the math is :class:`Adamax`'s.

    Args:
        params: list of float32/float64 writeable arrays, each one dense block in any
            layout (C, Fortran or another order of the dimensions), updated in place.
        grads: list of arrays with each param's dtype, shape and memory layout (only read).
        exp_avgs: list of the first moments (``state["exp_avg"]``, like the param), updated
            in place.
        exp_infs: list of the exponentially weighted infinity norms (``state["exp_inf"]``,
            like the param), updated in place.
        steps: the 1-based number of this step: one int, or a list with one per param.
        lr, betas, eps, weight_decay, maximize: as in :class:`Adamax`.

    All buffers are validated before anything is written; see :mod:`fastopt.reference` for
    the same step in NumPy.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> p = np.array([1.0, -2.0])
        >>> g = np.array([0.5, -4.0])
        >>> m, u = np.zeros(2), np.zeros(2)
        >>> fastopt.functional.adamax([p], [g], [m], [u], 1, lr=0.1)
        >>> print(p.round(6))   # the first step moves each element by lr, whatever its scale
        [ 0.9 -1.9]
        >>> print(u.round(6))   # max(0 * beta2, |g| + eps)
        [0.5 4. ]
    """
    ALGORITHM.functional(params, grads, {"exp_avg": exp_avgs, "exp_inf": exp_infs}, steps,
                         {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                          "maximize": maximize}, masters=masters, seed=seed)


class Adamax(Optimizer):
    __doc__ = r"""Adamax (Kingma & Ba, 2015): Adam with the infinity norm, fused into one pass.

    For each param :math:`p` with gradient :math:`g`, first moment :math:`m`, exponentially
    weighted infinity norm :math:`u` and step :math:`t`, in the kernel's order (per-step
    scalars in double, the rest in the param's dtype)::

{math}

    where ``m`` and ``u`` start at 0 and ``t`` counts this param's steps. This is
    torch.optim.Adamax (2.13, for-loop, not capturable), state names included.

    {params_doc}
        lr: learning rate (default 2e-3).
        betas: ``(beta1, beta2)``, the decay rates of the first moment and of the infinity
            norm, each in [0, 1) (default (0.9, 0.999)).
        eps: added to ``abs(g)`` inside the maximum (default 1e-8); it keeps ``u`` > 0.
        weight_decay: L2 penalty added to the gradient (default 0).
        maximize: maximize the objective instead of minimizing (default False).

    State per param: ``step`` (int), ``exp_avg`` and ``exp_inf`` (arrays like the param).

    {step_doc}

    Example::

        >>> import numpy as np, fastopt
        >>> x = np.array([-5.0, -2.0])
        >>> opt = fastopt.Adamax([x], lr=0.5)
        >>> for _ in range(100):
        ...     opt.step([np.array([0.2, 4.0]) * x])
        >>> bool(0.1 * x[0] ** 2 + 2 * x[1] ** 2 < 0.5)
        True

    .. warning:: ``u`` is a running maximum, not an average: one huge gradient keeps the
       steps of that element small for about ``1 / (1 - beta2)`` steps.

    Reference: D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015
    (section 7.1, AdaMax).
    """.format(math=MATH, params_doc=params_doc, step_doc=step_doc)

    algorithm = ALGORITHM

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 maximize=False, **precision):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize), **precision)

    def _new_state(self, p, group):
        return {"step": 0, "exp_avg": np.zeros_like(p), "exp_inf": np.zeros_like(p)}
