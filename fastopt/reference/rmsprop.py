"""RMSprop in NumPy, in the kernel's order (src_c/kernels/rmsprop.inc.c)."""
import numpy as np

from fastopt.reference._util import per_param, scalars_converted

__all__ = ["rmsprop"]


@scalars_converted
def rmsprop(params, grads, square_avgs, grad_avgs, momentum_buffers, steps, *, lr=1e-2,
            alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
            maximize=False, eps_inside_sqrt=False):
    """Update ``params`` and the state buffers in place, one RMSprop step each.

    ``grad_avgs`` is used only if ``centered``, ``momentum_buffers`` only if ``momentum != 0``;
    otherwise either may be ``None`` (or hold ``None``). ``steps`` is accepted for symmetry
    with the other steps; the update does not depend on it. The update is
    :class:`fastopt.RMSprop`'s (fastopt.optim.rmsprop.MATH), in the same order; ``w`` is
    computed in Python floats (double) and rounded once to the param's dtype.
    """
    k = len(params)
    if grad_avgs is None:
        grad_avgs = [None] * k
    if momentum_buffers is None:
        momentum_buffers = [None] * k
    for p, g, v, m, b, _ in zip(params, grads, square_avgs, grad_avgs, momentum_buffers,
                                per_param(steps, k)):
        t = p.dtype.type
        w = t(1.0 - alpha)
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + t(weight_decay) * p
        v[...] = v * t(alpha) + w * g * g
        x = v
        if centered:
            if abs(w) < 0.5:
                m[...] = m + w * (g - m)
            else:
                m[...] = g + (w - t(1)) * (g - m)
            x = v - m * m
        if eps_inside_sqrt:
            d = np.sqrt(x + t(eps))
        else:
            d = np.sqrt(x) + t(eps)
        if momentum != 0:
            b[...] = b * t(momentum) + g / d
            p -= t(lr) * b
        else:
            p -= t(lr) * g / d
