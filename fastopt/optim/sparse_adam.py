"""SparseAdam: lazy Adam for row-sparse gradients (torch.optim.SparseAdam's semantics).

Kernel: src_c/kernels/sparse_adam.inc.c. Reference: fastopt/reference/sparse.py.
"""
import numpy as np

from fastopt._scalars import flag, real
from fastopt.optim._algorithm import Algorithm
from fastopt.optim._base import Optimizer
from fastopt.optim._docs import params_doc

__all__ = ["SparseAdam", "sparse_adam"]


#: SparseAdam's update of the touched rows r, in the kernel's order: the one place it is
#: written for readers.
MATH = """\
        step_size = lr * sqrt(1 - beta2 ** t) / (1 - beta1 ** t)     (double, once)
        g     = 0 + g                                 (-0.0 reads as +0.0)
        g     = -g                                    if maximize
        m[r]  = m[r] + (g - m[r]) * (1 - beta1)
        v[r]  = v[r] + (g * g - v[r]) * (1 - beta2)
        p[r]  = p[r] - step_size * (m[r] / (sqrt(v[r]) + eps))"""


def sparse_adam_hyper(group):
    """SparseAdam's settings -> its row kernel's scalars (registry.h: sparse_adam); as torch:
    lr > 0, eps > 0, 0 <= beta < 1. ValueError if invalid."""
    try:
        beta1, beta2 = group["betas"]
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair of numbers, got {group['betas']!r}") from None
    return {"lr": real("lr", group["lr"], 0.0, low_open=True),
            "beta1": real("betas[0]", beta1, 0.0, 1.0, high_open=True),
            "beta2": real("betas[1]", beta2, 0.0, 1.0, high_open=True),
            "eps": real("eps", group["eps"], 0.0, low_open=True),
            "maximize": flag("maximize", group["maximize"])}


ALGORITHM = Algorithm("SparseAdam", row_kernel="sparse_adam", hyper=sparse_adam_hyper,
                      row_hyper=sparse_adam_hyper, dense_grads=False)


def sparse_adam(params, grads, exp_avgs, exp_avg_sqs, steps, *, lr=1e-3, betas=(0.9, 0.999),
                eps=1e-8, maximize=False, masters=None, seed=0):
    """One lazy-Adam step on row-sparse gradients, in place; the math is :class:`SparseAdam`'s.

    Args:
        params: list of 2-D float32/float64 C-contiguous writeable arrays (rows x dim): a
            row step reads whole rows in place, so C order is needed here.
        grads: list of :class:`fastopt.SparseRows`, one per param (dense ones are refused).
        exp_avgs, exp_avg_sqs: lists of the moments (like each param, C-contiguous), updated
            on touched rows.
        steps: the 1-based number of this step: one int, or a list with one per param.
        lr, betas, eps, maximize: as in :class:`SparseAdam`.

    All buffers and indices are validated before anything is written.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> table = np.ones((3, 2), np.float32)
        >>> m, v = np.zeros_like(table), np.zeros_like(table)
        >>> grad = fastopt.SparseRows(np.array([2]), np.array([[0.5, -3.0]], np.float32))
        >>> fastopt.functional.sparse_adam([table], [grad], [m], [v], 1, lr=0.1)
        >>> print(table.round(6))   # row 2 moves by about lr; rows 0 and 1 are as they were
        [[1.  1. ]
         [1.  1. ]
         [0.9 1.1]]
        >>> print(m[2])   # (1 - beta1) * g, on the touched row only
        [ 0.05 -0.3 ]
    """
    ALGORITHM.functional(params, grads, {"exp_avg": exp_avgs, "exp_avg_sq": exp_avg_sqs},
                         steps, {"lr": lr, "betas": betas, "eps": eps, "maximize": maximize},
                         masters=masters, seed=seed)


class SparseAdam(Optimizer):
    __doc__ = r"""Lazy Adam for row-sparse gradients (torch.optim.SparseAdam, 2.13).

    Only the rows a gradient touches change: their moments and their param. Rows not in the
    batch keep their (stale) moments, which is what makes the step cost proportional to the
    batch and not to the table. For the rows :math:`r` of a :class:`fastopt.SparseRows`
    gradient (repeated rows summed first, in order of appearance) at step :math:`t`, in the
    kernel's order (per-step scalars in double, rounded once; the rest in the param's
    dtype)::

{math}

    These are torch's values (it adds the update ``(g - m) * (1 - beta1)`` to ``m``); ``t``
    counts every step the param got a gradient, empty or not, as torch counts.

    {params_doc}
        lr: learning rate (default 1e-3; must be > 0).
        betas: coefficients of the running averages of the gradient and its square
            (default (0.9, 0.999)).
        eps: added to the denominator for stability (default 1e-8; must be > 0).
        maximize: maximize the objective instead of minimizing (default False).

    State per param: ``step`` (int), ``exp_avg``, ``exp_avg_sq`` (arrays like the param).

    ``opt.step(grads)`` takes one :class:`fastopt.SparseRows` per param (or ``None`` to skip
    it); a dense gradient raises ``TypeError``, as torch refuses it (use Adam). Everything is
    validated before anything is written.

    Example::

        >>> import numpy as np, fastopt
        >>> table = np.ones((100, 4), np.float32)
        >>> opt = fastopt.SparseAdam([table], lr=0.1)
        >>> opt.step([fastopt.SparseRows(np.array([5]), np.ones((1, 4), np.float32))])
        >>> float(table[5, 0]), float(table[6, 0])
        (0.9000000357627869, 1.0)

    .. warning:: Lazy: a row's moments decay only when the row is touched, so this is not
       Adam on the dense gradient; it is the usual choice for huge embedding tables.

    Reference: D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015;
    the lazy variant as in torch.optim.SparseAdam.
    """.format(params_doc=params_doc, math=MATH)

    algorithm = ALGORITHM

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False,
                 **precision):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, maximize=maximize),
                         **precision)

    def _new_state(self, p, group):
        return {"step": 0, "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
