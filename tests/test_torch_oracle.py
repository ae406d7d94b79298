"""fastopt against torch.optim (the oracle), step by step, driven by one table.

Every row of TABLE (an algorithm, its constructor kwargs, and whether its grads are row-sparse)
runs through one runner, run_against_torch, in float32 and float64: torch.optim's for-loop
optimizer and fastopt's two front ends, the NumPy object and fastopt.torch, start from the
same params and take the same 25 gradients; halfway, two more fastopt optimizers (one of each
front end) take over from torch's state dict and go on beside them. At the end every one of
them has torch's params and every one of torch's state buffers, to the one tolerance
torch_util.TOL (which says why it is not 0), and torch's step counts exactly.

The settings are every combination of the hyper-parameters torch's own tests use
(common_optimizers.optim_inputs_func_*) and more: full grids of the flags and of the values
on both sides of torch's branches. Needs torch (CI installs torch==2.13.0).
"""
import copy
import os
import subprocess
import sys
from dataclasses import dataclass, field
from itertools import product

import numpy as np
import pytest

import fastopt
from conftest import torch_or_skip
from torch_util import EXACT, SPARSE_ADAM_SETTINGS, assert_matches_torch, numpy_state

N_STEPS = 25
DENSE_SHAPES = [(7, 5), (33,), (1,)]
SPARSE_SHAPES = [(40, 7), (5, 33)]   # (rows, row length): grads touch some rows, repeatedly


@dataclass(frozen=True)
class Row:
    name: str                   # the class in fastopt, fastopt.torch and torch.optim
    kwargs: dict                # constructor kwargs, the same on every side
    sparse: bool = False        # row-sparse grads: fastopt.SparseRows / sparse COO tensors
    # set in every param group on every side halfway through (SGD: momentum switched on)
    midway: dict = field(default_factory=dict)

    def __str__(self):
        return "-".join([self.name, *(["sparse"] if self.sparse else []), str(self.kwargs),
                         *([f"midway{self.midway}"] if self.midway else [])])


def _rows(name, settings, **flags):
    return [Row(name, kwargs, **flags) for kwargs in settings]


def _grid(**axes):
    """Every combination of the axes' values, each as explicit kwargs."""
    return [dict(zip(axes, values)) for values in product(*axes.values())]


def _drop(kwargs, **defaults):
    """kwargs without the entries equal to these (torch's) defaults."""
    return {k: v for k, v in kwargs.items() if defaults.get(k, object()) != v}


ADAGRAD = [
    {},
    dict(lr=0.1),
    dict(lr=0.05, lr_decay=0.01),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, initial_accumulator_value=0.3),
    dict(lr=0.05, eps=1e-3),
    dict(lr=0.05, maximize=True),
    dict(lr=0.05, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1,
         maximize=True),
]

