"""The optimizer objects and their functional steps, one module per algorithm."""
from fastopt.optim._base import Optimizer
from fastopt.optim.adagrad import Adagrad
from fastopt.optim.rowwise_adagrad import RowwiseAdagrad
from fastopt.optim.sparse_adam import SparseAdam

__all__ = ["Optimizer", "Adagrad", "RowwiseAdagrad", "SparseAdam"]
