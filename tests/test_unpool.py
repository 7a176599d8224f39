"""Chapter 08 decoder ops: max-pooling indices, max unpooling, nearest upsampling and
transposed convolution with output_padding. Finite differences (NumPy), NumPy ==
torch twin, twin == torch.nn.functional / torch.autograd, round trips, errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dlkit.numpy.conv as np_conv
import dlkit.torch.conv as pt_conv
from conftest import DEVICES
from dlkit.testing import assert_gradients_close, numerical_vjp

# (H, W, kernel_size, stride, padding) of the max pooling whose indices are unpooled:
# default stride, remainders (odd sizes), overlaps, pairs, padding.
POOL_CASES = [
    (8, 8, 2, None, 0), (7, 7, 2, None, 0), (7, 9, 3, 2, 1), (9, 9, 3, 1, 1),
    (6, 7, (2, 3), (1, 2), (1, 0)), (10, 9, 4, 3, 2), (5, 5, 1, None, 0),
]
POOL_IDS = ["-".join(map(str, c)) for c in POOL_CASES]
SCALES = [1, 2, 3, (2, 3), (1, 4)]


def to_np(t):
    return t.detach().cpu().numpy()


def relu_images(rng, H, W, n=2, c=3):
    """Random images, the first one after a ReLU (many tied zeros)."""
    x = rng.standard_normal((n, c, H, W))
    x[0] = np.maximum(x[0], 0)
    return x


def pooled(rng, case):
    """x, its max pooling, and torch's indices of the maxima (int64)."""
    H, W, k, s, p = case
    x = relu_images(rng, H, W)
    out, idx = F.max_pool2d(torch.tensor(x), k, s, p, return_indices=True)
    return x, out.numpy(), idx.numpy(), dict(kernel_size=k, stride=s, padding=p)


# ------------------------------------------------------------ max_pool2d_indices
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_max_pool2d_indices_equal_torchs_return_indices(rng, case, device):
    x, _, want, hp = pooled(rng, case)
    _, cache = np_conv.max_pool2d_forward(x, **hp)
    got = np_conv.max_pool2d_indices(cache)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    _, cache_t = pt_conv.max_pool2d_forward(torch.tensor(x, device=device), **hp)
    got_t = pt_conv.max_pool2d_indices(cache_t)
    assert got_t.dtype == torch.int64 and got_t.device.type == device
    np.testing.assert_array_equal(to_np(got_t), want)


@pytest.mark.parametrize("module", [np_conv, pt_conv])
def test_max_pool2d_indices_of_windows_without_a_finite_value(module):
    """A window of -inf (or padding and -inf) names its first real pixel, as torch."""
    x = np.full((1, 1, 4, 5), -np.inf)
    x[0, 0, 3, 4] = 1.0
    x[0, 0, 1, 1] = np.nan
    want = F.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)[1].numpy()
    if module is pt_conv:
        x = torch.tensor(x)
    _, cache = module.max_pool2d_forward(x, kernel_size=3, stride=2, padding=1)
    np.testing.assert_array_equal(np.asarray(module.max_pool2d_indices(cache)), want)


# ------------------------------------------------------------ 1. finite differences
@pytest.mark.parametrize("case", [POOL_CASES[i] for i in (0, 1, 2, 4)],
                         ids=[POOL_IDS[i] for i in (0, 1, 2, 4)])
def test_max_unpool2d_backward_matches_finite_differences(rng, case):
    x, out, idx, hp = pooled(rng, case)
    if hp["stride"] is not None and hp["stride"] != hp["kernel_size"]:
        # overlapping windows can name one pixel twice; give each value its own
        H, W = x.shape[2:]
        idx = np.stack([rng.choice(H * W, size=idx[0, 0].size, replace=False)
                        for _ in range(idx.shape[0] * idx.shape[1])])
        idx = idx.reshape(out.shape)
    u, cache = np_conv.max_unpool2d_forward(out, idx, **hp, output_size=x.shape)
    dout = rng.standard_normal(u.shape)
    want = numerical_vjp(
        lambda v: np_conv.max_unpool2d_forward(v, idx, **hp, output_size=x.shape)[0],
        out, dout)
    assert_gradients_close(np_conv.max_unpool2d_backward(dout, cache), want,
                           name="max unpool dx")


