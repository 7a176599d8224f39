"""Convolution and pooling: finite differences (NumPy), NumPy == torch twin,
twin == torch.nn.functional / torch.autograd, max-pool ties, output sizes, errors."""
import inspect
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dlkit.numpy.conv as np_conv
import dlkit.torch.conv as pt_conv
from conftest import DEVICES
from dlkit.testing import assert_gradients_close, numerical_vjp

# (N, C, H, W, F, KH, KW, stride, padding, dilation): odd sizes, non-square kernels,
# pairs, dilation, 1x1 kernels; both memory layouts of the im2col engine (see
# test_the_cases_cover_both_layouts).
CONV_CASES = [
    (2, 3, 7, 9, 4, 3, 2, 1, 0, 1),
    (3, 2, 12, 12, 5, 3, 3, 1, 1, 1),            # shared padding ('same' conv)
    (2, 3, 11, 13, 4, 3, 5, 1, (1, 2), 1),        # shared padding, non-square
    (2, 3, 9, 7, 4, 3, 3, 2, 1, 1),
    (2, 3, 10, 11, 2, 2, 3, (2, 3), (1, 0), (2, 1)),
    (1, 2, 12, 13, 3, 3, 5, 1, 2, 2),
    (2, 3, 6, 6, 2, 1, 1, 3, 0, 1),
    (2, 4, 5, 5, 3, 1, 1, 1, 0, 1),               # 1x1 kernel: shared padding
    (1, 1, 5, 5, 1, 5, 5, 1, 0, 1),               # kernel as large as the input
    (5, 4, 28, 28, 6, 3, 3, 1, 1, 1),             # the benchmark's geometry
]
CASE_IDS = ["-".join(map(str, c)) for c in CONV_CASES]
# (H, W, kernel_size, stride, padding): default stride, overlaps, pairs, remainders
POOL_CASES = [
    (8, 8, 2, None, 0), (7, 9, 3, 2, 1), (9, 9, 3, 1, 1),
    (6, 7, (2, 3), (1, 2), (1, 0)), (5, 5, 1, None, 0), (7, 7, 2, None, 0),
    (10, 9, 4, 3, 2), (6, 6, 3, None, 0),
]
POOL_IDS = ["-".join(map(str, c)) for c in POOL_CASES]


def conv_data(rng, case, transposed=False):
    N, C, H, W, F_, KH, KW, stride, padding, dilation = case
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((C, F_, KH, KW) if transposed else (F_, C, KH, KW))
    b = rng.standard_normal(F_)
    return x, w, b, dict(stride=stride, padding=padding, dilation=dilation)


def tensors(device, *arrays, dtype=torch.float64, grad=True):
    return [torch.tensor(a, device=device, dtype=dtype, requires_grad=grad)
            for a in arrays]


def to_np(t):
    return t.detach().cpu().numpy()


def detached_copies(args):
    """Fresh leaves with the same values, for the torch.autograd reference."""
    return [None if t is None else t.detach().clone().requires_grad_() for t in args]


# ------------------------------------------------------------ 1. finite differences
@pytest.mark.parametrize("case", [CONV_CASES[i] for i in (0, 1, 2, 4, 7)],
                         ids=[CASE_IDS[i] for i in (0, 1, 2, 4, 7)])
