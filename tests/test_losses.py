"""Losses: finite differences (NumPy), NumPy == torch twin, twin == F.* and autograd."""
import inspect
import math
import warnings
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dlkit.numpy.losses as np_losses
import dlkit.torch.losses as pt_losses
from conftest import DEVICES
from dlkit import to_numpy
from dlkit.testing import assert_gradients_close, numerical_gradient, numerical_vjp

REDUCTIONS = ["mean", "sum", "none"]


def torch_reduce(v, reduction):
    return {"mean": v.mean, "sum": v.sum}.get(reduction, lambda: v)()


#: name -> the torch.nn.functional operation it equals, f(input, target, reduction=...)
REFERENCE = {
    "mse": F.mse_loss,
    "mae": F.l1_loss,
    "huber": F.huber_loss,
    "hinge": lambda x, t, reduction: torch_reduce(F.relu(1 - t * x), reduction),
    "logistic": F.soft_margin_loss,
    "binary_cross_entropy": F.binary_cross_entropy,
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    "cross_entropy": F.cross_entropy,
}

#: (loss name, keyword arguments): every loss once, huber also with a non-default delta.
CASES = [(name, {}) for name in REFERENCE] + [("huber", {"delta": 2.5})]
CASE_IDS = [name + "".join(f"-{k}={v}" for k, v in kw.items()) for name, kw in CASES]


def away(rng, shape, kinks, low=-3.0, high=3.0, gap=0.1):
    """Uniform values on [low, high], at least ``gap`` from every kink."""
    v = rng.uniform(low, high, shape)
    while True:
        bad = np.any([np.abs(v - k) < gap for k in kinks], axis=0)
        if not bad.any():
            return v
        v[bad] = rng.uniform(low, high, bad.sum())


def make_data(name, kw, rng, shape=(4, 3)):
    """(input, target) for loss ``name``, away from its kinks (finite differences are
    exact only where the loss is smooth)."""
    labels = rng.choice([-1.0, 1.0], shape)
    soft = rng.random(shape)
    soft[0] = soft[0].round()                          # hard 0/1 and soft targets
    if name == "mse":
        return rng.standard_normal(shape), rng.standard_normal(shape)
    if name == "mae":
        t = rng.standard_normal(shape)
        return t + away(rng, shape, [0.0]), t
    if name == "huber":
        delta, t = kw.get("delta", 1.0), rng.standard_normal(shape)
        return t + away(rng, shape, [-delta, delta], -3 * delta, 3 * delta), t
    if name == "hinge":                      # margins t * x on both sides of 1
        return labels * away(rng, shape, [1.0], -2.0, 3.0), labels
    if name == "logistic":
        return 3 * rng.standard_normal(shape), labels
    if name == "binary_cross_entropy":
        return rng.uniform(0.05, 0.95, shape), soft
    if name == "binary_cross_entropy_with_logits":
        return 3 * rng.standard_normal(shape), soft
    if name == "cross_entropy":
        return 2 * rng.standard_normal((5, 4)), rng.integers(0, 4, size=5)
    raise KeyError(name)


def tensor(a, device, dtype=torch.float64):
    """Integer arrays (class indices) stay int64; the rest becomes ``dtype``."""
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.integer):
        return torch.tensor(a, device=device)
    return torch.tensor(a, device=device, dtype=dtype)


def funcs(module, name):
    return getattr(module, name), getattr(module, name + "_grad")


def test_every_loss_and_its_gradient_is_tested():
    losses = {n for n in np_losses.__all__ if n + "_grad" in np_losses.__all__}
    assert losses == set(REFERENCE)


