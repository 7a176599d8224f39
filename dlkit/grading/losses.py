"""Checks for the exercises of chapter 04, loss functions.

Each ``check_*`` function is called from a check cell, without arguments (it finds
the learner's function by name in the notebook) or with the function to check. It
prints one verdict line and returns None.

The expected values are computed here with NumPy, on purpose independently of
``dlkit.numpy.losses``: a bug there must not make a wrong answer pass.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._core import (CheckFailed, close, expect, learner_array, learner_function,
                    missing_function, run_checks)

__all__ = ["check_mse", "check_hinge", "check_log_sum_exp", "check_softmax_cross_entropy",
           "check_bce_with_logits", "check_entropy_kl"]

#: Where chapter 04 states what each exercise implements.
EQ = {"mse": "(4.2)", "hinge": "(4.7)", "bce": "(4.10)", "entropy": "(4.11)",
      "kl": "(4.13)", "cross_entropy": "(4.15)", "cross_entropy_grad": "(4.16)",
      "log_sum_exp": "(4.17)"}


# ------------------------------------------------------------------ reference values
def _log_sum_exp(z: np.ndarray) -> np.ndarray:
    """log Σ_j e^(z_j) along the last axis, shifted by the row max. (..., K) -> (...)."""
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _bce_terms(s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Binary cross-entropy of each logit, in the form that never overflows, eq. (4.10)."""
    return np.maximum(s, 0.0) - s * y + np.log1p(np.exp(-np.abs(s)))


def _p_log(p: np.ndarray, x: np.ndarray) -> np.ndarray:
    """p log x termwise, with the terms where p = 0 set to 0 (whatever x is)."""
    safe = np.where(p > 0, x, 1.0)
    return np.where(p > 0, p * np.log(safe), 0.0)


def _entropy(p: np.ndarray) -> np.ndarray:
    return -_p_log(p, p).sum(axis=-1)


def _kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return (_p_log(p, p) - _p_log(p, q)).sum(axis=-1)


# ------------------------------------------------------------------ shared helpers
def _one_number(value: Any, what: str, how: str) -> np.ndarray:
    """A loss is a single number: fail with ``how`` when the learner returned an array."""
    got = learner_array(what, value)
    if got.shape != ():
        raise CheckFailed(f"{what} has shape {got.shape}; a loss is one number (shape ()): "
                          f"{how}.")
    return got


def _reduced(value: Any, z_shape: tuple, what: str) -> np.ndarray:
    """A reduction over the last axis: shape z_shape[:-1]; name the usual shape slips."""
    got = learner_array(what, value)
    want = tuple(z_shape[:-1])
    if got.shape == want:
        return got
    if got.shape == want + (1,):
        hint = ("the reduced axis was kept (keepdims=True): drop it, e.g. with m[..., 0] "
                "for a max taken with keepdims")
    elif len(want) == 1 and got.shape == want * 2:
        hint = ("an array of shape (N, 1) (a max kept with keepdims) was added to one of "
                "shape (N,), and broadcasting made it (N, N): drop the kept axis first")
    elif got.shape == () and want:
        hint = "this reduces over the whole array; reduce each row alone, along axis=-1"
    elif len(z_shape) == 2 and got.shape == (z_shape[1],):
        hint = "this reduces over axis 0 (down the columns); reduce along the last axis, -1"
    else:
        hint = "reduce along the last axis only (axis=-1)"
    raise CheckFailed(f"{what} has shape {got.shape}, expected {want} for an input of shape "
                      f"{tuple(z_shape)}: {hint}.")


def _row(z: np.ndarray) -> list:
    """A row of scores for a message, shortened."""
    return [float(v) for v in np.round(z, 2)]


def _pair(out: Any, what: str) -> tuple[Any, Any]:
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise CheckFailed(f"return a pair {what}, got {type(out).__name__}.")
    return out[0], out[1]