def test_conv2d_backward_matches_finite_differences(rng, case):
    x, w, b, hp = conv_data(rng, case)
    x, w = x[:, :, :7, :8], w                       # keep the check small
    out, cache = np_conv.conv2d_forward(x, w, b, **hp)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = np_conv.conv2d_backward(dout, cache)

    def f(x_=x, w_=w, b_=b):
        return np_conv.conv2d_forward(x_, w_, b_, **hp)[0]

    assert_gradients_close(dx, numerical_vjp(lambda v: f(x_=v), x, dout), name="dx")
    assert_gradients_close(dw, numerical_vjp(lambda v: f(w_=v), w, dout), name="dw")
    assert_gradients_close(db, numerical_vjp(lambda v: f(b_=v), b, dout), name="db")


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((2, 1), (0, 1))])
def test_conv_transpose2d_backward_matches_finite_differences(rng, stride, padding):
    x, w, b = (rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((3, 2, 3, 2)),
               rng.standard_normal(2))
    hp = dict(stride=stride, padding=padding)
    out, cache = np_conv.conv_transpose2d_forward(x, w, b, **hp)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = np_conv.conv_transpose2d_backward(dout, cache)

    def f(x_=x, w_=w, b_=b):
        return np_conv.conv_transpose2d_forward(x_, w_, b_, **hp)[0]

    assert_gradients_close(dx, numerical_vjp(lambda v: f(x_=v), x, dout), name="dx")
    assert_gradients_close(dw, numerical_vjp(lambda v: f(w_=v), w, dout), name="dw")
    assert_gradients_close(db, numerical_vjp(lambda v: f(b_=v), b, dout), name="db")


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_pool_backward_matches_finite_differences(rng, kind, case):
    H, W, k, s, p = case
    # Distinct values 1e-3 apart, far more than h: no maximum changes under the probe.
    x = rng.permutation(2 * 3 * H * W).reshape(2, 3, H, W) * 1e-3
    forward = getattr(np_conv, f"{kind}_pool2d_forward")
    backward = getattr(np_conv, f"{kind}_pool2d_backward")
    out, cache = forward(x, kernel_size=k, stride=s, padding=p)
    dout = rng.standard_normal(out.shape)
    want = numerical_vjp(lambda v: forward(v, kernel_size=k, stride=s, padding=p)[0],
                         x, dout)
    assert_gradients_close(backward(dout, cache), want, name=f"{kind} pool dx")


# ------------------------------------------------------------ 2./3. twins and torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", CONV_CASES, ids=CASE_IDS)
def test_conv2d_twin_matches_numpy_and_torch(rng, case, bias, device):
    x, w, b, hp = conv_data(rng, case)
    b = b if bias else None
    ref, cache = np_conv.conv2d_forward(x, w, b, **hp)
    dout = rng.standard_normal(ref.shape)
    ref_grads = np_conv.conv2d_backward(dout, cache)
    assert (ref_grads[2] is None) == (not bias)

    args = tensors(device, x, w) + ([None] if b is None else tensors(device, b))
    out = pt_conv.Conv2dFn.apply(*args, hp["stride"], hp["padding"], hp["dilation"])
    doutt = torch.tensor(dout, device=device)
    out.backward(doutt)
    # the twin == the NumPy reference (values and hand-written gradients) ...
    np.testing.assert_allclose(to_np(out), ref, rtol=1e-10, atol=1e-12)
    for t, g in zip(args, ref_grads):
        if t is not None:
            np.testing.assert_allclose(to_np(t.grad), g, rtol=1e-10, atol=1e-12)
    # ... and F.conv2d with torch.autograd
    ref_args = detached_copies(args)
    want = F.conv2d(*ref_args, hp["stride"], hp["padding"], hp["dilation"])
    want.backward(doutt)
    torch.testing.assert_close(out, want)
    for t, r in zip(args, ref_args):
        if t is not None:
            torch.testing.assert_close(t.grad, r.grad)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", [CONV_CASES[i] for i in (1, 3, 4, 9)],
                         ids=[CASE_IDS[i] for i in (1, 3, 4, 9)])
