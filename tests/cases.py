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
    rosenbrock_kwargs: dict = field(default_factory=dict)  # settings that make progress there
    steps: tuple = (1, 2, 3)    # the step numbers the kernel tests take, in order
    lr_sets_state_only: bool = False   # lr only fills a new state buffer (Rprop)

    def new_state(self, p, hyper):
        """The state buffers this param keeps (Adafactor's depend on its shape: a key the
        param does not keep is absent)."""
        return self.init(p, hyper)

    def lists(self, states):
        """``{key: [each param's buffer, or None where it keeps none]}`` from per-param
        state dicts, for :meth:`run`."""
        return {k: [s.get(k) for s in states] for k in self.state_keys}

    def run(self, impl, params, grads, states, step, hyper):
        """Call a functional-style implementation with state lists in state_keys order (a
        list no param keeps: None for each)."""
        hyper = {k: v for k, v in hyper.items() if k not in _OBJECT_ONLY}
        impl(params, grads, *[states.get(k, [None] * len(params)) for k in self.state_keys],
             step, **hyper)


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

ADADELTA = Case(
    name="adadelta",
    functional=functional.adadelta,
    reference=reference.adadelta,
    cls=fastopt.Adadelta,
    state_keys=("square_avgs", "acc_deltas"),
    grid=_grid(lr=[1.0, 0.01], rho=[0.9, 0.95, 1.0], eps=[1e-6, 1e-2],
               weight_decay=[0.0, 0.9], maximize=[False, True]),
    init=lambda p, h: {"square_avgs": np.zeros_like(p), "acc_deltas": np.zeros_like(p)},
    obj_kwargs=dict(lr=1.0, eps=1e-2),
    invalid=[dict(lr=-1.0), dict(lr=float("nan")), dict(rho=1.1), dict(rho=-0.1),
             dict(eps=-1e-6), dict(weight_decay=-1.0), dict(eps=float("inf")), dict(lr="fast")],
)

# Adam and AdamW: every combination of amsgrad x weight decay x maximize, and betas/eps
# variants (beta1 = 0.4 and 0 take the other branch of torch's lerp; beta2 = 0 keeps no
# history).
_ADAM_GRID = _grid(lr=[0.01], betas=[(0.9, 0.999), (0.4, 0.99), (0.0, 0.0)],
                   eps=[1e-8, 1e-3], weight_decay=[0.0, 0.1], amsgrad=[False, True],
                   maximize=[False, True])
_ADAM_INVALID = [dict(lr=-1.0), dict(lr=float("nan")), dict(betas=(1.0, 0.0)),
                 dict(betas=(0.9, 1.0)), dict(betas=(-0.1, 0.999)), dict(betas=(0.9,)),
                 dict(eps=-1e-8), dict(weight_decay=-1.0)]


def _adam_init(p, h):
    return {k: np.zeros_like(p) for k in ("exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs")}


ADAM, ADAMW = (
    Case(name=name, functional=getattr(functional, name), reference=getattr(reference, name),
         cls=cls, state_keys=("exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs"), grid=_ADAM_GRID,
         init=_adam_init, obj_kwargs=dict(lr=0.3), invalid=_ADAM_INVALID)
    for name, cls in (("adam", fastopt.Adam), ("adamw", fastopt.AdamW)))


def _sgd_valid(h):
    return not h["nesterov"] or (h["momentum"] > 0 and h["dampening"] == 0)


SGD = Case(
    name="sgd",
    functional=functional.sgd,
    reference=reference.sgd,
    cls=fastopt.SGD,
    state_keys=("momentum_buffers",),
    # every combination torch tests (momentum x dampening x nesterov x weight decay x
    # maximize), less the ones torch rejects (nesterov with no momentum or with dampening)
    grid=[h for h in _grid(lr=[0.1], momentum=[0.0, 0.9], dampening=[0.0, 0.5],
                           weight_decay=[0.0, 0.1], nesterov=[False, True],
                           maximize=[False, True]) if _sgd_valid(h)],
    # NaN: step 1 must only write the buffer, never read it
    init=lambda p, h: {"momentum_buffers": np.full_like(p, np.nan)
                       if h.get("momentum", 0) != 0 else None},
    obj_kwargs=dict(lr=0.4, momentum=0.5),
    invalid=[dict(lr=-1.0), dict(lr=float("nan")), dict(momentum=-0.1),
             dict(weight_decay=-1e-3), dict(nesterov=True),
             dict(nesterov=True, momentum=0.9, dampening=0.1), dict(dampening=float("inf")),
             dict(lr="fast"), dict(momentum=float("inf"))],
)

