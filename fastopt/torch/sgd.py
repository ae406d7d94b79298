"""fastopt.torch.SGD: torch.optim.SGD's interface on fastopt's SGD kernel.

Kernel: src_c/kernels/sgd.inc.c. Hyper-parameters: fastopt/optim/sgd.py.
"""
from fastopt.optim.sgd import ALGORITHM, MATH
from fastopt.torch._base import Optimizer, noop_flags_doc

__all__ = ["SGD"]


class SGD(Optimizer):
    __doc__ = r"""Stochastic gradient descent with (Nesterov) momentum: ``torch.optim.SGD``,
    fused and zero-copy.

    A drop-in replacement for ``torch.optim.SGD`` (2.13) on CPU tensors: same arguments,
    defaults, param groups, state (``momentum_buffer`` only, and only with momentum) and state
    dicts, which load both ways. For each param :math:`p` with gradient :math:`g` and momentum
    buffer :math:`b`, in the kernel's order (``1 - dampening`` in double, rounded once; the
    rest in the param's dtype)::

{math}

    where the buffer's first step is the one that creates it (``b = g`` is torch's clone of
    the gradient). One C call updates every param of every group that has a grad, reading
    and writing the tensors' own memory.

    Args:
        params: an iterable of tensors or of dicts (param groups), as in torch.optim. Params
            must be contiguous float32, float64, bfloat16 or float16 CPU tensors; keyword
            arguments ``master_weights``, ``state_dtype`` (torch.bfloat16) and ``seed`` set
            half-precision storage (fastopt.torch._half; README "Half precision").
        lr (float): learning rate (default: 1e-3). A Python number: tensor lrs are refused.
        momentum (float): momentum factor (default: 0, plain SGD without a buffer).
        dampening (float): dampening of the gradient's share in the momentum (default: 0).
        weight_decay (float): L2 penalty added to the gradient (default: 0).
        nesterov (bool): Nesterov momentum (default: False). As in torch, the constructor
            requires momentum > 0 and dampening == 0 for it; a param group of its own may
            set other values, which torch's formulas (above) then follow.
        maximize (bool): maximize the objective instead of minimizing (default: False).
        {flags}

    State per param: ``momentum_buffer`` (a tensor like the param), created at the param's
    first step with a grad while its group's momentum is non-zero, from that step's
    (decayed, sign-flipped) gradient; there is no step counter and, without momentum, no
    state entry at all, as in torch. A buffer loaded from a state dict continues as started.

    The step validates params, grads, state and every group's hyper-parameters before writing
    anything, and raises naming the param (its index across groups) for a CUDA or meta
    tensor, a non-contiguous, complex or half-precision param or grad, a tensor
    hyper-parameter or overlapping buffers. Params whose ``.grad`` is None are skipped.

    Sparse COO gradients (``nn.Embedding(..., sparse=True)``) are stepped on their touched
    rows only, in groups with ``momentum=0`` and ``weight_decay=0``.

    .. warning:: Unlike torch.optim.SGD, a sparse gradient in a group with momentum or weight
       decay raises ``ValueError`` (those would touch every row of the table each step).

    Reference: B. T. Polyak, "Some methods of speeding up the convergence of iteration
    methods", USSR Comput. Math. & Math. Phys. 4 (1964); Nesterov momentum as in
    I. Sutskever et al., "On the importance of initialization and momentum in deep
    learning", ICML 2013.
    """.format(math=MATH, flags=noop_flags_doc("foreach", "differentiable", "fused"))

    algorithm = ALGORITHM
    _step_key = None

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None, **precision):
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):   # torch checks the defaults only
            raise ValueError(f"fastopt: invalid nesterov=True with momentum={momentum!r} and "
                             f"dampening={dampening!r}: Nesterov momentum requires a "
                             f"momentum and zero dampening")
        super().__init__(params, defaults, **precision)

    def _init_state(self, p, group):
        # no step counter; momentum_buffer comes from _init_buffer once momentum != 0
        return {}