@pytest.mark.parametrize("scale_factor", SCALES)
def test_upsample_nearest2d_backward_matches_finite_differences(rng, scale_factor):
    x = rng.standard_normal((2, 3, 4, 5))
    out, cache = np_conv.upsample_nearest2d_forward(x, scale_factor=scale_factor)
    dout = rng.standard_normal(out.shape)
    want = numerical_vjp(
        lambda v: np_conv.upsample_nearest2d_forward(v, scale_factor=scale_factor)[0],
        x, dout)
    assert_gradients_close(np_conv.upsample_nearest2d_backward(dout, cache), want,
                           name="upsample dx")


# (H, W, KH, KW, stride, padding, output_padding): the decoder steps of an
# autoencoder (7 -> 14 -> 28), pairs, output_padding larger than padding.
TRANSPOSED_CASES = [
    (7, 7, 3, 3, 2, 1, 1), (14, 14, 4, 4, 2, 1, 0),
    (4, 5, 3, 2, (3, 2), (2, 0), (2, 1)),
    (3, 3, 3, 3, 3, 0, 2), (5, 4, 2, 3, 2, 0, (1, 0)),
]
TRANSPOSED_IDS = ["-".join(map(str, c)) for c in TRANSPOSED_CASES]


def transposed_data(rng, case):
    H, W, KH, KW, stride, padding, output_padding = case
    x = rng.standard_normal((2, 3, H, W))
    w, b = rng.standard_normal((3, 4, KH, KW)), rng.standard_normal(4)
    return x, w, b, dict(stride=stride, padding=padding, output_padding=output_padding)


@pytest.mark.parametrize("case", [TRANSPOSED_CASES[i] for i in (0, 2, 3)],
                         ids=[TRANSPOSED_IDS[i] for i in (0, 2, 3)])
def test_conv_transpose2d_output_padding_matches_finite_differences(rng, case):
    x, w, b, hp = transposed_data(rng, case)
    x = x[:1, :, :4, :4]                            # keep the check small
    out, cache = np_conv.conv_transpose2d_forward(x, w, b, **hp)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = np_conv.conv_transpose2d_backward(dout, cache)

    def f(x_=x, w_=w, b_=b):
        return np_conv.conv_transpose2d_forward(x_, w_, b_, **hp)[0]

    assert_gradients_close(dx, numerical_vjp(lambda v: f(x_=v), x, dout), name="dx")
    assert_gradients_close(dw, numerical_vjp(lambda v: f(w_=v), w, dout), name="dw")
    assert_gradients_close(db, numerical_vjp(lambda v: f(b_=v), b, dout), name="db")


# ------------------------------------------------------------ 2./3. twins and torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_max_unpool2d_twin_matches_numpy_and_torch(rng, case, dtype, device):
    x, out, idx, hp = pooled(rng, case)
    np_out = out.astype(np.float32) if dtype == torch.float32 else out
    k, st, p = (np.broadcast_to(v, 2) for v in (hp["kernel_size"],
                                                hp["stride"] or hp["kernel_size"],
                                                hp["padding"]))
    default = tuple((np.array(out.shape[2:]) - 1) * st - 2 * p + k)
    # the default output size, when it is the pooled input's size (no remainder)
    for size in (x.shape, x.shape[2:]) + ((None,) if default == x.shape[2:] else ()):
        ref, cache = np_conv.max_unpool2d_forward(np_out, idx, **hp, output_size=size)
        assert ref.dtype == np_out.dtype
        dout = rng.standard_normal(ref.shape).astype(np_out.dtype)
        ref_dx = np_conv.max_unpool2d_backward(dout, cache)
        xt = torch.tensor(np_out, device=device, requires_grad=True)
        it, doutt = torch.tensor(idx, device=device), torch.tensor(dout, device=device)
        got = pt_conv.MaxUnpool2dFn.apply(xt, it, hp["kernel_size"], hp["stride"],
                                          hp["padding"], size)
        got.backward(doutt)
        x2 = xt.detach().clone().requires_grad_()
        want = F.max_unpool2d(x2, it, hp["kernel_size"], hp["stride"], hp["padding"],
                              size)
        want.backward(doutt)
        torch.testing.assert_close(got, want, rtol=0, atol=0)
        torch.testing.assert_close(xt.grad, x2.grad)
        np.testing.assert_array_equal(to_np(got), ref)
        tol = 1e-12 if dtype == torch.float64 else 1e-6
        np.testing.assert_allclose(to_np(xt.grad), ref_dx, rtol=tol, atol=tol)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("scale_factor", SCALES)
