"""Checks for the exercises of chapter 01, neural networks.

Each ``check_*`` function is called from a check cell, without arguments (it finds
the learner's function by name in the notebook) or with the function to check. It
prints one verdict line and returns None.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..numpy import layers
from ._core import (as_array, CheckFailed, expect, learner_function, run_checks)

__all__ = [
    "check_neuron", "check_sigmoid", "check_softmax", "check_perceptron_update",
    "check_mlp_forward", "check_count_parameters",
]

#: Where chapter 01 states what each exercise implements.
EQ = {"neuron": "(1.5)", "perceptron": "(1.7)", "sigmoid": "(1.13)",
      "sigmoid_grad": "(1.13)", "softmax": "(1.23)", "stable_softmax": "(1.24)",
      "layer": "(1.19)", "count": "(1.22)"}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return layers.sigmoid_forward(z)[0]


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def _pair(out: Any, what: str) -> tuple[Any, Any]:
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise CheckFailed(f"return a pair {what}.")
    return out[0], out[1]


# ------------------------------------------------------------------ 1.1 neuron
def check_neuron(fn: Any = None) -> None:
    """Exercise 1.1: ``neuron(X, w, b)`` returns σ(X w + b), one activation per row of X."""
    fn = learner_function(fn, "neuron")
    rng = np.random.default_rng(11)

    def mistakes(X, w, b):
        z = X @ w + b
        return {
            f"the bias b is missing: the neuron computes σ(wᵀx + b), eq. {EQ['neuron']}":
                _sigmoid(X @ w),
            "this is tanh; the neuron of this exercise uses the sigmoid σ(z) = 1/(1 + e^(-z))":
                np.tanh(z),
            "the sign in the exponent is wrong: σ(z) = 1/(1 + e^(-z)), which is 1/2 at 0 "
            "and grows with z": 1 / (1 + np.exp(z)),
            "these are pre-activations z = Xw + b; apply the sigmoid to them": z,
            f"apply σ to the weighted sum, not to each product: σ(Σ_j w_j x_j + b), eq. "
            f"{EQ['neuron']}": _sigmoid(X * w + b).sum(axis=1),
        }

    def worked_example(fn):
        # The chapter's example: b = -1, w = (1, -1) gives σ(-3), σ(0) and σ(1).
        X = np.array([[-1.0, 1.0], [-1.0, -2.0], [1.0, -1.0]])
        w, b = np.array([1.0, -1.0]), -1.0
        expect(fn(X, w, b), _sigmoid(np.array([-3.0, 0.0, 1.0])),
               "the activations of the chapter's worked example", mistakes(X, w, b))

    def batch(n, d):
        def run(fn):
            X, w = rng.standard_normal((n, d)), rng.standard_normal(d)
            b = float(rng.standard_normal())
            got = as_array("", "the output", fn(X.copy(), w.copy(), b))
            if got.shape != (n,):
                raise CheckFailed(f"for X of shape {X.shape} the output has shape "
                                  f"{got.shape}; expected ({n},), one activation per row.")
            expect(got, _sigmoid(X @ w + b), f"the activations for X {X.shape}",
                   mistakes(X, w, b))
        return run

    run_checks("neuron", "1.1", fn, [worked_example, batch(5, 3), batch(1, 7), batch(40, 1)])


# ------------------------------------------------------------------ 1.2 sigmoid
def check_sigmoid(sigmoid: Any = None, sigmoid_grad: Any = None) -> None:
    """Exercise 1.2: ``sigmoid(z)`` (stable for large |z|) and ``sigmoid_grad(z)`` = σ'(z)."""
    sigmoid = learner_function(sigmoid, "sigmoid")
    grad = learner_function(sigmoid_grad, "sigmoid_grad")
    rng = np.random.default_rng(12)

    def values(fn):
        z = rng.standard_normal((4, 3)) * 3
        expect(fn(z.copy()), _sigmoid(z), "sigmoid(z)", {
            "the sign in the exponent is wrong: σ(z) = 1/(1 + e^(-z)), and σ(0) = 1/2 with "
            f"σ growing with z, eq. {EQ['sigmoid']}": 1 / (1 + np.exp(z)),
            "this is tanh, which is 2σ(2z) - 1, not σ": np.tanh(z),
        })

    def large_inputs(fn):
        z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
        got = as_array("", "sigmoid(z)", fn(z.copy()))
        if got.shape == z.shape and np.isnan(got).any():
            raise CheckFailed(
                "sigmoid(±1000) gives nan: e^1000 overflows to inf and inf/inf is nan. "
                "Compute e^(-|z|), which never overflows, and use 1/(1+e^(-z)) for z ≥ 0 "
                "and e^z/(1+e^z) for z < 0 (np.where picks per element).")
        expect(got, _sigmoid(z), "sigmoid(z) for |z| up to 1000", rtol=1e-12, atol=1e-300)

    def derivative(fn_unused):
        if grad is None:
            raise CheckFailed("no function named `sigmoid_grad` is defined; define it in the "
                              "cell of Exercise 1.2, and keep its name.")
        z = rng.standard_normal(7) * 3
        s = _sigmoid(z)
        expect(grad(z.copy()), s * (1 - s), "sigmoid_grad(z)", {
            f"σ'(z) = σ(z)(1 - σ(z)), eq. {EQ['sigmoid_grad']}: apply the formula to σ(z), "
            "not to z": z * (1 - z),
            "σ'(z) = σ(z)(1 - σ(z)): the factor is (1 - σ(z)), not (1 - z)": s * (1 - z),
            "1 - σ² is the derivative of tanh expressed through tanh; for the sigmoid it is "
            "σ(1 - σ)": 1 - s**2,
            "this is σ(z) itself; its derivative is σ(z)(1 - σ(z))": s,
        })

    def derivative_extremes(fn_unused):
        if grad is None:
            return
        z = np.array([-1000.0, 0.0, 1000.0])
        got = as_array("", "sigmoid_grad(z)", grad(z.copy()))
        if got.shape == z.shape and np.isnan(got).any():
            raise CheckFailed("sigmoid_grad(±1000) gives nan; compute it from your stable "
                              "sigmoid: s = sigmoid(z); return s * (1 - s).")
        expect(got, np.array([0.0, 0.25, 0.0]), "sigmoid_grad at -1000, 0 and 1000",
               atol=1e-12)

    run_checks("sigmoid", "1.2", sigmoid,
               [values, large_inputs, derivative, derivative_extremes])


