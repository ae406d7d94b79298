"""Adam and AdamW: the functional steps and the optimizer objects (one kernel for both).

Kernel: src_c/kernels/adam.inc.c. Reference: fastopt/reference/adam.py.
"""
import numpy as np

from fastopt._scalars import flag, nonnegative, real
from fastopt.optim._algorithm import Algorithm
from fastopt.optim._base import Optimizer
from fastopt.optim._docs import params_doc, step_doc

__all__ = ["Adam", "AdamW", "adam", "adamw"]


#: Adam's and AdamW's update (one kernel), in the kernel's order: the one place it is written
#: for readers. ``{decay}`` is the weight-decay line, ``WEIGHT_DECAY["Adam"]`` (L2, added to
#: the gradient) or ``WEIGHT_DECAY["AdamW"]`` (decoupled): ``MATH.format(decay=...)``.
MATH = """\
        bc1       = 1 - beta1 ** t                  (double, once per step)
        bc2       = 1 - beta2 ** t                  (double)
        step_size = lr / bc1                        (double)
        bc2_sqrt  = sqrt(bc2)                       (double)
        w         = 1 - beta1                       (in double, rounded to the param's dtype)
        g  = -g                                     if maximize
        {decay}
        m  = m + w * (g - m)                        if w < 0.5   (torch's lerp)
        m  = g + (w - 1) * (g - m)                  otherwise
        v  = v * beta2
        v  = v + ((1 - beta2) * g) * g
        vm = maximum(vm, v)                         if amsgrad (then vm replaces v below)
        p  = p - (step_size * m) / (sqrt(v) / bc2_sqrt + eps)"""

#: The weight-decay line of :data:`MATH`, per class.
WEIGHT_DECAY = {
    "Adam": "g  = g + weight_decay * p                   if weight_decay != 0",
    "AdamW": "p  = p * (1 - lr * weight_decay)            if weight_decay != 0",
}


def _betas(betas):
    try:
        beta1, beta2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
    return (real("betas[0]", beta1, 0.0, 1.0, high_open=True),
            real("betas[1]", beta2, 0.0, 1.0, high_open=True))


def adam_hyper(group):
    """Adam's settings -> its kernel's scalars (registry.h: adam); ValueError if invalid.
    ``decoupled_weight_decay`` (fastopt.torch.Adam's switch, off by default) makes it AdamW."""
    beta1, beta2 = _betas(group["betas"])
    return {"lr": nonnegative("lr", group["lr"]), "beta1": beta1, "beta2": beta2,
            "eps": nonnegative("eps", group["eps"]),
            "weight_decay": nonnegative("weight_decay", group["weight_decay"]),
            "amsgrad": flag("amsgrad", group["amsgrad"]),
            "maximize": flag("maximize", group["maximize"]),
            "decoupled": flag("decoupled_weight_decay",
                              group.get("decoupled_weight_decay", False))}


def adamw_hyper(group):
    """AdamW's settings -> the Adam kernel's scalars, weight decay decoupled."""
    h = adam_hyper(group)
    h["decoupled"] = True
    return h


ALGORITHM = Algorithm("Adam", kernel="adam", hyper=adam_hyper)
ADAMW = Algorithm("AdamW", kernel="adam", hyper=adamw_hyper)


def _state_lists(exp_avgs, exp_avg_sqs, max_exp_avg_sqs):
    return {"exp_avg": exp_avgs, "exp_avg_sq": exp_avg_sqs, "max_exp_avg_sq": max_exp_avg_sqs}


def adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr=1e-3,
         betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
         masters=None, seed=0):
    """One fused Adam step over lists of arrays, in place; the math is :class:`Adam`'s.

    Args:
        params: list of float32/float64 writeable arrays, each one dense block in any
            layout (C, Fortran or another order of the dimensions), updated in place.
        grads: list of arrays with each param's dtype, shape and memory layout (only read).
        exp_avgs: list of the first moments (``state["exp_avg"]``, like the param), updated
            in place.
        exp_avg_sqs: list of the second moments (``state["exp_avg_sq"]``, like the param),
            updated in place.
        max_exp_avg_sqs: list of the running maxima of the second moments
            (``state["max_exp_avg_sq"]``); only used with ``amsgrad``, otherwise it may be
            None (or a list holding None).
        steps: the 1-based number of this step: one int, or a list with one per param.
        lr, betas, eps, weight_decay, amsgrad, maximize: as in :class:`Adam`.

    All buffers are validated before anything is written; see :mod:`fastopt.reference` for
    the same step in NumPy.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> p = np.array([1.0, -2.0])
        >>> g = np.array([0.5, -4.0])
        >>> m, v = np.zeros(2), np.zeros(2)
        >>> for t in (1, 2):   # a constant gradient: each step moves p by about lr
        ...     fastopt.functional.adam([p], [g], [m], [v], None, t, lr=0.1)
        >>> print(p.round(6))
        [ 0.8 -1.8]
        >>> print(m)   # 0.1 * g, then 0.9 * that + 0.1 * g
        [ 0.095 -0.76 ]
    """
    ALGORITHM.functional(params, grads, _state_lists(exp_avgs, exp_avg_sqs, max_exp_avg_sqs),
                         steps, {"lr": lr, "betas": betas, "eps": eps,
                                 "weight_decay": weight_decay, "amsgrad": amsgrad,
                                 "maximize": maximize}, masters=masters, seed=seed)


