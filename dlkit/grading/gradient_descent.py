"""Checks for the exercises of chapter 02, gradient descent and optimizers.

Each ``check_*`` function is called from a check cell, without arguments (it finds
the learner's function by name in the notebook) or with the function to check. It
prints one verdict line and returns None.
"""
from __future__ import annotations

import math
import zlib
from typing import Any, Callable

import numpy as np

from ..numpy import optim
from ._core import (as_array, CheckFailed, close, expect, learner_function,
                    match_mistake, run_checks)

__all__ = [
    "check_numerical_gradient", "check_gradient_descent", "check_mse_gradient",
    "check_minibatch_indices", "check_momentum_step", "check_rmsprop_step",
    "check_adam_step",
]


# ------------------------------------------------------------------ 2.1 numerical gradient
def _central(f: Callable, w: np.ndarray, h: float, *, div: float = 2.0,
             forward: bool = False, restore: bool = True) -> np.ndarray:
    """Central differences, and the typical wrong variants (for hints)."""
    w = np.array(w, dtype=np.float64)
    grad = np.zeros_like(w)
    flat, g = w.reshape(-1), grad.reshape(-1)
    f0 = f(w)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f(w)
        flat[i] = (old - h) if restore else flat[i] - 2 * h
        fm = f0 if forward else f(w)
        if restore:
            flat[i] = old
        g[i] = (fp - fm) / (div * h if not forward else h)
    return grad


def check_numerical_gradient(fn: Any = None) -> None:
    """Exercise 2.1: ``numerical_gradient(f, w, h=1e-5)`` by central differences."""
    fn = learner_function(fn, "numerical_gradient")
    rng = np.random.default_rng(21)
    h = 1e-5

    def mistakes(f, w):
        return {
            "this is the forward difference (f(w+h)-f(w))/h; use the central difference "
            "(f(w+h)-f(w-h))/(2h), whose error is O(h²) instead of O(h)":
                _central(f, w, h, forward=True),
            "the result is twice too large: the central difference divides by 2h, not h":
                _central(f, w, h, div=1.0),
        }

    def quadratic(fn):
        w = rng.standard_normal(3)
        f = lambda v: float(np.sum(v**2))  # noqa: E731
        expect(fn(f, w.copy(), h), 2 * w, "the gradient of sum(w**2)", mistakes(f, w))

    def matrix_shape(fn):
        w = rng.standard_normal((2, 3))
        c = np.arange(1.0, 7.0).reshape(2, 3)
        f = lambda v: float(np.sum(c * np.exp(v)))  # noqa: E731
        got = as_array("", "the gradient", fn(f, w.copy(), h))
        if got.shape != w.shape:
            raise CheckFailed(f"for w of shape {w.shape} the gradient has shape {got.shape}; "
                              f"it must have the shape of w (one entry per parameter).")
        expect(got, c * np.exp(w), "the gradient of a function of a matrix", mistakes(f, w))

    def coupled(fn):
        w = rng.uniform(0.5, 1.5, size=3)
        f = lambda v: float(v[0] * v[1] ** 2 * v[2] ** 3)  # noqa: E731
        want = np.array([w[1] ** 2 * w[2] ** 3, 2 * w[0] * w[1] * w[2] ** 3,
                         3 * w[0] * w[1] ** 2 * w[2] ** 2])
        wrong = {"after nudging w[i], put it back to its old value before moving on to "
                 "the next coordinate": _central(f, w, h, restore=False)}
        wrong.update(mistakes(f, w))
        expect(fn(f, w.copy(), h), want, "the gradient of w0*w1²*w2³", wrong, rtol=1e-5)

    def leaves_w_alone(fn):
        w = rng.standard_normal(4)
        before = w.copy()
        fn(lambda v: float(np.sum(np.sin(v))), w, h)
        if not np.array_equal(w, before):
            raise CheckFailed("the function changed the caller's w; restore every entry you "
                              "nudge, or work on a copy (w = np.array(w, dtype=float)).")

    def integer_input(fn):
        w = np.array([1, 2, 3])
        try:
            got = as_array("", "the gradient", fn(lambda v: float(np.sum(v**2)), w, h))
            ok = close(got, 2.0 * w, rtol=1e-6)
        except CheckFailed:
            raise
        except Exception:
            ok = False
        if not ok:
            raise CheckFailed("wrong for an integer array w = np.array([1, 2, 3]): nudging "
                              "it by h in place rounds back to integers. Start with "
                              "w = np.array(w, dtype=float).")

    run_checks("numerical_gradient", "2.1", fn,
               [quadratic, matrix_shape, coupled, leaves_w_alone, integer_input])


