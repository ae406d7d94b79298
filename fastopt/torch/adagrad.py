"""fastopt.torch.Adagrad: torch.optim.Adagrad's interface on fastopt's Adagrad kernel.

Kernel: src_c/kernels/adagrad.inc.c. Hyper-parameters: fastopt/optim/adagrad.py.
"""
import torch

from fastopt._scalars import nonnegative
from fastopt.optim.adagrad import ALGORITHM, MATH
from fastopt.torch._base import Optimizer, noop_flags_doc

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    __doc__ = r"""Adagrad (Duchi, Hazan & Singer, 2011): ``torch.optim.Adagrad``, fused and
    zero-copy.

    A drop-in replacement for ``torch.optim.Adagrad`` (2.13) on CPU tensors: same arguments,
    defaults, param groups, state (``step``, ``sum``) and state dicts, which load both ways.
    For each param :math:`p` with gradient :math:`g`, accumulator :math:`s` and step
    :math:`t`, in the kernel's order (``clr`` in double, the rest in the param's dtype)::

        t   = t + 1                    (the float32 step tensor, as torch)
{math}

    where ``s`` starts at ``initial_accumulator_value`` and ``eps_inside_sqrt`` is False
    (torch.optim.Adagrad's form; it has no such argument). One C call updates every param of
    every group that has a grad, reading and writing the tensors' own memory.

    Args:
        params: an iterable of tensors or of dicts (param groups), as in torch.optim. Params
            must be contiguous float32, float64, bfloat16 or float16 CPU tensors; keyword
            arguments ``master_weights``, ``state_dtype`` (torch.bfloat16) and ``seed`` set
            half-precision storage (fastopt.torch._half; README "Half precision").
        lr (float): learning rate (default: 1e-2). A Python number: tensor lrs are refused.
        lr_decay (float): learning rate decay (default: 0).
        weight_decay (float): L2 penalty added to the gradient (default: 0).
        initial_accumulator_value (float): initial value of ``sum`` (default: 0). As in
            torch.optim.Adagrad, the constructor's value initializes every param's ``sum``;
            a param group's own value is kept in the group but not used.
        eps (float): added to the denominator for numerical stability (default: 1e-10).
        maximize (bool): maximize the objective instead of minimizing (default: False).
        {flags}

    State per param: ``step`` (a 0-d float32 tensor, float64 if torch's default dtype is
    float64) and ``sum`` (a tensor like the param), created in the constructor as torch does.

    Sparse gradients: a sparse COO grad with whole rows (``nn.Embedding(sparse=True)``,
    ``nn.EmbeddingBag(sparse=True)``; any param whose grad has ``sparse_dim() == 1``) updates
    only the rows it touches, at a cost proportional to the batch, never to the table: its
    ``_indices()`` and ``_values()`` are read in place, uncoalesced, and repeated rows are
    summed in C in order of appearance (torch coalesces, summing in its own order, so results
    agree to float rounding). As in torch, ``weight_decay`` must then be 0 (RuntimeError
    otherwise) and ``step`` counts every step the param had a grad. Dense and sparse grads
    may be mixed in one optimizer; the step stays one all-or-nothing call.

    The step validates params, grads (sparse indices range-checked), state and every group's
    hyper-parameters before writing anything, and raises naming the param (its index across
    groups) for a CUDA or meta tensor, a non-contiguous, complex or half-precision param or
    grad, a sparse grad that is not row-sparse COO, a tensor hyper-parameter or overlapping
    buffers. Params whose ``.grad`` is None are skipped.

    .. warning:: The accumulator only grows, so the effective step size shrinks for ever;
       RMSprop, Adadelta and Adam are the usual cures.

    Reference: J. Duchi, E. Hazan, Y. Singer, "Adaptive Subgradient Methods for Online
    Learning and Stochastic Optimization", JMLR 12 (2011).
    """.format(math=MATH, flags=noop_flags_doc("foreach", "differentiable", "fused"))

    algorithm = ALGORITHM
    _sparse_error = RuntimeError  # as torch.optim.Adagrad, for weight_decay with sparse grads
    _eager_state = True

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0,
                 initial_accumulator_value=0, eps=1e-10, foreach=None, *, maximize=False,
                 differentiable=False, fused=None, **precision):
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults, **precision)

    def _check_group(self, group):
        nonnegative("initial_accumulator_value", group["initial_accumulator_value"])

    def _init_state(self, p, group):
        # torch.optim.Adagrad uses the constructor's value for every group (self.defaults)
        return {"step": self._new_step(),
                "sum": torch.full_like(p, self.defaults["initial_accumulator_value"],
                                       memory_format=torch.preserve_format)}

    def share_memory(self):
        """Move every ``sum`` to shared memory (torch.optim.Adagrad.share_memory)."""
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["sum"].share_memory_()