# ------------------------------------------------------------ 1. finite differences
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, kw", CASES, ids=CASE_IDS)
def test_grad_matches_finite_differences(name, kw, reduction, rng):
    x, t = make_data(name, kw, rng)
    loss, grad = funcs(np_losses, name)
    dx = grad(x, t, reduction=reduction, **kw)
    assert dx.shape == x.shape
    if reduction == "none":
        # Each term depends on its own input only (on its own row for cross_entropy),
        # so dout^T J must equal dout times the per-term derivatives.
        dout = rng.standard_normal(np.shape(loss(x, t, reduction="none", **kw)))
        want = numerical_vjp(lambda v: loss(v, t, reduction="none", **kw), x, dout)
        got = dout.reshape(dout.shape + (1,) * (x.ndim - dout.ndim)) * dx
    else:
        want = numerical_gradient(lambda v: loss(v, t, reduction=reduction, **kw), x)
        got = dx
    assert_gradients_close(got, want, name=f"{name}_grad(reduction={reduction!r})")


# ------------------------------------------------------------ 2. NumPy == twin
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, kw", CASES, ids=CASE_IDS)
def test_twin_matches_numpy(name, kw, reduction, device, rng):
    x, t = make_data(name, kw, rng)
    xt, tt = tensor(x, device), tensor(t, device)
    for np_fn, pt_fn in zip(funcs(np_losses, name), funcs(pt_losses, name)):
        ref = np_fn(x, t, reduction=reduction, **kw)
        got = pt_fn(xt, tt, reduction=reduction, **kw)
        assert got.dtype == torch.float64 and got.device.type == device
        assert tuple(got.shape) == np.shape(ref)
        np.testing.assert_allclose(got.cpu().numpy(), ref, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------ 3. twin == torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, kw", CASES, ids=CASE_IDS)
def test_twin_matches_functional_and_autograd(name, kw, reduction, dtype, device, rng):
    x, t = make_data(name, kw, rng)
    xt, tt = tensor(x, device, dtype).requires_grad_(True), tensor(t, device, dtype)
    want = REFERENCE[name](xt, tt, reduction=reduction, **kw)
    want.backward(torch.ones_like(want))     # for "none": the gradient of the sum
    loss, grad = funcs(pt_losses, name)
    got = loss(xt.detach(), tt, reduction=reduction, **kw)
    torch.testing.assert_close(got, want.detach())            # also dtype and device
    dx = grad(xt.detach(), tt, reduction=reduction, **kw)
    torch.testing.assert_close(dx, xt.grad)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, x, t, kw", [
    ("mae", [1.0, 2.0, 3.0, -1.0], [1.0, 0.0, 3.0, 0.0], {}),           # x = y
    ("hinge", [1.0, -1.0, 0.5, 2.0], [1.0, -1.0, 1.0, -1.0], {}),       # margin 1
    ("huber", [1.0, -1.0, 0.5, 3.0], [0.0, 0.0, 0.0, 0.0], {}),         # |d| = delta
    ("huber", [2.5, -2.5, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0], {"delta": 2.5}),
])
def test_subgradients_at_the_kinks_are_those_of_autograd(name, x, t, kw, device):
    xt = torch.tensor(x, dtype=torch.float64, device=device, requires_grad=True)
    tt = torch.tensor(t, dtype=torch.float64, device=device)
    REFERENCE[name](xt, tt, reduction="sum", **kw).backward()
    np.testing.assert_array_equal(
        funcs(np_losses, name)[1](np.array(x), np.array(t), reduction="sum", **kw),
        xt.grad.cpu().numpy())
    torch.testing.assert_close(
        funcs(pt_losses, name)[1](xt.detach(), tt, reduction="sum", **kw), xt.grad)


@pytest.mark.parametrize("device", DEVICES)
def test_bce_at_probabilities_0_and_1_matches_torch_clamp_and_floor(device):
    p = np.array([0.0, 0.0, 1.0, 1.0, 1e-50, 0.5])
    t = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.3])
    pt = torch.tensor(p, device=device, requires_grad=True)
    tt = torch.tensor(t, device=device)
    want = F.binary_cross_entropy(pt, tt, reduction="none")
    want.sum().backward()
    np.testing.assert_allclose(want.detach().cpu().numpy()[:4], [0, 100, 100, 0])
    for module, (a, b) in ((np_losses, (p, t)), (pt_losses, (pt.detach(), tt))):
        loss, grad = funcs(module, "binary_cross_entropy")
        np.testing.assert_array_equal(np.asarray(loss(a, b, reduction="none")),
                                      want.detach().cpu().numpy())
        np.testing.assert_allclose(np.asarray(grad(a, b, reduction="sum")),
                                   pt.grad.cpu().numpy(), rtol=1e-15)


