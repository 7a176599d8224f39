"""The checks of chapter 05: accept the reference, reject every known mistake, never crash."""
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlkit.grading import conv as checks
from test_grading import TableOfChecks, verdict_of_table

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "05_convolutional_networks.ipynb"

#: verdict name -> (check, the learner's functions it takes, in order)
CHECKS = {
    "conv_output_size": (checks.check_conv_output_size, ("conv_output_size",)),
    "cross_correlate2d": (checks.check_cross_correlate2d, ("cross_correlate2d",)),
    "pad2d": (checks.check_pad2d, ("pad2d",)),
    "conv2d_forward": (checks.check_conv2d_forward, ("conv2d_forward",)),
    "conv2d_backward": (checks.check_conv2d_backward, ("conv2d_backward",)),
    "max_pool2d": (checks.check_max_pool2d, ("max_pool2d", "max_pool2d_backward")),
}
NAMES = list(CHECKS)
#: learner function -> the verdict name of the check that grades it
OWNER = {f: name for name, (_, fns) in CHECKS.items() for f in fns}


def run(capsys, name, ns, **replace):
    return verdict_of_table(capsys, CHECKS, name, ns, **replace)


# ------------------------------------------------------------------ references vs torch
def t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def test_output_size_agrees_with_pytorch():
    for n, k, s, p, d in itertools.product((5, 8, 11), (1, 2, 3), (1, 2, 3), (0, 1, 2),
                                           (1, 2)):
        if n + 2 * p < d * (k - 1) + 1:
            continue
        out = F.conv2d(torch.zeros(1, 1, n, 3), torch.zeros(1, 1, k, 1), stride=(s, 1),
                       padding=(p, 0), dilation=(d, 1))
        assert checks._output_size(n, k, s, p, d) == out.shape[2], (n, k, s, p, d)


def test_cross_correlation_and_padding_agree_with_pytorch():
    rng = np.random.default_rng(0)
    for (h, w), (kh, kw) in [((6, 7), (3, 3)), ((5, 8), (2, 3)), ((4, 4), (1, 1)),
                             ((3, 4), (3, 4))]:
        x, k = rng.standard_normal((h, w)), rng.standard_normal((kh, kw))
        want = F.conv2d(t(x)[None, None], t(k)[None, None])[0, 0]
        np.testing.assert_allclose(checks._xcorr2d(x, k), want, rtol=1e-12, atol=1e-12)
    x = rng.standard_normal((2, 3, 4, 5))
    for p in (0, 1, 3):
        np.testing.assert_array_equal(checks._pad(x, p), F.pad(t(x), (p, p, p, p)))


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_conv_forward_reference_agrees_with_pytorch(stride):
    rng = np.random.default_rng(stride)
    for x_shape, w_shape in [((2, 3, 7, 4), (3, 3, 3, 2)), ((1, 3, 10, 12), (2, 3, 2, 4)),
                             ((3, 4, 5, 5), (2, 4, 1, 1)), ((2, 2, 9, 8), (3, 2, 3, 3))]:
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        b = rng.standard_normal(w_shape[0])
        want = F.conv2d(t(x), t(w), t(b), stride=stride)
        np.testing.assert_allclose(checks._conv_forward(x, w, b, stride), want.detach(),
                                   rtol=1e-12, atol=1e-12)


def test_conv_backward_reference_agrees_with_autograd():
    rng = np.random.default_rng(1)
    for x_shape, w_shape in [((2, 2, 6, 4), (3, 2, 3, 2)), ((3, 2, 4, 5), (4, 2, 1, 1)),
                             ((2, 3, 3, 4), (2, 3, 3, 4)), ((4, 3, 10, 9), (5, 3, 3, 3))]:
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        b = rng.standard_normal(w_shape[0])
        xt, wt, bt = t(x, True), t(w, True), t(b, True)
        y = F.conv2d(xt, wt, bt)
        dout = rng.standard_normal(tuple(y.shape))
        y.backward(t(dout))
        for got, want in zip(checks._conv_backward(dout, x, w), (xt, wt, bt)):
            np.testing.assert_allclose(got, want.grad, rtol=1e-12, atol=1e-12)


