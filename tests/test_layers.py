"""Layers: finite differences (NumPy), NumPy == torch twin, twin == torch.autograd / F.*."""
import inspect

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import dlkit.numpy.layers as np_layers
import dlkit.torch.layers as pt_layers
from conftest import DEVICES
from dlkit.testing import assert_gradients_close, numerical_gradient

ACTS = {  # name: (torch reference, torch autograd Function, extra args)
    "relu": (F.relu, pt_layers.ReLUFn, ()),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), pt_layers.LeakyReLUFn, (0.1,)),
    "sigmoid": (torch.sigmoid, pt_layers.SigmoidFn, ()),
    "tanh": (torch.tanh, pt_layers.TanhFn, ()),
}


def away_from_kink(rng, shape):
    """Inputs at least 0.1 from 0, where finite differences of ReLU are exact."""
    x = rng.standard_normal(shape)
    return x + 0.1 * np.sign(x)


# ------------------------------------------------------------------ 1. finite differences
def test_linear_backward_matches_finite_differences(rng):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((5, 3)), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    _, cache = np_layers.linear_forward(x, w, b)
    dx, dw, db = np_layers.linear_backward(dout, cache)

    def loss(x_, w_, b_):
        return np.sum(np_layers.linear_forward(x_, w_, b_)[0] * dout)

    assert_gradients_close(dx, numerical_gradient(lambda v: loss(v, w, b), x))
    assert_gradients_close(dw, numerical_gradient(lambda v: loss(x, v, b), w))
    assert_gradients_close(db, numerical_gradient(lambda v: loss(x, w, v), b))


def test_linear_accepts_leading_axes_and_no_bias(rng):
    x, w = rng.standard_normal((2, 3, 4)), rng.standard_normal((6, 4))
    dout = rng.standard_normal((2, 3, 6))
    y, cache = np_layers.linear_forward(x, w)
    dx, dw, db = np_layers.linear_backward(dout, cache)
    assert y.shape == (2, 3, 6) and db is None
    assert_gradients_close(dw, numerical_gradient(
        lambda v: np.sum(np_layers.linear_forward(x, v)[0] * dout), w))
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    F.linear(xt, wt).backward(torch.tensor(dout))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", list(ACTS))
def test_activation_backward_matches_finite_differences(name, rng):
    forward, backward = np_layers.ACTIVATIONS[name]
    x, dout = away_from_kink(rng, (3, 4)), rng.standard_normal((3, 4))
    _, cache = forward(x)
    got = backward(dout, cache)
    want = numerical_gradient(lambda v: np.sum(forward(v)[0] * dout), x)
    assert_gradients_close(got, want)


def test_mlp_backward_matches_finite_differences(rng):
    params = np_layers.mlp_init([3, 5, 4, 2], rng=rng)
    x, dout = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    for activation in np_layers.ACTIVATIONS:
        _, cache = np_layers.mlp_forward(x, params, activation=activation)
        grads = np_layers.mlp_backward(dout, cache)
        for l, (w, b) in enumerate(params):
            for k, p in enumerate((w, b)):
                def loss(v, l=l, k=k):
                    trial = [list(pair) for pair in params]
                    trial[l][k] = v
                    out = np_layers.mlp_forward(x, trial, activation=activation)[0]
                    return np.sum(out * dout)
                assert_gradients_close(grads[l][k], numerical_gradient(loss, p))


# ------------------------------------------------------------------ 2./3. twins and torch
@pytest.mark.parametrize("device", DEVICES)
def test_linear_twin_matches_numpy_and_autograd(rng, device):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((5, 3)), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    ref_y, cache = np_layers.linear_forward(x, w, b)
    ref_grads = np_layers.linear_backward(dout, cache)
    xt, wt, bt, doutt = (torch.tensor(a, device=device, requires_grad=True)
                         for a in (x, w, b, dout))
    y = pt_layers.LinearFn.apply(xt, wt, bt)
    y.backward(doutt)
    torch.testing.assert_close(y, F.linear(xt, wt, bt))
    np.testing.assert_allclose(y.detach().cpu().numpy(), ref_y, rtol=1e-12)
    for t, g in zip((xt, wt, bt), ref_grads):
        np.testing.assert_allclose(t.grad.cpu().numpy(), g, rtol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(ACTS))
def test_activation_twin_matches_numpy_and_autograd(name, rng, device):
    reference, function, extra = ACTS[name]
    x, dout = away_from_kink(rng, (5, 4)), rng.standard_normal((5, 4))
    np_fwd, np_bwd = np_layers.ACTIVATIONS[name]
    ref_out, cache = np_fwd(x, *extra)
    ref_dx = np_bwd(dout, cache)
    xt = torch.tensor(x, device=device, requires_grad=True)
    out = function.apply(xt, *extra)
    out.backward(torch.tensor(dout, device=device))
    torch.testing.assert_close(out, reference(xt))
    np.testing.assert_allclose(out.detach().cpu().numpy(), ref_out, rtol=1e-12)
    np.testing.assert_allclose(xt.grad.cpu().numpy(), ref_dx, rtol=1e-12)
    # ... and the hand-written backward equals autograd's.
    x2 = xt.detach().clone().requires_grad_(True)
    reference(x2).backward(torch.tensor(dout, device=device))
    torch.testing.assert_close(xt.grad, x2.grad)