RMSPROP = Case(
    name="rmsprop",
    functional=functional.rmsprop,
    reference=reference.rmsprop,
    cls=fastopt.RMSprop,
    state_keys=("square_avgs", "grad_avgs", "momentum_buffers"),
    # torch's combinations (centered x momentum x weight decay x maximize), both eps
    # conventions, and alpha on both sides of torch's lerp switch (|1 - alpha| < 0.5)
    grid=_grid(lr=[0.01], alpha=[0.9, 0.3], centered=[False, True], momentum=[0.0, 0.9],
               weight_decay=[0.0, 0.1], maximize=[False, True],
               eps_inside_sqrt=[False, True]),
    init=lambda p, h: {
        "square_avgs": np.zeros_like(p),
        "grad_avgs": np.zeros_like(p) if h.get("centered") else None,
        "momentum_buffers": np.zeros_like(p) if h.get("momentum", 0) != 0 else None},
    obj_kwargs=dict(lr=0.1, alpha=0.9, momentum=0.5, centered=True),
    invalid=[dict(lr=-1.0), dict(lr=float("nan")), dict(alpha=-0.1), dict(eps=-1.0),
             dict(weight_decay=-1e-3), dict(momentum=-0.5), dict(alpha=float("inf")),
             dict(eps="tiny")],
)

#: Settings under which each optimizer makes real progress on Rosenbrock's valley in 2000
#: steps (from (-1.5, 2), f = 12.5); found by trying a few learning rates per optimizer.
ADAGRAD.rosenbrock_kwargs = dict(lr=0.5)
ADADELTA.rosenbrock_kwargs = dict(lr=1.0, eps=1e-2)
ADAM.rosenbrock_kwargs = dict(lr=0.05)
ADAMW.rosenbrock_kwargs = dict(lr=0.05)
SGD.rosenbrock_kwargs = dict(lr=1e-3, momentum=0.9)
RMSPROP.rosenbrock_kwargs = dict(lr=1e-2)

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

ROWWISE_ADAGRAD.rosenbrock_kwargs = dict(lr=0.5)

# Adamax: weight decay x maximize x betas (beta1 = 0.4 and 0 take the other branch of
# torch's lerp; beta2 = 0 keeps only the newest |g|) x eps
ADAMAX = Case(
    name="adamax",
    functional=functional.adamax,
    reference=reference.adamax,
    cls=fastopt.Adamax,
    state_keys=("exp_avgs", "exp_infs"),
    grid=_grid(lr=[0.01], betas=[(0.9, 0.999), (0.4, 0.99), (0.0, 0.0)], eps=[1e-8, 1e-3],
               weight_decay=[0.0, 0.1], maximize=[False, True]),
    init=lambda p, h: {"exp_avgs": np.zeros_like(p), "exp_infs": np.zeros_like(p)},
    obj_kwargs=dict(lr=0.5),
    invalid=_ADAM_INVALID,
)

# Lion: weight decay x maximize x betas (0 and near 1 on both)
LION = Case(
    name="lion",
    functional=functional.lion,
    reference=reference.lion,
    cls=fastopt.Lion,
    state_keys=("exp_avgs",),
    grid=_grid(lr=[0.01], betas=[(0.9, 0.99), (0.0, 0.0), (0.5, 0.999)],
               weight_decay=[0.0, 0.1], maximize=[False, True]),
    init=lambda p, h: {"exp_avgs": np.zeros_like(p)},
    obj_kwargs=dict(lr=0.05),
    invalid=[kw for kw in _ADAM_INVALID if "eps" not in kw] + [dict(weight_decay=float("nan")),
                                                              dict(betas=(0.9, float("inf")))],
    rosenbrock_kwargs=dict(lr=1e-3),
)