# ------------------------------------------------------------------ 4.1 MSE
def check_mse(mse: Any = None, mse_grad: Any = None) -> None:
    """Exercise 4.1: ``mse`` = mean (ŷ - y)² and ``mse_grad`` = 2(ŷ - y)/N, any shape."""
    mse = learner_function(mse, "mse")
    grad = learner_function(mse_grad, "mse_grad")
    rng = np.random.default_rng(41)
    eq = EQ["mse"]
    how = "average the squared errors over every entry, np.mean((y_hat - y)**2), no axis"

    def data(shape):
        return rng.standard_normal(shape), rng.standard_normal(shape)

    def loss(y_hat, y):
        def run(fn):
            r = y_hat - y
            want = np.mean(r**2)
            what = f"mse for inputs of shape {y_hat.shape}"
            got = _one_number(fn(y_hat.copy(), y.copy()), what, how)
            expect(got, want, what, {
                f"the loss is the mean of the squared errors, not their sum: divide by N = "
                f"y.size, eq. {eq}": np.sum(r**2),
                f"this is the root mean squared error; the MSE has no square root, eq. {eq}":
                    np.sqrt(want),
                f"this is half the MSE; the loss of eq. {eq} has no factor 1/2": want / 2,
                "this is the mean absolute error; the MSE squares the errors": np.mean(
                    np.abs(r)),
            })
        return run

    def gradient(y_hat, y):
        def run(fn_unused):
            if grad is None:
                raise missing_function("mse_grad", "4.1")
            r = y_hat - y
            n = r.size
            want = 2 * r / n
            mistakes = {
                f"the derivative of (ŷ - y)² is 2(ŷ - y): the factor 2 is missing, eq. {eq}":
                    r / n,
                f"divide by N = y_hat.size: the loss is a mean, so each entry's share of the "
                f"gradient is 2(ŷ - y)/N, eq. {eq}": 2 * r,
                f"the sign is reversed: 2(y - ŷ)/N is the gradient with respect to y; with "
                f"respect to ŷ it is 2(ŷ - y)/N, eq. {eq}": -want,
                f"both the factor 2 and the division by N are missing: 2(ŷ - y)/N, eq. {eq}":
                    r,
            }
            if y_hat.ndim > 1:
                mistakes[f"N is the number of entries, y_hat.size = {n}, not the number of "
                         f"rows len(y_hat) = {len(y_hat)}, eq. {eq}"] = 2 * r / len(y_hat)
            what = f"mse_grad for inputs of shape {y_hat.shape}"
            got = learner_array(what, grad(y_hat.copy(), y.copy()))
            if got.shape != y_hat.shape:
                raise CheckFailed(f"{what} has shape {got.shape}; the gradient has the shape "
                                  f"of y_hat, one partial derivative per prediction.")
            expect(got, want, what, mistakes)
        return run

    example = (np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 5.0]))
    perfect = (np.arange(6.0).reshape(2, 3),) * 2
    run_checks("mse", "4.1", mse, [
        # random first: on the example, half the MSE and the MAE are both 4/3
        loss(*data((5,))), loss(*example), loss(*data((4, 3))), loss(*data((2, 3, 2))),
        loss(*perfect),
        gradient(*example), gradient(*data((7,))), gradient(*data((4, 3))),
        gradient(*data((2, 3, 2))),
    ])


