"""The functional steps: lists of arrays in, updated in place; no objects, no hidden state.

This is the seam the optimizer objects and fastopt.torch step through: each function runs
its algorithm's step builder (``fastopt.optim.<name>.ALGORITHM``), the same plan an object's
``step`` fills, and has a NumPy twin of the same name in fastopt.reference.

Row-sparse steps take :class:`fastopt.SparseRows` gradients: ``adagrad_rows``, ``sgd_rows``,
``sparse_adam`` (SparseRows only) and ``rowwise_adagrad`` (dense or SparseRows); ``adagrad``
and ``sgd`` take them too, mixed with dense gradients.

Half precision, as the optimizer objects (README "Half precision"): bfloat16
(``ml_dtypes.bfloat16``) and float16 params take grads (SparseRows values) and state in their
own dtype, or, with ``masters=[...]`` (each param's float32 master weights, an array like it,
or None for a param without), float32 state: each step updates the master and writes the
rounded param in the same pass. float32 params may keep their state buffers in bfloat16,
stored with stochastic rounding from ``seed`` (param ``i`` of the list draws its own stream),
exactly as :func:`fastopt.reference.half_step` with the same ``masters`` and ``seed``.
"""
import fastopt.optim as _optim
from fastopt._discover import public

_found = public(_optim.__name__, _optim.__path__, lambda name, obj: not isinstance(obj, type))
globals().update(_found)
__all__ = sorted(_found)