@pytest.mark.parametrize("device", DEVICES)
def test_cross_entropy_twin_accepts_any_integer_dtype(device, rng):
    x = torch.tensor(rng.standard_normal((6, 3)), device=device)
    y = torch.tensor(rng.integers(0, 3, 6), device=device)
    want = F.cross_entropy(x, y)
    for dtype in (torch.int32, torch.uint8, torch.int16):
        torch.testing.assert_close(pt_losses.cross_entropy(x, y.to(dtype)), want)
        torch.testing.assert_close(pt_losses.cross_entropy_grad(x, y.to(dtype)),
                                   pt_losses.cross_entropy_grad(x, y))


def test_reductions_give_the_shapes_of_torch(rng):
    x, t = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    assert np_losses.mse(x, t, reduction="none").shape == (2, 3, 4)
    for reduction in ("mean", "sum"):
        assert np.shape(np_losses.mse(x, t, reduction=reduction)) == ()
    assert np_losses.mse(x, t) == pytest.approx(np.mean((x - t) ** 2))
    assert np_losses.mse(x, t, reduction="sum") == pytest.approx(np.sum((x - t) ** 2))
    logits, y = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    assert np_losses.cross_entropy(logits, y, reduction="none").shape == (5,)
    assert np_losses.cross_entropy_grad(logits, y, reduction="none").shape == (5, 3)
    # float64 by default: lists and integer arrays become float64
    assert np_losses.mae([1, 2], [0, 0]).dtype == np.float64


def test_logistic_loss_is_bce_with_logits_on_labels_0_1(rng):
    """Erratum 000-13: the logistic loss (y = ±1) is the BCE of sigma(s), t = (y+1)/2"""
    s, y = 5 * rng.standard_normal(20), rng.choice([-1.0, 1.0], 20)
    t = (y + 1) / 2
    for r in REDUCTIONS:
        np.testing.assert_allclose(
            np_losses.logistic(s, y, reduction=r),
            np_losses.binary_cross_entropy_with_logits(s, t, reduction=r), rtol=1e-13)
    np.testing.assert_allclose(np_losses.logistic_grad(s, y),
                               np_losses.binary_cross_entropy_with_logits_grad(s, t),
                               rtol=1e-13, atol=1e-15)


# ------------------------------------------------------------ 4. same public names
def test_twins_have_the_same_public_names_and_signatures():
    assert pt_losses.__all__ == np_losses.__all__
    for name in np_losses.__all__:
        a, b = getattr(np_losses, name), getattr(pt_losses, name)
        pa, pb = inspect.signature(a).parameters, inspect.signature(b).parameters
        assert list(pa) == list(pb), name
        for p in pa:
            assert (pa[p].kind, pa[p].default) == (pb[p].kind, pb[p].default), (name, p)


# ------------------------------------------------------------ 5. stability
BACKENDS = [("numpy", np.array)] + [
    (f"torch-{d}-{dt}", lambda a, d=d, dt=dt: tensor(a, d, dt))
    for d in DEVICES for dt in (torch.float64, torch.float32)]
BACKENDS_64 = [(b, T) for b, T in BACKENDS if "float32" not in b]


