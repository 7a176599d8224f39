"""The checks of chapter 06: accept the reference, reject every known mistake, never crash."""
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from dlkit.grading import recurrent as checks
from test_grading import BROKEN, BROKEN_IDS, define, verdict

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "06_recurrent_networks.ipynb"

#: verdict name -> the check that grades the learner's function of that name
CHECKS = {
    "rnn_cell": checks.check_rnn_cell,
    "rnn_unroll": checks.check_rnn_unroll,
    "rnn_bptt": checks.check_rnn_bptt,
    "lstm_cell": checks.check_lstm_cell,
    "gru_cell": checks.check_gru_cell,
    "clip_grad_norm": checks.check_clip_grad_norm,
    "sample_with_temperature": checks.check_sample_with_temperature,
}
NAMES = list(CHECKS)


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_passes(capsys, solution_ns, name):
    line = verdict(capsys, CHECKS[name], solution_ns[name])
    assert line.startswith(f"✓ {name}: all ") and line.endswith(" checks passed"), line


@pytest.mark.parametrize("name", NAMES)
def test_check_finds_the_function_in_the_calling_namespace(capsys, solution_ns, name):
    exec("check()", {"check": CHECKS[name], name: solution_ns[name]})
    assert capsys.readouterr().out.startswith(f"✓ {name}: all ")


@pytest.mark.parametrize("name", NAMES)
def test_a_missing_function_is_named(capsys, name):
    exec("check()", {"check": CHECKS[name]})
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {name}: ") and f"no function named `{name}`" in out, out



def test_the_solutions_cite_only_equations_of_the_table():
    nb = nbformat.read(SOLUTION, as_version=4)
    import re
    cited = set(re.findall(r"eq(?:s)?\. (\(6\.\d+\))", "\n".join(c.source for c in nb.cells)))
    assert cited and cited <= set(checks.EQ.values()), cited


# ------------------------------------------------------------------ references vs torch
def t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def copy_weights(cell, w_ih, w_hh, b_ih, b_hh):
    with torch.no_grad():
        cell.weight_ih.copy_(t(w_ih))
        cell.weight_hh.copy_(t(w_hh))
        cell.bias_ih.copy_(t(b_ih))
        cell.bias_hh.copy_(t(b_hh))
    return cell


SHAPES = [(3, 4, 5), (1, 5, 2), (4, 3, 3), (2, 6, 1)]


