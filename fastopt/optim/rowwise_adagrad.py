"""Row-wise Adagrad: one accumulator per row of a 2-D param (embedding tables).

Kernel: src_c/kernels/rowwise_adagrad.inc.c. Reference: fastopt/reference/sparse.py.
"""
import numpy as np

from fastopt.optim._algorithm import Algorithm
from fastopt.optim._docs import params_doc, step_doc
from fastopt.optim.adagrad import Adagrad, adagrad_hyper

__all__ = ["RowwiseAdagrad", "rowwise_adagrad"]


#: Row-wise Adagrad's update of each stepped row r, in the kernel's order: the one place it
#: is written for readers (``mean``'s summation order is in :class:`RowwiseAdagrad`'s doc).
MATH = """\
        clr   = lr / (1 + (t - 1) * lr_decay)
        g     = 0 + g                       (-0.0 reads as +0.0)
        g     = -g                          if maximize
        g     = g + weight_decay * p        if weight_decay != 0   (dense gradients only)
        s[r]  = s[r] + mean(g[r] ** 2)
        p[r]  = p[r] - clr * g[r] / (sqrt(s[r]) + eps)      # eps_inside_sqrt=False
        p[r]  = p[r] - clr * g[r] / sqrt(s[r] + eps)        # eps_inside_sqrt=True"""


def rowwise_sparse_hyper(group):
    """The scalars for a SparseRows gradient: weight decay must be 0, as for Adagrad."""
    h = adagrad_hyper(group)
    if h["weight_decay"] != 0:
        raise ValueError(f"weight_decay={group['weight_decay']!r} is not compatible with "
                         f"sparse gradients (it would change every row); use 0, as torch "
                         f"requires")
    return h


#: One row kernel for both: a dense gradient steps every row (weight decay allowed).
ALGORITHM = Algorithm("RowwiseAdagrad", row_kernel="rowwise_adagrad", hyper=adagrad_hyper,
                      row_hyper=rowwise_sparse_hyper)


def rowwise_adagrad(params, grads, sums, steps, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                    eps=1e-10, eps_inside_sqrt=False, maximize=False, masters=None, seed=0):
    """One fused row-wise Adagrad step, in place; the math is :class:`RowwiseAdagrad`'s.

    Args:
        params: list of float32/float64 C-contiguous writeable arrays of shape (rows, ...):
            a row step reads whole rows in place, so C order is needed here.
        grads: list with, per param, a dense C-contiguous array like it (every row steps) or
            a :class:`fastopt.SparseRows` (2-D params; only the touched rows step).
        sums: list of the accumulators (``state["sum"]``), each of shape ``(rows,)`` and
            the param's dtype, updated in place.
        steps: the 1-based number of this step: one int, or a list with one per param.
        lr, lr_decay, weight_decay, eps, eps_inside_sqrt, maximize: as in
            :class:`RowwiseAdagrad` (``weight_decay`` must be 0 for SparseRows).

    All buffers and indices are validated before anything is written.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> table = np.ones((3, 2), np.float32)
        >>> sums = np.zeros(3, np.float32)   # one accumulator per row
        >>> grad = fastopt.SparseRows(np.array([1]), np.array([[1.0, -7.0]], np.float32))
        >>> fastopt.functional.rowwise_adagrad([table], [grad], [sums], 1, lr=0.5)
        >>> print(sums)   # row 1: mean(g ** 2) = (1 + 49) / 2
        [ 0. 25.  0.]
        >>> print(table.round(6))   # row 1 is 1 - 0.5 * g / 5; rows 0 and 2 are as they were
        [[1.  1. ]
         [0.9 1.7]
         [1.  1. ]]
    """
    ALGORITHM.functional(params, grads, {"sum": sums}, steps, {
        "lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay, "eps": eps,
        "eps_inside_sqrt": eps_inside_sqrt, "maximize": maximize}, masters=masters, seed=seed)


class RowwiseAdagrad(Adagrad):
    __doc__ = r"""Row-wise Adagrad: Adagrad with one accumulator per row, for embedding tables.

    For a param of shape ``(rows, dim)`` (or ``(rows, ...)``, flattened per row) with
    gradient :math:`g`, each row :math:`r` keeps one scalar accumulator :math:`s_r`; at
    step :math:`t`, in the kernel's order (per-step scalars in double, the rest in the
    param's dtype)::

{math}

    ``mean`` sums the ``dim`` squares in a fixed order so that every ISA path and the NumPy
    reference agree bit for bit: eight lanes (lane ``l`` adds elements ``l, l + 8, l + 16,
    ...`` in turn, starting from 0), then the lanes pairwise as a halving tree,
    ``((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))``, then divides by ``dim``.

    The state is ``rows`` numbers instead of ``rows x dim``: 4 bytes per row in float32, a
    ``dim``-fold saving over Adagrad for the same per-row adaptivity that sparse features
    need (a rare row keeps a large step).

    Gradients may be dense (every row steps) or :class:`fastopt.SparseRows` (only the touched
    rows are read and written; repeated rows are summed first, in order of appearance, as
    ``np.add.at``; ``weight_decay`` must then be 0). A sparse step equals the dense step on
    ``grad.to_dense(rows)`` bit for bit.

    {params_doc}
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay (default 0).
        weight_decay: L2 penalty added to the gradient (default 0; dense gradients only).
        initial_accumulator_value: starting value of ``sum`` (default 0).
        eps: added to the denominator for stability (default 1e-10).
        eps_inside_sqrt: put ``eps`` under the root (default False).
        maximize: maximize the objective instead of minimizing (default False).

    State per param: ``step`` (int), ``sum`` (array of shape ``(rows,)``).

    {step_doc}

    Example::

        >>> import numpy as np, fastopt
        >>> table = np.zeros((1000, 16), np.float32)
        >>> opt = fastopt.RowwiseAdagrad([table], lr=0.1)
        >>> ids = np.array([3, 7, 3])
        >>> opt.step([fastopt.SparseRows(ids, np.ones((3, 16), np.float32))])
        >>> opt.state[0]["sum"].shape, float(opt.state[0]["sum"][3])
        ((1000,), 4.0)

    .. warning:: One accumulator per row assumes a row's coordinates have gradients of
       similar scale (true of embedding rows); where they do not, use :class:`Adagrad`.

    Reference: the row-wise ("RowWiseAdagrad") variant used for large embedding tables, e.g.
    M. Naumov et al., "Deep Learning Recommendation Model for Personalization and
    Recommendation Systems", arXiv:1906.00091 (2019); Adagrad itself: J. Duchi, E. Hazan,
    Y. Singer, JMLR 12 (2011).
    """.format(params_doc=params_doc, step_doc=step_doc, math=MATH)

    # Adagrad's constructor, hyper-parameters and their checks; a row kernel only (dense
    # grads step every row through it), and one accumulator per row.
    algorithm = ALGORITHM

    def _new_state(self, p, group):
        if p.ndim < 1:
            raise ValueError("fastopt: RowwiseAdagrad needs params with at least 1 dimension "
                             "(rows first); got a 0-d array")
        return {"step": 0,
                "sum": np.full(p.shape[:1], group["initial_accumulator_value"], p.dtype)}
