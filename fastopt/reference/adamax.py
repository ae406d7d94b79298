"""Adamax in NumPy, in the kernel's order (src_c/kernels/adamax.inc.c)."""
import numpy as np

from fastopt.reference._util import lerp_, per_param, scalars_converted

__all__ = ["adamax"]


@scalars_converted
def adamax(params, grads, exp_avgs, exp_infs, steps, *, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
           weight_decay=0.0, maximize=False):
    """Update ``params``, ``exp_avgs`` and ``exp_infs`` in place, one Adamax step each.

    ``steps`` is the 1-based number of this step (one int, or one per param). The update is
    :class:`fastopt.Adamax`'s (fastopt.optim.adamax.MATH), in the same order; ``clr`` and
    ``w`` are computed in Python floats (double) and rounded once to the param's dtype.
    """
    beta1, beta2 = betas
    for p, g, m, u, step in zip(params, grads, exp_avgs, exp_infs,
                                per_param(steps, len(params))):
        t = p.dtype.type
        clr = t(lr / (1.0 - beta1 ** step))
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + t(weight_decay) * p
        lerp_(m, g, beta1)
        np.maximum(u * t(beta2), np.abs(g) + t(eps), out=u)
        p -= (clr * m) / u