TABLE = [
    *_rows("Adagrad", ADAGRAD),
    # momentum x dampening x nesterov x weight decay x maximize, less what torch refuses
    # (nesterov needs momentum and no dampening), plus the defaults and a dampened momentum
    *_rows("SGD", [{}] + [
        dict(lr=0.05, **kw) for kw in _grid(momentum=[0.0, 0.9], dampening=[0.0, 0.5],
                                            nesterov=[False, True], weight_decay=[0.0, 0.1],
                                            maximize=[False, True])
        if not kw["nesterov"] or (kw["momentum"] > 0 and kw["dampening"] == 0)] + [
        dict(lr=0.05, momentum=0.9, dampening=0.2)]),
    # momentum 0 -> 0.9 in a live group: the buffer starts from the gradient, as in torch
    *_rows("SGD", [dict(lr=0.05, dampening=0.0), dict(lr=0.05, dampening=0.3)],
           midway=dict(momentum=0.9)),
    # alpha on both sides of torch's lerp switch (0.5) x centered x momentum x weight decay
    # x maximize, plus the defaults and eps
    *_rows("RMSprop", [{}] + [
        dict(lr=0.01, **kw) for kw in _grid(alpha=[0.99, 0.3], centered=[False, True],
                                            momentum=[0.0, 0.9], weight_decay=[0.0, 0.1],
                                            maximize=[False, True])] + [
        dict(lr=0.01, eps=1e-3, centered=True, momentum=0.5),
        dict(lr=0.01, centered=True, momentum=0.5)]),
    # rho at 0 and 1 too x eps x weight decay x maximize, plus the defaults and an lr
    *_rows("Adadelta", [{}, dict(lr=0.01)] + [
        _drop(kw, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False)
        for kw in _grid(rho=[0.9, 0.95, 0.0, 1.0], eps=[1e-6, 1e-3],
                        weight_decay=[0.0, 0.1, 0.9], maximize=[False, True])]),
    # amsgrad x weight decay x maximize x betas (the second at 0 too) x eps, plus the
    # defaults and an lr; AdamW's weight_decay=0.0 is not its default (1e-2)
    *[row for name in ("Adam", "AdamW") for row in _rows(name, [{}, dict(lr=0.01)] + [
        dict(lr=0.01, **kw)
        for kw in _grid(amsgrad=[False, True], weight_decay=[0.0, 0.1], maximize=[False, True],
                        betas=[(0.9, 0.999), (0.4, 0.99), (0.0, 0.0)], eps=[1e-8, 1e-3])])],
    # weight decay x maximize x betas (the second at 0 too) x eps, plus the defaults and an lr
    *_rows("Adamax", [{}, dict(lr=0.01)] + [
        dict(lr=0.01, **kw)
        for kw in _grid(weight_decay=[0.0, 0.1], maximize=[False, True],
                        betas=[(0.9, 0.999), (0.4, 0.99), (0.0, 0.0)], eps=[1e-8, 1e-3])]),
    # weight decay (L2 or decoupled) x maximize x betas (beta2 = 0.5: never rectified) x eps
    *_rows("RAdam", [{}, dict(lr=0.01)] + [
        dict(lr=0.01, **kw)
        for kw in _grid(weight_decay=[0.0, 0.1], decoupled_weight_decay=[False, True],
                        maximize=[False, True], betas=[(0.9, 0.999), (0.4, 0.99), (0.9, 0.5)],
                        eps=[1e-8, 1e-3])]),
    # etas x step-size ranges (one that clips from both sides) x maximize, plus the defaults
    *_rows("Rprop", [{}, dict(lr=0.05)] + [
        dict(lr=0.05, **kw)
        for kw in _grid(etas=[(0.5, 1.2), (0.3, 2.0)], step_sizes=[(1e-6, 50), (0.04, 0.1)],
                        maximize=[False, True])]),
    # weight decay (L2 or decoupled) x maximize x betas x momentum_decay, plus torch's own
    # settings (optim_inputs_func_nadam) and the defaults
    *_rows("NAdam", [{}, dict(lr=0.01), dict(momentum_decay=6e-3),
                     dict(weight_decay=0.1, momentum_decay=6e-3),
                     dict(weight_decay=0.1, momentum_decay=6e-3, decoupled_weight_decay=True)] + [
        dict(lr=0.01, **kw)
        for kw in _grid(weight_decay=[0.0, 0.1], decoupled_weight_decay=[False, True],
                        maximize=[False, True], betas=[(0.9, 0.999), (0.4, 0.99)],
                        momentum_decay=[4e-3, 0.3])]),
    # decay x t0 (never, from step 3, from step 13 of 25) x weight decay x maximize, an alpha
    *_rows("ASGD", [{}, dict(lr=0.02), dict(lr=0.02, alpha=0.5, t0=5)] + [
        dict(lr=0.02, **kw)
        for kw in _grid(lambd=[1e-4, 0.01], t0=[1e6, 0.0, 10.0], weight_decay=[0.0, 0.1],
                        maximize=[False, True])]),
    # beta2_decay x eps (None: the dtype's epsilon) x d x weight decay x maximize
    *_rows("Adafactor", [{}, dict(lr=0.05)] + [
        dict(lr=0.05, **kw)
        for kw in _grid(beta2_decay=[-0.8, -0.3], eps=[(None, 1e-3), (1e-2, 0.1)],
                        d=[1.0, 3.0], weight_decay=[0.0, 0.1], maximize=[False, True])]),
    # the same less weight decay, which torch refuses with sparse grads
    *_rows("Adagrad", [{k: v for k, v in kw.items() if k != "weight_decay"} for kw in ADAGRAD
                       if kw != dict(lr=0.05, weight_decay=0.1)], sparse=True),
    *_rows("SparseAdam", SPARSE_ADAM_SETTINGS, sparse=True),
]
NAMES = list(dict.fromkeys(row.name for row in TABLE))


