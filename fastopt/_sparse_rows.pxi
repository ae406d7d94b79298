# ---- row-sparse gradients -----------------------------------------------------------------

cdef class SparseRows:
    """A row-sparse gradient of a 2-D param (``rows x dim``): ``values[j]`` is the gradient
    of row ``indices[j]``; every other row's gradient is zero.

    Args:
        indices: int32 or int64 array of shape ``(k,)``, each in ``[0, rows)``. Repeats are
            allowed and summed, as ``torch.Tensor.coalesce`` and ``np.add.at`` do.
        values: array of shape ``(k, dim)`` with the param's dtype, C-contiguous.

    Pass one in place of a dense gradient to ``opt.step(...)`` of an optimizer that supports
    it (Adagrad, SGD without momentum, RowwiseAdagrad, SparseAdam). Nothing is copied here:
    the arrays are checked at the step, before anything is written (indices in C, on a copy
    the step makes first, so changing them later cannot redirect a write). Lists are converted with
    ``np.asarray``.

    A step costs in proportion to ``k * dim`` and never reads untouched rows. The folded
    gradient of a repeated row is ``((0 + v_first) + v_second) + ...`` in order of
    appearance: bit for bit what ``to_dense`` (``np.add.at`` into zeros) gives. So a sparse
    step equals the optimizer's dense step on ``to_dense(rows)`` exactly, on every row (the
    untouched rows it leaves alone are rows the dense step would not change, except where
    the dense step itself makes NaN of them, e.g. Adagrad with eps=0 and a zero accumulator).
    Against torch, which folds repeats in its own order, results agree to float rounding.
    """

    def __init__(self, indices, values):
        self.indices = indices if cnp.PyArray_Check(indices) else np.asarray(indices)
        self.values = values if cnp.PyArray_Check(values) else np.asarray(values)

    def to_dense(self, n_rows):
        """The dense gradient: zeros of shape ``(n_rows, dim)``, then ``np.add.at``."""
        out = np.zeros((n_rows,) + self.values.shape[1:], self.values.dtype)
        np.add.at(out, self.indices, self.values)
        return out

    def __reduce__(self):
        return (SparseRows, (self.indices, self.values))

    def __repr__(self):
        return (f"SparseRows(k={self.indices.shape[0] if self.indices.ndim else '?'}, "
                f"dim={self.values.shape[1] if self.values.ndim == 2 else '?'}, "
                f"indices={self.indices.dtype}, values={self.values.dtype})")


