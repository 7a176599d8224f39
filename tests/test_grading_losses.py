"""The checks of chapter 04: accept the reference, reject every known mistake, never crash."""
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlkit.grading import losses as checks
from test_grading import TableOfChecks, verdict_of_table

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "04_losses.ipynb"

#: verdict name -> (check, the learner's functions it takes, in order)
CHECKS = {
    "mse": (checks.check_mse, ("mse", "mse_grad")),
    "hinge": (checks.check_hinge, ("hinge", "hinge_grad")),
    "log_sum_exp": (checks.check_log_sum_exp, ("log_sum_exp",)),
    "softmax_cross_entropy": (checks.check_softmax_cross_entropy, ("softmax_cross_entropy",)),
    "bce_with_logits": (checks.check_bce_with_logits, ("bce_with_logits",)),
    "entropy": (checks.check_entropy_kl, ("entropy", "kl_divergence")),
}
NAMES = list(CHECKS)
#: learner function -> the verdict name of the check that grades it
OWNER = {f: name for name, (_, fns) in CHECKS.items() for f in fns}


def run(capsys, name, ns, **replace):
    return verdict_of_table(capsys, CHECKS, name, ns, **replace)


def test_expected_values_agree_with_pytorch():
    """The graders compute their answers inline; check those formulas against torch."""
    rng = np.random.default_rng(0)
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    z = np.concatenate([rng.standard_normal((5, 4)) * 3, [[1000.0, -1000.0, 0.0, 5.0]]])
    y = np.append(rng.integers(0, 4, 5), 1)
    np.testing.assert_allclose(checks._log_sum_exp(z), torch.logsumexp(t(z), -1), rtol=1e-13)
    zt = t(z).requires_grad_()
    loss = F.cross_entropy(zt, torch.tensor(y))
    loss.backward()
    per_row = checks._log_sum_exp(z) - z[np.arange(6), y]
    np.testing.assert_allclose(per_row.mean(), loss.item(), rtol=1e-13)
    np.testing.assert_allclose((checks._softmax(z) - np.eye(4)[y]) / 6, zt.grad, atol=1e-15)
    s = np.concatenate([rng.standard_normal(20) * 5, [1000.0, -1000.0, 30.0, -30.0]])
    target = np.concatenate([rng.uniform(0, 1, 20), [0.0, 1.0, 0.0, 1.0]])
    np.testing.assert_allclose(checks._bce_terms(s, target).mean(),
                               F.binary_cross_entropy_with_logits(t(s), t(target)).item(),
                               rtol=1e-13)
    p = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    q = np.array([[0.25, 0.7, 0.05], [0.6, 0.1, 0.3], [0.4, 0.1, 0.5]])  # torch: q > 0
    np.testing.assert_allclose(checks._kl(p, q),
                               F.kl_div(t(q).log(), t(p), reduction="none").sum(-1),
                               rtol=1e-13)
    np.testing.assert_allclose(checks._entropy(p),
                               torch.distributions.Categorical(probs=t(p)).entropy(),
                               atol=1e-12)
    # The subgradient at the corner y s = 1 is that of torch.relu: 0.
    scores, labels = np.array([1.0, -1.0, 0.5, 2.0]), np.array([1.0, -1.0, -1.0, 1.0])
    st = t(scores).requires_grad_()
    torch.relu(1 - t(labels) * st).mean().backward()
    np.testing.assert_array_equal(st.grad, [0.0, 0.0, 0.25, 0.0])


# Other correct answers, as learners write them: they must pass too.
ALSO_RIGHT = {
    "mse": ["def f(y_hat, y): return ((y_hat - y) ** 2).sum() / y_hat.size"],
    "mse_grad": ["def f(y_hat, y): return 2 / np.size(y_hat) * (y_hat - y)"],
    "hinge_grad": ["def f(scores, y): return -y * (y * scores < 1) / len(y)"],
    "log_sum_exp": ["def f(z): return np.logaddexp.reduce(z, axis=-1)",
                    """def f(z):
                        m = z.max(axis=-1)
                        return m + np.log(np.exp(z - m[..., None]).sum(axis=-1))"""],
    "softmax_cross_entropy": ["""def f(logits, y):
        n, k = logits.shape
        m = logits.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
        p = np.exp(logits - lse[:, None])
        return np.mean(lse - logits[np.arange(n), y]), (p - np.eye(k)[y]) / n"""],
    "bce_with_logits": ["def f(s, y): return np.mean(np.logaddexp(0, s) - s * y)"],
    "entropy": ["def f(p): return -np.sum(p * np.log(p, out=np.zeros_like(p), where=p > 0), "
                "axis=-1)"],
    "kl_divergence": ["def f(p, q): return np.sum(np.where(p > 0, p * np.log(p / q), 0), "
                      "axis=-1)"],
}