# RAdam: weight decay (L2 and decoupled) x maximize x betas (beta2 = 0.5: rho_inf = 3, never
# rectified; beta1 = 0.4 takes the other lerp branch) x eps. rho_t passes 5 at step 6 with
# beta2 0.99 or 0.999, so the kernel tests take steps 1, 2 (momentum SGD) and 6, 7, 40
# (rectified).
RADAM = Case(
    name="radam",
    functional=functional.radam,
    reference=reference.radam,
    cls=fastopt.RAdam,
    state_keys=("exp_avgs", "exp_avg_sqs"),
    grid=_grid(lr=[0.01], betas=[(0.9, 0.999), (0.4, 0.99), (0.9, 0.5)], eps=[1e-8, 1e-3],
               weight_decay=[0.0, 0.1], decoupled_weight_decay=[False, True],
               maximize=[False, True]),
    init=lambda p, h: {"exp_avgs": np.zeros_like(p), "exp_avg_sqs": np.zeros_like(p)},
    obj_kwargs=dict(lr=0.5),
    invalid=_ADAM_INVALID,
    # its first 5 steps are momentum SGD on Rosenbrock's large gradients: lr 0.02 diverges
    rosenbrock_kwargs=dict(lr=0.01),
    steps=(1, 2, 6, 7, 40),
)

# Rprop: etas x step-size ranges (one that clips from both sides) x maximize; 5 steps, so
# that signs are kept and flipped and step sizes grow into the clip
RPROP = Case(
    name="rprop",
    functional=functional.rprop,
    reference=reference.rprop,
    cls=fastopt.Rprop,
    state_keys=("prevs", "step_sizes"),
    grid=_grid(lr=[0.05], etas=[(0.5, 1.2), (0.3, 2.0)], step_sizes=[(1e-6, 50.0), (0.04, 0.1)],
               maximize=[False, True]),
    init=lambda p, h: {"prevs": np.zeros_like(p), "step_sizes": np.full_like(p, h["lr"])},
    obj_kwargs=dict(lr=0.1),
    invalid=[dict(lr=-1.0), dict(lr=float("nan")), dict(etas=(1.0, 1.2)), dict(etas=(0.5, 1.0)),
             dict(etas=(0.0, 1.2)), dict(etas=(0.5,)), dict(step_sizes=(1.0, 0.5)),
             dict(step_sizes=(-1.0, 1.0)), dict(step_sizes=(0.0, float("inf")))],
    rosenbrock_kwargs=dict(lr=0.01),
    steps=(1, 2, 3, 4, 5),
    lr_sets_state_only=True,
)

# NAdam: weight decay (L2 and decoupled) x maximize x betas (beta1 = 0.4 takes the other
# lerp branch) x eps x momentum_decay (torch's default, and a fast warm-up). mu_product is
# scalar state: a 0-d float32 array, stepped by the plan.
NADAM = Case(
    name="nadam",
    functional=functional.nadam,
    reference=reference.nadam,
    cls=fastopt.NAdam,
    state_keys=("exp_avgs", "exp_avg_sqs", "mu_products"),
    grid=_grid(lr=[0.01], betas=[(0.9, 0.999), (0.4, 0.99)], eps=[1e-8, 1e-3],
               weight_decay=[0.0, 0.1], decoupled_weight_decay=[False, True],
               momentum_decay=[4e-3, 0.5], maximize=[False, True]),
    init=lambda p, h: {"exp_avgs": np.zeros_like(p), "exp_avg_sqs": np.zeros_like(p),
                       "mu_products": np.ones((), np.float32)},
    obj_kwargs=dict(lr=0.5),
    invalid=_ADAM_INVALID + [dict(momentum_decay=-1e-3), dict(momentum_decay=float("nan"))],
    rosenbrock_kwargs=dict(lr=0.01),
)

