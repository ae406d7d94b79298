"""fastopt.torch on half precision: bfloat16/float16 params against torch.optim's fused CPU
kernels and against the NumPy objects, master weights against a float32 run, bfloat16 state
with stochastic rounding, state dicts and pickles that keep float32 masters, and the
combinations refused with nothing written.
"""
import copy

import numpy as np
import pytest

import fastopt
from cases import CASES
from conftest import torch_or_skip

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)

HALF_IDS = [c.name for c in CASES]
HALF_NAMES = ("bfloat16", "float16")


def _np(t):
    """A half tensor's memory as a NumPy array of that dtype (a view; torch has no NumPy
    bfloat16)."""
    import torch
    a = t.detach().view(torch.int16).numpy().view(np.uint16)
    return a.view(BF16 if t.dtype == torch.bfloat16 else np.float16)


def _bits(t):
    import torch
    t = t.detach()
    return (t.view(torch.int16) if t.element_size() == 2 else
            t.view(torch.int32) if t.element_size() == 4 else t.view(torch.int64)).numpy()


#: one unit in the last place, relative (bfloat16 keeps 8 significant bits, float16 11)
ULP = {"bfloat16": 2.0 ** -7, "float16": 2.0 ** -10}


def assert_within_an_ulp(got, want, dtype, what):
    """|got - want| within one ulp of the half type, relative (absolutely 1e-6 near 0, where
    torch's fused multiply-adds leave residuals of cancellation such as 2e-10 for our 0)."""
    import torch
    torch.testing.assert_close(got.detach().float(), want.detach().float(), rtol=ULP[dtype],
                               atol=1e-6, msg=what)


@pytest.mark.parametrize("dtype", HALF_NAMES)
@pytest.mark.parametrize("name, kwargs", [
    ("Adam", dict(lr=0.01)), ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True, betas=(0.8, 0.9))),
    ("AdamW", dict(lr=0.01)), ("AdamW", dict(lr=0.02, weight_decay=0.5, amsgrad=True)),
])
def test_adam_on_half_params_is_bitwise_torch_fused(dtype, name, kwargs):
    """torch's fused CPU Adam computes in float32 and rounds once, in our order: params bit
    for bit over several steps (vector and tail parts: 10007 and 33 elements); the moments
    too, but where torch's lerp (a fused multiply-add) leaves a residual of cancellation
    (2e-10 where ours is exactly 0): within an ulp there."""
    torch = torch_or_skip()
    import fastopt.torch as ft
    dt = getattr(torch, dtype)
    gen = torch.Generator().manual_seed(3)
    shapes = [(10007,), (3, 11), (1,)]
    ps = [torch.randn(s, generator=gen).to(dt).requires_grad_() for s in shapes]
    qs = [p.detach().clone().requires_grad_() for p in ps]
    theirs = getattr(torch.optim, name)(ps, fused=True, **kwargs)
    ours = getattr(ft, name)(qs, **kwargs)
    for _ in range(4):
        for p, q in zip(ps, qs):
            g = torch.randn(p.shape, generator=gen).to(dt)
            p.grad, q.grad = g.clone(), g.clone()
        theirs.step()
        ours.step()
    for p, q in zip(ps, qs):
        assert np.array_equal(_bits(q), _bits(p))
        for k, v in theirs.state[p].items():
            assert ours.state[q][k].dtype == v.dtype, k
            assert_within_an_ulp(ours.state[q][k], v, dtype, k)
            if k != "step":   # and all but a handful bit for bit
                assert (_bits(ours.state[q][k]) != _bits(v)).mean() < 1e-3, k


@pytest.mark.parametrize("dtype", HALF_NAMES)
@pytest.mark.parametrize("kwargs", [dict(lr=0.01), dict(lr=0.05, lr_decay=0.01,
                                                         weight_decay=0.1)])