def test_conv2d_float32_keeps_its_dtype_and_matches_torch(rng, case, device):
    x, w, b, hp = (a.astype(np.float32) if isinstance(a, np.ndarray) else a
                   for a in conv_data(rng, case))
    out, cache = np_conv.conv2d_forward(x, w, b, **hp)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    grads = np_conv.conv2d_backward(dout, cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    xt, wt, bt = tensors(device, x, w, b, dtype=torch.float32)
    o = pt_conv.Conv2dFn.apply(xt, wt, bt, hp["stride"], hp["padding"], hp["dilation"])
    o.backward(torch.tensor(dout, device=device))
    assert o.dtype == torch.float32 and xt.grad.dtype == torch.float32
    x2, w2, b2 = (t.detach().clone().requires_grad_() for t in (xt, wt, bt))
    want = F.conv2d(x2, w2, b2, hp["stride"], hp["padding"], hp["dilation"])
    want.backward(torch.tensor(dout, device=device))
    refs = (want, x2.grad, w2.grad, b2.grad)
    for got, ref in zip((o, xt.grad, wt.grad, bt.grad), refs):
        close32(to_np(got), to_np(ref))
    for got, ref in zip((out,) + grads, refs):
        close32(got, to_np(ref))


def close32(got, want):
    """float32 sums of thousands of products (dw): an error relative to the scale."""
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("device", DEVICES)
def test_torch_twin_forward_is_differentiable_by_autograd(rng, device):
    """The twin's forward is made of tensor ops, so autograd can also go through it."""
    x, w, b, hp = conv_data(rng, CONV_CASES[1])
    xt, wt, bt = tensors(device, x, w, b)
    out, _ = pt_conv.conv2d_forward(xt, wt, bt, **hp)
    out.square().sum().backward()
    x2, w2, b2 = (t.detach().clone().requires_grad_() for t in (xt, wt, bt))
    F.conv2d(x2, w2, b2, hp["stride"], hp["padding"]).square().sum().backward()
    for t, r in zip((xt, wt, bt), (x2, w2, b2)):
        torch.testing.assert_close(t.grad, r.grad)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (3, 2), ((2, 1), (1, 0))])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose2d_twin_matches_numpy_and_torch(rng, stride, padding, bias,
                                                       device):
    x, w, b = (rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((3, 4, 3, 2)),
               rng.standard_normal(4))
    b = b if bias else None
    hp = dict(stride=stride, padding=padding)
    ref, cache = np_conv.conv_transpose2d_forward(x, w, b, **hp)
    dout = rng.standard_normal(ref.shape)
    ref_grads = np_conv.conv_transpose2d_backward(dout, cache)
    args = tensors(device, x, w) + ([None] if b is None else tensors(device, b))
    out = pt_conv.ConvTranspose2dFn.apply(*args, stride, padding)
    doutt = torch.tensor(dout, device=device)
    out.backward(doutt)
    ref_args = detached_copies(args)
    want = F.conv_transpose2d(*ref_args, stride, padding)
    want.backward(doutt)
    torch.testing.assert_close(out, want)
    np.testing.assert_allclose(to_np(out), ref, rtol=1e-10, atol=1e-12)
    for t, r, g in zip(args, ref_args, ref_grads):
        if t is not None:
            torch.testing.assert_close(t.grad, r.grad)
            np.testing.assert_allclose(to_np(t.grad), g, rtol=1e-10, atol=1e-12)


def test_conv_transpose2d_is_the_adjoint_of_conv2d(rng):
    r""":math:`\langle \mathrm{conv}(x), y\rangle
    = \langle x, \mathrm{conv}^\top(y)\rangle`, for x of the size that
    conv_transpose2d returns (9 x 7 for stride 2 and padding 1)."""
    x, w = rng.standard_normal((2, 3, 9, 7)), rng.standard_normal((4, 3, 3, 3))
    conv_x = np_conv.conv2d_forward(x, w, stride=2, padding=1)[0]
    y = rng.standard_normal(conv_x.shape)
    xt = np_conv.conv_transpose2d_forward(y, w, stride=2, padding=1)[0]
    assert xt.shape == x.shape
    assert np.sum(conv_x * y) == pytest.approx(np.sum(x * xt), rel=1e-12)


POOLS = {"max": (pt_conv.MaxPool2dFn, F.max_pool2d),
         "avg": (pt_conv.AvgPool2dFn, F.avg_pool2d)}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", list(POOLS))
