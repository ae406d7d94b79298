"""fastopt: fused, single-pass, multi-threaded CPU optimizer steps for NumPy arrays (and PyTorch tensors).

    >>> import numpy as np, fastopt
    >>> w = np.zeros(3, dtype=np.float32)
    >>> opt = fastopt.Adagrad([w], lr=0.1)
    >>> opt.step([np.ones(3, dtype=np.float32)])

Embedding tables (2-D params) also take row-sparse gradients, ``fastopt.SparseRows(indices,
values)``, in Adagrad, SGD (no momentum), RowwiseAdagrad and SparseAdam.

Large steps use every CPU the process may use (``fastopt.set_num_threads``,
``fastopt.num_threads``, ``FASTOPT_NUM_THREADS``). ``fastopt.functional`` has the same steps as functions, ``fastopt.reference`` the NumPy
specification of each, ``fastopt.show_config()`` the build and the CPU path in use, and
``python -m fastopt.bench`` the benchmark report. ``fastopt.torch`` (needs PyTorch; never
imported by ``import fastopt``) has drop-in ``torch.optim`` classes on the same kernels.
"""
from fastopt import _openmp  # noqa: F401  (first: it loads the extension, see its docstring)
from fastopt import functional, reference
from fastopt._config import show_config
from fastopt._threads import get_num_threads, num_threads, set_num_threads
from fastopt._kernels import SparseRows
from fastopt._version import __version__
from fastopt.optim import *  # noqa: F401,F403  (every optimizer class)
from fastopt.optim import __all__ as _optimizers

__all__ = [*_optimizers, "SparseRows", "functional", "reference", "show_config",
           "get_num_threads", "set_num_threads", "num_threads", "__version__"]
