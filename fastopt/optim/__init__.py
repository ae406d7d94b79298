"""The NumPy optimizers, one module per algorithm (its hyper translation, functional steps
and class); the classes of every module's ``__all__`` are collected here."""
from fastopt._discover import public
from fastopt.optim._base import Optimizer

_found = public(__name__, __path__, lambda name, obj: isinstance(obj, type))
globals().update(_found)
__all__ = ["Optimizer", *_found]
