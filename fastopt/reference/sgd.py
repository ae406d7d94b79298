"""SGD (with momentum and Nesterov) in NumPy, in the kernel's order (src_c/kernels/sgd.inc.c)."""
from fastopt.reference._util import per_param, scalars_converted

__all__ = ["sgd"]


@scalars_converted
def sgd(params, grads, momentum_buffers, steps, *, lr=1e-3, momentum=0.0, dampening=0.0,
        weight_decay=0.0, nesterov=False, maximize=False):
    """Update ``params`` (and, with momentum, ``momentum_buffers``) in place, one SGD step.

    ``steps`` is the 1-based number of this step (one int, or one per param): on step 1 the
    momentum buffer is only written (its old contents are never read), as torch creates it
    from the gradient. ``momentum_buffers`` may be ``None`` (or hold ``None``) when
    ``momentum == 0``. The update is :class:`fastopt.SGD`'s (fastopt.optim.sgd.MATH), in the
    same order; ``1 - dampening`` is computed in Python floats (double) and rounded once to
    the param's dtype.
    """
    k = len(params)
    if momentum_buffers is None:
        momentum_buffers = [None] * k
    for p, g, b, step in zip(params, grads, momentum_buffers, per_param(steps, k)):
        t = p.dtype.type
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + t(weight_decay) * p
        if momentum != 0:
            if step == 1:
                b[...] = g
            else:
                b[...] = b * t(momentum) + t(1.0 - dampening) * g
            g = g + t(momentum) * b if nesterov else b
        p -= t(lr) * g