def test_upsample_nearest2d_twin_matches_numpy_and_torch(rng, scale_factor, dtype,
                                                         device):
    x = rng.standard_normal((2, 3, 5, 4))
    np_x = x.astype(np.float32) if dtype == torch.float32 else x
    ref, cache = np_conv.upsample_nearest2d_forward(np_x, scale_factor=scale_factor)
    assert ref.dtype == np_x.dtype
    dout = rng.standard_normal(ref.shape).astype(np_x.dtype)
    ref_dx = np_conv.upsample_nearest2d_backward(dout, cache)
    xt = torch.tensor(np_x, device=device, requires_grad=True)
    doutt = torch.tensor(dout, device=device)
    got = pt_conv.UpsampleNearest2dFn.apply(xt, scale_factor)
    got.backward(doutt)
    x2 = xt.detach().clone().requires_grad_()
    want = F.interpolate(x2, scale_factor=scale_factor, mode="nearest")
    want.backward(doutt)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(xt.grad, x2.grad)
    np.testing.assert_array_equal(to_np(got), ref)
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    np.testing.assert_allclose(to_np(xt.grad), ref_dx, rtol=tol, atol=tol)


@pytest.mark.parametrize("s", range(1, 9))
def test_upsample_nearest2d_equals_interpolate_for_every_small_factor(rng, s):
    x = rng.standard_normal((1, 2, 3, 5))
    want = F.interpolate(torch.tensor(x), scale_factor=s, mode="nearest").numpy()
    np.testing.assert_array_equal(np_conv.upsample_nearest2d_forward(
        x, scale_factor=s)[0], want)


@pytest.mark.parametrize("device", DEVICES)
def test_torch_twin_forwards_are_differentiable_by_autograd(rng, device):
    """The twins' forwards are tensor ops (scatter, expand), so autograd goes through
    them too and must give torch's gradients."""
    x, out, idx, hp = pooled(rng, POOL_CASES[2])
    xt = torch.tensor(out, device=device, requires_grad=True)
    it = torch.tensor(idx, device=device)
    u, _ = pt_conv.max_unpool2d_forward(xt, it, **hp, output_size=x.shape)
    up, _ = pt_conv.upsample_nearest2d_forward(u, scale_factor=2)
    up.square().sum().backward()
    x2 = xt.detach().clone().requires_grad_()
    u2 = F.max_unpool2d(x2, it, hp["kernel_size"], hp["stride"], hp["padding"],
                        x.shape)
    F.interpolate(u2, scale_factor=2, mode="nearest").square().sum().backward()
    torch.testing.assert_close(xt.grad, x2.grad)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", TRANSPOSED_CASES, ids=TRANSPOSED_IDS)
def test_conv_transpose2d_output_padding_twin_matches_numpy_and_torch(rng, case, bias,
                                                                      device):
    x, w, b, hp = transposed_data(rng, case)
    b = b if bias else None
    ref, cache = np_conv.conv_transpose2d_forward(x, w, b, **hp)
    dout = rng.standard_normal(ref.shape)
    ref_grads = np_conv.conv_transpose2d_backward(dout, cache)
    args = [torch.tensor(a, device=device, requires_grad=True) for a in (x, w)]
    args += [None if b is None else torch.tensor(b, device=device, requires_grad=True)]
    got = pt_conv.ConvTranspose2dFn.apply(*args, hp["stride"], hp["padding"],
                                          hp["output_padding"])
    doutt = torch.tensor(dout, device=device)
    got.backward(doutt)
    ref_args = [None if t is None else t.detach().clone().requires_grad_()
                for t in args]
    want = F.conv_transpose2d(*ref_args, hp["stride"], hp["padding"],
                              hp["output_padding"])
    want.backward(doutt)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want)
    np.testing.assert_allclose(to_np(got), ref, rtol=1e-10, atol=1e-12)
    for t, r, g in zip(args, ref_args, ref_grads):
        assert (t is None) == (g is None)
        if t is not None:
            torch.testing.assert_close(t.grad, r.grad)
            np.testing.assert_allclose(to_np(t.grad), g, rtol=1e-10, atol=1e-12)


