"""LAMB in NumPy, in the kernel's order (src_c/kernels/lamb.inc.c)."""
import math

import numpy as np

from fastopt.reference._util import moments_, per_param, scalars_converted

__all__ = ["lamb"]

_LANES = 16


def _sum_squares(x):
    """sum(float64(x) ** 2) in the kernel's fixed order: element i into lane i % 16, the lanes
    added up row after row (np.add.reduce over axis 0 of the (rows, 16) array, one row at a
    time), then folded 16 -> 8 -> 4 -> 2 -> 1."""
    x = np.asarray(x, np.float64).reshape(-1)
    rows = -(-x.size // _LANES)
    padded = np.zeros(rows * _LANES)
    padded[:x.size] = x * x
    lanes = np.add.reduce(padded.reshape(rows, _LANES), axis=0) if rows else np.zeros(_LANES)
    w = _LANES // 2
    while w >= 1:
        lanes[:w] = lanes[:w] + lanes[w:2 * w]
        w //= 2
    return float(lanes[0])


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
