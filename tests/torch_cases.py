"""The table of fastopt.torch optimizers under test, each against its torch.optim twin.

Adding an algorithm to fastopt.torch adds one entry here; the generic tests in
test_torch_optimizers.py, test_torch_validation.py and test_torch_zero.py then cover it. Names,
not classes: this module must import without torch (the tests skip, or fail under
FASTOPT_REQUIRE_TORCH=1, only once they run).
"""
from dataclasses import dataclass, field
from itertools import product


@dataclass
class TorchCase:
    name: str                   # the class name in fastopt.torch and in torch.optim
    settings: list              # constructor kwargs, each trained under both and compared
    state_keys: tuple           # torch's state keys (after a step) in every setting
    groups: list                # per-group kwargs for the param-group test (2 groups)
    # (kwargs, exception) the constructor raises; kwargs may be "tensor lr" or a function of
    # the torch module returning the kwargs (for tensors)
    rejected: list = field(default_factory=list)
    eager_state: bool = False   # torch creates the state in the constructor
    one_cycle: bool = True      # OneCycleLR applies (cycle_momentum needs momentum or betas)
    one_cycle_kwargs: dict = field(default_factory=dict)
    # optional state keys: key -> the kwarg that makes torch create it when truthy
    gated_keys: dict = field(default_factory=dict)
    # kwargs the generic tests with fixed settings (lr=0.05, ...) add, so that every class
    # has state to check there (SGD: momentum; without it SGD keeps no state at all)
    base: dict = field(default_factory=dict)
    # multiplies the fixed lrs of those tests (RMSprop's first steps are ~10x lr: v starts
    # at 0 without bias correction, and lr=0.1 sends this model to NaN)
    lr_scale: float = 1.0
    # state keys a param keeps by its number of dims (Adafactor): ndim -> keys, added to
    # state_keys
    keys_by_ndim: object = None

    def keys_for(self, kwargs):
        """torch's state keys after a step with these constructor kwargs (a function of the
        param where they depend on its shape)."""
        keys = self.state_keys + tuple(k for k, arg in self.gated_keys.items()
                                       if kwargs.get(arg))
        if self.keys_by_ndim is not None:
            return lambda p: keys + self.keys_by_ndim(p.dim())
        return keys

    @property
    def has_step(self):
        return "step" in self.state_keys


def _grid(**axes):
    """Every combination of the axes' values, as kwargs without the default-valued ones
    (the first value of each axis is torch's default)."""
    names = list(axes)
    out = []
    for values in product(*axes.values()):
        out.append({n: v for n, v in zip(names, values) if v != axes[n][0]})
    return out


def _rejected_flags(*flags):
    return [(dict([(f, True)]), ValueError) for f in flags] + [("tensor lr", TypeError)]


ADAGRAD = TorchCase(
    name="Adagrad",
    # every combination torch's own tests use (common_optimizers.optim_inputs_func_adagrad),
    # minus the tensor lr (refused, see `rejected`), plus each hyper-parameter on its own
    settings=[
        {},
        dict(weight_decay=0.1),
        dict(weight_decay=0.1, maximize=True),
        dict(lr=0.1),
        dict(initial_accumulator_value=0.1, weight_decay=0.1),
        dict(lr=0.1, lr_decay=0.5, weight_decay=0.1),
        dict(lr=0.05, lr_decay=0.01),
        dict(lr=0.05, initial_accumulator_value=0.3),
        dict(lr=0.05, eps=1e-3),
        dict(lr=0.05, maximize=True),
        dict(lr=0.05, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1, eps=1e-6,
             maximize=True),
    ],
    state_keys=("step", "sum"),
    groups=[dict(lr=0.1, weight_decay=0.1), dict(lr=0.02, lr_decay=0.05, maximize=False)],
    rejected=[(dict(lr=-1.0), ValueError), (dict(lr_decay=-0.5), ValueError),
              (dict(weight_decay=-1e-3), ValueError), (dict(eps=-1.0), ValueError),
              (dict(initial_accumulator_value=-0.1), ValueError),
              (dict(lr=float("nan")), ValueError), (dict(foreach=True), ValueError),
              (dict(fused=True), ValueError), (dict(differentiable=True), ValueError),
              ("tensor lr", TypeError)],
    eager_state=True,
    one_cycle_kwargs=dict(cycle_momentum=False),
)

