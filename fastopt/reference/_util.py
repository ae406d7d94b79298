"""Small helpers shared by the reference implementations."""
import functools

import numpy as np

from fastopt import _scalars


def per_param(value, k):
    """One step number per param (from one value for all or a list of k), converted at the
    same boundary as fastopt's: whole numbers in [1, 2**53], as ints."""
    return _scalars.steps(value, k)


def _convert(name, value):
    if value is True or value is False or isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (tuple, list)):
        return tuple(None if v is None else _scalars.real(f"{name}[{i}]", v)
                     for i, v in enumerate(value))   # (None: Adafactor's default eps1)
    return _scalars.real(name, value)


def scalars_converted(fn):
    """Convert every keyword hyper-parameter as fastopt's front ends do (fastopt._scalars):
    a NumPy float32 ``lr`` becomes the double it holds, in the reference and in the kernel
    alike, so both compute from the same numbers."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **{k: _convert(k, v) for k, v in kwargs.items()})

    return wrapper


_LANES = 16


def line_sums(x):
    """``sum(float64(x) ** 2, axis=-1)`` of a 2-D array, one line (row) at a time, in the
    kernels' fixed order (src_c/kernels/lamb.inc.c, adafactor.inc.c): element c of a line in
    lane c % 16 of a float64 accumulator, the lanes added up in order, then folded
    16 -> 8 -> 4 -> 2 -> 1 (lane k += lane k + w)."""
    x = np.asarray(x, np.float64)
    lines, n = x.shape
    k = -(-n // _LANES)
    padded = np.zeros((lines, k * _LANES))
    padded[:, :n] = x * x
    if lines == 1 and k:   # one long line: NumPy adds the rows of (k, 16) in order
        lanes = np.add.reduce(padded.reshape(k, _LANES), axis=0).reshape(1, _LANES)
    else:
        lanes = np.zeros((lines, _LANES))
        for j in range(k):   # in order: one explicit add per 16 elements of every line
            lanes += padded[:, j * _LANES:(j + 1) * _LANES]
    w = _LANES // 2
    while w >= 1:
        lanes[:, :w] = lanes[:, :w] + lanes[:, w:2 * w]
        w //= 2
    return lanes[:, 0]


def in_order(x):
    """The sum of the float64 values ``x`` (1-D) added one after another, from the first."""
    x = np.asarray(x, np.float64)
    return float(np.add.accumulate(x)[-1]) if x.size else 0.0


def lerp_(m, g, beta):
    """``m.lerp_(g, w)`` in place with ``w = 1 - beta`` (in double, rounded once to m's
    dtype), in torch's CPU order: with ``d = g - m``, ``m + w * d`` while ``w < 0.5``, else
    ``g + (w - 1) * d`` (src_c/vec.h: lerp)."""
    lerp_weight_(m, g, 1.0 - beta)


def lerp_weight_(m, g, weight):
    """``m.lerp_(g, weight)`` in place, the weight (a double) rounded once to m's dtype, in
    torch's CPU order (see lerp_)."""
    t = m.dtype.type
    w = t(weight)
    d = g - m
    if w < 0.5:
        m += w * d
    else:
        m[...] = g + (w - t(1)) * d


def moments_(m, v, g, beta1, beta2):
    """Adam's two moments in place, as Adam, AdamW, RAdam and NAdam update them (torch's
    order, src_c/vec.h: moments): ``m.lerp_(g, 1 - beta1)``; ``v = v * beta2``;
    ``v = v + ((1 - beta2) * g) * g``."""
    t = v.dtype.type
    lerp_(m, g, beta1)
    v *= t(beta2)
    v += (t(1.0 - beta2) * g) * g
