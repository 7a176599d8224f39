"""The checks of chapter 08: accept the reference, reject mistakes, never crash."""
import copy
import itertools
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlkit.grading import autoencoders as checks
from test_grading import TableOfChecks, define, verdict, verdict_of_table

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "08_autoencoders.ipynb"

#: verdict name -> (check, the learner's functions it takes, in order)
CHECKS = {
    "DenseAutoencoder": (checks.check_dense_autoencoder, ("DenseAutoencoder",)),
    "reconstruction_loss": (checks.check_reconstruction_loss, ("reconstruction_loss",)),
    "conv_transpose2d": (checks.check_conv_transpose2d, ("conv_transpose2d",)),
    "conv_transpose_output_size": (checks.check_conv_transpose_output_size,
                                   ("conv_transpose_output_size",)),
    "corrupt": (checks.check_corrupt, ("corrupt",)),
    "anomaly_scores": (checks.check_anomaly_detection,
                       ("anomaly_scores", "anomaly_threshold", "flag_anomalies")),
}
NAMES = list(CHECKS)
#: learner function -> the verdict name of the check that grades it
OWNER = {f: name for name, (_, fns) in CHECKS.items() for f in fns}


def run(capsys, name, ns, **replace):
    return verdict_of_table(capsys, CHECKS, name, ns, **replace)


def define_torch(source):
    """`define`, for answers written with PyTorch: `f` may be a function or a class."""
    if source.startswith("def "):
        fn = define(source)
        fn.__globals__.update(torch=torch, nn=nn, F=F)
        return fn
    ns = {"np": np, "torch": torch, "nn": nn, "F": F}
    exec(textwrap.dedent(source), ns)
    return ns["f"]


def learner(source, ns):
    """`define_torch`, with the learner's other functions of Exercise 8.6 in reach, as
    they are in the notebook: `flag_anomalies` calls the two others by name."""
    f = define_torch(source)
    if hasattr(f, "__globals__"):
        for name in ("anomaly_scores", "anomaly_threshold"):
            f.__globals__.setdefault(name, ns[name])
    return f


@pytest.mark.parametrize("name", ["DenseAutoencoder", "anomaly_scores"])
def test_checks_leave_the_global_random_state_and_threads_alone(capsys, solution_ns,
                                                                name):
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    want = torch.rand(3)
    torch.manual_seed(0)
    run(capsys, name, solution_ns)
    assert torch.equal(torch.rand(3), want)
    assert torch.get_num_threads() == threads