# ------------------------------------------------------------------ 1.3 softmax
def check_softmax(fn: Any = None) -> None:
    """Exercise 1.3: ``softmax(z)`` along the last axis, stable for large inputs."""
    fn = learner_function(fn, "softmax")
    rng = np.random.default_rng(13)

    def wrong_axes(z):
        e = np.exp(z - z.max())
        out = {"the probabilities of all rows together sum to 1; normalise each row on its "
               "own: sum over the last axis with keepdims=True": e / e.sum()}
        if z.ndim == 2:
            out["each column sums to 1; softmax normalises each row (the scores of one "
                "example): sum over axis=-1, not axis=0"] = e / e.sum(axis=0, keepdims=True)
        return out

    def rows(fn):
        z = rng.standard_normal((4, 5)) * 2
        expect(fn(z.copy()), layers.softmax(z), "softmax of a (4, 5) array", wrong_axes(z))

    def one_vector(fn):
        z = np.array([1.0, 0.9, 0.8])
        expect(fn(z.copy()), layers.softmax(z), "softmax([1.0, 0.9, 0.8])")

    def nan_hint(got, z):
        """Name the cause when the row holding the largest score (row 0) or another gives nan."""
        if got.shape != z.shape or not np.isnan(got).any():
            return
        if np.isnan(got[0]).any():
            raise CheckFailed(
                f"softmax({z[0].tolist()}) gives nan: e^1000 overflows. Softmax does not "
                f"change when a constant is subtracted from every score, eq. "
                f"{EQ['stable_softmax']}: subtract each row's max first.")
        raise CheckFailed(
            f"the row {z[1].tolist()} gives nan: subtracting the max of the whole array "
            f"leaves e^-1000 or less, which is 0, in every entry of that row, and 0/0 is nan. "
            f"Subtract each row's own max (z.max(axis=-1, keepdims=True)).")

    def large_inputs(fn):
        z = np.array([[1000.0, 999.0, 998.0], [3.0, 0.0, 5.0]])
        got = as_array("", "the output", fn(z.copy()))
        nan_hint(got, z)
        expect(got, layers.softmax(z), "softmax of scores near 1000", wrong_axes(z))

    def rows_far_apart(fn):
        # One shared max would push the second row to e^-2000 = 0 and 0/0 = nan.
        z = np.array([[1000.0, 999.0], [-1000.0, -1001.0]])
        got = as_array("", "the output", fn(z.copy()))
        nan_hint(got, z)
        expect(got, layers.softmax(z), "softmax of rows 2000 apart", wrong_axes(z))

    def leaves_input_alone(fn):
        z = rng.standard_normal((3, 4))
        before = z.copy()
        fn(z)
        if not np.array_equal(z, before):
            raise CheckFailed("softmax changed the caller's z in place (z -= ...); write "
                              "z = z - z.max(axis=-1, keepdims=True) instead.")

    run_checks("softmax", "1.3", fn,
               [rows, one_vector, large_inputs, rows_far_apart, leaves_input_alone])


