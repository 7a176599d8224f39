"""Forward mode (dual numbers) and reverse mode (Value, Tensor) against torch.func/autograd."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlkit.autodiff import forward as fwd
from dlkit.autodiff import reverse as rev
from dlkit.testing import assert_gradients_close, numerical_gradient

T64 = dict(dtype=torch.float64)

# The same functions written for dual numbers and for torch (elementwise, any shape).
FUNCTIONS = {
    "products": (lambda x: x * x * 3.0 - x / (1.0 + x * x),
                 lambda x: x * x * 3.0 - x / (1.0 + x * x)),
    "elementary": (lambda x: fwd.exp(fwd.sin(x)) + fwd.log(2.0 + fwd.cos(x)) * fwd.tanh(x),
                   lambda x: torch.exp(torch.sin(x)) + torch.log(2.0 + torch.cos(x))
                   * torch.tanh(x)),
    "powers": (lambda x: fwd.sqrt(1.0 + x**2) + 2.0**x + (1.5 + x * x) ** (0.5 + x * x),
               lambda x: torch.sqrt(1.0 + x**2) + 2.0**x + (1.5 + x * x) ** (0.5 + x * x)),
    "neuron": (lambda x: fwd.sigmoid(-1.2 * x + 0.3) / (3.0 - x),
               lambda x: torch.sigmoid(-1.2 * x + 0.3) / (3.0 - x)),
}


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_jvp_equals_torch_func_jvp_on_scalars_and_arrays(name, rng):
    f_dual, f_torch = FUNCTIONS[name]
    for x, v in [(0.37, 1.0), (rng.uniform(-1, 1, 5), rng.standard_normal(5)),
                 (rng.uniform(-1, 1, (2, 3)), rng.standard_normal((2, 3)))]:
        out, tangent = fwd.jvp(f_dual, x, v)
        want_out, want_tangent = torch.func.jvp(
            f_torch, (torch.tensor(x, **T64),), (torch.tensor(v, **T64),))
        np.testing.assert_allclose(out, want_out.numpy(), rtol=1e-13)
        np.testing.assert_allclose(tangent, want_tangent.numpy(), rtol=1e-12, atol=1e-14)


def test_forward_jacobian_equals_torch_and_needs_one_sweep_per_input(rng):
    A = rng.standard_normal((3, 4))

    def f(x):
        return fwd.tanh(A @ x)

    x = rng.standard_normal(4)
    want = torch.func.jacrev(lambda t: torch.tanh(torch.tensor(A) @ t))(
                                              torch.tensor(x))
    np.testing.assert_allclose(fwd.jacobian(f, x), want.numpy(), rtol=1e-12)
    calls = []
    fwd.jacobian(lambda d: calls.append(1) or d * 2.0, x)
    assert len(calls) == 4


def test_matmul_and_sum_of_duals_equal_torch_func_jvp(rng):
    A, B = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    x, v = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    out, tangent = fwd.jvp(lambda X: fwd.sum(fwd.tanh(A @ X) @ (X.T @ B), axis=0), x, v)
    want_out, want_tangent = torch.func.jvp(
        lambda X: (torch.tanh(torch.tensor(A) @ X) @ (X.T @ torch.tensor(B))).sum(0),
        (torch.tensor(x),), (torch.tensor(v),))
    np.testing.assert_allclose(out, want_out.numpy(), rtol=1e-13)
    np.testing.assert_allclose(tangent, want_tangent.numpy(), rtol=1e-12)
    const = fwd.Dual(np.ones((2, 3)))                   # tangent 0: a constant
    assert fwd.sum(const @ np.ones(3)).tangent == 0.0
    np.testing.assert_array_equal(fwd.sum(const, axis=1).tangent, [0.0, 0.0])


def test_numpy_functions_on_duals_raise_instead_of_answering_wrongly():
    with pytest.raises(TypeError):
        np.sum(fwd.Dual(np.array([1.0, 2.0]), np.array([1.0, 0.0])))
    both = np.array([1.0, 2.0]) * fwd.Dual(np.array([3.0, 4.0]), 1.0)   # still allowed
    np.testing.assert_array_equal(both.tangent, [1.0, 2.0])


def test_grad_of_a_function_that_ignores_x_is_zero():
    np.testing.assert_array_equal(rev.grad(lambda x: rev.Tensor(3.0) * 2.0)(np.ones(2)),
                                  np.zeros(2))


def test_dual_rules_are_the_textbook_ones():
    a, b = fwd.Dual(3.0, 2.0), fwd.Dual(-2.0, 5.0)
    prod, quot = a * b, a / b
    assert (prod.value, prod.tangent) == (-6.0, 2.0 * -2.0 + 3.0 * 5.0)
    assert quot.value == -1.5 and quot.tangent == pytest.approx((2.0 * -2.0 - 3.0 * 5.0) / 4)
    t = fwd.tanh(fwd.Dual(0.5, 3.0))
    assert t.tangent == pytest.approx((1 - math.tanh(0.5) ** 2) * 3.0)
    c = 1.0 / fwd.Dual(4.0, 1.0)
    assert c.tangent == pytest.approx(-1 / 16)
    assert np.all(np.isfinite(fwd.sigmoid(fwd.Dual(np.array([-800.0, 800.0]), 1.0)).tangent))


def expression(a, b, log, exp):
    """Uses every Value op, and a and c = a*b more than once."""
    c = a * b
    return c * c + a / b - (a**2).tanh() + log(b.sigmoid()) + exp(a) * 0.1 \
        + (c - 1.0).relu() * 2.0 + (3.0 - a).sin() * b.cos() + 1.0 / (a + 5.0) - (-b)


@pytest.mark.parametrize("a, b", [(2.0, -3.0), (0.3, 0.7), (-1.1, 2.5)])
def test_value_engine_equals_torch_autograd(a, b):
    va, vb = rev.Value(a), rev.Value(b)
    out = expression(va, vb, lambda v: v.log(), lambda v: v.exp())
    out.backward()
    ta, tb = torch.tensor(a, **T64, requires_grad=True), torch.tensor(b, **T64, requires_grad=True)
    want = expression(ta, tb, torch.log, torch.exp)
    want.backward()
    assert out.data == pytest.approx(want.item(), rel=1e-13)
    assert va.grad == pytest.approx(ta.grad.item(), rel=1e-12)
    assert vb.grad == pytest.approx(tb.grad.item(), rel=1e-12)


def test_backward_twice_accumulates_in_leaves_like_torch():
    x = rev.Value(1.5)
    y = (x * x).tanh() * x                       # x used three times
    y.backward()
    first = x.grad
    y.backward()
    xt = torch.tensor(1.5, **T64, requires_grad=True)
    yt = torch.tanh(xt * xt) * xt
    yt.backward(retain_graph=True)
    assert first == pytest.approx(xt.grad.item(), rel=1e-13)
    yt.backward()
    assert x.grad == pytest.approx(xt.grad.item(), rel=1e-13) == pytest.approx(2 * first)
    rev.zero_grad(y)
    y.backward()
    assert x.grad == pytest.approx(first, rel=1e-13)


def test_topological_order_lists_each_node_once_inputs_first():
    x = rev.Value(0.5)
    y = x * x
    z = y + y * x
    order = rev.topological_order(z)
    assert order[-1] is z and len(order) == len({id(n) for n in order}) == 4
    position = {id(n): i for i, n in enumerate(order)}
    for node in order:
        assert all(position[id(p)] < position[id(node)] for p in node._prev)


def test_long_chains_need_no_recursion():
    x = rev.Value(0.1)
    y = x
    for _ in range(20_000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == pytest.approx(1.0)


# ------------------------------------------------------------------ tensors
@pytest.mark.parametrize("shape_a, shape_b", [((4, 3), (3,)), ((4, 1), (1, 3)),
                                              ((2, 4, 3), (4, 1)), ((), (2, 3))])
def test_broadcasting_ops_equal_torch_and_finite_differences(shape_a, shape_b, rng):
    a0, b0 = rng.uniform(0.5, 2, shape_a), rng.uniform(0.5, 2, shape_b)

    def f(a, b, lib):
        return (((a * b + a) / (b - 3.0)) ** 2 - lib(a)).sum()

    def run(a0_, b0_):
        a, b = rev.Tensor(a0_), rev.Tensor(b0_)
        out = f(a, b, lambda t: t.exp())
        out.backward()
        return out, a.grad, b.grad

    out, ga, gb = run(a0, b0)
    at = torch.tensor(a0, **T64, requires_grad=True)
    bt = torch.tensor(b0, **T64, requires_grad=True)
    f(at, bt, torch.exp).backward()
    np.testing.assert_allclose(ga, at.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gb, bt.grad.numpy(), rtol=1e-12)
    assert_gradients_close(ga, numerical_gradient(lambda v: float(run(v, b0)[0].data), a0))


def test_matmul_reductions_and_shapes_equal_torch(rng):
    x0, w0 = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))

    def f(x, w, lib):
        h = x @ w.T
        h = lib["tanh"](h).reshape(4, 5).T * lib["sigmoid"](h)
        return (lib["relu"](h).mean(axis=0, keepdims=True) * h).sum(axis=1).mean() \
            + lib["log"](lib["exp"](h).sum())

    ops = {k: (lambda name: lambda t: getattr(t, name)())(k)
           for k in ("tanh", "sigmoid", "relu", "log", "exp")}
    x, w = rev.Tensor(x0), rev.Tensor(w0)
    out = f(x, w, ops)
    out.backward()
    xt = torch.tensor(x0, **T64, requires_grad=True)
    wt = torch.tensor(w0, **T64, requires_grad=True)
    want = f(xt, wt, {k: getattr(torch, k) for k in ops})
    want.backward()
    assert float(out.data) == pytest.approx(want.item(), rel=1e-13)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(w.grad, wt.grad.numpy(), rtol=1e-11, atol=1e-14)


def test_softmax_cross_entropy_equals_f_cross_entropy(rng):
    z0, y = 10 * rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    z = rev.Tensor(z0)
    loss = rev.softmax_cross_entropy(z, y)
    loss.backward()
    zt = torch.tensor(z0, **T64, requires_grad=True)
    want = F.cross_entropy(zt, torch.tensor(y))
    want.backward()
    assert float(loss.data) == pytest.approx(want.item(), rel=1e-13)
    np.testing.assert_allclose(z.grad, zt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_grad_vjp_and_jacobian_equal_torch_func(rng):
    c0 = rng.standard_normal(3)
    x0 = rng.standard_normal((2, 3))

    def f(x, lib_tanh=lambda t: t.tanh()):
        c = c0 if isinstance(x, rev.Tensor) else torch.tensor(c0)
        return lib_tanh(x * c).sum(axis=0) / ((x * x).mean() + 1.0)

    out, vjp_fn = rev.vjp(f, x0)
    want_out, want_fn = torch.func.vjp(lambda t: f(t, torch.tanh), torch.tensor(x0))
    v = rng.standard_normal(3)
    np.testing.assert_allclose(out, want_out.detach().numpy(), rtol=1e-13)
    for _ in range(2):                       # a second call is a fresh product
        (got,) = vjp_fn(v)
        np.testing.assert_allclose(got, want_fn(torch.tensor(v))[0].detach().numpy(),
                                   rtol=1e-12)
    g = rev.grad(lambda x: f(x).sum())(x0)
    want_g = torch.func.grad(lambda t: f(t, torch.tanh).sum())(torch.tensor(x0))
    np.testing.assert_allclose(g, want_g.numpy(), rtol=1e-12)
    J = rev.jacobian(lambda x: (x * x).tanh(), c0)
    want_J = torch.func.jacrev(lambda t: torch.tanh(t * t))(torch.tensor(c0))
    np.testing.assert_allclose(J, want_J.numpy(), rtol=1e-12, atol=1e-15)


def test_unbroadcast_sums_added_and_stretched_axes():
    g = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(rev.unbroadcast(g, (3, 1)), g.sum(axis=(0, 2))[:, None])
    np.testing.assert_array_equal(rev.unbroadcast(g, (4,)), g.sum(axis=(0, 1)))
    np.testing.assert_array_equal(rev.unbroadcast(g, ()), g.sum())
    np.testing.assert_array_equal(rev.unbroadcast(g, (2, 3, 4)), g)
    with pytest.raises(ValueError, match=r"shape \(5,\) cannot have been broadcast"):
        rev.unbroadcast(g, (5,))


def test_tensor_engine_trains_an_mlp_like_torch(rng):
    from dlkit import data
    X, y = data.make_spirals(150, num_classes=3, rng=rng)
    init = [rng.standard_normal(s) * 0.5 for s in [(16, 2), (16,), (3, 16), (3,)]]

    def step_loss(params, tensor, loss_fn):
        w1, b1, w2, b2 = params
        return loss_fn((tensor(X) @ w1.T + b1).tanh() @ w2.T + b2, y)

    params = [rev.Tensor(p.copy()) for p in init]
    params_t = [torch.tensor(p, **T64, requires_grad=True) for p in init]
    losses, losses_t = [], []
    for _ in range(100):
        loss = step_loss(params, rev.Tensor, rev.softmax_cross_entropy)
        loss_t = step_loss(params_t, lambda a: torch.tensor(a),
                           lambda z, t: F.cross_entropy(z, torch.tensor(t)))
        for p in params:
            p.grad = None
        loss.backward()
        loss_t.backward()
        with torch.no_grad():
            for p, pt in zip(params, params_t):
                p.data -= 0.5 * p.grad
                pt -= 0.5 * pt.grad
                pt.grad = None
        losses.append(float(loss.data))
        losses_t.append(loss_t.item())
    np.testing.assert_allclose(losses, losses_t, rtol=1e-10)
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("call, error, message", [
    (lambda: fwd.jvp(lambda d: d, np.zeros(3), np.zeros(2)), ValueError,
     r"`v` has shape \(2,\), expected the shape of `x`"),
    (lambda: fwd.jacobian(lambda d: d, np.zeros((2, 2))), ValueError, "must be a vector"),
    (lambda: fwd.Dual(1.0) * "a", TypeError, "cannot combine a Dual with str"),
    (lambda: fwd.jvp(lambda d: d, torch.zeros(2), torch.zeros(2)), TypeError,
     "torch.func.jvp"),
    (lambda: rev.Value([1.0]), TypeError, "for arrays use dlkit.autodiff.reverse.Tensor"),
    (lambda: rev.Value(2.0) ** rev.Value(3.0), TypeError, "the exponent must be a number"),
    (lambda: rev.Tensor(np.zeros((2, 3))) @ rev.Tensor(np.zeros((2, 3))), ValueError,
     r"expected matrices \(n, k\) @ \(k, m\)"),
    (lambda: rev.Tensor(np.zeros(3)).backward(), ValueError, "reduce it to a scalar"),
    (lambda: rev.softmax_cross_entropy(rev.Tensor(np.zeros((2, 3))), np.array([0, 3])),
     ValueError, r"integer classes in 0..2"),
    (lambda: rev.grad(lambda x: x * 2.0)(np.zeros(3)), ValueError, "must return a scalar"),
])
def test_bad_input_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_tensor_engine_step_is_freed_at_once_and_leaves_own_their_gradients():
    # What makes the engine fast enough to train with (chapter 03's Tensor): no
    # reference cycles, so a step's arrays are freed when the step drops its graph.
    import gc
    import weakref

    rng = np.random.default_rng(0)
    w = rev.Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    gc.disable()
    try:
        loss = ((rev.Tensor(rng.standard_normal((4, 3))) @ w).relu() + 1.0).sum()
        graph = [weakref.ref(node) for node in rev.topological_order(loss)]
        loss.backward()
        del loss
        assert all(ref() is None for ref in graph if ref() is not w)
    finally:
        gc.enable()
    x = rev.Tensor(np.zeros(3))
    (x + 1.0).sum().backward()                 # the rules pass on views of one array
    assert x.grad.flags.writeable and x.grad.flags.owndata
    x.grad *= 2.0                              # the caller may change it in place
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])
