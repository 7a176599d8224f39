"""Regularization: finite differences (NumPy), NumPy == torch twin, twin == F.dropout
(statistics) / F.batch_norm (incl. running statistics) / torch.autograd, penalties,
error messages, and the digit augmentation of dlkit.data."""
import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dlkit.numpy.regularization as np_reg
import dlkit.torch.regularization as pt_reg
from conftest import DEVICES
from dlkit.data import augment_digits, load_digits
from dlkit.testing import assert_gradients_close, numerical_vjp

LAYOUTS = [(6, 3), (4, 3, 2, 3)]          # (N, C) and (N, C, H, W)
LAYOUT_IDS = ["NC", "NCHW"]


def to_np(t):
    return t.detach().cpu().numpy()


def bn_data(rng, shape):
    """x with a per-channel offset and scale, gamma, beta, and running statistics."""
    C = shape[1]
    per_channel = (1, C) + (1,) * (len(shape) - 2)
    x = rng.standard_normal(shape) * rng.uniform(0.5, 2, C).reshape(per_channel) \
        + rng.standard_normal(C).reshape(per_channel)
    gamma, beta = rng.uniform(0.5, 1.5, C), rng.standard_normal(C)
    running_mean, running_var = rng.standard_normal(C), rng.uniform(0.5, 2.0, C)
    return x, gamma, beta, running_mean, running_var


# ---------------------------------------------------------------- 1. finite differences
@pytest.mark.parametrize("p", [0.0, 0.3, 0.8])
def test_dropout_backward_matches_finite_differences(rng, p):
    x, dout = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))

    def f(v):   # a fresh generator with the same seed: the same mask on every call
        return np_reg.dropout_forward(v, p=p, training=True,
                                      rng=np.random.default_rng(7))[0]

    _, cache = np_reg.dropout_forward(x, p=p, training=True,
                                      rng=np.random.default_rng(7))
    dx = np_reg.dropout_backward(dout, cache)
    assert_gradients_close(dx, numerical_vjp(f, x, dout), name="dropout dx")
    out, cache = np_reg.dropout_forward(x, p=p, training=False, rng=None)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(np_reg.dropout_backward(dout, cache), dout)