def test_adagrad_on_half_params_is_within_an_ulp_of_torch_fused_per_step(dtype, kwargs):
    """torch's fused Adagrad on half params rounds part of its math differently (in ~3% of
    the elements): from the same params and state, each step agrees to one ulp of the half
    type, relative, or two ulps of the update's size (lr), where the update cancels most of
    the param."""
    torch = torch_or_skip()
    import fastopt.torch as ft
    dt = getattr(torch, dtype)
    gen = torch.Generator().manual_seed(5)
    p = torch.randn(4099, generator=gen).to(dt).requires_grad_()
    q = p.detach().clone().requires_grad_()
    theirs = torch.optim.Adagrad([p], fused=True, **kwargs)
    ours = ft.Adagrad([q], **kwargs)
    for _ in range(4):
        g = torch.randn(p.shape, generator=gen).to(dt)
        p.grad, q.grad = g.clone(), g.clone()
        theirs.step()
        ours.step()
        torch.testing.assert_close(q.detach().float(), p.detach().float(), rtol=ULP[dtype],
                                   atol=2 * kwargs["lr"] * ULP[dtype])
        # (with weight decay, g + weight_decay * p can cancel; torch rounds a part of it to
        # the half type first: absolutely tiny, relatively large, differences of the sum)
        torch.testing.assert_close(ours.state[q]["sum"].float(), theirs.state[p]["sum"].float(),
                                   rtol=ULP[dtype], atol=1e-5)
        with torch.no_grad():   # the same start for the next step
            q.copy_(p)
            ours.state[q]["sum"].copy_(theirs.state[p]["sum"])


@pytest.mark.parametrize("case", CASES, ids=HALF_IDS)
@pytest.mark.parametrize("dtype", HALF_NAMES)
def test_fastopt_torch_on_half_params_equals_the_numpy_object(case, dtype):
    """Every class: fastopt.torch and the NumPy object on the same half params and grads give
    the same bits (params and state), one kernel behind both."""
    torch = torch_or_skip()
    import fastopt.torch as ft
    dt = getattr(torch, dtype)
    gen = torch.Generator().manual_seed(9)
    shapes = [(33,), (5, 7), (4097,)]
    qs = [torch.randn(s, generator=gen).to(dt).requires_grad_() for s in shapes]
    arrays = [_np(q).copy() for q in qs]
    kwargs = dict(case.obj_kwargs)
    ours = getattr(ft, case.cls.__name__)(qs, **kwargs)
    obj = case.cls(arrays, **kwargs)
    for _ in range(3):
        grads = [torch.randn(s, generator=gen).to(dt) for s in shapes]
        for q, g in zip(qs, grads):
            q.grad = g.clone()
        ours.step()
        obj.step([_np(g).copy() for g in grads])
    for i, q in enumerate(qs):
        assert np.array_equal(_np(q).view(np.uint16), arrays[i].view(np.uint16))
        for k, v in obj.state[i].items():
            if isinstance(v, np.ndarray) and v.ndim >= 1:
                t = ours.state[q][k]
                got = _np(t) if t.element_size() == 2 else t.numpy()
                assert got.dtype == v.dtype and np.array_equal(
                    got.view(np.uint8), v.view(np.uint8)), k


@pytest.mark.parametrize("name, kwargs", [("Adam", dict(lr=0.01)),
                                          ("SGD", dict(lr=0.05, momentum=0.9)),
                                          ("Adagrad", dict(lr=0.05))])