# Wrong answers as learners write them, keyed by the function they replace, each with
# words that its hint must contain.
_CE_HEAD = """def f(logits, y):
    n, k = logits.shape
    rows = np.arange(n)
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    onehot = np.eye(k)[y]
"""
WRONG = {
    "mse": [
        ("def f(y_hat, y): return np.sum((y_hat - y) ** 2)", "not their sum"),
        ("def f(y_hat, y): return np.sqrt(np.mean((y_hat - y) ** 2))", "root mean squared"),
        ("def f(y_hat, y): return 0.5 * np.mean((y_hat - y) ** 2)", "half the MSE"),
        ("def f(y_hat, y): return np.mean(np.abs(y_hat - y))", "mean absolute error"),
        ("def f(y_hat, y): return np.mean((y_hat - y) ** 2, axis=0)", "one number"),
        ("def f(y_hat, y): np.mean((y_hat - y) ** 2)", "`return` missing"),
    ],
    "mse_grad": [
        ("def f(y_hat, y): return (y_hat - y) / y_hat.size", "factor 2 is missing"),
        ("def f(y_hat, y): return 2 * (y_hat - y)", "divide by N"),
        ("def f(y_hat, y): return 2 * (y - y_hat) / y_hat.size", "sign is reversed"),
        ("def f(y_hat, y): return 2 * (y_hat - y) / len(y_hat)", "not the number of rows"),
        ("def f(y_hat, y): return np.mean(2 * (y_hat - y))", "shape of y_hat"),
    ],
    "hinge": [
        ("def f(scores, y): return np.mean(1 - y * scores)", "max(0, ·) is missing"),
        ("def f(scores, y): return np.mean(np.maximum(0, 1 - scores))", "the margin is y·s"),
        ("""def f(scores, y):
                t = 2 * y - 1
                return np.mean(np.maximum(0, 1 - t * scores))""", "already -1 and +1"),
        ("def f(scores, y): return np.sum(np.maximum(0, 1 - y * scores))", "not the sum"),
    ],
    "hinge_grad": [
        ("def f(scores, y): return np.where(y * scores < 1, y, 0) / len(y)", "wrong sign"),
        ("def f(scores, y): return np.where(y * scores < 1, -y, 0.0)", "divide by N"),
        ("def f(scores, y): return -y / len(y)", "exceeds 1"),
        ("def f(scores, y): return np.where(scores < 1, -1.0, 0.0) / len(y)",
         "not -1/N where s < 1"),
        ("def f(scores, y): return np.where(y * scores <= 1, -y, 0) / len(y)",
         "exactly y s = 1"),
    ],
    "log_sum_exp": [
        ("def f(z): return np.log(np.sum(np.exp(z), axis=-1))", "overflows"),
        ("""def f(z):
                m = z.max(axis=-1, keepdims=True)
                return np.log(np.exp(z - m).sum(axis=-1))""", "add the max back"),
        ("""def f(z):
                m = z.max()
                return m + np.log(np.exp(z - m).sum(axis=-1))""", "max of the whole array"),
        ("""def f(z):
                m = z.max(axis=-1, keepdims=True)
                return m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True))""", "keepdims"),
        ("""def f(z):
                m = z.max(axis=-1, keepdims=True)
                return m + np.log(np.exp(z - m).sum(axis=-1))""", "(N, N)"),
        ("""def f(z):
                m = z.max(axis=-1, keepdims=True)
                z -= m
                return m[..., 0] + np.log(np.exp(z).sum(axis=-1))""", "in place"),
        ("""def f(z):
                m = z.max(axis=1, keepdims=True)
                return m[:, 0] + np.log(np.exp(z - m).sum(axis=1))""", "axis=-1, the last"),
        ("""def f(z):
                m = z.max()
                return m + np.log(np.exp(z - m).sum())""", "over the whole array"),
        ("def f(z): return z.max(axis=-1)", "largest score alone"),
        ("def f(z): return np.log(z.sum(axis=-1))", "exponentiate before summing"),
    ],
    "softmax_cross_entropy": [
        (_CE_HEAD + "    return -log_p[rows, y].mean(), p - onehot", "divide by N: the loss"),
        (_CE_HEAD + "    return -log_p[rows, y].mean(), p / n", "subtract the one-hot"),
        (_CE_HEAD + "    return -log_p[rows, y].mean(), (onehot - p) / n", "sign is reversed"),
        (_CE_HEAD + "    return -log_p[rows, y].sum(), (p - onehot) / n", "not the sum"),
        (_CE_HEAD + "    return -log_p[rows, y].sum() / (n * k), (p - onehot) / n",
         "not by N·K"),
        (_CE_HEAD + "    return -np.log(p[:, y]).mean(), (p - onehot) / n", "p[:, y]"),
        (_CE_HEAD + "    return -np.log(logits[rows, y]).mean(), (p - onehot) / n",
         "raw scores, not probabilities"),
        (_CE_HEAD + """    q = np.exp(p) / np.exp(p).sum(axis=1, keepdims=True)
    return -np.log(q[rows, y]).mean(), (p - onehot) / n""", "softmax was applied twice"),
        ("""def f(logits, y):
                n = len(y)
                p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
                g = p.copy(); g[np.arange(n), y] -= 1
                return -np.log(p[np.arange(n), y]).mean(), g / n""", "e^1000 overflows"),
        (_CE_HEAD + "    return -np.log(p[rows, y]).mean(), (p - onehot) / n",
         "underflows to 0"),
        ("""def f(logits, y):
                n, k = logits.shape
                logits -= logits.max(axis=1, keepdims=True)
                log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
                return -log_p[np.arange(n), y].mean(), (np.exp(log_p) - np.eye(k)[y]) / n""",
         "in place"),
        (_CE_HEAD + "    return -log_p[rows, y].mean()", "return a pair"),
    ],
    "bce_with_logits": [
        ("""def f(s, y):
                p = 1 / (1 + np.exp(-s))
                return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))""",
         "σ(s) rounds to exactly 1 or 0"),
        ("""def f(s, y):
                p = np.clip(1 / (1 + np.exp(-s)), 1e-7, 1 - 1e-7)
                return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))""", "caps the loss"),
        ("def f(s, y): return np.mean(np.log(1 + np.exp(-y * s)))", "labels -1/+1"),
        ("def f(s, y): return np.mean(np.maximum(s, 0) + s * y + np.log1p(np.exp(-np.abs(s))))",
         "wrong sign"),
        ("""def f(s, y):
                p = 1 / (1 + np.exp(-s))
                return -np.mean((1 - y) * np.log(p) + y * np.log(1 - p))""", "are swapped"),
        ("def f(s, y): return np.sum(np.maximum(s, 0) - s * y + np.log1p(np.exp(-np.abs(s))))",
         "not the sum"),
        ("def f(s, y): return np.mean(s - s * y + np.log(1 + np.exp(-s)))",
         "right at s = +1000 but inf or nan at s = -1000"),
        ("def f(s, y): return np.mean(np.log(1 + np.exp(s)) - s * y)",
         "right at s = -1000 but inf or nan at s = +1000"),
    ],
    "entropy": [
        ("def f(p): return -np.sum(p * np.log2(p), axis=-1)", "not np.log2"),
        ("def f(p): return -np.sum(p * np.log(p), axis=-1)", "0 log 0 = 0"),
        ("def f(p): return np.sum(p * np.log(np.where(p > 0, p, 1)), axis=-1)",
         "minus sign is missing"),
        ("def f(p): return -np.sum(p * np.log(p))", "over the whole array"),
        ("def f(p): return -np.mean(p * np.log(np.where(p > 0, p, 1)), axis=-1)",
         "do not average"),
        ("def f(p): return -np.sum(p * np.log(np.where(p > 0, p, 1)), axis=0)",
         "over axis 0"),
    ],
    "kl_divergence": [
        ("def f(p, q): return np.sum(q * np.log(q / p), axis=-1)", "arguments are swapped"),
        ("def f(p, q): return -np.sum(p * np.log(q), axis=-1)", "cross-entropy H(p, q)"),
        ("def f(p, q): return np.sum(p * np.log2(p / q), axis=-1)", "not np.log2"),
        ("def f(p, q): return np.sum(p * np.log(p / q), axis=-1)", "0 log 0 = 0"),
        ("def f(p, q): return np.sum(p * np.log(q / p), axis=-1)", "sign is reversed"),
        ("""def f(p, q):
                pos = p > 0
                return np.sum(p * (np.log(np.where(pos, p, 1)) - np.log(q)), axis=-1)""",
         "0 log 0 = 0"),
    ],
}

class TestTableOfChecks(TableOfChecks):
    CHECKS, ALSO_RIGHT, WRONG = CHECKS, ALSO_RIGHT, WRONG


@pytest.mark.parametrize("first, second", [("mse", "mse_grad"), ("hinge", "hinge_grad"),
                                           ("entropy", "kl_divergence")])
def test_missing_second_function_is_named(capsys, solution_ns, first, second):
    check, _ = CHECKS[OWNER[first]]
    exec("check()", {"check": check, first: solution_ns[first]})
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {OWNER[first]}: ") and f"no function named `{second}`" in out


