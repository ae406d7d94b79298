"""The optimizer objects and their functional steps, one module per algorithm."""
from fastopt.optim._base import Optimizer
from fastopt.optim.adagrad import Adagrad

__all__ = ["Optimizer", "Adagrad"]
