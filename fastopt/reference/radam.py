"""RAdam in NumPy, in the kernel's order (src_c/kernels/radam.inc.c)."""
import math

import numpy as np

from fastopt.reference._util import moments_, per_param, scalars_converted

__all__ = ["radam"]


@scalars_converted
def radam(params, grads, exp_avgs, exp_avg_sqs, steps, *, lr=1e-3, betas=(0.9, 0.999),
          eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False, maximize=False):
    """Update ``params`` and the moments in place, one RAdam step each.

    ``steps`` is the 1-based number of this step (one int, or one per param). The update is
    :class:`fastopt.RAdam`'s (fastopt.optim.radam.MATH), in the same order; ``bc1``, ``bc2``,
    ``rho_inf``, ``rho_t`` and ``rect`` are computed in Python floats (double), and what the
    arrays meet of them rounded once to the param's dtype.
    """
    beta1, beta2 = betas
    for p, g, m, v, step in zip(params, grads, exp_avgs, exp_avg_sqs,
                                per_param(steps, len(params))):
        t = p.dtype.type
        bc1 = 1.0 - beta1 ** step
        bc2 = 1.0 - beta2 ** step
        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rho_t = rho_inf - 2.0 * step * beta2 ** step / bc2
        if maximize:
            g = -g
        if weight_decay != 0:
            if decoupled_weight_decay:
                p *= t(1.0 - lr * weight_decay)
            else:
                g = g + t(weight_decay) * p
        moments_(m, v, g, beta1, beta2)
        mh = m / t(bc1)
        if rho_t > 5.0:
            rect = t(math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                               / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)))
            a = (t(1) / (np.sqrt(v) + t(eps))) * t(math.sqrt(bc2))
            p -= ((mh * t(lr)) * a) * rect
        else:
            p -= mh * t(lr)
