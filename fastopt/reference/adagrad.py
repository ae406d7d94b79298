"""Adagrad in NumPy, in the kernel's order (src_c/kernels/adagrad.inc.c)."""
import numpy as np

from fastopt.reference._util import per_param, scalars_converted

__all__ = ["adagrad"]


@scalars_converted
def adagrad(params, grads, sums, steps, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
            eps=1e-10, eps_inside_sqrt=False, maximize=False):
    """Update ``params`` and ``sums`` in place, one Adagrad step each.

    ``steps`` is the 1-based number of this step (one int, or one per param). The update is
    :class:`fastopt.Adagrad`'s (fastopt.optim.adagrad.MATH), in the same order; ``clr`` is
    computed in Python floats (double) and rounded once to the param's dtype.
    """
    for p, g, s, step in zip(params, grads, sums, per_param(steps, len(params))):
        t = p.dtype.type
        clr = t(lr / (1.0 + (step - 1) * lr_decay))
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + t(weight_decay) * p
        s += g * g
        if eps_inside_sqrt:
            den = np.sqrt(s + t(eps))
        else:
            den = np.sqrt(s) + t(eps)
        p -= clr * g / den