# ------------------------------------------------------------------ 1.4 perceptron update
def check_perceptron_update(fn: Any = None) -> None:
    """Exercise 1.4: ``perceptron_update(w, b, x, y, lr)`` returns the new ``(w, b)``."""
    fn = learner_function(fn, "perceptron_update")
    rng = np.random.default_rng(14)
    rule = f"eq. {EQ['perceptron']}"

    def run(fn, w, b, x, y, lr):
        w_new, b_new = _pair(fn(w.copy(), b, x.copy(), y, lr), "(w, b): the new weights "
                             "and the new bias")
        return as_array("", "w", w_new), as_array("", "b", b_new)

    def reference(w, b, x, y, lr):
        if y * (x @ w + b) <= 0:
            return w + lr * y * x, b + lr * y
        return w, b

    def zero_one_rule(w, b, x, y, lr):
        """The rule for labels in {0, 1}, w + η (y - ŷ) x, misapplied to y in {-1, +1}."""
        err = y - (1.0 if x @ w + b > 0 else 0.0)
        return w + lr * err * x, b + lr * err

    zero_one_hint = ("this is the rule for labels in {0, 1}, w ← w + η (y - ŷ) x; with labels "
                     "in {-1, +1} the mistake test is y (wᵀx + b) ≤ 0 and the update "
                     f"w ← w + η y x, {rule}")

    def compare(got, want, wrong: dict, case=None):
        if case is not None:
            wrong = {zero_one_hint: zero_one_rule(*case), **wrong}
        (gw, gb), (ww, wb) = got, want
        for hint, (mw, mb) in wrong.items():
            if np.allclose(gw, mw) and np.allclose(gb, mb) and not (
                    np.allclose(mw, ww) and np.allclose(mb, wb)):
                raise CheckFailed(hint)
        expect(gw, ww, "the new w")
        expect(gb, wb, "the new b")

    def misclassified(fn):
        for y in (1.0, -1.0):
            x, w = rng.standard_normal(3), rng.standard_normal(3)
            b = -y * (abs(x @ w) + 1.0)                  # makes y (wᵀx + b) < 0
            want = reference(w, b, x, y, 0.5)
            compare(run(fn, w, b, x, y, 0.5), want, case=(w, b, x, y, 0.5), wrong={
                f"the update goes the wrong way: w ← w + η y x and b ← b + η y, {rule}":
                    (w - 0.5 * y * x, b - 0.5 * y),
                f"the bias must be updated too: b ← b + η y, {rule}": (want[0], b),
                "the learning rate is missing: w ← w + η y x": (w + y * x, b + y),
            })

    def correct_example_unchanged(fn):
        x, w = rng.standard_normal(4), rng.standard_normal(4)
        y = 1.0 if x @ w > 0 else -1.0
        b = 0.5 * y
        compare(run(fn, w, b, x, y, 0.1), (w, b), case=(w, b, x, y, 0.1), wrong={
            "an example that is already classified correctly (y (wᵀx + b) > 0) must not "
            f"change w or b; only mistakes trigger an update, {rule}":
                (w + 0.1 * y * x, b + 0.1 * y),
        })

    def on_the_boundary(fn):
        # The usual start w = 0, b = 0: every point is on the boundary, y(wᵀx+b) = 0.
        x, w, b = rng.standard_normal(2), np.zeros(2), 0.0
        want = reference(w, b, x, 1.0, 1.0)
        compare(run(fn, w, b, x, 1.0, 1.0), want, case=(w, b, x, 1.0, 1.0), wrong={
            "a point on the boundary, y (wᵀx + b) = 0, counts as a mistake: test ≤ 0, not "
            "< 0. Starting from w = 0, b = 0, a strict test would never update":
                (w, b),
        })

    def labels_are_plus_minus_one(fn):
        x, w, b = np.array([1.0, 2.0]), np.array([0.5, 0.5]), 0.0
        want = reference(w, b, x, -1.0, 0.2)
        compare(run(fn, w, b, x, -1.0, 0.2), want, case=(w, b, x, -1.0, 0.2), wrong={
            "with labels in {-1, +1} the update for a negative example subtracts x: "
            f"w ← w + η y x with y = -1, {rule}": (w + 0.2 * x, b + 0.2),
        })

    run_checks("perceptron_update", "1.4", fn,
               [misclassified, correct_example_unchanged, on_the_boundary,
                labels_are_plus_minus_one])