@pytest.mark.parametrize("backend, T", BACKENDS, ids=[b for b, _ in BACKENDS])
def test_extreme_logits_give_exact_finite_losses_without_warnings(backend, T):
    L = np_losses if backend == "numpy" else pt_losses
    x = T([-1000.0, -1000.0, 1000.0, 1000.0, -50.0, 50.0])
    y = T([1.0, -1.0, 1.0, -1.0, 1.0, 1.0])                      # labels ±1
    t = T([1.0, 0.0, 1.0, 0.0, 1.0, 1.0])                        # the same as 0/1
    logits = T([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0]])
    classes = T(np.array([1, 2]))
    # Underflow to 0 (e^{-1000}) is the intended result, so only overflow, division
    # by zero and invalid operations (inf - inf, 0 * inf) are errors.
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise",
                                                invalid="raise"):
        warnings.simplefilter("error")
        results = {
            "logistic": L.logistic(x, y, reduction="none"),
            "logistic_grad": L.logistic_grad(x, y, reduction="sum"),
            "bce_logits": L.binary_cross_entropy_with_logits(x, t, reduction="none"),
            "bce_logits_grad": L.binary_cross_entropy_with_logits_grad(x, t,
                                                                       reduction="sum"),
            "ce": L.cross_entropy(logits, classes, reduction="none"),
            "ce_grad": L.cross_entropy_grad(logits, classes, reduction="sum"),
            "lse": L.log_sum_exp(T([[1000.0, 1000.0], [-1000.0, -1000.0]])),
            "bce": L.binary_cross_entropy(T([0.0, 1.0, 0.0]), T([1.0, 0.0, 0.0]),
                                          reduction="none"),
            "bce_grad": L.binary_cross_entropy_grad(T([0.0, 1.0]), T([1.0, 0.0]),
                                                    reduction="sum"),
        }
    r = {k: to_numpy(v).astype(np.float64) for k, v in results.items()}
    for k, v in r.items():
        assert np.all(np.isfinite(v)), (k, v)
    e50 = math.log1p(math.exp(-50))                 # 2e-22: invisible next to 50
    np.testing.assert_allclose(r["logistic"], [1000, 0, 0, 1000, 50 + e50, e50],
                               rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(r["logistic_grad"], [-1, 0, 0, 1, -1, -np.exp(-50)],
                               rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(r["bce_logits"], r["logistic"], rtol=1e-6, atol=1e-30)
    # sigma(50) - 1 cancels: -2e-22 comes out as 0, hence an absolute tolerance
    np.testing.assert_allclose(r["bce_logits_grad"], [-1, 0, 0, 1, -1, 0], atol=1e-15)
    np.testing.assert_allclose(r["ce"], [2000, 0], rtol=1e-6)
    np.testing.assert_allclose(r["ce_grad"], [[1, -1, 0], [0, 0, 0]], atol=1e-30)
    np.testing.assert_allclose(r["lse"], [1000 + np.log(2), -1000 + np.log(2)],
                               rtol=1e-6)
    np.testing.assert_allclose(r["bce"], [100, 100, 0])
    np.testing.assert_allclose(r["bce_grad"], [-1e12, 1e12], rtol=1e-6)


@pytest.mark.parametrize("backend, T", BACKENDS_64, ids=[b for b, _ in BACKENDS_64])
def test_small_losses_of_confident_predictions_keep_their_digits(backend, T):
    """log(1 + e^{-m}) for margins m up to 40: against np.logaddexp(0, -m), to 1e-13.

    Rules out log1p(exp(z)) (overflow), F.softplus (which returns z itself beyond
    z = 20) and softplus(x) - t x (which cancels for hard labels)."""
    L = np_losses if backend == "numpy" else pt_losses
    m = np.linspace(-40.0, 40.0, 81)
    y = np.where(np.arange(81) % 2 == 0, 1.0, -1.0)
    want = np.logaddexp(0.0, -m)
    s = m * y                                        # scores with margins y s = m
    got = {
        "logistic": L.logistic(T(s), T(y), reduction="none"),
        "bce_with_logits": L.binary_cross_entropy_with_logits(T(s), T((y + 1) / 2),
                                                              reduction="none"),
    }
    for name, v in got.items():
        np.testing.assert_allclose(to_numpy(v), want, rtol=1e-13, err_msg=name)


@pytest.mark.parametrize("device", DEVICES)
def test_log_sum_exp_matches_torch_also_for_infinite_rows(device, rng):
    x = np.array([[-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0], [-np.inf, 2.0, 3.0],
                  [1000.0, 1000.0, -1000.0], [-1000.0, -1000.0, -1000.0]])
    y = 5 * rng.standard_normal((3, 4, 5))
    cases = [(x, -1, False), (x, 1, True), (y, 0, False), (y, 1, True)]
    for a, axis, keepdims in cases:
        want = torch.logsumexp(torch.tensor(a, device=device), dim=axis,
                               keepdim=keepdims)
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            got_np = np_losses.log_sum_exp(a, axis=axis, keepdims=keepdims)
        got_pt = pt_losses.log_sum_exp(torch.tensor(a, device=device), axis=axis,
                                       keepdims=keepdims)
        torch.testing.assert_close(got_pt, want)
        np.testing.assert_allclose(got_np, want.cpu().numpy(), rtol=1e-12)


# ------------------------------------------------------------ 6. error messages
ERRORS = [  # (call(L, T), exception, message); T makes an array or a tensor
    (lambda L, T: L.mse(T([1.0, 2.0, 3.0]), T([[1.0], [2.0], [3.0]])), ValueError,
     r"^mse: `target` has shape \(3, 1\), expected the shape of `input`, \(3,\).*"
     r"broadcast the two to \(3, 3\).*Did you mean target\.reshape\(input\.shape\)\?"),
    (lambda L, T: L.huber_grad(T([1.0, 2.0]), T([1.0, 2.0, 3.0])), ValueError,
     r"^huber_grad: `target` has shape \(3,\).*target\.reshape"),
    (lambda L, T: L.mse(T([1.0]), T([1.0]), reduction="avg"), ValueError,
     r"^mse: `reduction` must be 'mean', 'sum' or 'none'.*got 'avg'"),
    (lambda L, T: L.cross_entropy_grad(T([[1.0]]), T([0]), reduction=None), ValueError,
     r"^cross_entropy_grad: `reduction` must be 'mean', 'sum' or 'none'.*got None"),
    (lambda L, T: L.huber(T([1.0]), T([1.0]), delta=0), ValueError,
     r"^huber: invalid `delta`=0.0, expected a value in \(0, inf\)"),
    (lambda L, T: L.huber_grad(T([1.0]), T([1.0]), delta=-1.0), ValueError,
     r"^huber_grad: invalid `delta`=-1.0"),
    (lambda L, T: L.hinge(T([0.5, -0.5, 1.0]), T([0.0, 1.0, 1.0])), ValueError,
     r"^hinge: `target` must hold the labels -1 and \+1 .*got labels 0/1: convert them "
     r"with 2 \* target - 1"),
    (lambda L, T: L.logistic_grad(T([0.5, -0.5]), T([2.0, 1.0])), ValueError,
     r"^logistic_grad: `target` must hold the labels -1 and \+1.*got values 1, 2"),
    (lambda L, T: L.binary_cross_entropy(T([-0.5, 2.0]), T([0.0, 1.0])), ValueError,
     r"^binary_cross_entropy: `input` must hold probabilities in \[0, 1\], got values "
     r"-0.5, 2\. Did you pass logits\? Use binary_cross_entropy_with_logits"),
    (lambda L, T: L.binary_cross_entropy_grad(T([0.5, np.nan]), T([0.0, 1.0])),
     ValueError, r"^binary_cross_entropy_grad: `input` must hold probabilities.*NaN"),
    (lambda L, T: L.binary_cross_entropy(T([0.5, 0.5]), T([-1.0, 1.0])), ValueError,
     r"^binary_cross_entropy: `target` must hold probabilities.*got labels -1/\+1: "
     r"convert them with \(target \+ 1\) / 2"),
    (lambda L, T: L.binary_cross_entropy_with_logits(T([3.0, -2.0]), T([0.0, 2.0])),
     ValueError, r"^binary_cross_entropy_with_logits: `target` must hold probabil"),
    (lambda L, T: L.cross_entropy(T([1.0, 2.0, 3.0]), T([0])), ValueError,
     r"^cross_entropy: `input` has shape \(3,\), expected logits of shape \(N, K\).*"
     r"input\[None\]"),
    (lambda L, T: L.cross_entropy(T([[2.0, 1.0], [0.0, 3.0]]), T([[1.0, 0.0]] * 2)),
     ValueError, r"^cross_entropy: `target` has shape \(2, 2\), expected 1 dimensions "
     r"\(N,\).*one-hot.*pass the class indices, e\.g\. target\.argmax\(axis=1\)"),
    (lambda L, T: L.cross_entropy_grad(T([[2.0, 1.0], [0.0, 3.0]]), T([1])), ValueError,
     r"^cross_entropy_grad: `target` has shape \(1,\), expected \(N,\) with N=2"),
    (lambda L, T: L.cross_entropy(T([[2.0, 1.0]] * 2), T([1.0, 0.0])), TypeError,
     r"^cross_entropy: `target` must hold integer class indices, got dtype .*float.*"
     r"Convert with target\.(astype\(np\.int64\)|long\(\))"),
    (lambda L, T: L.cross_entropy(T([[2.0, 1.0, 0.0]] * 2), T([0, 3])), ValueError,
     r"^cross_entropy: `target` must hold class indices from 0 to 2 \(input has K=3 "
     r"columns\), got values from 0 to 3\.$"),
    (lambda L, T: L.cross_entropy(T([[2.0, 1.0, 0.0]] * 2), T([1, 3])), ValueError,
     r"got values from 1 to 3\. Labels that start at 1\? Pass target - 1\."),
    (lambda L, T: L.cross_entropy(T([[2.0, 1.0, 0.0]]), T([-1])), ValueError,
     r"from 0 to 2 .*got values from -1 to -1"),
    (lambda L, T: L.log_sum_exp(T([[1.0, 2.0]]), axis=2), ValueError,
     r"^log_sum_exp: `axis` must be an int from -2 to 1 for `x` of shape \(1, 2\), "
     r"got 2"),
    (lambda L, T: L.log_sum_exp(T(np.zeros((2, 0)))), ValueError,
     r"^log_sum_exp: `x` has shape \(2, 0\): axis -1 is empty"),
    (lambda L, T: L.entropy(T(0.5)), ValueError, r"^entropy: `p` is a scalar"),
    (lambda L, T: L.entropy(T([1.5, -0.5])), ValueError,
     r"^entropy: `p` must hold probabilities in \[0, 1\].*softmax"),
    (lambda L, T: L.kl_divergence(T([0.5, 0.5]), T([[0.5], [0.5]])), ValueError,
     r"^kl_divergence: `p` has shape \(2,\) and `q` has shape \(2, 1\): along axis -1, "
     r"the outcomes, they have 2 and 1 entries.*Did you mean q\.reshape\(p\.shape\)\?"),
    (lambda L, T: L.cross_entropy_of(T([0.5, 0.5]), T([[0.2, 0.3, 0.5]])), ValueError,
     r"^cross_entropy_of: `p` has shape \(2,\) and `q` has shape \(1, 3\), which do "
     r"not broadcast"),
    (lambda L, T: L.kl_divergence(T([0.5, 0.5]), T([[0.5, 0.5]] * 3), axis=0),
     ValueError, r"^kl_divergence: `p` has shape \(2,\) and `q` has shape \(3, 2\): "
     r"along axis 0, the outcomes, they have 1 and 3 entries"),
    (lambda L, T: L.cross_entropy_of(T([0.5, 0.5]), T([2.0, -1.0])), ValueError,
     r"^cross_entropy_of: `q` must hold probabilities"),
]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("call, exc, message", ERRORS, ids=[
    f"{i}-{m.lstrip('^').split(':')[0]}" for i, (_, _, m) in enumerate(ERRORS)])
def test_bad_input_gets_a_clear_error(call, exc, message, backend):
    L, T = (np_losses, np.array) if backend == "numpy" else (pt_losses, torch.tensor)
    with pytest.raises(exc, match=message):
        call(L, T)


MIXED = [  # (call, exception, message)
    (lambda: np_losses.mse(torch.zeros(3), np.zeros(3)), TypeError,
     r"mse: `input` is a torch.Tensor.*twin in dlkit.torch"),
    (lambda: np_losses.cross_entropy(np.zeros((2, 3)), torch.zeros(2).long()),
     TypeError, r"cross_entropy: `target` is a torch.Tensor"),
    (lambda: pt_losses.mae(np.zeros(3), torch.zeros(3)), TypeError,
     r"mae: `input` must be a torch.Tensor.*to_torch"),
    (lambda: pt_losses.hinge(torch.zeros(3), torch.ones(3, dtype=torch.float64)),
     ValueError, r"hinge: `input` is torch.float32 on cpu but `target` is "
                 r"torch.float64.*target.to\(input\)"),
    (lambda: pt_losses.hinge_grad(torch.zeros(3), torch.ones(3, dtype=torch.long)),
     TypeError, r"hinge_grad: `target` must be a floating-point tensor.*target.float"),
    (lambda: pt_losses.cross_entropy(torch.zeros(2, 3), [0, 1]), TypeError,
     r"cross_entropy: `target` must be a torch.Tensor of class indices, got list"),
    (lambda: pt_losses.cross_entropy(torch.zeros(2, 3), torch.tensor([True, False])),
     TypeError, r"cross_entropy: `target` must hold integer.*got dtype torch.bool"),
    (lambda: pt_losses.kl_divergence(torch.tensor([0.5, 0.5], dtype=torch.float64),
                                     torch.tensor([0.5, 0.5])),
     ValueError, r"kl_divergence: `p` is torch.float64 on cpu but `q` is "
                 r"torch.float32"),
]


@pytest.mark.parametrize("call, exc, message", MIXED,
                         ids=[m.split(":")[0] for _, _, m in MIXED])
def test_mixing_backends_dtypes_and_devices_is_explained(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


# ------------------------------------------------------------ 7. information theory
def random_distributions(rng, shape, zeros=False):
    p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    if zeros:                               # some impossible outcomes, renormalised
        p[..., 0] = 0.0
        p /= p.sum(axis=-1, keepdims=True)
    return p


@pytest.mark.parametrize("backend, T", BACKENDS_64, ids=[b for b, _ in BACKENDS_64])
def test_cross_entropy_is_entropy_plus_kl_and_kl_is_a_divergence(backend, T, rng):
    L = np_losses if backend == "numpy" else pt_losses
    p = T(random_distributions(rng, (6, 5), zeros=True))
    q = T(random_distributions(rng, (6, 5)))
    h, kl, hpq = (to_numpy(v) for v in (L.entropy(p), L.kl_divergence(p, q),
                                         L.cross_entropy_of(p, q)))
    np.testing.assert_allclose(hpq, h + kl, rtol=1e-12)
    assert np.all(kl > 0)                                   # p != q: strictly positive
    assert np.all(to_numpy(L.kl_divergence(p, p)) == 0)     # p = q: exactly 0
    # Gibbs' inequality on many random pairs, half of them nearly equal
    p2 = random_distributions(rng, (200, 4))
    q2 = np.where(rng.random((200, 1)) < 0.5, p2 + 1e-3 * rng.random((200, 4)),
                  random_distributions(rng, (200, 4)))
    q2 /= q2.sum(axis=-1, keepdims=True)
    assert np.all(to_numpy(L.kl_divergence(T(p2), T(q2))) >= 0)


@pytest.mark.parametrize("module", [np_losses, pt_losses])
def test_entropy_of_uniform_is_log_k_and_of_certainty_is_zero(module):
    T = np.asarray if module is np_losses else partial(torch.tensor,
                                                       dtype=torch.float64)
    for k in (1, 2, 3, 10, 1000):
        assert float(module.entropy(T(np.full(k, 1.0 / k)))) == pytest.approx(np.log(k))
    assert float(module.entropy(T([0.0, 1.0, 0.0]))) == 0.0
    # the example of the seeds: y = (1, 0, 0), y_hat = (0.4, 0.1, 0.5): -ln 0.4 nats
    ce = module.cross_entropy_of(T([1.0, 0.0, 0.0]), T([0.4, 0.1, 0.5]))
    assert float(ce) == pytest.approx(0.9162907318741551, rel=1e-14)
    # impossible under q but it happens: infinite divergence; 0 log 0 = 0 otherwise
    assert float(module.kl_divergence(T([0.5, 0.5, 0.0]), T([1.0, 0.0, 0.0]))) == np.inf
    assert float(module.kl_divergence(T([1.0, 0.0]), T([1.0, 0.0]))) == 0.0
    assert float(module.cross_entropy_of(T([0.5, 0.5]), T([1.0, 0.0]))) == np.inf


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_information_helpers_match_torch(axis, device, rng):
    p = np.moveaxis(random_distributions(rng, (3, 4, 5), zeros=True), -1, axis)
    q = np.moveaxis(random_distributions(rng, (3, 4, 5)), -1, axis)
    pt, qt = torch.tensor(p, device=device), torch.tensor(q, device=device)
    dim = axis % 3
    cat_p = torch.distributions.Categorical(probs=pt.movedim(dim, -1))
    cat_q = torch.distributions.Categorical(probs=qt.movedim(dim, -1))
    want = {
        "entropy": cat_p.entropy(),
        "kl_divergence": F.kl_div(qt.log(), pt, reduction="none").sum(dim),
        "cross_entropy_of": -(pt * qt.log()).sum(dim),
    }
    torch.testing.assert_close(want["kl_divergence"],
                               torch.distributions.kl_divergence(cat_p, cat_q))
    for name, ref in want.items():
        args = (pt,) if name == "entropy" else (pt, qt)
        got_pt = getattr(pt_losses, name)(*args, axis=axis)
        got_np = getattr(np_losses, name)(*(a.cpu().numpy() for a in args), axis=axis)
        torch.testing.assert_close(got_pt, ref)
        np.testing.assert_allclose(got_np, got_pt.cpu().numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("device", DEVICES)
def test_one_p_against_a_batch_of_q_broadcasts_like_torch(device, rng):
    p, q = random_distributions(rng, (1, 3))[0], random_distributions(rng, (6, 3))
    pt, qt = torch.tensor(p, device=device), torch.tensor(q, device=device)
    want = {"kl_divergence": F.kl_div(qt.log(), pt.expand(6, 3), reduction="none"),
            "cross_entropy_of": -(pt * qt.log())}
    for name, ref in want.items():
        torch.testing.assert_close(getattr(pt_losses, name)(pt, qt), ref.sum(-1))
        np.testing.assert_allclose(getattr(np_losses, name)(p, q),
                                   ref.sum(-1).cpu().numpy(), rtol=1e-12)
        # and against one row at a time, without broadcasting
        rows = [getattr(np_losses, name)(p, q_row) for q_row in q]
        np.testing.assert_allclose(getattr(np_losses, name)(p, q), rows, rtol=1e-15)


@pytest.mark.parametrize("module", [np_losses, pt_losses])
def test_cross_entropy_of_logits_is_cross_entropy_of_distributions(module, rng):
    """The cross-entropy loss is H(onehot(y), softmax(x)), the same as the one of the
    information-theory section, computed from the logits."""
    x, y = 3 * rng.standard_normal((7, 4)), rng.integers(0, 4, 7)
    onehot = np.eye(4)[y]
    softmax = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    T = np.asarray if module is np_losses else torch.tensor
    got = module.cross_entropy(T(x), T(y), reduction="none")
    want = module.cross_entropy_of(T(onehot), T(softmax), axis=1)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12)
