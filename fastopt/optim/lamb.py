"""LAMB: the functional step and the optimizer object.

Kernel: src_c/kernels/lamb.inc.c. Reference: fastopt/reference/lamb.py.
"""
import numpy as np

from fastopt._scalars import flag, nonnegative
from fastopt.optim._algorithm import Algorithm
from fastopt.optim._base import Optimizer
from fastopt.optim._docs import params_doc, step_doc
from fastopt.optim.adam import _betas

__all__ = ["Lamb", "lamb"]


#: LAMB's update, in the kernel's order: the one place it is written for readers.
MATH = """\
        bc1 = 1 - beta1 ** t;  bc2 = 1 - beta2 ** t        (double, once per step)
        w   = 1 - beta1                                 (in double, rounded to the dtype)
        g  = -g                                         if maximize
        m  = m + w * (g - m)                            if w < 0.5   (torch's lerp)
        m  = g + (w - 1) * (g - m)                      otherwise
        v  = v * beta2
        v  = v + ((1 - beta2) * g) * g
        u  = (m / bc1) / (sqrt(v / bc2) + eps)
        u  = u + weight_decay * p                       if weight_decay != 0
        ratio = ||p|| / ||u|| if both > 0, else 1       (norms in float64, a fixed order)
        p  = p - (lr * ratio) * u                       (lr * ratio rounded to the dtype)"""


def lamb_hyper(group):
    """LAMB's settings -> its kernel's scalars (registry.h: lamb); ValueError if invalid."""
    beta1, beta2 = _betas(group["betas"])
    return {"lr": nonnegative("lr", group["lr"]), "beta1": beta1, "beta2": beta2,
            "eps": nonnegative("eps", group["eps"]),
            "weight_decay": nonnegative("weight_decay", group["weight_decay"]),
            "maximize": flag("maximize", group["maximize"])}


ALGORITHM = Algorithm("Lamb", kernel="lamb", hyper=lamb_hyper)


def lamb(params, grads, exp_avgs, exp_avg_sqs, steps, *, lr=1e-3, betas=(0.9, 0.999),
         eps=1e-6, weight_decay=0.0, maximize=False, masters=None, seed=0):
    """One fused LAMB step over lists of arrays, in place; the math is :class:`Lamb`'s.

    Args:
        params: list of float32/float64 writeable arrays, each one dense block in any
            layout (C, Fortran or another order of the dimensions), updated in place.
        grads: list of arrays with each param's dtype, shape and memory layout (only read).
        exp_avgs: list of the first moments (``state["exp_avg"]``, like the param), updated
            in place.
        exp_avg_sqs: list of the second moments (``state["exp_avg_sq"]``, like the param),
            updated in place.
        steps: the 1-based number of this step: one int, or a list with one per param.
        lr, betas, eps, weight_decay, maximize: as in :class:`Lamb`.

    All buffers are validated before anything is written; see :mod:`fastopt.reference` for
    the same step in NumPy.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> p = np.array([3.0, 4.0])             # ||p|| = 5
        >>> g = np.array([0.5, -4.0])
        >>> m, v = np.zeros(2), np.zeros(2)
        >>> fastopt.functional.lamb([p], [g], [m], [v], 1, lr=0.1)
        >>> print(p.round(4))   # u = sign(g) at step 1: p - 0.1 * (5 / sqrt(2)) * u
        [2.6464 4.3536]
    """
    ALGORITHM.functional(params, grads, {"exp_avg": exp_avgs, "exp_avg_sq": exp_avg_sqs},
                         steps, {"lr": lr, "betas": betas, "eps": eps,
                                 "weight_decay": weight_decay, "maximize": maximize},
                         masters=masters, seed=seed)


class Lamb(Optimizer):
    __doc__ = r"""LAMB (You et al., 2019): Adam's direction scaled per param by a trust ratio.

    For each param :math:`p` with gradient :math:`g`, first moment :math:`m`, second
    moment :math:`v` and step :math:`t`, in the kernel's order (per-step scalars in double,
    the rest in the param's dtype)::

{math}

    where ``m`` and ``v`` start at 0 and ``t`` counts this param's steps. This is Algorithm 2
    of the paper (with its bias corrections; the scaling function phi is the identity, and a
    zero norm makes the ratio 1, as the reference implementations do). The norms need the
    whole param, so a param's step makes three passes over it (moments; norms; update) and
    is not cut between threads: a step spreads its params over the threads instead.

    {params_doc}
        lr: learning rate (default 1e-3).
        betas: ``(beta1, beta2)``, the decay rates of the first and second moment, each
            in [0, 1) (default (0.9, 0.999)).
        eps: added to the root of ``v / bc2`` (default 1e-6, the paper's).
        weight_decay: the decoupled decay ``lambda`` added to the direction before the trust
            ratio is taken (default 0).
        maximize: maximize the objective instead of minimizing (default False).

    State per param: ``step`` (int), ``exp_avg`` and ``exp_avg_sq`` (arrays like the param).

    {step_doc}

    Example::

        >>> import numpy as np, fastopt
        >>> x = np.array([-5.0, -2.0])
        >>> opt = fastopt.Lamb([x], lr=0.05)
        >>> for _ in range(200):
        ...     opt.step([np.array([0.2, 4.0]) * x])
        >>> bool(0.1 * x[0] ** 2 + 2 * x[1] ** 2 < 0.5)
        True

    Reference: Y. You, J. Li, S. Reddi, J. Hseu, S. Kumar, S. Bhojanapalli, X. Song,
    J. Demmel, K. Keutzer, C.-J. Hsieh, "Large Batch Optimization for Deep Learning:
    Training BERT in 76 minutes", ICLR 2020 (Algorithm 2).
    """.format(math=MATH, params_doc=params_doc, step_doc=step_doc)

    algorithm = ALGORITHM

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0,
                 maximize=False, **precision):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize), **precision)

    def _new_state(self, p, group):
        return {"step": 0, "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
