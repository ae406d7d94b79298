"""RMSprop: the functional step and the optimizer object.

Kernel: src_c/kernels/rmsprop.inc.c. Reference: fastopt/reference/rmsprop.py.
"""
import numpy as np

from fastopt._scalars import flag, nonnegative
from fastopt.optim._algorithm import Algorithm
from fastopt.optim._base import Optimizer
from fastopt.optim._docs import params_doc, step_doc

__all__ = ["RMSprop", "rmsprop"]


#: RMSprop's update, in the kernel's order: the one place it is written for readers.
MATH = """\
        w = 1 - alpha                           (in double, rounded to the param's dtype)
        g = -g                                  if maximize
        g = g + weight_decay * p                if weight_decay != 0
        v = v * alpha + w * g * g               (left to right: (w * g) * g)
        if centered:
            m = m + w * (g - m)                 if |w| < 0.5   (torch's lerp(m, g, w))
            m = g + (w - 1) * (g - m)           otherwise
            x = v - m * m
        else:
            x = v
        d = sqrt(x) + eps                       # eps_inside_sqrt=False (torch.optim)
        d = sqrt(x + eps)                       # eps_inside_sqrt=True  (d2l, Keras)
        if momentum != 0:
            b = b * momentum + g / d
            p = p - lr * b
        else:
            p = p - lr * g / d                  (left to right: (lr * g) / d)"""


def rmsprop_hyper(group):
    """RMSprop's settings -> its kernel's scalars (registry.h: rmsprop); ValueError if invalid."""
    return {"lr": nonnegative("lr", group["lr"]), "alpha": nonnegative("alpha", group["alpha"]),
            "eps": nonnegative("eps", group["eps"]),
            "weight_decay": nonnegative("weight_decay", group["weight_decay"]),
            "momentum": nonnegative("momentum", group["momentum"]),
            "centered": flag("centered", group["centered"]),
            "maximize": flag("maximize", group["maximize"]),
            "eps_inside_sqrt": flag("eps_inside_sqrt", group.get("eps_inside_sqrt", False))}


ALGORITHM = Algorithm("RMSprop", kernel="rmsprop", hyper=rmsprop_hyper)


def rmsprop(params, grads, square_avgs, grad_avgs, momentum_buffers, steps, *, lr=1e-2,
            alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
            maximize=False, eps_inside_sqrt=False, masters=None, seed=0):
    """One fused RMSprop step over lists of arrays, in place; the math is :class:`RMSprop`'s.

    Args:
        params: list of float32/float64 writeable arrays, each one dense block in any
            layout (C, Fortran or another order of the dimensions), updated in place.
        grads: list of arrays with each param's dtype, shape and memory layout (only read).
        square_avgs: list of ``state["square_avg"]`` (like the param), updated in place.
        grad_avgs: list of ``state["grad_avg"]``, updated in place; used only if
            ``centered``, otherwise it may be ``None`` or hold ``None``s.
        momentum_buffers: list of ``state["momentum_buffer"]``, updated in place; used only
            if ``momentum != 0``, otherwise it may be ``None`` or hold ``None``s.
        steps: the 1-based number of this step: one int, or a list with one per param
            (checked, not used by the update).
        lr, alpha, eps, weight_decay, momentum, centered, maximize, eps_inside_sqrt: as in
            :class:`RMSprop`.

    All buffers are validated before anything is written; see :mod:`fastopt.reference` for
    the same step in NumPy.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> p = np.array([1.0, -2.0])
        >>> g = np.array([0.5, -3.0])
        >>> v = np.zeros(2)
        >>> fastopt.functional.rmsprop([p], [g], [v], None, None, 1, lr=0.01)
        >>> print(v)   # (1 - alpha) * g * g
        [0.0025 0.09  ]
        >>> print(p.round(6))   # g / sqrt(v) is 10 * sign(g): both move by 10 * lr
        [ 0.9 -1.9]
    """
    ALGORITHM.functional(
        params, grads, {"square_avg": square_avgs, "grad_avg": grad_avgs,
                        "momentum_buffer": momentum_buffers}, steps,
        {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
         "momentum": momentum, "centered": centered, "maximize": maximize,
         "eps_inside_sqrt": eps_inside_sqrt}, masters=masters, seed=seed)


class RMSprop(Optimizer):
    __doc__ = r"""RMSprop (Tieleman & Hinton, 2012), fused into one pass per param.

    For each param :math:`p` with gradient :math:`g`, running average of squares :math:`v`
    (``square_avg``), of gradients :math:`m` (``grad_avg``, centered only) and momentum
    buffer :math:`b`, in the kernel's order (``w`` in double, rounded once; everything else in
    the param's dtype)::

{math}

    With ``eps_inside_sqrt=False`` this is torch.optim.RMSprop (2.13), state names included;
    with ``eps_inside_sqrt=True`` and no momentum it is the textbook
    ``p -= lr * g / sqrt(v + eps)`` (d2l's RMSProp with ``gamma = alpha``).

    {params_doc}
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the running averages (default 0.99).
        eps: added to the denominator for stability (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0).
        momentum: momentum factor (default 0).
        centered: divide by an estimate of the gradient's variance, ``v - m * m``, instead
            of its second moment (default False).
        maximize: maximize the objective instead of minimizing (default False).
        eps_inside_sqrt: put ``eps`` under the root (default False).

    State per param, as torch names it: ``step`` (int), ``square_avg`` (array like the
    param, starting at 0), ``momentum_buffer`` (only if ``momentum > 0``) and ``grad_avg``
    (only if ``centered``). The keys follow the group's settings when the state is made, as
    in torch: switching ``momentum`` or ``centered`` on later in a group raises at the next
    step (torch fails there too).

    {step_doc}

    Example::

        >>> import numpy as np, fastopt
        >>> x = np.array([-5.0, -2.0])
        >>> opt = fastopt.RMSprop([x], lr=0.4, alpha=0.9, eps=1e-6, eps_inside_sqrt=True)
        >>> for _ in range(20):
        ...     opt.step([np.array([0.2, 4.0]) * x])
        >>> bool(abs(x[1]) < 0.1)
        True

    .. warning:: The averages start at 0 and are not bias-corrected, so the first steps are
       large (about ``lr / sqrt(1 - alpha)`` in size); with ``centered=True``, ``v - m * m``
       can round to a tiny or negative value, and ``eps`` (or a NaN) then decides the step.

    Reference: T. Tieleman, G. Hinton, "Lecture 6.5 - rmsprop: Divide the gradient by a
    running average of its recent magnitude", COURSERA: Neural Networks for Machine
    Learning (2012); A. Graves, "Generating Sequences With Recurrent Neural Networks",
    arXiv:1308.0850 (2013), for the centered form.
    """.format(params_doc=params_doc, step_doc=step_doc, math=MATH)

    algorithm = ALGORITHM

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False, eps_inside_sqrt=False, **precision):
        super().__init__(params, dict(
            lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
            centered=centered, maximize=maximize, eps_inside_sqrt=eps_inside_sqrt), **precision)

    def _new_state(self, p, group):
        state = {"step": 0, "square_avg": np.zeros_like(p)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(p)
        return state
