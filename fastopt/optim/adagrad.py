"""Adagrad: its hyper translation, functional steps and NumPy optimizer.

Kernels: src_c/kernels/adagrad.inc.c (dense), adagrad_rows.inc.c (row-sparse).
Reference: fastopt/reference/adagrad.py and sparse.py. PyTorch: fastopt/torch/adagrad.py.
"""
import numpy as np

from fastopt._kernels import SparseRows
from fastopt._scalars import flag, nonnegative
from fastopt.optim._algorithm import Algorithm
from fastopt.optim._base import Optimizer
from fastopt.optim._docs import params_doc, step_doc

__all__ = ["Adagrad", "adagrad", "adagrad_rows"]

#: Adagrad's update, in the kernel's order: the one place it is written for readers.
MATH = """\
        clr = lr / (1 + (t - 1) * lr_decay)
        g   = -g                       if maximize
        g   = g + weight_decay * p     if weight_decay != 0
        s   = s + g * g
        p   = p - clr * g / (sqrt(s) + eps)      # eps_inside_sqrt=False (torch.optim)
        p   = p - clr * g / sqrt(s + eps)        # eps_inside_sqrt=True  (d2l, optax, Keras)"""


def adagrad_hyper(group):
    """Adagrad's settings -> its kernel's scalars (registry.h: adagrad); ValueError if invalid."""
    return {"lr": nonnegative("lr", group["lr"]),
            "lr_decay": nonnegative("lr_decay", group["lr_decay"]),
            "weight_decay": nonnegative("weight_decay", group["weight_decay"]),
            "eps": nonnegative("eps", group["eps"]),
            "maximize": flag("maximize", group["maximize"]),
            "eps_inside_sqrt": flag("eps_inside_sqrt", group.get("eps_inside_sqrt", False))}


def adagrad_rows_hyper(group):
    """The row kernel's scalars (registry.h: adagrad_rows): weight decay must be 0, as torch
    requires (it would change every row)."""
    h = adagrad_hyper(group)
    if h.pop("weight_decay") != 0:
        raise ValueError(f"weight_decay={group['weight_decay']!r} is not compatible with "
                         f"sparse gradients (it would change every row); use 0, as torch "
                         f"requires")
    return h


ALGORITHM = Algorithm("Adagrad", kernel="adagrad", hyper=adagrad_hyper,
                      row_kernel="adagrad_rows", row_hyper=adagrad_rows_hyper)


def adagrad(params, grads, sums, steps, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
            eps=1e-10, eps_inside_sqrt=False, maximize=False, masters=None, seed=0):
    """One fused Adagrad step over lists of arrays, in place; the math is :class:`Adagrad`'s.

    Args:
        params: list of float32/float64 writeable arrays, each one dense block in any
            layout (C, Fortran or another order of the dimensions), updated in place.
        grads: list of arrays with each param's dtype, shape and memory layout (only read);
            a :class:`fastopt.SparseRows` for a 2-D param steps its touched rows only (then
            the param and its sum must be C-contiguous and ``weight_decay`` must be 0).
        sums: list of the accumulators (``state["sum"]``, like the param), updated in place.
        steps: the 1-based number of this step: one int, or a list with one per param.
        lr, lr_decay, weight_decay, eps, eps_inside_sqrt, maximize: as in :class:`Adagrad`.

    The object's step and fastopt.torch's go through the same plan; everything is checked
    before anything is written. :func:`fastopt.reference.adagrad` is the same step in NumPy.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> p = np.array([1.0, -1.0], np.float32)
        >>> g = np.array([3.0, -4.0], np.float32)
        >>> s = np.zeros(2, np.float32)
        >>> fastopt.functional.adagrad([p], [g], [s], 1, lr=0.5)
        >>> print(s)   # g * g
        [ 9. 16.]
        >>> print(p)   # the first step is lr * g / sqrt(g * g): lr, whatever g's size
        [ 0.5 -0.5]
    """
    ALGORITHM.functional(params, grads, {"sum": sums}, steps, {
        "lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay, "eps": eps,
        "eps_inside_sqrt": eps_inside_sqrt, "maximize": maximize}, masters=masters, seed=seed)


