"""The functional steps: lists of arrays in, updated in place; no objects, no hidden state.

This is the stable seam under the optimizer objects (as torch.optim.adagrad.adagrad is under
torch.optim.Adagrad); each function has a NumPy twin of the same name in fastopt.reference.
"""
from fastopt.optim.adadelta import adadelta
from fastopt.optim.adagrad import adagrad
from fastopt.optim.adam import adam, adamw
from fastopt.optim.rmsprop import rmsprop
from fastopt.optim.sgd import sgd

__all__ = ["adadelta", "adagrad", "adam", "adamw", "rmsprop", "sgd"]
