"""Adam and AdamW in NumPy, in the kernel's order (src_c/kernels/adam.inc.c)."""
import math

import numpy as np

from fastopt.reference._util import moments_, per_param, scalars_converted

__all__ = ["adam", "adamw"]


def _adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr, betas, eps,
          weight_decay, amsgrad, maximize, decoupled):
    beta1, beta2 = betas
    if max_exp_avg_sqs is None:
        max_exp_avg_sqs = [None] * len(params)
    for p, g, m, v, vmax, step in zip(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs,
                                      per_param(steps, len(params))):
        t = p.dtype.type
        bc1 = 1.0 - beta1 ** step
        bc2 = 1.0 - beta2 ** step
        step_size = t(lr / bc1)
        bc2_sqrt = t(math.sqrt(bc2))
        if maximize:
            g = -g
        if weight_decay != 0:
            if decoupled:
                p *= t(1.0 - lr * weight_decay)
            else:
                g = g + t(weight_decay) * p
        moments_(m, v, g, beta1, beta2)
        if amsgrad:
            np.maximum(vmax, v, out=vmax)
            v = vmax
        p -= (step_size * m) / (np.sqrt(v) / bc2_sqrt + t(eps))


@scalars_converted
def adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr=1e-3,
         betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False):
    """Update ``params`` and the moments in place, one Adam step each (L2 weight decay).

    ``steps`` is the 1-based number of this step (one int, or one per param);
    ``max_exp_avg_sqs`` is only read and written with ``amsgrad`` (may be None otherwise).
    The update is :class:`fastopt.Adam`'s (fastopt.optim.adam.MATH), in the same order;
    ``bc1``, ``bc2``, ``step_size``, ``bc2_sqrt`` and ``w`` are computed in Python floats
    (double), and ``step_size``, ``bc2_sqrt`` and ``w`` rounded once to the param's dtype.
    """
    _adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr, betas, eps,
          weight_decay, amsgrad, maximize, False)


@scalars_converted
def adamw(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr=1e-3,
          betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False):
    """Like :func:`adam`, with decoupled weight decay in place of the L2 term: the update is
    :class:`fastopt.AdamW`'s (fastopt.optim.adam.MATH with its AdamW weight-decay line), in
    the same order; ``1 - lr * weight_decay`` is computed in double and rounded once.
    """
    _adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr, betas, eps,
          weight_decay, amsgrad, maximize, True)
