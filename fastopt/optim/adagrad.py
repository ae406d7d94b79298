"""Adagrad: the functional step and the optimizer object.

Kernel: src_c/kernels/adagrad.inc.c. Reference: fastopt/reference/adagrad.py.
"""
import numpy as np

from fastopt import _kernels
from fastopt.optim._base import Optimizer, check_hyper
from fastopt.optim._docs import params_doc, step_doc

_ALGO, _ = _kernels.algorithm("adagrad")
_ROW_ALGO, _ = _kernels.row_algorithm("adagrad_rows")
_nonnegative_finite = _kernels.nonnegative_finite


def kernel_hyper(lr, lr_decay, weight_decay, eps, eps_inside_sqrt, maximize):
    """The kernel's hyper tuple (src_c/kernels/adagrad.inc.c); ValueError if invalid."""
    try:
        ok = _nonnegative_finite(lr, lr_decay, weight_decay, eps)
    except (TypeError, OverflowError):
        ok = False
    if not ok:
        check_hyper("lr", lr)
        check_hyper("lr_decay", lr_decay)
        check_hyper("weight_decay", weight_decay)
        check_hyper("eps", eps)
    return (lr, lr_decay, weight_decay, eps, maximize, eps_inside_sqrt)


def adagrad(params, grads, sums, steps, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
            eps=1e-10, eps_inside_sqrt=False, maximize=False):
    """One fused Adagrad step over lists of arrays, in place; the math is :class:`Adagrad`'s.

    Args:
        params: list of float32/float64 C-contiguous writeable arrays, updated in place.
        grads: list of arrays with each param's dtype and shape (only read).
        sums: list of the accumulators (``state["sum"]``), updated in place.
        steps: the 1-based number of this step: one int, or a list with one per param.
        lr, lr_decay, weight_decay, eps, eps_inside_sqrt, maximize: as in :class:`Adagrad`.

    All buffers are validated before anything is written; see :mod:`fastopt.reference` for
    the same step in NumPy.
    """
    # kernel_hyper's check, inlined: this call is the per-step cost at small n
    try:
        ok = _nonnegative_finite(lr, lr_decay, weight_decay, eps)
    except (TypeError, OverflowError):
        ok = False
    if not ok:
        kernel_hyper(lr, lr_decay, weight_decay, eps, eps_inside_sqrt, maximize)  # raises
    _kernels.dense_step(_ALGO, params, grads, (sums,),
                        (lr, lr_decay, weight_decay, eps, maximize, eps_inside_sqrt), steps)


def sparse_hyper(lr, lr_decay, weight_decay, eps, eps_inside_sqrt, maximize):
    """The row kernel's hyper tuple (src_c/kernels/adagrad_rows.inc.c); weight_decay must be 0."""
    hyper = kernel_hyper(lr, lr_decay, weight_decay, eps, eps_inside_sqrt, maximize)
    if weight_decay != 0:
        raise ValueError(f"fastopt: weight_decay={weight_decay!r} is not compatible with "
                         f"sparse gradients (it would change every row); use 0, as torch "
                         f"requires")
    return hyper


def adagrad_rows(params, grads, sums, steps, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 eps=1e-10, eps_inside_sqrt=False, maximize=False):
    """Adagrad on the touched rows of row-sparse gradients, in place (torch's sparse path).

    Args:
        params: list of 2-D float32/float64 C-contiguous writeable arrays (rows x dim).
        grads: list of :class:`fastopt.SparseRows`, one per param.
        sums: list of the accumulators (``state["sum"]``, like each param).
        steps: the 1-based number of this step: one int, or a list with one per param.
        lr, lr_decay, eps, eps_inside_sqrt, maximize: as in :class:`Adagrad`.
        weight_decay: must be 0.

    Repeated indices are summed first (in order of appearance, as ``np.add.at``); then each
    touched row gets exactly what :func:`adagrad` gives it on the densified gradient, bit for
    bit, and no other row is read. All buffers and indices are validated before anything is
    written; see :func:`fastopt.reference.adagrad_rows`.
    """
    _kernels.rows_step(_ROW_ALGO, params, grads, (sums,),
                       sparse_hyper(lr, lr_decay, weight_decay, eps, eps_inside_sqrt, maximize),
                       steps, dense_ok=False, owner="adagrad_rows")


class Adagrad(Optimizer):
    __doc__ = r"""Adagrad (Duchi, Hazan & Singer, 2011), fused into one pass per param.

    For each param :math:`p` with gradient :math:`g`, accumulator :math:`s` and step
    :math:`t`, in the kernel's order (per-step scalars in double, the rest in the param's
    dtype)::

        clr = lr / (1 + (t - 1) * lr_decay)
        g   = -g                       if maximize
        g   = g + weight_decay * p     if weight_decay != 0
        s   = s + g * g
        p   = p - clr * g / (sqrt(s) + eps)      # eps_inside_sqrt=False (torch.optim)
        p   = p - clr * g / sqrt(s + eps)        # eps_inside_sqrt=True  (d2l, optax, Keras)

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
    """.format(params_doc=params_doc, step_doc=step_doc)

    _kernel = "adagrad"
    _row_kernel = "adagrad_rows"

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, eps_inside_sqrt=False,
                 maximize=False):
        super().__init__(params, dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps=eps,
            eps_inside_sqrt=eps_inside_sqrt, maximize=maximize))

    def _kernel_hyper(self, group):
        return kernel_hyper(group["lr"], group["lr_decay"], group["weight_decay"], group["eps"],
                            group["eps_inside_sqrt"], group["maximize"])

    def _row_hyper(self, group, sparse):
        return sparse_hyper(group["lr"], group["lr_decay"], group["weight_decay"], group["eps"],
                            group["eps_inside_sqrt"], group["maximize"])

    def _check_group(self, group):
        self._kernel_hyper(group)
        check_hyper("initial_accumulator_value", group["initial_accumulator_value"])

    def _new_state(self, p, group):
        return {"step": 0, "sum": np.full_like(p, group["initial_accumulator_value"])}