# ------------------------------------------------------------------ 4.2 hinge
def check_hinge(hinge: Any = None, hinge_grad: Any = None) -> None:
    """Exercise 4.2: ``hinge`` = mean max(0, 1 - y s), y ∈ {-1, +1}, and ``hinge_grad``."""
    hinge = learner_function(hinge, "hinge")
    grad = learner_function(hinge_grad, "hinge_grad")
    rng = np.random.default_rng(42)
    eq = EQ["hinge"]

    def data(n):
        return rng.standard_normal(n) * 1.5, rng.choice([-1.0, 1.0], n)

    # Margins y s of exactly 1 (the corner of the hinge), others on both sides of it,
    # and integer labels as a learner's data set would hold them.
    kink = (np.array([1.0, -1.0, 0.5, -3.0, 2.0, -0.25, 1.0, 0.0, -2.5]),
            np.array([1, -1, 1, 1, 1, -1, -1, 1, -1]))

    def loss(s, y):
        def run(fn):
            m = y * s
            want = np.mean(np.maximum(0.0, 1 - m))
            what = f"hinge for {len(s)} scores"
            got = _one_number(fn(s.copy(), y.copy()), what,
                              "average max(0, 1 - y s) over the N examples")
            expect(got, want, what, {
                f"max(0, ·) is missing: an example beyond the margin (y s > 1) costs 0, not "
                f"the negative 1 - y s, eq. {eq}": np.mean(1 - m),
                f"the margin is y·s, the score times the label: max(0, 1 - y s), eq. {eq}, "
                f"not max(0, 1 - s)": np.mean(np.maximum(0.0, 1 - s)),
                f"the labels are already -1 and +1, eq. {eq}: converting them as if they "
                f"were 0/1 (2y - 1) turns the label -1 into -3":
                    np.mean(np.maximum(0.0, 1 - (2 * y - 1) * s)),
                f"average over the N examples, not the sum, eq. {eq}":
                    np.sum(np.maximum(0.0, 1 - m)),
            })
        return run

    def gradient(s, y):
        def run(fn_unused):
            if grad is None:
                raise missing_function("hinge_grad", "4.2")
            n = len(s)
            want = np.where(y * s < 1, -y / n, 0.0)
            what = f"hinge_grad for {n} scores"
            got = learner_array(what, grad(s.copy(), y.copy()))
            if got.shape != s.shape:
                raise CheckFailed(f"{what} has shape {got.shape}; the gradient has the shape "
                                  f"of the scores, {s.shape}.")
            expect(got, want, what, {
                f"the gradient has the wrong sign: the slope of max(0, 1 - y s) in s is -y "
                f"where y s < 1, eq. {eq}": -want,
                f"divide by N: the loss is the mean over the N examples, so the slope is "
                f"-y/N where y s < 1, eq. {eq}": want * n,
                f"the gradient is 0 where the margin y s exceeds 1 (the hinge is flat there): "
                f"keep -y/N only where y s < 1, eq. {eq}": -y / n,
                f"the margin is y·s: the slope is -y/N where y s < 1, not -1/N where s < 1, "
                f"eq. {eq}": np.where(s < 1, -1.0 / n, 0.0),
                f"at a margin of exactly y s = 1 use the subgradient 0, that is the strict "
                f"test y s < 1 (not <=), as PyTorch's autograd of relu does, eq. {eq}":
                    np.where(y * s <= 1, -y / n, 0.0),
            })
        return run

    run_checks("hinge", "4.2", hinge, [
        loss(*data(8)), loss(*data(30)), loss(*kink),
        gradient(*data(8)), gradient(*data(30)), gradient(*kink),
    ])


