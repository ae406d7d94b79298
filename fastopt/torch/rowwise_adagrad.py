"""fastopt.torch.RowwiseAdagrad: Adagrad with one accumulator per row (no torch.optim twin).

Kernel: src_c/kernels/rowwise_adagrad.inc.c. NumPy twin: fastopt/optim/rowwise_adagrad.py.
"""
import torch

from fastopt.optim.rowwise_adagrad import ALGORITHM, MATH
from fastopt.torch._base import noop_flags_doc
from fastopt.torch.adagrad import Adagrad

__all__ = ["RowwiseAdagrad"]


class RowwiseAdagrad(Adagrad):
    __doc__ = r"""Row-wise Adagrad for embedding tables: ``fastopt.RowwiseAdagrad`` on torch
    tensors.

    torch.optim.Adagrad's interface (arguments, defaults, flags) with one scalar accumulator
    per row of each param (shape ``(rows,)``: 4 bytes per row in float32 instead of
    ``4 * dim``). For a param of shape ``(rows, ...)`` with gradient :math:`g`, at step
    :math:`t`, per row :math:`r`, in the kernel's order (per-step scalars in double, the rest
    in the param's dtype)::

        t     = t + 1                       (the float32 step tensor, as torch.optim.Adagrad)
{math}

    where ``eps_inside_sqrt`` is False (torch.optim.Adagrad has no such argument) and
    ``mean`` sums in the fixed order :class:`fastopt.RowwiseAdagrad` documents; results equal
    that NumPy optimizer's bit for bit. Grads may be dense (every row steps) or sparse COO
    with whole rows (``nn.Embedding(sparse=True)``: only the touched rows are read and
    written; repeated rows summed in order of appearance; ``weight_decay`` must be 0).

    Args:
        params: an iterable of tensors or of dicts (param groups); contiguous float32,
            float64, bfloat16 or float16 CPU tensors with at least one dimension (rows
            first); ``master_weights``, ``state_dtype`` and ``seed`` as in Adagrad.
        lr (float): learning rate (default: 1e-2).
        lr_decay (float): learning rate decay (default: 0).
        weight_decay (float): L2 penalty added to dense gradients (default: 0).
        initial_accumulator_value (float): initial value of ``sum`` (default: 0; the
            constructor's value, as torch.optim.Adagrad does).
        eps (float): added to the denominator for numerical stability (default: 1e-10).
        maximize (bool): maximize the objective instead of minimizing (default: False).
        {flags}

    State per param: ``step`` (a 0-d float32 tensor) and ``sum`` (shape ``(rows,)``),
    created in the constructor.

    .. warning:: One accumulator per row assumes a row's coordinates have gradients of
       similar scale (true of embedding rows); where they do not, use Adagrad.

    Reference: M. Naumov et al., "Deep Learning Recommendation Model for Personalization and
    Recommendation Systems", arXiv:1906.00091 (2019); J. Duchi, E. Hazan, Y. Singer, JMLR 12
    (2011).
    """.format(math=MATH, flags=noop_flags_doc("foreach", "differentiable", "fused"))

    # torch.optim.Adagrad's constructor, flags, hyper-parameters and checks (inherited from
    # fastopt.torch.Adagrad); a row kernel only (dense grads step every row through it) and
    # one accumulator per row.

    algorithm = ALGORITHM

    def _init_state(self, p, group):
        if p.dim() < 1:
            raise ValueError("fastopt: RowwiseAdagrad needs params with at least 1 dimension "
                             "(rows first); got a 0-d tensor")
        return {"step": self._new_step(),
                "sum": torch.full(p.shape[:1], self.defaults["initial_accumulator_value"],
                                  dtype=p.dtype)}
