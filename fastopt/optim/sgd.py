"""SGD with momentum and Nesterov: the functional step and the optimizer object.

Kernel: src_c/kernels/sgd.inc.c. Reference: fastopt/reference/sgd.py.
"""
import numpy as np

from fastopt._kernels import SparseRows
from fastopt._scalars import flag, nonnegative, real
from fastopt.optim._algorithm import Algorithm
from fastopt.optim._base import Optimizer
from fastopt.optim._docs import params_doc, step_doc

__all__ = ["SGD", "sgd", "sgd_rows"]


#: SGD's update, in the kernel's order: the one place it is written for readers.
MATH = """\
        g = -g                                  if maximize
        g = g + weight_decay * p                if weight_decay != 0
        if momentum != 0:
            b = g                               on the buffer's first step (b only written)
            b = b * momentum + (1 - dampening) * g          on later steps
            g = g + momentum * b                if nesterov
            g = b                               otherwise
        p = p - lr * g"""


def sgd_hyper(group):
    """SGD's settings -> its kernel's scalars (registry.h: sgd); ValueError if invalid.

    Any mix of nesterov, dampening and momentum follows torch's formulas; the rule that
    nesterov needs momentum > 0 and dampening == 0 is the constructor's (as in torch)."""
    return {"lr": nonnegative("lr", group["lr"]),
            "momentum": nonnegative("momentum", group["momentum"]),
            "dampening": real("dampening", group["dampening"]),
            "weight_decay": nonnegative("weight_decay", group["weight_decay"]),
            "nesterov": flag("nesterov", group["nesterov"]),
            "maximize": flag("maximize", group["maximize"])}


def sgd_rows_hyper(group):
    """The row kernel's scalars (registry.h: sgd_rows), refusing what a row step cannot do.

    Momentum would need every row's buffer each step and weight decay changes every row, so
    both must be 0 (``dampening`` and ``nesterov`` then have no effect); torch.optim.SGD's
    sparse support has the same limits in practice.
    """
    h = sgd_hyper(group)
    for key in ("momentum", "weight_decay"):
        if h[key] != 0:
            raise ValueError(f"SGD with {key}={group[key]!r} does not take sparse gradients; "
                             f"row-sparse SGD needs {key}=0")
    return {"lr": h["lr"], "maximize": h["maximize"]}


def check_nesterov(momentum, dampening, nesterov):
    """The constructor's rule: Nesterov momentum needs momentum > 0 and dampening == 0."""
    if nesterov is True and (momentum <= 0 or dampening != 0):
        raise ValueError(f"invalid nesterov=True with momentum={momentum!r} and "
                         f"dampening={dampening!r}; Nesterov momentum requires momentum > 0 "
                         f"and dampening == 0")


ALGORITHM = Algorithm("SGD", kernel="sgd", hyper=sgd_hyper, row_kernel="sgd_rows",
                      row_hyper=sgd_rows_hyper)