SGD = TorchCase(
    name="SGD",
    # torch's optim_inputs_func_sgd (minus the tensor lr), then the full grid momentum x
    # dampening x nesterov x weight decay x maximize (nesterov only where torch allows it)
    settings=[
        dict(lr=1e-2),
        dict(lr=0.05, momentum=0.9, weight_decay=0.1),
        # lr 0.05, or torch's 1e-3 for gradient ascent (which blows up the model otherwise)
        *[{**({} if kw.get("maximize") else dict(lr=0.05)), **kw}
          for kw in _grid(momentum=[0, 0.9], dampening=[0, 0.5], nesterov=[False, True],
                          weight_decay=[0, 0.1], maximize=[False, True])
          if not (kw.get("nesterov") and (not kw.get("momentum") or kw.get("dampening")))],
        dict(lr=0.002, momentum=0.8, nesterov=True, weight_decay=0.05, maximize=True),
    ],
    state_keys=(),
    gated_keys={"momentum_buffer": "momentum"},
    # torch checks nesterov against momentum and dampening in the constructor only: a group
    # may mix them (the first here; the second, in the state-dict test, inherits nesterov
    # with no momentum, so it has no state: a partial state dict, as torch's)
    groups=[dict(lr=0.1, momentum=0.9, nesterov=True, dampening=0.2, weight_decay=0.1),
            dict(lr=0.001, momentum=0)],
    rejected=[(dict(lr=-1.0), ValueError), (dict(momentum=-0.1), ValueError),
              (dict(weight_decay=-1e-3), ValueError), (dict(nesterov=True), ValueError),
              (dict(nesterov=True, momentum=0.9, dampening=0.1), ValueError),
              (dict(lr=float("nan")), ValueError),
              *_rejected_flags("foreach", "fused", "differentiable")],
    base=dict(momentum=0.9),
)

RMSPROP = TorchCase(
    name="RMSprop",
    # torch's optim_inputs_func_rmsprop (minus tensor lr and capturable), then the grid
    # centered x momentum x weight decay x maximize, then alpha and eps on their own
    settings=[
        dict(lr=1e-3),
        dict(weight_decay=0.1, centered=True, momentum=0.1),
        *_grid(centered=[False, True], momentum=[0, 0.5], weight_decay=[0, 0.1],
               maximize=[False, True]),
        dict(alpha=0.9),
        dict(eps=1e-4, lr=0.003),
        dict(lr=0.005, alpha=0.95, eps=1e-6, weight_decay=0.05, momentum=0.3, centered=True,
             maximize=True),
    ],
    state_keys=("step", "square_avg"),
    gated_keys={"momentum_buffer": "momentum", "grad_avg": "centered"},
    groups=[dict(centered=True, momentum=0.5), dict(lr=0.005, alpha=0.9, weight_decay=0.1)],
    lr_scale=0.1,
    rejected=[(dict(lr=-1.0), ValueError), (dict(alpha=-0.1), ValueError),
              (dict(eps=-1.0), ValueError), (dict(momentum=-0.1), ValueError),
              (dict(weight_decay=-1e-3), ValueError), (dict(lr=float("nan")), ValueError),
              *_rejected_flags("foreach", "capturable", "differentiable")],
)