@pytest.mark.parametrize("dtype", HALF_NAMES)
def test_master_weights_equal_a_float32_run_rounded_and_survive_state_dicts(name, kwargs,
                                                                           dtype):
    torch = torch_or_skip()
    import fastopt.torch as ft
    dt = getattr(torch, dtype)
    gen = torch.Generator().manual_seed(2)
    shapes = [(4097,), (6, 5)]
    half = [torch.randn(s, generator=gen).to(dt).requires_grad_() for s in shapes]
    full = [h.detach().float().requires_grad_() for h in half]
    ours = getattr(ft, name)(half, master_weights=True, **kwargs)
    ref = getattr(ft, name)(full, **kwargs)

    def steps(k):
        for _ in range(k):
            for h, f in zip(half, full):
                g = torch.randn(h.shape, generator=gen).to(dt)
                h.grad, f.grad = g.clone(), g.float()
            ours.step()
            ref.step()
            for h, f in zip(half, full):
                st = ours.state[h]
                assert st["master"].dtype == torch.float32
                assert np.array_equal(_bits(st["master"]), _bits(f))
                assert np.array_equal(_bits(h), _bits(f.detach().to(dt)))
                for key, v in ref.state[f].items():
                    if key != "step":
                        assert st[key].dtype == torch.float32, key
                        assert np.array_equal(_bits(st[key]), _bits(v)), key

    steps(3)
    # a state dict (and a pickle) keep the float32 masters and state exactly
    sd = copy.deepcopy(ours.state_dict())
    assert sd["param_groups"][0]["master_weights"] is True
    fresh = [h.detach().clone().requires_grad_() for h in half]
    again = getattr(ft, name)(fresh, master_weights=True, **kwargs)
    again.load_state_dict(sd)
    cloned = copy.deepcopy(ours)
    for a, b, h in zip(fresh, list(cloned.state), half):
        for st in (again.state[a], cloned.state[b]):
            assert st["master"].dtype == torch.float32
            assert np.array_equal(_bits(st["master"]), _bits(ours.state[h]["master"]))
            for key, v in ours.state[h].items():
                assert st[key].dtype == v.dtype, key
    ours, half = again, fresh
    steps(2)


def test_a_torch_state_dict_without_masters_starts_them_from_the_param():
    torch = torch_or_skip()
    import fastopt.torch as ft
    p = torch.randn(17).to(torch.bfloat16).requires_grad_()
    plain = torch.optim.Adam([p], lr=0.1, fused=True)
    p.grad = torch.ones_like(p)
    plain.step()
    q = p.detach().clone().requires_grad_()
    ours = ft.Adam([q], lr=0.1, master_weights=True)
    ours.load_state_dict(plain.state_dict())
    st = ours.state[q]
    assert np.array_equal(_bits(st["master"]), _bits(q.detach().float()))
    assert st["exp_avg"].dtype == torch.float32
    assert torch.equal(st["exp_avg"], plain.state[p]["exp_avg"].float())
    q.grad = torch.ones_like(q)
    ours.step()   # and it steps on
    assert float(st["step"]) == 2.0
    # and ours loads into torch's (its masters dropped, state cast to the param's dtype)
    back = torch.optim.Adam([p], lr=0.1)
    back.load_state_dict(ours.state_dict())
    assert back.state[p]["exp_avg"].dtype == torch.bfloat16


def test_bfloat16_state_equals_the_numpy_object_with_the_same_seed():
    """state_dtype=torch.bfloat16: stochastic rounding from the seed, param indices across
    groups, the NumPy object's bits; another seed, other bits."""
    torch = torch_or_skip()
    import fastopt.torch as ft
    gen = torch.Generator().manual_seed(4)
    shapes = [(1000,), (3, 33)]
    qs = [torch.randn(s, generator=gen).requires_grad_() for s in shapes]
    arrays = [q.detach().numpy().copy() for q in qs]
    ours = ft.Adam([{"params": [qs[0]]}, {"params": [qs[1]], "lr": 0.02}], lr=0.01,
                   state_dtype=torch.bfloat16, seed=11)
    obj = fastopt.Adam([{"params": [arrays[0]]}, {"params": [arrays[1]], "lr": 0.02}],
                       lr=0.01, state_dtype=BF16, seed=11)
    other = fastopt.Adam([a.copy() for a in arrays], lr=0.01, state_dtype=BF16, seed=12)
    for _ in range(3):
        grads = [torch.randn(s, generator=gen) for s in shapes]
        for q, g in zip(qs, grads):
            q.grad = g.clone()
        ours.step()
        obj.step([g.numpy() for g in grads])
        other.step([g.numpy() for g in grads])
    for i, q in enumerate(qs):
        assert np.array_equal(q.detach().numpy(), arrays[i])
        for k in ("exp_avg", "exp_avg_sq"):
            assert ours.state[q][k].dtype == torch.bfloat16
            assert np.array_equal(_np(ours.state[q][k]).view(np.uint16),
                                  obj.state[i][k].view(np.uint16))
    assert not np.array_equal(obj.state[0]["exp_avg"].view(np.uint16),
                              other.state[0]["exp_avg"].view(np.uint16))
    # a state dict keeps the bfloat16 state as it is
    again = ft.Adam([{"params": [qs[0].detach().clone().requires_grad_()]},
                     {"params": [qs[1].detach().clone().requires_grad_()], "lr": 0.02}],
                    lr=0.01, state_dtype=torch.bfloat16, seed=11)
    again.load_state_dict(copy.deepcopy(ours.state_dict()))
    for a, q in zip(again.state.values(), qs):
        assert a["exp_avg"].dtype == torch.bfloat16
        assert torch.equal(a["exp_avg"], ours.state[q]["exp_avg"])