# ASGD: decay (lambd 0 and not) x alpha x t0 (0: averaging from step 3; torch's 1e6: never,
# ax a copy of p) x weight decay x maximize, over 5 steps so that mu moves below 1. eta and
# mu are scalar state: 0-d float32 arrays, set by the plan for the next step.
ASGD = Case(
    name="asgd",
    functional=functional.asgd,
    reference=reference.asgd,
    cls=fastopt.ASGD,
    state_keys=("axs", "mus", "etas"),
    grid=_grid(lr=[0.05], lambd=[0.0, 0.01], alpha=[0.75, 0.5], t0=[0.0, 1e6],
               weight_decay=[0.0, 0.1], maximize=[False, True]),
    init=lambda p, h: {"axs": np.zeros_like(p), "mus": np.ones((), np.float32),
                       "etas": np.array(h["lr"], np.float32)},
    obj_kwargs=dict(lr=0.2),
    invalid=[dict(lr=-1.0), dict(lr=float("nan")), dict(lambd=-1e-4), dict(alpha=float("inf")),
             dict(t0=float("nan")), dict(weight_decay=-1.0), dict(lr="fast")],
    rosenbrock_kwargs=dict(lr=1e-3),
    steps=(1, 2, 3, 4, 5),
    # a NumPy object's state (eta = lr) is made with the param, so an lr changed before the
    # first step shows from the second (each step sets the next eta from the group's lr)
    lr_sets_state_only=True,
)

# LAMB: weight decay x maximize x betas (beta1 = 0.4 takes the other lerp branch) x eps.
# Its norms make each param one unit of work (never cut between threads).
LAMB = Case(
    name="lamb",
    functional=functional.lamb,
    reference=reference.lamb,
    cls=fastopt.Lamb,
    state_keys=("exp_avgs", "exp_avg_sqs"),
    grid=_grid(lr=[0.01], betas=[(0.9, 0.999), (0.4, 0.99)], eps=[1e-6, 1e-3],
               weight_decay=[0.0, 0.1], maximize=[False, True]),
    init=lambda p, h: {"exp_avgs": np.zeros_like(p), "exp_avg_sqs": np.zeros_like(p)},
    obj_kwargs=dict(lr=0.05),
    invalid=_ADAM_INVALID,
    rosenbrock_kwargs=dict(lr=0.01),
)


def _adafactor_state(p, h):
    """Adafactor's state as torch makes it: factored for 2-D and up, else like the param."""
    if p.ndim >= 2:
        return {"row_vars": np.zeros(p.shape[:-1] + (1,), p.dtype),
                "col_vars": np.zeros(p.shape[:-2] + (1, p.shape[-1]), p.dtype)}
    return {"variances": np.zeros_like(p)}


# Adafactor: eps1 None (the dtype's epsilon) and given x eps2 x d (1: clipping often on) x
# weight decay x maximize x beta2_decay; lr 0.5 makes rho = 1 / sqrt(t) from step 4 on.
# Its factors need C-contiguous params of 2-D and up (the layout tests skip those).
ADAFACTOR = Case(
    name="adafactor",
    functional=functional.adafactor,
    reference=reference.adafactor,
    cls=fastopt.Adafactor,
    state_keys=("row_vars", "col_vars", "variances"),
    grid=_grid(lr=[0.01, 0.5], beta2_decay=[-0.8, -0.3], eps=[(None, 1e-3), (1e-2, 0.5)],
               d=[1.0, 3.0], weight_decay=[0.0, 0.1], maximize=[False, True]),
    init=_adafactor_state,
    obj_kwargs=dict(lr=0.05),
    invalid=[dict(lr=-1.0), dict(lr=float("nan")), dict(beta2_decay=0.5),
             dict(eps=(-1.0, 1e-3)), dict(eps=(None, -1e-3)), dict(eps=1e-3), dict(d=0.5),
             dict(weight_decay=-0.1), dict(lr="fast")],
    rosenbrock_kwargs=dict(lr=0.01),
    steps=(1, 2, 3, 4, 5),
)

CASES = [ADAGRAD, ADADELTA, ADAM, ADAMW, SGD, RMSPROP, ROWWISE_ADAGRAD, ADAMAX, LION, RADAM,
         RPROP, NADAM, ASGD, LAMB, ADAFACTOR]
CASE_IDS = [c.name for c in CASES]