# ------------------------------------------------------------------ 4.3 log-sum-exp
def check_log_sum_exp(fn: Any = None) -> None:
    """Exercise 4.3: ``log_sum_exp(z)`` = log Σ_j e^(z_j) along the last axis, stable."""
    fn = learner_function(fn, "log_sum_exp")
    rng = np.random.default_rng(43)
    eq = EQ["log_sum_exp"]

    def call(fn, z):
        try:
            return fn(z.copy())
        except (ValueError, IndexError) as exc:   # numpy's AxisError is both
            if z.ndim == 1 and "axis" in str(exc):
                raise CheckFailed(f"a 1-D z of shape {z.shape} raised {type(exc).__name__}: "
                                  f"{exc}; reduce along axis=-1, the last axis, so that the "
                                  f"same code serves (K,) and (N, K).") from None
            raise

    def diagnose(got, z):
        """Name the cause of inf/nan: overflow of e^z, or a shared max underflowing a row."""
        rows = z.reshape(-1, z.shape[-1])
        bad = ~np.isfinite(np.asarray(got, dtype=np.float64).reshape(-1))
        if not bad.any():
            return
        top = rows.max(axis=1)
        if (bad & (top > 700)).any():
            i = int(np.argmax(bad & (top > 700)))
            raise CheckFailed(f"log_sum_exp({_row(rows[i])}) gives inf or nan: e^1000 "
                              f"overflows to inf. Subtract the max first, m + log Σ e^(z - m) "
                              f"with m = max z, eq. {eq}; every exponent is then ≤ 0.")
        far_below = bad & (top < z.max() - 700)
        if z.ndim > 1 and far_below.any():
            i = int(np.argmax(far_below))
            raise CheckFailed(f"the row {_row(rows[i])} gives -inf or nan: the max of the "
                              f"whole array ({z.max():g}) was subtracted, so every e^(z - m) "
                              f"of that row underflows to 0 and log 0 = -inf. Subtract each "
                              f"row's own max, z.max(axis=-1, keepdims=True), eq. {eq}.")
        if (bad & (top < -700)).any():
            i = int(np.argmax(bad & (top < -700)))
            raise CheckFailed(f"log_sum_exp({_row(rows[i])}) gives -inf or nan: e^-1000 "
                              f"underflows to 0 and log 0 = -inf. Subtracting the max, "
                              f"m + log Σ e^(z - m), eq. {eq}, fixes this too: the largest "
                              f"term becomes e^0 = 1.")

    def case(z, what):
        def run(fn):
            want = _log_sum_exp(z)
            got = _reduced(call(fn, z), z.shape, f"log_sum_exp of {what}")
            diagnose(got, z)
            m = z.max(axis=-1)
            expect(got, want, f"log_sum_exp of {what}", {
                f"add the max back: log Σ e^z = m + log Σ e^(z - m), eq. {eq}; without the m "
                f"this is log Σ e^(z - m)": want - m,
                "this is log Σ z, not log Σ e^z: exponentiate before summing":
                    np.log(z.sum(axis=-1)),
                "this is the largest score alone; the log-sum-exp is m + log Σ e^(z - m), "
                f"slightly above the max, eq. {eq}": m,
            }, rtol=1e-9, atol=1e-9)
        return run

    def leaves_input_alone(fn):
        z = rng.standard_normal((3, 5)) * 2
        before = z.copy()
        fn(z)
        if not np.array_equal(z, before):
            raise CheckFailed("log_sum_exp changed the caller's z in place (z -= m); write "
                              "z - m into a new array instead: the caller still needs z.")

    run_checks("log_sum_exp", "4.3", fn, [
        case(rng.standard_normal((4, 5)) * 2, "a (4, 5) array"),
        case(rng.standard_normal(6) * 2, "a vector of 6 scores"),
        case(np.array([1000.0, 999.0, 998.0]), "[1000, 999, 998]"),
        case(np.array([-1000.0, -1001.0]), "[-1000, -1001]"),
        case(np.array([[1000.0, 999.0], [-1000.0, -1001.0], [0.0, 1.0]]),
             "rows 2000 apart"),
        case(rng.standard_normal((3, 7)) * 300, "a (3, 7) array of scores in the hundreds"),
        leaves_input_alone,
    ])