def test_a_replaced_master_is_the_one_stepped():
    """A param with master weights always takes the full step, which finds its state's
    master anew (the steady step's cached records never hold one)."""
    torch = torch_or_skip()
    import fastopt.torch as ft
    p = torch.zeros(8, dtype=torch.bfloat16, requires_grad=True)
    opt = ft.SGD([p], lr=1.0, master_weights=True)
    for _ in range(2):
        p.grad = torch.ones_like(p)
        opt.step()
    opt.state[p]["master"] = torch.full((8,), 10.0)
    p.grad = torch.ones_like(p)
    opt.step()
    assert torch.equal(p.detach().float(), torch.full((8,), 9.0))


@pytest.mark.parametrize("make, error, words", [
    (lambda t: dict(params=[t.zeros(3, dtype=t.bfloat16)], grad=t.zeros(3)), TypeError,
     "param 0: grad has dtype float32 but the param has dtype bfloat16"),
    (lambda t: dict(params=[t.zeros(3, dtype=t.float16)], grad=t.zeros(3, dtype=t.bfloat16)),
     TypeError, "grad has dtype bfloat16 but the param has dtype float16"),
])
def test_mixed_tensor_dtypes_are_refused_with_nothing_written(make, error, words):
    torch = torch_or_skip()
    import fastopt.torch as ft
    spec = make(torch)
    p = spec["params"][0].requires_grad_()
    opt = ft.Adam([p], lr=1.0)
    p.grad_dtype = None   # (torch refuses a grad of another dtype unless told)
    p.grad = spec["grad"]
    with pytest.raises(error, match=words):
        opt.step()
    assert not p.detach().float().any() and not opt.state


def test_bad_half_settings_are_refused():
    torch = torch_or_skip()
    import fastopt.torch as ft
    p = torch.zeros(3, requires_grad=True)
    with pytest.raises(TypeError, match="state_dtype must be None or torch.bfloat16"):
        ft.Adam([p], state_dtype=torch.float16)
    with pytest.raises(TypeError, match="master_weights must be True or False"):
        ft.Adam([p], master_weights="yes")
    with pytest.raises(ValueError, match="seed must be an int"):
        ft.Adam([p], seed=-3)
    with pytest.raises(TypeError, match="param group 1: state_dtype must be None"):
        ft.Adam([{"params": [p]}, {"params": [torch.zeros(2, requires_grad=True)],
                                   "state_dtype": torch.float16}])


SPARSE_CLASSES = [("Adagrad", dict(lr=0.1)), ("SGD", dict(lr=0.1)),
                  ("SparseAdam", dict(lr=0.01)), ("RowwiseAdagrad", dict(lr=0.1))]


def _embedding_steps(torch, emb, opt, obj, table, steps, gen):
    """steps of nn.Embedding(sparse=True) lookups: opt on the tensor, obj on the NumPy table
    with the same uncoalesced sparse grads (as SparseRows)."""
    rows, dim = emb.weight.shape
    for _ in range(steps):
        idx = torch.randint(0, rows, (40,), generator=gen)
        opt.zero_grad()
        (emb(idx).float() * torch.randn(40, dim, generator=gen)).sum().backward()
        g = emb.weight.grad
        vals = g._values()
        v = _np(vals) if vals.dtype != torch.float32 else vals.numpy()
        obj.step([fastopt.SparseRows(g._indices().numpy().reshape(-1).copy(), v.copy())])
        opt.step()


