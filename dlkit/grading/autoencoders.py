"""Checks for the exercises of chapter 08, autoencoders.

Each ``check_*`` function is called from a check cell, without arguments (it finds
the learner's class or function by name in the notebook) or with the object to check.
It prints one verdict line and returns None.

Exercises 8.1, 8.2 and 8.6 are written with PyTorch (a module, a differentiable loss
and an anomaly detector), 8.3 to 8.5 with NumPy. The expected values do not come from
``dlkit``: the transposed convolution and its output size are PyTorch's own
(``F.conv_transpose2d``), the loss, the noise and the anomaly scores are short
formulas written here, and the threshold is NumPy's ``np.quantile``.
The NumPy scatter loop below only makes the wrong answers that the hints name; the
tests check it against PyTorch.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import itertools
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._core import (CheckFailed, close, expect, learner_array, learner_function,
                    missing_function, run_checks, shaped_array)

__all__ = ["check_dense_autoencoder", "check_reconstruction_loss",
           "check_conv_transpose2d", "check_conv_transpose_output_size",
           "check_corrupt", "check_anomaly_detection"]

#: Where chapter 08 states what each exercise implements.
EQ = {"autoencoder": "(8.1)", "reconstruction": "(8.2)", "linear_ae": "(8.3)",
      "output_size": "(8.4)", "scatter": "(8.5)", "adjoint": "(8.6)",
      "denoising": "(8.8)", "anomaly": "(8.10)"}

#: Seconds per case; the slowest case (8.1, a hundred Adam steps on 512 digits) takes
#: well under a second.
TIME_LIMIT = 30.0

#: Pixels of a flattened 8×8 digit.
PIXELS = 64


@contextlib.contextmanager
def _seeded(seed: int):
    """Seed torch for one case, on one thread; give the notebook its random state and
    its thread count back afterwards.

    The matrices of these cases are tiny: a second thread only adds synchronisation,
    and on a busy machine two threads fighting make a case ten times slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(threads)


@functools.lru_cache(maxsize=1)
def _digits_array() -> np.ndarray:
    from dlkit.data import load_digits

    return load_digits()[0][:512].astype(np.float32)             # (512, 64) in [0, 1]


def _digits(n: int = 512) -> torch.Tensor:
    return torch.from_numpy(_digits_array()[:n].copy())


# ------------------------------------------------------------------ reference values
def _recon_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(1/N) Σ_n ‖x_n − x̂_n‖², squares summed over all axes but the first, (8.2)."""
    return ((x_hat - x) ** 2).flatten(1).sum(dim=1).mean()


def _count(code: int, hidden: int) -> int:
    """Parameters of 64 → hidden → code → hidden → 64: four linear layers, biases."""
    return 2 * (PIXELS * hidden + hidden * code) + 2 * hidden + code + PIXELS


def _tconv_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1, op: int = 0) -> int:
    """(n − 1)s − 2p + d(k − 1) + output_padding + 1, eq. (8.4)."""
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


def _torch_tconv_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1,
                      op: int = 0) -> int:
    """The height of what ``F.conv_transpose2d`` returns for these settings."""
    out = F.conv_transpose2d(torch.zeros(1, 1, n, 1), torch.zeros(1, 1, k, 1),
                             stride=(s, 1), padding=(p, 0), output_padding=(op, 0),
                             dilation=(d, 1))
    return int(out.shape[2])


def _torch_tconv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int,
                 padding: int) -> np.ndarray:
    """``F.conv_transpose2d`` in float64, the reference of Exercise 8.3."""
    out = F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w),
                             torch.from_numpy(b), stride=stride, padding=padding)
    return out.numpy()


def _scatter(x: np.ndarray, w: np.ndarray, b: Any, stride: int = 1, padding: int = 0, *,
             assign: bool = False, crop: str = "both", step: int | None = None
             ) -> np.ndarray:
    """The scatter form (8.5) as a loop: x (N, C_in, H, W), w (C_in, C_out, KH, KW).

    Input pixel (i, j) adds Σ_c x[n, c, i, j] w[c] into the window of the full output
    at (s·i, s·j); the full output is then cropped by p on each side. Mistakes:
    ``assign`` writes the windows instead of adding them up, ``crop`` "none" keeps the
    full output, "end" cuts 2p rows and columns at the end only, ``step`` puts the
    windows ``step`` apart in an output sized for the stride.
    """
    n, _, h, w_ = x.shape
    _, c_out, kh, kw = w.shape
    full = np.zeros((n, c_out, (h - 1) * stride + kh, (w_ - 1) * stride + kw))
    for i in range(h):
        for j in range(w_):
            # (N, C_in) · (C_in, C_out, KH, KW) -> (N, C_out, KH, KW)
            part = np.tensordot(x[:, :, i, j], w, axes=([1], [0]))
            r, c = (stride if step is None else step) * np.array([i, j])
            if assign:
                full[:, :, r:r + kh, c:c + kw] = part
            else:
                full[:, :, r:r + kh, c:c + kw] += part
    p = padding
    if crop == "both":
        out = full[:, :, p:full.shape[2] - p, p:full.shape[3] - p]
    elif crop == "end":
        out = full[:, :, :full.shape[2] - 2 * p, :full.shape[3] - 2 * p]
    else:
        out = full
    return out + np.reshape(b, (1, -1, 1, 1))


def _adam_step(params: list, grads: tuple, state: list, t: int, lr: float,
               betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
    """Step t ≥ 1 of torch.optim.Adam, written out: the first ``torch.optim`` optimizer
    of a session imports torch's compiler, which takes seconds. ``state`` holds one
    pair of moments (m, v) per parameter, zeros before the first step."""
    b1, b2 = betas
    with torch.no_grad():
        for p, g, (m, v) in zip(params, grads, state):
            if g is None:
                continue
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            p -= lr * (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + eps)


# ------------------------------------------------------------------ shared helpers
def _unchanged(name: str, given: list[np.ndarray], kept: list[np.ndarray]) -> None:
    """Fail when the learner's function wrote into one of the caller's arrays."""
    if any(not np.array_equal(a, b) for a, b in zip(given, kept)):
        raise CheckFailed(f"{name} changed an input array in place; leave the caller's "
                          f"arrays alone and write the result into a new array.")


def _int_result(got: Any, call: str, want: int, eq: str) -> float:
    """The learner's size as a number; a float, a bool or None gets its own hint."""
    if got is None:
        raise CheckFailed(f"{call} returned None: is the `return` missing?")
    if isinstance(got, (bool, np.bool_)):
        raise CheckFailed(f"{call} returned the bool {got}; return the number of "
                          f"output positions, an int.")
    if isinstance(got, (int, np.integer)):
        return int(got)
    if isinstance(got, (float, np.floating)):
        if float(got) == want:
            raise CheckFailed(f"{call} returned the float {float(got)!r}; a size "
                              f"counts positions, so return an int, eq. {eq}.")
        return float(got)
    if isinstance(got, torch.Tensor):
        raise CheckFailed(f"{call} returned a torch.Tensor; return a plain int.")
    arr = np.asarray(got) if isinstance(got, np.ndarray) else None
    if arr is None or arr.shape != () or arr.dtype.kind not in "iuf":
        raise CheckFailed(f"{call} returned a {type(got).__name__}; return one int, "
                          f"the number of output positions.")
    return arr.item()