# ------------------------------------------------------------------ references vs torch
def test_output_size_formula_agrees_with_pytorch():
    for n, k, s, p, d in itertools.product((1, 4, 7), (1, 2, 3, 4), (1, 2, 3),
                                           (0, 1, 2), (1, 2)):
        for op in range(max(s, d)):
            if checks._tconv_size(n, k, s, p, d, op) < 1:
                continue
            layer = nn.ConvTranspose2d(1, 1, (k, 1), stride=(s, 1), padding=(p, 0),
                                       output_padding=(op, 0), dilation=(d, 1))
            want = layer(torch.zeros(1, 1, n, 2)).shape[2]
            assert checks._tconv_size(n, k, s, p, d, op) == want, (n, k, s, p, d, op)
            assert checks._torch_tconv_size(n, k, s, p, d, op) == want


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 0), (2, 1), (3, 1), (2, 2)])
def test_scatter_reference_agrees_with_pytorch(stride, padding):
    rng = np.random.default_rng(stride + 10 * padding)
    for x_shape, w_shape in [((2, 3, 4, 5), (3, 2, 3, 3)), ((1, 2, 3, 4), (2, 3, 2, 3)),
                             ((2, 4, 5, 3), (4, 4, 4, 4)),
                             ((3, 1, 2, 2), (1, 2, 5, 3))]:
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        b = rng.standard_normal(w_shape[1])
        if min(checks._tconv_size(x_shape[2], w_shape[2], stride, padding),
               checks._tconv_size(x_shape[3], w_shape[3], stride, padding)) < 1:
            continue
        want = nn.functional.conv_transpose2d(
            torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=stride,
            padding=padding)
        np.testing.assert_allclose(checks._scatter(x, w, b, stride, padding), want,
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(checks._torch_tconv(x, w, b, stride, padding), want,
                                   rtol=0, atol=0)


def test_transposed_convolution_is_the_gradient_of_conv2d():
    """Eq. (8.6), the fact the hint about the flipped kernel rests on."""
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.standard_normal((2, 3, 7, 7)), requires_grad=True)
    w = rng.standard_normal((4, 3, 3, 3))
    y = F.conv2d(x, torch.tensor(w), stride=2)
    g = rng.standard_normal(tuple(y.shape))
    (y * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(checks._scatter(g, w, np.zeros(3), 2), x.grad,
                               rtol=1e-12, atol=1e-12)


def test_loss_parameter_count_and_adam_references():
    rng = np.random.default_rng(4)
    x_hat, x = rng.random((5, 2, 3, 4)), rng.random((5, 2, 3, 4))
    want = np.mean([np.sum((x_hat[i] - x[i]) ** 2) for i in range(5)])
    got = checks._recon_loss(torch.tensor(x_hat), torch.tensor(x))
    np.testing.assert_allclose(got.item(), want, rtol=1e-12)
    for code, hidden in [(2, 32), (5, 16), (12, 7)]:
        layers = [nn.Linear(64, hidden), nn.Linear(hidden, code),
                  nn.Linear(code, hidden), nn.Linear(hidden, 64)]
        assert checks._count(code, hidden) == sum(p.numel() for m in layers
                                                  for p in m.parameters())
    torch.manual_seed(0)
    a, b = nn.Linear(6, 3), nn.Linear(6, 3)
    b.load_state_dict(a.state_dict())
    data = torch.randn(20, 6)
    opt = torch.optim.Adam(b.parameters(), lr=1e-2)
    params = list(a.parameters())
    state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    for t in range(1, 31):
        grads = torch.autograd.grad((a(data) ** 2).sum(), params)
        checks._adam_step(params, grads, state, t, 1e-2)
        opt.zero_grad()
        (b(data) ** 2).sum().backward()
        opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_anomaly_score_reference_is_the_per_example_error_in_eval_mode():
    model = checks._scorer((1, 8, 8), 5)
    x = torch.rand(12, 1, 8, 8)
    got = checks._anomaly_scores(model, x)
    assert model.training                        # the reference scores a copy
    frozen = copy.deepcopy(model).eval()
    with torch.no_grad():
        want = torch.stack([F.mse_loss(frozen(x[i:i + 1]), x[i:i + 1], reduction="sum")
                            for i in range(len(x))])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_exact_scorer_gives_batch_independent_scores_and_ties_at_the_quantile():
    """What the boundary cases of 8.6 rest on: an example scores the same, to the last
    bit, alone or in any batch, and at a whole position quantile·(N − 1) the quantile
    is one of the scores, in NumPy and in torch."""
    model = checks._scorer((64,), 6, exact=True, dtype=torch.float64)
    x = torch.randint(0, 7, (40, 64)).double() / 2         # up to 3, like anomalies
    whole = checks._anomaly_scores(model, x)
    alone = torch.cat([checks._anomaly_scores(model, x[i:i + 1]) for i in range(40)])
    assert torch.equal(whole, alone)
    assert torch.equal(checks._anomaly_scores(model, x.flip(0)), whole.flip(0))
    assert whole.unique().numel() > 30                         # not a constant model
    for n, q in [(101, 0.99), (51, 0.9)]:
        s = torch.rand(n, dtype=torch.float64)
        at = s.sort().values[round(q * (n - 1))]
        assert np.quantile(s.numpy(), q) == at and torch.quantile(s, q) == at


def test_watch_sees_training_mode_and_gradient_tracking():
    model = checks._scorer((64,), 7)
    x = torch.rand(4, 64)
    with checks._watch(model) as seen:
        model(x)
    assert seen == {"training": True, "grad": True}
    model.eval()
    with checks._watch(model) as seen, torch.no_grad():
        model(x)
    assert seen == {"training": False, "grad": False}
    assert not any(m._forward_hooks for m in model.modules())


# ------------------------------------------------------------------ autoencoder sources
_AE = """class f(nn.Module):
    def __init__(self, code_size, hidden={default}):
        super().__init__()
        self.encoder = nn.Sequential({enc})
        self.decoder = nn.Sequential({dec})

    def encode(self, x):
        return {encode}

    def decode(self, z):
        return {decode}

    def forward(self, x):
        return {forward}"""
_ENC = "nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, code_size)"
_DEC = "nn.Linear(code_size, hidden), nn.ReLU(), nn.Linear(hidden, 64), nn.Sigmoid()"


def ae(**parts):
    """A DenseAutoencoder written as a learner would, with some parts replaced."""
    return _AE.format(**{"default": 32, "enc": _ENC, "dec": _DEC,
                         "encode": "self.encoder(x)", "decode": "self.decoder(z)",
                         "forward": "self.decode(self.encode(x))", **parts})


_SEPARATE = """class f(nn.Module):
    def __init__(self, code_size, hidden=32):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(64, hidden), nn.Linear(hidden, code_size)
        self.fc3, self.fc4 = nn.Linear(code_size, hidden), nn.Linear(hidden, 64)
        {extra}

    def encode(self, x):
        return self.fc2(F.relu(self.fc1(x)))

    def decode(self, z):
        return torch.sigmoid(self.fc4(torch.relu(self.fc3(z))))

    def forward(self, x):
        {forward}"""

_SCORE = "def f(model, x):\n model.eval()\n with torch.no_grad():\n  return "
_FLAG = "def f(model, x_val, x, quantile=0.99):\n return "
_TAU = "def f(val_scores, quantile=0.99):\n return "

# ------------------------------------------------------------------ other right answers
_LOOP_TCONV = """def f(x, w, b, stride=1, padding=0):
    N, C_in, H, W = x.shape
    _, C_out, KH, KW = w.shape
    Ho = (H - 1) * stride - 2 * padding + KH
    Wo = (W - 1) * stride - 2 * padding + KW
    out = np.zeros((N, C_out, Ho, Wo))
    for n in range(N):
        for c in range(C_in):
            for i in range(H):
                for j in range(W):
                    for o in range(C_out):
                        for a in range(KH):
                            for e in range(KW):
                                r = stride * i + a - padding
                                q = stride * j + e - padding
                                if 0 <= r < Ho and 0 <= q < Wo:
                                    out[n, o, r, q] += x[n, c, i, j] * w[c, o, a, e]
    return out + b.reshape(1, -1, 1, 1)"""
# A convolution of the input with stride − 1 zeros between its pixels, padded by
# k − 1 − p, with the flipped kernel (channels swapped): the gradient form, eq. (8.6).
_DILATED_TCONV = """def f(x, w, b, stride=1, padding=0):
    N, C_in, H, W = x.shape
    _, C_out, KH, KW = w.shape
    up = np.zeros((N, C_in, (H - 1) * stride + 1, (W - 1) * stride + 1))
    up[:, :, ::stride, ::stride] = x
    ph, pw = KH - 1 - padding, KW - 1 - padding
    up = np.pad(up, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    k = w[:, :, ::-1, ::-1]
    win = np.lib.stride_tricks.sliding_window_view(up, (KH, KW), axis=(2, 3))
    return np.einsum('ncijuv,couv->noij', win, k) + b[None, :, None, None]"""
_SLICED_TCONV = """def f(x, w, b, stride=1, padding=0):
    N, C, H, W = x.shape
    KH, KW = w.shape[2:]
    full = np.zeros((N, w.shape[1], (H - 1) * stride + KH, (W - 1) * stride + KW))
    for a in range(KH):
        for e in range(KW):
            full[:, :, a:a + (H - 1) * stride + 1:stride,
                 e:e + (W - 1) * stride + 1:stride] += np.einsum(
                     'nchw,co->nohw', x, w[:, :, a, e])
    p = padding
    out = full[:, :, p:full.shape[2] - p, p:full.shape[3] - p]
    return out + b[:, None, None]"""
ALSO_RIGHT = {
    "DenseAutoencoder": [
        _SEPARATE.format(extra="", forward="return self.decode(self.encode(x))"),
        _SEPARATE.format(extra="self.to(torch.float32)",
                         forward="z = self.encode(x)\n        return self.decode(z)"),
        """class f(nn.Module):
            def __init__(self, code_size, hidden=32):
                super().__init__()
                self.layers = nn.ModuleList([nn.Linear(64, hidden),
                                             nn.Linear(hidden, code_size),
                                             nn.Linear(code_size, hidden),
                                             nn.Linear(hidden, 64)])

            def encode(self, x):
                return self.layers[1](torch.relu(self.layers[0](x)))

            def decode(self, z):
                return torch.sigmoid(self.layers[3](torch.relu(self.layers[2](z))))

            def forward(self, x):
                return self.decode(self.encode(x))""",
        ae(enc="nn.Linear(64, hidden), nn.LeakyReLU(0.1), nn.Linear(hidden, code_size)",
           dec="nn.Linear(code_size, hidden), nn.Tanh(), nn.Linear(hidden, 64), "
               "nn.Sigmoid()"),
    ],
    "reconstruction_loss": [
        "def f(x_hat, x):\n return F.mse_loss(x_hat, x, reduction='sum') / x.shape[0]",
        "def f(x_hat, x):\n return x[0].numel() * F.mse_loss(x_hat, x)",
        "def f(x_hat, x):\n d = (x_hat - x).reshape(len(x), -1)\n"
        " return (d * d).sum(1).mean()",
        "def f(x_hat, x):\n"
        " return torch.sum((x_hat - x) ** 2, dim=tuple(range(1, x.dim()))).mean()",
        "def f(x_hat, x):\n return ((x - x_hat) ** 2).sum() / len(x)",
    ],
    "conv_transpose2d": [_LOOP_TCONV, _DILATED_TCONV, _SLICED_TCONV],
    "conv_transpose_output_size": [
        "def f(n, k, stride=1, padding=0, dilation=1, output_padding=0):\n"
        " return (n - 1) * stride - 2 * padding + dilation * (k - 1)"
        " + output_padding + 1",
        "def f(n, k, stride=1, padding=0, dilation=1, output_padding=0):\n"
        " return np.int64(stride * (n - 1) + dilation * (k - 1) + 1 - 2 * padding"
        " + output_padding)",
    ],
    "corrupt": [
        "def f(x, sigma, rng):\n"
        " return np.clip(x + rng.normal(0.0, sigma, x.shape), 0, 1)",
        "def f(x, sigma, rng):\n y = x + sigma * rng.standard_normal(x.shape)\n"
        " return np.minimum(np.maximum(y, 0.0), 1.0)",
        """def f(x, sigma, rng):
            out = np.array(x, dtype=float)
            for i in range(len(out)):
                out[i] += sigma * rng.standard_normal(out[i].shape)
            np.clip(out, 0.0, 1.0, out=out)
            return out""",
    ],
    "anomaly_scores": [
        _SCORE + "F.mse_loss(model(x), x, reduction='none').flatten(1).sum(1)",
        _SCORE + "(x - model.decode(model.encode(x))).pow(2).sum(dim=tuple(range(1, "
                 "x.dim())))",
        """def f(model, x):
            was = model.training
            model.train(False)
            with torch.inference_mode():
                s = torch.stack([((xi - model(xi[None])[0]) ** 2).sum() for xi in x])
            model.train(was)
            return s""",
        """def f(model, x):
            model = model.eval()
            with torch.no_grad():
                err = (x - model(x)).reshape(len(x), -1)
                return (err * err).sum(dim=1).detach()""",
    ],
    "anomaly_threshold": [
        _TAU + "val_scores.quantile(quantile).item()",
        "def f(val_scores, quantile=0.99):\n"
        " return np.quantile(val_scores.cpu().numpy(), quantile)",
        "def f(val_scores, quantile=0.99):\n"
        " return float(np.percentile(val_scores.numpy(), 100 * quantile))",
        """def f(val_scores, quantile=0.99):
            s = val_scores.sort().values
            pos = quantile * (len(s) - 1)
            lo = int(pos)
            hi = min(lo + 1, len(s) - 1)
            return s[lo] + (pos - lo) * (s[hi] - s[lo])""",
    ],
    "flag_anomalies": [
        _FLAG + "anomaly_scores(model, x) > anomaly_threshold(anomaly_scores(model, "
                "x_val), quantile=quantile)",
        "def f(model, x_val, x, quantile=0.99):\n"
        " tau = float(anomaly_threshold(anomaly_scores(model, x_val), quantile))\n"
        " return torch.gt(anomaly_scores(model, x), tau)",
        "def f(model, x_val, x, quantile=0.99):\n"
        " tau = anomaly_threshold(anomaly_scores(model, x_val), quantile)\n"
        " return ~(anomaly_scores(model, x) <= tau)",
    ],
}


# ------------------------------------------------------------------ wrong answers
_LOSS = "def f(x_hat, x):\n return "
_TCONV = """def f(x, w, b, stride=1, padding=0):
    N, C, H, W = x.shape
    KH, KW = w.shape[2:]
    s, p = stride, padding
    full = np.zeros((N, w.shape[1], (H - 1) * s + KH, (W - 1) * s + KW))
    for i in range(H):
        for j in range(W):
            {body}
    {ret}"""
_STAMP = "np.einsum('nc,couv->nouv', x[:, :, i, j], w)"
_ADD = "full[:, :, s * i:s * i + KH, s * j:s * j + KW] += " + _STAMP
_CROP = ("return full[:, :, p:full.shape[2] - p, p:full.shape[3] - p] + "
         "b[None, :, None, None]")


def tconv(body=_ADD, ret=_CROP):
    return _TCONV.format(body=body, ret=ret)


_SIZE = "def f(n, k, stride=1, padding=0, dilation=1, output_padding=0):\n return "
_NOISE = "def f(x, sigma, rng):\n return "
WRONG = {
    "DenseAutoencoder": [
        (ae(enc="nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 2)",
            dec="nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 64), nn.Sigmoid()"),
         "`code_size` argument"),
        (ae(enc="nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 64)",
            dec="nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 64), "
                "nn.Sigmoid()"),
         "no bottleneck"),
        (ae(enc="nn.Linear(64, hidden), nn.ReLU()",
            dec="nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 64), "
                "nn.Sigmoid()"),
         "stops at the hidden layer"),
        (ae(dec="nn.Linear(code_size, hidden), nn.ReLU(), nn.Linear(hidden, 64)"),
         "end the decoder with a sigmoid"),
        (ae(dec="nn.Linear(code_size, hidden), nn.ReLU(), nn.Linear(hidden, 64), "
                "nn.ReLU()"),
         "outside [0, 1]"),
        (ae(dec="nn.Linear(code_size, hidden), nn.ReLU(), nn.Linear(hidden, 64), "
                "nn.Softmax(dim=1)"), "softmax"),
        (ae(decode="self.decoder(self.encoder(z))"), "does decode run the encoder"),
        (ae(forward="self.encode(x)"), "forward returns the code"),
        (ae(forward="self.decoder(2 * self.encoder(x))"),
         "differs from decode(encode(x))"),
        (ae(enc="nn.Linear(64, hidden), nn.Linear(hidden, code_size)"),
         "encoder is affine"),
        (ae(dec="nn.Linear(code_size, hidden), nn.Linear(hidden, 64), nn.Sigmoid()"),
         "sigmoid of an affine map"),
        (ae(default=64), "the default is hidden=32"),
        (ae(enc="nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), "
                "nn.ReLU(), nn.Linear(hidden, code_size)"), "more weights"),
        (ae(encode="self.encoder(x).detach()"),
         "no gradient to the parameter `encoder.0"),
        (ae(dec="nn.Linear(code_size, hidden), nn.ReLU(), nn.Linear(hidden, 64), "
                "nn.Sigmoid(), nn.Sigmoid()"), "mean digit"),
        ("""class f(nn.Module):
            def __init__(self, code_size, hidden=32):
                super().__init__()
                self.encoder = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(),
                                             nn.Linear(hidden, code_size))
                self.decoder = [nn.Linear(code_size, hidden), nn.ReLU(),
                                nn.Linear(hidden, 64), nn.Sigmoid()]

            def encode(self, x):
                return self.encoder(x)

            def decode(self, z):
                for layer in self.decoder:
                    z = layer(z)
                return z

            def forward(self, x):
                return self.decode(self.encode(x))""", "Python list"),
        (_SEPARATE.format(extra="", forward="with torch.no_grad():\n            "
                                            "return self.decode(self.encode(x))"),
         "detached from the parameters"),
        ("""class f(nn.Module):
            def __init__(self, code_size, hidden=32):
                super().__init__()
                self.layers = [nn.Linear(64, hidden), nn.Linear(hidden, code_size),
                               nn.Linear(code_size, hidden), nn.Linear(hidden, 64)]

            def encode(self, x):
                return self.layers[1](torch.relu(self.layers[0](x)))

            def decode(self, z):
                return torch.sigmoid(self.layers[3](torch.relu(self.layers[2](z))))

            def forward(self, x):
                return self.decode(self.encode(x))""", "has no parameters"),
        ("""class f(nn.Module):
            def __init__(self, code_size, hidden=32):
                self.encoder = nn.Sequential(nn.Linear(64, hidden))
                super().__init__()""", "call super().__init__() first"),
        ("""class f:
            def __init__(self, code_size, hidden=32):
                self.encoder = nn.Linear(64, code_size)

            def encode(self, x):
                return self.encoder(x)""", "not a torch.nn.Module"),
        (ae().replace("hidden=32", "hidden_size=32").replace("hidden)", "hidden_size)")
         .replace("(hidden,", "(hidden_size,"),
         "DenseAutoencoder(code_size, hidden=32)"),
        (ae().replace("    def encode", "    def enc"), "no method `encode`"),
        (ae(encode="self.encoder(x).numpy()"), "torch.Tensor"),
        (ae(encode="(self.encoder(x), x)"), "return one tensor"),
    ],
    "reconstruction_loss": [
        (_LOSS + "F.mse_loss(x_hat, x)", "F.mse_loss's default"),
        (_LOSS + "((x_hat - x) ** 2).mean()", "mean over all N·D entries"),
        (_LOSS + "((x_hat - x) ** 2).sum()", "sums over the batch as well"),
        (_LOSS + "(x_hat - x).abs().flatten(1).sum(1).mean()", "the square is missing"),
        (_LOSS + "(x_hat - x).flatten(1).sum(1).mean()", "signed differences cancel"),
        (_LOSS + "(x_hat - x).flatten(1).norm(dim=1).mean()", "norm is not squared"),
        (_LOSS + "((x_hat - x).flatten(1).sum(1) ** 2).mean()", "square each pixel"),
        (_LOSS + "((x_hat - x) ** 2).flatten(1).sum(1)", "one loss per example"),
        (_LOSS + "((x_hat - x) ** 2).sum(dim=-1).mean()", "last axis only"),
        (_LOSS + "((x_hat - x) ** 2).sum(dim=(2, 3)).mean() if x.dim() == 4 else "
                 "((x_hat - x) ** 2).sum(1).mean()", "the first and the second"),
        (_LOSS + "((x_hat - x) ** 2).flatten(1).sum(1).mean().item()", "not a tensor"),
        (_LOSS + "torch.tensor(((x_hat.detach().numpy() - x.numpy()) ** 2).reshape("
                 "len(x), -1).sum(1).mean())", "detached from x_hat"),
        ("def f(x_hat, x):\n x.sub_(x_hat)\n return (x ** 2).flatten(1).sum(1).mean()",
         "in place"),
    ],
    "conv_transpose2d": [
        (tconv(body=_ADD.replace("w)", "w[:, :, ::-1, ::-1])")), "kernel is flipped"),
        (tconv(body=_ADD.replace("'nc,couv->nouv'", "'nc,ocuv->nouv'")),
         "(C_in, C_out, KH, KW)"),
        ("""def f(x, w, b, stride=1, padding=0):
            N, C_in, H, W = x.shape
            C_out, _, KH, KW = w.shape[1], w.shape[0], w.shape[2], w.shape[3]
            s, p = stride, padding
            full = np.zeros((N, C_out, (H - 1) * s + KH, (W - 1) * s + KW))
            for n in range(N):
                for c in range(C_in):
                    for o in range(C_out):
                        for i in range(H):
                            for j in range(W):
                                full[n, o, s * i:s * i + KH, s * j:s * j + KW] += \\
                                    x[n, c, i, j] * w[o, c]
            return full[:, :, p:full.shape[2] - p, p:full.shape[3] - p] + \\
                b[None, :, None, None]""", "(C_in, C_out, KH, KW)"),
        (tconv(ret="return full + b[None, :, None, None]"), "padding is ignored"),
        (tconv(ret="return full[:, :, p:, p:] + b[None, :, None, None]"),
         "only one side was cropped"),
        (tconv(ret="return full[:, :, :full.shape[2] - 2 * p, :full.shape[3] - 2 * p]"
                   " + b[None, :, None, None]"), "cropped at the end only"),
        (tconv(body=_ADD.replace("s * i", "i").replace("s * j", "j")),
         "they lie s apart"),
        (tconv(body=_ADD.replace("s * i", "i").replace("s * j", "j")).replace(
            "(H - 1) * s", "(H - 1)").replace("(W - 1) * s", "(W - 1)"),
         "the stride is ignored"),
        (tconv(body=_ADD.replace("+=", "=")), "do not assign"),
        (tconv(ret=_CROP.replace(" + b[None, :, None, None]", "")), "bias is missing"),
        ("""def f(x, w, b, stride=1, padding=0):
            N, C, H, W = x.shape
            KH, KW = w.shape[2:]
            s, p = stride, padding
            out = 0
            for c in range(C):
                full = np.zeros((N, w.shape[1], (H - 1) * s + KH, (W - 1) * s + KW))
                for i in range(H):
                    for j in range(W):
                        full[:, :, s * i:s * i + KH, s * j:s * j + KW] += np.einsum(
                            'n,ouv->nouv', x[:, c, i, j], w[c])
                out = out + full[:, :, p:full.shape[2] - p, p:full.shape[3] - p] + \\
                    b[None, :, None, None]
            return out""", "once per input channel"),
        (tconv(body=_ADD.replace("couv", "covu")), "kernel is transposed"),
        (tconv(body="x[0, 0, 0, 0] = 0\n            " + _ADD), "in place"),
        (tconv(ret="return"), "`return` missing"),
    ],
    "conv_transpose_output_size": [
        (_SIZE + "(n + 2 * padding - dilation * (k - 1) - 1) // stride + 1",
         "output size of a convolution"),
        (_SIZE + "(n - 1) * stride + 2 * padding + dilation * (k - 1) + output_padding"
                 " + 1",
         "padding goes the other way"),
        (_SIZE + "(n - 1) * stride - padding + dilation * (k - 1) + output_padding + 1",
         "not −p"),
        (_SIZE + "n * stride - 2 * padding + dilation * (k - 1) + output_padding + 1",
         "n − 1 strides apart"),
        (_SIZE + "(n - 1) * stride - 2 * padding + (k - 1) + output_padding + 1",
         "dilation d is ignored"),
        (_SIZE + "(n - 1) * stride - 2 * padding + dilation * k + output_padding",
         "not d·k"),
        (_SIZE + "(n - 1) * stride - 2 * padding + dilation * (k - 1) + 1",
         "output_padding is ignored"),
        (_SIZE + "(n - 1) * stride - 2 * padding + dilation * (k - 1)"
                 " + 2 * output_padding + 1", "not 2·output_padding"),
        (_SIZE + "(n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding",
         "+1 is missing"),
        (_SIZE + "(n - 1) - 2 * padding + dilation * (k - 1) + output_padding + 1",
         "stride s is ignored"),
        (_SIZE + "float((n - 1) * stride - 2 * padding + dilation * (k - 1) + "
                 "output_padding + 1)", "return an int"),
        (_SIZE + "True", "bool"),
        ("def f(n, k, stride=1, padding=0, dilation=1, output_padding=0):\n"
         " (n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1",
         "`return` missing"),
    ],
    "corrupt": [
        (_NOISE + "x + sigma * rng.standard_normal(x.shape)", "outside [0, 1]"),
        (_NOISE + "np.maximum(x + sigma * rng.standard_normal(x.shape), 0)",
         "outside [0, 1]"),
        (_NOISE + "np.clip(x, 0, 1) + sigma * rng.standard_normal(x.shape)",
         "clip after adding the noise"),
        ("def f(x, sigma, rng):\n x += sigma * rng.standard_normal(x.shape)\n"
         " np.clip(x, 0, 1, out=x)\n return x", "in place"),
        (_NOISE + "np.clip(x + sigma ** 2 * rng.standard_normal(x.shape), 0, 1)",
         "σ², not σ"),
        (_NOISE + "np.clip(x + rng.normal(0, sigma ** 2, x.shape), 0, 1)",
         "not a variance"),
        (_NOISE + "np.clip(x + np.sqrt(sigma) * rng.standard_normal(x.shape), 0, 1)",
         "√σ, not σ"),
        (_NOISE + "np.clip(x + rng.standard_normal(x.shape), 0, 1)", "not scaled"),
        (_NOISE + "np.clip(x + rng.uniform(-sigma, sigma, x.shape), 0, 1)",
         "uniform noise"),
        (_NOISE + "np.clip(x + rng.uniform(-1.733 * sigma, 1.733 * sigma, x.shape), "
                  "0, 1)",
         "beyond 2σ"),
        (_NOISE + "np.clip(x + sigma * rng.random(x.shape), 0, 1)", "mean"),
        (_NOISE + "np.clip(x + sigma * rng.standard_normal(x.shape[1:]), 0, 1)",
         "every image got the same noise"),
        (_NOISE + "np.clip(x + sigma * rng.standard_normal((len(x),) + (1,) * "
                  "(x.ndim - 1)), 0, 1)",
         "all the pixels of an image got the same noise"),
        (_NOISE + "np.clip(x + sigma * np.random.standard_normal(x.shape), 0, 1)",
         "from the `rng` argument"),
        (_NOISE + "np.clip(x + sigma * np.random.default_rng(0).standard_normal("
                  "x.shape), 0, 1)", "seeded inside the function"),
        (_NOISE + "np.abs(x + sigma * rng.standard_normal(x.shape)) % 1.0",
         "do not rescale"),
        (_NOISE + "x.copy()", "no noise was added"),
        (_NOISE + "__import__('torch').tensor(np.clip(x + sigma * rng.standard_normal("
                  "x.shape), 0, 1))", "torch.Tensor"),
    ],
    "anomaly_scores": [
        ("def f(model, x):\n with torch.no_grad():\n"
         "  return ((x - model(x)) ** 2).flatten(1).sum(1)", "call model.eval()"),
        ("def f(model, x):\n model.eval\n with torch.no_grad():\n"
         "  return ((x - model(x)) ** 2).flatten(1).sum(1)", "training mode"),
        ("def f(model, x):\n model.eval()\n"
         " return ((x - model(x)) ** 2).flatten(1).sum(1)", "requires grad"),
        ("def f(model, x):\n model.eval()\n"
         " return ((x - model(x)) ** 2).flatten(1).sum(1).detach()",
         "ran with gradient tracking"),
        (_SCORE + "((x - model(x)) ** 2).flatten(1).mean(1)", "(.sum, not .mean)"),
        (_SCORE + "((x - model(x)) ** 2).flatten(1).sum(1).mean()",
         "mean of the scores over the batch"),
        (_SCORE + "((x - model(x)) ** 2).sum()", "sum of the scores over the batch"),
        (_SCORE + "F.mse_loss(model(x), x)", "F.mse_loss(model(x), x)"),
        (_SCORE + "(x - model(x)).flatten(1).norm(dim=1)", "the norm is not squared"),
        (_SCORE + "(x - model(x)).abs().flatten(1).sum(1)", "adds up |x − x̂|"),
        (_SCORE + "(x - model(x)).flatten(1).sum(1)", "signed errors cancel"),
        (_SCORE + "((x - model(x)) ** 2).sum(dim=1)", "sums over the channels only"),
        (_SCORE + "((x - model(x)) ** 2).sum(dim=-1)", "the last axis only"),
        (_SCORE + "(x - model(x)) ** 2", "squared errors of the single pixels"),
        (_SCORE + "((x - model(x)) ** 2).flatten(1).sum(1, keepdim=True)",
         "keepdim=True"),
        (_SCORE + "((x - model(x)) ** 2).flatten(1).sum(1).numpy()", "torch.Tensor"),
        (_SCORE + "(((x - model(x)) ** 2).flatten(1).sum(1), model(x))",
         "return one tensor of scores"),
        ("def f(model, x):\n model.eval()\n with torch.no_grad():\n"
         "  x -= model(x)\n return (x ** 2).flatten(1).sum(1)", "changed x in place"),
        ("def f(model, x):\n model.eval()\n with torch.no_grad():\n"
         "  ((x - model(x)) ** 2).flatten(1).sum(1)", "`return` missing"),
    ],
    "anomaly_threshold": [
        (_TAU + "val_scores.mean()", "mean of the scores"),
        (_TAU + "val_scores.max()", "largest score"),
        (_TAU + "val_scores.mean() + 3 * val_scores.std()", "mean plus 3 standard"),
        (_TAU + "val_scores.mean() + 2 * val_scores.std(unbiased=False)",
         "mean plus 2 standard"),
        (_TAU + "np.percentile(val_scores.numpy(), quantile)",
         "np.percentile takes percentages"),
        (_TAU + "torch.quantile(val_scores, 1 - quantile)", "at the low end"),
        (_TAU + "torch.quantile(val_scores, 0.99)", "argument is ignored"),
        (_TAU + "val_scores.sort().values[min(int(quantile * len(val_scores)), "
                "len(val_scores) - 1)]", "⌊quantile·N⌋"),
        (_TAU + "torch.quantile(val_scores, quantile, interpolation='higher')",
         "use the linear interpolation of torch.quantile"),
        (_TAU + "torch.quantile(val_scores, quantile, interpolation='midpoint')",
         "method='midpoint'"),
        (_TAU + "val_scores > torch.quantile(val_scores, quantile)",
         "one value per score"),
        ("def f(val_scores, quantile=0.99):\n"
         " val_scores[:] = val_scores.sort().values\n"
         " return torch.quantile(val_scores, quantile)", "in place"),
        ("def f(val_scores, q=0.99):\n return torch.quantile(val_scores, q)",
         "keep the signature"),
        ("def f(val_scores, quantile=0.99):\n torch.quantile(val_scores, quantile)",
         "`return` missing"),
    ],
    "flag_anomalies": [
        (_FLAG + "anomaly_scores(model, x) >= anomaly_threshold(anomaly_scores(model, "
                 "x_val), quantile)", "(>, not >=)"),
        (_FLAG + "anomaly_scores(model, x) < anomaly_threshold(anomaly_scores(model, "
                 "x_val), quantile)", "the flags are reversed"),
        ("def f(model, x_val, x, quantile=0.99):\n s = anomaly_scores(model, x)\n"
         " return s > anomaly_threshold(s, quantile)",
         "computed from the scores of x, the data being screened"),
        ("def f(model, x_val, x, quantile=0.99):\n s = anomaly_scores(model, x)\n"
         " both = torch.cat([anomaly_scores(model, x_val), s])\n"
         " return s > anomaly_threshold(both, quantile)", "x_val and x together"),
        (_FLAG + "anomaly_scores(model, x) > anomaly_threshold(anomaly_scores(model, "
                 "x_val))", "pass `quantile` on"),
        (_FLAG + "(anomaly_scores(model, x) > anomaly_threshold(anomaly_scores(model, "
                 "x_val), quantile)).float()", "a bool tensor (no .float()"),
        (_FLAG + "anomaly_scores(model, x_val) > anomaly_threshold(anomaly_scores("
                 "model, x_val), quantile)", "one flag per example of x_val"),
        (_FLAG + "anomaly_scores(model, x)", "these are the scores"),
        (_FLAG + "(anomaly_scores(model, x) > anomaly_threshold(anomaly_scores(model, "
                 "x_val), quantile)).numpy()", "return the bool tensor"),
        (_FLAG + "anomaly_scores(model, x) > anomaly_scores(model, x_val).max()",
         "wrongly"),
        ("def f(model, x_val, x, quantile=0.99):\n x.clamp_(0.0, 1.0)\n"
         " return anomaly_scores(model, x) > anomaly_threshold(anomaly_scores(model, "
         "x_val), quantile)", "in place"),
    ],
}

class TestTableOfChecks(TableOfChecks):
    CHECKS, ALSO_RIGHT, WRONG = CHECKS, ALSO_RIGHT, WRONG

    def learner(self, source, ns):
        return learner(source, ns)


def test_stub_gets_the_not_implemented_verdict(capsys):
    stub = define_torch(ae().replace(
        "super().__init__()",
        "super().__init__()\n        raise NotImplementedError('Exercise 8.1')"))
    line = verdict(capsys, checks.check_dense_autoencoder, stub)
    assert line.startswith("✗ DenseAutoencoder: not implemented yet"), line


WRONG_SHAPE = {
    "reconstruction_loss": lambda x_hat, x: (x_hat - x) ** 2,
    "conv_transpose2d": lambda x, w, b, stride=1, padding=0: x,
    "corrupt": lambda x, sigma, rng: x[:, :1],
    "anomaly_scores": lambda model, x: x[:, :1],
    "anomaly_threshold": lambda val_scores, quantile=0.99: val_scores[:3],
    "flag_anomalies": lambda model, x_val, x, quantile=0.99: x > 0.5,
}


@pytest.mark.parametrize("fn", list(WRONG_SHAPE))
def test_wrong_shape_gets_a_verdict_not_a_crash(capsys, solution_ns, fn):
    line = run(capsys, OWNER[fn], solution_ns, **{fn: WRONG_SHAPE[fn]})
    assert line.startswith(f"✗ {OWNER[fn]}: ") and "shape" in line, line


def test_module_of_wrong_shape_gets_a_verdict_not_a_crash(capsys, solution_ns):
    line = run(capsys, "DenseAutoencoder", solution_ns,
               DenseAutoencoder=define_torch(ae(encode="self.encoder(x)[:, :1]",
                                                forward="self.encoder(x)")))
    assert line.startswith("✗ DenseAutoencoder: ") and "shape" in line, line