# ------------------------------------------------------------------ 2.2 gradient descent
def check_gradient_descent(fn: Any = None) -> None:
    """Exercise 2.2: ``gradient_descent(grad_fn, w0, lr, num_steps)`` returns the trajectory."""
    fn = learner_function(fn, "gradient_descent")
    rng = np.random.default_rng(22)
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    grad = lambda w: A @ w  # noqa: E731

    def reference(w0, lr, num_steps, sign=-1.0):
        path = [np.array(w0, dtype=float)]
        for _ in range(num_steps):
            path.append(path[-1] + sign * lr * grad(path[-1]))
        return np.stack(path)

    def run(fn, w0, lr, num_steps):
        before = w0.copy()
        got = as_array("", "the trajectory", fn(grad, w0, lr, num_steps))
        if not np.array_equal(w0, before):
            raise CheckFailed("the function changed the caller's w0 in place; "
                              "start from w = np.array(w0, dtype=float).")
        return got

    def bowl(fn):
        w0 = rng.standard_normal(2)
        got = run(fn, w0.copy(), 0.1, 20)
        want = reference(w0, 0.1, 20)
        if got.shape == (20, 2) and close_rows(got, want[1:]):
            raise CheckFailed("the trajectory must start with w0: return num_steps + 1 rows.")
        if got.ndim == 2 and len(got) > 2 and np.all(got[1:] == got[-1]):
            raise CheckFailed("every row of the trajectory is the same: `w -= ...` updates "
                              "the array you stored; write w = w - lr * g, or store w.copy().")
        expect(got, want, "the trajectory", {
            "the steps go uphill: gradient descent subtracts lr * gradient":
                reference(w0, 0.1, 20, sign=+1.0)})

    def learning_rates(fn):
        w0 = rng.standard_normal(2)
        for lr in (0.01, 0.5):
            expect(run(fn, w0.copy(), lr, 7), reference(w0, lr, 7), f"the trajectory for lr={lr}")

    def zero_steps(fn):
        w0 = rng.standard_normal(2)
        expect(run(fn, w0.copy(), 0.1, 0), w0[None, :],
               "the trajectory for num_steps=0 (just w0, shape (1, D))")

    def converges(fn):
        got = run(fn, np.array([2.0, -1.0]), 0.2, 200)
        if not np.allclose(got[-1], 0.0, atol=1e-6):
            raise CheckFailed(f"on the bowl ½wᵀAw, 200 steps with lr=0.2 should reach the "
                              f"minimum 0; they end at {np.round(got[-1], 4)}.")

    run_checks("gradient_descent", "2.2", fn, [bowl, learning_rates, zero_steps, converges])


def close_rows(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b))


# ------------------------------------------------------------------ 2.3 MSE gradient
def check_mse_gradient(fn: Any = None) -> None:
    """Exercise 2.3: ``mse_gradient(X, y, w, b)`` returns ``(dw, db)`` of the mean squared error."""
    fn = learner_function(fn, "mse_gradient")
    rng = np.random.default_rng(23)

    def case(n, d):
        def run(fn):
            X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
            w, b = rng.standard_normal(d), float(rng.standard_normal())
            r = X @ w + b - y                      # residuals y_hat - y, shape (n,)
            dw, db = 2 / n * X.T @ r, 2 / n * r.sum()
            out = fn(X, y, w, b)
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise CheckFailed("return a pair (dw, db): the gradient for w and for b.")
            got_dw, got_db = out
            for what, got, want in (("dw", got_dw, dw), ("db", got_db, db)):
                expect(got, want, what, {
                    f"{what} is half the right value: the derivative of r² is 2r":
                        want / 2,
                    f"{what} has the wrong sign: with r = y_hat - y the gradient is "
                    f"+(2/n) Σ r x": -want,
                    f"{what} is n times too large: the loss is the mean, so divide by n":
                        want * n,
                })
        return run

    run_checks("mse_gradient", "2.3", fn, [case(10, 1), case(50, 3), case(7, 5)])