def test_max_pool_references_agree_with_pytorch_including_ties():
    rng = np.random.default_rng(2)
    ties = np.array([[[[1.0, 3.0, 0.0, 0.0, 0.0, 3.0], [3.0, 0.0, 0.0, 0.0, 3.0, 3.0],
                       [0.0, 5.0, 4.0, 4.0, 2.0, 2.0], [5.0, 0.0, 4.0, 4.0, 2.0, 2.0]]]])
    cases = [(rng.standard_normal((2, 3, 4, 6)), 2), (rng.standard_normal((1, 2, 6, 9)), 3),
             (ties, 2), (np.maximum(rng.standard_normal((2, 3, 6, 4)), 0.0), 2),
             (rng.integers(0, 3, (2, 2, 6, 6)).astype(float), 3),
             (np.zeros((1, 2, 4, 4)), 2), (rng.standard_normal((2, 2, 3, 5)), 1)]
    for x, k in cases:
        xt = t(x, True)
        y = F.max_pool2d(xt, k)
        np.testing.assert_array_equal(checks._max_pool(x, k), y.detach())
        dout = rng.standard_normal(tuple(y.shape))
        y.backward(t(dout))
        np.testing.assert_array_equal(checks._max_pool_backward(dout, x, k), xt.grad)
    # The tie-breaking rules that the mistakes stand for really differ from PyTorch's.
    dout = np.arange(1.0, 7.0).reshape(1, 1, 2, 3)
    want = checks._max_pool_backward(dout, ties, 2)
    for pick in ("last", "column", "all", "split"):
        assert not np.allclose(checks._max_pool_backward(dout, ties, 2, pick=pick), want)


# ------------------------------------------------------------------ other right answers
_LOOP_CONV = """def f(x, w, b, stride=1):
    N, C, H, W = x.shape
    F_, _, KH, KW = w.shape
    OH, OW = (H - KH) // stride + 1, (W - KW) // stride + 1
    out = np.zeros((N, F_, OH, OW))
    for n in range(N):
        for f in range(F_):
            for i in range(OH):
                for j in range(OW):
                    total = b[f]
                    for c in range(C):
                        for u in range(KH):
                            for v in range(KW):
                                r, q = stride * i + u, stride * j + v
                                total += w[f, c, u, v] * x[n, c, r, q]
                    out[n, f, i, j] = total
    return out"""
_LOOP_BACKWARD = """def f(dout, x, w):
    KH, KW = w.shape[2:]
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            g = dout[:, :, i, j]                                      # (N, F)
            dw += np.einsum("nf,ncuv->fcuv", g, x[:, :, i:i + KH, j:j + KW])
            dx[:, :, i:i + KH, j:j + KW] += np.einsum("nf,fcuv->ncuv", g, w)
    return dx, dw, dout.sum(axis=(0, 2, 3))"""