@pytest.mark.parametrize("n, d, h", SHAPES)
def test_rnn_cell_reference_agrees_with_torch(n, d, h):
    rng = np.random.default_rng(n * 100 + d * 10 + h)
    x, hx = rng.standard_normal((n, d)), rng.standard_normal((n, h))
    weights = checks._weights(rng, 1, d, h)
    cell = copy_weights(torch.nn.RNNCell(d, h).double(), *weights)
    np.testing.assert_allclose(checks._rnn_cell(x, hx, *weights),
                               cell(t(x), t(hx)).detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n, d, h", SHAPES)
def test_lstm_cell_reference_agrees_with_torch(n, d, h):
    rng = np.random.default_rng(n * 100 + d * 10 + h)
    x, hx, cx = (rng.standard_normal((n, d)), rng.standard_normal((n, h)),
                 rng.standard_normal((n, h)))
    weights = checks._weights(rng, 4, d, h)
    cell = copy_weights(torch.nn.LSTMCell(d, h).double(), *weights)
    want_h, want_c = cell(t(x), (t(hx), t(cx)))
    got_h, got_c = checks._lstm_cell(x, hx, cx, *weights)
    np.testing.assert_allclose(got_h, want_h.detach(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_c, want_c.detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n, d, h", SHAPES)
def test_gru_cell_reference_agrees_with_torch(n, d, h):
    rng = np.random.default_rng(n * 100 + d * 10 + h)
    x, hx = rng.standard_normal((n, d)), rng.standard_normal((n, h))
    weights = checks._weights(rng, 3, d, h)
    cell = copy_weights(torch.nn.GRUCell(d, h).double(), *weights)
    np.testing.assert_allclose(checks._gru_cell(x, hx, *weights), cell(t(x), t(hx)).detach(),
                               rtol=1e-12, atol=1e-12)


def test_the_gru_mistakes_really_differ_from_torch():
    rng = np.random.default_rng(5)
    x, hx = rng.standard_normal((3, 4)), rng.standard_normal((3, 5))
    weights = checks._weights(rng, 3, 4, 5)
    want = checks._gru_cell(x, hx, *weights)
    for kw in ({"mix": "mirrored"}, {"reset": "before"}, {"reset": "bias_out"}):
        assert not np.allclose(checks._gru_cell(x, hx, *weights, **kw), want), kw


def test_rnn_unroll_reference_agrees_with_torch_rnn():
    rng = np.random.default_rng(7)
    t_len, n, d, h = 6, 3, 4, 5
    x, h0 = rng.standard_normal((t_len, n, d)), rng.standard_normal((n, h))
    weights = checks._weights(rng, 1, d, h)
    rnn = torch.nn.RNN(d, h).double()
    with torch.no_grad():
        for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                               weights):
            getattr(rnn, name).copy_(t(value))
    out, last = rnn(t(x), t(h0)[None])
    hs = checks._rnn_unroll(x, h0, *weights)
    np.testing.assert_allclose(hs, out.detach(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hs[-1], last[0].detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("t_len, n, d, h", [(5, 3, 4, 6), (1, 2, 3, 4), (7, 1, 2, 5),
                                            (25, 4, 3, 6)])
def test_bptt_reference_agrees_with_autograd_through_the_unrolled_rnn(t_len, n, d, h):
    rng = np.random.default_rng(t_len)
    x, h0 = rng.standard_normal((t_len, n, d)), rng.standard_normal((n, h)) * 0.5
    w_ih, w_hh, b_ih, b_hh = checks._weights(rng, 1, d, h)
    dhs = rng.standard_normal((t_len, n, h))
    params = [t(w_ih, True), t(w_hh, True), t(b_ih, True), t(b_hh, True)]
    h0t = t(h0, True)
    state, loss = h0t, 0.0
    for step in range(t_len):                    # unrolled: the same tensors at every step
        state = torch.tanh(t(x[step]) @ params[0].T + params[2] + state @ params[1].T
                           + params[3])
        loss = loss + (state * t(dhs[step])).sum()   # dL/dh_t from the outputs is dhs[t]
    loss.backward()
    hs = checks._rnn_unroll(x, h0, w_ih, w_hh, b_ih, b_hh)
    dw_ih, dw_hh, db, dh0 = checks._rnn_bptt(dhs, x, hs, h0, w_hh)
    for got, want in [(dw_ih, params[0]), (dw_hh, params[1]), (db, params[2]), (db, params[3]),
                      (dh0, h0t)]:
        np.testing.assert_allclose(got, want.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("scale, max_norm", [(1.0, 1.0), (3.0, 2.5), (1.0, 50.0), (0.0, 1.0),
                                             (100.0, 5.0)])
def test_clip_reference_agrees_with_torch_clip_grad_norm(scale, max_norm):
    rng = np.random.default_rng(int(scale) + 3)
    grads = [rng.standard_normal(s) * scale for s in [(4, 3), (4,), (2, 4)]]
    params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = t(g)
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    kept = [g.copy() for g in grads]
    clipped, got_total = checks._clip(grads, max_norm)
    assert got_total == pytest.approx(float(total), rel=1e-12)
    for got, p, g, k in zip(clipped, params, grads, kept):
        np.testing.assert_allclose(got, p.grad, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(g, k)           # the reference is not in place


def test_temperature_reference_is_the_softmax_of_the_scaled_logits():
    z = np.array([2.0, 1.0, 0.0, -1.0, 0.5])
    for temp in (0.5, 1.0, 2.0):
        want = torch.softmax(t(z) / temp, dim=0)
        np.testing.assert_allclose(checks._softmax(z / temp), want, rtol=1e-12)
    assert np.all(np.isfinite(checks._softmax(np.array([900.0, 1000.0, 950.0]) / 0.5)))


# ------------------------------------------------------------------ other right answers
ALSO_RIGHT = {
    "rnn_cell": [
        "def f(x, h, w_ih, w_hh, b_ih, b_hh):\n"
        " return np.tanh(np.concatenate([x, h], 1) @ np.concatenate([w_ih, w_hh], 1).T"
        " + b_ih + b_hh)",
        "def f(x, h, w_ih, w_hh, b_ih, b_hh):\n"
        " return np.tanh((w_ih @ x.T + w_hh @ h.T).T + (b_ih + b_hh))",
    ],
    "rnn_unroll": [
        """def f(x, h0, w_ih, w_hh, b_ih, b_hh):
            hs, h = [], h0
            for x_t in x:
                h = np.tanh(x_t @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
                hs.append(h)
            return np.stack(hs)""",
        """def f(x, h0, w_ih, w_hh, b_ih, b_hh):
            pre = x @ w_ih.T + b_ih + b_hh           # the input terms of all steps at once
            hs = np.zeros(pre.shape)
            for t in range(len(x)):
                hs[t] = np.tanh(pre[t] + (hs[t - 1] if t else h0) @ w_hh.T)
            return hs""",
    ],
    "rnn_bptt": [
        """def f(dhs, x, hs, h0, w_hh):
            T = len(hs)
            prev = np.concatenate([h0[None], hs[:-1]])
            deltas = np.zeros_like(hs)
            nxt = np.zeros_like(h0)
            for t in reversed(range(T)):
                deltas[t] = (dhs[t] + nxt @ w_hh) * (1 - hs[t] ** 2)
                nxt = deltas[t]
            return (np.einsum('tnh,tnd->hd', deltas, x), np.einsum('tnh,tnk->hk', deltas, prev),
                    deltas.sum(axis=(0, 1)), deltas[0] @ w_hh)""",
    ],
    "lstm_cell": [
        """def f(x, h, c, w_ih, w_hh, b_ih, b_hh):
            H = h.shape[1]
            a = x @ w_ih.T + h @ w_hh.T + b_ih + b_hh
            s = lambda v: 1 / (1 + np.exp(-v))
            i, f_, g, o = s(a[:, :H]), s(a[:, H:2*H]), np.tanh(a[:, 2*H:3*H]), s(a[:, 3*H:])
            c2 = f_ * c + i * g
            return o * np.tanh(c2), c2""",
        """def f(x, h, c, w_ih, w_hh, b_ih, b_hh):
            H = h.shape[1]
            s = lambda v: 1 / (1 + np.exp(-v))
            gate = lambda k, act: act(x @ w_ih[k*H:(k+1)*H].T + b_ih[k*H:(k+1)*H]
                                      + h @ w_hh[k*H:(k+1)*H].T + b_hh[k*H:(k+1)*H])
            c2 = gate(1, s) * c + gate(0, s) * gate(2, np.tanh)
            return [gate(3, s) * np.tanh(c2), c2]""",
    ],
    "gru_cell": [
        """def f(x, h, w_ih, w_hh, b_ih, b_hh):
            H = h.shape[1]
            s = lambda v: 1 / (1 + np.exp(-v))
            gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
            r = s(gi[:, :H] + gh[:, :H])
            z = s(gi[:, H:2*H] + gh[:, H:2*H])
            n = np.tanh(gi[:, 2*H:] + r * gh[:, 2*H:])
            return n + z * (h - n)""",
    ],
    "clip_grad_norm": [
        """def f(grads, max_norm):
            total = np.linalg.norm(np.concatenate([g.ravel() for g in grads]))
            scale = min(1.0, max_norm / (total + 1e-6))
            return [g * scale for g in grads], total""",
        """def f(grads, max_norm):
            total = np.sqrt(sum((g ** 2).sum() for g in grads))
            if total > max_norm:
                return [g * (max_norm / total) for g in grads], total
            return list(grads), total""",
    ],
    "sample_with_temperature": [
        """def f(logits, temperature, rng):
            z = logits / temperature
            p = np.exp(z - z.max()); p /= p.sum()
            return int(np.searchsorted(np.cumsum(p), rng.random(), side='right').clip(
                0, len(p) - 1))""",
        """def f(logits, temperature, rng):
            # the Gumbel-max trick: argmax of z/T + Gumbel noise is a softmax sample
            return int(np.argmax(logits / temperature + rng.gumbel(size=len(logits))))""",
    ],
}
RIGHT_CASES = [(fn, src) for fn, items in ALSO_RIGHT.items() for src in items]


@pytest.mark.parametrize("fn, source", RIGHT_CASES,
                         ids=[f"{fn}-{i}" for i, (fn, _) in enumerate(RIGHT_CASES)])
def test_other_correct_answers_pass(capsys, fn, source):
    line = verdict(capsys, CHECKS[fn], define(source))
    assert line.startswith(f"✓ {fn}: all "), line


# ------------------------------------------------------------------ wrong answers
_CELL = "def f(x, h, w_ih, w_hh, b_ih, b_hh):\n return "
_UNROLL = """def f(x, h0, w_ih, w_hh, b_ih, b_hh):
    hs, h = [], h0
    for t in range({steps}):
        {body}
    return {ret}"""
_STEP = "h = np.tanh(x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh)"
_BPTT = """def f(dhs, x, hs, h0, w_hh):
    H, D = hs.shape[2], x.shape[2]
    dw_ih, dw_hh, db = np.zeros((H, D)), np.zeros((H, H)), np.zeros(H)
    nxt = np.zeros_like(h0)
    for t in {order}:
        h_prev = hs[t - 1] if t > 0 else h0
        delta = {delta}
        dw_ih {op} delta.T @ x[t]
        dw_hh {op} delta.T @ {h_used}
        db {op} delta.sum(axis=0)
        nxt = delta @ {w}
    return {ret}"""


def bptt(order="reversed(range(len(hs)))", delta="(dhs[t] + nxt) * (1 - hs[t] ** 2)",
         op="+=", h_used="h_prev", w="w_hh", ret="dw_ih, dw_hh, db, nxt"):
    return _BPTT.format(order=order, delta=delta, op=op, h_used=h_used, w=w, ret=ret)


_LSTM = """def f(x, h, c, w_ih, w_hh, b_ih, b_hh):
    s = lambda v: 1 / (1 + np.exp(-v))
    a = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    {split}
    {gates}
    c2 = {c2}
    return {ret}"""


def lstm(split="ai, af, ag, ao = np.split(a, 4, axis=1)",
         gates="i, f_, g, o = s(ai), s(af), np.tanh(ag), s(ao)",
         c2="f_ * c + i * g", ret="o * np.tanh(c2), c2"):
    return _LSTM.format(split=split, gates=gates, c2=c2, ret=ret)


_GRU = """def f(x, h, w_ih, w_hh, b_ih, b_hh):
    s = lambda v: 1 / (1 + np.exp(-v))
    {r}, {z}, xn = np.split(x @ w_ih.T + b_ih, 3, axis=1)
    {hr}, {hz}, hn = np.split(h @ w_hh.T + b_hh, 3, axis=1)
    r, z = s(xr + hr), s(xz + hz)
    n = {n}
    return {ret}"""


def gru(n="np.tanh(xn + r * hn)", ret="(1 - z) * n + z * h", zr=False):
    names = ("xz", "xr", "hz", "hr") if zr else ("xr", "xz", "hr", "hz")
    return _GRU.format(r=names[0], z=names[1], hr=names[2], hz=names[3], n=n, ret=ret)


_CLIP = """def f(grads, max_norm):
    total = np.sqrt(sum(np.sum(g ** 2) for g in grads))
    {body}"""
_SAMPLE = """def f(logits, temperature, rng):
    z = {z}
    p = {p}
    return {ret}"""


def sample(z="logits / temperature", p="np.exp(z - z.max()); p = p / p.sum()",
           ret="int(rng.choice(len(p), p=p))"):
    return _SAMPLE.format(z=z, p=p, ret=ret)


WRONG = {
    "rnn_cell": [
        (_CELL + "1 / (1 + np.exp(-(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)))", "a sigmoid"),
        (_CELL + "np.tanh(x @ w_ih.T + h @ w_hh.T + b_ih)", "the bias b_hh is missing"),
        (_CELL + "np.tanh(x @ w_ih.T + h @ w_hh.T + b_hh)", "the bias b_ih is missing"),
        (_CELL + "np.tanh(x @ w_ih.T + h @ w_hh.T)", "both biases are missing"),
        (_CELL + "np.tanh(x @ w_ih + b_ih + h @ w_hh + b_hh)", "w_ih.T"),
        (_CELL + "np.tanh(x @ w_ih.T + b_ih + h @ w_hh + b_hh)", "h @ w_hh.T"),
        (_CELL + "np.tanh(x @ w_ih.T + b_ih + b_hh)", "hidden term h W_hhᵀ is missing"),
        (_CELL + "np.tanh(x @ w_ih.T + b_ih) + h @ w_hh.T + b_hh", "input term only"),
        (_CELL + "x @ w_ih.T + b_ih + np.tanh(h @ w_hh.T + b_hh)", "hidden term only"),
        (_CELL + "np.tanh(x @ w_ih.T + b_ih) + np.tanh(h @ w_hh.T + b_hh)",
         "each term separately"),
        (_CELL + "np.tanh(w_ih @ x.T + b_ih[:, None] + w_hh @ h.T + b_hh[:, None])",
         "transposed"),
        ("def f(x, h, w_ih, w_hh, b_ih, b_hh):\n"
         " h += x @ w_ih.T + b_ih + h @ w_hh.T + b_hh\n return np.tanh(h)", "in place"),
    ],
    "rnn_unroll": [
        (_UNROLL.format(steps="len(x)", body=_STEP, ret="h"), "this is one state"),
        (_UNROLL.format(steps="len(x)", body="hs.append(np.tanh(x[t] @ w_ih.T + b_ih + "
                                             "h0 @ w_hh.T + b_hh))", ret="np.stack(hs)"),
         "not carried over"),
        (_UNROLL.format(steps="len(x)", body="hs.append(h)\n        " + _STEP,
                        ret="np.stack(hs + [h])"), "hs includes h0"),
        (_UNROLL.format(steps="len(x) - 1", body=_STEP + "\n        hs.append(h)",
                        ret="np.stack(hs)"), "last step is missing"),
        (_UNROLL.format(steps="len(x)", body="hs.append(h)\n        " + _STEP,
                        ret="np.stack(hs)"), "shifted by one step"),
        (_UNROLL.format(steps="len(x)", body=_STEP + "\n        hs.append(h)",
                        ret="np.stack(hs, axis=1)"), "batch and time axes are swapped"),
        (_UNROLL.format(steps="len(x)", body=_STEP + "\n        hs.append(h)",
                        ret="np.stack(hs), h"), "returned a pair"),
        (_UNROLL.format(steps="len(x)",
                        body="h = 1 / (1 + np.exp(-(x[t] @ w_ih.T + b_ih + h @ w_hh.T + "
                             "b_hh)))\n        hs.append(h)", ret="np.stack(hs)"),
         "does your rnn_cell"),
    ],
    "rnn_bptt": [
        (bptt(op="="), "first step only"),
        (bptt(order="[len(hs) - 1]"), "last step only"),
        (bptt(delta="dhs[t] * (1 - hs[t] ** 2)"), "recursive term δ_(t+1) W_hh is missing"),
        (bptt(delta="dhs[t] + nxt"), "derivative of the tanh is missing"),
        (bptt(delta="(dhs[t] + nxt) * (1 - np.tanh(hs[t]) ** 2)"), "applies tanh once more"),
        (bptt(delta="(dhs[t] + nxt) * hs[t] * (1 - hs[t])"), "derivative of a sigmoid"),
        (bptt(h_used="hs[t]"), "not with h_t"),
        (bptt(order="range(len(hs))"), "forward in time"),
        (bptt(w="w_hh.T"), "not W_hhᵀ"),
        (bptt(ret="dw_ih.T, dw_hh, db, nxt"), "dw_ih is transposed"),
        (bptt(ret="dw_ih, dw_hh.T, db, nxt"), "dw_hh is transposed"),
        (bptt(ret="dw_ih, dw_hh, db, nxt * (1 - h0 ** 2)"), "no factor (1 − h0²)"),
        (bptt(ret="dw_ih, dw_hh, db, db, nxt"), "(4 values)"),
    ],
    "lstm_cell": [
        (lstm(split="ai, af, ao, ag = np.split(a, 4, axis=1)"), "order i, f, o, g"),
        (lstm(split="ai, ag, af, ao = np.split(a, 4, axis=1)"), "order i, g, f, o"),
        (lstm(gates="i, f_, g, o = s(ai), s(af), s(ag), s(ao)"), "g uses a sigmoid"),
        (lstm(ret="o * c2, c2"), "tanh of the new cell state is missing"),
        (lstm(c2="i * c + f_ * g"), "i and f are swapped"),
        (lstm(ret="o * np.tanh(c), c2"), "from the old cell state"),
        (lstm(ret="c2, o * np.tanh(c2)"), "wrong way round"),
        (lstm(split="ai, af, ag, ao = (a.reshape(len(a), -1, 4)[..., k] for k in range(4))"),
         "every fourth column"),
        (lstm(ret="o * np.tanh(c2)"), "return the pair"),
        (lstm().replace("x @ w_ih.T", "x @ w_ih"), "mismatched shapes"),
    ],
    "gru_cell": [
        (gru(ret="z * n + (1 - z) * h"), "z and 1 − z are swapped"),
        ("""def f(x, h, w_ih, w_hh, b_ih, b_hh):
            H = h.shape[1]
            s = lambda v: 1 / (1 + np.exp(-v))
            xr, xz, xn = np.split(x @ w_ih.T + b_ih, 3, axis=1)
            r = s(xr + h @ w_hh[:H].T + b_hh[:H])
            z = s(xz + h @ w_hh[H:2*H].T + b_hh[H:2*H])
            n = np.tanh(xn + (r * h) @ w_hh[2*H:].T + b_hh[2*H:])
            return (1 - z) * n + z * h""", "Cho et al. (2014)"),
        (gru(zr=True), "order z, r, n"),
        (gru(n="np.tanh(xn + r * (hn - b_hh[2 * h.shape[1]:]) + b_hh[2 * h.shape[1]:])"),
         "b_hn is added outside"),
        (gru(n="np.tanh(xn + hn)"), "reset gate is missing"),
        (gru(n="s(xn + r * hn)"), "candidate n uses a sigmoid"),
        (gru(ret="(1 - z) * n + z * h, h"), "no cell state"),
    ],
    "clip_grad_norm": [
        ("""def f(grads, max_norm):
            out = [g * min(1, max_norm / (np.linalg.norm(g) + 1e-6)) for g in grads]
            return out, np.sqrt(sum(np.sum(g ** 2) for g in grads))""", "its own norm"),
        (_CLIP.format(body="return [np.clip(g, -max_norm, max_norm) for g in grads], total"),
         "np.clip"),
        (_CLIP.format(body="return [g * max_norm / (total + 1e-6) for g in grads], total"),
         "scaled up"),
        (_CLIP.format(body="""scale = min(1, max_norm / (total + 1e-6))
    out = [g * scale for g in grads]
    return out, np.sqrt(sum(np.sum(g ** 2) for g in out))"""), "not the norm after it"),
        (_CLIP.format(body="""scale = min(1, max_norm / (total + 1e-6))
    for g in grads:
        g *= scale
    return grads, total"""), "in place"),
        (_CLIP.format(body="return list(grads), total"), "not changed"),
        (_CLIP.format(body="scale = total / max_norm if total > max_norm else 1.0\n"
                           "    return [g * scale for g in grads], total"), "upside down"),
        ("""def f(grads, max_norm):
            total = sum(np.linalg.norm(g) for g in grads)
            return [g * min(1, max_norm / (total + 1e-6)) for g in grads], total""",
         "sum of the arrays' norms"),
        (_CLIP.format(body="""scale = min(1, max_norm / (total + 1e-6))
    return [g * scale for g in grads], total ** 2"""), "not its square"),
    ],
    "sample_with_temperature": [
        (sample(z="logits * temperature"), "multiplied by T"),
        (sample(z="logits"), "temperature is ignored"),
        (sample(ret="int(np.argmax(p))"), "always returns the most likely"),
        (sample(p="np.exp(z); p = p / p.sum()"), "overflowed"),
        (sample(ret="int(np.random.choice(len(p), p=p))"), "from the `rng` argument"),
        (sample(p="np.exp(z - z.max())"), "add up to 1"),
        (sample(ret="p"), "the probabilities?"),
        (sample(ret="float(rng.choice(len(p), p=p))"), "return one index"),
    ],
}
WRONG_CASES = [(fn, src, hint) for fn, items in WRONG.items() for src, hint in items]


@pytest.mark.parametrize("fn, source, hint", WRONG_CASES,
                         ids=[f"{fn}-{h}" for fn, _, h in WRONG_CASES])
def test_common_mistake_is_rejected_with_its_hint(capsys, fn, source, hint):
    line = verdict(capsys, CHECKS[fn], define(source))
    assert line.startswith(f"✗ {fn}: ") and "checks failed" in line, line
    assert hint in line, line


@pytest.mark.parametrize("order", ["ifog", "fgio", "oigf", "gofi"])
def test_every_permutation_of_the_lstm_gates_is_named(capsys, order):
    split = ", ".join(f"a{g}" for g in order) + " = np.split(a, 4, axis=1)"
    line = verdict(capsys, checks.check_lstm_cell, define(lstm(split=split)))
    assert line.startswith("✗ lstm_cell: ") and f"order {', '.join(order)}" in line, line


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", BROKEN, ids=BROKEN_IDS)
def test_broken_code_gets_a_verdict_not_a_crash(capsys, name, bad):
    line = verdict(capsys, CHECKS[name], bad)
    assert line.startswith(f"✗ {name}: "), line


@pytest.mark.parametrize("name", NAMES)
def test_torch_tensors_are_rejected_with_a_reason(capsys, name):
    line = verdict(capsys, CHECKS[name], lambda *a, **k: torch.zeros(3))
    assert line.startswith(f"✗ {name}: "), line
