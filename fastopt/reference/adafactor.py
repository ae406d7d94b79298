"""Adafactor in NumPy, in the kernel's order (src_c/kernels/adafactor.inc.c)."""
import math

import numpy as np

from fastopt.reference._util import (in_order, lerp_weight_, line_sums, per_param,
                                     scalars_converted)

__all__ = ["adafactor"]


def _rden(row_var, rows, eps1):
    """np.maximum(sum(float64(row_var)) / rows, eps1) per matrix, the sum in row order."""
    t = row_var.dtype.type
    acc = np.zeros(row_var.shape[0])
    for r in range(rows):
        acc += row_var[:, r].astype(np.float64)
    return np.maximum((acc / rows).astype(row_var.dtype), t(eps1))


@scalars_converted
def adafactor(params, grads, row_vars, col_vars, variances, steps, *, lr=1e-2,
              beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, maximize=False):
    """Update ``params`` and the second moments in place, one Adafactor step each.

    ``row_vars`` / ``col_vars`` hold the factors of the params with two or more dimensions
    (None for the others), ``variances`` the second moments of 0-D and 1-D params (None for
    the others); ``steps`` is the 1-based number of this step (one int, or one per param).
    The update is :class:`fastopt.Adafactor`'s (fastopt.optim.adafactor.MATH), in the same
    order; the step's scalars and the sums are computed in double, and what the arrays meet
    of them rounded once to the param's dtype.
    """
    eps1_given, eps2 = eps
    for p, g, rv, cv, var, step in zip(params, grads, row_vars, col_vars, variances,
                                       per_param(steps, len(params))):
        t = p.dtype.type
        if p.size == 0:
            continue
        eps1 = float(np.finfo(p.dtype).eps) if eps1_given is None else eps1_given
        w = step ** beta2_decay
        inv_sqrt_t = 1.0 / math.sqrt(step)
        rho = min(lr, inv_sqrt_t)
        factored = p.ndim >= 2
        cols = p.shape[-1] if factored else p.size
        lines = p.size // cols
        rms_p = math.sqrt(in_order(line_sums(p.reshape(lines, cols)))) / math.sqrt(p.size)
        alpha = max(eps2, rms_p) * rho
        if maximize:
            g = -g
        if factored:
            rows = p.shape[-2]
            gm = g.reshape(-1, rows, cols)
            rvm, cvm = rv.view(), cv.view()
            rvm.shape, cvm.shape = (-1, rows), (-1, cols)   # views: raises rather than copy
            lerp_weight_(rvm, (line_sums(gm.reshape(-1, cols)) / cols).astype(p.dtype)
                         .reshape(rvm.shape), w)
            acc = np.zeros((gm.shape[0], cols))
            for r in range(rows):   # down each column, in row order
                x = gm[:, r, :].astype(np.float64)
                acc += x * x
            lerp_weight_(cvm, (acc / rows).astype(p.dtype), w)
            rden = _rden(rvm, rows, eps1)
            v = (rvm / rden[:, None])[:, :, None] * cvm[:, None, :]
            u = (gm / np.sqrt(np.maximum(v, t(eps1 * eps1)))).reshape(p.shape)
        else:
            lerp_weight_(var, g * g, w)
            u = g / np.sqrt(np.maximum(var, t(eps1 * eps1)))
        rms_u = math.sqrt(in_order(line_sums(u.reshape(lines, cols)))) / (math.sqrt(p.size) * d)
        denom = max(1.0, rms_u)
        if weight_decay != 0:
            p *= t(1.0 - lr * weight_decay)
        p -= t(alpha / denom) * u
