"""Adadelta in NumPy, in the kernel's order (src_c/kernels/adadelta.inc.c)."""
import numpy as np

from fastopt.reference._util import per_param, scalars_converted

__all__ = ["adadelta"]



@scalars_converted
def adadelta(params, grads, square_avgs, acc_deltas, steps, *, lr=1.0, rho=0.9, eps=1e-6,
             weight_decay=0.0, maximize=False):
    """Update ``params``, ``square_avgs`` and ``acc_deltas`` in place, one Adadelta step each.

    ``steps`` (the 1-based number of this step) is accepted for symmetry and not used. The
    update is :class:`fastopt.Adadelta`'s (fastopt.optim.adadelta.MATH), in the same order;
    ``1 - rho`` is computed in Python floats (double) and rounded once to the param's dtype.
    """
    per_param(steps, len(params))   # checked like fastopt's; the update does not use it
    for p, g, s, a in zip(params, grads, square_avgs, acc_deltas):
        t = p.dtype.type
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + t(weight_decay) * p
        s *= t(rho)
        s += (t(1.0 - rho) * g) * g
        delta = np.sqrt(a + t(eps)) / np.sqrt(s + t(eps)) * g
        a *= t(rho)
        a += (t(1.0 - rho) * delta) * delta
        p -= t(lr) * delta
