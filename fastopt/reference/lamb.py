"""LAMB in NumPy, in the kernel's order (src_c/kernels/lamb.inc.c)."""
import math

import numpy as np

from fastopt.reference._util import line_sums, moments_, per_param, scalars_converted

__all__ = ["lamb"]


def _sum_squares(x):
    """sum(float64(x) ** 2) in the kernel's fixed order: the whole param as one line
    (reference._util.line_sums)."""
    return float(line_sums(np.reshape(x, (1, -1)))[0])


@scalars_converted
def lamb(params, grads, exp_avgs, exp_avg_sqs, steps, *, lr=1e-3, betas=(0.9, 0.999),
         eps=1e-6, weight_decay=0.0, maximize=False):
    """Update ``params`` and the moments in place, one LAMB step each.

    ``steps`` is the 1-based number of this step (one int, or one per param). The update is
    :class:`fastopt.Lamb`'s (fastopt.optim.lamb.MATH), in the same order; ``bc1``, ``bc2``,
    the norms and the trust ratio are computed in double, and what the arrays meet of them
    rounded once to the param's dtype.
    """
    beta1, beta2 = betas
    for p, g, m, v, step in zip(params, grads, exp_avgs, exp_avg_sqs,
                                per_param(steps, len(params))):
        t = p.dtype.type
        if maximize:
            g = -g
        moments_(m, v, g, beta1, beta2)
        u = (m / t(1.0 - beta1 ** step)) / (np.sqrt(v / t(1.0 - beta2 ** step)) + t(eps))
        if weight_decay != 0:
            u = u + t(weight_decay) * p
        pn, un = math.sqrt(_sum_squares(p)), math.sqrt(_sum_squares(u))
        ratio = pn / un if pn > 0.0 and un > 0.0 else 1.0
        p -= t(lr * ratio) * u