def test_output_padding_undoes_a_stride_2_convolution_shape(rng):
    """conv2d(k3, s2, p1) maps 14 and 13 to 7; output_padding picks which one the
    transposed conv returns, and it is the adjoint of that conv2d (8.6)."""
    w = rng.standard_normal((4, 3, 3, 3))
    for size, output_padding in ((14, 1), (13, 0)):
        x = rng.standard_normal((2, 3, size, size))
        conv_x = np_conv.conv2d_forward(x, w, stride=2, padding=1)[0]
        assert conv_x.shape[2:] == (7, 7)
        y = rng.standard_normal(conv_x.shape)
        xt = np_conv.conv_transpose2d_forward(y, w, stride=2, padding=1,
                                              output_padding=output_padding)[0]
        assert xt.shape == x.shape
        assert np.sum(conv_x * y) == pytest.approx(np.sum(x * xt), rel=1e-12)


# ------------------------------------------------------------ round trips
@pytest.mark.parametrize("module", [np_conv, pt_conv])
@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_max_pool_then_unpool_puts_each_maximum_back(rng, module, case):
    H, W, k, s, p = case
    x = rng.permutation(2 * 3 * H * W).reshape(2, 3, H, W) - 10.0   # distinct values
    xm = torch.tensor(x) if module is pt_conv else x
    hp = dict(kernel_size=k, stride=s, padding=p)
    out, cache = module.max_pool2d_forward(xm, **hp)
    idx = module.max_pool2d_indices(cache)
    u = np.asarray(module.max_unpool2d_forward(out, idx, **hp,
                                               output_size=x.shape)[0])
    assert u.shape == x.shape
    # the winners are back where they were, everything else is zero ...
    winners = np.zeros(x.shape, bool).reshape(2, 3, -1)
    np.put_along_axis(winners, np.asarray(idx).reshape(2, 3, -1), True, axis=2)
    winners = winners.reshape(x.shape)
    np.testing.assert_array_equal(u[winners], x[winners])
    np.testing.assert_array_equal(u[~winners], 0.0)
    # ... so pooling again finds the same maxima where they are positive
    again = np.asarray(module.max_pool2d_forward(
        torch.tensor(u) if module is pt_conv else u, **hp)[0])
    o = np.asarray(out)
    np.testing.assert_array_equal(again[o > 0], o[o > 0])


def test_unpooling_needs_output_size_when_the_pooling_dropped_a_remainder():
    """7x7 pooled by 2 gives 3x3, which unpools to 6x6 by default: the indices are
    positions in the 7x7 plane (the maximum of the last window is at (5, 5), index
    40 >= 36), so output_size=(7, 7) is needed."""
    x = np.arange(49.0).reshape(1, 1, 7, 7)
    out, cache = np_conv.max_pool2d_forward(x, kernel_size=2)
    idx = np_conv.max_pool2d_indices(cache)
    assert idx.max() == 5 * 7 + 5
    with pytest.raises(ValueError, match=r"from 0 to 35.*pass its shape as "
                                         r"`output_size`"):
        np_conv.max_unpool2d_forward(out, idx, kernel_size=2)
    u = np_conv.max_unpool2d_forward(out, idx, kernel_size=2, output_size=x.shape)[0]
    want = F.max_unpool2d(torch.tensor(out), torch.tensor(idx), 2,
                          output_size=(7, 7)).numpy()
    np.testing.assert_array_equal(u, want)


def test_numpy_ops_do_not_modify_their_inputs(rng):
    x, out, idx, hp = pooled(rng, POOL_CASES[2])
    copies = [a.copy() for a in (out, idx)]
    u, cache = np_conv.max_unpool2d_forward(out, idx, **hp, output_size=x.shape)
    dout = rng.standard_normal(u.shape)
    dout_copy = dout.copy()
    np_conv.max_unpool2d_backward(dout, cache)
    up, c2 = np_conv.upsample_nearest2d_forward(out, scale_factor=2)
    up[...] = 7.0                                   # the output is not a view of x
    np_conv.upsample_nearest2d_backward(np.ones_like(up), c2)
    for a, c in zip((out, idx, dout), copies + [dout_copy]):
        np.testing.assert_array_equal(a, c)