def adagrad_rows(params, grads, sums, steps, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 eps=1e-10, eps_inside_sqrt=False, maximize=False, masters=None, seed=0):
    """:func:`adagrad` for row-sparse gradients only (each grad a :class:`fastopt.SparseRows`).

    Params are 2-D (rows x dim) and, with their sums (like the param), C-contiguous: a row
    step reads whole rows in place. Repeated indices are summed first (in order of
    appearance, as ``np.add.at``); then each touched row gets exactly what :func:`adagrad`
    gives it on the densified gradient, bit for bit, and no other row is read. Arguments as
    in :func:`adagrad` (``weight_decay`` must be 0). See
    :func:`fastopt.reference.adagrad_rows`.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> table = np.ones((4, 2), np.float32)
        >>> sums = np.zeros_like(table)
        >>> grad = fastopt.SparseRows(np.array([2, 0, 2]),   # row 2 twice: summed, [3, -4]
        ...                           np.array([[1, 1], [4, 4], [2, -5]], np.float32))
        >>> fastopt.functional.adagrad_rows([table], [grad], [sums], 1, lr=0.5)
        >>> print(sums[2])
        [ 9. 16.]
        >>> print(table)   # rows 1 and 3 are as they were
        [[0.5 0.5]
         [1.  1. ]
         [0.5 1.5]
         [1.  1. ]]
    """
    for i, g in enumerate(grads):
        if type(g) is not SparseRows:
            raise TypeError(f"fastopt: param {i}: adagrad_rows takes SparseRows gradients, "
                            f"got {type(g).__name__}")
    adagrad(params, grads, sums, steps, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            eps=eps, eps_inside_sqrt=eps_inside_sqrt, maximize=maximize,
            masters=masters, seed=seed)


class Adagrad(Optimizer):
    __doc__ = r"""Adagrad (Duchi, Hazan & Singer, 2011), fused into one pass per param.

    For each param :math:`p` with gradient :math:`g`, accumulator :math:`s` and step
    :math:`t`, in the kernel's order (per-step scalars in double, the rest in the param's
    dtype)::

{math}

    where ``s`` starts at ``initial_accumulator_value`` and ``t`` counts this param's steps.
    With ``eps_inside_sqrt=False`` this is torch.optim.Adagrad (2.13), state names included.

    {params_doc}
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay (default 0).
        weight_decay: L2 penalty added to the gradient (default 0); it enters both the
            accumulator and the numerator, as in torch.
        initial_accumulator_value: starting value of ``sum`` (default 0).
        eps: added to the denominator for stability (default 1e-10).
        eps_inside_sqrt: put ``eps`` under the root (default False).
        maximize: maximize the objective instead of minimizing (default False).

    State per param: ``step`` (int), ``sum`` (array like the param).

    Row-sparse gradients: a 2-D param (an embedding table) may get a
    :class:`fastopt.SparseRows` instead of a dense gradient, as torch's sparse path does:
    repeated rows are summed, then only the touched rows of ``sum`` and the param change,
    at a cost proportional to the rows in the batch (``weight_decay`` must be 0 then). The
    result equals the dense step on ``grad.to_dense(rows)`` bit for bit; ``step`` counts
    every step the param got a gradient, empty or not, as torch counts.

    {step_doc}

    Example::

        >>> import numpy as np, fastopt
        >>> x = np.array([-5.0, -2.0])
        >>> opt = fastopt.Adagrad([x], lr=2.0, eps=1e-6, eps_inside_sqrt=True)
        >>> for _ in range(20):
        ...     opt.step([np.array([0.2, 4.0]) * x])
        >>> print(f"{{x[0]:.6f}} {{x[1]:.6f}}")
        -0.002295 -0.000000

    .. warning:: The accumulator only grows, so the effective step size shrinks for ever;
       RMSprop, AdaDelta and Adam are the usual cures.

    Reference: J. Duchi, E. Hazan, Y. Singer, "Adaptive Subgradient Methods for Online
    Learning and Stochastic Optimization", JMLR 12 (2011).
    """.format(params_doc=params_doc, step_doc=step_doc, math=MATH)

    algorithm = ALGORITHM

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, eps_inside_sqrt=False,
                 maximize=False, **precision):
        super().__init__(params, dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps=eps,
            eps_inside_sqrt=eps_inside_sqrt, maximize=maximize), **precision)

    def _check_group(self, group):
        nonnegative("initial_accumulator_value", group["initial_accumulator_value"])

    def _new_state(self, p, group):
        return {"step": 0, "sum": np.full_like(p, group["initial_accumulator_value"])}