def _data(sparse, dtype):
    """Start params and the grads of every step, ``[step][param]``: arrays, or (ids, rows)
    with Zipf-like ids (hot rows repeated in a batch) and one empty batch (step 3)."""
    if not sparse:
        rng = np.random.default_rng(0)
        start = [rng.standard_normal(s).astype(dtype) for s in DENSE_SHAPES]
        grads = [[rng.standard_normal(s).astype(dtype) for s in DENSE_SHAPES]
                 for _ in range(N_STEPS)]
        return start, grads
    rng = np.random.default_rng(1)
    start = [rng.standard_normal(s).astype(dtype) for s in SPARSE_SHAPES]
    per_param = []
    for n_rows, dim in SPARSE_SHAPES:
        batches = []
        for step in range(N_STEPS):
            k = 0 if step == 3 else int(rng.integers(1, 60))
            ids = rng.permutation(n_rows)[(rng.zipf(1.3, size=k) - 1) % n_rows]
            batches.append((ids, rng.standard_normal((k, dim)).astype(dtype)))
        per_param.append(batches)
    return start, [list(step) for step in zip(*per_param)]


class _NumpySide:
    """A fastopt NumPy object: the params are arrays, the grads go to step()."""

    def __init__(self, row, start, state_dict=None):
        self.name = row.name
        self.params = [p.copy() for p in start]
        self.opt = getattr(fastopt, row.name)(self.params, **row.kwargs)
        if state_dict is not None:
            self.opt.load_state_dict(state_dict)

    def step(self, grads):
        self.opt.step([g if isinstance(g, np.ndarray) else fastopt.SparseRows(*g)
                       for g in grads])

    def pairs(self):
        if self.name == "SGD" and self.opt.param_groups[0]["momentum"] == 0:
            # torch keeps no buffer without momentum; the NumPy SGD keeps the entry, as None
            # (numpy_state drops it for the comparison)
            for i in range(len(self.params)):
                assert self.opt.state[i]["momentum_buffer"] is None, (i, self.opt.state[i])
        return [(p, numpy_state(self.name, self.opt.state[i]))
                for i, p in enumerate(self.params)]


class _TorchSide:
    """A torch optimizer (torch.optim's, or fastopt.torch's): the grads go to ``.grad``, dense
    or sparse COO tensors (uncoalesced, as nn.Embedding makes them); each side its own."""

    def __init__(self, torch, cls, row, start, state_dict=None):
        self.torch = torch
        self.params = [torch.tensor(p.copy(), requires_grad=True) for p in start]
        kwargs = dict(row.kwargs)
        if cls.__module__.startswith("torch.") and row.name != "SparseAdam":
            kwargs["foreach"] = False   # torch's for-loop path (SparseAdam has only one)
        self.opt = cls(self.params, **kwargs)
        if state_dict is not None:
            self.opt.load_state_dict(state_dict)

    def step(self, grads):
        torch = self.torch
        for p, g in zip(self.params, grads):
            if isinstance(g, np.ndarray):
                p.grad = torch.from_numpy(g.copy())
            else:
                ids, rows = g
                p.grad = torch.sparse_coo_tensor(torch.from_numpy(ids.reshape(1, -1)),
                                                 torch.from_numpy(rows.copy()), p.shape)
        self.opt.step()

    def pairs(self):
        return [(p, self.opt.state.get(p, {})) for p in self.params]


def _fastopt_torch(name):
    import fastopt.torch
    return getattr(fastopt.torch, name)


