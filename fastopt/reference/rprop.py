"""Rprop in NumPy, in the kernel's order (src_c/kernels/rprop.inc.c)."""
import numpy as np

from fastopt.reference._util import per_param, scalars_converted

__all__ = ["rprop"]


@scalars_converted
def rprop(params, grads, prevs, step_size_buffers, steps, *, lr=1e-2, etas=(0.5, 1.2),
          step_sizes=(1e-6, 50.0), maximize=False):
    """Update ``params``, ``prevs`` and ``step_sizes`` in place, one Rprop step each.

    ``steps`` (the 1-based number of this step) is accepted for symmetry and not used, and
    ``lr`` is only where a new step-size buffer starts (not used here). The update is
    :class:`fastopt.Rprop`'s (fastopt.optim.rprop.MATH), in the same order.
    """
    etaminus, etaplus = etas
    lo, hi = step_sizes
    per_param(steps, len(params))   # checked like fastopt's; the update does not use it
    for p, g, prev, s in zip(params, grads, prevs, step_size_buffers):
        t = p.dtype.type
        if maximize:
            g = -g
        d = np.sign(g * prev)
        f = np.where(d > 0, t(etaplus), np.where(d < 0, t(etaminus), np.where(d == 0, t(1), d)))
        np.clip(s * f, t(lo), t(hi), out=s)
        g = np.where(f == t(etaminus), t(0), g)
        p -= np.sign(g) * s
        prev[...] = g