# ------------------------------------------------------------------ 8.1 autoencoder
def _build(cls: Any, code: int, hidden: int | None) -> nn.Module:
    """Instantiate the learner's class, or fail with what a working one needs."""
    call = (f"DenseAutoencoder({code})" if hidden is None
            else f"DenseAutoencoder({code}, hidden={hidden})")
    try:
        model = cls(code) if hidden is None else cls(code, hidden=hidden)
    except AttributeError as exc:
        if "Module.__init__" in str(exc):
            raise CheckFailed(f"{call} raised AttributeError ({str(exc)[:60]}): call "
                              f"super().__init__() first in __init__, before assigning "
                              f"any layer.") from None
        raise
    except TypeError as exc:
        if "__init__()" in str(exc) or "positional argument" in str(exc):
            raise CheckFailed(f"{call} raised TypeError ({str(exc)[:70]}): the "
                              f"class takes DenseAutoencoder(code_size, hidden=32).") \
                from None
        raise
    if model is None:
        raise CheckFailed(f"{call} returned None; it should create a module (is "
                          f"DenseAutoencoder a class?).")
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"{call} gave a {type(model).__name__}, not a "
                          f"torch.nn.Module: write "
                          f"`class DenseAutoencoder(nn.Module):` and call "
                          f"super().__init__() in __init__.")
    for method in ("encode", "decode"):
        if not callable(getattr(model, method, None)):
            raise CheckFailed(f"the module has no method `{method}`; define "
                              f"`def {method}(self, ...)` inside the class (encode "
                              f"maps images to codes, decode codes to images).")
    if not list(model.parameters()):
        raise CheckFailed(f"{call} has no parameters: assign the layers as attributes "
                          f"of self (self.encoder = nn.Sequential(...)) in __init__, "
                          f"so that the module registers them.")
    return model


def _like(model: nn.Module, t: torch.Tensor) -> torch.Tensor:
    """``t`` on the device and in the floating dtype of the model's parameters."""
    p = next(model.parameters())
    return t.to(device=p.device, dtype=p.dtype if p.is_floating_point() else t.dtype)


def _call(model: nn.Module, method: str, arg: torch.Tensor, what: str) -> Any:
    """Run ``model.method(arg)``; a mismatched matrix product gets a hint."""
    fn = model if method == "forward" else getattr(model, method)
    try:
        return fn(_like(model, arg))
    except RuntimeError as exc:
        msg = str(exc)
        if "cannot be multiplied" not in msg and "size mismatch" not in msg:
            raise
        if method == "decode":
            hint = (f"decode received a code of shape {tuple(arg.shape)}, "
                    f"(N, code_size), and raised a shape error: the decoder starts "
                    f"with nn.Linear(code_size, hidden) and takes the code itself; "
                    f"does decode run the encoder first, or does its first layer "
                    f"expect 64 inputs?")
        elif method == "encode":
            hint = (f"encode received images of shape {tuple(arg.shape)}, (N, 64), and "
                    f"raised a shape error: the encoder starts with "
                    f"nn.Linear(64, hidden) and ends with nn.Linear(hidden, "
                    f"code_size)")
        else:
            hint = (f"the module raised a shape error on x of shape "
                    f"{tuple(arg.shape)}: the layers chain 64 → hidden → code_size → "
                    f"hidden → 64")
        raise CheckFailed(f"{what}: {hint} ({msg[:60]}).") from None


def _tensor(value: Any, what: str, want: tuple, hints: dict[tuple, str],
            otherwise: str) -> torch.Tensor:
    """The learner's output as a detached CPU tensor of the wanted shape."""
    if isinstance(value, (tuple, list)):
        raise CheckFailed(f"{what} returned a {type(value).__name__} of {len(value)}; "
                          f"return one tensor.")
    if value is None:
        raise CheckFailed(f"{what} returned None: is the `return` missing?")
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(f"{what} returned a {type(value).__name__}; return a "
                          f"torch.Tensor (keep the computation in PyTorch).")
    if tuple(value.shape) != tuple(want):
        hint = hints.get(tuple(value.shape), otherwise)
        raise CheckFailed(f"{what} has shape {tuple(value.shape)}, expected {want}: "
                          f"{hint}.")
    return value.detach().cpu().double()


def _code_hints(n: int, code: int, hidden: int) -> dict[tuple, str]:
    eq = EQ["autoencoder"]
    return {
        (n, hidden): f"encode stops at the hidden layer; the code is the output of a "
                     f"second layer, nn.Linear(hidden, code_size), eq. {eq}",
        (n, PIXELS): f"encode returns 64 numbers per image, as many as the image has "
                     f"pixels: there is no bottleneck, and such a network can learn to "
                     f"copy its input without learning anything about it. The code has "
                     f"code_size entries, eq. {eq}",
    }