# ------------------------------------------------------------------ 4.4 softmax cross-entropy
def check_softmax_cross_entropy(fn: Any = None) -> None:
    """Exercise 4.4: ``softmax_cross_entropy(logits, y)`` returns ``(loss, dlogits)``."""
    fn = learner_function(fn, "softmax_cross_entropy")
    rng = np.random.default_rng(44)
    eq, eq_grad, eq_lse = EQ["cross_entropy"], EQ["cross_entropy_grad"], EQ["log_sum_exp"]

    def data(n, k, scale=2.0):
        return rng.standard_normal((n, k)) * scale, rng.integers(0, k, n)

    def call(fn, z, y, what):
        loss, dz = _pair(fn(z.copy(), y.copy()), "(loss, dlogits)")
        loss = _one_number(loss, f"the loss for {what}", "average -log softmax(z)_y over "
                           "the N rows")
        dz = learner_array(f"dlogits for {what}", dz)
        if dz.shape != z.shape:
            raise CheckFailed(f"dlogits for {what} has shape {dz.shape}; it has the shape of "
                              f"the logits, {z.shape}.")
        return loss, dz

    def reference(z, y):
        n, k = z.shape
        rows = np.arange(n)
        per_row = _log_sum_exp(z) - z[rows, y]                 # -log softmax(z)_y, (N,)
        p = _softmax(z)
        onehot = np.eye(k)[y]                                  # (N, K)
        return per_row, p, onehot

    def case(z, y, what):
        def run(fn):
            n, k = z.shape
            rows = np.arange(n)
            per_row, p, onehot = reference(z, y)
            want_loss, want_dz = per_row.mean(), (p - onehot) / n
            loss, dz = call(fn, z, y, what)
            wrong_loss = {
                f"average over the N rows, not the sum, eq. {eq}": per_row.sum(),
                f"divide by N, the number of rows, not by N·K: average -log p_y over the "
                f"examples, eq. {eq}": per_row.sum() / (n * k),
                "softmax was applied twice: -z_y + logsumexp(z) takes the raw logits z, not "
                f"softmax(z), eq. {eq}; torch.nn.CrossEntropyLoss, too, expects logits":
                    np.mean(_log_sum_exp(p) - p[rows, y]),
                "p[:, y] takes, in every row, the columns of all N labels (an (N, N) array); "
                "take one entry per row, p[np.arange(N), y]":
                    np.mean(_log_sum_exp(z)[:, None] - z[:, y]),
                f"-z_y alone is not the loss: add logsumexp(z), -log softmax(z)_y = -z_y + "
                f"logsumexp(z), eq. {eq}": np.mean(-z[rows, y]),
                f"the loss is -log softmax(z)_y ≥ 0; the minus sign is missing, eq. {eq}":
                    -want_loss,
            }
            if np.all(z[rows, y] > 0):
                wrong_loss["the logits are raw scores, not probabilities: -log z_y is "
                           f"not the loss; take -log softmax(z)_y = -z_y + logsumexp(z), "
                           f"eq. {eq}"] = np.mean(-np.log(z[rows, y]))
            expect(loss, want_loss, f"the loss for {what}", wrong_loss)
            expect(dz, want_dz, f"dlogits for {what}", {
                f"divide by N: the loss is the mean over the N rows, so dlogits = "
                f"(softmax(z) - onehot(y))/N, eq. {eq_grad}": p - onehot,
                f"subtract the one-hot of the labels: dlogits = (softmax(z) - onehot(y))/N, "
                f"eq. {eq_grad}": p / n,
                f"the sign is reversed: dlogits = (softmax(z) - onehot(y))/N, eq. {eq_grad}, "
                f"not onehot - softmax": -want_dz,
                f"divide by N, the number of rows, not by N·K, eq. {eq_grad}": want_dz / k,
                f"subtract the one-hot and divide by N: (softmax(z) - onehot(y))/N, "
                f"eq. {eq_grad}": p,
            })
        return run

    def large_logits(fn):
        # Every row's true class has the largest logit: only e^1000 itself can overflow.
        z = np.array([[1000.0, 999.0, 998.0], [0.0, 1000.0, 990.0]])
        y = np.array([0, 1])
        loss, dz = call(fn, z, y, "logits near 1000")
        if not (np.isfinite(loss) and np.isfinite(dz).all()):
            raise CheckFailed(f"inf or nan for logits near 1000: e^1000 overflows to inf. "
                              f"Subtract each row's max before exponentiating, eq. {eq_lse}: "
                              f"log softmax(z) = z - m - log Σ e^(z - m).")
        per_row, p, onehot = reference(z, y)
        expect(loss, per_row.mean(), "the loss for logits near 1000")
        expect(dz, (p - onehot) / 2, "dlogits for logits near 1000")

    def confidently_wrong(fn):
        # The true class of row 0 sits 2000 below the max: softmax(z)_y = e^-2000 = 0.
        z = np.array([[1000.0, -1000.0, 0.0], [0.0, 0.0, 0.0]])
        y = np.array([1, 2])
        loss, dz = call(fn, z, y, "a confidently wrong row")
        if not np.isfinite(dz).all():
            raise CheckFailed(f"dlogits has inf or nan for logits of ±1000: e^1000 "
                              f"overflows. Subtract each row's max first, eq. {eq_lse}.")
        if not np.isfinite(loss):
            raise CheckFailed(f"the loss is inf for a confidently wrong row (true logit 2000 "
                              f"below the max): softmax(z)_y = e^-2000 underflows to 0 and "
                              f"-log 0 = inf. Compute the log-probability directly, "
                              f"-z_y + m + log Σ e^(z - m), eq. {eq} with {eq_lse}, instead "
                              f"of the log of the softmax.")
        per_row, p, onehot = reference(z, y)
        expect(loss, per_row.mean(), "the loss for a confidently wrong row")
        expect(dz, (p - onehot) / 2, "dlogits for a confidently wrong row")

    def leaves_input_alone(fn):
        z, y = data(4, 3)
        before = z.copy()
        fn(z, y)
        if not np.array_equal(z, before):
            raise CheckFailed("softmax_cross_entropy changed the caller's logits in place "
                              "(z -= m, or p[rows, y] -= 1 on a view of z); compute into "
                              "new arrays instead.")

    positive = (rng.uniform(0.5, 3.0, (5, 4)), rng.integers(0, 4, 5))
    run_checks("softmax_cross_entropy", "4.4", fn, [
        case(*positive, "5 rows of positive logits"), case(*data(8, 5), "8 rows of 5 logits"),
        case(*data(1, 4), "a single row"), case(*data(16, 10, 5.0), "16 rows of 10 logits"),
        large_logits, confidently_wrong, leaves_input_alone,
    ])