@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_pool_twin_matches_numpy_and_torch(rng, case, kind, dtype, device):
    H, W, k, s, p = case
    x = rng.standard_normal((2, 3, H, W))
    x[0] = np.maximum(x[0], 0)                      # ReLU outputs: many tied zeros
    np_x = x.astype(np.float32) if dtype == torch.float32 else x
    ref, cache = getattr(np_conv, f"{kind}_pool2d_forward")(np_x, kernel_size=k,
                                                            stride=s, padding=p)
    assert ref.dtype == np_x.dtype
    dout = rng.standard_normal(ref.shape).astype(np_x.dtype)
    ref_dx = getattr(np_conv, f"{kind}_pool2d_backward")(dout, cache)
    function, reference = POOLS[kind]
    (xt,) = tensors(device, x, dtype=dtype)
    out = function.apply(xt, k, s, p)
    doutt = torch.tensor(dout, device=device)
    out.backward(doutt)
    x2 = xt.detach().clone().requires_grad_()
    want = reference(x2, k, s, p)
    want.backward(doutt)
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(xt.grad, x2.grad)
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    np.testing.assert_allclose(to_np(out), ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(to_np(xt.grad), ref_dx, rtol=tol, atol=tol)


# ------------------------------------------------------------------ 4. max-pool ties
def naive_mask_backward(x, dout, k):
    """The common mistake: every entry equal to its window's max gets the gradient."""
    N, C, H, W = x.shape
    windows = x.reshape(N, C, H // k, k, W // k, k)
    mask = windows == windows.max(axis=(3, 5), keepdims=True)
    return (mask * dout[:, :, :, None, :, None]).reshape(x.shape)


@pytest.mark.parametrize("device", DEVICES)
def test_max_pool_ties_go_to_the_first_maximum_like_torch(rng, device):
    x = np.zeros((1, 1, 4, 4))
    out, cache = np_conv.max_pool2d_forward(x, kernel_size=2)
    dx = np_conv.max_pool2d_backward(np.ones(out.shape), cache)
    want = np.zeros((4, 4))
    want[::2, ::2] = 1.0                            # top-left of every window
    np.testing.assert_array_equal(dx[0, 0], want)
    xt = torch.zeros((1, 1, 4, 4), device=device, requires_grad=True)
    F.max_pool2d(xt, 2).sum().backward()
    np.testing.assert_array_equal(to_np(xt.grad)[0, 0], want)
    # ReLU outputs: ties among zeros and among equal positives (a row-major tie)
    x = np.maximum(rng.standard_normal((2, 3, 6, 8)), 0)
    x[0, 0, 0, :2] = x[0, 0, 1, :2] = 0.7
    dout = rng.standard_normal((2, 3, 3, 4))
    out, cache = np_conv.max_pool2d_forward(x, kernel_size=2)
    got = np_conv.max_pool2d_backward(dout, cache)
    (xt,) = tensors(device, x)
    F.max_pool2d(xt, 2).backward(torch.tensor(dout, device=device))
    np.testing.assert_array_equal(got, to_np(xt.grad))
    _, cache_t = pt_conv.max_pool2d_forward(xt, kernel_size=2)
    got_pt = pt_conv.max_pool2d_backward(torch.tensor(dout, device=device), cache_t)
    np.testing.assert_array_equal(to_np(got_pt), to_np(xt.grad))
    # this input tells the right rule from the `== max` mask
    assert not np.array_equal(naive_mask_backward(x, dout, 2), got)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("k, s, p",
                         [(3, 1, 0), (3, 2, 1), (2, 1, 1), ((3, 2), 1, (1, 0))])
def test_max_pool_overlapping_windows_accumulate_with_ties(rng, k, s, p, device):
    x = np.maximum(rng.standard_normal((2, 2, 7, 6)), 0).round(1)   # many ties
    out, cache = np_conv.max_pool2d_forward(x, kernel_size=k, stride=s, padding=p)
    dout = rng.standard_normal(out.shape)
    got = np_conv.max_pool2d_backward(dout, cache)
    (xt,) = tensors(device, x)
    F.max_pool2d(xt, k, s, p).backward(torch.tensor(dout, device=device))
    np.testing.assert_allclose(got, to_np(xt.grad), rtol=1e-12, atol=1e-15)
    # each window routes its gradient exactly once
    assert got.sum() == pytest.approx(dout.sum())
    assert np.count_nonzero(got) < x.size         # ... to few pixels, some twice


@pytest.mark.parametrize("module", [np_conv, pt_conv])
def test_max_pool_propagates_nan_like_torch(module):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = x[0, 0, 3, 3] = np.nan
    dout = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    xt = torch.tensor(x, requires_grad=True)
    want = F.max_pool2d(xt, 2)
    want.backward(torch.tensor(dout))
    if module is pt_conv:
        x, dout = torch.tensor(x), torch.tensor(dout)
    out, cache = module.max_pool2d_forward(x, kernel_size=2)
    dx = module.max_pool2d_backward(dout, cache)
    np.testing.assert_array_equal(np.asarray(out), to_np(want))     # nan == nan here
    np.testing.assert_array_equal(np.asarray(dx), to_np(xt.grad))


# ------------------------------------------------------------------ engine details
def test_the_cases_cover_both_layouts():
    """The im2col engine uses shared padding for most stride-1 convs, plain padding
    otherwise; the parametrised cases must exercise both."""
    layouts = set()
    for N, C, H, W, F_, KH, KW, stride, padding, dilation in CONV_CASES:
        g = np_conv._conv_geometry("t", (N, C, H, W), (F_, C, KH, KW), stride, padding,
                                   dilation)
        layouts.add("shared" if (g.R, g.Wr) == (H + g.padding[0], W + g.padding[1])
                    and (g.GH, g.GW) == (g.R, g.Wr) else "plain")
    assert layouts == {"shared", "plain"}


@pytest.mark.parametrize("case", [CONV_CASES[i] for i in (1, 4, 9)],
                         ids=[CASE_IDS[i] for i in (1, 4, 9)])
@pytest.mark.parametrize("images_per_chunk", [1, 2, 3])
def test_chunking_does_not_change_the_result(rng, case, images_per_chunk, monkeypatch):
    x, w, b, hp = conv_data(rng, case)
    x = np.concatenate([x] * 3)[:5]                # 5 images: uneven last chunk
    want, cache = np_conv.conv2d_forward(x, w, b, **hp)
    dout = rng.standard_normal(want.shape)
    want_grads = np_conv.conv2d_backward(dout, cache)
    g = cache.geometry
    per_image = (g.KH * g.KW * g.C + 1) * g.GH * g.GW * x.itemsize
    monkeypatch.setattr(np_conv, "_CHUNK_BYTES", images_per_chunk * per_image)
    assert len(np_conv._chunks(5, per_image)) == -(-5 // images_per_chunk)
    out, cache = np_conv.conv2d_forward(x, w, b, **hp)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    for got, ref in zip(np_conv.conv2d_backward(dout, cache), want_grads):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    t = F.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), hp["stride"],
                 hp["padding"], hp["dilation"])
    np.testing.assert_allclose(out, t.numpy(), rtol=1e-10, atol=1e-12)


def test_numpy_layers_do_not_modify_their_inputs(rng):
    x, w, b, hp = conv_data(rng, CONV_CASES[1])
    copies = [a.copy() for a in (x, w, b)]
    out, cache = np_conv.conv2d_forward(x, w, b, **hp)
    dout = rng.standard_normal(out.shape)
    dout_copy = dout.copy()
    np_conv.conv2d_backward(dout, cache)
    for kind in ("max", "avg"):
        o, c = getattr(np_conv, f"{kind}_pool2d_forward")(x, kernel_size=3, stride=2,
                                                          padding=1)
        getattr(np_conv, f"{kind}_pool2d_backward")(np.ones_like(o), c)
    for a, c in zip((x, w, b, dout), copies + [dout_copy]):
        np.testing.assert_array_equal(a, c)


def test_integer_inputs_become_float64():
    x = np.arange(2 * 9 * 9).reshape(1, 2, 9, 9)
    w = np.ones((3, 2, 3, 3), dtype=np.int64)
    out, _ = np_conv.conv2d_forward(x, w, padding=1)
    assert out.dtype == np.float64
    assert np_conv.max_pool2d_forward(x, kernel_size=3)[0].dtype == np.float64


# ------------------------------------------------------------------ 5. output sizes
def test_conv_output_size_matches_the_shapes_torch_returns():
    checked = failed = 0
    for size, k, s, p, d in itertools.product(range(1, 9), range(1, 5), range(1, 4),
                                              range(0, 3), range(1, 3)):
        x, w = torch.zeros(1, 1, size, size + 1), torch.zeros(1, 1, k, k)
        try:
            want = F.conv2d(x, w, stride=s, padding=p, dilation=d).shape[2]
        except RuntimeError:                        # kernel larger than padded input
            with pytest.raises(ValueError, match="Needed: size \\+ 2\\*padding >="):
                np_conv.conv_output_size(size, k, stride=s, padding=p, dilation=d)
            failed += 1
            continue
        assert np_conv.conv_output_size(size, k, stride=s, padding=p,
                                        dilation=d) == want, (size, k, s, p, d)
        checked += 1
    assert checked > 400 and failed > 20
    assert pt_conv.conv_output_size is np_conv.conv_output_size


@pytest.mark.parametrize("case", CONV_CASES, ids=CASE_IDS)
def test_forward_shapes_match_torch(rng, case):
    x, w, _, hp = conv_data(rng, case)
    want = F.conv2d(torch.tensor(x), torch.tensor(w), None, hp["stride"], hp["padding"],
                    hp["dilation"]).shape
    assert np_conv.conv2d_forward(x, w, **hp)[0].shape == tuple(want)


# ------------------------------------------------------------------ 6. names
def test_twins_have_the_same_public_names_and_signatures():
    twin_only = {"Conv2dFn", "ConvTranspose2dFn", "MaxPool2dFn", "AvgPool2dFn",
                 "MaxUnpool2dFn", "UpsampleNearest2dFn"}
    assert [n for n in pt_conv.__all__ if n not in twin_only] == np_conv.__all__
    for name in np_conv.__all__:
        pa = inspect.signature(getattr(np_conv, name)).parameters
        pb = inspect.signature(getattr(pt_conv, name)).parameters
        assert [(p.name, p.kind, p.default) for p in pa.values()] == \
               [(p.name, p.kind, p.default) for p in pb.values()], name
    import dlkit.numpy
    import dlkit.torch
    assert dlkit.numpy.conv is np_conv and dlkit.torch.conv is pt_conv


def test_the_api_other_modules_rely_on():
    sig = inspect.signature(np_conv.conv2d_forward)
    assert list(sig.parameters) == ["x", "w", "b", "stride", "padding", "dilation"]
    assert sig.parameters["b"].default is None
    sig = inspect.signature(np_conv.max_pool2d_forward)
    kinds = [p.kind for p in sig.parameters.values()]
    assert kinds[1:] == [inspect.Parameter.KEYWORD_ONLY] * 3
    assert sig.parameters["stride"].default is None
    assert sig.parameters["padding"].default == 0
    sig = inspect.signature(np_conv.conv_output_size)
    assert list(sig.parameters) == ["size", "kernel_size", "stride", "padding",
                                    "dilation"]


# ------------------------------------------------------------------ 7. error messages
X, W = np.zeros((2, 3, 8, 8)), np.zeros((4, 3, 3, 3))


def _out_cache():
    out, cache = np_conv.conv2d_forward(X, W, np.zeros(4), padding=1)
    return out, cache


@pytest.mark.parametrize("call, message", [
    (lambda: np_conv.conv2d_forward(X[0], W),
     r"conv2d_forward: `x` has shape \(3, 8, 8\), expected 4 dimensions "
     r"\(N, C, H, W\)\. For one image \(C, H, W\) add a batch axis: x\[None\]"),
    (lambda: np_conv.conv2d_forward(X[0, 0], W), r"x\[None, None\]"),
    (lambda: np_conv.conv2d_forward(X, np.zeros((4, 2, 3, 3))),
     r"`w` has shape \(4, 2, 3, 3\), expected \(F, C, KH, KW\) with C=3.*dlkit stores "
     r"conv weights as \(F, C, KH, KW\), like torch.nn.Conv2d"),
    (lambda: np_conv.conv2d_forward(X, np.zeros((3, 3, 3))),
     r"`w` has shape \(3, 3, 3\), expected 4 dimensions \(F, C, KH, KW\)"),
    (lambda: np_conv.conv2d_forward(X, W, np.zeros(3)),
     r"`b` has shape \(3,\), expected \(F,\) with F=4.*one entry per filter"),
    (lambda: np_conv.conv2d_forward(X, np.zeros((4, 3, 11, 3))),
     r"conv2d_forward: the kernel \(size 11\) spans 11 pixels of the height, but the "
     r"padded input has only height \+ 2\*padding = 8 \+ 2\*0 = 8.*Needed: height \+ "
     r"2\*padding >= 11.*padding >= 2"),
    (lambda: np_conv.conv2d_forward(X, W, dilation=(1, 4)),
     r"kernel \(kernel size 3, dilation 4\) spans 9 pixels of the width"),
    (lambda: np_conv.conv2d_forward(X, W, stride=0),
     r"`stride` must be an int >= 1 or a pair \(h, w\) of them, got 0"),
    (lambda: np_conv.conv2d_forward(X, W, stride=(1, 0)), r"`stride` must be an int"),
    (lambda: np_conv.conv2d_forward(X, W, stride=1.5), r"`stride` must be an int >= 1"),
    (lambda: np_conv.conv2d_forward(X, W, stride=True), r"`stride` must be an int"),
    (lambda: np_conv.conv2d_forward(X, W, padding=-1),
     r"`padding` must be an int >= 0"),
    (lambda: np_conv.conv2d_forward(X, W, padding=(1, 1, 1)), r"`padding` must be"),
    (lambda: np_conv.conv2d_forward(X, W, dilation=0), r"`dilation` must be an int"),
    (lambda: np_conv.conv2d_backward(np.zeros((2, 4, 7, 8)), _out_cache()[1]),
     r"conv2d_backward: `dout` has shape \(2, 4, 7, 8\), expected \(2, 4, 8, 8\)"),
    (lambda: np_conv.max_pool2d_forward(X[0], kernel_size=2),
     r"add a batch axis: x\[None\]"),
    (lambda: np_conv.max_pool2d_forward(X, kernel_size=3, padding=2),
     r"max_pool2d_forward: `padding`=2 must be at most half of `kernel_size`=3.*"
     r"padding <= 1"),
    (lambda: np_conv.avg_pool2d_forward(X, kernel_size=(2, 4), padding=(1, 3)),
     r"avg_pool2d_forward: `padding`=\(1, 3\) must be at most half"),
    (lambda: np_conv.max_pool2d_forward(X, kernel_size=9), r"spans 9 pixels.*Needed"),
    (lambda: np_conv.max_pool2d_forward(X, kernel_size=0),
     r"`kernel_size` must be an int >= 1"),
    (lambda: np_conv.avg_pool2d_forward(X, kernel_size=2, stride=0),
     r"`stride` must be"),
    (lambda: np_conv.max_pool2d_backward(
        np.zeros((2, 3, 3, 4)), np_conv.max_pool2d_forward(X, kernel_size=2)[1]),
     r"max_pool2d_backward: `dout` has shape \(2, 3, 3, 4\), expected \(2, 3, 4, 4\)"),
    (lambda: np_conv.avg_pool2d_backward(
        np.zeros((2, 3)), np_conv.avg_pool2d_forward(X, kernel_size=2)[1]),
     r"avg_pool2d_backward: `dout` has shape \(2, 3\), expected \(2, 3, 4, 4\)"),
    (lambda: np_conv.conv_output_size(2, 5),
     r"conv_output_size: the kernel \(size 5\) spans 5 pixels.*Needed: size \+ "
     r"2\*padding >= 5"),
    (lambda: np_conv.conv_output_size(8, 3, stride=0), r"`stride` must be an int >= 1"),
    (lambda: np_conv.conv_transpose2d_forward(X, np.zeros((4, 3, 3, 3))),
     r"`w` has shape \(4, 3, 3, 3\), expected \(C_in, C_out, KH, KW\) with C_in=3.*"
     r"torch.nn.ConvTranspose2d"),
    (lambda: np_conv.conv_transpose2d_forward(np.zeros((1, 3, 1, 1)),
                                              np.zeros((3, 4, 3, 3)), padding=2),
     r"conv_transpose2d_forward: the output would be -1x-1"),
    (lambda: np_conv.conv_transpose2d_backward(
        np.zeros((2, 3, 8, 8)),
        np_conv.conv_transpose2d_forward(X, np.zeros((3, 2, 3, 3)))[1]),
     r"conv_transpose2d_backward: `dout` has shape \(2, 3, 8, 8\), expected "
     r"\(2, 2, 10, 10\)"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("fn, args, kwargs", [
    ("conv2d_forward", (X[0], W), {}),
    ("conv2d_forward", (X, np.zeros((4, 2, 3, 3))), {}),
    ("conv2d_forward", (X, W), {"stride": 0}),
    ("max_pool2d_forward", (X,), {"kernel_size": 3, "padding": 2}),
    ("avg_pool2d_forward", (X[0],), {"kernel_size": 2}),
    ("conv_transpose2d_forward", (X, np.zeros((4, 3, 3, 3))), {}),
])
def test_the_torch_twin_raises_the_same_errors(fn, args, kwargs):
    with pytest.raises(ValueError) as np_error:
        getattr(np_conv, fn)(*args, **kwargs)
    targs = [torch.tensor(a) for a in args]
    with pytest.raises(ValueError) as pt_error:
        getattr(pt_conv, fn)(*targs, **kwargs)
    assert str(pt_error.value) == str(np_error.value)


def test_backward_with_the_wrong_cache_is_explained():
    _, pool_cache = np_conv.max_pool2d_forward(X, kernel_size=2)
    returned = "second value returned by the matching forward"
    with pytest.raises(TypeError, match=returned):
        np_conv.conv2d_backward(np.zeros((2, 4, 8, 8)), pool_cache)
    with pytest.raises(TypeError, match=r"forward function \(AvgPool2dCache\)"):
        np_conv.avg_pool2d_backward(np.zeros((2, 3, 4, 4)), pool_cache)
    with pytest.raises(TypeError, match=returned):
        pt_conv.max_pool2d_backward(torch.zeros(2, 3, 4, 4), None)


def test_mixing_backends_dtypes_and_devices_is_explained():
    with pytest.raises(TypeError, match="Use the twin in dlkit.torch"):
        np_conv.conv2d_forward(torch.zeros(2, 3, 8, 8), W)
    with pytest.raises(TypeError, match="convert with dlkit.to_torch"):
        pt_conv.conv2d_forward(X, torch.zeros(4, 3, 3, 3))
    with pytest.raises(TypeError, match="convert with dlkit.to_torch"):
        pt_conv.max_pool2d_forward(X, kernel_size=2)
    with pytest.raises(ValueError, match=r"`x` is torch.float32 on cpu but `w` is "
                                         r"torch.float64"):
        pt_conv.conv2d_forward(torch.zeros(2, 3, 8, 8),
                               torch.zeros(4, 3, 3, 3, dtype=torch.float64))
    _, cache = pt_conv.conv2d_forward(torch.zeros(2, 3, 8, 8), torch.zeros(4, 3, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d_backward: the forward pass ran in "
                                         r"torch.float32 on cpu but `dout` is "
                                         r"torch.float64"):
        pt_conv.conv2d_backward(torch.zeros(2, 4, 6, 6, dtype=torch.float64), cache)
    with pytest.raises(TypeError, match="must be a floating-point tensor"):
        pt_conv.conv2d_forward(torch.zeros(2, 3, 8, 8, dtype=torch.int64),
                               torch.zeros(4, 3, 3, 3))
