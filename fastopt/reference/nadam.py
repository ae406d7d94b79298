"""NAdam in NumPy, in the kernel's order (src_c/kernels/nadam.inc.c)."""
import numpy as np

from fastopt.reference._util import moments_, per_param, scalars_converted

__all__ = ["nadam"]


@scalars_converted
def nadam(params, grads, exp_avgs, exp_avg_sqs, mu_products, steps, *, lr=2e-3,
          betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
          decoupled_weight_decay=False, maximize=False):
    """Update ``params``, the moments and ``mu_products`` in place, one NAdam step each.

    ``mu_products`` are 0-d float32 or float64 arrays (one number per param, updated in their
    own dtype); ``steps`` is the 1-based number of this step (one int, or one per param). The
    update is :class:`fastopt.NAdam`'s (fastopt.optim.nadam.MATH), in the same order; ``bc2``,
    ``mu``, ``mu_next`` and the two step coefficients are computed in Python floats (double),
    and what the arrays meet of them rounded once to the param's dtype.
    """
    beta1, beta2 = betas
    for p, g, m, v, mu_product, step in zip(params, grads, exp_avgs, exp_avg_sqs, mu_products,
                                            per_param(steps, len(params))):
        t = p.dtype.type
        bc2 = 1.0 - beta2 ** step
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
        mu_product *= mu_product.dtype.type(mu)     # in its own dtype, as torch's 0-d tensor
        mp = float(mu_product)
        if maximize:
            g = -g
        if weight_decay != 0:
            if decoupled_weight_decay:
                p *= t(1.0 - lr * weight_decay)
            else:
                g = g + t(weight_decay) * p
        moments_(m, v, g, beta1, beta2)
        d = np.sqrt(v / t(bc2)) + t(eps)
        p += (t(-lr * (1.0 - mu) / (1.0 - mp)) * g) / d
        p += (t(-lr * mu_next / (1.0 - mp * mu_next)) * m) / d