# ------------------------------------------------------------------ 4.5 BCE with logits
def check_bce_with_logits(fn: Any = None) -> None:
    """Exercise 4.5: ``bce_with_logits(s, y)``, mean binary cross-entropy from logits."""
    fn = learner_function(fn, "bce_with_logits")
    rng = np.random.default_rng(45)
    eq = EQ["bce"]
    stable = "max(s, 0) - s y + log(1 + e^(-|s|))"
    how = "average the binary cross-entropy over every entry"

    def case(s, y, what):
        def run(fn):
            per = _bce_terms(s, y)
            want = per.mean()
            got = _one_number(fn(s.copy(), y.copy()), f"bce_with_logits for {what}", how)
            expect(got, want, f"bce_with_logits for {what}", {
                f"average over all entries, not the sum, eq. {eq}": per.sum(),
                f"log(1 + e^(-y s)) is the logistic loss for labels -1/+1; here the targets "
                f"are 0/1 (or in [0, 1]): use {stable}, eq. {eq}":
                    np.mean(np.logaddexp(0.0, -y * s)),
                f"the term s·y has the wrong sign: {stable}, eq. {eq}":
                    np.mean(np.maximum(s, 0.0) + s * y + np.log1p(np.exp(-np.abs(s)))),
                "the roles of y and 1 - y are swapped: the target y = 1 goes with -log σ(s), "
                f"y = 0 with -log(1 - σ(s)); use {stable}, eq. {eq}":
                    _bce_terms(-s, y).mean(),
                f"a cross-entropy is ≥ 0; the overall sign is wrong, eq. {eq}": -want,
            })
        return run

    def extremes(fn):
        y = np.array([1.0, 0.0, 0.5])
        results = {}
        for sign in (1.0, -1.0):
            s = np.full(3, 1000.0 * sign)
            got = _one_number(fn(s.copy(), y.copy()), f"bce_with_logits at s = {s[0]:+g}", how)
            results[f"s = {s[0]:+g}"] = (got, _bce_terms(s, y).mean())
        ok = {k: close(g, w, rtol=1e-9) for k, (g, w) in results.items()}
        if all(ok.values()):
            return
        finite = all(np.isfinite(g) for g, _ in results.values())
        if any(ok.values()):
            good = next(k for k, v in ok.items() if v)
            bad = next(k for k, v in ok.items() if not v)
            raise CheckFailed(f"right at {good} but {'wrong' if finite else 'inf or nan'} at "
                              f"{bad}: a form like s - s y + log(1 + e^(-s)) is exact, yet "
                              f"e^(-s) overflows when s is very negative (and log(1 + e^s) - "
                              f"s y when s is very positive). Use {stable}, eq. {eq}, whose "
                              f"exponent is never positive.")
        if not finite:
            raise CheckFailed(f"inf or nan at s = ±1000: σ(s) rounds to exactly 1 or 0 there, "
                              f"log 0 = -inf and 0·(-inf) = nan. Do not take the log of the "
                              f"sigmoid: use the stable form of eq. {eq}, {stable}.")
        got = " and ".join(f"{float(g):.4g} at {k}" for k, (g, _) in results.items())
        raise CheckFailed(f"at s = ±1000 the mean loss of the targets (1, 0, 0.5) is 500, got "
                          f"{got}: clipping σ(s) (or adding an ε inside the log) caps the "
                          f"loss. Use the stable form of eq. {eq}, {stable}.")

    def large(fn):
        # |s| between 20 and 40: log(1 - σ(s)) through σ loses most of its digits.
        s = rng.uniform(20, 40, 8) * rng.choice([-1.0, 1.0], 8)
        y = rng.integers(0, 2, 8).astype(float)
        want = _bce_terms(s, y).mean()
        got = _one_number(fn(s.copy(), y.copy()), "bce_with_logits for |s| in [20, 40]", how)
        if not close(got, want, rtol=1e-7):
            raise CheckFailed(f"for |s| between 20 and 40 the loss is off by "
                              f"{abs(float(got) - want):.2g}: 1 - σ(s) computed from σ(s) "
                              f"keeps few digits when σ(s) is close to 1. Use {stable}, "
                              f"eq. {eq}, which never forms σ(s).")

    run_checks("bce_with_logits", "4.5", fn, [
        case(rng.standard_normal(8) * 2, rng.integers(0, 2, 8).astype(float),
             "8 logits with 0/1 targets"),
        case(rng.standard_normal((3, 4)) * 3, rng.integers(0, 2, (3, 4)).astype(float),
             "a (3, 4) array of logits"),
        case(rng.standard_normal(10) * 2, rng.uniform(0, 1, 10), "soft targets in [0, 1]"),
        extremes, large,
    ])


