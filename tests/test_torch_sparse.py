"""fastopt.torch on sparse COO gradients (nn.Embedding / nn.EmbeddingBag with sparse=True)
against torch.optim: Adagrad (sparse and dense params mixed), SparseAdam, and RowwiseAdagrad
against fastopt's NumPy twin; state dicts both ways; bad input writing nothing; zero-copy.
Needs torch (CI: torch==2.13.0).
"""
import copy

import numpy as np
import pytest

import fastopt
from conftest import torch_or_skip
from torch_util import SPARSE_ADAM_SETTINGS, TOL, assert_unchanged, snapshot

N_ROWS, DIM, BATCH, BAG = 60, 8, 16, 5


def _model(dtype, head=True, seed=0):
    """Embedding + EmbeddingBag (both sparse=True) and, with ``head``, a dense Linear."""
    torch = torch_or_skip()
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(N_ROWS, DIM, sparse=True)
            self.bag = nn.EmbeddingBag(N_ROWS, DIM, mode="mean", sparse=True)
            self.head = nn.Linear(DIM, 3) if head else None

        def forward(self, ids, bag_ids, offsets):
            h = self.emb(ids).sum(1) + self.bag(bag_ids, offsets)
            return self.head(h) if self.head is not None else h[:, :3]

    torch.manual_seed(seed)
    return Net().to(dtype)


def _data(dtype, steps, seed=1, empty_step=None):
    """Zipf-like ids (hot rows repeated many times per batch), scattered over the table."""
    torch = torch_or_skip()
    rng = np.random.default_rng(seed)
    perm = rng.permutation(N_ROWS)
    out = []
    for step in range(steps):
        def ids(n):
            return torch.from_numpy(perm[(rng.zipf(1.3, size=n) - 1) % N_ROWS].astype(np.int64))
        n_bag = 0 if step == empty_step else BATCH * 3
        bag_ids = ids(n_bag)
        offsets = torch.from_numpy(np.sort(rng.integers(0, n_bag + 1, BATCH)))
        offsets[0] = 0
        y = torch.from_numpy(rng.standard_normal((BATCH, 3))).to(dtype)
        out.append((ids(BATCH * BAG).reshape(BATCH, BAG), bag_ids, offsets, y))
    return out


def _train(model, opt, data):
    torch = torch_or_skip()
    with torch.sparse.check_sparse_tensor_invariants(True):  # explicit: torch warns otherwise
        for ids, bag_ids, offsets, y in data:
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(ids, bag_ids, offsets), y).backward()
            opt.step()


def _assert_same(ours_model, ours, theirs_model, theirs):
    """Params and every state entry to float rounding; step counts exactly, same types."""
    torch = torch_or_skip()
    for i, (a, b) in enumerate(zip(ours_model.parameters(), theirs_model.parameters())):
        tol = TOL[str(b.dtype).split(".")[-1]]
        torch.testing.assert_close(a, b, **tol, msg=lambda m: f"param {i}: {m}")
        sa, sb = ours.state.get(a, {}), theirs.state.get(b, {})
        assert set(sa) == set(sb), f"param {i}: state keys {sorted(sa)} vs {sorted(sb)}"
        for key, vb in sb.items():
            va = sa[key]
            assert type(va) is type(vb), f"param {i} {key}: {type(va)} vs {type(vb)}"
            if key == "step":
                assert float(va) == float(vb), f"param {i}: step {va} vs torch {vb}"
                if isinstance(vb, torch.Tensor):
                    assert va.dtype == vb.dtype and va.shape == vb.shape
            else:
                assert va.dtype == vb.dtype and va.shape == vb.shape
                torch.testing.assert_close(va, vb, **tol, msg=lambda m: f"param {i} {key}: {m}")


# ---- oracles ------------------------------------------------------------------------------

ADAGRAD_SETTINGS = [
    {},
    dict(lr=0.1),
    dict(lr=0.05, lr_decay=0.01),
    dict(lr=0.05, initial_accumulator_value=0.3),
    dict(lr=0.05, eps=1e-3),
    dict(lr=0.05, maximize=True),
    dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1, eps=1e-6, maximize=True),
]


