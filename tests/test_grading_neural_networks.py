"""The checks of chapter 01: accept the reference, reject every known mistake, never crash."""
from pathlib import Path

import numpy as np
import pytest

from dlkit.grading import neural_networks as checks
from test_grading import BROKEN, BROKEN_IDS, define, verdict

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "01_neural_networks.ipynb"
NAMES = ["neuron", "sigmoid", "softmax", "perceptron_update", "mlp_forward",
         "count_parameters"]


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_passes(capsys, solution_ns, name):
    extra = (solution_ns["sigmoid_grad"],) if name == "sigmoid" else ()
    line = verdict(capsys, lambda fn: getattr(checks, f"check_{name}")(fn, *extra),
                   solution_ns[name])
    assert line.startswith(f"✓ {name}: all ") and line.endswith(" checks passed")



# Wrong answers as learners write them, each with words its hint must contain.
GOOD_GRAD = "lambda z: (lambda s: s * (1 - s))(1 / (1 + np.exp(-np.clip(z, -500, 500))))"
WRONG = {
    "neuron": [
        ("def f(X, w, b): return 1 / (1 + np.exp(-(X @ w)))", "bias b is missing"),
        ("def f(X, w, b): return np.tanh(X @ w + b)", "this is tanh"),
        ("def f(X, w, b): return 1 / (1 + np.exp(X @ w + b))", "sign in the exponent"),
        ("def f(X, w, b): return X @ w + b", "pre-activations"),
        ("def f(X, w, b): return (1 / (1 + np.exp(-(X * w + b)))).sum(axis=1)",
         "not to each product"),
        ("def f(X, w, b): return (1 / (1 + np.exp(-(X @ w + b))))[:, None]", "expected (3,)"),
    ],
    "sigmoid": [
        ("def f(z): return np.exp(z) / (1 + np.exp(z))", "overflows"),
        ("def f(z): return 1 / (1 + np.exp(z))", "sign in the exponent"),
        ("def f(z): return np.tanh(z)", "this is tanh"),
    ],
    "softmax": [
        ("def f(z): e = np.exp(z); return e / e.sum(axis=-1, keepdims=True)", "subtract"),
        ("def f(z): e = np.exp(z - z.max()); return e / e.sum()", "all rows together"),
        ("def f(z): e = np.exp(z - z.max()); return e / e.sum(axis=0, keepdims=True)",
         "each column sums to 1"),
        ("def f(z): e = np.exp(z - z.max()); return e / e.sum(axis=-1, keepdims=True)",
         "each row's own max"),
        ("""def f(z):
                z -= z.max(axis=-1, keepdims=True); e = np.exp(z)
                return e / e.sum(axis=-1, keepdims=True)""", "in place"),
    ],
    "perceptron_update": [
        ("""def f(w, b, x, y, lr):
                if y * (x @ w + b) < 0: return w + lr * y * x, b + lr * y
                return w, b""", "a strict test would never update"),
        ("""def f(w, b, x, y, lr):
                if y * (x @ w + b) <= 0: return w - lr * y * x, b - lr * y
                return w, b""", "wrong way"),
        ("""def f(w, b, x, y, lr):
                if y * (x @ w + b) <= 0: return w + lr * y * x, b
                return w, b""", "bias must be updated"),
        ("def f(w, b, x, y, lr): return w + lr * y * x, b + lr * y",
         "classified correctly"),
        ("""def f(w, b, x, y, lr):
                if y * (x @ w + b) <= 0: return w + y * x, b + y
                return w, b""", "learning rate is missing"),
        ("""def f(w, b, x, y, lr):
                if y * (x @ w + b) <= 0: return w + lr * abs(y) * x, b + lr * abs(y)
                return w, b""", "wrong way"),
        ("""def f(w, b, x, y, lr):
                y_hat = 1 if x @ w + b > 0 else 0
                return w + lr * (y - y_hat) * x, b + lr * (y - y_hat)""", "labels in {0, 1}"),
        ("""def f(w, b, x, y, lr):
                if y * (x @ w + b) <= 0: return w + lr * y * x, b + lr * y""",
         "return a pair"),
    ],
    "mlp_forward": [
        ("""def f(X, params):
                A = X
                for W, b in params: A = np.maximum(A @ W.T + b, 0)
                return A""", "output layer must stay linear"),
        ("""def f(X, params):
                A = X
                for l, (W, b) in enumerate(params):
                    A = A @ W.T if l == len(params) - 1 else np.maximum(A @ W.T, 0)
                return A""", "biases are missing"),
        ("""def f(X, params):
                A = X
                for l, (W, b) in enumerate(params):
                    A = A @ W + b if l == len(params) - 1 else np.maximum(A @ W + b, 0)
                return A""", "X @ W.T"),
        ("""def f(X, params):
                A = X
                for l, (W, b) in enumerate(params):
                    Z = A @ W.T + b
                    A = Z if l == len(params) - 1 else 1 / (1 + np.exp(-Z))
                return A""", "this is sigmoid"),
        ("""def f(X, params):
                A = X
                for W, b in params: A = np.maximum(A, 0) @ W.T + b
                return A""", "input X goes into the first layer as it is"),
        ("""def f(X, params):
                A = X.T
                for l, (W, b) in enumerate(params):
                    Z = W @ A + b[:, None]
                    A = Z if l == len(params) - 1 else np.maximum(Z, 0)
                return A""", "one row per example"),
    ],
    "count_parameters": [
        ("def f(s): return sum(a * b for a, b in zip(s[:-1], s[1:]))", "only the weights"),
        ("def f(s): return sum(a * b for a, b in zip(s[:-1], s[1:])) + sum(s)",
         "input layer has no bias"),
        ("def f(s): return sum((b + 1) * a for a, b in zip(s[:-1], s[1:]))",
         "not n_in (n_out + 1)"),
        ("def f(s): return sum((a + 1) * b for a, b in zip(s[:-1], s[2:]))", "off by"),
        ("def f(s): return float(sum((a + 1) * b for a, b in zip(s, s[1:]))) + 0.5",
         "whole number"),
    ],
}
WRONG_CASES = [(name, src, hint) for name, items in WRONG.items() for src, hint in items]