def test_relu_gradient_at_zero_is_zero_like_torch():
    x = np.array([-1.0, 0.0, 2.0])
    _, cache = np_layers.relu_forward(x)
    xt = torch.tensor(x, requires_grad=True)
    F.relu(xt).sum().backward()
    np.testing.assert_array_equal(np_layers.relu_backward(np.ones(3), cache), xt.grad.numpy())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fn, reference", [("softmax", F.softmax),
                                           ("log_softmax", F.log_softmax)])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_twins_match_torch(fn, reference, axis, rng, device):
    x = 5 * rng.standard_normal((3, 4, 5))
    want = reference(torch.tensor(x, device=device), dim=axis)
    got_np = getattr(np_layers, fn)(x, axis=axis)
    got_pt = getattr(pt_layers, fn)(torch.tensor(x, device=device), axis=axis)
    torch.testing.assert_close(got_pt, want)
    np.testing.assert_allclose(got_np, want.cpu().numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("module", [np_layers, pt_layers])
def test_softmax_is_stable_and_a_distribution(module):
    x = np.array([[1000.0, 999.0, -1000.0], [-1e300, 0.0, 1e-300]])
    if module is pt_layers:
        x = torch.tensor(x)
    p = np.asarray(module.softmax(x))
    logp = np.asarray(module.log_softmax(x))
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(logp))
    np.testing.assert_allclose(p.sum(axis=-1), 1.0)
    np.testing.assert_allclose(p[0, :2], [1 / (1 + np.exp(-1)), 1 / (1 + np.e)])
    assert logp[0, 2] == pytest.approx(-2000 - np.log1p(np.exp(-1)))


def test_sigmoid_is_stable_for_huge_inputs():
    x = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    with np.errstate(over="raise", invalid="raise"):   # no overflow, no nan
        s, _ = np_layers.sigmoid_forward(x)
    np.testing.assert_allclose(s, torch.sigmoid(torch.tensor(x)).numpy(), rtol=1e-15)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("activation", list(ACTS))
def test_mlp_twin_equals_numpy_and_nn_sequential(activation, device):
    sizes = [4, 8, 6, 3]
    params = np_layers.mlp_init(sizes, rng=np.random.default_rng(5))
    params_t = pt_layers.mlp_init(sizes, rng=np.random.default_rng(5), device=device,
                                  dtype=torch.float64)
    x = np.random.default_rng(6).standard_normal((7, 4))
    dout = np.random.default_rng(7).standard_normal((7, 3))
    ref, cache = np_layers.mlp_forward(x, params, activation=activation)
    ref_grads = np_layers.mlp_backward(dout, cache)
    xt = torch.tensor(x, device=device)
    out, cache_t = pt_layers.mlp_forward(xt, params_t, activation=activation)
    grads_t = pt_layers.mlp_backward(torch.tensor(dout, device=device), cache_t)
    np.testing.assert_allclose(out.cpu().numpy(), ref, rtol=1e-12)
    # the same network as torch.nn modules, and its autograd gradients
    act = {"relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(), "sigmoid": nn.Sigmoid(),
           "tanh": nn.Tanh()}[activation]
    linears = [nn.Linear(a, b, dtype=torch.float64, device=device)
               for a, b in zip(sizes[:-1], sizes[1:])]
    model = nn.Sequential(linears[0], act, linears[1], act, linears[2])
    with torch.no_grad():
        for lin, (w, b) in zip(linears, params_t):
            lin.weight.copy_(w)
            lin.bias.copy_(b)
    model(xt).backward(torch.tensor(dout, device=device))
    torch.testing.assert_close(out, model(xt))
    for lin, (dw, db), (ref_dw, ref_db) in zip(linears, grads_t, ref_grads):
        torch.testing.assert_close(dw, lin.weight.grad)
        torch.testing.assert_close(db, lin.bias.grad)
        np.testing.assert_allclose(dw.cpu().numpy(), ref_dw, rtol=1e-12)
        np.testing.assert_allclose(db.cpu().numpy(), ref_db, rtol=1e-12)