# ------------------------------------------------------------------ 2.4 mini-batches
def check_minibatch_indices(fn: Any = None) -> None:
    """Exercise 2.4: ``minibatch_indices(n, batch_size, rng)`` shuffles and splits range(n)."""
    fn = learner_function(fn, "minibatch_indices")

    def batches(fn, n, batch_size, seed):
        out = fn(n, batch_size, np.random.default_rng(seed))
        try:
            out = [np.asarray(b) for b in out]
        except TypeError:
            raise CheckFailed("return a list of index arrays, one per mini-batch.") from None
        for b in out:
            if b.ndim != 1 or not (b.size == 0 or np.issubdtype(b.dtype, np.integer)):
                raise CheckFailed(f"each mini-batch must be a 1-D array of integer indices; "
                                  f"got an array of shape {b.shape} and dtype {b.dtype}.")
        return out

    def covers_each_index_once(fn):
        out = batches(fn, 103, 10, 0)
        allidx = np.concatenate(out) if out else np.array([], dtype=int)
        if len(allidx) == 100:
            raise CheckFailed("the last, smaller batch is missing: with n=103 and "
                              "batch_size=10 an epoch has 11 batches, the last one of 3.")
        if sorted(allidx.tolist()) != list(range(103)):
            raise CheckFailed("over one epoch every index 0..n-1 must appear exactly once.")

    def sizes(fn):
        out = batches(fn, 103, 10, 1)
        got = [len(b) for b in out]
        if got != [10] * 10 + [3]:
            raise CheckFailed(f"batch sizes should be ten 10s and one 3 for n=103, "
                              f"batch_size=10; got {got}.")
        if [len(b) for b in batches(fn, 5, 8, 1)] != [5]:
            raise CheckFailed("with batch_size > n there is a single batch of all n examples.")

    def shuffled(fn):
        allidx = np.concatenate(batches(fn, 100, 25, 2))
        if np.array_equal(allidx, np.arange(100)):
            raise CheckFailed("the indices come out in order 0, 1, 2, ...: shuffle them "
                              "with rng.permutation(n) first.")

    def uses_rng(fn):
        a = np.concatenate(batches(fn, 50, 7, 3))
        b = np.concatenate(batches(fn, 50, 7, 3))
        if not np.array_equal(a, b):
            raise CheckFailed("two generators with the same seed gave different orders: draw "
                              "the permutation from the `rng` argument, not np.random.*.")
        rng = np.random.default_rng(4)
        first = np.concatenate(fn(50, 7, rng))
        second = np.concatenate(fn(50, 7, rng))
        if np.array_equal(first, second):
            raise CheckFailed("two epochs with the same rng gave the same order: do not "
                              "create a new seeded generator inside the function.")

    run_checks("minibatch_indices", "2.4", fn, [covers_each_index_once, sizes, shuffled, uses_rng])


# ------------------------------------------------------------------ steps: 2.5 to 2.7
def _trajectory(step: Callable, grads: list[np.ndarray], w0: np.ndarray, **hyper) -> np.ndarray:
    """Apply ``step`` to a fixed sequence of gradients, passing the state along."""
    w, state, path = np.array(w0, dtype=float), None, []
    for g in grads:
        out = step(w, g.copy(), state, **hyper)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise CheckFailed("return a pair (w_new, state), like dlkit's optimizers.")
        w, state = out
        path.append(as_array("", "w_new", w).copy())
    return np.stack(path)