ALSO_RIGHT = {
    "conv_output_size": [
        "def f(n, k, stride=1, padding=0, dilation=1):\n"
        " return int(np.floor((n + 2 * padding - dilation * (k - 1) - 1) / stride)) + 1",
        "def f(n, k, stride=1, padding=0, dilation=1):\n"
        " return len(range(0, n + 2 * padding - dilation * (k - 1), stride))",
        "def f(n, k, stride=1, padding=0, dilation=1):\n"
        " return np.int64((n + 2 * padding - dilation * (k - 1) - 1) // stride + 1)",
    ],
    "cross_correlate2d": [
        "def f(x, k):\n return np.einsum('ijuv,uv->ij', "
        "np.lib.stride_tricks.sliding_window_view(x, k.shape), k)",
        """def f(x, k):
            H, W = x.shape
            KH, KW = k.shape
            out = np.zeros((H - KH + 1, W - KW + 1))
            for u in range(KH):
                for v in range(KW):
                    out += k[u, v] * x[u:u + H - KH + 1, v:v + W - KW + 1]
            return out""",
    ],
    "pad2d": ["def f(x, p): return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))",
              """def f(x, p):
                  if p == 0:
                      return x
                  n, c, h, w = x.shape
                  out = np.zeros((n, c, h + 2 * p, w + 2 * p))
                  out[:, :, p:-p, p:-p] = x
                  return out"""],
    "conv2d_forward": [
        _LOOP_CONV,
        """def f(x, w, b, stride=1):
            KH, KW = w.shape[2:]
            win = np.lib.stride_tricks.sliding_window_view(x, (KH, KW), axis=(2, 3))
            win = win[:, :, ::stride, ::stride]
            return np.einsum('ncijuv,fcuv->nfij', win, w) + b[:, None, None]""",
        """def f(x, w, b, stride=1):
            KH, KW = w.shape[2:]
            win = np.lib.stride_tricks.sliding_window_view(x, (KH, KW), axis=(2, 3))
            out = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))
            out = out[:, ::stride, ::stride].transpose(0, 3, 1, 2)
            return out + b.reshape(1, -1, 1, 1)""",
    ],
    "conv2d_backward": [_LOOP_BACKWARD],
    "max_pool2d": ["""def f(x, k):
        N, C, H, W = x.shape
        out = np.zeros((N, C, H // k, W // k))
        for i in range(H // k):
            for j in range(W // k):
                out[:, :, i, j] = x[:, :, k * i:k * i + k, k * j:k * j + k].max(axis=(2, 3))
        return out"""],
    "max_pool2d_backward": ["""def f(dout, x, k):
        dx = np.zeros(x.shape)
        N, C, OH, OW = dout.shape
        for n in range(N):
            for c in range(C):
                for i in range(OH):
                    for j in range(OW):
                        win = x[n, c, k * i:k * i + k, k * j:k * j + k]
                        u, v = np.unravel_index(np.argmax(win), win.shape)
                        dx[n, c, k * i + u, k * j + v] += dout[n, c, i, j]
        return dx"""],
}


# ------------------------------------------------------------------ wrong answers
_SIZE = "def f(n, k, stride=1, padding=0, dilation=1):\n return "
_XCORR_LOOP = """def f(x, k):
    H, W = x.shape
    KH, KW = k.shape
    out = np.zeros(({rows}))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            {body}
    return out"""
_CONV_HEAD = """def f(x, w, b, stride=1):
    F_, C, KH, KW = w.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (KH, KW), axis=(2, 3))
    win = win[:, :, ::stride, ::stride]
"""
_CONV_LOOP = """def f(x, w, b, stride=1):
    N, C, H, W = x.shape
    F_, _, KH, KW = w.shape
    OH, OW = (H - KH) // stride + 1, (W - KW) // stride + 1
    out = np.zeros((N, F_, OH, OW))
    for i in range(OH):
        for j in range(OW):
            for f in range(F_):
                for c in range(C):
                    {body}
    return out"""
_BACK_HEAD = """def f(dout, x, w):
    KH, KW = w.shape[2:]
    win = np.lib.stride_tricks.sliding_window_view(x, (KH, KW), axis=(2, 3))
    pad = np.pad(dout, ((0, 0), (0, 0), (KH - 1, KH - 1), (KW - 1, KW - 1)))
    around = np.lib.stride_tricks.sliding_window_view(pad, (KH, KW), axis=(2, 3))
    db = dout.sum(axis=(0, 2, 3))
    dw = np.einsum('nfij,ncijuv->fcuv', dout, win)
    dx = np.einsum('nfhwuv,fcuv->nchw', around, w[:, :, ::-1, ::-1])
"""
_BACK_LOOP = """def f(dout, x, w):
    KH, KW = w.shape[2:]
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            g = dout[:, :, i, j]
            dw += np.einsum('nf,ncuv->fcuv', g, x[:, :, i:i + KH, j:j + KW])
            {body}
    return dx, dw, dout.sum(axis=(0, 2, 3))"""