def sgd(params, grads, momentum_buffers, steps, *, lr=1e-3, momentum=0.0, dampening=0.0,
        weight_decay=0.0, nesterov=False, maximize=False, masters=None, seed=0):
    """One fused SGD step over lists of arrays, in place; the math is :class:`SGD`'s.

    Args:
        params: list of float32/float64 writeable arrays, each one dense block in any
            layout (C, Fortran or another order of the dimensions), updated in place.
        grads: list of arrays with each param's dtype, shape and memory layout (only read);
            a :class:`fastopt.SparseRows` for a 2-D C-contiguous param steps its touched
            rows only (then ``momentum`` and ``weight_decay`` must be 0), as :func:`sgd_rows`.
        momentum_buffers: list of the momentum buffers (``state["momentum_buffer"]``, like
            the param), updated in place; only used if ``momentum != 0``, otherwise it may be
            ``None`` or hold ``None``s. On step 1 a buffer is only written (set to the
            gradient).
        steps: the 1-based number of this step: one int, or a list with one per param.
        lr, momentum, dampening, weight_decay, nesterov, maximize: as in :class:`SGD`.

    All buffers are validated before anything is written; see :mod:`fastopt.reference` for
    the same step in NumPy.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> p = np.array([1.0, 2.0])
        >>> g = np.array([1.0, -2.0])
        >>> b = np.zeros(2)
        >>> for t in (1, 2):   # step 1 sets b = g; step 2 makes b = 0.5 * b + g
        ...     fastopt.functional.sgd([p], [g], [b], t, lr=0.25, momentum=0.5)
        >>> print(b)
        [ 1.5 -3. ]
        >>> print(p)   # p - 0.25 * g, then - 0.25 * b
        [0.375 3.25 ]
    """
    settings = {"lr": lr, "momentum": momentum, "dampening": dampening,
                "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize}
    check_nesterov(momentum, dampening, nesterov)
    ALGORITHM.functional(params, grads, {"momentum_buffer": momentum_buffers}, steps, settings,
                         masters=masters, seed=seed)


def sgd_rows(params, grads, *, lr=1e-3, maximize=False, masters=None, seed=0):
    """One plain SGD step on the touched rows of row-sparse gradients, in place.

    For each param (2-D, rows x dim, C-contiguous: a row step reads whole rows in place)
    with its :class:`fastopt.SparseRows` gradient, repeated rows are summed (in order of
    appearance, as ``np.add.at``), then each touched row, and only it, gets :class:`SGD`'s
    step with ``momentum=0`` and ``weight_decay=0`` (the math is :class:`SGD`'s): the dense
    step on ``grad.to_dense(rows)``, bit for bit. All buffers and indices are validated
    before anything is written.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> table = np.ones((3, 2))
        >>> grad = fastopt.SparseRows(np.array([0]), np.array([[2.0, -4.0]]))
        >>> fastopt.functional.sgd_rows([table], [grad], lr=0.25)
        >>> print(table)   # row 0 is 1 - 0.25 * g; rows 1 and 2 are as they were
        [[0.5 2. ]
         [1.  1. ]
         [1.  1. ]]
    """
    for i, g in enumerate(grads):
        if type(g) is not SparseRows:
            raise TypeError(f"fastopt: param {i}: sgd_rows takes SparseRows gradients, "
                            f"got {type(g).__name__}")
    sgd(params, grads, None, 1, lr=lr, maximize=maximize, masters=masters, seed=seed)


class SGD(Optimizer):
    __doc__ = r"""Stochastic gradient descent, optionally with (Nesterov) momentum, in one pass.

    For each param :math:`p` with gradient :math:`g` and momentum buffer :math:`b`, in the
    kernel's order (``1 - dampening`` in double, rounded once; the rest in the param's
    dtype)::

{math}

    where the buffer's first step is the one that makes ``state["step"]`` 1 (see below). This
    is torch.optim.SGD (2.13), including its state key ``momentum_buffer``.

    {params_doc}
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0: plain SGD, no buffer).
        dampening: dampening of the gradient's share in the momentum (default 0).
        weight_decay: L2 penalty added to the gradient (default 0).
        nesterov: use Nesterov momentum (default False); needs momentum > 0 and
            dampening == 0.
        maximize: maximize the objective instead of minimizing (default False).

    State per param: ``momentum_buffer`` (an array like the param, or ``None`` when the
    param's group has ``momentum == 0``) and ``step`` (int), fastopt's own count (torch's SGD
    keeps none): the number of steps since the buffer started, so that step 1 is the one that
    sets the buffer to the gradient. Turning momentum on later (``group["momentum"]`` set
    from 0) starts the buffer, and this count, afresh on the next step, as torch does. A torch
    state dict (``momentum_buffer`` only) loads as an already started buffer.

    {step_doc}

    Example::

        >>> import numpy as np, fastopt
        >>> x = np.array([-5.0, -2.0])
        >>> opt = fastopt.SGD([x], lr=0.4, momentum=0.5)
        >>> for _ in range(20):
        ...     opt.step([np.array([0.2, 4.0]) * x])
        >>> bool(abs(x[1]) < 0.1)
        True

    .. warning:: With momentum the step a gradient causes adds up over about
       ``1 / (1 - momentum)`` steps: lower ``lr`` when raising ``momentum``. Weight decay here
       is L2 added to the gradient, not decoupled decay (AdamW's).

    Reference: B. T. Polyak, "Some methods of speeding up the convergence of iteration
    methods", USSR Comput. Math. Math. Phys. 4 (1964); I. Sutskever, J. Martens, G. Dahl,
    G. Hinton, "On the importance of initialization and momentum in deep learning",
    ICML 2013 (the Nesterov form used here and in torch).
    """.format(params_doc=params_doc, step_doc=step_doc, math=MATH)

    algorithm = ALGORITHM
    _restart_on_new_buffer = True

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False, **precision):
        super().__init__(params, dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov, maximize=maximize), **precision)

    def _check_group(self, group):
        check_nesterov(group["momentum"], group["dampening"], group["nesterov"])

    def _new_state(self, p, group):
        # The buffer's contents are never read on step 1; zeros keep state dicts deterministic.
        return {"step": 0,
                "momentum_buffer": np.zeros_like(p) if group["momentum"] != 0 else None}

    def _load_param_state(self, p, saved, i, group):
        # torch.optim.SGD saves no "step", only "momentum_buffer" (and no entry at all for
        # momentum 0): a buffer saved without a count has started; no buffer has not.
        if isinstance(saved, dict) and "step" not in saved:
            saved = dict(saved)
            saved.setdefault("momentum_buffer", None)
            saved["step"] = 0 if saved["momentum_buffer"] is None else 1
        # A buffer not started while the group has momentum: start it (unread on step 1).
        if (isinstance(saved, dict) and saved.get("momentum_buffer", 0) is None
                and group["momentum"] != 0):
            saved = {**saved, "momentum_buffer": np.zeros_like(p), "step": 0}
        return super()._load_param_state(p, saved, i, group)