def check_dense_autoencoder(cls: Any = None) -> None:
    """Exercise 8.1: ``DenseAutoencoder(code_size, hidden=32)``, eq. (8.1)."""
    cls = learner_function(cls, "DenseAutoencoder")
    eq, eq_loss, eq_lin = EQ["autoencoder"], EQ["reconstruction"], EQ["linear_ae"]
    layers = ("encoder 64 → hidden → code_size, decoder code_size → hidden → 64, a "
              "ReLU after each hidden layer and a sigmoid at the end")

    def encode_case(code, hidden, n, seed):
        def run(cls):
            h = 32 if hidden is None else hidden
            with _seeded(seed), torch.no_grad():
                model = _build(cls, code, hidden)
                x = _digits(n)
                what = f"encode(x) with code_size = {code}, x of shape ({n}, 64)"
                _tensor(_call(model, "encode", x, what), what, (n, code),
                        _code_hints(n, code, h),
                        f"the code has code_size = {code} entries per image; build the "
                        f"layers from the `code_size` argument (not a fixed number), "
                        f"eq. {eq}")
        return run

    def decode_case(code, hidden, n, seed):
        def run(cls):
            h = 32 if hidden is None else hidden
            with _seeded(seed), torch.no_grad():
                model = _build(cls, code, hidden)
                z = torch.randn(n, code)
                what = f"decode(z) with code_size = {code}, z of shape ({n}, {code})"
                _tensor(_call(model, "decode", z, what), what, (n, PIXELS),
                        {(n, h): f"decode stops at the hidden layer; it ends with "
                                 f"nn.Linear(hidden, 64) and a sigmoid, eq. {eq}"},
                        f"decode returns one image of 64 pixels per code, (N, 64), "
                        f"eq. {eq}")
        return run

    def forward_case(code, hidden, n, seed):
        def run(cls):
            with _seeded(seed), torch.no_grad():
                model = _build(cls, code, hidden)
                x = _digits(n)
                what = f"model(x) with code_size = {code}, x of shape ({n}, 64)"
                got = _tensor(_call(model, "forward", x, what), what, (n, PIXELS),
                              {(n, code): f"forward returns the code; it returns the "
                                          f"reconstruction x̂ = decode(encode(x)), eq. "
                                          f"{eq}"},
                              f"forward returns the reconstruction, one image per "
                              f"input, (N, 64), eq. {eq}")
                step = f"decode(encode(x)) with code_size = {code}"
                z = _call(model, "encode", x, step)
                want = _tensor(_call(model, "decode", z, step), step, (n, PIXELS), {},
                               "decode returns (N, 64)")
            if not torch.allclose(got, want, rtol=1e-5, atol=1e-6):
                raise CheckFailed(f"model(x) differs from decode(encode(x)) by up to "
                                  f"{(got - want).abs().max().item():.3g}: forward "
                                  f"computes x̂ = ψ(φ(x)) with the same two halves, "
                                  f"eq. {eq}.")
        return run

    def range_case(code, seed):
        def run(cls):
            with _seeded(seed), torch.no_grad():
                model = _build(cls, code, None)
                z = 30.0 * torch.randn(256, code)
                what = f"decode(z) for large codes z (code_size = {code})"
                out = _tensor(_call(model, "decode", z, what), what, (256, PIXELS), {},
                              "decode returns (N, 64)")
            low, high = out.min().item(), out.max().item()
            if low < 0.0 or high > 1.0:
                raise CheckFailed(f"the decoder's outputs reach [{low:.3g}, "
                                  f"{high:.3g}], outside [0, 1]: end the decoder with "
                                  f"a sigmoid, so that every output is a pixel value "
                                  f"in [0, 1] like the digits, eq. {eq}.")
            if torch.allclose(out.sum(dim=1), torch.ones(256, dtype=out.dtype),
                              atol=1e-4):
                raise CheckFailed(f"each reconstruction sums to 1: that is a softmax "
                                  f"over the 64 pixels, which makes them compete; the "
                                  f"pixels are independent values in [0, 1], so end "
                                  f"with a sigmoid (nn.Sigmoid()), eq. {eq}.")
        return run

    def nonlinear_case(code, seed):
        def run(cls):
            with _seeded(seed), torch.no_grad():
                model = _build(cls, code, None)
                x1, x2 = _digits(64)[:32], _digits(64)[32:]
                what = f"encode(x) with code_size = {code}"
                e1, e2, em = (_tensor(_call(model, "encode", x, what), what, (32, code),
                                      {}, "the code is (N, code_size)")
                              for x in (x1, x2, (x1 + x2) / 2))
                z1, z2 = torch.randn(32, code), torch.randn(32, code)
                what = f"decode(z) with code_size = {code}"
                d1, d2, dm = (_tensor(_call(model, "decode", z, what), what,
                                      (32, PIXELS), {}, "decode returns (N, 64)")
                              for z in (z1, z2, (z1 + z2) / 2))
            if torch.allclose(em, (e1 + e2) / 2, rtol=1e-4, atol=1e-5):
                raise CheckFailed(f"the encoder is affine (the code of the mean of two "
                                  f"images is the mean of their codes): put a ReLU "
                                  f"between its two linear layers. Without it the "
                                  f"encoder is one linear map, and the best a linear "
                                  f"autoencoder can do is the principal subspace, eq. "
                                  f"{eq_lin}.")
            inside = ((d1 > 1e-3) & (d1 < 1 - 1e-3) & (d2 > 1e-3) & (d2 < 1 - 1e-3)
                      & (dm > 1e-3) & (dm < 1 - 1e-3))
            if inside.float().mean() > 0.5:
                l1, l2, lm = (torch.logit(d)[inside] for d in (d1, d2, dm))
                if torch.allclose(lm, (l1 + l2) / 2, rtol=1e-3, atol=1e-3):
                    raise CheckFailed(f"the decoder is a sigmoid of an affine map: put "
                                      f"a ReLU after its hidden layer, {layers}, eq. "
                                      f"{eq}.")
        return run

    def count_case(code, hidden):
        def run(cls):
            h = 32 if hidden is None else hidden
            with _seeded(81):
                model = _build(cls, code, hidden)
            got = sum(p.numel() for p in model.parameters())
            want = _count(code, h)
            if got == want:
                return
            call = (f"DenseAutoencoder({code})" if hidden is None
                    else f"DenseAutoencoder({code}, hidden={hidden})")
            default = " (the default is hidden=32)" if hidden is None else ""
            if got < want:
                hint = (f"some layers are not registered; layers kept in a Python list "
                        f"or dict are invisible to .parameters() and to the optimizer: "
                        f"use nn.Sequential or nn.ModuleList. Expected {layers}")
            else:
                hint = f"there are more weights than the four layers need: {layers}"
            raise CheckFailed(f"{call} has {got} parameters, expected {want}{default}: "
                              f"{hint}, eq. {eq}.")
        return run

    def gradient_case(code, seed):
        def run(cls):
            with _seeded(seed):
                model = _build(cls, code, None)
                x = _like(model, _digits(64))
                what = f"model(x) with code_size = {code}"
                out = _call(model, "forward", x, what)
                _tensor(out, what, (64, PIXELS), {}, "forward returns (N, 64)")
                if not out.requires_grad:
                    raise CheckFailed(f"{what} is detached from the parameters (no "
                                      f"gradient can reach them): compute with PyTorch "
                                      f"operations only, without torch.no_grad(), "
                                      f".detach() or NumPy.")
                _recon_loss(out, x).backward()
                for name, p in model.named_parameters():
                    if p.grad is None or not bool(p.grad.abs().sum() > 0):
                        raise CheckFailed(f"the reconstruction loss sends no gradient "
                                          f"to the parameter `{name}`: every layer "
                                          f"must lie on the path x → encode → code → "
                                          f"decode → x̂, eq. {eq}; is the code "
                                          f"detached, or a layer unused?")
        return run

    def training_case(code, seed, steps=100, lr=1e-2):
        def run(cls):
            with _seeded(seed):
                model = _build(cls, code, None)
                x = _like(model, _digits())
                mean_digit = x.mean(dim=0, keepdim=True).expand_as(x)
                baseline = _recon_loss(mean_digit, x).item()
                params = [p for p in model.parameters() if p.requires_grad]
                state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
                first = None
                for t in range(1, steps + 1):
                    loss = _recon_loss(model(x), x)
                    first = loss.item() if first is None else first
                    grads = torch.autograd.grad(loss, params, allow_unused=True)
                    _adam_step(params, grads, state, t, lr)
                with torch.no_grad():
                    last = _recon_loss(model(x), x).item()
            if not np.isfinite(last) or last > 0.75 * baseline:
                raise CheckFailed(f"after {steps} steps of Adam (lr = {lr:g}) on 512 "
                                  f"digits the reconstruction loss went from "
                                  f"{first:.3g} to {last:.3g}, not below 0.75 × "
                                  f"{baseline:.3g}, the loss of predicting the mean "
                                  f"digit for every image. A working code_size = "
                                  f"{code} autoencoder gets far below it: does the "
                                  f"decoder use the code? ({layers}, eq. {eq}; the "
                                  f"loss, eq. {eq_loss}.)")
        return run

    run_checks("DenseAutoencoder", "8.1", cls, [
        encode_case(2, None, 16, 811), encode_case(5, 16, 8, 812),
        encode_case(12, 24, 1, 813),
        decode_case(3, None, 16, 814), decode_case(7, 20, 1, 815),
        forward_case(4, None, 16, 816), forward_case(6, 12, 1, 817),
        range_case(3, 818), nonlinear_case(5, 819),
        count_case(3, None), count_case(5, 16),
        gradient_case(4, 820), training_case(8, 821),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 8.2 loss
def check_reconstruction_loss(fn: Any = None) -> None:
    """Exercise 8.2: ``reconstruction_loss(x_hat, x)``, eq. (8.2)."""
    fn = learner_function(fn, "reconstruction_loss")
    eq = EQ["reconstruction"]
    rule = (f"(1/N) Σ_n ‖x_n − x̂_n‖²: square the differences, sum them over every "
            f"pixel (every axis but the first), then average over the N examples, eq. "
            f"{eq}")

    def case(shape, seed, what):
        gen = torch.Generator().manual_seed(seed)
        x = torch.rand(shape, generator=gen, dtype=torch.float64)
        x_hat = torch.rand(shape, generator=gen, dtype=torch.float64)

        def run(fn):
            name = f"reconstruction_loss for {what}"
            xh = x_hat.clone().requires_grad_(True)
            xc = x.clone()
            got = fn(xh, xc)
            if not torch.equal(xh.detach(), x_hat) or not torch.equal(xc, x):
                raise CheckFailed(f"{name} changed an input tensor in place; compute "
                                  f"the loss into new tensors.")
            want = _recon_loss(x_hat, x).item()
            n = shape[0]
            d = x_hat - x
            tensor = isinstance(got, torch.Tensor)
            value = learner_array(name, got.detach().cpu().double().numpy() if tensor
                                  else got)
            if value.size != 1:
                hints = {(n,): f"this is one loss per example; average them over the "
                               f"batch: {rule}"}
                raise CheckFailed(f"{name} has shape {value.shape}; a loss is one "
                                  f"number: {hints.get(value.shape, rule)}.")
            dims = tuple(range(1, len(shape)))
            mistakes = {
                f"this is the mean over all N·D entries (F.mse_loss's default): it "
                f"divides by the number of pixels as well. {rule}": (d ** 2).mean(),
                f"this sums over the batch as well; divide by N, the number of "
                f"examples: {rule}": (d ** 2).sum(),
                f"the square is missing (this sums |x̂ − x|, an L1 loss): {rule}":
                    d.abs().flatten(1).sum(1).mean(),
                f"the square is missing, and the signed differences cancel: {rule}":
                    d.flatten(1).sum(1).mean(),
                f"the norm is not squared: ‖x − x̂‖², not ‖x − x̂‖; {rule}":
                    d.flatten(1).norm(dim=1).mean(),
                f"the differences are squared after summing them; square each pixel's "
                f"difference first: {rule}": (d.flatten(1).sum(1) ** 2).mean(),
            }
            if len(shape) > 2:
                mistakes[f"this sums over the last axis only (code written for (N, D) "
                         f"inputs) and averages over the others; for images (N, C, H, "
                         f"W) sum over C, H and W, e.g. .flatten(1).sum(dim=1): "
                         f"{rule}"] = \
                    (d ** 2).sum(dim=-1).mean()
                mistakes[f"this sums over the channels only and averages over the "
                         f"pixels; sum over C, H and W, e.g. .flatten(1).sum(dim=1): "
                         f"{rule}"] = \
                    (d ** 2).sum(dim=1).mean()
                mistakes[f"this sums over all axes but the first and the second; sum "
                         f"over C, H and W: {rule}"] = (d ** 2).sum(dim=dims[1:]).mean()
            expect(value.reshape(()), np.asarray(want), name,
                   {h: np.asarray(v.item()) for h, v in mistakes.items()}, rtol=1e-9)
            if not tensor:
                raise CheckFailed(f"{name} returned a {type(got).__name__}, the right "
                                  f"number but not a tensor: training calls "
                                  f"loss.backward(), so return the tensor itself (no "
                                  f".item(), no NumPy).")
            if not got.requires_grad:
                raise CheckFailed(f"{name} is detached from x_hat (requires_grad is "
                                  f"False): compute it with PyTorch operations, "
                                  f"without .detach() or NumPy, so that "
                                  f"loss.backward() reaches the model.")
            got.sum().backward()
            grad = xh.grad
            if grad is None:
                raise CheckFailed(f"{name}: loss.backward() gave x_hat no gradient; "
                                  f"keep x_hat in the computation.")
            expect(grad.detach().numpy(), (2 * d / n).numpy(),
                   f"the gradient of {name}", rtol=1e-9)
        return run

    run_checks("reconstruction_loss", "8.2", fn, [
        case((8, 64), 821, "a batch of 8 flattened digits, (8, 64)"),
        case((16, 10), 822, "x of shape (16, 10)"),
        case((5, 1, 8, 8), 823, "images of shape (5, 1, 8, 8)"),
        case((3, 3, 4, 5), 824, "images of shape (3, 3, 4, 5)"),
        case((1, 64), 825, "a single example, (1, 64)"),
        case((2, 7), 826, "x of shape (2, 7)"),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 8.3 conv transpose
def check_conv_transpose2d(fn: Any = None) -> None:
    """Exercise 8.3: ``conv_transpose2d(x, w, b, stride=1, padding=0)``, eq. (8.5)."""
    fn = learner_function(fn, "conv_transpose2d")
    rng = np.random.default_rng(83)
    eq, eq_size, eq_adj = EQ["scatter"], EQ["output_size"], EQ["adjoint"]
    rule = (f"y[n, o, s·i + a − p, s·j + b − p] += Σ_c x[n, c, i, j] w[c, o, a, b], "
            f"eq. {eq}")
    layout = ("w has PyTorch's layout for a transposed convolution, (C_in, C_out, KH, "
              "KW), input channels first: the reverse of conv2d's (F, C, KH, KW)")

    def case(n, c_in, h, w_, c_out, kh, kw, stride, padding, what):
        x = rng.standard_normal((n, c_in, h, w_))
        w = rng.standard_normal((c_in, c_out, kh, kw))
        b = rng.standard_normal(c_out)

        def run(fn):
            name = f"conv_transpose2d for {what}"
            args = [x.copy(), w.copy(), b.copy()]
            given = (("stride", stride, 1), ("padding", padding, 0))
            kwargs = {k: v for k, v, default in given if v != default}
            try:
                got = fn(*args, **kwargs)
            except IndexError as exc:
                raise CheckFailed(f"{name} raised IndexError ({str(exc)[:50]}); if w "
                                  f"is read as (C_out, C_in, ...) like conv2d's "
                                  f"weights, the channel indices run past its axes: "
                                  f"{layout}.") from None
            except ValueError as exc:
                msg = str(exc)
                if not any(m in msg for m in ("mismatch", "broadcast", "not aligned")):
                    raise
                raise CheckFailed(f"{name} raised ValueError, a product of mismatched "
                                  f"shapes ({msg[:50]}); if w is read as (C_out, C_in, "
                                  f"...) like conv2d's weights, the channels do not "
                                  f"line up: {layout}.") from None
            _unchanged("conv_transpose2d", args, [x, w, b])
            want = _torch_tconv(x, w, b, stride, padding)
            oh, ow = want.shape[2:]
            s, p = stride, padding
            hints: dict[tuple, str] = {}

            def hint(shape, text):
                if shape != want.shape and shape not in hints:
                    hints[shape] = text

            if c_in != c_out:
                hint((n, c_in, oh, ow), f"the output has one channel per input "
                                        f"channel; it has C_out = w.shape[1] channels: "
                                        f"{layout}")
            if p:
                hint((n, c_out, oh + 2 * p, ow + 2 * p),
                     f"the padding is ignored: p crops p rows and columns from each "
                     f"side of the full output, so H_out = (H − 1)s − 2p + KH, eq. "
                     f"{eq_size}")
                hint((n, c_out, oh + p, ow + p),
                     f"only one side was cropped: p goes from each side, top and "
                     f"bottom, left and right, eq. {eq_size}")
                hint((n, c_out, oh + 4 * p, ow + 4 * p),
                     f"the padding was added; in a transposed convolution it removes p "
                     f"rows and columns on each side, H_out = (H − 1)s − 2p + KH, "
                     f"eq. {eq_size}")
            if s > 1:
                hint((n, c_out, h - 1 - 2 * p + kh, w_ - 1 - 2 * p + kw),
                     f"the stride is ignored: input pixel (i, j) lands at (s·i − p, "
                     f"s·j − p) of the output, so H_out = (H − 1)s − 2p + KH, "
                     f"eq. {eq_size}")
                hint((n, c_out, oh + s, ow + s),
                     f"H inputs are H − 1 strides apart: H_out = (H − 1)s − 2p + KH, "
                     f"not H·s − 2p + KH, eq. {eq_size}")
            conv = ((h + 2 * p - kh) // s + 1, (w_ + 2 * p - kw) // s + 1)
            if min(conv) > 0:
                hint((n, c_out) + conv, f"this is the output size of conv2d, which "
                     f"shrinks the image; the transposed convolution enlarges it, "
                     f"H_out = (H − 1)s − 2p + KH, eq. {eq_size}")
            got = shaped_array(got, want.shape, name, hints,
                               f"the output is (N, C_out, H_out, W_out) with H_out = "
                               f"(H − 1)s − 2p + KH, eq. {eq_size}")
            no_bias = want - b[None, :, None, None]
            flipped = (f"the kernel is flipped. The scatter form adds w[c, o, a, b] as "
                       f"it is: {rule}. (Written as a convolution of the input with "
                       f"s − 1 zeros between its pixels, the kernel must be flipped, "
                       f"because the transposed convolution is the adjoint of conv2d, "
                       f"eq. {eq_adj}.)")
            mistakes = {
                flipped: _scatter(x, w[..., ::-1, ::-1], b, s, p),
                "the bias is missing: add b_o to every output of channel o, "
                "b[None, :, None, None]": no_bias,
                f"the bias is added once per input channel (C_in = {c_in} times); "
                f"add b_o once, after the sum over c":
                    no_bias + c_in * b[None, :, None, None],
                f"the windows overlap, and each output pixel collects the "
                f"contributions of every input pixel that reaches it: add (+=), do not "
                f"assign, {rule}":
                    _scatter(x, w, b, s, p, assign=True),
            }
            if c_in == c_out:
                mistakes[f"input and output channels are mixed up: {layout}"] = \
                    _scatter(x, w.transpose(1, 0, 2, 3), b, s, p)
                mistakes[f"input and output channels are mixed up and the kernel is "
                         f"flipped: {layout}; {rule}"] = \
                    _scatter(x, w.transpose(1, 0, 2, 3)[..., ::-1, ::-1], b, s, p)
            if kh == kw:
                mistakes[f"the kernel is transposed: w[c, o, a, b] goes to row "
                         f"s·i + a − p and column s·j + b − p, a along the rows, "
                         f"{rule}"] = \
                    _scatter(x, w.swapaxes(2, 3), b, s, p)
            if s > 1:
                mistakes[f"the copies of input pixel (i, j) go to (s·i − p, s·j − p): "
                         f"with stride s they lie s apart, not 1, {rule}"] = \
                    _scatter(x, w, b, s, p, step=1)
            if p:
                mistakes[f"the full output was cropped at the end only; remove p rows "
                         f"and columns from each side, full[..., p:-p, p:-p], "
                         f"{rule}"] = \
                    _scatter(x, w, b, s, p, crop="end")
            expect(got, want, name, mistakes)
        return run

    run_checks("conv_transpose2d", "8.3", fn, [
        case(2, 3, 4, 5, 2, 3, 3, 1, 0, "x (2, 3, 4, 5), w (3, 2, 3, 3)"),
        case(2, 2, 3, 4, 3, 2, 3, 2, 0, "x (2, 2, 3, 4), w (2, 3, 2, 3), stride 2"),
        case(1, 3, 4, 4, 2, 4, 4, 2, 1, "x (1, 3, 4, 4), w (3, 2, 4, 4), stride 2, "
             "padding 1 (doubles the size)"),
        case(2, 3, 5, 3, 3, 3, 3, 2, 1, "x (2, 3, 5, 3), w (3, 3, 3, 3), stride 2, "
             "padding 1"),
        case(2, 2, 3, 3, 4, 2, 2, 3, 0, "a kernel smaller than the stride, "
                                        "w (2, 4, 2, 2), stride 3"),
        case(3, 4, 4, 5, 2, 1, 1, 1, 0, "a 1×1 kernel, x (3, 4, 4, 5), w (4, 2, 1, 1)"),
        case(2, 2, 4, 4, 2, 3, 3, 2, 2, "x (2, 2, 4, 4), w (2, 2, 3, 3), stride 2, "
             "padding 2"),
        case(1, 1, 1, 1, 3, 3, 2, 1, 0, "a single pixel, x (1, 1, 1, 1), "
                                        "w (1, 3, 3, 2)"),
        case(8, 4, 7, 6, 3, 3, 3, 2, 1, "a batch x (8, 4, 7, 6), w (4, 3, 3, 3), "
                                        "stride 2, padding 1"),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 8.4 output size
def check_conv_transpose_output_size(fn: Any = None) -> None:
    """Exercise 8.4: ``conv_transpose_output_size(n, k, stride, padding, dilation,
    output_padding)``, eq. (8.4), against the sizes ``F.conv_transpose2d`` returns."""
    fn = learner_function(fn, "conv_transpose_output_size")
    eq = EQ["output_size"]
    formula = "(n − 1)s − 2p + d(k − 1) + output_padding + 1"

    def case(n, k, s=1, p=0, d=1, op=0):
        def run(fn):
            given = (("stride", s, 1), ("padding", p, 0), ("dilation", d, 1),
                     ("output_padding", op, 0))
            kwargs = {name: v for name, v, default in given if v != default}
            call = "conv_transpose_output_size(" + ", ".join(
                [str(n), str(k)] + [f"{a}={v}" for a, v in kwargs.items()]) + ")"
            want = _torch_tconv_size(n, k, s, p, d, op)
            value = _int_result(fn(n, k, **kwargs), call, want, eq)
            if value == want:
                return
            span = d * (k - 1) + 1
            mistakes = [
                (f"this is the output size of a convolution, "
                 f"⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1, which shrinks; the transposed "
                 f"convolution goes the other way, {formula}, eq. {eq}",
                 (n + 2 * p - span) // s + 1),
                (f"the padding goes the other way: in a transposed convolution it "
                 f"removes p positions at each end, −2p, eq. {eq}",
                 (n - 1) * s + 2 * p + span + op),
                (f"the padding removes p positions at each end, so −2p, not −p, "
                 f"eq. {eq}", (n - 1) * s - p + span + op),
                (f"n inputs are n − 1 strides apart: (n − 1)s, not n·s, {formula}, "
                 f"eq. {eq}", n * s - 2 * p + span + op),
                (f"the dilation d is ignored: a kernel of size k with dilation d spans "
                 f"d(k − 1) + 1 positions, {formula}, eq. {eq}",
                 (n - 1) * s - 2 * p + k + op),
                (f"a dilated kernel spans d(k − 1) + 1 positions, not d·k: {formula}, "
                 f"eq. {eq}", (n - 1) * s - 2 * p + d * k + op),
                (f"output_padding is ignored: it adds output_padding positions at one "
                 f"end (to pick one of the sizes that a strided convolution maps to "
                 f"the same n), {formula}, eq. {eq}", (n - 1) * s - 2 * p + span),
                (f"output_padding is added once, at one end only: + output_padding, "
                 f"not 2·output_padding, eq. {eq}",
                 (n - 1) * s - 2 * p + span + 2 * op),
                (f"the +1 is missing: {formula}, eq. {eq}", want - 1),
                (f"the stride s is ignored: consecutive inputs land s positions apart, "
                 f"{formula}, eq. {eq}", (n - 1) - 2 * p + span + op),
            ]
            for hint, wrong in mistakes:
                if wrong != want and value == wrong:
                    raise CheckFailed(f"{call} gave {value:g}, expected {want}: "
                                      f"{hint}.")
            raise CheckFailed(f"{call} gave {value:g}, expected {want} (the size that "
                              f"F.conv_transpose2d returns): {formula}, eq. {eq}.")
        return run

    run_checks("conv_transpose_output_size", "8.4", fn, [
        case(4, 3), case(4, 4, s=2, p=1), case(5, 3, s=3, op=2),
        case(7, 3, s=2, p=1, op=1),
        case(3, 3, s=3), case(6, 5, s=2, p=2, op=1),
        # with s = d = 2 the mistakes n·s, d·k and a missing dilation give three sizes
        case(4, 3, s=2, d=2), case(4, 3, d=2),
        case(5, 3, s=2, p=1, d=3, op=2), case(3, 2, s=3, d=2, op=1),
        case(1, 1), case(1, 4, s=2), case(16, 4, s=2, p=1), case(3, 5, p=2),
        case(10, 2, s=2), case(7, 7, s=4, p=3, op=3),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 8.5 corruption
def check_corrupt(fn: Any = None) -> None:
    """Exercise 8.5: ``corrupt(x, sigma, rng)`` -> clip(x + σε, 0, 1), eq. (8.8)."""
    fn = learner_function(fn, "corrupt")
    eq = EQ["denoising"]
    rule = (f"x̃ = clip(x + σ ε, 0, 1) with ε ~ N(0, I), one independent draw per "
            f"pixel of every image: np.clip(x + sigma * rng.standard_normal(x.shape), "
            f"0, 1), eq. {eq}")

    def call(fn, x, sigma, seed, what) -> np.ndarray:
        arg = x.copy()
        got = fn(arg, sigma, np.random.default_rng(seed))
        if not np.array_equal(arg, x):
            raise CheckFailed(f"corrupt changed the caller's x in place (for {what}); "
                              f"the clean images are still needed, they are the "
                              f"targets of the loss (8.8): write x + noise into a new "
                              f"array.")
        return shaped_array(got, x.shape, f"corrupt of {what}", {},
                            f"the corrupted batch has the shape of x; {rule}")

    def half(shape, value=0.5):
        return np.full(shape, value)

    def range_case(sigma):
        def run(fn):
            x = _digits_array().astype(np.float64)[:200]
            got = call(fn, x, sigma, 851, f"200 digits, sigma = {sigma:g}")
            low, high = got.min(), got.max()
            if low < 0.0 or high > 1.0:
                raise CheckFailed(f"the corrupted pixels reach [{low:.3g}, "
                                  f"{high:.3g}], outside [0, 1]: clip after adding the "
                                  f"noise, so that the inputs stay valid images; "
                                  f"{rule}.")
        return run

    def independence_case():
        def run(fn):
            sigma = 0.1
            x = half((300, 64))
            noise = call(fn, x, sigma, 852, "x = 0.5 everywhere, (300, 64)") - x
            if np.allclose(noise, 0.0):
                raise CheckFailed(f"no noise was added; {rule}.")
            if np.allclose(noise, noise[:1]):
                raise CheckFailed(f"every image got the same noise; draw new noise for "
                                  f"each image, ε of the shape of the whole batch; "
                                  f"{rule}.")
            if np.allclose(noise, noise[:, :1]):
                raise CheckFailed(f"all the pixels of an image got the same noise (one "
                                  f"draw per image); draw one ε per pixel; {rule}.")
        return run

    def scale_case(sigma):
        def run(fn):
            x = half((300, 64))
            what = f"x = 0.5 everywhere, sigma = {sigma:g}"
            noise = call(fn, x, sigma, 853, what) - x
            mean, std = noise.mean(), noise.std()
            if abs(mean) > 0.1 * sigma:
                raise CheckFailed(f"for sigma = {sigma:g} the noise has mean "
                                  f"{mean:.3g}, not 0 (rng.random gives uniform "
                                  f"numbers in [0, 1)): draw ε ~ N(0, 1) with "
                                  f"rng.standard_normal; {rule}.")
            # x = 0.5 clips the noise to [−0.5, 0.5]: compare with clipped draws
            z = np.random.default_rng(0).standard_normal(100_000)

            def clipped_std(scale):
                return float(np.clip(scale * z, -0.5, 0.5).std())

            if abs(std - clipped_std(sigma)) <= 0.1 * sigma:
                return
            for want, hint in [
                (clipped_std(sigma ** 2), "the noise has standard deviation σ², not σ: "
                                          "sigma is the standard deviation, so "
                                          "multiply ε by sigma (rng.normal's scale, "
                                          "too, is a standard deviation, not a "
                                          "variance)"),
                (clipped_std(np.sqrt(sigma)), "the noise has standard deviation √σ, "
                                              "not σ: multiply ε by sigma itself"),
                (clipped_std(1.0), "the noise is not scaled: multiply ε by sigma"),
                (sigma / np.sqrt(3.0), "this looks like uniform noise on [−σ, σ]; "
                                       "the corruption is Gaussian, σ ε with "
                                       "ε ~ N(0, 1)"),
            ]:
                if abs(std - want) <= 0.1 * want:
                    raise CheckFailed(f"for sigma = {sigma:g}, {hint}; {rule}.")
            raise CheckFailed(f"for sigma = {sigma:g} the noise has standard deviation "
                              f"{std:.3g}, expected σ = {sigma:g}; {rule}.")
        return run

    def gaussian_case():
        def run(fn):
            sigma = 0.1
            x = half((300, 64))
            noise = call(fn, x, sigma, 854, "x = 0.5 everywhere, sigma = 0.1") - x
            tail = np.mean(np.abs(noise) > 2 * sigma)          # 4.55% for a Gaussian
            if not 0.035 <= tail <= 0.057:
                raise CheckFailed(f"{100 * tail:.1f}% of the noise values lie beyond "
                                  f"2σ, where a Gaussian puts 4.6%: draw ε with "
                                  f"rng.standard_normal (not rng.random or "
                                  f"rng.uniform); {rule}.")
        return run

    def clip_case(value):
        def run(fn):
            sigma = 0.2
            x = half((200, 64), value)
            got = call(fn, x, sigma, 855, f"x = {value:g} everywhere, sigma = 0.2")
            edge = np.mean(got == value)
            if not 0.45 <= edge <= 0.55:
                raise CheckFailed(f"for images with every pixel at {value:g}, "
                                  f"{100 * edge:.0f}% of the corrupted pixels are "
                                  f"exactly {value:g}, expected about half (those "
                                  f"whose noise points outside [0, 1] are clipped to "
                                  f"the bound): clip with np.clip, do not rescale, "
                                  f"reflect or wrap the values; {rule}.")
        return run

    def rng_case():
        def run(fn):
            x = half((20, 64))
            first = call(fn, x, 0.1, 856, "x = 0.5, seed 856")
            again = call(fn, x, 0.1, 856, "x = 0.5, seed 856")
            other = call(fn, x, 0.1, 857, "x = 0.5, seed 857")
            if not np.array_equal(first, again):
                raise CheckFailed("two calls with np.random.default_rng(856) gave "
                                  "different noise; draw from the `rng` argument, not "
                                  "from np.random or torch, so that a seeded run can "
                                  "be repeated.")
            if np.array_equal(first, other):
                raise CheckFailed("np.random.default_rng(856) and default_rng(857) "
                                  "gave the same noise; draw from the `rng` argument "
                                  "instead of a generator seeded inside the function.")
        return run

    def image_case():
        def run(fn):
            x = _digits_array().astype(np.float64)[:10].reshape(10, 1, 8, 8)
            got = call(fn, x, 0.25, 858, "images of shape (10, 1, 8, 8)")
            if np.allclose(got, x):
                raise CheckFailed(f"images of shape (10, 1, 8, 8) came back unchanged; "
                                  f"{rule}.")
        return run

    def zero_case():
        def run(fn):
            x = _digits_array().astype(np.float64)[:5]
            got = call(fn, x, 0.0, 859, "sigma = 0")
            expect(got, x, "corrupt with sigma = 0")
        return run

    run_checks("corrupt", "8.5", fn, [
        range_case(0.3), range_case(1.0), independence_case(), scale_case(0.1),
        scale_case(0.05), gaussian_case(), clip_case(0.0), clip_case(1.0), rng_case(),
        image_case(), zero_case(),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 8.6 anomalies
class _Scorer(nn.Module):
    """An autoencoder for the checks of 8.6: dense, on rows (N, D) or on images
    (N, C, H, W) that it flattens, with ``encode`` and ``decode`` like Exercise 8.1.

    By default the encoder holds batch norm and dropout, which act differently in
    training mode. ``exact`` leaves out batch norm and the sigmoid and sets every
    weight to −1/4, 0 or 1/4: on inputs that are multiples of 1/2 (up to 3) every sum
    is then exact in float64, so the score of an example does not depend on the batch
    it is computed in, and a score can equal the threshold exactly.
    """

    def __init__(self, shape: tuple[int, ...], hidden: int, code: int, *,
                 exact: bool = False) -> None:
        super().__init__()
        d = int(np.prod(shape))
        middle = [] if exact else [nn.BatchNorm1d(hidden)]
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), *middle,
                                     nn.ReLU(), nn.Dropout(0.5),
                                     nn.Linear(hidden, code))
        last = [] if exact else [nn.Sigmoid()]
        self.decoder = nn.Sequential(nn.Linear(code, hidden), nn.ReLU(),
                                     nn.Linear(hidden, d), *last,
                                     nn.Unflatten(1, shape))
        if exact:
            with torch.no_grad():
                for p in self.parameters():
                    p.copy_(torch.randint(-1, 2, p.shape) / 4)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def _scorer(shape: tuple[int, ...], seed: int, *, exact: bool = False,
            dtype: torch.dtype = torch.float32) -> nn.Module:
    """A seeded ``_Scorer``, handed over in training mode, as a training loop leaves
    it; batch norm holds the running statistics of a few batches."""
    with _seeded(seed):
        model = _Scorer(shape, 16, 4, exact=exact).to(dtype)
        if not exact:
            with torch.no_grad():
                for _ in range(3):
                    model(torch.rand(32, *shape, dtype=dtype))
    return model.train()


def _anomaly_scores(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """s(x_n) = ‖x_n − ψ(φ(x_n))‖² of every example, in eval mode, eq. (8.10)."""
    m = copy.deepcopy(model).eval()
    with torch.no_grad():
        return ((x - m(x)) ** 2).flatten(1).sum(dim=1)


@contextlib.contextmanager
def _watch(model: nn.Module):
    """Record how the learner ran ``model``: whether a layer that acts differently in
    training mode (dropout, batch norm) ran in training mode, and whether autograd was
    recording during a forward pass."""
    seen = {"training": False, "grad": False}

    def hook(module, inputs, output):
        seen["grad"] |= torch.is_grad_enabled()
        if isinstance(module, (nn.Dropout, nn.BatchNorm1d)):
            seen["training"] |= module.training

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()


def _learner_values(got: Any, name: str, what: str) -> tuple[np.ndarray, bool]:
    """The learner's result as a float64 array, and whether it was a tensor."""
    if got is None:
        raise CheckFailed(f"{name} returned None: is the `return` missing?")
    if isinstance(got, (tuple, list)):
        raise CheckFailed(f"{name} returned a {type(got).__name__} of {len(got)}; "
                          f"return {what}.")
    if isinstance(got, torch.Tensor):
        return got.detach().cpu().double().numpy(), True
    if not isinstance(got, (bool, int, float, np.generic, np.ndarray)):
        raise CheckFailed(f"{name} returned a {type(got).__name__}; return {what}.")
    return learner_array(name, got), False


def check_anomaly_detection(anomaly_scores: Any = None, anomaly_threshold: Any = None,
                            flag_anomalies: Any = None) -> None:
    """Exercise 8.6: ``anomaly_scores(model, x)``, ``anomaly_threshold(val_scores,
    quantile=0.99)`` and ``flag_anomalies(model, x_val, x, quantile=0.99)``, eq. (8.10).
    """
    scores_fn = learner_function(anomaly_scores, "anomaly_scores")
    threshold_fn = learner_function(anomaly_threshold, "anomaly_threshold")
    flag_fn = learner_function(flag_anomalies, "flag_anomalies")
    eq, eq_loss = EQ["anomaly"], EQ["reconstruction"]
    rule = (f"s(x) = ‖x − ψ(φ(x))‖²: square the errors and sum them over every axis "
            f"but the first, ((x - model(x)) ** 2).flatten(1).sum(dim=1), eq. {eq}")
    eval_hint = (f"call model.eval() before computing the scores. In training mode "
                 f"dropout silences random units and batch norm normalises with the "
                 f"statistics of the batch, so the score of an example would change "
                 f"from call to call and depend on the other examples in the batch, "
                 f"eq. {eq}.")
    tau_rule = (f"τ = torch.quantile(val_scores, quantile), the score below which the "
                f"fraction `quantile` of the held-out normal scores lie, eq. {eq}")

    def scores_case(shape, n, seed, what, *, digits=False, dtype=torch.float32):
        def run(fn):
            model = _scorer(shape, seed, dtype=dtype)
            with _seeded(seed + 1):
                x = (_digits(n).reshape(n, *shape) if digits
                     else torch.rand(n, *shape)).to(dtype)
            want = _anomaly_scores(model, x)
            name = f"anomaly_scores for {what}"
            given, arg = copy.deepcopy(model), x.clone()
            with _watch(given) as seen:
                try:
                    got = fn(given, arg)
                except ValueError as exc:
                    if "more than 1 value per channel" not in str(exc):
                        raise
                    raise CheckFailed(f"{name}: batch norm refused a batch of one "
                                      f"example, in training mode: {eval_hint}") \
                        from None
            if not torch.equal(arg, x):
                raise CheckFailed(f"{name} changed x in place; compute the errors into "
                                  f"new tensors.")
            value, tensor = _learner_values(got, name, "one tensor of scores")
            d = x[0].numel()
            ref = want.double().numpy()
            if value.shape != (n,):
                hint = {tuple(x.shape): f"these are the squared errors of the single "
                                        f"pixels; add them up over every axis but the "
                                        f"first, one score per example: {rule}",
                        (n, 1): "an axis of size 1 was kept (keepdim=True?): the "
                                "scores are a vector, shape (N,)"}.get(
                                    value.shape, f"one score per example: {rule}")
                if x.dim() > 2 and value.shape in (tuple(x.shape[:1] + x.shape[2:]),
                                                   tuple(x.shape[:-1])):
                    axis = "the channels" if value.shape[1:] == x.shape[2:] else \
                        "the last axis"
                    hint = (f"this sums over {axis} only; for images (N, C, H, W) sum "
                            f"over C, H and W: {rule}")
                if value.size == 1:
                    v = value.reshape(())
                    hint = (f"one number for the whole batch; the detector needs one "
                            f"score per example, so reduce over the pixels only: "
                            f"{rule}")
                    for text, wrong in [
                        (f"this is the mean of the scores over the batch, the "
                         f"reconstruction loss {eq_loss} of the batch; keep one "
                         f"score per example, do not average over the examples: "
                         f"{rule}",
                         ref.mean()),
                        (f"this is the sum of the scores over the batch; keep one "
                         f"score per example: {rule}", ref.sum()),
                        (f"this is F.mse_loss(model(x), x), the mean over every pixel "
                         f"of every example; the detector needs one score per example, "
                         f"summed over its pixels: {rule}", ref.mean() / d),
                    ]:
                        if n > 1 and np.isclose(v, wrong, rtol=1e-5, atol=1e-7):
                            hint = text
                            break
                raise CheckFailed(f"{name} has shape {value.shape}, expected ({n},): "
                                  f"{hint}.")
            if not tensor:
                raise CheckFailed(f"{name} returned a {type(got).__name__}; return a "
                                  f"torch.Tensor (keep the computation in PyTorch, no "
                                  f".numpy() or .tolist()).")
            if seen["training"]:
                raise CheckFailed(f"the model ran in training mode: {eval_hint}")
            if got.requires_grad:
                raise CheckFailed(f"{name} returns a tensor that requires grad: "
                                  f"compute the scores inside `with torch.no_grad():`. "
                                  f"Scoring is not a training step; without the graph "
                                  f"it takes less memory and time, and the scores are "
                                  f"plain numbers to compare with τ, eq. {eq}.")
            if seen["grad"]:
                raise CheckFailed(f"the model ran with gradient tracking, and the "
                                  f"graph it recorded was then thrown away "
                                  f"(.detach()?): run the model inside `with "
                                  f"torch.no_grad():`, so that autograd records "
                                  f"nothing, eq. {eq}.")
            with torch.no_grad():
                err = (x - copy.deepcopy(model).eval()(x)).flatten(1).double().numpy()
            expect(value, ref, name, {
                f"the squared errors are averaged over the {d} pixels; the score adds "
                f"them up (.sum, not .mean), so that the mean score of a batch is its "
                f"reconstruction loss {eq_loss}: {rule}": ref / d,
                f"the norm is not squared: the score is ‖x − x̂‖², the sum of the "
                f"squared errors, with no square root: {rule}": np.sqrt(ref),
                f"the errors are not squared (this adds up |x − x̂|): {rule}":
                    np.abs(err).sum(axis=1),
                f"the errors are not squared, and the signed errors cancel: {rule}":
                    err.sum(axis=1),
            }, rtol=1e-5, atol=1e-6)
        return run

    def number(got, name, n):
        value, _ = _learner_values(got, name, "one number, τ")
        if value.size != 1:
            hint = ("one value per score; the threshold is a single number, the "
                    "quantile of all the scores" if value.shape == (n,) else
                    "the threshold is a single number")
            raise CheckFailed(f"{name} has shape {value.shape}: {hint}; {tau_rule}.")
        return value.reshape(())

    def threshold_case(n, q, seed, what):
        gen = torch.Generator().manual_seed(seed)
        # χ² scores with 8 degrees of freedom: positive and skewed, like real ones
        s = (torch.randn(n, 8, generator=gen, dtype=torch.float64) ** 2).sum(dim=1)

        def run(fn_unused):
            if threshold_fn is None:
                raise missing_function("anomaly_threshold", "8.6")
            call = ("anomaly_threshold(val_scores)" if q == 0.99
                    else f"anomaly_threshold(val_scores, quantile={q:g})")
            name = f"{call} for {what}"
            arg = s.clone()
            try:
                got = threshold_fn(arg) if q == 0.99 else threshold_fn(arg, quantile=q)
            except TypeError as exc:
                if "quantile" not in str(exc):
                    raise
                raise CheckFailed(f"{call} raised TypeError ({str(exc)[:60]}): keep "
                                  f"the signature anomaly_threshold(val_scores, "
                                  f"quantile=0.99).") from None
            if not torch.equal(arg, s):
                raise CheckFailed(f"{name} changed val_scores in place (sort_?); sort "
                                  f"a copy, or let torch.quantile do it.")
            value = number(got, name, n)
            v = s.numpy()
            want = np.quantile(v, q)
            mistakes = {
                f"this is the mean of the scores, which about half of the normal "
                f"examples exceed; {tau_rule}": v.mean(),
                f"this is the largest score: no held-out normal example would be "
                f"flagged, and the most unusual of them alone sets τ; {tau_rule}":
                    v.max(),
            }
            for k, ddof in itertools.product((2, 3), (0, 1)):
                if close(value, v.mean() + k * v.std(ddof=ddof), rtol=1e-9) and \
                        not close(value, want, rtol=1e-9):
                    raise CheckFailed(f"this is the mean plus {k} standard "
                                      f"deviations, a rule for Gaussian scores; "
                                      f"reconstruction errors are skewed, and the "
                                      f"quantile sets the rate of false alarms on "
                                      f"normal data whatever their distribution: "
                                      f"{tau_rule}.")
            mistakes[f"np.percentile takes percentages (99) but torch.quantile and "
                     f"np.quantile take fractions (0.99): this is the {q:g}th "
                     f"percentile, near the smallest score; {tau_rule}"] = \
                np.quantile(v, q / 100)
            mistakes[f"this is the {1 - q:.2g} quantile, at the low end; the anomalies "
                     f"are the examples with large scores, so τ lies near the top: "
                     f"{tau_rule}"] = np.quantile(v, 1 - q)
            if q != 0.99:
                mistakes[f"this is the 0.99 quantile: the `quantile` argument is "
                         f"ignored; {tau_rule}"] = np.quantile(v, 0.99)
            other = (f"use the linear interpolation of torch.quantile (and of "
                     f"np.quantile's default), between the two sorted scores around "
                     f"position quantile·(N − 1); {tau_rule}")
            sv = np.sort(v)
            mistakes[f"this is the score at position ⌊quantile·N⌋ of the sorted "
                     f"scores; {other}"] = sv[min(int(q * n), n - 1)]
            for method in ("lower", "higher", "nearest", "midpoint", "inverted_cdf"):
                mistakes[f"this is another convention for the quantile "
                         f"(np.quantile's method='{method}'); {other}"] = \
                    np.quantile(v, q, method=method)
            expect(value, want, name, mistakes, rtol=1e-9)
        return run

    def flag_case(q, n_val, seed):
        # q·(n_val − 1) is a whole number: τ is the score of one validation example,
        # which x contains, so that the difference between > and >= shows
        def run(fn_unused):
            if flag_fn is None:
                raise missing_function("flag_anomalies", "8.6")
            model = _scorer((64,), seed, exact=True, dtype=torch.float64)
            gen = torch.Generator().manual_seed(seed)

            def grid(n, low, high):   # multiples of 1/2 in [low, high]
                return torch.randint(2 * low, 2 * high + 1, (n, 64),
                                     generator=gen).double() / 2

            x_val = grid(n_val, 0, 1)
            s_val = _anomaly_scores(model, x_val)
            top = x_val[s_val.argsort()[-6:]]          # the 6 highest normal scores
            x = torch.cat([grid(30, 0, 1), top, grid(10, 2, 3)])
            x = x[torch.randperm(len(x), generator=gen)]
            s_x = _anomaly_scores(model, x).numpy()
            sv = s_val.numpy()
            tau = np.quantile(sv, q)
            want = s_x > tau
            n = len(x)
            call = ("flag_anomalies(model, x_val, x)" if q == 0.99
                    else f"flag_anomalies(model, x_val, x, quantile={q:g})")
            args = [x_val.clone(), x.clone()]
            given = copy.deepcopy(model)
            got = (flag_fn(given, *args) if q == 0.99
                   else flag_fn(given, *args, quantile=q))
            if not (torch.equal(args[0], x_val) and torch.equal(args[1], x)):
                raise CheckFailed(f"{call} changed x_val or x in place; leave the "
                                  f"caller's tensors alone.")
            value, tensor = _learner_values(got, call, "one tensor of flags")
            flags_rule = (f"flag the examples of x whose score exceeds τ = "
                          f"anomaly_threshold(anomaly_scores(model, x_val), quantile), "
                          f"anomaly_scores(model, x) > τ, eq. {eq}")
            if value.shape != (n,):
                hint = {(n_val,): "one flag per example of x_val; flag the examples of "
                                  "x, the data to screen, while x_val only sets τ"}.get(
                                      value.shape, "one flag per example of x")
                raise CheckFailed(f"{call} has shape {value.shape}, expected ({n},): "
                                  f"{hint}; {flags_rule}.")
            if not tensor:
                raise CheckFailed(f"{call} returned a {type(got).__name__}; return the "
                                  f"bool tensor of the comparison scores > τ.")
            if got.dtype != torch.bool:
                if np.isin(value, (0.0, 1.0)).all():
                    hint = ("return the comparison itself, a bool tensor (no "
                            ".float() or .int()), so that it can index x: x[flags]")
                elif np.allclose(np.sort(value), np.sort(s_x), rtol=1e-5):
                    hint = "these are the scores; compare them with τ"
                else:
                    hint = "return a bool tensor"
                raise CheckFailed(f"{call} returned a tensor of dtype {got.dtype}: "
                                  f"{hint}; {flags_rule}.")
            flags = value.astype(bool)
            if np.array_equal(flags, want):
                return
            mistakes = [
                (f"an example whose score equals τ exactly is flagged: the rule is "
                 f"strict, s(x) > τ (>, not >=), eq. {eq}", s_x >= tau),
                (f"the flags are reversed: an anomaly is an example that the "
                 f"autoencoder reconstructs badly, with a score above τ; "
                 f"{flags_rule}", s_x < tau),
                (f"the flags are reversed: an anomaly has a score above τ; "
                 f"{flags_rule}", s_x <= tau),
                (f"τ was computed from the scores of x, the data being screened. They "
                 f"include the anomalies, which push τ up so that some of them slip "
                 f"under it; τ is fixed beforehand on held-out normal data: compute it "
                 f"from the scores of x_val, eq. {eq}", s_x > np.quantile(s_x, q)),
                (f"τ was computed from the scores of x_val and x together; the scores "
                 f"of x include the anomalies, which push τ up: compute τ from the "
                 f"scores of x_val alone, eq. {eq}",
                 s_x > np.quantile(np.concatenate([sv, s_x]), q)),
            ]
            if q != 0.99:
                mistakes.append((f"τ is the 0.99 quantile: pass `quantile` on to "
                                 f"anomaly_threshold; {flags_rule}",
                                 s_x > np.quantile(sv, 0.99)))
            for hint, wrong in mistakes:
                if np.array_equal(flags, wrong):
                    raise CheckFailed(f"{call}: {hint}.")
            bad = int((flags != want).sum())
            raise CheckFailed(f"{call} flags {bad} of the {n} examples of x wrongly "
                              f"({int(flags.sum())} flagged, expected "
                              f"{int(want.sum())}); {flags_rule}.")
        return run

    run_checks("anomaly_scores", "8.6", scores_fn, [
        scores_case((64,), 50, 861, "50 digits (N, 64), a model with batch norm and "
                                    "dropout", digits=True),
        scores_case((64,), 7, 862, "7 random rows (7, 64), a float64 model",
                    dtype=torch.float64),
        scores_case((1, 8, 8), 20, 863, "20 digits as images (20, 1, 8, 8)",
                    digits=True),
        scores_case((3, 4, 4), 9, 864, "images of shape (9, 3, 4, 4)"),
        scores_case((64,), 1, 865, "a single example, x of shape (1, 64)"),
        threshold_case(200, 0.99, 866, "200 scores"),
        threshold_case(1000, 0.95, 867, "1000 scores"),
        threshold_case(50, 0.9, 868, "50 scores"),
        threshold_case(37, 0.5, 869, "37 scores"),
        threshold_case(101, 0.99, 870, "101 scores"),
        threshold_case(1, 0.99, 871, "a single score"),
        flag_case(0.99, 101, 872),
        flag_case(0.9, 51, 873),
    ], time_limit=TIME_LIMIT)
