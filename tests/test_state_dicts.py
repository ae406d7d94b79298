"""State dicts: state_dict() copies, load_state_dict() checks everything before changing
anything and casts to the param's dtype, a round trip continues bit for bit (every case of
tests/cases.py); torch-style SGD dicts (buffer only) and buffers that flags switch on."""
import copy

import numpy as np
import pytest

import fastopt
from fastopt import reference
from cases import CASE_IDS, CASES
from test_flags_and_buffers import GATED, GATED_IDS, ON, _off


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_state_dict_round_trip_continues_identically(case):
    rng = np.random.default_rng(4)
    params = [rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(5)]
    opt = case.cls([{"params": [params[0]]}, {"params": [params[1]], **case.obj_kwargs}])
    grads = [[rng.standard_normal(p.shape).astype(p.dtype) for p in params] for _ in range(8)]
    for g in grads[:4]:
        opt.step(g)
    sd = opt.state_dict()
    saved = copy.deepcopy(sd)
    clones = [p.copy() for p in params]
    for g in grads[4:]:
        opt.step(g)
    # the saved dict is a copy: stepping did not change it
    for i, st in saved["state"].items():
        for key, value in st.items():
            assert np.array_equal(np.asarray(value), np.asarray(sd["state"][i][key]))
    other = case.cls([{"params": [clones[0]]}, {"params": [clones[1]]}])
    other.load_state_dict(sd)
    assert other.param_groups[1]["lr"] == opt.param_groups[1]["lr"]
    for g in grads[4:]:
        other.step(g)
    for a, b in zip(params, clones):
        assert np.array_equal(a, b)
    for i in opt.state:
        for key, value in opt.state[i].items():
            assert np.array_equal(np.asarray(value), np.asarray(other.state[i][key])), key


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_load_state_dict_rejects_what_does_not_fit(case):
    p = np.zeros((2, 3), np.float32)
    q = np.zeros(4, np.float64)
    opt = case.cls([{"params": [p]}, {"params": [q]}], **case.obj_kwargs)
    opt.step([np.ones_like(p), np.ones_like(q)])
    good = opt.state_dict()
    key = next(k for k, v in good["state"][0].items() if isinstance(v, np.ndarray))
    required = [k for k, v in good["state"][0].items()
                if isinstance(v, np.ndarray) and k not in opt._optional_keys()]

    def broken(fn):
        sd = copy.deepcopy(good)
        fn(sd)
        return sd

    bad = {
        "not a dict": [1, 2],
        "missing key": {"state": {}},
        "group count": broken(lambda sd: sd["param_groups"].pop()),
        "group size": broken(lambda sd: sd["param_groups"][0]["params"].append(7)),
        "state shape": broken(lambda sd: sd["state"][0].__setitem__(key, np.zeros(6))),
        "state dtype": broken(lambda sd: sd["state"][0].__setitem__(
            key, np.zeros((2, 3), np.int32))),
        **({"state keys": broken(lambda sd: sd["state"][0].pop(required[0]))}
           if required else {}),
        "extra key": broken(lambda sd: sd["state"][0].__setitem__("bogus", 1)),
        "unknown id": broken(lambda sd: sd["state"].__setitem__(99, sd["state"][0])),
        "bad step": broken(lambda sd: sd["state"][1].__setitem__("step", -3)),
        "bad hyper": broken(lambda sd: sd["param_groups"][1].__setitem__("lr", -1.0)),
    }
    before = opt.state_dict()
    for name, sd in bad.items():
        with pytest.raises(ValueError):
            opt.load_state_dict(sd)
        now = opt.state_dict()
        assert now["param_groups"] == before["param_groups"], name
        for i, st in before["state"].items():
            for k, v in st.items():
                assert np.array_equal(np.asarray(v), np.asarray(now["state"][i][k])), name


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_load_state_dict_casts_to_the_param_dtype(case):
    p = np.zeros(3, np.float32)
    opt = case.cls([p], **case.obj_kwargs)
    opt.step([np.ones(3, np.float32)])
    sd = opt.state_dict()
    for key, value in sd["state"][0].items():
        if isinstance(value, np.ndarray):
            sd["state"][0][key] = value.astype(np.float64)
    opt.load_state_dict(sd)
    for key, value in opt.state[0].items():
        if key in case.cls.algorithm.scalar_state:
            # one number per param (NAdam's mu_product, ...): computed in its own dtype, kept
            assert value.dtype == np.float64 and value.shape == (), key
        elif isinstance(value, np.ndarray):
            assert value.dtype == np.float32 and value.flags.c_contiguous
    opt.step([np.ones(3, np.float32)])


def test_sgd_loads_a_torch_style_state_dict_as_started():
    """torch.optim.SGD saves only the buffer: it must be used (step 2 path), not overwritten."""
    rng = np.random.default_rng(0)
    p = rng.standard_normal(5)
    buf = rng.standard_normal(5)
    kwargs = dict(lr=0.1, momentum=0.9, dampening=0.25)
    opt = fastopt.SGD([p], **kwargs)
    opt.load_state_dict({"state": {0: {"momentum_buffer": buf.copy()}},
                         "param_groups": [dict(kwargs, nesterov=False, weight_decay=0.0,
                                               maximize=False, params=[0])]})
    assert opt.state[0]["step"] == 1
    q, b = p.copy(), buf.copy()
    g = rng.standard_normal(5)
    opt.step([g])
    reference.sgd([q], [g], [b], 2, **kwargs)
    assert np.array_equal(p, q) and np.array_equal(opt.state[0]["momentum_buffer"], b)