# ------------------------------------------------------------ error messages
X = np.zeros((2, 3, 4, 4))
IDX = np.zeros((2, 3, 4, 4), dtype=np.int64)


@pytest.mark.parametrize("call, message", [
    (lambda: np_conv.max_unpool2d_forward(X[0], IDX[0], kernel_size=2),
     r"max_unpool2d_forward: `x` has shape \(3, 4, 4\), expected 4 dimensions "
     r"\(N, C, H, W\)\. For one image \(C, H, W\) add a batch axis: x\[None\]"),
    (lambda: np_conv.max_unpool2d_forward(X, IDX[:, :, :3], kernel_size=2),
     r"`indices` has shape \(2, 3, 3, 4\), expected the shape of `x`, "
     r"\(2, 3, 4, 4\)"),
    (lambda: np_conv.max_unpool2d_forward(X, IDX + 64, kernel_size=2),
     r"`indices` range from 64 to 64, but they are flat positions in the 8x8 output "
     r"of each channel, from 0 to 63"),
    (lambda: np_conv.max_unpool2d_forward(X, IDX - 1, kernel_size=2),
     r"`indices` range from -1 to -1"),
    (lambda: np_conv.max_unpool2d_forward(X, IDX, kernel_size=2, output_size=(11, 8)),
     r"`output_size`=\(11, 8\) is not the input size of a max pooling.*height must "
     r"be between 6 and 10 \(exclusive\)"),
    (lambda: np_conv.max_unpool2d_forward(X, IDX, kernel_size=2, output_size=8),
     r"`output_size` must be None or a pair \(H, W\) of ints"),
    (lambda: np_conv.max_unpool2d_forward(X, IDX, kernel_size=2,
                                          output_size=(8.0, 8.0)),
     r"`output_size` must be None or a pair"),
    (lambda: np_conv.max_unpool2d_forward(X, IDX, kernel_size=0),
     r"`kernel_size` must be an int >= 1"),
    (lambda: np_conv.max_unpool2d_forward(X, IDX, kernel_size=2, stride=0),
     r"`stride` must be an int >= 1"),
    (lambda: np_conv.max_unpool2d_forward(X[:, :, :1, :1], IDX[:, :, :1, :1],
                                          kernel_size=1, padding=1),
     r"the output would be -1x-1"),
    (lambda: np_conv.max_unpool2d_backward(
        np.zeros((2, 3, 4, 4)),
        np_conv.max_unpool2d_forward(X, IDX, kernel_size=2)[1]),
     r"max_unpool2d_backward: `dout` has shape \(2, 3, 4, 4\), expected "
     r"\(2, 3, 8, 8\)"),
    (lambda: np_conv.upsample_nearest2d_forward(X[0, 0], scale_factor=2),
     r"upsample_nearest2d_forward: `x` has shape \(4, 4\).*x\[None, None\]"),
    (lambda: np_conv.upsample_nearest2d_forward(X, scale_factor=1.5),
     r"`scale_factor` must be an int >= 1 or a pair \(h, w\) of them, got 1\.5\. "
     r"Nearest upsampling here repeats every pixel a whole number of times"),
    (lambda: np_conv.upsample_nearest2d_forward(X, scale_factor=2.0),
     r"got 2\.0.*for 2\.0 pass 2"),
    (lambda: np_conv.upsample_nearest2d_forward(X, scale_factor=0),
     r"`scale_factor` must be an int >= 1"),
    (lambda: np_conv.upsample_nearest2d_forward(X, scale_factor=(2, 2, 2)),
     r"`scale_factor` must be"),
    (lambda: np_conv.upsample_nearest2d_backward(
        np.zeros((2, 3, 4, 4)),
        np_conv.upsample_nearest2d_forward(X, scale_factor=2)[1]),
     r"upsample_nearest2d_backward: `dout` has shape \(2, 3, 4, 4\), expected "
     r"\(2, 3, 8, 8\)"),
    (lambda: np_conv.conv_transpose2d_forward(X, np.zeros((3, 2, 3, 3)), stride=2,
                                              output_padding=2),
     r"conv_transpose2d_forward: `output_padding`=2 must be smaller than `stride`=2 "
     r"in each dimension.*output_padding <= stride - 1"),
    (lambda: np_conv.conv_transpose2d_forward(X, np.zeros((3, 2, 3, 3)),
                                              output_padding=1),
     r"`output_padding`=1 must be smaller than `stride`=1.*0 for stride 1"),
    (lambda: np_conv.conv_transpose2d_forward(X, np.zeros((3, 2, 3, 3)),
                                              output_padding=-1),
     r"`output_padding` must be an int >= 0"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("fn, args, kwargs", [
    ("max_unpool2d_forward", (X[0], IDX[0]), {"kernel_size": 2}),
    ("max_unpool2d_forward", (X, IDX[:, :, :3]), {"kernel_size": 2}),
    ("max_unpool2d_forward", (X, IDX + 64), {"kernel_size": 2}),
    ("max_unpool2d_forward", (X, IDX), {"kernel_size": 2, "output_size": (5, 5)}),
    ("upsample_nearest2d_forward", (X,), {"scale_factor": 1.5}),
    ("conv_transpose2d_forward", (X, np.zeros((3, 2, 3, 3))),
     {"stride": (2, 1), "output_padding": (1, 1)}),
])
def test_the_torch_twin_raises_the_same_errors(fn, args, kwargs):
    with pytest.raises(ValueError) as np_error:
        getattr(np_conv, fn)(*args, **kwargs)
    targs = [torch.tensor(a) for a in args]
    with pytest.raises(ValueError) as pt_error:
        getattr(pt_conv, fn)(*targs, **kwargs)
    assert str(pt_error.value) == str(np_error.value)


def test_wrong_types_and_caches_are_explained():
    with pytest.raises(TypeError, match=r"`indices` must hold integers.*float64"):
        np_conv.max_unpool2d_forward(X, IDX.astype(float), kernel_size=2)
    with pytest.raises(TypeError, match=r"`indices` is a torch.Tensor"):
        np_conv.max_unpool2d_forward(X, torch.tensor(IDX), kernel_size=2)
    with pytest.raises(TypeError, match=r"`indices` must be an integer torch.Tensor"):
        pt_conv.max_unpool2d_forward(torch.tensor(X), torch.tensor(IDX).double(),
                                     kernel_size=2)
    with pytest.raises(TypeError, match=r"`indices` must be an integer torch.Tensor.*"
                                        r"ndarray"):
        pt_conv.max_unpool2d_forward(torch.tensor(X), IDX, kernel_size=2)
    with pytest.raises(TypeError, match="convert with dlkit.to_torch"):
        pt_conv.upsample_nearest2d_forward(X, scale_factor=2)
    # a cache of one backend handed to the other
    _, np_cache = np_conv.max_pool2d_forward(X, kernel_size=2)
    _, pt_cache = pt_conv.max_pool2d_forward(torch.tensor(X), kernel_size=2)
    with pytest.raises(TypeError, match=r"comes from the other backend; use "
                                        r"dlkit.torch.conv.max_pool2d_indices"):
        np_conv.max_pool2d_indices(pt_cache)
    with pytest.raises(TypeError, match=r"use dlkit.numpy.conv.max_pool2d_indices"):
        pt_conv.max_pool2d_indices(np_cache)
    with pytest.raises(TypeError, match=r"forward function \(MaxPool2dCache\)"):
        np_conv.max_pool2d_indices(None)
    _, u_cache = np_conv.max_unpool2d_forward(X, IDX, kernel_size=2)
    with pytest.raises(TypeError, match=r"forward function \(MaxUnpool2dCache\)"):
        np_conv.max_unpool2d_backward(np.zeros((2, 3, 8, 8)), np_cache)
    with pytest.raises(TypeError, match="comes from the other backend"):
        pt_conv.max_unpool2d_backward(torch.zeros(2, 3, 8, 8), u_cache)
    _, t_cache = pt_conv.upsample_nearest2d_forward(torch.zeros(1, 1, 2, 2),
                                                    scale_factor=2)
    with pytest.raises(ValueError, match=r"ran in torch.float32 but `dout` is "
                                         r"torch.float64"):
        pt_conv.upsample_nearest2d_backward(torch.zeros(1, 1, 4, 4,
                                                        dtype=torch.float64), t_cache)
