"""Adafactor: the functional step and the optimizer object.

Kernel: src_c/kernels/adafactor.inc.c. Reference: fastopt/reference/adafactor.py.
"""
import numpy as np

from fastopt._scalars import flag, nonnegative, real
from fastopt.optim._algorithm import Algorithm
from fastopt.optim._base import Optimizer
from fastopt.optim._docs import params_doc, step_doc

__all__ = ["Adafactor", "adafactor"]


#: Adafactor's update, in the kernel's order: the one place it is written for readers.
MATH = """\
        w     = t ** beta2_decay                     (double, rounded to the dtype)
        rho   = min(lr, 1 / sqrt(t))                 (double)
        alpha = max(eps2, rms(p)) * rho              (double; rms(p) before the decay)
        g = -g                                       if maximize
        a param of 2 or more dims (matrices: its last two dims, rows x cols):
          row_var = row_var.lerp(mean(g * g, axis=-1), w)
          col_var = col_var.lerp(mean(g * g, axis=-2), w)
          v = (row_var / max(mean(row_var, axis=-2), eps1)) * col_var
        a 0-D or 1-D param:
          variance = variance.lerp(g * g, w);  v = variance
        u     = g / sqrt(max(v, eps1 * eps1))
        denom = max(1, rms(u) / d)                   (double)
        p     = p * (1 - lr * weight_decay)          if weight_decay != 0
        p     = p - (alpha / denom) * u              (alpha / denom rounded to the dtype)

    where rms(x) = ||x|| / sqrt(x.size), lerp is torch's (``m + w * (x - m)`` while
    ``w < 0.5``, else ``x + (w - 1) * (x - m)``), the means and norms are sums in float64
    in one fixed order (src_c/kernels/adafactor.inc.c) rounded once to the dtype where an
    array meets them, and ``eps1`` is the dtype's machine epsilon when None"""


def _eps(eps):
    try:
        eps1, eps2 = eps
    except (TypeError, ValueError):
        raise ValueError(f"eps must be a pair (eps1, eps2), got {eps!r}") from None
    return (-1.0 if eps1 is None else nonnegative("eps[0]", eps1), nonnegative("eps[1]", eps2))


def adafactor_hyper(group):
    """Adafactor's settings -> its kernel's scalars (registry.h: adafactor; the plan fills
    rows and cols); ValueError if invalid. eps1 None (the dtype's epsilon) is -1."""
    eps1, eps2 = _eps(group["eps"])
    return {"lr": nonnegative("lr", group["lr"]),
            "beta2_decay": real("beta2_decay", group["beta2_decay"], high=0.0),
            "eps1": eps1, "eps2": eps2, "d": real("d", group["d"], 1.0),
            "weight_decay": nonnegative("weight_decay", group["weight_decay"]),
            "maximize": flag("maximize", group["maximize"])}


ALGORITHM = Algorithm("Adafactor", kernel="adafactor", hyper=adafactor_hyper)


def adafactor(params, grads, row_vars, col_vars, variances, steps, *, lr=1e-2,
              beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, maximize=False,
              masters=None, seed=0):
    """One fused Adafactor step over lists of arrays, in place; the math is
    :class:`Adafactor`'s.

    Args:
        params: list of float32/float64 writeable arrays, updated in place; a param of two
            or more dimensions must be C-contiguous.
        grads: list of arrays with each param's dtype, shape and memory layout (only read).
        row_vars: per param, ``state["row_var"]`` (the param's shape with the last dim 1) for
            a param of two or more dimensions, else None; updated in place.
        col_vars: per param, ``state["col_var"]`` (the second-to-last dim 1) for a param of
            two or more dimensions, else None; updated in place.
        variances: per param, ``state["variance"]`` (like the param) for a 0-D or 1-D param,
            else None; updated in place.
        steps: the 1-based number of this step: one int, or a list with one per param.
        lr, beta2_decay, eps, d, weight_decay, maximize: as in :class:`Adafactor`.

    All buffers are validated before anything is written; see :mod:`fastopt.reference` for
    the same step in NumPy.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> p = np.array([3.0, 4.0])             # rms(p) = sqrt(12.5)
        >>> g = np.array([0.5, -4.0])
        >>> v = np.zeros(2)
        >>> fastopt.functional.adafactor([p], [g], [None], [None], [v], 1, lr=0.01)
        >>> print(p.round(4))   # u = sign(g) at step 1: p - 0.01 * sqrt(12.5) * u
        [2.9646 4.0354]
    """
    ALGORITHM.functional(params, grads, {"row_var": row_vars, "col_var": col_vars,
                                         "variance": variances}, steps,
                         {"lr": lr, "beta2_decay": beta2_decay, "eps": eps, "d": d,
                          "weight_decay": weight_decay, "maximize": maximize},
                         masters=masters, seed=seed)