# ------------------------------------------------------------------ 4.6 entropy and KL
def check_entropy_kl(entropy: Any = None, kl_divergence: Any = None) -> None:
    """Exercise 4.6: ``entropy(p)`` = -Σ p log p and ``kl_divergence(p, q)`` = Σ p log(p/q)."""
    H = learner_function(entropy, "entropy")
    KL = learner_function(kl_divergence, "kl_divergence")
    rng = np.random.default_rng(46)
    eq_h, eq_kl = EQ["entropy"], EQ["kl"]
    ln2 = np.log(2.0)

    def dist(shape):
        x = rng.uniform(0.05, 1.0, shape)
        return x / x.sum(axis=-1, keepdims=True)

    def zeros_hint(got, p, name, eq):
        rows = np.asarray(got, dtype=np.float64).reshape(-1)
        has_zero = (p.reshape(-1, p.shape[-1]) == 0).any(axis=1)
        if np.isnan(rows).any() and has_zero[np.isnan(rows)].all():
            raise CheckFailed(f"{name} gives nan where p has zeros: 0·log 0 = 0·(-inf) is nan "
                              f"in floating point, but the convention is 0 log 0 = 0 (the "
                              f"limit of p log p as p → 0), eq. {eq}: keep only the terms "
                              f"with p > 0, e.g. with np.where(p > 0, ..., 0).")

    def entropy_case(p, what):
        def run(fn):
            want = _entropy(p)
            got = _reduced(fn(p.copy()), p.shape, f"entropy of {what}")
            zeros_hint(got, p, "entropy", eq_h)
            expect(got, want, f"entropy of {what}", {
                f"the entropy is measured in nats: use the natural log np.log, not np.log2 "
                f"(bits), eq. {eq_h}": want / ln2,
                f"the entropy is ≥ 0: H(p) = -Σ p log p, eq. {eq_h}; the minus sign is "
                f"missing": -want,
                f"sum the K terms -p_j log p_j, do not average them, eq. {eq_h}":
                    want / p.shape[-1],
            })
        return run

    def kl_case(p, q, what):
        def run(fn_unused):
            if KL is None:
                raise missing_function("kl_divergence", "4.6")
            want = _kl(p, q)
            got = _reduced(KL(p.copy(), q.copy()), p.shape, f"kl_divergence of {what}")
            zeros_hint(got, p, "kl_divergence", eq_kl)
            cross = -_p_log(p, q).sum(axis=-1)
            expect(got, want, f"kl_divergence of {what}", {
                f"KL is measured in nats: use np.log, not np.log2 (bits), eq. {eq_kl}":
                    want / ln2,
                f"this is KL(q‖p): the arguments are swapped. KL(p‖q) = Σ p log(p/q) "
                f"weights the log-ratio by p, the first argument, eq. {eq_kl}": _kl(q, p),
                f"this is the cross-entropy H(p, q) = -Σ p log q; KL(p‖q) = H(p, q) - H(p) "
                f"subtracts the entropy of p, eq. {eq_kl}": cross,
                f"the sign is reversed: KL(p‖q) = Σ p log(p/q) ≥ 0, eq. {eq_kl}": -want,
            })
        return run

    zeros_p = np.array([[0.5, 0.5, 0.0], [0.2, 0.0, 0.8], [1.0, 0.0, 0.0]])
    run_checks("entropy", "4.6", H, [
        entropy_case(dist(5), "a distribution over 5 outcomes"),
        entropy_case(dist((4, 6)), "4 rows of 6 probabilities"),
        entropy_case(np.array([[0.25, 0.25, 0.25, 0.25], [0.1, 0.2, 0.3, 0.4]]),
                     "the uniform distribution over 4 outcomes and another"),
        entropy_case(zeros_p, "rows with zeros"),
        kl_case(dist(5), dist(5), "two distributions over 5 outcomes"),
        kl_case(dist((3, 4)), dist((3, 4)), "3 rows of 4 probabilities"),
        kl_case(np.array([1.0, 0.0, 0.0]), np.array([0.4, 0.1, 0.5]),
                "p = (1, 0, 0) and q = (0.4, 0.1, 0.5)"),
        kl_case(np.array([[0.5, 0.5, 0.0], [0.3, 0.7, 0.0]]),
                np.array([[0.25, 0.75, 0.0], [0.3, 0.7, 0.0]]),
                "rows where p and q are both 0 in the last outcome"),
    ])