# ------------------------------------------------------------------ 1.5 MLP forward
def check_mlp_forward(fn: Any = None) -> None:
    """Exercise 1.5: ``mlp_forward(X, params)``: ReLU hidden layers, linear output layer."""
    fn = learner_function(fn, "mlp_forward")
    rng = np.random.default_rng(15)

    def variants(X, params):
        def net(hidden=_relu, output=lambda z: z, transpose=True, bias=True, pre=False):
            a = X
            for l, (W, b) in enumerate(params):
                if pre:
                    a = hidden(a)
                z = (a @ W.T if transpose else a @ W) + (b if bias else 0.0)
                last = l == len(params) - 1
                a = z if pre else (output(z) if last else hidden(z))
            return a

        eq = EQ["layer"]
        wrong = {
            "the output layer must stay linear (it returns scores); apply ReLU only to the "
            "hidden layers": net(output=_relu),
            f"the biases are missing: z = a Wᵀ + b, eq. {eq}": net(bias=False),
            "this is sigmoid; the hidden layers of this exercise use ReLU": net(
                hidden=_sigmoid),
            "the input X goes into the first layer as it is: the activation comes after "
            "each linear map (z = a Wᵀ + b, then a = relu(z)), not before it": net(pre=True),
        }
        try:
            wrong["the weights are stored (out, in) like nn.Linear: with a batch X of shape "
                  "(N, in) the product is X @ W.T, not X @ W"] = net(transpose=False)
        except ValueError:
            pass
        return net(), wrong

    def case(sizes, n):
        def run(fn):
            params = layers.mlp_init(sizes, rng=rng)
            X = rng.standard_normal((n, sizes[0]))
            want, wrong = variants(X, params)
            got = as_array("", "the output", fn(X.copy(), [(W.copy(), b.copy())
                                                            for W, b in params]))
            if got.shape != want.shape and got.shape == want.T.shape:
                raise CheckFailed(f"the output has shape {got.shape}, expected {want.shape}: "
                                  f"one row per example (batch first).")
            expect(got, want, f"the output of a {'-'.join(map(str, sizes))} MLP", wrong)
        return run

    # square layers first: X @ W then runs without an error, but gives the wrong numbers
    run_checks("mlp_forward", "1.5", fn,
               [case([3, 3, 3], 4), case([4, 6, 3], 5), case([2, 8, 8, 1], 3),
                case([5, 2], 1)])


# ------------------------------------------------------------------ 1.6 parameter count
def check_count_parameters(fn: Any = None) -> None:
    """Exercise 1.6: ``count_parameters(sizes)``: weights and biases of a dense MLP."""
    fn = learner_function(fn, "count_parameters")

    def case(sizes):
        def run(fn):
            got = fn(list(sizes))
            try:
                got_int = int(got)
            except (TypeError, ValueError):
                raise CheckFailed(f"return a number, got {type(got).__name__}.") from None
            if got_int != got:
                raise CheckFailed(f"return a whole number, got {got!r}.")
            want = layers.num_parameters(sizes)
            pairs = list(zip(sizes[:-1], sizes[1:]))
            wrong = {
                sum(a * b for a, b in pairs):
                    "only the weights are counted: every unit of a layer also has a bias, "
                    "so a layer has (n_in + 1) n_out parameters",
                sum(a * b for a, b in pairs) + sum(sizes):
                    "the input layer has no bias: count one bias per unit of every layer "
                    "after the input",
                sum((b + 1) * a for a, b in pairs):
                    "the bias belongs to the output units of a layer: (n_in + 1) n_out, "
                    "not n_in (n_out + 1)",
            }
            if got_int != want:
                hint = wrong.get(got_int)
                raise CheckFailed(hint if hint else
                                  f"for sizes {list(sizes)} the answer is off by "
                                  f"{got_int - want:+d}; eq. {EQ['count']} sums "
                                  f"(n_(l-1) + 1) n_l over the layers.")
        return run

    run_checks("count_parameters", "1.6", fn,
               [case([2, 3, 1]), case([784, 256, 128, 10]), case([10, 10]),
                case([3, 7, 7, 7, 2])])