def test_sgd_loads_a_missing_buffer_as_not_started():
    p = np.zeros(3)
    opt = fastopt.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    sd = opt.state_dict()
    sd["state"] = {0: {}}  # torch keeps no entry for a param it never stepped
    opt.load_state_dict(sd)
    assert opt.state[0]["step"] == 0
    opt.step([np.full(3, 2.0)])
    assert np.array_equal(opt.state[0]["momentum_buffer"], np.full(3, 2.0))


def test_rmsprop_load_state_dict_optional_buffers():
    opt = fastopt.RMSprop([np.zeros(3, np.float32)], momentum=0.9)
    opt.step([np.ones(3, np.float32)])
    good = opt.state_dict()
    bad = copy.deepcopy(good)
    bad["state"][0]["momentum_buffer"] = None
    with pytest.raises(ValueError, match="momentum_buffer' is None"):
        opt.load_state_dict(bad)
    # a buffer the group's settings do not use now (momentum switched off) loads and is
    # kept, checked: a state dict saved after a flag was switched off loads back
    extra = copy.deepcopy(good)
    extra["param_groups"][0]["momentum"] = 0.0
    opt.load_state_dict(extra)
    assert np.array_equal(opt.state[0]["momentum_buffer"], good["state"][0]["momentum_buffer"])
    extra["state"][0]["momentum_buffer"] = np.zeros(5)
    with pytest.raises(ValueError, match="momentum_buffer' has shape"):
        opt.load_state_dict(extra)


def test_sgd_load_state_dict_buffer_without_momentum():
    """SGD keeps the key either way: None, or a buffer kept after momentum was set to 0."""
    opt = fastopt.SGD([np.zeros(3, np.float32)], lr=0.1, momentum=0.9)
    opt.step([np.ones(3, np.float32)])
    sd = opt.state_dict()
    sd["param_groups"][0]["momentum"] = 0.0
    sd["state"][0]["momentum_buffer"] = np.ones(3)
    opt.load_state_dict(sd)
    assert opt.state[0]["momentum_buffer"].dtype == np.float32
    opt.step([np.ones(3, np.float32)])
    assert np.array_equal(opt.state[0]["momentum_buffer"], np.ones(3, np.float32))
    sd["state"][0]["momentum_buffer"] = np.ones(4)
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(sd)



def _flag_change_params():
    out = []
    for case, gate, name, key in GATED:
        for direction in ("on", "off"):
            out.append(pytest.param(case, gate, name, direction,
                                    id=f"{case.name}-{gate}-{direction}",
                                    ))
    return out


@pytest.mark.parametrize("case, gate, name, direction", _flag_change_params())
def test_a_state_dict_saved_after_a_flag_changed_loads_back(case, gate, name, direction):
    """Switch a flag on (or off) in a group, step, save: the state dict loads into a fresh
    optimizer and into the one that saved it, and both continue bit for bit."""
    rng = np.random.default_rng(14)
    start, then = (_off(ON[gate]), ON[gate]) if direction == "on" else (ON[gate], _off(ON[gate]))
    p = rng.standard_normal((3, 4))
    opt = case.cls([p], **{**case.obj_kwargs, gate: start})
    opt.step([rng.standard_normal((3, 4))])
    opt.param_groups[0][gate] = then
    opt.step([rng.standard_normal((3, 4))])
    sd = opt.state_dict()
    q = p.copy()
    other = case.cls([q], **case.obj_kwargs)
    other.load_state_dict(sd)
    opt.load_state_dict(sd)
    assert other.param_groups[0][gate] == then
    for _ in range(2):
        g = rng.standard_normal((3, 4))
        opt.step([g])
        other.step([g])
    assert np.array_equal(p, q)
    assert set(opt.state[0]) == set(other.state[0])
    for k, v in opt.state[0].items():
        w = other.state[0][k]
        assert (w is None) if v is None else np.array_equal(v, w), k



@pytest.mark.parametrize("case", [c for c in CASES if c.name != "rowwise_adagrad"],
                         ids=lambda c: c.name)
@pytest.mark.parametrize("order", [
    pytest.param("C", id="C"),
    pytest.param("F", id="F"), pytest.param("T", id="T")])
def test_a_round_trip_keeps_working_for_any_dense_layout(case, order):
    """A param in any dense layout steps (test_validation.py); after a state dict round trip
    (into itself and into a fresh optimizer) it keeps stepping, bit for bit."""
    rng = np.random.default_rng(15)
    base = rng.standard_normal((4, 3, 5))
    layout = {"C": np.ascontiguousarray, "F": np.asfortranarray,
              "T": lambda a: np.ascontiguousarray(a.transpose(2, 0, 1)).transpose(1, 2, 0)}[order]
    p, q = layout(base.copy()), layout(base.copy())   # (C: ascontiguousarray does not copy)
    assert not np.shares_memory(p, q)
    opt = case.cls([p], **case.obj_kwargs)
    grads = [layout(rng.standard_normal(base.shape)) for _ in range(4)]
    if case.name == "adafactor" and order != "C":
        with pytest.raises(ValueError, match="param 0: the adafactor step keeps factored state"):
            opt.step([grads[0]])   # its factors are the last two dims of C order
        return
    for g in grads[:2]:
        opt.step([g])
    q[...] = p
    other = case.cls([q], **case.obj_kwargs)
    other.load_state_dict(opt.state_dict())
    opt.load_state_dict(opt.state_dict())
    for g in grads[2:]:
        opt.step([g])
        other.step([g])
    assert np.array_equal(p, q)
    for k, v in opt.state[0].items():
        w = other.state[0][k]
        assert (w is None) if v is None else np.array_equal(v, w), k