@pytest.mark.parametrize("name, kwargs", SPARSE_CLASSES, ids=[c[0] for c in SPARSE_CLASSES])
@pytest.mark.parametrize("dtype", HALF_NAMES)
@pytest.mark.parametrize("master", [False, True], ids=["state", "master"])
def test_sparse_grads_on_half_params_equal_the_numpy_object(name, kwargs, dtype, master):
    """nn.Embedding(sparse=True) in bfloat16/float16, with and without float32 master
    weights: table, master and state bitwise the NumPy object's on the same sparse grads;
    a state dict keeps the masters."""
    torch = torch_or_skip()
    import fastopt.torch as ft
    gen = torch.Generator().manual_seed(3)
    emb = torch.nn.Embedding(50, 17, sparse=True).to(getattr(torch, dtype))
    table = _np(emb.weight).copy()
    opt = getattr(ft, name)(emb.parameters(), master_weights=master, **kwargs)
    obj = getattr(fastopt, name)([table], master_weights=master, **kwargs)
    _embedding_steps(torch, emb, opt, obj, table, 3, gen)
    assert np.array_equal(_np(emb.weight).view(np.uint16), table.view(np.uint16))
    st = opt.state[emb.weight]
    assert ("master" in st) == master
    for key, v in obj.state[0].items():
        if isinstance(v, np.ndarray):
            got = _np(st[key]) if st[key].dtype != torch.float32 else st[key].numpy()
            assert got.dtype == v.dtype, key
            assert np.array_equal(got.view(np.uint8), v.view(np.uint8)), key
    if master:
        again = getattr(ft, name)([emb.weight.detach().clone()], master_weights=True,
                                  **kwargs)
        again.load_state_dict(copy.deepcopy(opt.state_dict()))
        assert torch.equal(list(again.state.values())[0]["master"], st["master"])


def test_a_sparse_param_s_master_of_another_shape_is_refused():
    torch = torch_or_skip()
    import fastopt.torch as ft
    emb = torch.nn.Embedding(10, 4, sparse=True).to(torch.bfloat16)
    opt = ft.Adagrad(emb.parameters(), lr=0.1, master_weights=True)
    emb(torch.tensor([1, 2])).float().sum().backward()
    opt.step()
    before = emb.weight.detach().clone()
    opt.state[emb.weight]["master"] = torch.zeros(40)   # (the same count, another shape)
    emb(torch.tensor([1, 2])).float().sum().backward()
    with pytest.raises(ValueError, match="'master' must be a contiguous tensor of the param"):
        opt.step()
    assert torch.equal(emb.weight.detach(), before)


@pytest.mark.parametrize("name, kwargs", [c for c in SPARSE_CLASSES if c[0] != "SGD"],
                         ids=[c[0] for c in SPARSE_CLASSES if c[0] != "SGD"])
def test_sparse_grads_with_bfloat16_state_equal_the_numpy_object(name, kwargs):
    """A float32 nn.Embedding(sparse=True) with state_dtype=torch.bfloat16 (RowwiseAdagrad:
    its per-row sums too): the NumPy object's stochastic rounding from the same seed."""
    torch = torch_or_skip()
    import fastopt.torch as ft
    gen = torch.Generator().manual_seed(5)
    emb = torch.nn.Embedding(50, 17, sparse=True)
    table = emb.weight.detach().numpy().copy()
    opt = getattr(ft, name)(emb.parameters(), state_dtype=torch.bfloat16, seed=9, **kwargs)
    obj = getattr(fastopt, name)([table], state_dtype=BF16, seed=9, **kwargs)
    _embedding_steps(torch, emb, opt, obj, table, 3, gen)
    assert np.array_equal(emb.weight.detach().numpy(), table)
    for key, v in obj.state[0].items():
        if isinstance(v, np.ndarray):
            assert v.dtype == BF16 and opt.state[emb.weight][key].dtype == torch.bfloat16
            assert np.array_equal(_np(opt.state[emb.weight][key]).view(np.uint16),
                                  v.view(np.uint16)), key
