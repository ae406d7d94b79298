"""Lion in NumPy, in the kernel's order (src_c/kernels/lion.inc.c)."""
import numpy as np

from fastopt.reference._util import per_param, scalars_converted

__all__ = ["lion"]


@scalars_converted
def lion(params, grads, exp_avgs, steps, *, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0,
         maximize=False):
    """Update ``params`` and ``exp_avgs`` in place, one Lion step each.

    ``steps`` (the 1-based number of this step) is accepted for symmetry and not used. The
    update is :class:`fastopt.Lion`'s (fastopt.optim.lion.MATH): Algorithm 2 of Chen et al.
    (2023), in that order; ``1 - beta1`` and ``1 - beta2`` are computed in Python floats
    (double) and rounded once to the param's dtype.
    """
    beta1, beta2 = betas
    per_param(steps, len(params))   # checked like fastopt's; the update does not use it
    for p, g, m in zip(params, grads, exp_avgs):
        t = p.dtype.type
        if maximize:
            g = -g
        u = np.sign(t(beta1) * m + t(1.0 - beta1) * g)
        if weight_decay != 0:
            u = u + t(weight_decay) * p
        p -= t(lr) * u
        m[...] = t(beta2) * m + t(1.0 - beta2) * g