def run_against_torch(row, dtype, tol=None, fronts=("numpy", "torch")):
    """The runner: torch.optim and fastopt's front ends (both by default) take the same
    N_STEPS steps of ``row`` in ``dtype``; at step N_STEPS // 2 the ``row.midway``
    hyper-parameters are set in every group, then one more optimizer per front end is made
    from torch's params and state dict (the NumPy one gets it as torch gives it in float32,
    with its tensors turned into arrays in float64) and joins in. Asserts that each fastopt
    optimizer ends with torch's params and state (assert_matches_torch, to ``tol``)."""
    torch = torch_or_skip()
    start, grads = _data(row.sparse, dtype)
    oracle = _TorchSide(torch, getattr(torch.optim, row.name), row, start)
    fresh = {"numpy": lambda p, sd=None: _NumpySide(row, p, sd),
             "torch": lambda p, sd=None: _TorchSide(torch, _fastopt_torch(row.name),
                                                    row, p, sd)}
    sides = {front: fresh[front](start) for front in fronts}
    with torch.sparse.check_sparse_tensor_invariants(True):   # explicit: torch warns otherwise
        for k, step_grads in enumerate(grads):
            if k == N_STEPS // 2:
                for side in [oracle, *sides.values()]:
                    for group in side.opt.param_groups:
                        group.update(row.midway)
                now = [p.detach().numpy().copy() for p in oracle.params]
                # a checkpoint: a copy (torch's load_state_dict, and so fastopt.torch's,
                # would share the live tensors of a state_dict() with the optimizer it is from)
                sd = copy.deepcopy(oracle.opt.state_dict())
                for front in fronts:
                    loaded = sd
                    if front == "numpy" and np.dtype(dtype) == np.float64:
                        loaded = dict(sd, state={
                            i: {key: v.numpy().copy() if isinstance(v, torch.Tensor) else v
                                for key, v in st.items()} for i, st in sd["state"].items()})
                    sides[f"{front} from torch's state dict"] = fresh[front](now, loaded)
            oracle.step(step_grads)
            for side in sides.values():
                side.step(step_grads)
    for label, side in sides.items():
        assert_matches_torch(side.pairs(), oracle.pairs(), tol, label=f"{label} ({row})")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """torch on one intra-op thread here: its sparse kernels split even these small tensors
    over its threads, and on a busy 2-core machine their barriers wait for a time slice,
    ~1 s per sparse row instead of ~50 ms."""
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("row", TABLE, ids=str)
def test_matches_torch(row, dtype):
    run_against_torch(row, dtype)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_match_torch(name):
    """The NumPy objects' constructor defaults are torch.optim's (AdamW's weight_decay is
    1e-2), but for fastopt's own extensions."""
    torch = torch_or_skip()
    dense = torch.zeros(2, requires_grad=True)
    ours = getattr(fastopt, name)([np.zeros(2)]).defaults
    theirs = getattr(torch.optim, name)([dense]).defaults
    for key, value in ours.items():
        if key != "eps_inside_sqrt":   # fastopt's Adagrad and RMSprop: d2l's and Keras' eps
            assert theirs[key] == value, key


#: dense rows whose step reduces over the param in torch's own order (see bitwise_mismatches)
NOT_ELEMENTWISE = {"Adafactor"}


def bitwise_mismatches():
    """Every dense row, both dtypes, NumPy objects only: those where params or state are not
    bit for bit torch's. Run by the test below in a clean subprocess. The sparse rows are left
    out, as torch's sparse paths differ from its dense ones: its sparse Adagrad divides the
    gradient by the root before it scales by the lr (its dense one, and fastopt on both,
    after), and SparseAdam sums a batch's duplicate ids in an order of its own. Adafactor is
    left out too: its means and norms are torch's float32 reductions (torch.norm's blocked
    order, rsqrt), where fastopt sums in float64 in one fixed order (tests/test_adafactor.py);
    it agrees to TOL, as the table above checks."""
    bad = []
    for row in TABLE:
        if not row.sparse and row.name not in NOT_ELEMENTWISE:
            for dtype in ("float32", "float64"):
                try:
                    run_against_torch(row, dtype, tol=EXACT, fronts=("numpy",))
                except AssertionError:
                    bad.append((str(row), dtype))
    return bad


def test_exact_order_against_torch():
    """With torch's arithmetic made plain IEEE, fastopt equals torch.optim bit for bit.

    Two things keep torch from IEEE results, neither an order of operations (torch_util.TOL):
    its vectorized kernels use FMA (ATEN_CPU_CAPABILITY=default turns that off), and its CPU
    sqrt is not correctly rounded; the subprocess swaps in a correctly rounded sqrt. What
    remains is the order of operations, which must then be the same to the bit.
    """
    torch_or_skip()
    code = (
        "import numpy as np, torch\n"
        "assert torch.backends.cpu.get_cpu_capability() == 'DEFAULT'\n"
        "def sqrt(self):\n"
        "    return torch.from_numpy(np.sqrt(self.detach().numpy()))\n"
        "def sqrt_(self):\n"
        "    a = self.detach().numpy(); np.sqrt(a, out=a); return self\n"
        "torch.Tensor.sqrt, torch.Tensor.sqrt_ = sqrt, sqrt_\n"
        "import fastopt, test_torch_oracle\n"
        f"assert fastopt.__file__ == {fastopt.__file__!r}, fastopt.__file__\n"
        "print(test_torch_oracle.bitwise_mismatches())\n")
    # the fastopt under test, not whichever one the subprocess would find first (an editable
    # install of another checkout)
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastopt.__file__)))
    path = os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.abspath(__file__)),
                         env={**os.environ, "ATEN_CPU_CAPABILITY": "default", "PYTHONPATH": path})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
