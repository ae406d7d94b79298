"""The table of fastopt.torch optimizers under test, each against its torch.optim twin.

Adding an algorithm to fastopt.torch adds one entry here; the generic tests in
test_torch_optimizers.py, test_torch_validation.py and test_torch_zero.py then cover it. Names,
not classes: this module must import without torch (the tests skip, or fail under
FASTOPT_REQUIRE_TORCH=1, only once they run).
"""
from dataclasses import dataclass, field


@dataclass
class TorchCase:
    name: str                   # the class name in fastopt.torch and in torch.optim
    settings: list              # constructor kwargs, each trained under both and compared
    state_keys: tuple           # torch's state keys (after a step)
    groups: list                # per-group kwargs for the param-group test (2 groups)
    rejected: list = field(default_factory=list)   # (kwargs, exception) the constructor raises
    eager_state: bool = False   # torch creates the state in the constructor
    one_cycle: bool = True      # OneCycleLR applies (cycle_momentum needs momentum or betas)
    one_cycle_kwargs: dict = field(default_factory=dict)


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

CASES = [ADAGRAD]
CASE_IDS = [c.name for c in CASES]
SETTINGS = [(c, kw) for c in CASES for kw in c.settings]
SETTING_IDS = [f"{c.name}-{kw}" for c, kw in SETTINGS]
