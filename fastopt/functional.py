"""The functional steps: lists of arrays in, updated in place; no objects, no hidden state.

This is the seam the optimizer objects and fastopt.torch step through: each function runs
its algorithm's step builder (``fastopt.optim.<name>.ALGORITHM``), the same plan an object's
``step`` fills, and has a NumPy twin of the same name in fastopt.reference.

Row-sparse steps take :class:`fastopt.SparseRows` gradients: ``adagrad_rows``, ``sgd_rows``,
``sparse_adam`` (SparseRows only) and ``rowwise_adagrad`` (dense or SparseRows); ``adagrad``
and ``sgd`` take them too, mixed with dense gradients.
"""
import fastopt.optim as _optim
from fastopt._discover import public

_found = public(_optim.__name__, _optim.__path__, lambda name, obj: not isinstance(obj, type))
globals().update(_found)
__all__ = sorted(_found)
