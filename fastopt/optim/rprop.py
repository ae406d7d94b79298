"""Rprop: the functional step and the optimizer object.

Kernel: src_c/kernels/rprop.inc.c. Reference: fastopt/reference/rprop.py.
"""
import numpy as np

from fastopt._scalars import flag, nonnegative, real
from fastopt.optim._algorithm import Algorithm
from fastopt.optim._base import Optimizer
from fastopt.optim._docs import params_doc, step_doc

__all__ = ["Rprop", "rprop"]


#: Rprop's update, in the kernel's order: the one place it is written for readers.
MATH = """\
        g    = -g                                  if maximize
        d    = g * prev
        f    = etaplus if d > 0, etaminus if d < 0, 1 if d == 0
        s    = clip(s * f, step_size_min, step_size_max)
        g    = 0                                   where f == etaminus (a sign change)
        p    = p - sign(g) * s
        prev = g"""


def _pair(name, value):
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair, got {value!r}") from None
    return a, b


def rprop_hyper(group):
    """Rprop's settings -> its kernel's scalars (registry.h: rprop); ValueError if invalid.
    ``lr`` is checked here; it only sets where a new ``step_size`` buffer starts."""
    nonnegative("lr", group["lr"])
    etaminus, etaplus = _pair("etas", group["etas"])
    lo, hi = _pair("step_sizes", group["step_sizes"])
    etaminus = real("etas[0]", etaminus, 0.0, 1.0, low_open=True, high_open=True)
    etaplus = real("etas[1]", etaplus, 1.0, float("inf"), low_open=True, high_open=True)
    lo = nonnegative("step_sizes[0]", lo)
    hi = nonnegative("step_sizes[1]", hi)
    if lo > hi:
        raise ValueError(f"step_sizes must be (min, max) with min <= max, got {(lo, hi)!r}")
    return {"etaminus": etaminus, "etaplus": etaplus, "step_size_min": lo,
            "step_size_max": hi, "maximize": flag("maximize", group["maximize"])}


ALGORITHM = Algorithm("Rprop", kernel="rprop", hyper=rprop_hyper)


def rprop(params, grads, prevs, step_size_buffers, steps, *, lr=1e-2, etas=(0.5, 1.2),
          step_sizes=(1e-6, 50.0), maximize=False, masters=None, seed=0):
    """One fused Rprop step over lists of arrays, in place; the math is :class:`Rprop`'s.

    Args:
        params: list of float32/float64 writeable arrays, each one dense block in any
            layout (C, Fortran or another order of the dimensions), updated in place.
        grads: list of arrays with each param's dtype, shape and memory layout (only read).
        prevs: list of the previous (masked) gradients (``state["prev"]``, like the param,
            starting at 0), updated in place.
        step_size_buffers: list of the per-element step sizes (``state["step_size"]``, like
            the param, starting at ``lr``), updated in place.
        steps: the 1-based number of this step: one int, or a list with one per param
            (checked, not used by the math).
        lr: checked only: the step size a new step-size buffer starts at.
        etas, step_sizes, maximize: as in :class:`Rprop`.

    All buffers are validated before anything is written; see :mod:`fastopt.reference` for
    the same step in NumPy.

    ``masters`` and ``seed``: half precision, as in :mod:`fastopt.functional` (each half
    param's float32 master weights, or None; bfloat16 state's stochastic rounding).

    Example::

        >>> import numpy as np, fastopt
        >>> p = np.array([1.0, -2.0, 3.0])
        >>> prev, s = np.zeros(3), np.full(3, 0.1)
        >>> for t in (1, 2):   # the same sign twice: the second step is etaplus times larger
        ...     fastopt.functional.rprop([p], [np.array([0.5, -4.0, 0.0])], [prev], [s], t)
        >>> print(p.round(6))   # 0.1, then 0.12 against the gradient's sign (0 stays)
        [ 0.78 -1.78  3.  ]
        >>> print(s.round(6))
        [0.12 0.12 0.1 ]
    """
    ALGORITHM.functional(params, grads, {"prev": prevs, "step_size": step_size_buffers}, steps,
                         {"lr": lr, "etas": etas, "step_sizes": step_sizes,
                          "maximize": maximize}, masters=masters, seed=seed)


class Rprop(Optimizer):
    __doc__ = r"""Rprop (Riedmiller & Braun, 1993): per-element step sizes from gradient signs, fused.

    For each param :math:`p` with gradient :math:`g`, previous gradient ``prev`` and step
    sizes :math:`s`, in the kernel's order (all in the param's dtype)::

{math}

    where ``prev`` starts at 0 and ``s`` at ``lr`` (the group's ``lr`` when the param is
    added: changing ``lr`` later, as a scheduler does, changes nothing, as in torch once its
    state exists); ``sign`` is ``np.sign``. Only the sign of
    the gradient is used: a sign kept grows the step by ``etaplus``, a sign change shrinks it
    by ``etaminus`` and skips that element's move (Rprop without weight backtracking, as
    torch). This is torch.optim.Rprop (2.13, for-loop, not capturable), state names
    included.

    {params_doc}
        lr: the step size every element starts with (default 1e-2).
        etas: ``(etaminus, etaplus)``, the factors that shrink and grow a step size,
            ``0 < etaminus < 1 < etaplus`` (default (0.5, 1.2)).
        step_sizes: ``(min, max)``, the range step sizes are clipped to (default
            (1e-6, 50)).
        maximize: maximize the objective instead of minimizing (default False).

    State per param: ``step`` (int, counted; the math does not use it), ``prev`` and
    ``step_size`` (arrays like the param).

    {step_doc}

    Example::

        >>> import numpy as np, fastopt
        >>> x = np.array([-5.0, -2.0])
        >>> opt = fastopt.Rprop([x], lr=0.1)
        >>> for _ in range(100):
        ...     opt.step([np.array([0.2, 4.0]) * x])
        >>> bool(0.1 * x[0] ** 2 + 2 * x[1] ** 2 < 0.5)
        True

    .. warning:: Rprop ignores the gradient's size by design, so it suits full-batch
       training; with noisy mini-batch gradients the signs flip at random and the step
       sizes collapse towards ``step_sizes[0]``.

    Reference: M. Riedmiller, H. Braun, "A Direct Adaptive Method for Faster
    Backpropagation Learning: The RPROP Algorithm", IEEE ICNN 1993.
    """.format(math=MATH, params_doc=params_doc, step_doc=step_doc)

    algorithm = ALGORITHM

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0),
                 maximize=False, **precision):
        super().__init__(params, dict(lr=lr, etas=etas, step_sizes=step_sizes,
                                      maximize=maximize), **precision)

    def _new_state(self, p, group):
        return {"step": 0, "prev": np.zeros_like(p),
                "step_size": np.full_like(p, group["lr"])}
