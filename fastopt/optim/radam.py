"""RAdam: the functional step and the optimizer object.

Kernel: src_c/kernels/radam.inc.c. Reference: fastopt/reference/radam.py.
"""
import numpy as np

from fastopt._scalars import flag, nonnegative
from fastopt.optim._algorithm import Algorithm
from fastopt.optim._base import Optimizer
from fastopt.optim._docs import params_doc, step_doc
from fastopt.optim.adam import _betas

__all__ = ["RAdam", "radam"]


#: RAdam's update, in the kernel's order: the one place it is written for readers.
MATH = """\
        bc1     = 1 - beta1 ** t                          (double, once per step)
        bc2     = 1 - beta2 ** t                          (double)
        rho_inf = 2 / (1 - beta2) - 1                     (double)
        rho_t   = rho_inf - 2 t beta2 ** t / bc2          (double)
        rect    = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))
        w       = 1 - beta1                               (in double, rounded to the dtype)
        g  = -g                                           if maximize
        g  = g + weight_decay * p                         if weight_decay != 0 (L2)
        p  = p * (1 - lr * weight_decay)                  instead, if decoupled_weight_decay
        m  = m + w * (g - m)                              if w < 0.5   (torch's lerp)
        m  = g + (w - 1) * (g - m)                        otherwise
        v  = v * beta2
        v  = v + ((1 - beta2) * g) * g
        mh = m / bc1
        a  = (1 / (sqrt(v) + eps)) * sqrt(bc2)            (if rho_t > 5)
        p  = p - ((mh * lr) * a) * rect                   if rho_t > 5 (rectified)
        p  = p - mh * lr                                  otherwise (momentum SGD)"""


def radam_hyper(group):
    """RAdam's settings -> its kernel's scalars (registry.h: radam); ValueError if invalid."""
    beta1, beta2 = _betas(group["betas"])
    return {"lr": nonnegative("lr", group["lr"]), "beta1": beta1, "beta2": beta2,
            "eps": nonnegative("eps", group["eps"]),
            "weight_decay": nonnegative("weight_decay", group["weight_decay"]),
            "decoupled": flag("decoupled_weight_decay",
                              group.get("decoupled_weight_decay", False)),
            "maximize": flag("maximize", group["maximize"])}


ALGORITHM = Algorithm("RAdam", kernel="radam", hyper=radam_hyper)


def radam(params, grads, exp_avgs, exp_avg_sqs, steps, *, lr=1e-3, betas=(0.9, 0.999),
          eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False, maximize=False,
          masters=None, seed=0):
    """One fused RAdam step over lists of arrays, in place; the math is :class:`RAdam`'s.

    Args:
        params: list of float32/float64 writeable arrays, each one dense block in any
            layout (C, Fortran or another order of the dimensions), updated in place.
        grads: list of arrays with each param's dtype, shape and memory layout (only read).
        exp_avgs: list of the first moments (``state["exp_avg"]``, like the param), updated
            in place.
        exp_avg_sqs: list of the second moments (``state["exp_avg_sq"]``, like the param),
            updated in place.
        steps: the 1-based number of this step: one int, or a list with one per param.
        lr, betas, eps, weight_decay, decoupled_weight_decay, maximize: as in
            :class:`RAdam`.

    All buffers are validated before anything is written; see :mod:`fastopt.reference` for
    the same step in NumPy.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> p = np.array([1.0, -2.0])
        >>> g = np.array([0.5, -4.0])
        >>> m, v = np.zeros(2), np.zeros(2)
        >>> for t in (1, 2, 3):   # rho_t <= 5 for the first steps: plain momentum, lr * m / bc1
        ...     fastopt.functional.radam([p], [g], [m], [v], t, lr=0.1)
        >>> print(p.round(6))   # a constant gradient: 3 steps of lr * g
        [ 0.85 -0.8 ]
    """
    ALGORITHM.functional(params, grads, {"exp_avg": exp_avgs, "exp_avg_sq": exp_avg_sqs},
                         steps, {"lr": lr, "betas": betas, "eps": eps,
                                 "weight_decay": weight_decay,
                                 "decoupled_weight_decay": decoupled_weight_decay,
                                 "maximize": maximize}, masters=masters, seed=seed)


class RAdam(Optimizer):
    __doc__ = r"""RAdam (Liu et al., 2020): Adam with its variance rectified, fused into one pass.

    For each param :math:`p` with gradient :math:`g`, first moment :math:`m`, second
    moment :math:`v` and step :math:`t`, in the kernel's order (per-step scalars in double,
    the rest in the param's dtype)::

{math}

    where ``m`` and ``v`` start at 0 and ``t`` counts this param's steps. While the
    approximated SMA length ``rho_t`` is at most 5 (the first steps: 5 with the default
    betas) the step is momentum SGD with bias correction. This is torch.optim.RAdam (2.13,
    for-loop, not capturable), state names included.

    {params_doc}
        lr: learning rate (default 1e-3).
        betas: ``(beta1, beta2)``, the decay rates of the first and second moment, each
            in [0, 1) (default (0.9, 0.999)).
        eps: added to the root of ``v`` (default 1e-8).
        weight_decay: L2 penalty added to the gradient, or with ``decoupled_weight_decay``
            a decay of the param by ``1 - lr * weight_decay`` (default 0).
        decoupled_weight_decay: decay the param directly, as AdamW (default False).
        maximize: maximize the objective instead of minimizing (default False).

    State per param: ``step`` (int), ``exp_avg`` and ``exp_avg_sq`` (arrays like the param).

    {step_doc}

    Example::

        >>> import numpy as np, fastopt
        >>> x = np.array([-5.0, -2.0])
        >>> opt = fastopt.RAdam([x], lr=0.5)
        >>> for _ in range(100):
        ...     opt.step([np.array([0.2, 4.0]) * x])
        >>> bool(0.1 * x[0] ** 2 + 2 * x[1] ** 2 < 0.5)
        True

    .. warning:: The first steps (``rho_t <= 5``) are not adaptive: their size is
       ``lr * m / bc1`` in the gradient's own scale, so a large gradient with a large ``lr``
       moves far before the rectified steps start.

    Reference: L. Liu, H. Jiang, P. He, W. Chen, X. Liu, J. Gao, J. Han, "On the Variance
    of the Adaptive Learning Rate and Beyond", ICLR 2020.
    """.format(math=MATH, params_doc=params_doc, step_doc=step_doc)

    algorithm = ALGORITHM

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, maximize=False, **precision):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize), **precision)

    def _new_state(self, p, group):
        return {"step": 0, "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