ADADELTA = TorchCase(
    name="Adadelta",
    # torch's optim_inputs_func_adadelta (minus tensor lr and capturable), then the grid
    # rho x eps x weight decay x maximize
    settings=[
        dict(lr=0.1),           # torch's is 0.01, which barely moves the params in 25 steps
        dict(weight_decay=0.1),
        dict(rho=0.95, weight_decay=0.9),
        # eps 1e-4, not larger: with eps=1e-3 and maximize, this model's gradient ascent
        # amplifies rounding differences (torch's inexact sqrt, its fused multiply-adds) to
        # ~1e-4 in 25 steps, although each step agrees to an ulp
        *_grid(rho=[0.9, 0.5], eps=[1e-6, 1e-4], weight_decay=[0, 0.1],
               maximize=[False, True]),
        dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.05, maximize=True),
    ],
    state_keys=("step", "square_avg", "acc_delta"),
    groups=[dict(lr=0.5, rho=0.95), dict(eps=1e-4, weight_decay=0.1)],
    rejected=[(dict(lr=-1.0), ValueError), (dict(rho=1.1), ValueError),
              (dict(rho=-0.1), ValueError), (dict(eps=-1.0), ValueError),
              (dict(weight_decay=-1e-3), ValueError), (dict(lr=float("nan")), ValueError),
              *_rejected_flags("foreach", "capturable", "differentiable")],
    one_cycle_kwargs=dict(cycle_momentum=False),
)

_ADAM_REJECTED = [
    (dict(lr=-1.0), ValueError), (dict(eps=-1.0), ValueError),
    (dict(betas=(1.0, 0.999)), ValueError), (dict(betas=(0.9, -0.1)), ValueError),
    (dict(betas=(0, 0.9)), ValueError),   # torch: "betas must be either both floats or both
                                          # Tensors"
    (dict(weight_decay=-1e-3), ValueError), (dict(lr=float("nan")), ValueError),
    *_rejected_flags("foreach", "fused", "capturable", "differentiable"),
    (lambda torch: dict(betas=(torch.tensor(0.9), torch.tensor(0.999))), TypeError),
]

ADAM = TorchCase(
    name="Adam",
    # torch's optim_inputs_func_adam (minus tensor lr/betas and capturable/fused), then the
    # grid amsgrad x weight decay x maximize x betas, then decoupled weight decay (= AdamW)
    settings=[
        dict(lr=0.01),
        dict(weight_decay=0.1, amsgrad=True),
        *_grid(amsgrad=[False, True], weight_decay=[0, 0.1], maximize=[False, True],
               betas=[(0.9, 0.999), (0.8, 0.9)]),
        dict(eps=1e-4, lr=0.005),
        dict(decoupled_weight_decay=True, weight_decay=0.1),
        dict(decoupled_weight_decay=True, weight_decay=0.1, amsgrad=True, maximize=True),
        dict(lr=0.005, betas=(0.85, 0.95), eps=1e-6, weight_decay=0.05, amsgrad=True,
             maximize=True),
    ],
    state_keys=("step", "exp_avg", "exp_avg_sq"),
    gated_keys={"max_exp_avg_sq": "amsgrad"},
    groups=[dict(lr=0.01, amsgrad=True), dict(lr=0.002, betas=(0.8, 0.9), weight_decay=0.1)],
    rejected=_ADAM_REJECTED,
)

ADAMW = TorchCase(
    name="AdamW",
    # torch's optim_inputs_func_adamw, then the grid amsgrad x weight decay x maximize x betas
    settings=[
        dict(lr=0.01),
        dict(weight_decay=0.1, amsgrad=True),
        *_grid(amsgrad=[False, True], weight_decay=[1e-2, 0, 0.1], maximize=[False, True],
               betas=[(0.9, 0.999), (0.8, 0.9)]),
        dict(eps=1e-4, lr=0.005),
        dict(lr=0.005, betas=(0.85, 0.95), eps=1e-6, weight_decay=0.05, amsgrad=True,
             maximize=True),
    ],
    state_keys=("step", "exp_avg", "exp_avg_sq"),
    gated_keys={"max_exp_avg_sq": "amsgrad"},
    groups=[dict(lr=0.01, weight_decay=0.05), dict(lr=0.002, amsgrad=True, betas=(0.8, 0.9))],
    rejected=_ADAM_REJECTED,
)