def _compare(fn: Callable, reference: Callable, wrongs: Callable, name: str,
             grads: list[np.ndarray], w0: np.ndarray, hp: dict, *,
             atol: float = 1e-10) -> None:
    """Fail unless ``fn`` follows ``reference``'s trajectory; name a known mistake."""
    want = _trajectory(reference, grads, w0, **hp)
    got = _trajectory(fn, grads, w0, **hp)
    if got.shape != want.shape:
        raise CheckFailed(f"w_new has shape {got.shape[1:]}, expected {want.shape[1:]}.")
    if not np.allclose(got, want, rtol=1e-6, atol=atol):
        hint = match_mistake(got, {h: _trajectory(f, grads, w0, **hp)
                                   for h, f in wrongs(hp).items()}, atol=atol)
        steps = [i for i in range(len(got)) if not np.allclose(got[i], want[i], atol=atol)]
        raise CheckFailed(hint or f"step {steps[0] + 1} of {len(got)} differs from "
                          f"{name} in dlkit.numpy.optim (with {hp}).")


def _step_cases(name: str, reference: Callable, wrongs: Callable, hyper: list[dict],
                extra: list | None = None) -> list:
    """Cases shared by every update rule: one step, several steps, no mutation, shapes."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))

    def compare(fn, grads, w0, hp):
        _compare(fn, reference, wrongs, name, grads, w0, hp)

    def one_step(fn):
        w0, g = rng.standard_normal(3), rng.standard_normal(3)
        compare(fn, [g], w0, hyper[0])

    def many_steps(fn):
        for hp in hyper:
            w0 = rng.standard_normal(4)
            compare(fn, list(rng.standard_normal((8, 4))), w0, hp)

    def matrix_param(fn):
        w0 = rng.standard_normal((2, 3))
        compare(fn, list(rng.standard_normal((4, 2, 3))), w0, hyper[-1])

    def no_mutation(fn):
        w, g = rng.standard_normal(3), rng.standard_normal(3)
        w_before, g_before = w.copy(), g.copy()
        fn(w, g, None, **hyper[0])
        if not (np.array_equal(w, w_before) and np.array_equal(g, g_before)):
            raise CheckFailed("the step changed its input arrays in place; return a new "
                              "w_new = w - ... instead of writing into w or dw.")

    return [one_step, many_steps, matrix_param, no_mutation] + (extra or [])


def check_momentum_step(fn: Any = None) -> None:
    """Exercise 2.5: ``momentum_step(w, dw, state, *, lr, momentum)`` (heavy-ball SGD)."""
    fn = learner_function(fn, "momentum_step")

    def reference(w, dw, state, *, lr, momentum):
        return optim.sgd_step(w, dw, state, lr=lr, momentum=momentum)

    def wrongs(hp):
        def dampened(w, dw, state, *, lr, momentum):
            v = (1 - momentum) * dw + (0 if state is None else momentum * state)
            return w - lr * v, v

        def plain(w, dw, state, *, lr, momentum):
            return w - lr * dw, None

        def uphill(w, dw, state, *, lr, momentum):
            v = dw + (0 if state is None else momentum * state)
            return w + lr * v, v

        return {
            "the velocity is v = βv + (1-β)g (an average); the course and torch.optim.SGD "
            "use v = βv + g, eq. (2.19)": dampened,
            "the steps ignore the velocity: update w with v, not with the raw gradient":
                plain,
            "the steps go uphill: w_new = w - lr * v": uphill,
        }

    hyper = [dict(lr=0.1, momentum=0.9), dict(lr=0.05, momentum=0.5), dict(lr=0.2, momentum=0.0)]
    run_checks("momentum_step", "2.5", fn, _step_cases("momentum_step", reference, wrongs, hyper))


def check_rmsprop_step(fn: Any = None) -> None:
    """Exercise 2.6: ``rmsprop_step(w, dw, state, *, lr, alpha=0.99, eps=1e-8)``."""
    fn = learner_function(fn, "rmsprop_step")

    def reference(w, dw, state, *, lr, alpha=0.99, eps=1e-8):
        return optim.rmsprop_step(w, dw, state, lr=lr, alpha=alpha, eps=eps)

    def wrongs(hp):
        def variant(square=True, eps_inside=False, weight=True):
            def step(w, dw, state, *, lr, alpha=0.99, eps=1e-8):
                g2 = dw * dw if square else dw
                v = (1 - alpha if weight else 1.0) * g2 + (0 if state is None else alpha * state)
                denom = np.sqrt(v + eps) if eps_inside else np.sqrt(v) + eps
                return w - lr * dw / denom, v
            return step

        return {
            "v must average the SQUARED gradients: v = αv + (1-α)g², eq. (2.22)": variant(square=False),
            "eps goes after the square root, sqrt(v) + eps, as in torch.optim.RMSprop":
                variant(eps_inside=True),
            "the new squared gradient needs the weight (1-α): v = αv + (1-α)g²":
                variant(weight=False),
        }

    def tiny_gradients(fn):
        # With gradients near 1e-6, eps inside or outside the root changes the step a lot.
        rng = np.random.default_rng(26)
        w0 = rng.standard_normal(3)
        grads = list(1e-6 * rng.standard_normal((5, 3)))
        _compare(fn, reference, wrongs, "rmsprop_step", grads, w0,
                 dict(lr=0.01, alpha=0.9, eps=1e-8), atol=1e-12)

    hyper = [dict(lr=0.01), dict(lr=0.001, alpha=0.9), dict(lr=0.05, alpha=0.5, eps=1e-6)]
    run_checks("rmsprop_step", "2.6", fn,
               _step_cases("rmsprop_step", reference, wrongs, hyper, [tiny_gradients]))


def check_adam_step(fn: Any = None) -> None:
    """Exercise 2.7: ``adam_step(w, dw, state, *, lr, betas=(0.9, 0.999), eps=1e-8)``."""
    fn = learner_function(fn, "adam_step")

    def reference(w, dw, state, *, lr, betas=(0.9, 0.999), eps=1e-8):
        return optim.adam_step(w, dw, state, lr=lr, betas=betas, eps=eps)

    def wrongs(hp):
        def variant(correct=True, extra_g=False, eps_inside=False, keep_hat=False,
                    t0=1):
            def step(w, dw, state, *, lr, betas=(0.9, 0.999), eps=1e-8):
                b1, b2 = betas
                t, m, v = (t0 - 1, 0.0, 0.0) if state is None else state
                t += 1
                m = b1 * m + (1 - b1) * dw
                v = b2 * v + (1 - b2) * dw * dw
                m_hat = m / (1 - b1**t) if correct else m
                v_hat = v / (1 - b2**t) if correct else v
                denom = np.sqrt(v_hat + eps) if eps_inside else np.sqrt(v_hat) + eps
                upd = m_hat / denom * (dw if extra_g else 1.0)
                kept = (m_hat, v_hat) if keep_hat else (m, v)
                return w - lr * upd, (t, *kept)
            return step

        return {
            "bias correction missing: divide m by (1-β₁ᵗ) and v by (1-β₂ᵗ), eq. (2.24)":
                variant(correct=False),
            "the update multiplies by the gradient once more; the step is "
            "-lr·m̂/(√v̂+eps), eq. (2.25), with no extra factor g": variant(extra_g=True),
            "eps goes after the square root: √v̂ + eps": variant(eps_inside=True),
            "the first step divides by 1-β⁰ = 0: count the steps from t = 1":
                variant(t0=0),
            "store the raw moments m and v in the state, and bias-correct copies of them "
            "at every step": variant(keep_hat=True),
        }

    def first_step_size(fn):
        # With bias correction the first step is about lr in every coordinate.
        w0, g = np.zeros(3), np.array([1e-3, 1.0, -50.0])
        out = fn(w0.copy(), g, None, lr=0.01)
        step = as_array("", "w_new", out[0]) - w0
        if not np.allclose(np.abs(step), 0.01, rtol=1e-4):
            if np.allclose(np.abs(step), 0.01 * 0.1 / math.sqrt(0.001), rtol=1e-3):
                raise CheckFailed("the first step is 3.16·lr instead of lr: "
                                  "bias correction missing, eq. (2.24)")
            raise CheckFailed(f"the first Adam step should be ±lr = ±0.01 in every "
                              f"coordinate; it is {step}.")

    hyper = [dict(lr=0.001), dict(lr=0.01, betas=(0.8, 0.99)),
             dict(lr=0.1, betas=(0.5, 0.9), eps=1e-6)]
    run_checks("adam_step", "2.7", fn,
               _step_cases("adam_step", reference, wrongs, hyper, [first_step_size]))
