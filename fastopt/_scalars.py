"""The one boundary where Python values become the numbers a step computes with.

fastopt's front ends and ``fastopt.reference`` both convert hyper-parameters and step counts
here, so both compute from the same doubles: a NumPy float32 ``lr`` becomes the double it
holds exactly, in the kernel and in the reference alike. Pure Python (no compiled code), so
the reference stays plain NumPy.

- ``real(name, value, ...)``: a finite real number, as a Python float; ints, floats and NumPy
  integer/floating scalars are accepted; bools, strings, bytes, arrays (even 0-d), tensors and
  anything else are refused with ValueError naming the hyper-parameter. An optional range is
  checked (ValueError).
- ``flag(name, value)``: True or False (a Python or NumPy bool), else ValueError.
- ``step(value, what)``: a step number, a Python int in [1, 2**53]: ints and NumPy integers,
  and floats holding a whole number (torch keeps steps as float tensors); 1.5 is refused.
"""
import math
import numbers

import numpy as np

_INF = math.inf
_TWO_53 = 2 ** 53


def real(name, value, low=-_INF, high=_INF, *, low_open=False, high_open=False):
    """``value`` as a float, checked to be finite and within the given range."""
    t = type(value)
    if t is float or t is int:
        v = float(value)
    elif t is bool or isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (numbers.Real, np.integer, np.floating)):
        raise ValueError(f"fastopt: {name} must be a real number, got {_describe(value)}")
    else:
        v = float(value)
    if v != v or v in (_INF, -_INF):
        raise ValueError(f"fastopt: invalid {name}: {value!r}; expected a finite number")
    if (v <= low if low_open else v < low) or (v >= high if high_open else v > high):
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"fastopt: invalid {name}: {value!r}; expected a finite value in "
                         f"{lo}{low}, {high}{hi}")
    return v


def nonnegative(name, value):
    """real(name, value) in [0, inf)."""
    t = type(value)
    if t is float and 0.0 <= value < _INF:
        return value
    return real(name, value, 0.0)


def flag(name, value):
    """``value`` as a bool: it must be True or False (a Python or NumPy bool)."""
    if value is True or value is False:
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise ValueError(f"fastopt: {name} must be True or False, got {_describe(value)}")


def step(value, what="step"):
    """A step number: a whole number in [1, 2**53], as an int."""
    t = type(value)
    if t is int:
        v = value
    elif t is bool or isinstance(value, np.bool_):
        raise ValueError(f"fastopt: {what} must be a whole number >= 1, got {value!r}")
    elif isinstance(value, (numbers.Integral, np.integer)):
        v = int(value)
    elif isinstance(value, (float, np.floating)) and float(value).is_integer():
        v = int(value)
    else:
        raise ValueError(f"fastopt: {what} must be a whole number >= 1, got {_describe(value)}")
    if not 1 <= v <= _TWO_53:
        raise ValueError(f"fastopt: {what} must be a whole number in [1, 2**53], got {v}")
    return v


def steps(value, k, what="steps"):
    """One step number for each of k params, from one value for all or a list of k."""
    if isinstance(value, (list, tuple)):
        if len(value) != k:
            raise ValueError(f"fastopt: {len(value)} step counts for {k} params")
        return [step(v, f"{what}[{i}]") for i, v in enumerate(value)]
    return [step(value, what)] * k


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return f"{type(value).__name__} {value!r}"