ADAMAX = TorchCase(
    name="Adamax",
    # torch's optim_inputs_func_adamax (minus tensor lr and capturable), then the grid
    # weight decay x maximize x betas
    settings=[
        dict(lr=0.1),
        dict(weight_decay=0.1),
        dict(weight_decay=0.1, maximize=True),
        *_grid(weight_decay=[0, 0.1], maximize=[False, True],
               betas=[(0.9, 0.999), (0.4, 0.9)]),
        dict(lr=0.005, betas=(0.85, 0.95), eps=1e-4, weight_decay=0.05, maximize=True),
    ],
    state_keys=("step", "exp_avg", "exp_inf"),
    groups=[dict(lr=0.01), dict(lr=0.002, betas=(0.8, 0.9), weight_decay=0.1)],
    rejected=[(dict(lr=-1.0), ValueError), (dict(eps=-1.0), ValueError),
              (dict(betas=(1.0, 0.999)), ValueError), (dict(betas=(0.9, -0.1)), ValueError),
              (dict(weight_decay=-1e-3), ValueError), (dict(lr=float("nan")), ValueError),
              *_rejected_flags("foreach", "capturable", "differentiable")],
)

RADAM = TorchCase(
    name="RAdam",
    # torch's optim_inputs_func_radam (minus tensor lr and capturable), then the grid
    # weight decay x decoupled x maximize x betas
    settings=[
        dict(lr=0.01),
        dict(weight_decay=0.1),
        dict(weight_decay=0.1, decoupled_weight_decay=True),
        *_grid(weight_decay=[0, 0.1], decoupled_weight_decay=[False, True],
               maximize=[False, True], betas=[(0.9, 0.999), (0.8, 0.9)]),
        dict(lr=0.005, betas=(0.85, 0.95), eps=1e-4, weight_decay=0.05, maximize=True),
    ],
    state_keys=("step", "exp_avg", "exp_avg_sq"),
    groups=[dict(lr=0.01), dict(lr=0.002, betas=(0.8, 0.9), weight_decay=0.1)],
    rejected=[(dict(lr=-1.0), ValueError), (dict(eps=-1.0), ValueError),
              (dict(betas=(1.0, 0.999)), ValueError), (dict(betas=(0.9, -0.1)), ValueError),
              (dict(weight_decay=-1e-3), ValueError), (dict(lr=float("nan")), ValueError),
              *_rejected_flags("foreach", "capturable", "differentiable")],
)

RPROP = TorchCase(
    name="Rprop",
    # torch's optim_inputs_func_rprop (minus tensor lr and capturable), then the grid
    # etas x step sizes x maximize
    settings=[
        dict(lr=2e-4),
        dict(etas=(0.5, 1.5)),
        dict(step_sizes=(2e-6, 100)),
        dict(maximize=True),
        *_grid(etas=[(0.5, 1.2), (0.3, 2.0)], step_sizes=[(1e-6, 50), (1e-3, 0.05)],
               maximize=[False, True]),
    ],
    state_keys=("step", "prev", "step_size"),
    groups=[dict(lr=0.01), dict(lr=0.002, etas=(0.4, 1.5))],
    rejected=[(dict(lr=-1.0), ValueError), (dict(etas=(1.0, 1.2)), ValueError),
              (dict(etas=(0.5, 0.9)), ValueError), (dict(lr=float("nan")), ValueError),
              *_rejected_flags("foreach", "capturable", "differentiable")],
    one_cycle_kwargs=dict(cycle_momentum=False),
)