def adamw(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr=1e-3,
          betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False,
          masters=None, seed=0):
    """One fused AdamW step over lists of arrays, in place; the math is :class:`AdamW`'s.

    Arguments as in :func:`adam` (params in any dense layout shared by grads and state);
    ``weight_decay`` (default 1e-2) is decoupled.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> p = np.array([1.0, -2.0])
        >>> g = np.array([0.0, 3.0])
        >>> m, v = np.zeros(2), np.zeros(2)
        >>> fastopt.functional.adamw([p], [g], [m], [v], None, 1, lr=0.1, weight_decay=0.5)
        >>> print(p.round(6))   # p[0] only decays (* 0.95); p[1] also moves by about lr
        [ 0.95 -2.  ]
        >>> print(m)   # the decay never enters the moments
        [0.  0.3]
    """
    ADAMW.functional(params, grads, _state_lists(exp_avgs, exp_avg_sqs, max_exp_avg_sqs),
                     steps, {"lr": lr, "betas": betas, "eps": eps,
                             "weight_decay": weight_decay, "amsgrad": amsgrad,
                             "maximize": maximize}, masters=masters, seed=seed)


_ADAM_ARGS = """
        lr: learning rate (default 1e-3).
        betas: ``(beta1, beta2)``, the decay rates of the first and second moment, each
            in [0, 1) (default (0.9, 0.999)).
        eps: added to the denominator, outside the root (default 1e-8).
        weight_decay: {wd}
        amsgrad: normalize by the running maximum of ``v`` (AMSGrad) (default False).
        maximize: maximize the objective instead of minimizing (default False)."""

_ADAM_STATE = """State per param: ``step`` (int), ``exp_avg`` and ``exp_avg_sq`` (arrays like the
    param), and ``max_exp_avg_sq`` only if ``amsgrad`` (as in torch)."""


class _AdamBase(Optimizer):
    algorithm = ALGORITHM

    def __init__(self, params, lr, betas, eps, weight_decay, amsgrad, maximize, **precision):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize), **precision)

    def _new_state(self, p, group):
        state = {"step": 0, "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(p)
        return state


class Adam(_AdamBase):
    __doc__ = r"""Adam (Kingma & Ba, 2015), with optional AMSGrad, fused into one pass per param.

    For each param :math:`p` with gradient :math:`g`, first moment :math:`m`, second
    moment :math:`v` and step :math:`t`, in the kernel's order (per-step scalars in double,
    the rest in the param's dtype)::

{math}

    where ``m``, ``v`` (and ``vm``) start at 0 and ``t`` counts this param's steps. This is
    torch.optim.Adam (2.13, for-loop, not capturable), state names included.

    {params_doc}{args}

    {state}

    {step_doc}

    Example::

        >>> import numpy as np, fastopt
        >>> x = np.array([-5.0, -2.0])
        >>> opt = fastopt.Adam([x], lr=0.5)
        >>> for _ in range(100):
        ...     opt.step([np.array([0.2, 4.0]) * x])
        >>> bool(0.1 * x[0] ** 2 + 2 * x[1] ** 2 < 0.5)
        True

    .. warning:: ``weight_decay`` here is an L2 term added to the gradient, so it is
       rescaled by the adaptive denominator like the rest of the gradient; for weight decay
       that is not, use :class:`AdamW`.

    Reference: D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015;
    AMSGrad: S. J. Reddi, S. Kale, S. Kumar, "On the Convergence of Adam and Beyond",
    ICLR 2018.
    """.format(math=MATH.format(decay=WEIGHT_DECAY["Adam"]),
               params_doc=params_doc, step_doc=step_doc, state=_ADAM_STATE,
               args=_ADAM_ARGS.format(wd="L2 penalty added to the gradient (default 0)."))

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False, **precision):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize, **precision)


class AdamW(_AdamBase):
    __doc__ = r"""AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay, fused.

    For each param :math:`p` with gradient :math:`g`, first moment :math:`m`, second
    moment :math:`v` and step :math:`t`, in the kernel's order (per-step scalars in double,
    the rest in the param's dtype)::

{math}

    where ``m``, ``v`` (and ``vm``) start at 0 and ``t`` counts this param's steps. The
    decay multiplies the param before the moments are updated and never enters them. This
    is torch.optim.AdamW (2.13, for-loop, not capturable), state names included.

    {params_doc}{args}

    {state}

    {step_doc}

    Example::

        >>> import numpy as np, fastopt
        >>> x = np.array([-5.0, -2.0])
        >>> opt = fastopt.AdamW([x], lr=0.5)
        >>> for _ in range(100):
        ...     opt.step([np.array([0.2, 4.0]) * x])
        >>> bool(0.1 * x[0] ** 2 + 2 * x[1] ** 2 < 0.5)
        True

    .. warning:: The decay is ``lr * weight_decay`` per step, so it follows ``lr`` schedules;
       with a large ``lr`` keep ``lr * weight_decay`` well below 1.

    Reference: I. Loshchilov, F. Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """.format(math=MATH.format(decay=WEIGHT_DECAY["AdamW"]),
               params_doc=params_doc, step_doc=step_doc, state=_ADAM_STATE,
               args=_ADAM_ARGS.format(wd="decoupled weight decay: the param is multiplied "
                                         "by ``1 - lr * weight_decay``\n            each "
                                         "step (default 1e-2)."))

    algorithm = ADAMW

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False, **precision):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize, **precision)
