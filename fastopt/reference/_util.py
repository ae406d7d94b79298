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
        return tuple(_scalars.real(f"{name}[{i}]", v) for i, v in enumerate(value))
    return _scalars.real(name, value)


def scalars_converted(fn):
    """Convert every keyword hyper-parameter as fastopt's front ends do (fastopt._scalars):
    a NumPy float32 ``lr`` becomes the double it holds, in the reference and in the kernel
    alike, so both compute from the same numbers."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **{k: _convert(k, v) for k, v in kwargs.items()})

    return wrapper


def lerp_(m, g, beta):
    """``m.lerp_(g, w)`` in place with ``w = 1 - beta`` (in double, rounded once to m's
    dtype), in torch's CPU order: with ``d = g - m``, ``m + w * d`` while ``w < 0.5``, else
    ``g + (w - 1) * d`` (src_c/vec.h: lerp)."""
    t = m.dtype.type
    w = t(1.0 - beta)
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