_POOL_BLOCKS = "x.reshape(x.shape[0], x.shape[1], x.shape[2] // k, k, x.shape[3] // k, k)"
_UP = "np.repeat(np.repeat(dout, k, axis=2), k, axis=3)"
WRONG = {
    "conv_output_size": [
        (_SIZE + "(n + 2 * padding - dilation * (k - 1) - 1) // stride", "+1 is missing"),
        (_SIZE + "(n + padding - dilation * (k - 1) - 1) // stride + 1", "counts twice"),
        (_SIZE + "int(np.ceil((n + 2 * padding - dilation * (k - 1) - 1) / stride)) + 1",
         "not a ceiling"),
        (_SIZE + "round((n + 2 * padding - dilation * (k - 1) - 1) / stride) + 1",
         "or round()"),
        (_SIZE + "(n + 2 * padding - k) // stride + 1", "dilation d is ignored"),
        (_SIZE + "(n + 2 * padding - dilation * k) // stride + 1", "not d·k"),
        (_SIZE + "n + 2 * padding - dilation * (k - 1)", "stride s is ignored"),
        (_SIZE + "(n + 2 * padding - dilation * (k - 1) - 1) / stride + 1", "return an int"),
        (_SIZE + "np.floor((n + 2 * padding - dilation * (k - 1) - 1) / stride) + 1",
         "return an int"),
        ("def f(n, k, stride=1, padding=0, dilation=1):\n"
         " (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1", "`return` missing"),
    ],
    "cross_correlate2d": [
        (_XCORR_LOOP.format(rows="H - KH + 1, W - KW + 1",
                            body="out[i, j] = np.sum(k[::-1, ::-1] * x[i:i + KH, j:j + KW])"),
         "true convolution"),
        (_XCORR_LOOP.format(rows="H - KH + 1, W - KW + 1",
                            body="out[i, j] = np.sum(np.flip(k) * x[i:i + KH, j:j + KW])"),
         "true convolution"),
        ("""def f(x, k):
                KH, KW = k.shape
                xp = np.pad(x, ((KH // 2, (KH - 1) // 2), (KW // 2, (KW - 1) // 2)))
                out = np.zeros(x.shape)
                for i in range(x.shape[0]):
                    for j in range(x.shape[1]):
                        out[i, j] = np.sum(k * xp[i:i + KH, j:j + KW])
                return out""", "('same')"),
        ("""def f(x, k):
                KH, KW = k.shape
                xp = np.pad(x, ((KH - 1, KH - 1), (KW - 1, KW - 1)))
                out = np.zeros((x.shape[0] + KH - 1, x.shape[1] + KW - 1))
                for i in range(out.shape[0]):
                    for j in range(out.shape[1]):
                        out[i, j] = np.sum(k * xp[i:i + KH, j:j + KW])
                return out""", "'full' output"),
        (_XCORR_LOOP.format(rows="H - KH + 1, W - KW + 1", body="""for u in range(KH):
                for v in range(KW):
                    out[i, j] += k[u, v] * x[i + v, j + u]"""), "kernel is transposed"),
        (_XCORR_LOOP.format(rows="W - KW + 1, H - KH + 1",
                            body="out[i, j] = np.sum(k * x[j:j + KH, i:i + KW])"),
         "output is transposed"),
        (_XCORR_LOOP.format(rows="H - KH + 1, W - KW + 1",
                            body="out[i, j] = np.sum(k * x[i:i + KH, j:j + KW])")
         .replace("return out", "pass"), "`return` missing"),
    ],
    "pad2d": [
        ("def f(x, p): return np.pad(x, p)", "all four axes"),
        ("def f(x, p): return np.pad(x, ((0, 0), (0, 0), (p, 0), (p, 0)))", "only one side"),
        ("def f(x, p): return np.pad(x, ((0, 0), (0, 0), (p, p), (0, 0)))",
         "only H was padded"),
        ("def f(x, p): return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode='edge')",
         "mode 'edge'"),
        ("def f(x, p): return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode='reflect')",
         "mode 'reflect'"),
        ("""def f(x, p):
                n, c, h, w = x.shape
                x.resize((n, c, h + 2 * p, w + 2 * p), refcheck=False)
                return x""", "in place"),
        ("""def f(x, p):
                x[:, :, :p] = 0; x[:, :, -p:] = 0; x[:, :, :, :p] = 0; x[:, :, :, -p:] = 0
                return x""", "in place"),
        ("""def f(x, p):
                n, c, h, w = x.shape
                out = np.zeros((n, c, h + 2 * p, w + 2 * p))
                out[:, :, p:-p, p:-p] = x
                return out""", "p:-p is empty when p = 0"),
    ],
    "conv2d_forward": [
        (_CONV_HEAD + "    return np.einsum('ncijuv,fcuv->nfij', win, w[:, :, ::-1, ::-1]) + "
         "b[None, :, None, None]", "kernel is flipped"),
        (_CONV_HEAD + "    return np.einsum('ncijuv,fcuv->nfij', win, w)", "bias is missing"),
        (_CONV_LOOP.format(body="out[:, f, i, j] += np.sum(w[f, c] * x[:, c, stride * i:"
                                "stride * i + KH, stride * j:stride * j + KW], axis=(1, 2))"
                                " + b[f]"), "once per input channel"),
        (_CONV_HEAD + "    return np.einsum('ncijuv,fcuv->nfij', win, w) + b",
         "broadcast along axis 3"),
        (_CONV_HEAD.replace("win = win[:, :, ::stride, ::stride]", "") +
         "    return np.einsum('ncijuv,fcuv->nfij', win, w) + b[None, :, None, None]",
         "stride is ignored"),
        (_CONV_LOOP.format(body="out[:, f, i, j] += np.sum(w[f, c] * x[:, c, i:i + KH, "
                                "j:j + KW], axis=(1, 2)) + b[f] / C"),
         "starts at (s·i, s·j)"),
        (_CONV_HEAD + "    return np.einsum('ncijuv,cfuv->nfij', win, w) + "
         "b[None, :, None, None]", "channels are mixed up"),
        (_CONV_HEAD + "    return np.einsum('ncijuv,fcuv->nijf', win, w) + b",
         "channels-last layout"),
        (_CONV_HEAD + "    return np.einsum('ncijuv,fcuv->nfcij', win, w) + "
         "b[None, :, None, None, None]", "sum over the input channels"),
        (_CONV_HEAD + "    x[0, 0, 0, 0] = 0\n"
         "    return np.einsum('ncijuv,fcuv->nfij', win, w) + b[None, :, None, None]",
         "in place"),
    ],
    "conv2d_backward": [
        (_BACK_HEAD + "    return dx, dw, dout.sum(axis=(2, 3))",
         "db is not summed over the batch"),
        (_BACK_HEAD + "    return dx, dw, dout.sum(axis=0)", "not summed over the positions"),
        (_BACK_HEAD + "    return dx, dw, dout.mean(axis=(0, 2, 3))", "does not average"),
        (_BACK_HEAD + "    return dx, np.einsum('nfij,ncijuv->nfcuv', dout, win), db",
         "dw is not summed over the batch"),
        (_BACK_HEAD + "    return dx, np.einsum('fij,cijuv->fcuv', dout[0], win[0]), db",
         "first one only"),
        (_BACK_HEAD + "    return dx, dw[:, :, ::-1, ::-1], db", "dw is flipped"),
        (_BACK_HEAD + "    return np.einsum('nfhwuv,fcuv->nchw', around, w), dw, db",
         "kernel the wrong way round"),
        (_BACK_LOOP.format(body="dx[:, :, i:i + KH, j:j + KW] += "
                                "np.einsum('nf,fcuv->ncuv', g, w[:, :, ::-1, ::-1])"),
         "kernel the wrong way round"),
        (_BACK_LOOP.format(body="dx[:, :, i:i + KH, j:j + KW] = np.einsum('nf,fcuv->ncuv', "
                                "g, w)"), "the windows overlap"),
        (_BACK_LOOP.format(body="""for n in range(g.shape[0]):
                for f in range(g.shape[1]):
                    dx[n, :, i:i + KH, j:j + KW] = g[n, f] * w[f]"""), "the windows overlap"),
        (_BACK_HEAD + "    return np.einsum('nfhwuv,fcuv->nfchw', around, "
         "w[:, :, ::-1, ::-1]), dw, db", "missing the sum over the output channels"),
        (_BACK_HEAD + """    for f in range(w.shape[0]):
        dx = np.einsum('nhwuv,cuv->nchw', around[:, f], w[f, :, ::-1, ::-1])
    return dx, dw, db""", "only the last filter"),
        (_BACK_LOOP.format(body="dx[:, :, j:j + KH, i:i + KW] += np.einsum('nf,fcuv->ncuv', "
                                "g, w)"), "wrong window"),
        (_BACK_HEAD + "    return dx, dw", "return a triple"),
    ],
    "max_pool2d": [
        (f"def f(x, k): return {_POOL_BLOCKS}.mean(axis=(3, 5))", "mean of each window"),
        ("""def f(x, k):
                N, C, H, W = x.shape
                out = np.zeros((N, C, H - k + 1, W - k + 1))
                for i in range(H - k + 1):
                    for j in range(W - k + 1):
                        out[:, :, i, j] = x[:, :, i:i + k, j:j + k].max(axis=(2, 3))
                return out""", "the windows overlap (stride 1)"),
        ("def f(x, k):\n return x.reshape(x.shape[0], x.shape[1], x.shape[2] // k, "
         "x.shape[3] // k, k, k).max(axis=(4, 5))", "not k×k blocks"),
        ("def f(x, k): return x[:, :, ::k, ::k]", "top-left entry"),
        ("""def f(x, k):
                N, C, H, W = x.shape
                out = np.zeros((N, C, H // k, W // k))
                for u in range(k):
                    for v in range(k):
                        out = np.maximum(out, x[:, :, u::k, v::k])
                return out""", "not at 0"),
    ],
    "max_pool2d_backward": [
        (f"def f(dout, x, k): return {_UP}", "copied to every entry"),
        (f"def f(dout, x, k): return {_UP} / k**2", "spread evenly"),
        (f"""def f(dout, x, k):
                m = {_POOL_BLOCKS}.max(axis=(3, 5))
                up = np.repeat(np.repeat(m, k, axis=2), k, axis=3)
                return (x == up) * {_UP}""", "went to every maximum"),
        (f"""def f(dout, x, k):
                m = {_POOL_BLOCKS}.max(axis=(3, 5))
                up = np.repeat(np.repeat(m, k, axis=2), k, axis=3)
                mask = (x == up).astype(float)
                count = {_POOL_BLOCKS.replace('x.', 'mask.').replace('(x', '(mask')}.sum(
                    axis=(3, 5))
                return mask / np.repeat(np.repeat(count, k, axis=2), k, axis=3) * {_UP}""",
         "split among the maxima"),
        ("""def f(dout, x, k):
                dx = np.zeros(x.shape)
                N, C, OH, OW = dout.shape
                for n in range(N):
                    for c in range(C):
                        for i in range(OH):
                            for j in range(OW):
                                win = x[n, c, k * i:k * i + k, k * j:k * j + k]
                                last = k * k - 1 - np.argmax(win.ravel()[::-1])
                                u, v = divmod(last, k)
                                dx[n, c, k * i + u, k * j + v] = dout[n, c, i, j]
                return dx""", "last maximum"),
        ("""def f(dout, x, k):
                dx = np.zeros(x.shape)
                N, C, OH, OW = dout.shape
                for n in range(N):
                    for c in range(C):
                        for i in range(OH):
                            for j in range(OW):
                                win = x[n, c, k * i:k * i + k, k * j:k * j + k]
                                v, u = divmod(np.argmax(win.T), k)
                                dx[n, c, k * i + u, k * j + v] = dout[n, c, i, j]
                return dx""", "column order"),
        ("""def f(dout, x, k):
                dx = np.zeros(x.shape)
                N, C, OH, OW = dout.shape
                for n in range(N):
                    for c in range(C):
                        for i in range(OH):
                            for j in range(OW):
                                win = x[n, c, i:i + k, j:j + k]
                                u, v = np.unravel_index(np.argmax(win), win.shape)
                                dx[n, c, i + u, j + v] += dout[n, c, i, j]
                return dx""", "overlap (stride 1)"),
        ("def f(dout, x, k): return dout", "shape of x"),
    ],
}

class TestTableOfChecks(TableOfChecks):
    CHECKS, ALSO_RIGHT, WRONG = CHECKS, ALSO_RIGHT, WRONG


def test_missing_second_function_is_named(capsys, solution_ns):
    check, _ = CHECKS["max_pool2d"]
    exec("check()", {"check": check, "max_pool2d": solution_ns["max_pool2d"]})
    out = capsys.readouterr().out
    assert out.startswith("✗ max_pool2d: ")
    assert "no function named `max_pool2d_backward`" in out


