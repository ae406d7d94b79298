"""fastopt.torch.SparseAdam: torch.optim.SparseAdam's interface on fastopt's lazy-Adam row kernel.

Kernel: src_c/kernels/sparse_adam.inc.c. Hyper-parameters: fastopt/optim/sparse_adam.py.
"""
import torch

from fastopt.optim.sparse_adam import ALGORITHM, MATH
from fastopt.torch._base import Optimizer

__all__ = ["SparseAdam"]


class SparseAdam(Optimizer):
    __doc__ = r"""Lazy Adam for sparse gradients: ``torch.optim.SparseAdam``, fused and zero-copy.

    A drop-in replacement for ``torch.optim.SparseAdam`` (2.13) on CPU tensors: same
    arguments, defaults, param groups, state (``step`` as a Python int, ``exp_avg``,
    ``exp_avg_sq``, created at a param's first step) and state dicts, which load both ways.
    For the rows :math:`r` a sparse COO gradient touches (repeats summed first) at step
    :math:`t`, in the kernel's order (per-step scalars in double, rounded once; the rest in
    the param's dtype)::

        t         = t + 1                             (the Python int ``step``, as torch)
{math}

    Other rows, and their moments, are left alone. The gradient's ``_indices()`` and
    ``_values()`` are read in place, uncoalesced, and repeated rows are summed in C in order
    of appearance (torch coalesces, summing in its own order: results agree to float
    rounding); the step costs in proportion to the batch, never to the table. An empty
    gradient counts a step and changes nothing, as in torch.

    Args:
        params: an iterable of tensors or of dicts (param groups), as in torch.optim. Params
            must be contiguous float32, float64, bfloat16 or float16 CPU tensors; their grads
            sparse COO with whole rows (``nn.Embedding(sparse=True)``,
            ``nn.EmbeddingBag(sparse=True)``); keyword arguments ``master_weights``,
            ``state_dtype`` (torch.bfloat16) and ``seed`` set half-precision storage
            (fastopt.torch._half; README "Half precision"; bfloat16 tensors need
            ``ml_dtypes``).
        lr (float): learning rate (default: 1e-3; must be > 0). A Python number.
        betas (Tuple[float, float]): coefficients of the running averages of the gradient
            and its square (default: (0.9, 0.999)).
        eps (float): added to the denominator for numerical stability (default: 1e-8;
            must be > 0).
        maximize (bool): maximize the objective instead of minimizing (default: False).

    A dense grad raises RuntimeError, as torch (use Adam). Unlike torch, which updates group
    by group, nothing is written when anything is wrong: every grad, index and state tensor
    of every group is validated first.

    .. warning:: Lazy: a row's moments decay only when the row is touched, so this is not
       Adam on the dense gradient; it is the usual choice for huge embedding tables.

    Reference: D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015;
    the lazy variant as in torch.optim.SparseAdam.
    """.format(math=MATH)

    _step_tensor = False

    algorithm = ALGORITHM
    _dense_error = RuntimeError   # as torch.optim.SparseAdam

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False,
                 **precision):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "maximize": maximize}
        super().__init__(params, defaults, **precision)

    def _init_state(self, p, group):
        return {"step": 0,
                "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