@pytest.mark.parametrize("kwargs", ADAGRAD_SETTINGS, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adagrad_sparse_and_dense_params_match_torch(kwargs, dtype):
    """Embedding and EmbeddingBag (sparse grads) plus a Linear head (dense grads, with
    weight decay in its own group) in one optimizer, 25 steps, one with an empty bag."""
    torch = torch_or_skip()
    import fastopt.torch
    dtype = getattr(torch, dtype)
    ours_model = _model(dtype)
    theirs_model = copy.deepcopy(ours_model)

    def groups(m):
        return [dict(params=[m.emb.weight, m.bag.weight]),
                dict(params=list(m.head.parameters()), weight_decay=0.05)]
    ours = fastopt.torch.Adagrad(groups(ours_model), **kwargs)
    theirs = torch.optim.Adagrad(groups(theirs_model), foreach=False, **kwargs)
    data = _data(dtype, 25, empty_step=4)
    _train(ours_model, ours, data)
    _train(theirs_model, theirs, data)
    _assert_same(ours_model, ours, theirs_model, theirs)


SGD_SETTINGS = [dict(lr=0.1), dict(lr=0.05, maximize=True)]


@pytest.mark.parametrize("kwargs", SGD_SETTINGS, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sgd_sparse_and_dense_params_match_torch(kwargs, dtype):
    """Plain SGD (no momentum, no weight decay: what torch.optim.SGD supports for sparse
    grads) on the sparse embeddings plus the dense head, 25 steps."""
    torch = torch_or_skip()
    import fastopt.torch
    dtype = getattr(torch, dtype)
    ours_model = _model(dtype)
    theirs_model = copy.deepcopy(ours_model)
    ours = fastopt.torch.SGD(ours_model.parameters(), **kwargs)
    theirs = torch.optim.SGD(theirs_model.parameters(), foreach=False, **kwargs)
    data = _data(dtype, 25, empty_step=4)
    _train(ours_model, ours, data)
    _train(theirs_model, theirs, data)
    _assert_same(ours_model, ours, theirs_model, theirs)


def test_sgd_with_momentum_refuses_sparse_grads_and_writes_nothing():
    torch = torch_or_skip()
    import fastopt.torch
    model = _model(torch.float32)
    opt = fastopt.torch.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ids, bag_ids, offsets, y = _data(torch.float32, 1)[0]
    torch.nn.functional.mse_loss(model(ids, bag_ids, offsets), y).backward()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="momentum"):
        opt.step()
    for a, b in zip(before, model.parameters()):
        assert torch.equal(a, b)
    assert not opt.state


@pytest.mark.parametrize("kwargs", SPARSE_ADAM_SETTINGS, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sparse_adam_matches_torch(kwargs, dtype):
    torch = torch_or_skip()
    import fastopt.torch
    dtype = getattr(torch, dtype)
    ours_model = _model(dtype, head=False)
    theirs_model = copy.deepcopy(ours_model)
    ours = fastopt.torch.SparseAdam(ours_model.parameters(), **kwargs)
    theirs = torch.optim.SparseAdam(theirs_model.parameters(), **kwargs)
    data = _data(dtype, 25, empty_step=4)
    _train(ours_model, ours, data)
    _train(theirs_model, theirs, data)
    _assert_same(ours_model, ours, theirs_model, theirs)


def test_sparse_adam_signature_defaults_and_lazy_state():
    torch = torch_or_skip()
    import inspect

    import fastopt.torch
    ours_sig = inspect.signature(fastopt.torch.SparseAdam.__init__)
    precision = ours_sig.parameters["precision"]   # (half precision: fastopt.torch._half)
    assert precision.kind is inspect.Parameter.VAR_KEYWORD
    assert (ours_sig.replace(parameters=[p for p in ours_sig.parameters.values()
                                         if p is not precision])
            == inspect.signature(torch.optim.SparseAdam.__init__).replace(
                parameters=[p.replace(annotation=inspect.Parameter.empty) for p in
                            inspect.signature(torch.optim.SparseAdam.__init__)
                            .parameters.values()], return_annotation=inspect.Signature.empty))
    m = _model(torch.float32, head=False)
    ours = fastopt.torch.SparseAdam(m.parameters())
    theirs = torch.optim.SparseAdam(m.parameters())
    assert ours.defaults == theirs.defaults
    assert not ours.state
    for kwargs, exc in [(dict(lr=0.0), ValueError), (dict(eps=0.0), ValueError),
                        (dict(betas=(1.0, 0.9)), ValueError), (dict(betas=(0.9, -0.1)), ValueError),
                        (dict(lr=torch.tensor(0.1)), TypeError)]:
        with pytest.raises(exc):
            fastopt.torch.SparseAdam(m.parameters(), **kwargs)
        if exc is ValueError:
            with pytest.raises(ValueError):
                torch.optim.SparseAdam(m.parameters(), **kwargs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_param_switching_between_dense_and_sparse_grads_matches_torch(dtype):
    """The pointer plan (dense steps) and the row path (sparse steps) hand over cleanly."""
    torch = torch_or_skip()
    import fastopt.torch
    dtype = getattr(torch, dtype)
    ours_model = _model(dtype)
    theirs_model = copy.deepcopy(ours_model)
    ours = fastopt.torch.Adagrad(ours_model.parameters(), lr=0.05)
    theirs = torch.optim.Adagrad(theirs_model.parameters(), lr=0.05, foreach=False)
    data = _data(dtype, 24)
    with torch.sparse.check_sparse_tensor_invariants(True):
        for step, (ids, bag_ids, offsets, y) in enumerate(data):
            for model, opt in ((ours_model, ours), (theirs_model, theirs)):
                opt.zero_grad()
                torch.nn.functional.mse_loss(model(ids, bag_ids, offsets), y).backward()
                if step % 3 == 1:   # densify the grads now and then: the same math
                    for p in model.parameters():
                        p.grad = p.grad.to_dense()
                elif step % 3 == 2:  # and drop some
                    model.bag.weight.grad = None
                opt.step()
    _assert_same(ours_model, ours, theirs_model, theirs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rowwise_adagrad_equals_the_numpy_object_bit_for_bit(dtype):
    """Same uncoalesced indices and values, same order of folding: bitwise equal."""
    torch = torch_or_skip()
    import fastopt.torch
    tdtype = getattr(torch, dtype)
    model = _model(tdtype)
    kwargs = dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1, maximize=True)
    ours = fastopt.torch.RowwiseAdagrad(model.parameters(), **kwargs)
    arrays = [p.detach().numpy().copy() for p in model.parameters()]
    twin = fastopt.RowwiseAdagrad(arrays, **kwargs)
    with torch.sparse.check_sparse_tensor_invariants(True):
        for ids, bag_ids, offsets, y in _data(tdtype, 20, empty_step=3):
            ours.zero_grad()
            torch.nn.functional.mse_loss(model(ids, bag_ids, offsets), y).backward()
            grads = []
            for p in model.parameters():
                g = p.grad
                grads.append(fastopt.SparseRows(g._indices()[0].numpy().copy(),
                                                g._values().numpy().copy())
                             if g.is_sparse else g.numpy().copy())
            ours.step()
            twin.step(grads)
    for i, (p, a) in enumerate(zip(model.parameters(), arrays)):
        assert np.array_equal(p.detach().numpy(), a), i
        st = ours.state[p]
        assert st["sum"].shape == p.shape[:1]
        assert np.array_equal(st["sum"].numpy(), twin.state[i]["sum"])
        assert float(st["step"]) == twin.state[i]["step"] == 20


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rowwise_adagrad_dense_grads_take_weight_decay(dtype):
    """Dense grads step every row and, unlike sparse ones, may carry weight decay: bitwise
    equal to the NumPy twin."""
    torch = torch_or_skip()
    import fastopt.torch
    tdtype = getattr(torch, dtype)
    torch.manual_seed(0)
    lin = torch.nn.Linear(7, 5).to(tdtype)
    kwargs = dict(lr=0.05, weight_decay=0.1)
    ours = fastopt.torch.RowwiseAdagrad(lin.parameters(), **kwargs)
    arrays = [p.detach().numpy().copy() for p in lin.parameters()]
    twin = fastopt.RowwiseAdagrad(arrays, **kwargs)
    x = torch.randn(9, 7, dtype=tdtype)
    for _ in range(5):
        ours.zero_grad()
        lin(x).square().mean().backward()
        grads = [p.grad.numpy().copy() for p in lin.parameters()]
        ours.step()
        twin.step(grads)
    for p, a in zip(lin.parameters(), arrays):
        assert np.array_equal(p.detach().numpy(), a)


# ---- state dicts --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Adagrad", "SparseAdam"])
@pytest.mark.parametrize("direction", ["torch->fastopt", "fastopt->torch"])
def test_state_dicts_load_both_ways_mid_training(name, direction):
    torch = torch_or_skip()
    import fastopt.torch
    head = name == "Adagrad"
    classes = {"torch": getattr(torch.optim, name), "fastopt": getattr(fastopt.torch, name)}
    first, second = direction.split("->")
    kwargs = dict(lr=0.05)
    data = _data(torch.float32, 20)
    a_model = _model(torch.float32, head=head)
    a = classes[first](a_model.parameters(), **kwargs)
    _train(a_model, a, data[:10])
    b_model = copy.deepcopy(a_model)
    b = classes[second](b_model.parameters(), **kwargs)
    b.load_state_dict(copy.deepcopy(a.state_dict()))
    _train(a_model, a, data[10:])
    _train(b_model, b, data[10:])
    ours, ours_model, theirs, theirs_model = ((b, b_model, a, a_model) if second == "fastopt"
                                              else (a, a_model, b, b_model))
    _assert_same(ours_model, ours, theirs_model, theirs)


# ---- bad input: raised before anything is written ------------------------------------------

def _ready(name, weight_decay=0.0):
    """Two groups (tables; then the head, or the bag for SparseAdam), a few steps in, fresh
    grads computed."""
    torch = torch_or_skip()
    import fastopt.torch
    head = name != "SparseAdam"
    model = _model(torch.float32, head=head)
    tail = list(model.head.parameters()) if head else [model.bag.weight]
    first = [model.emb.weight, model.bag.weight] if head else [model.emb.weight]
    opt = getattr(fastopt.torch, name)([dict(params=first),
                                        dict(params=tail, weight_decay=weight_decay)]
                                       if head else [dict(params=first), dict(params=tail)])
    data = _data(torch.float32, 4)
    _train(model, opt, data[:3])
    ids, bag_ids, offsets, y = data[3]
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(ids, bag_ids, offsets), y).backward()
    return torch, model, opt


def _coo(torch, idx, values, shape):
    with torch.sparse.check_sparse_tensor_invariants(False):
        return torch.sparse_coo_tensor(torch.tensor(idx).reshape(1, -1), values, shape)


def _last_table(m):
    return m.bag.weight


# (id, breaker(torch, model, opt), exception, message regex); each breaks the param that is
# stepped last (so a per-param loop would already have written the others)
SPARSE_BREAKERS = [
    ("index out of range",
     lambda t, m, o: setattr(_last_table(m), "grad",
                             _coo(t, [3, N_ROWS, 1], t.ones(3, DIM), (N_ROWS, DIM))),
     IndexError, rf"param \d: sparse grad index {N_ROWS} \(at position 1\) is out of range"),
    ("negative index",
     lambda t, m, o: setattr(_last_table(m), "grad",
                             _coo(t, [3, 4, -2], t.ones(3, DIM), (N_ROWS, DIM))),
     IndexError, r"param \d: sparse grad index -2"),
    ("sparse in both dims",
     lambda t, m, o: setattr(_last_table(m), "grad", t.eye(N_ROWS, DIM).to_sparse()),
     ValueError, r"param \d's grad has sparse_dim 2"),
    ("values not contiguous",
     lambda t, m, o: setattr(_last_table(m), "grad",
                             _coo(t, [3, 5], t.ones(DIM, 2).t(), (N_ROWS, DIM))),
     ValueError, r"param \d's grad's values are not contiguous"),
    ("values overlap a param",
     lambda t, m, o: setattr(_last_table(m), "grad",
                             _coo(t, [3, 5], m.emb.weight.detach()[:2], (N_ROWS, DIM))),
     ValueError, r"overlap in memory"),
]


@pytest.mark.parametrize("name", ["Adagrad", "SparseAdam", "RowwiseAdagrad"])
@pytest.mark.parametrize("breaker", SPARSE_BREAKERS, ids=[b[0] for b in SPARSE_BREAKERS])
def test_bad_sparse_grads_raise_and_write_nothing(name, breaker):
    _, fn, exc, pattern = breaker
    torch, model, opt = _ready(name)
    fn(torch, model, opt)
    before = snapshot(model, opt)
    with pytest.raises(exc, match=pattern):
        opt.step()
    assert_unchanged(before, model, opt)


def test_sparse_grads_of_another_dtype_or_shape_are_refused():
    """torch refuses to assign such grads; set behind its back, they are refused here."""
    torch = torch_or_skip()
    from fastopt.torch._base import sparse_rows
    p = torch.zeros(N_ROWS, DIM)
    with pytest.raises(TypeError, match="param 0's grad has dtype torch.float64"):
        sparse_rows(p, _coo(torch, [3], torch.ones(1, DIM, dtype=torch.float64), (N_ROWS, DIM)),
                    "param 0's grad")
    with pytest.raises(ValueError, match=r"param 0's grad has shape \(61, 8\)"):
        sparse_rows(p, _coo(torch, [3], torch.ones(1, DIM), (N_ROWS + 1, DIM)), "param 0's grad")
    with pytest.raises(ValueError, match="param 0's grad is on device meta"):
        sparse_rows(p, _coo(torch, [3], torch.ones(1, DIM), (N_ROWS, DIM)).to("meta"),
                    "param 0's grad")


def test_weight_decay_with_a_sparse_grad_raises_as_torch_and_writes_nothing():
    torch, model, opt = _ready("Adagrad")
    opt.param_groups[0]["weight_decay"] = 0.01      # the tables' group
    before = snapshot(model, opt)
    with pytest.raises(RuntimeError, match="param 0: weight_decay=0.01 is not compatible "
                                           "with sparse gradients"):
        opt.step()
    assert_unchanged(before, model, opt)
    theirs = torch.optim.Adagrad(model.parameters(), weight_decay=0.01)
    with torch.sparse.check_sparse_tensor_invariants(True), \
            pytest.raises(RuntimeError, match="weight_decay option is not compatible"):
        theirs.step()
    # weight decay on the dense head's group stays fine
    opt.param_groups[0]["weight_decay"] = 0.0
    opt.param_groups[1]["weight_decay"] = 0.01
    opt.step()


def test_sparse_adam_refuses_dense_grads_as_torch_and_writes_nothing():
    torch, model, opt = _ready("SparseAdam")
    model.bag.weight.grad = model.bag.weight.grad.to_dense()     # the last group's param
    before = snapshot(model, opt)
    with pytest.raises(RuntimeError, match="param 1: SparseAdam does not support dense "
                                           "gradients, please consider Adam instead"):
        opt.step()
    assert_unchanged(before, model, opt)
    assert opt.state[model.emb.weight]["step"] == 3


def test_a_bad_dense_grad_after_sparse_ones_writes_nothing():
    torch, model, opt = _ready("Adagrad")
    model.head.bias.grad = torch.ones(6)[::2]
    before = snapshot(model, opt)
    with pytest.raises(ValueError, match="param 3: grad has another memory layout"):
        opt.step()
    assert_unchanged(before, model, opt)


def test_lazy_state_is_not_created_when_the_step_fails():
    torch = torch_or_skip()
    import fastopt.torch
    model = _model(torch.float32, head=False)
    opt = fastopt.torch.SparseAdam(model.parameters())
    ids, bag_ids, offsets, y = _data(torch.float32, 1)[0]
    torch.nn.functional.mse_loss(model(ids, bag_ids, offsets), y).backward()
    model.bag.weight.grad = _coo(torch, [N_ROWS + 5], torch.ones(1, DIM), (N_ROWS, DIM))
    with pytest.raises(IndexError):
        opt.step()
    assert not opt.state


# ---- zero-copy: the grads' own memory, no coalesce, no densifying ----------------------------

def test_sparse_grads_are_read_in_place_never_coalesced_or_densified(monkeypatch):
    torch = torch_or_skip()
    import fastopt.torch
    model = _model(torch.float32)
    opt = fastopt.torch.Adagrad(model.parameters(), lr=0.1)
    ids, bag_ids, offsets, y = _data(torch.float32, 1)[0]
    torch.nn.functional.mse_loss(model(ids, bag_ids, offsets), y).backward()
    g = model.emb.weight.grad
    assert not g.is_coalesced() and g._indices().shape == (1, BATCH * BAG)
    ptrs = (g._indices().data_ptr(), g._values().data_ptr())
    values = g._values().clone()
    for name in ("coalesce", "to_dense", "_coalesced_", "sparse_mask", "index_add_",
                 "index_put_", "unique"):
        def refuse(*args, _name=name, **kwargs):
            raise AssertionError(f"the step called torch's {_name}")
        monkeypatch.setattr(torch.Tensor, name, refuse)
    before = model.emb.weight.detach().clone()
    opt.step()
    monkeypatch.undo()
    assert model.emb.weight.grad is g and not g.is_coalesced()
    assert (g._indices().data_ptr(), g._values().data_ptr()) == ptrs
    assert torch.equal(g._values(), values)
    touched = torch.zeros(N_ROWS, dtype=torch.bool)
    touched[ids.reshape(-1)] = True
    changed = (model.emb.weight.detach() != before).any(1)
    assert torch.equal(changed, touched)


def test_the_step_increments_the_params_version_counters():
    torch = torch_or_skip()
    import fastopt.torch
    model = _model(torch.float32, head=False)
    opt = fastopt.torch.SparseAdam(model.parameters())
    ids, bag_ids, offsets, y = _data(torch.float32, 1)[0]
    torch.nn.functional.mse_loss(model(ids, bag_ids, offsets), y).backward()
    versions = [p._version for p in model.parameters()]
    opt.step()
    assert [p._version for p in model.parameters()] == [v + 1 for v in versions]