NADAM = TorchCase(
    name="NAdam",
    # torch's optim_inputs_func_nadam (minus tensor lr and capturable), then the grid
    # weight decay x decoupled x maximize x momentum_decay
    settings=[
        dict(lr=0.01),
        dict(momentum_decay=6e-3),
        dict(weight_decay=0.1, momentum_decay=6e-3),
        dict(weight_decay=0.1, momentum_decay=6e-3, decoupled_weight_decay=True),
        *_grid(weight_decay=[0, 0.1], decoupled_weight_decay=[False, True],
               maximize=[False, True], momentum_decay=[4e-3, 0.3]),
        dict(lr=0.005, betas=(0.85, 0.95), eps=1e-4, weight_decay=0.05, maximize=True),
    ],
    state_keys=("step", "mu_product", "exp_avg", "exp_avg_sq"),
    groups=[dict(lr=0.01), dict(lr=0.002, betas=(0.8, 0.9), momentum_decay=0.01)],
    rejected=[(dict(lr=-1.0), ValueError), (dict(eps=-1.0), ValueError),
              (dict(betas=(1.0, 0.999)), ValueError), (dict(betas=(0.9, -0.1)), ValueError),
              (dict(weight_decay=-1e-3), ValueError), (dict(momentum_decay=-1e-3), ValueError),
              (dict(lr=float("nan")), ValueError),
              *_rejected_flags("foreach", "capturable", "differentiable")],
)

ASGD = TorchCase(
    name="ASGD",
    # torch's optim_inputs_func_asgd (minus tensor lr and capturable), then the grid
    # t0 (never, from step 3) x decay x weight decay x maximize
    settings=[
        dict(lr=0.02),
        dict(t0=100),
        dict(lambd=0.1),
        dict(alpha=0.1),
        dict(weight_decay=0.1),
        dict(maximize=True, weight_decay=0.1),
        *_grid(t0=[1e6, 0.0], lambd=[1e-4, 0.01], weight_decay=[0, 0.1],
               maximize=[False, True]),
    ],
    state_keys=("step", "eta", "mu", "ax"),
    groups=[dict(lr=0.01), dict(lr=0.002, t0=1.0, lambd=0.01)],
    rejected=[(dict(lr=-1.0), ValueError), (dict(weight_decay=-1e-3), ValueError),
              (dict(lambd=-1.0), ValueError), (dict(t0=float("nan")), ValueError),
              (dict(lr=float("nan")), ValueError),
              *_rejected_flags("foreach", "capturable", "differentiable")],
    one_cycle_kwargs=dict(cycle_momentum=False),
)

ADAFACTOR = TorchCase(
    name="Adafactor",
    # torch's optim_inputs_func_adafactor (minus tensor lr), then the grid
    # beta2_decay x eps x d x weight decay x maximize
    settings=[
        dict(lr=0.05),
        dict(weight_decay=0.1, lr=0.05),
        dict(beta2_decay=-1.0),
        dict(d=1.5),
        dict(lr=0.05, eps=(None, 1e-3), maximize=True),
        *_grid(lr=[0.05], beta2_decay=[-0.8, -0.3], eps=[(None, 1e-3), (1e-2, 0.1)],
               d=[1.0, 3.0], weight_decay=[0, 0.1], maximize=[False, True]),
    ],
    state_keys=("step",),
    keys_by_ndim=lambda ndim: ("row_var", "col_var") if ndim > 1 else ("variance",),
    groups=[dict(lr=0.01), dict(lr=0.002, beta2_decay=-0.5, d=2.0)],
    rejected=[(dict(lr=-1.0), ValueError), (dict(beta2_decay=0.1), ValueError),
              (dict(eps=(-1.0, 1e-3)), ValueError), (dict(eps=(None, -1e-3)), ValueError),
              (dict(d=0.5), ValueError), (dict(weight_decay=-1e-3), ValueError),
              (dict(lr=float("nan")), ValueError), *_rejected_flags("foreach")],
    one_cycle_kwargs=dict(cycle_momentum=False),
)

CASES = [ADAGRAD, SGD, RMSPROP, ADADELTA, ADAM, ADAMW, ADAMAX, RADAM, RPROP, NADAM, ASGD,
         ADAFACTOR]
ZERO_CASES = [ADAGRAD, ADAM]   # the ZeRO test spawns 2 processes per case: keep it short
CASE_IDS = [c.name for c in CASES]
SETTINGS = [(c, kw) for c in CASES for kw in c.settings]
SETTING_IDS = [f"{c.name}-{kw}" for c, kw in SETTINGS]
