"""NAdam: the functional step and the optimizer object.

Kernel: src_c/kernels/nadam.inc.c. Reference: fastopt/reference/nadam.py.
"""
import numpy as np

from fastopt._scalars import flag, nonnegative
from fastopt.optim._algorithm import Algorithm
from fastopt.optim._base import Optimizer
from fastopt.optim._docs import params_doc, step_doc
from fastopt.optim.adam import _betas

__all__ = ["NAdam", "nadam"]


#: NAdam's update, in the kernel's order: the one place it is written for readers.
MATH = """\
        bc2     = 1 - beta2 ** t                               (double, once per step)
        mu      = beta1 (1 - 0.5 * 0.96 ** (t * momentum_decay))         (double)
        mu_next = beta1 (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))   (double)
        mu_product = mu_product * mu                (in mu_product's own dtype, float32)
        c_grad  = -lr (1 - mu) / (1 - mu_product)                        (double)
        c_avg   = -lr mu_next / (1 - mu_product mu_next)                 (double)
        w       = 1 - beta1                            (in double, rounded to the dtype)
        g  = -g                                        if maximize
        g  = g + weight_decay * p                      if weight_decay != 0 (L2)
        p  = p * (1 - lr * weight_decay)               instead, if decoupled_weight_decay
        m  = m + w * (g - m)                           if w < 0.5   (torch's lerp)
        m  = g + (w - 1) * (g - m)                     otherwise
        v  = v * beta2
        v  = v + ((1 - beta2) * g) * g
        d  = sqrt(v / bc2) + eps
        p  = p + (c_grad * g) / d
        p  = p + (c_avg * m) / d"""


def nadam_hyper(group):
    """NAdam's settings -> its kernel's scalars (registry.h: nadam); ValueError if invalid."""
    beta1, beta2 = _betas(group["betas"])
    return {"lr": nonnegative("lr", group["lr"]), "beta1": beta1, "beta2": beta2,
            "eps": nonnegative("eps", group["eps"]),
            "weight_decay": nonnegative("weight_decay", group["weight_decay"]),
            "momentum_decay": nonnegative("momentum_decay", group["momentum_decay"]),
            "decoupled": flag("decoupled_weight_decay",
                              group.get("decoupled_weight_decay", False)),
            "maximize": flag("maximize", group["maximize"])}


ALGORITHM = Algorithm("NAdam", kernel="nadam", hyper=nadam_hyper)


def nadam(params, grads, exp_avgs, exp_avg_sqs, mu_products, steps, *, lr=2e-3,
          betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
          decoupled_weight_decay=False, maximize=False, masters=None, seed=0):
    """One fused NAdam step over lists of arrays, in place; the math is :class:`NAdam`'s.

    Args:
        params: list of float32/float64 writeable arrays, each one dense block in any
            layout (C, Fortran or another order of the dimensions), updated in place.
        grads: list of arrays with each param's dtype, shape and memory layout (only read).
        exp_avgs: list of the first moments (``state["exp_avg"]``, like the param), updated
            in place.
        exp_avg_sqs: list of the second moments (``state["exp_avg_sq"]``, like the param),
            updated in place.
        mu_products: list of the products of the momentum coefficients so far
            (``state["mu_product"]``: a 0-d float32 or float64 array each, starting at 1),
            updated in place.
        steps: the 1-based number of this step: one int, or a list with one per param.
        lr, betas, eps, weight_decay, momentum_decay, decoupled_weight_decay, maximize: as
            in :class:`NAdam`.

    All buffers are validated before anything is written; see :mod:`fastopt.reference` for
    the same step in NumPy.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> p = np.array([1.0, -2.0])
        >>> g = np.array([0.5, -4.0])
        >>> m, v = np.zeros(2), np.zeros(2)
        >>> mu_product = np.ones((), np.float32)
        >>> fastopt.functional.nadam([p], [g], [m], [v], [mu_product], 1, lr=0.1)
        >>> print(p.round(4))   # the first step moves each element by about lr
        [ 0.8944 -1.8944]
        >>> print(round(float(mu_product), 6))   # mu of step 1
        0.450073
    """
    ALGORITHM.functional(params, grads, {"exp_avg": exp_avgs, "exp_avg_sq": exp_avg_sqs,
                                         "mu_product": mu_products}, steps,
                         {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                          "momentum_decay": momentum_decay,
                          "decoupled_weight_decay": decoupled_weight_decay,
                          "maximize": maximize}, masters=masters, seed=seed)


class NAdam(Optimizer):
    __doc__ = r"""NAdam (Dozat, 2016): Adam with Nesterov momentum, fused into one pass.

    For each param :math:`p` with gradient :math:`g`, first moment :math:`m`, second
    moment :math:`v`, product of momentum coefficients ``mu_product`` and step :math:`t`, in
    the kernel's order (per-step scalars in double, the rest in the param's dtype)::

{math}

    where ``m`` and ``v`` start at 0, ``mu_product`` at 1 and ``t`` counts this param's
    steps. The momentum coefficient ``mu`` warms up from ``beta1 / 2`` towards ``beta1`` at a
    rate set by ``momentum_decay``. This is torch.optim.NAdam (2.13, for-loop, not
    capturable), state names included; ``mu_product`` is a 0-d float32 array, as torch's
    0-d tensor, whatever the param's dtype.

    {params_doc}
        lr: learning rate (default 2e-3).
        betas: ``(beta1, beta2)``, the decay rates of the first and second moment, each
            in [0, 1) (default (0.9, 0.999)).
        eps: added to the root of ``v / bc2`` (default 1e-8).
        weight_decay: L2 penalty added to the gradient, or with ``decoupled_weight_decay``
            a decay of the param by ``1 - lr * weight_decay`` (default 0).
        momentum_decay: how fast ``mu`` approaches ``beta1`` (default 4e-3).
        decoupled_weight_decay: decay the param directly, as AdamW (NAdamW; default False).
        maximize: maximize the objective instead of minimizing (default False).

    State per param: ``step`` (int), ``mu_product`` (a 0-d float32 array), ``exp_avg`` and
    ``exp_avg_sq`` (arrays like the param).

    {step_doc}

    Example::

        >>> import numpy as np, fastopt
        >>> x = np.array([-5.0, -2.0])
        >>> opt = fastopt.NAdam([x], lr=0.5)
        >>> for _ in range(100):
        ...     opt.step([np.array([0.2, 4.0]) * x])
        >>> bool(0.1 * x[0] ** 2 + 2 * x[1] ** 2 < 0.5)
        True

    Reference: T. Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop
    track; the decoupled decay of I. Loshchilov, F. Hutter, "Decoupled Weight Decay
    Regularization", ICLR 2019.
    """.format(math=MATH, params_doc=params_doc, step_doc=step_doc)

    algorithm = ALGORITHM

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False, **precision):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize), **precision)

    def _new_state(self, p, group):
        # torch's keys and order: step, mu_product, exp_avg, exp_avg_sq
        return {"step": 0, "mu_product": np.ones((), np.float32),
                "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
