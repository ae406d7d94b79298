"""Plain NumPy implementations of every fastopt step: the specification.

Each function here has the signature of its fastopt functional twin and computes in the exact
operation order of the C kernel, in the array's own dtype (float32 stays float32; per-step
scalars are computed in double and rounded once). With contraction off in the C build, every
ISA path of fastopt is bitwise equal to these. Tests use them as the ground truth and the
benchmark as the baseline; read them as the definition of what a step does.

Row-sparse steps (``fastopt.SparseRows`` gradients) are in :mod:`fastopt.reference.sparse`:
``coalesce`` (np.unique + np.add.at), ``adagrad_rows``, ``sgd_rows``, ``rowwise_adagrad``
and ``sparse_adam``.
"""
from fastopt._discover import public

_found = public(__name__, __path__)
globals().update(_found)
__all__ = sorted(_found)
