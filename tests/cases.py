"""The table of algorithms under test: each entry ties an algorithm's four layers together.

Adding an algorithm to fastopt adds one entry here, and every generic test (kernels vs
reference on every ISA, validation, objects, state dicts, convergence) covers it.
"""
import itertools
from dataclasses import dataclass, field

import numpy as np

import fastopt
from fastopt import functional, reference


@dataclass
class Case:
    name: str
    functional: object          # fastopt.functional.<name>
    reference: object           # fastopt.reference.<name>
    cls: object                 # the optimizer object class
    state_keys: tuple           # buffers the functional takes, in order
    grid: list                  # hyper-parameter dicts for the functional, each tested
    init: object = None         # (p, hyper) -> {key: array}: fresh state for the functional
    obj_kwargs: dict = field(default_factory=dict)   # converging settings for the quadratic
    invalid: list = field(default_factory=list)      # constructor kwargs that must raise

    def new_state(self, p, hyper):
        return self.init(p, hyper)

    def run(self, impl, params, grads, states, step, hyper):
        """Call a functional-style implementation with state lists in state_keys order."""
        hyper = {k: v for k, v in hyper.items() if k not in _OBJECT_ONLY}
        impl(params, grads, *[states[k] for k in self.state_keys], step, **hyper)


#: Hyper-parameters the objects take that the functional steps do not (they shape the state).
_OBJECT_ONLY = {"initial_accumulator_value"}


def _grid(**axes):
    keys = list(axes)
    return [dict(zip(keys, values)) for values in itertools.product(*axes.values())]


ADAGRAD = Case(
    name="adagrad",
    functional=functional.adagrad,
    reference=reference.adagrad,
    cls=fastopt.Adagrad,
    state_keys=("sums",),
    grid=_grid(lr=[0.1], lr_decay=[0.0, 0.05], weight_decay=[0.0, 0.1],
               initial_accumulator_value=[0.0, 0.1], eps=[1e-10, 1e-3],
               eps_inside_sqrt=[False, True], maximize=[False, True]),
    init=lambda p, h: {"sums": np.full_like(p, h.get("initial_accumulator_value", 0.0))},
    obj_kwargs=dict(lr=0.4),
    invalid=[dict(lr=-1.0), dict(lr=float("nan")), dict(lr_decay=-0.1),
             dict(weight_decay=-1e-3), dict(eps=-1.0), dict(eps=float("inf")),
             dict(initial_accumulator_value=-0.5), dict(lr="fast")],
)

ROWWISE_ADAGRAD = Case(
    name="rowwise_adagrad",
    functional=functional.rowwise_adagrad,
    reference=reference.rowwise_adagrad,
    cls=fastopt.RowwiseAdagrad,
    state_keys=("sums",),
    grid=ADAGRAD.grid,
    # one accumulator per row: shape (rows,); a 1-D param is rows of one element
    init=lambda p, h: {"sums": np.full(p.shape[:1], h.get("initial_accumulator_value", 0.0),
                                       p.dtype)},
    obj_kwargs=dict(lr=0.4),
    invalid=ADAGRAD.invalid,
)

CASES = [ADAGRAD, ROWWISE_ADAGRAD]
CASE_IDS = [c.name for c in CASES]
