"""ASGD: the functional step and the optimizer object.

Kernel: src_c/kernels/asgd.inc.c. Reference: fastopt/reference/asgd.py.
"""
import numpy as np

from fastopt._scalars import flag, nonnegative, real
from fastopt.optim._algorithm import Algorithm
from fastopt.optim._base import Optimizer
from fastopt.optim._docs import params_doc, step_doc

__all__ = ["ASGD", "asgd"]


#: ASGD's update, in the kernel's order: the one place it is written for readers.
MATH = """\
        g   = -g                                       if maximize
        g   = g + weight_decay * p                     if weight_decay != 0
        p   = p * (1 - lambd * eta)                    (the scalar in double, rounded)
        p   = p + (-eta) * g
        ax  = ax + (p - ax) * mu                       if mu != 1
        ax  = p                                        otherwise
        mu  = 1 / max(1, t - t0)                       (double, stored in mu's dtype)
        eta = lr / (1 + lambd * lr * t) ** alpha       (double, stored in eta's dtype)"""


def asgd_hyper(group):
    """ASGD's settings -> its kernel's scalars (registry.h: asgd); ValueError if invalid."""
    return {"lr": nonnegative("lr", group["lr"]),
            "lambd": nonnegative("lambd", group["lambd"]),
            "alpha": real("alpha", group["alpha"]),
            "t0": real("t0", group["t0"]),
            "weight_decay": nonnegative("weight_decay", group["weight_decay"]),
            "maximize": flag("maximize", group["maximize"])}


ALGORITHM = Algorithm("ASGD", kernel="asgd", hyper=asgd_hyper)


def asgd(params, grads, axs, mus, etas, steps, *, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6,
         weight_decay=0.0, maximize=False, masters=None, seed=0):
    """One fused ASGD step over lists of arrays, in place; the math is :class:`ASGD`'s.

    Args:
        params: list of float32/float64 writeable arrays, each one dense block in any
            layout (C, Fortran or another order of the dimensions), updated in place.
        grads: list of arrays with each param's dtype, shape and memory layout (only read).
        axs: list of the averaged params (``state["ax"]``, like the param), updated in place.
        mus: list of the averaging coefficients (``state["mu"]``: a 0-d float32 or float64
            array each, starting at 1), set for the next step.
        etas: list of the step sizes (``state["eta"]``: a 0-d float32 or float64 array each,
            starting at ``lr``), set for the next step.
        steps: the 1-based number of this step: one int, or a list with one per param.
        lr, lambd, alpha, t0, weight_decay, maximize: as in :class:`ASGD`.

    All buffers are validated before anything is written; see :mod:`fastopt.reference` for
    the same step in NumPy.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> p = np.array([1.0, -2.0])
        >>> g = np.array([0.5, -4.0])
        >>> ax = np.zeros(2)
        >>> mu, eta = np.ones((), np.float32), np.array(0.1, np.float32)
        >>> fastopt.functional.asgd([p], [g], [ax], [mu], [eta], 1, lr=0.1, lambd=0.0)
        >>> print(p.round(6), ax.round(6))   # p - eta * g; ax follows p while t <= t0
        [ 0.95 -1.6 ] [ 0.95 -1.6 ]
    """
    ALGORITHM.functional(params, grads, {"ax": axs, "mu": mus, "eta": etas}, steps,
                         {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0,
                          "weight_decay": weight_decay, "maximize": maximize},
                         masters=masters, seed=seed)


class ASGD(Optimizer):
    __doc__ = r"""ASGD (Polyak & Juditsky, 1992): averaged SGD, fused into one pass.

    For each param :math:`p` with gradient :math:`g`, running average ``ax``, step size
    ``eta``, averaging coefficient ``mu`` and step :math:`t`, in the kernel's order (per-step
    scalars in double, the rest in the param's dtype)::

{math}

    where ``ax`` starts at 0, ``eta`` at ``lr`` and ``mu`` at 1: each step uses the ``eta``
    and ``mu`` the previous one left, so step ``t`` averages with ``mu = 1 / max(1, t - 1 -
    t0)``: through step ``t0 + 2`` ``ax`` is a copy of the param; after that it averages the
    params since then. ``ax`` is what
    the method returns (evaluate the model with it); the optimizer steps ``p``. This is
    torch.optim.ASGD (2.13, for-loop, not capturable), state names included; ``eta`` and
    ``mu`` are 0-d float32 arrays, as torch's 0-d tensors.

    {params_doc}
        lr: learning rate, the first ``eta`` (default 1e-2).
        lambd: decay term: ``eta`` shrinks as ``(1 + lambd lr t) ** -alpha``, and each step
            decays the param by ``1 - lambd eta`` (default 1e-4; at least 0).
        alpha: the power of that decay (default 0.75).
        t0: the step at which averaging starts (default 1e6).
        weight_decay: L2 penalty added to the gradient (default 0).
        maximize: maximize the objective instead of minimizing (default False).

    State per param: ``step`` (int), ``eta`` and ``mu`` (0-d float32 arrays) and ``ax`` (an
    array like the param).

    {step_doc}

    Example::

        >>> import numpy as np, fastopt
        >>> x = np.array([-5.0, -2.0])
        >>> opt = fastopt.ASGD([x], lr=0.2, t0=50)
        >>> for _ in range(100):
        ...     opt.step([np.array([0.2, 4.0]) * x])
        >>> bool(0.1 * x[0] ** 2 + 2 * x[1] ** 2 < 0.5)
        True

    Reference: B. T. Polyak, A. B. Juditsky, "Acceleration of Stochastic Approximation by
    Averaging", SIAM Journal on Control and Optimization 30(4), 1992; the step-size schedule
    of L. Bottou, "Stochastic Gradient Descent Tricks", 2012.
    """.format(math=MATH, params_doc=params_doc, step_doc=step_doc)

    algorithm = ALGORITHM

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0,
                 maximize=False, **precision):
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                                      weight_decay=weight_decay, maximize=maximize), **precision)

    def _new_state(self, p, group):
        # torch's keys and order: step, eta, mu, ax
        return {"step": 0, "eta": np.array(group["lr"], np.float32),
                "mu": np.ones((), np.float32), "ax": np.zeros_like(p)}