class Adafactor(Optimizer):
    __doc__ = r"""Adafactor (Shazeer & Stern, 2018) as torch.optim.Adafactor computes it.

    For each param :math:`p` with gradient :math:`g` and step :math:`t`, in the kernel's
    order (per-step scalars in double, the rest in the param's dtype)::

{math}

    ``row_var``, ``col_var`` and ``variance`` start at 0 and ``t`` counts this param's
    steps. A param of two or more dimensions keeps only the factored second moments (a row
    and a column per matrix: sublinear memory) and must be C-contiguous. This is
    torch.optim.Adafactor's variant of the paper's Algorithm 4 (``lr`` caps the relative
    step size and scales the decoupled weight decay; ``eps1`` guards the variance estimate,
    not the squared gradient). The norms need the whole param, so a param's step makes
    several passes over it and is not cut between threads: a step spreads its params over
    the threads instead.

    {params_doc}
        lr: the cap on the relative step size ``rho`` and the weight decay's scale
            (default 1e-2).
        beta2_decay: ``beta2_t = 1 - t ** beta2_decay``; <= 0 (default -0.8).
        eps: ``(eps1, eps2)``: eps1 (>= 0, or None: the dtype's machine epsilon) guards the
            variance estimate; eps2 (>= 0) is the smallest ``rms(p)`` a step scales by
            (default (None, 1e-3)).
        d: the clipping threshold on ``rms(u)``, >= 1 (default 1).
        weight_decay: decoupled decay ``lambda`` (default 0).
        maximize: maximize the objective instead of minimizing (default False).

    State per param: ``step`` (int), and ``row_var`` (the param's shape, last dim 1) and
    ``col_var`` (second-to-last dim 1) for a param of two or more dimensions, ``variance``
    (like the param) for the others.

    {step_doc}

    Example::

        >>> import numpy as np, fastopt
        >>> x = np.array([[-5.0, -2.0], [3.0, 1.0]])
        >>> opt = fastopt.Adafactor([x], lr=0.05)
        >>> for _ in range(300):
        ...     opt.step([np.array([[0.2, 4.0], [1.0, 2.0]]) * x])
        >>> bool(np.abs(x).max() < 0.5)
        True

    Reference: N. Shazeer, M. Stern, "Adafactor: Adaptive Learning Rates with Sublinear
    Memory Cost", ICML 2018 (arXiv:1804.04235); torch.optim.Adafactor (2.13).
    """.format(math=MATH, params_doc=params_doc, step_doc=step_doc)

    algorithm = ALGORITHM

    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
                 weight_decay=0.0, maximize=False, **precision):
        super().__init__(params, dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d,
                                      weight_decay=weight_decay, maximize=maximize),
                         **precision)

    def _new_state(self, p, group):
        state = {"step": 0}
        if p.ndim >= 2:
            state["row_var"] = np.zeros(p.shape[:-1] + (1,), p.dtype)
            state["col_var"] = np.zeros(p.shape[:-2] + (1, p.shape[-1]), p.dtype)
        else:
            state["variance"] = np.zeros_like(p)
        return state
