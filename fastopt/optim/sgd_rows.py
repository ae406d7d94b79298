"""Plain SGD on row-sparse gradients: the row kernel, its functional step and the hook an SGD
object uses to opt in to :class:`fastopt.SparseRows` gradients.

Kernel: src_c/kernels/sgd_rows.inc.c. Reference: fastopt/reference/sparse.py:sgd_rows.

Wiring an SGD object (``fastopt/optim/sgd.py``) to it takes two members::

    from fastopt.optim.sgd_rows import sgd_row_hyper

    class SGD(Optimizer):
        _kernel = "sgd"
        _row_kernel = "sgd_rows"          # opt in: SparseRows grads go to this row kernel

        def _row_hyper(self, group, sparse):
            return sgd_row_hyper(group)    # (lr, maximize); refuses momentum / weight_decay
"""
from fastopt import _kernels
from fastopt.optim._base import check_hyper

_ROW_ALGO, _ = _kernels.row_algorithm("sgd_rows")


def row_hyper(lr, maximize=False):
    """The row kernel's hyper tuple ``(lr, maximize)``; ValueError if lr is invalid."""
    try:
        ok = 0.0 <= lr < float("inf")
    except TypeError:
        ok = False
    if not ok:
        check_hyper("lr", lr)
    return (lr, maximize)


def sgd_row_hyper(group):
    """``row_hyper`` for an SGD param group, refusing what a row step cannot do.

    Momentum would need every row's buffer each step and weight decay changes every row, so
    both must be 0 (``dampening`` and ``nesterov`` then have no effect); torch.optim.SGD's
    sparse support has the same limits in practice.
    """
    for key in ("momentum", "weight_decay"):
        value = group.get(key, 0.0)
        if value != 0:
            raise ValueError(f"fastopt: SGD with {key}={value!r} does not take SparseRows "
                             f"gradients; row-sparse SGD needs {key}=0")
    return row_hyper(group["lr"], group.get("maximize", False))


def sgd_rows(params, grads, *, lr=1e-3, maximize=False):
    """One plain SGD step on the touched rows of row-sparse gradients, in place.

    For each param (2-D, rows x dim) with its :class:`fastopt.SparseRows` gradient, repeated
    rows are summed (in order of appearance, as ``np.add.at``), then::

        g = -g if maximize else g
        p[r] = p[r] - lr * g[r]          # for each touched row r only

    which is the dense step ``p - lr * grad.to_dense(rows)`` bit for bit. All buffers and
    indices are validated before anything is written.
    """
    _kernels.rows_step(_ROW_ALGO, params, grads, (), row_hyper(lr, maximize), 1,
                       dense_ok=False, owner="sgd_rows")
