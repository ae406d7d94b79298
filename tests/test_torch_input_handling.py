"""Tensors fastopt.torch must handle: each either raises a clear error naming the param with
nothing written, or steps exactly as fastopt steps the same values in a plain layout (and as
torch.optim does, to rounding).

ZeroTensors (no memory), tensors reaching past their storage, lazy negation bits, and dense
layouts other than contiguous (channels_last conv weights).
"""
import pytest

from conftest import torch_or_skip
from torch_cases import CASES, CASE_IDS
from torch_util import TOL, classes


def _bad_grad_is_refused(make_grad, match):
    torch = torch_or_skip()
    import fastopt.torch as ft
    p = torch.zeros(5, requires_grad=True)
    opt = ft.Adam([p], lr=0.1)
    p.grad = make_grad(torch)
    with pytest.raises((ValueError, TypeError), match=match):
        opt.step()
    assert not p.detach().any()
    assert not opt.state.get(p)      # no state committed: the step did not happen


def test_a_zerotensor_grad_is_refused():
    _bad_grad_is_refused(lambda torch: torch._efficientzerotensor((5,)),
                         "param 0's grad is a ZeroTensor")


def test_a_grad_past_the_end_of_its_storage_is_refused():
    def make(torch):
        g = torch.ones(5)
        g.untyped_storage().resize_(8)   # 2 of the 5 floats left
        return g
    _bad_grad_is_refused(make, "param 0's grad reaches past the end of its storage")


def test_a_grad_with_the_negative_bit_is_refused():
    """torch reads x._neg_view() as -x though its memory holds x: reading the memory would
    step with the wrong sign (what the old step did, silently)."""
    _bad_grad_is_refused(lambda torch: torch.ones(5)._neg_view(),
                         "param 0's grad carries torch's lazy negation bit")


def test_a_param_with_the_negative_bit_is_refused_at_construction():
    torch = torch_or_skip()
    import fastopt.torch as ft
    with pytest.raises(ValueError, match="param 0 carries torch's lazy negation bit"):
        ft.SGD([torch.ones(3)._neg_view()], lr=0.1)


def test_a_meta_param_is_refused_at_construction():
    torch = torch_or_skip()
    import fastopt.torch as ft
    with pytest.raises(ValueError, match="param 0 is on device meta"):
        ft.Adam([torch.zeros(5, device="meta", requires_grad=True)])


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_channels_last_params_step_in_place_like_contiguous_ones(case):
    """A channels_last conv weight (the usual CPU CNN layout) with a channels_last grad: state
    is created with the param's strides (preserve_format, as torch), and the result equals
    the same step on contiguous copies, bitwise; torch.optim agrees to rounding."""
    torch = torch_or_skip()
    if case.name in ("SparseAdam", "RowwiseAdagrad"):
        pytest.skip("row kernels read whole rows: C order only")
    ours_cls, theirs_cls = classes(case)
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(4, 3, 5, 5, generator=gen)
    grads = [torch.randn(4, 3, 5, 5, generator=gen) for _ in range(3)]
    cl = base.clone().to(memory_format=torch.channels_last).requires_grad_()
    if case.name == "Adafactor":
        # its factors are the last two dims of C order: refused clearly, nothing written
        opt = ours_cls([cl])
        cl.grad = grads[0].to(memory_format=torch.channels_last)
        with pytest.raises(ValueError, match="param 0: the adafactor step keeps factored "
                                             "state .* must be C-contiguous"):
            opt.step()
        assert torch.equal(cl.detach(), base) and not opt.state
        return
    flat = base.clone().requires_grad_()
    ref = base.clone().requires_grad_()
    assert not cl.is_contiguous()
    kwargs = case.settings[-1] if case.settings else {}
    opts = [ours_cls([cl], **kwargs), ours_cls([flat], **kwargs), theirs_cls([ref], **kwargs)]
    for g in grads:
        cl.grad = g.to(memory_format=torch.channels_last)
        flat.grad = g.clone()
        ref.grad = g.clone()
        for opt in opts:
            opt.step()
    assert torch.equal(cl.detach(), flat.detach())
    assert cl.stride() == base.to(memory_format=torch.channels_last).stride()
    for key, value in opts[0].state[cl].items():
        if isinstance(value, torch.Tensor) and value.shape == cl.shape:
            assert value.stride() == cl.stride(), key
            assert torch.equal(value, opts[1].state[flat][key]), key
    torch.testing.assert_close(cl.detach(), ref.detach(), **TOL["float32"])


def test_a_grad_in_another_layout_than_its_param_is_refused():
    torch = torch_or_skip()
    import fastopt.torch as ft
    p = torch.zeros(4, 3, 5, 5).to(memory_format=torch.channels_last).requires_grad_()
    opt = ft.Adam([p], lr=0.1)
    p.grad = torch.ones(4, 3, 5, 5)
    with pytest.raises(ValueError, match="param 0: grad has another memory layout"):
        opt.step()
    assert not p.detach().any()
