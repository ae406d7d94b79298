"""Lion: the functional step and the optimizer object.

Kernel: src_c/kernels/lion.inc.c. Reference: fastopt/reference/lion.py.
"""
import numpy as np

from fastopt._scalars import flag, nonnegative
from fastopt.optim._algorithm import Algorithm
from fastopt.optim._base import Optimizer
from fastopt.optim._docs import params_doc, step_doc
from fastopt.optim.adam import _betas

__all__ = ["Lion", "lion"]


#: Lion's update, in the kernel's order: the one place it is written for readers.
MATH = """\
        g = -g                                     if maximize
        c = beta1 * m + (1 - beta1) * g            (1 - beta1 in double, rounded once)
        p = p - lr * (sign(c) + weight_decay * p)  (p - lr * sign(c) if weight_decay == 0)
        m = beta2 * m + (1 - beta2) * g"""


def lion_hyper(group):
    """Lion's settings -> its kernel's scalars (registry.h: lion); ValueError if invalid."""
    beta1, beta2 = _betas(group["betas"])
    return {"lr": nonnegative("lr", group["lr"]), "beta1": beta1, "beta2": beta2,
            "weight_decay": nonnegative("weight_decay", group["weight_decay"]),
            "maximize": flag("maximize", group["maximize"])}


ALGORITHM = Algorithm("Lion", kernel="lion", hyper=lion_hyper)


def lion(params, grads, exp_avgs, steps, *, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0,
         maximize=False, masters=None, seed=0):
    """One fused Lion step over lists of arrays, in place; the math is :class:`Lion`'s.

    Args:
        params: list of float32/float64 writeable arrays, each one dense block in any
            layout (C, Fortran or another order of the dimensions), updated in place.
        grads: list of arrays with each param's dtype, shape and memory layout (only read).
        exp_avgs: list of the momenta (``state["exp_avg"]``, like the param), updated in
            place.
        steps: the 1-based number of this step: one int, or a list with one per param
            (checked, not used by the math).
        lr, betas, weight_decay, maximize: as in :class:`Lion`.

    All buffers are validated before anything is written; see :mod:`fastopt.reference` for
    the same step in NumPy.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> p = np.array([1.0, -2.0, 3.0])
        >>> g = np.array([0.5, -4.0, 0.0])
        >>> m = np.zeros(3)
        >>> fastopt.functional.lion([p], [g], [m], 1, lr=0.1)
        >>> print(p)   # each element moves by exactly lr, against the sign (0 stays)
        [ 0.9 -1.9  3. ]
        >>> print(m.round(6))   # (1 - beta2) * g
        [ 0.005 -0.04   0.   ]
    """
    ALGORITHM.functional(params, grads, {"exp_avg": exp_avgs}, steps,
                         {"lr": lr, "betas": betas, "weight_decay": weight_decay,
                          "maximize": maximize}, masters=masters, seed=seed)


class Lion(Optimizer):
    __doc__ = r"""Lion (Chen et al., 2023): the sign of an interpolated momentum, fused.

    For each param :math:`p` with gradient :math:`g` and momentum :math:`m`, in the kernel's
    order (``1 - beta1`` and ``1 - beta2`` in double, rounded once; everything else in the
    param's dtype)::

{math}

    where ``m`` starts at 0 and ``sign`` is ``np.sign`` (0 for 0, NaN for NaN). This is
    Algorithm 2 of the paper, weight decay included as it writes it (decoupled, scaled by
    ``lr``); torch.optim has no Lion. Every element moves by ``lr`` (plus the decay) each
    step, so use an ``lr`` 3-10x smaller than AdamW's and a ``weight_decay`` 3-10x larger,
    as the paper advises.

    {params_doc}
        lr: learning rate (default 1e-4, the paper's implementation's).
        betas: ``(beta1, beta2)``: the interpolation that gives the update's sign and the
            momentum's decay, each in [0, 1) (default (0.9, 0.99)).
        weight_decay: decoupled weight decay (default 0).
        maximize: maximize the objective instead of minimizing (default False).

    State per param: ``step`` (int, counted; the math does not use it) and ``exp_avg`` (an
    array like the param).

    {step_doc}

    Example::

        >>> import numpy as np, fastopt
        >>> x = np.array([-5.0, -2.0])
        >>> opt = fastopt.Lion([x], lr=0.05)
        >>> for _ in range(200):
        ...     opt.step([np.array([0.2, 4.0]) * x])
        >>> bool(0.1 * x[0] ** 2 + 2 * x[1] ** 2 < 0.5)
        True

    .. warning:: The step is ``lr`` in every element whatever the gradient's scale: near a
       minimum Lion oscillates with amplitude about ``lr`` unless ``lr`` is decayed.

    Reference: X. Chen, C. Liang, D. Huang, E. Real, K. Wang, Y. Liu, H. Pham, X. Dong,
    T. Luong, C.-J. Hsieh, Y. Lu, Q. V. Le, "Symbolic Discovery of Optimization
    Algorithms", NeurIPS 2023 (arXiv:2302.06675), Algorithm 2.
    """.format(math=MATH, params_doc=params_doc, step_doc=step_doc)

    algorithm = ALGORITHM

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False,
                 **precision):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay,
                                      maximize=maximize), **precision)

    def _new_state(self, p, group):
        return {"step": 0, "exp_avg": np.zeros_like(p)}
