"""The functional steps: lists of arrays in, updated in place; no objects, no hidden state.

This is the stable seam under the optimizer objects (as torch.optim.adagrad.adagrad is under
torch.optim.Adagrad); each function has a NumPy twin of the same name in fastopt.reference.

Row-sparse steps take :class:`fastopt.SparseRows` gradients: ``adagrad_rows``, ``sgd_rows``,
``sparse_adam`` (SparseRows only) and ``rowwise_adagrad`` (dense or SparseRows).
"""
from fastopt.optim.adadelta import adadelta
from fastopt.optim.adagrad import adagrad, adagrad_rows
from fastopt.optim.adam import adam, adamw
from fastopt.optim.rmsprop import rmsprop
from fastopt.optim.rowwise_adagrad import rowwise_adagrad
from fastopt.optim.sgd import sgd, sgd_rows
from fastopt.optim.sparse_adam import sparse_adam

__all__ = ["adadelta", "adagrad", "adagrad_rows", "adam", "adamw", "rmsprop", "rowwise_adagrad",
           "sgd", "sgd_rows", "sparse_adam"]
