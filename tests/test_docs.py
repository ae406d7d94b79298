"""The examples in the docstrings run and print what they say."""
import doctest
import importlib

import pytest

MODULES = ["fastopt", "fastopt.optim.adagrad", "fastopt.optim.sgd", "fastopt.optim.rmsprop",
           "fastopt.optim.adadelta", "fastopt.optim.adam"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
