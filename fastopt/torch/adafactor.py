"""fastopt.torch.Adafactor: torch.optim.Adafactor's interface on fastopt's Adafactor kernel.

Kernel: src_c/kernels/adafactor.inc.c. Hyper-parameters: fastopt/optim/adafactor.py.
"""
import torch

from fastopt.optim.adafactor import ALGORITHM, MATH
from fastopt.torch._base import Optimizer, noop_flags_doc

__all__ = ["Adafactor"]


class Adafactor(Optimizer):
    __doc__ = r"""Adafactor (Shazeer & Stern, 2018): ``torch.optim.Adafactor``, fused and zero-copy.

    A drop-in replacement for ``torch.optim.Adafactor`` (2.13) on CPU tensors: same arguments,
    defaults, param groups, state (``step``; ``row_var`` and ``col_var`` for a param of two
    or more dimensions, ``variance`` for the others) and state dicts, which load both ways.
    For each param :math:`p` with gradient :math:`g` and step :math:`t`, in the kernel's
    order (per-step scalars in double, the rest in the param's dtype)::

        t     = t + 1                                (the float32 step tensor, as torch)
{math}

    One C call updates every param of every group that has a grad, reading and writing the
    tensors' own memory (each param's passes on one thread, the params spread over the
    threads). torch computes the means and norms in float32 with its own reductions, so
    results agree with torch.optim.Adafactor to rounding, not bitwise. ``eps1=None`` is each
    param's own dtype's epsilon (torch 2.13 takes the first stepped param's for its whole
    group: the two differ only in a group that mixes float32 and float64 params).

    Args:
        params: an iterable of tensors or of dicts (param groups), as in torch.optim. Params
            must be contiguous float32, float64, bfloat16 or float16 CPU tensors (C order for
            2-D and up); keyword arguments ``master_weights``, ``state_dtype``
            (torch.bfloat16) and ``seed`` set half-precision storage (fastopt.torch._half;
            README "Half precision": on half params eps1=None is float32's epsilon).
        lr (float): the cap on the relative step size and the weight decay's scale
            (default: 1e-2). A Python number: tensor lrs are refused.
        beta2_decay (float): ``beta2_t = 1 - t ** beta2_decay``, <= 0 (default: -0.8).
        eps (Tuple[float | None, float]): eps1 (None: the dtype's machine epsilon) guards the
            variance estimate; eps2 is the smallest rms(p) a step scales by
            (default: (None, 1e-3)).
        d (float): the clipping threshold on rms(u), >= 1 (default: 1.0).
        weight_decay (float): decoupled weight decay (default: 0.0).
        {flags}
        maximize (bool): maximize the objective instead of minimizing (default: False).

    State per param, created at its first step with a grad, as torch does: ``step`` (a 0-d
    float32 tensor, float64 if torch's default dtype is float64), and ``row_var`` (the
    param's shape with the last dim 1) and ``col_var`` (the second-to-last dim 1) for a
    param of two or more dimensions, else ``variance`` (like the param), starting at 0.

    The step validates params, grads, state and every group's hyper-parameters before writing
    anything, and raises naming the param (its index across groups) for a CUDA or meta
    tensor, a non-contiguous, complex or half-precision param or grad, a sparse grad, state
    of the wrong shape, a tensor hyper-parameter or overlapping buffers. Params whose
    ``.grad`` is None are skipped.

    Reference: N. Shazeer, M. Stern, "Adafactor: Adaptive Learning Rates with Sublinear
    Memory Cost", ICML 2018 (arXiv:1804.04235).
    """.format(math=MATH, flags=noop_flags_doc("foreach"))

    algorithm = ALGORITHM

    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
                 weight_decay=0.0, *, foreach=None, maximize=False, **precision):
        super().__init__(params, {"lr": lr, "beta2_decay": beta2_decay, "eps": eps, "d": d,
                                  "weight_decay": weight_decay, "foreach": foreach,
                                  "maximize": maximize}, **precision)

    def _init_buffer(self, p, name, group):
        """A buffer missing from a loaded state: zeros of the shape this param keeps."""
        j = ALGORITHM.state_names.index(name)
        return p.new_zeros(ALGORITHM.dense.buffer_shape(j, tuple(p.shape)))

    def _init_state(self, p, group):
        # torch's keys and order: step, then row_var and col_var, or variance
        state = {"step": self._new_step()}
        if p.dim() > 1:
            state["row_var"] = p.new_zeros(p.shape[:-1] + (1,))
            state["col_var"] = p.new_zeros(p.shape[:-2] + (1, p.shape[-1]))
        else:
            state["variance"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state