@pytest.mark.parametrize("affine", [True, False], ids=["affine", "no-affine"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", LAYOUTS, ids=LAYOUT_IDS)
def test_batch_norm_backward_matches_finite_differences(rng, shape, training, affine):
    x, gamma, beta, rm, rv = bn_data(rng, shape)
    if not affine:
        gamma = beta = None
    dout = rng.standard_normal(shape)

    def f(x_=x, g_=gamma, b_=beta):   # copies: the forward updates them in place
        return np_reg.batch_norm_forward(x_, g_, b_, rm.copy(), rv.copy(),
                                         training=training)[0]

    _, cache = np_reg.batch_norm_forward(x, gamma, beta, rm.copy(), rv.copy(),
                                         training=training)
    dx, dgamma, dbeta = np_reg.batch_norm_backward(dout, cache)
    assert_gradients_close(dx, numerical_vjp(f, x, dout), name="batch norm dx")
    if not affine:
        assert dgamma is None and dbeta is None
        return
    assert_gradients_close(dgamma, numerical_vjp(lambda v: f(g_=v), gamma, dout),
                           name="dgamma")
    assert_gradients_close(dbeta, numerical_vjp(lambda v: f(b_=v), beta, dout),
                           name="dbeta")


def test_batch_norm_training_output_is_normalised(rng):
    x, gamma, beta, _, _ = bn_data(rng, (50, 4, 3, 3))
    out, _ = np_reg.batch_norm_forward(x, None, None, None, None, training=True)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, rtol=1e-3)  # eps = 1e-5
    # The training-mode gradient has zero sum and no component along x_hat (7.22);
    # the second holds up to O(eps), since x_hat has variance sigma^2/(sigma^2 + eps).
    dout = rng.standard_normal(x.shape)
    out, cache = np_reg.batch_norm_forward(x, gamma, beta, None, None, training=True,
                                           eps=1e-14)
    dx, _, _ = np_reg.batch_norm_backward(dout, cache)
    np.testing.assert_allclose(dx.sum(axis=(0, 2, 3)), 0, atol=1e-10)
    np.testing.assert_allclose((dx * cache.x_hat).sum(axis=(0, 2, 3)), 0, atol=1e-10)


# ------------------------------------------------------------------ 2. NumPy == twin
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_dropout_twin_matches_numpy(rng, training, device):
    x, dout = rng.standard_normal((5, 3, 4)), rng.standard_normal((5, 3, 4))
    ref, cache = np_reg.dropout_forward(x, p=0.4, training=training,
                                        rng=np.random.default_rng(3))
    ref_dx = np_reg.dropout_backward(dout, cache)
    xt, doutt = (torch.tensor(a, device=device) for a in (x, dout))
    # With a NumPy generator the twin draws the reference's very mask.
    out, tcache = pt_reg.dropout_forward(xt, p=0.4, training=training,
                                         rng=np.random.default_rng(3))
    np.testing.assert_allclose(to_np(out), ref, rtol=1e-15, atol=0)
    np.testing.assert_allclose(to_np(pt_reg.dropout_backward(doutt, tcache)), ref_dx,
                               rtol=1e-15, atol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "no-affine"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", LAYOUTS, ids=LAYOUT_IDS)
def test_batch_norm_twin_matches_numpy(rng, shape, training, affine, device):
    x, gamma, beta, rm, rv = bn_data(rng, shape)
    gamma, beta = (gamma, beta) if affine else (None, None)
    dout = rng.standard_normal(shape)
    rm_t, rv_t = (torch.tensor(a, device=device) for a in (rm, rv))
    args = [None if a is None else torch.tensor(a, device=device)
            for a in (x, gamma, beta)]
    ref, cache = np_reg.batch_norm_forward(x, gamma, beta, rm, rv, training=training,
                                           momentum=0.2, eps=1e-3)
    ref_grads = np_reg.batch_norm_backward(dout, cache)
    out, tcache = pt_reg.batch_norm_forward(*args, rm_t, rv_t, training=training,
                                            momentum=0.2, eps=1e-3)
    grads = pt_reg.batch_norm_backward(torch.tensor(dout, device=device), tcache)
    np.testing.assert_allclose(to_np(out), ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(to_np(rm_t), rm, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(to_np(rv_t), rv, rtol=1e-12, atol=1e-14)
    for g, want in zip(grads, ref_grads):
        if want is None:
            assert g is None
        else:
            np.testing.assert_allclose(to_np(g), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_penalty_twins_match_numpy(rng, kind, device):
    ws = [rng.standard_normal((3, 4)), rng.standard_normal(5), np.zeros(2)]
    penalty, grad = (getattr(m, f"{kind}_penalty") for m in (np_reg, pt_reg)), \
        (getattr(m, f"{kind}_penalty_grad") for m in (np_reg, pt_reg))
    (np_pen, pt_pen), (np_grad, pt_grad) = penalty, grad
    wts = [torch.tensor(w, device=device) for w in ws]
    np.testing.assert_allclose(to_np(pt_pen(wts, 0.3)), np_pen(ws, 0.3), rtol=1e-14)
    np.testing.assert_allclose(to_np(pt_pen(wts[0], 0.3)), np_pen(ws[0], 0.3),
                               rtol=1e-14)
    for g, want in zip(pt_grad(wts, 0.3), np_grad(ws, 0.3)):
        np.testing.assert_allclose(to_np(g), want, rtol=1e-15)
    np.testing.assert_allclose(to_np(pt_grad(wts[1], 0.3)), np_grad(ws[1], 0.3))


# ------------------------------------------------------------------ 3. twin == torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", LAYOUTS, ids=LAYOUT_IDS)
def test_batch_norm_twin_matches_f_batch_norm_over_several_steps(rng, shape, dtype,
                                                                 device):
    """Five training steps, then evaluation: outputs and running statistics equal
    those of F.batch_norm, and so do those of the NumPy reference (float64)."""
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else \
        dict(rtol=1e-5, atol=1e-5)
    C = shape[1]
    _, gamma, beta, _, _ = bn_data(rng, shape)
    g, b = (torch.tensor(a, device=device, dtype=dtype) for a in (gamma, beta))
    mine = [torch.zeros(C, device=device, dtype=dtype),
            torch.ones(C, device=device, dtype=dtype)]
    theirs = [t.clone() for t in mine]
    ref = [np.zeros(C), np.ones(C)]
    for step in range(6):
        training = step < 5
        x = bn_data(rng, shape)[0] + step          # the statistics drift
        xt = torch.tensor(x, device=device, dtype=dtype)
        out, _ = pt_reg.batch_norm_forward(xt, g, b, *mine, training=training,
                                           momentum=0.3)
        want = F.batch_norm(xt, *theirs, g, b, training=training, momentum=0.3)
        ref_out, _ = np_reg.batch_norm_forward(x, gamma, beta, *ref,
                                               training=training, momentum=0.3)
        torch.testing.assert_close(out, want, **tol)
        for a, t, r in zip(mine, theirs, ref):
            torch.testing.assert_close(a, t, **tol)
            np.testing.assert_allclose(to_np(t), r, **tol)
        np.testing.assert_allclose(to_np(want), ref_out, **tol)
    # Bessel's correction: after one step from (0, 1) with momentum 1 the running
    # variance is the unbiased sample variance.
    x = rng.standard_normal(shape)
    r = [np.zeros(C), np.ones(C)]
    np_reg.batch_norm_forward(x, None, None, *r, training=True, momentum=1.0)
    per_channel = np.moveaxis(x, 1, 0).reshape(C, -1)           # (C, m)
    np.testing.assert_allclose(r[0], per_channel.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(r[1], per_channel.var(axis=1, ddof=1), rtol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "no-affine"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", LAYOUTS, ids=LAYOUT_IDS)
def test_batch_norm_fn_gradients_match_autograd_through_f_batch_norm(
        rng, shape, training, affine, device):
    x, gamma, beta, rm, rv = bn_data(rng, shape)
    dout = torch.tensor(rng.standard_normal(shape), device=device)

    def leaves():
        ts = [torch.tensor(a, device=device, requires_grad=True)
              for a in (x, gamma, beta)]
        return ts if affine else ts[:1] + [None, None]

    stats = [torch.tensor(a, device=device) for a in (rm, rv)]
    theirs_stats = [t.clone() for t in stats]
    mine, theirs = leaves(), leaves()
    out = pt_reg.BatchNormFn.apply(*mine, *stats, training, 0.1, 1e-5)
    want = F.batch_norm(theirs[0], *theirs_stats, theirs[1], theirs[2],
                        training=training)
    out.backward(dout)
    want.backward(dout)
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)
    for a, b in zip(stats, theirs_stats):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    for a, b in zip(mine, theirs):
        if b is not None:
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12)
    # The twin's forward is made of tensor ops: autograd through it agrees too.
    again = leaves()
    out2, _ = pt_reg.batch_norm_forward(*again, None if training else stats[0],
                                        None if training else stats[1],
                                        training=training)
    out2.backward(dout)
    torch.testing.assert_close(again[0].grad, theirs[0].grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("p", [0.2, 0.5, 0.7])
def test_dropout_twins_have_the_statistics_of_f_dropout(p, device):
    """Kept with probability 1 - p, scaled by 1/(1 - p), mean preserved (7.15): the
    twin, F.dropout and the NumPy reference alike."""
    n = 100_000
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.rand(n, generator=gen, device=device, dtype=torch.float64) + 0.5  # > 0
    mine, _ = pt_reg.dropout_forward(x, p=p, training=True, rng=gen)
    theirs = F.dropout(x, p=p, training=True)
    ref, _ = np_reg.dropout_forward(to_np(x), p=p, training=True,
                                    rng=np.random.default_rng(0))
    sd = (p * (1 - p) / n) ** 0.5                 # std of a fraction of n draws
    for out in (mine, theirs, torch.tensor(ref, device=device)):
        dropped = (out == 0).double().mean()
        assert abs(dropped - p) < 5 * sd, (dropped, p)
        kept = out != 0
        torch.testing.assert_close(out[kept] / x[kept],
                                   torch.full_like(out[kept], 1 / (1 - p)))
        # E[y_i] = x_i: the mean of y over n units is within a few standard errors.
        se = (x.double().pow(2).mean() * p / (1 - p) / n) ** 0.5
        assert abs(out.mean() - x.mean()) < 5 * se
    # Evaluation is the identity, as for F.dropout.
    out, _ = pt_reg.dropout_forward(x, p=p, training=False, rng=gen)
    torch.testing.assert_close(out, F.dropout(x, p=p, training=False), rtol=0, atol=0)
    torch.testing.assert_close(out, x, rtol=0, atol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_dropout_fn_gradient_matches_autograd(rng, training, device):
    x = rng.standard_normal((6, 7))
    dout = torch.tensor(rng.standard_normal((6, 7)), device=device)
    a, b = (torch.tensor(x, device=device, requires_grad=True) for _ in range(2))
    gen = torch.Generator(device=device)
    out = pt_reg.DropoutFn.apply(a, 0.5, training, gen.manual_seed(1))
    ref, _ = pt_reg.dropout_forward(b, p=0.5, training=training, rng=gen.manual_seed(1))
    out.backward(dout)
    ref.backward(dout)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)    # same seed, same mask
    torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0)
    if training:
        assert 0 < int((out == 0).sum()) < out.numel()


@pytest.mark.parametrize("device", DEVICES)
def test_penalty_grads_match_autograd_and_torch_optim(rng, device):
    w = rng.standard_normal((4, 5))
    w[0, :2] = 0.0                                  # sgn(0) = 0, torch's choice too
    lam, lr = 0.3, 0.1
    for kind in ("l1", "l2"):
        wt = torch.tensor(w, device=device, requires_grad=True)
        penalty = getattr(pt_reg, f"{kind}_penalty")(wt, lam)
        want = lam * (wt.abs().sum() if kind == "l1"
                      else torch.linalg.vector_norm(wt) ** 2 / 2)
        torch.testing.assert_close(penalty, want, rtol=1e-14, atol=0)
        (grad,) = torch.autograd.grad(penalty, wt)
        torch.testing.assert_close(getattr(pt_reg, f"{kind}_penalty_grad")(wt, lam),
                                   grad, rtol=1e-15, atol=0)
    # L2 with a zero data gradient: torch.optim.SGD's weight_decay takes the same step.
    wt = torch.tensor(w, device=device, requires_grad=True)
    opt = torch.optim.SGD([wt], lr=lr, weight_decay=lam)
    wt.grad = torch.zeros_like(wt)
    opt.step()
    w_ref = torch.tensor(w, device=device)
    torch.testing.assert_close(wt.detach(),
                               w_ref - lr * pt_reg.l2_penalty_grad(w_ref, lam))
    # A list: the sum of the penalties, the list of the gradients.
    ws = [torch.tensor(rng.standard_normal(s), device=device, requires_grad=True)
          for s in ((3, 2), (4,))]
    total = pt_reg.l2_penalty(ws, lam) + pt_reg.l1_penalty(ws, lam)
    grads = torch.autograd.grad(total, ws)
    for g, g2, g1 in zip(grads, pt_reg.l2_penalty_grad(ws, lam),
                         pt_reg.l1_penalty_grad(ws, lam)):
        torch.testing.assert_close(g, g2 + g1, rtol=1e-14, atol=0)


# ------------------------------------------------------------------ names
def test_twins_have_the_same_public_names_and_signatures():
    twin_only = {"DropoutFn", "BatchNormFn"}
    assert [n for n in pt_reg.__all__ if n not in twin_only] == np_reg.__all__
    for name in np_reg.__all__:
        pa = inspect.signature(getattr(np_reg, name)).parameters
        pb = inspect.signature(getattr(pt_reg, name)).parameters
        assert [(p.name, p.kind, p.default) for p in pa.values()] == \
               [(p.name, p.kind, p.default) for p in pb.values()], name
    import dlkit.numpy
    import dlkit.torch
    assert dlkit.numpy.regularization is np_reg and dlkit.torch.regularization is pt_reg


def test_the_api_other_modules_rely_on():
    sig = inspect.signature(np_reg.batch_norm_forward)
    assert list(sig.parameters) == ["x", "gamma", "beta", "running_mean", "running_var",
                                    "training", "momentum", "eps"]
    assert sig.parameters["momentum"].default == 0.1
    assert sig.parameters["eps"].default == 1e-5
    sig = inspect.signature(np_reg.dropout_forward)
    assert [p.kind for p in list(sig.parameters.values())[1:]] == \
        [inspect.Parameter.KEYWORD_ONLY] * 3
    for name in ("l1_penalty", "l1_penalty_grad", "l2_penalty", "l2_penalty_grad"):
        assert list(inspect.signature(getattr(np_reg, name)).parameters) == ["w", "lam"]


# ------------------------------------------------------------------ error messages
X2, C3 = np.zeros((4, 3)), np.zeros(3)


def _bn(x=X2, gamma=C3, beta=C3, rm=None, rv=None, **kw):
    rm = np.zeros(3) if rm is None else rm
    rv = np.ones(3) if rv is None else rv
    kw.setdefault("training", True)
    return np_reg.batch_norm_forward(x, gamma, beta, rm, rv, **kw)


@pytest.mark.parametrize("call, message", [
    (lambda: np_reg.dropout_forward(X2, p=1.0, training=True,
                                    rng=np.random.default_rng()),
     r"dropout_forward: `p`=1 would drop every unit.*expected a drop probability in "
     r"\[0, 1\)"),
    (lambda: np_reg.dropout_forward(X2, p=-0.1, training=True,
                                    rng=np.random.default_rng()),
     r"dropout_forward: invalid `p`=-0.1, expected a value in \[0, 1\)"),
    (lambda: np_reg.dropout_forward(X2, p=1.5, training=True,
                                    rng=np.random.default_rng()), r"invalid `p`=1.5"),
    (lambda: np_reg.dropout_backward(np.zeros((3, 4)), np_reg.dropout_forward(
        X2, p=0.5, training=False, rng=None)[1]),
     r"dropout_backward: `dout` has shape \(3, 4\), expected \(4, 3\)"),
    (lambda: _bn(np.zeros(3)),
     r"batch_norm_forward: `x` has shape \(3,\), expected \(N, C\) or \(N, C, H, W\).*"
     r"add a batch axis: x\[None\]"),
    (lambda: _bn(gamma=np.zeros(4)),
     r"batch_norm_forward: `gamma` has shape \(4,\), expected \(C,\) with C=3 \(from "
     r"x.shape\[1\]\).*channels-last"),
    (lambda: _bn(np.zeros((2, 4, 5, 5)), np.zeros(4), np.zeros(4)),
     r"`running_mean` has shape \(3,\), expected \(C,\) with C=4"),
    (lambda: _bn(np.zeros((1, 3))),
     r"`x` has shape \(1, 3\), only 1 value per channel; training needs more than one"),
    (lambda: np_reg.batch_norm_forward(X2, C3, C3, None, None, training=False),
     r"evaluation mode \(training=False\) normalises with the running statistics, but "
     r"`running_mean` and `running_var` are None"),
    (lambda: np_reg.batch_norm_forward(X2, C3, C3, np.zeros(3), None, training=True),
     r"pass both `running_mean` and `running_var`, or neither"),
    (lambda: _bn(momentum=1.5),
     r"batch_norm_forward: invalid `momentum`=1.5, expected a value in \[0, 1\]"),
    (lambda: _bn(eps=0.0), r"invalid `eps`=0.0, expected a value in \(0, inf\)"),
    (lambda: np_reg.batch_norm_backward(np.zeros((3, 4)), _bn()[1]),
     r"batch_norm_backward: `dout` has shape \(3, 4\), expected \(4, 3\)"),
    (lambda: np_reg.l2_penalty(X2, -1.0),
     r"l2_penalty: invalid `lam`=-1.0, expected a value in \[0, inf\)"),
    (lambda: np_reg.l1_penalty_grad([], 0.1), r"l1_penalty_grad: `w` is an empty list"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("call, message", [
    (lambda: np_reg.dropout_forward(X2, p=0.5, training=True, rng=None),
     r"dropout_forward: training=True needs `rng`, e.g. "
     r"rng=np.random.default_rng\(0\)"),
    (lambda: np_reg.dropout_forward(X2, p=0.5, training=True, rng=0),
     r"`rng` must be a np.random.Generator.*got int"),
    (lambda: np_reg.dropout_forward(X2, p=0.5, training="yes", rng=None),
     r"dropout_forward: `training` must be True or False, got str"),
    (lambda: _bn(training=1), r"batch_norm_forward: `training` must be True or False"),
    (lambda: _bn(rm=[0.0, 0.0, 0.0]),
     r"`running_mean` must be a writable floating-point NumPy array \(it is updated "
     r"in place in training mode\), got list.*np.zeros\(C\)"),
    (lambda: _bn(rv=np.ones(3, dtype=int)), r"`running_var` must be a writable.*"
                                            r"got an array of dtype int"),
    (lambda: np_reg.batch_norm_backward(X2, None),
     r"batch_norm_backward: `cache` must be the second value returned by the "
     r"matching forward function \(BatchNormCache\)"),
    (lambda: np_reg.dropout_backward(X2, _bn()[1]), r"\(DropoutCache\), got "
                                                    r"BatchNormCache"),
    (lambda: np_reg.l2_penalty(torch.zeros(3), 0.1), r"Use the twin in dlkit.torch"),
    (lambda: pt_reg.l2_penalty(np.zeros(3), 0.1), r"convert with dlkit.to_torch"),
    (lambda: pt_reg.dropout_forward(torch.zeros(3), p=0.5, training=True, rng=0),
     r"`rng` must be a torch.Generator, None \(torch's default generator\) or a "
     r"np.random.Generator, got int"),
])
def test_bad_types_get_a_clear_error(call, message):
    with pytest.raises(TypeError, match=message):
        call()


@pytest.mark.parametrize("fn, args, kwargs", [
    ("dropout_forward", (X2,), dict(p=1.0, training=True, rng=None)),
    ("batch_norm_forward", (np.zeros(3), C3, C3, np.zeros(3), np.ones(3)),
     dict(training=True)),
    ("batch_norm_forward", (X2, np.zeros(4), C3, np.zeros(3), np.ones(3)),
     dict(training=True)),
    ("batch_norm_forward", (np.zeros((1, 3)), C3, C3, np.zeros(3), np.ones(3)),
     dict(training=True)),
    ("batch_norm_forward", (X2, C3, C3, np.zeros(3), np.ones(3)),
     dict(training=True, momentum=-1)),
    ("l1_penalty", (X2, -0.5), {}),
])
def test_the_torch_twin_raises_the_same_errors(fn, args, kwargs):
    with pytest.raises(ValueError) as np_error:
        getattr(np_reg, fn)(*args, **kwargs)
    targs = [torch.tensor(a) for a in args if isinstance(a, np.ndarray)]
    targs += [a for a in args if not isinstance(a, np.ndarray)]
    with pytest.raises(ValueError) as pt_error:
        getattr(pt_reg, fn)(*targs, **kwargs)
    assert str(pt_error.value) == str(np_error.value)


def test_mixing_dtypes_and_devices_is_explained():
    x = torch.zeros(4, 3)
    with pytest.raises(ValueError, match=r"`x` is torch.float32 on cpu but "
                                         r"`running_var` is torch.float64"):
        pt_reg.batch_norm_forward(x, None, None, torch.zeros(3),
                                  torch.ones(3, dtype=torch.float64), training=True)
    _, cache = pt_reg.batch_norm_forward(x, None, None, None, None, training=True)
    with pytest.raises(ValueError, match=r"batch_norm_backward: the forward pass ran "
                                         r"in torch.float32 on cpu but `dout` is "
                                         r"torch.float64"):
        pt_reg.batch_norm_backward(torch.zeros(4, 3, dtype=torch.float64), cache)
    with pytest.raises(ValueError,
                       match=r"`w\[0\]` is torch.float32 on cpu but `w\[1\]`"):
        pt_reg.l2_penalty([torch.zeros(2), torch.zeros(2, dtype=torch.float64)], 0.1)


def test_numpy_functions_do_not_modify_what_they_should_not(rng):
    x, gamma, beta, rm, rv = bn_data(rng, (4, 3, 2, 2))
    copies = [a.copy() for a in (x, gamma, beta, rm, rv)]
    np_reg.batch_norm_forward(x, gamma, beta, rm, rv, training=False)
    np_reg.dropout_forward(x, p=0.5, training=True, rng=rng)
    np_reg.l1_penalty_grad([x, gamma], 0.1)
    for a, b in zip((x, gamma, beta, rm, rv), copies):
        np.testing.assert_array_equal(a, b)
    out, _ = np_reg.dropout_forward(x, p=0.5, training=False, rng=None)
    assert out is not x


# ------------------------------------------------------------------ augment_digits
@pytest.fixture(scope="module")
def digits():
    return load_digits()[0][:200]


@pytest.mark.parametrize("as_images", [False, True], ids=["N-64", "N-8-8"])
def test_augment_digits_keeps_shape_dtype_and_range(digits, as_images):
    X = digits.reshape(-1, 8, 8) if as_images else digits
    out = augment_digits(X, rng=np.random.default_rng(0), max_shift=2, max_angle=15,
                         noise=0.1)
    assert out.shape == X.shape and out.dtype == X.dtype and out is not X
    assert out.min() >= 0 and out.max() <= 1
    assert not np.allclose(out, X)
    out32 = augment_digits(X.astype(np.float32), rng=np.random.default_rng(0))
    assert out32.dtype == np.float32


def test_augment_digits_with_nothing_to_do_is_the_identity(digits):
    X = digits.copy()
    out = augment_digits(X, rng=np.random.default_rng(0), max_shift=0, max_angle=0,
                         noise=0)
    np.testing.assert_array_equal(out, digits)
    out[0, 0] = 0.5
    np.testing.assert_array_equal(X, digits)       # a new array, the input untouched


def test_augment_digits_is_reproducible(digits):
    kw = dict(max_shift=1, max_angle=10, noise=0.05)
    a = augment_digits(digits, rng=np.random.default_rng(5), **kw)
    b = augment_digits(digits, rng=np.random.default_rng(5), **kw)
    c = augment_digits(digits, rng=np.random.default_rng(6), **kw)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_augment_digits_shifts_without_wrap_around():
    # One bright pixel on each border: moved outwards it vanishes, never reappearing
    # on the opposite side; moved inwards it lands one pixel further in.
    n = 400
    X = np.zeros((n, 8, 8))
    X[:, 3, 7] = 1.0                    # on the right border
    out = augment_digits(X, rng=np.random.default_rng(1), max_shift=1)
    assert (out[:, :, 0] == 0).all()                  # never wraps to the left
    assert ((out.sum(axis=(1, 2)) == 0) | (out.sum(axis=(1, 2)) == 1)).all()
    lost = out.sum(axis=(1, 2)) == 0
    assert 0.2 < lost.mean() < 0.5                    # right shift: about a third
    r, c = np.nonzero(out[~lost].reshape(-1, 8, 8).sum(axis=0))
    assert set(r) == {2, 3, 4} and set(c) == {6, 7}
    # Every shift in [-2, 2]^2 occurs, and each moves the whole image rigidly.
    Y = np.zeros((n, 8, 8))
    Y[:, 2:6, 2:6] = np.arange(16).reshape(4, 4) / 15
    out = augment_digits(Y, rng=np.random.default_rng(2), max_shift=2)
    seen = set()
    for img in out:
        seen.add(_offset(img, Y[0]))
    assert seen == {(i, j) for i in range(-2, 3) for j in range(-2, 3)}


def _offset(img, ref):
    """The (dr, dc) such that img is ref moved by it with zero fill, or fail."""
    for dr in range(-2, 3):
        for dc in range(-2, 3):
            moved = np.zeros_like(ref)
            src = ref[max(0, -dr):8 - max(0, dr), max(0, -dc):8 - max(0, dc)]
            moved[max(0, dr):max(0, dr) + src.shape[0],
                  max(0, dc):max(0, dc) + src.shape[1]] = src
            if np.array_equal(moved, img):
                return dr, dc
    raise AssertionError("not a shifted copy of the reference image")


def test_augment_digits_rotates_and_adds_noise(digits):
    X = digits[:50]
    rot = augment_digits(X, rng=np.random.default_rng(3), max_shift=0, max_angle=30)
    assert not np.allclose(rot, X)
    # Image 7 is image 7 rotated by the 8th angle drawn (bilinear, zero fill).
    from scipy.ndimage import rotate
    angles = np.random.default_rng(3).uniform(-30, 30, size=50)
    want = rotate(X[7].reshape(8, 8), angles[7], reshape=False, order=1, cval=0.0)
    np.testing.assert_allclose(rot[7].reshape(8, 8), np.clip(want, 0, 1), atol=1e-12)
    noisy = augment_digits(X, rng=np.random.default_rng(4), max_shift=0, noise=0.05)
    inside = (X > 0.2) & (X < 0.8)                     # far from the clipping bounds
    assert 0.04 < (noisy - X)[inside].std() < 0.06


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(X=np.zeros(64)), ValueError,
     r"augment_digits: `X` has shape \(64,\), expected \(N, 64\) or \(N, 8, 8\).*"
     r"X\[None\]"),
    (dict(X=np.zeros((3, 28, 28))), ValueError, r"`X` has shape \(3, 28, 28\)"),
    (dict(X=np.full((2, 64), 16.0)), ValueError,
     r"intensities in \[0, 1\], got values from 16 to 16.*divide by 16"),
    (dict(X=np.full((2, 64), -1.0)), ValueError, r"got values from -1 to -1\.$"),
    (dict(X=np.full((2, 64), np.nan)), ValueError, r"got non-finite values"),
    (dict(max_shift=8), ValueError, r"`max_shift` must be an int from 0 to 7, got 8"),
    (dict(max_shift=1.5), ValueError, r"`max_shift` must be an int"),
    (dict(max_angle=-5), ValueError, r"invalid `max_angle`=-5.0"),
    (dict(noise=-0.1), ValueError, r"invalid `noise`=-0.1"),
    (dict(rng=None), TypeError, r"augment_digits: pass `rng=np.random.default_rng"),
    (dict(rng=0), TypeError, r"`rng` must be a numpy.random.Generator"),
    (dict(X=torch.zeros(2, 64)), TypeError, r"dlkit.to_numpy\(X\)"),
    (dict(X=np.array([["a"] * 64])), TypeError, r"must hold pixel values"),
])
def test_augment_digits_bad_input_gets_a_clear_error(kwargs, error, message):
    args = dict(X=np.zeros((2, 64)), rng=np.random.default_rng(0)) | kwargs
    X = args.pop("X")
    with pytest.raises(error, match=message):
        augment_digits(X, **args)