def test_mlp_init_is_uniform_like_nn_linear_and_reproducible():
    params = np_layers.mlp_init([100, 400, 3], rng=np.random.default_rng(0))
    assert [(w.shape, b.shape) for w, b in params] == [((400, 100), (400,)), ((3, 400), (3,))]
    w = params[0][0]
    assert np.abs(w).max() <= 0.1 and np.abs(w).max() > 0.099     # bound 1/sqrt(100)
    assert abs(w.var() - 0.1**2 / 3) < 1e-4                          # variance of U(-a, a)
    again = np_layers.mlp_init([100, 400, 3], rng=np.random.default_rng(0))
    np.testing.assert_array_equal(again[1][0], params[1][0])
    g = torch.Generator().manual_seed(0)
    wt = pt_layers.mlp_init([100, 400, 3], rng=g)[0][0]
    assert wt.dtype == torch.float32 and 0.099 < wt.abs().max() <= 0.1


def test_num_parameters_matches_torch_count():
    sizes = [784, 256, 128, 10]
    model = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
    assert np_layers.num_parameters(sizes) == sum(p.numel() for p in model.parameters())


def test_twins_have_the_same_public_names_and_signatures():
    twin_only = {"LinearFn", "ReLUFn", "LeakyReLUFn", "SigmoidFn", "TanhFn"}
    assert [n for n in pt_layers.__all__ if n not in twin_only] == np_layers.__all__
    for name in np_layers.__all__:
        a, b = getattr(np_layers, name), getattr(pt_layers, name)
        if not callable(a):
            assert list(a) == list(b)
            continue
        pa, pb = inspect.signature(a).parameters, inspect.signature(b).parameters
        assert list(pa) == [p for p in pb if p not in ("device", "dtype")], name
        for p in pa:
            assert pa[p].default == pb[p].default, (name, p)


def test_numpy_layers_do_not_modify_their_inputs(rng):
    x = rng.standard_normal((3, 4))
    x_copy = x.copy()
    for forward, backward in np_layers.ACTIVATIONS.values():
        out, cache = forward(x)
        backward(np.ones_like(out), cache)
    np_layers.softmax(x)
    np.testing.assert_array_equal(x, x_copy)


# ------------------------------------------------------------------ error messages
@pytest.mark.parametrize("call, message", [
    (lambda: np_layers.linear_forward(np.zeros((2, 3)), np.zeros((3, 4)), np.zeros(4)),
     r"`w` has shape \(3, 4\), expected \(D_out, D_in\) with D_in=3.*pass w.T"),
    (lambda: np_layers.linear_forward(np.zeros((2, 3)), np.zeros((4, 3)), np.zeros(3)),
     r"`b` has shape \(3,\), expected \(D_out,\) with D_out=4"),
    (lambda: np_layers.linear_forward(np.float64(1.0), np.zeros((4, 3))),
     r"`x` is a scalar"),
    (lambda: np_layers.softmax(np.zeros((2, 3)), axis=2),
     r"`axis` must be an int from -2 to 1"),
    (lambda: np_layers.mlp_forward(np.zeros((5, 2)),
                                   np_layers.mlp_init([3, 4, 1], rng=np.random.default_rng())),
     r"`x` has shape \(5, 2\), 2 features.*first layer takes 3"),
    (lambda: np_layers.mlp_forward(np.zeros((5, 3)),
                                   np_layers.mlp_init([3, 4], rng=np.random.default_rng()),
                                   activation="softmax"),
     r"unknown `activation`='softmax'; choose one of"),
    (lambda: np_layers.mlp_init([3], rng=np.random.default_rng()),
     r"`sizes` must list the layer widths"),
    (lambda: np_layers.mlp_init([3, 0], rng=np.random.default_rng()),
     r"`sizes\[1\]` must be an int >= 1"),
    (lambda: np_layers.leaky_relu_forward(np.zeros(3), negative_slope=-1),
     r"invalid `negative_slope`"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_backward_with_the_wrong_cache_or_dout_is_explained(rng):
    _, sig_cache = np_layers.sigmoid_forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="comes from sigmoid_forward, not relu_forward"):
        np_layers.relu_backward(np.zeros((2, 3)), sig_cache)
    with pytest.raises(ValueError, match=r"`dout` has shape \(3, 2\), expected \(2, 3\)"):
        np_layers.sigmoid_backward(np.zeros((3, 2)), sig_cache)
    with pytest.raises(TypeError, match="second value returned by the matching forward"):
        np_layers.linear_backward(np.zeros((2, 3)), sig_cache)


def test_mixing_backends_and_devices_is_explained():
    with pytest.raises(TypeError, match="Use the twin in dlkit.torch"):
        np_layers.relu_forward(torch.zeros(3))
    with pytest.raises(TypeError, match="convert with dlkit.to_torch"):
        pt_layers.relu_forward(np.zeros(3))
    with pytest.raises(ValueError, match=r"`x` is torch.float32 on cpu but `w` is torch.float64"):
        pt_layers.linear_forward(torch.zeros(2, 3), torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="np.random.Generator or a torch.Generator"):
        pt_layers.mlp_init([2, 3], rng=0)