@pytest.mark.parametrize("name, source, hint", WRONG_CASES,
                         ids=[f"{n}-{h}" for n, _, h in WRONG_CASES])
def test_common_mistake_is_rejected_with_its_hint(capsys, name, source, hint):
    check = getattr(checks, f"check_{name}")
    if name == "sigmoid":
        good_grad = eval(GOOD_GRAD, {"np": np})
        check = (lambda c: lambda fn: c(fn, good_grad))(check)
    line = verdict(capsys, check, define(source))
    assert line.startswith(f"✗ {name}: ") and "checks failed" in line, line
    assert hint in line, line


@pytest.mark.parametrize("source, hint", [
    ("lambda z: z * (1 - z)", "apply the formula to σ(z)"),
    ("lambda z: (lambda s: s * (1 - z))(1 / (1 + np.exp(-z)))", "not (1 - z)"),
    ("lambda z: 1 - (1 / (1 + np.exp(-z)))**2", "derivative of tanh"),
    ("lambda z: 1 / (1 + np.exp(-z))", "this is σ(z) itself"),
    ("lambda z: (lambda e: e / (1 + e)**2)(np.exp(z))", "gives nan"),
])
def test_wrong_sigmoid_grad_is_rejected_with_its_hint(capsys, solution_ns, source, hint):
    wrong_grad = eval(source, {"np": np})
    line = verdict(capsys, lambda fn: checks.check_sigmoid(fn, wrong_grad),
                   solution_ns["sigmoid"])
    assert line.startswith("✗ sigmoid: ") and hint in line, line


def test_missing_sigmoid_grad_is_named(capsys, solution_ns):
    ns = {"check": checks.check_sigmoid, "sigmoid": solution_ns["sigmoid"]}
    exec("check()", ns)
    assert "no function named `sigmoid_grad`" in capsys.readouterr().out


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", BROKEN, ids=BROKEN_IDS)
def test_broken_code_gets_a_verdict_not_a_crash(capsys, name, bad):
    line = verdict(capsys, getattr(checks, f"check_{name}"), bad)
    assert line.startswith(f"✗ {name}: "), line
