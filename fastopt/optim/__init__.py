"""The optimizer objects and their functional steps, one module per algorithm."""
from fastopt.optim._base import Optimizer
from fastopt.optim.adadelta import Adadelta
from fastopt.optim.adagrad import Adagrad
from fastopt.optim.adam import Adam, AdamW
from fastopt.optim.rmsprop import RMSprop
from fastopt.optim.rowwise_adagrad import RowwiseAdagrad
from fastopt.optim.sgd import SGD
from fastopt.optim.sparse_adam import SparseAdam

__all__ = ["Optimizer", "Adadelta", "Adagrad", "Adam", "AdamW", "RMSprop", "RowwiseAdagrad",
           "SGD", "SparseAdam"]
