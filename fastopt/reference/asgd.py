"""ASGD in NumPy, in the kernel's order (src_c/kernels/asgd.inc.c)."""
from fastopt.reference._util import per_param, scalars_converted

__all__ = ["asgd"]


@scalars_converted
def asgd(params, grads, axs, mus, etas, steps, *, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6,
         weight_decay=0.0, maximize=False):
    """Update ``params``, ``axs``, ``etas`` and ``mus`` in place, one ASGD step each.

    ``etas`` and ``mus`` are 0-d float32 or float64 arrays (one number per param); ``steps`` is
    the 1-based number of this step (one int, or one per param). The update is
    :class:`fastopt.ASGD`'s (fastopt.optim.asgd.MATH), in the same order: the step uses the
    ``eta`` and ``mu`` the previous step left, then sets them for the next one, computed in
    Python floats (double) and rounded to their arrays' dtypes.
    """
    for p, g, ax, mu, eta, step in zip(params, grads, axs, mus, etas,
                                       per_param(steps, len(params))):
        t = p.dtype.type
        eta_now, mu_now = float(eta), float(mu)
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + t(weight_decay) * p
        p *= t(1.0 - lambd * eta_now)
        p += t(-eta_now) * g
        if mu_now != 1.0:
            ax += (p - ax) * t(mu_now)
        else:
            ax[...] = p
        mu[...] = 1.0 / max(1.0, step - t0)         # rounded to mu's and eta's dtypes
        eta[...] = lr / (1.0 + lambd * lr * step) ** alpha
