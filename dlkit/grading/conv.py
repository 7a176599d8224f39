"""Checks for the exercises of chapter 05, convolutional neural networks.

Each ``check_*`` function is called from a check cell, without arguments (it finds
the learner's function by name in the notebook) or with the function to check. It
prints one verdict line and returns None.

The expected values are computed here with NumPy, on purpose independently of
``dlkit.numpy.conv``: a bug there must not make a wrong answer pass. The references
loop over the output positions (or the windows) and leave the rest to NumPy, so that
they read like the equations of the chapter; the inputs are small enough for that.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._core import (CheckFailed, expect, learner_function, missing_function, run_checks,
                    shaped_array)

__all__ = ["check_conv_output_size", "check_cross_correlate2d", "check_pad2d",
           "check_conv2d_forward", "check_conv2d_backward", "check_max_pool2d"]

#: Where chapter 05 states what each exercise implements.
EQ = {"correlation_1d": "(5.1)", "convolution": "(5.2)", "correlation_2d": "(5.3)",
      "output_size": "(5.4)", "conv_layer": "(5.5)", "max_pool": "(5.7)",
      "conv_backward": "(5.9)", "conv_backward_dx": "(5.10)", "im2col": "(5.11)"}

#: Seconds per case. Loop-based learner code must finish: the largest case (in 5.4) takes
#: a learner's seven nested loops under a second on a laptop.
TIME_LIMIT = 30.0


# ------------------------------------------------------------------ reference values
def _output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """⌊(n + 2p - d(k - 1) - 1)/s⌋ + 1, eq. (5.4)."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _xcorr2d(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Valid cross-correlation Y[i, j] = Σ_{u,v} K[u, v] X[i + u, j + v], eq. (5.3)."""
    kh, kw = k.shape
    out = np.empty((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(k * x[i:i + kh, j:j + kw])
    return out


def _pad(x: np.ndarray, p: int, mode: str = "constant") -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode=mode)


def _conv_forward(x: np.ndarray, w: np.ndarray, b: Any, stride: int = 1, *,
                  offset: int = 0, step: int | None = None) -> np.ndarray:
    """The layer of eq. (5.5) without padding: (N, C, H, W), (F, C, KH, KW) -> (N, F, H', W').

    ``step`` and ``offset`` place the window of output (i, j) at (step·i + offset, ...);
    the right layer has step = stride and offset 0 (the other values make mistakes).
    """
    f, _, kh, kw = w.shape
    step = stride if step is None else step
    oh = _output_size(x.shape[2], kh, stride)
    ow = _output_size(x.shape[3], kw, stride)
    out = np.empty((x.shape[0], f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            r, c = step * i + offset, step * j + offset
            patch = x[:, :, r:r + kh, c:c + kw]                      # (N, C, KH, KW)
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return out + np.reshape(b, (1, -1, 1, 1))


def _conv_dx(dout: np.ndarray, w: np.ndarray, x_shape: tuple, *,
             assign: bool = False, swap: bool = False) -> np.ndarray:
    """dX of the stride-1 layer, eq. (5.10): each dY[n, f, i, j] adds dY·W[f] to its window.

    Two mistakes: with ``assign`` the window is overwritten instead of added to; with
    ``swap`` the share of dY[i, j] goes to the window at (j, i) (square shapes only).
    """
    kh, kw = w.shape[2:]
    dx = np.zeros(x_shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            part = np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))  # (N, C, KH, KW)
            r, c = (j, i) if swap else (i, j)
            if assign:
                dx[:, :, r:r + kh, c:c + kw] = part
            else:
                dx[:, :, r:r + kh, c:c + kw] += part
    return dx


def _conv_dw(dout: np.ndarray, x: np.ndarray, kernel: tuple) -> np.ndarray:
    """dW[f, c, u, v] = Σ_{n,i,j} dY[n, f, i, j] X[n, c, i + u, j + v], eq. (5.9)."""
    kh, kw = kernel
    dw = np.zeros((dout.shape[1], x.shape[1], kh, kw))
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            dw += np.tensordot(dout[:, :, i, j], x[:, :, i:i + kh, j:j + kw],
                               axes=([0], [0]))                      # (F, C, KH, KW)
    return dw


def _conv_backward(dout: np.ndarray, x: np.ndarray,
                   w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dw, db) of the stride-1 layer without padding, eqs. (5.9) and (5.10)."""
    return (_conv_dx(dout, w, x.shape), _conv_dw(dout, x, w.shape[2:]),
            dout.sum(axis=(0, 2, 3)))


def _max_pool(x: np.ndarray, k: int, stride: int | None = None) -> np.ndarray:
    """Max of each k×k window at the given stride (default k, non-overlapping), eq. (5.7)."""
    s = k if stride is None else stride
    n, c, h, w = x.shape
    out = np.empty((n, c, (h - k) // s + 1, (w - k) // s + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, s * i:s * i + k, s * j:s * j + k].max(axis=(2, 3))
    return out


def _max_pool_backward(dout: np.ndarray, x: np.ndarray, k: int, *, stride: int | None = None,
                       pick: str = "first") -> np.ndarray:
    """Route dout[n, c, i, j] to the first maximum (row-major) of its window, eq. (5.7).

    ``pick`` chooses another rule (each one a mistake): "last" maximum, the first in
    "column" order, "all" the maxima, "split" equally among the maxima.
    """
    s = k if stride is None else stride
    n, c = x.shape[:2]
    dx = np.zeros(x.shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            win = x[:, :, s * i:s * i + k, s * j:s * j + k]           # (N, C, k, k)
            flat = win.reshape(n, c, k * k)
            if pick in ("first", "last"):
                order = flat if pick == "first" else flat[..., ::-1]
                idx = order.argmax(axis=-1)
                if pick == "last":
                    idx = k * k - 1 - idx
                mask = np.zeros_like(flat, dtype=float)
                np.put_along_axis(mask, idx[..., None], 1.0, axis=-1)
                mask = mask.reshape(win.shape)
            elif pick == "column":
                idx = win.swapaxes(2, 3).reshape(n, c, k * k).argmax(axis=-1)
                mask = np.zeros((n, c, k * k))
                np.put_along_axis(mask, idx[..., None], 1.0, axis=-1)
                mask = mask.reshape(n, c, k, k).swapaxes(2, 3)
            else:
                mask = (win == win.max(axis=(2, 3), keepdims=True)).astype(float)
                if pick == "split":
                    mask /= mask.sum(axis=(2, 3), keepdims=True)
            share = mask * dout[:, :, i, j][..., None, None]
            dx[:, :, s * i:s * i + k, s * j:s * j + k] += share
    return dx


# ------------------------------------------------------------------ shared helpers
def _triple(out: Any, what: str) -> tuple[Any, Any, Any]:
    if not isinstance(out, (tuple, list)):
        raise CheckFailed(f"return a triple {what}, got {type(out).__name__}.")
    if len(out) != 3:
        raise CheckFailed(f"return a triple {what}, got a {type(out).__name__} of "
                          f"{len(out)}.")
    return out[0], out[1], out[2]


def _unchanged(name: str, given: list[np.ndarray], kept: list[np.ndarray]) -> None:
    """Fail when the learner's function wrote into one of the caller's arrays."""
    if any(not np.array_equal(a, b) for a, b in zip(given, kept)):
        raise CheckFailed(f"{name} changed an input array in place; leave the caller's "
                          f"arrays alone and write the result into a new array.")


def _flip(w: np.ndarray) -> np.ndarray:
    """The kernel turned by 180° in its last two axes (rows and columns reversed)."""
    return w[..., ::-1, ::-1]


# ------------------------------------------------------------------ 5.1 output size
def check_conv_output_size(fn: Any = None) -> None:
    """Exercise 5.1: ``conv_output_size(n, k, stride, padding, dilation)``, eq. (5.4)."""
    fn = learner_function(fn, "conv_output_size")
    eq = EQ["output_size"]
    formula = "⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1"

    def case(n, k, s=1, p=0, d=1):
        def run(fn):
            kwargs = {name: v for name, v, default in (("stride", s, 1), ("padding", p, 0),
                                                       ("dilation", d, 1)) if v != default}
            call = "conv_output_size(" + ", ".join(
                [str(n), str(k)] + [f"{a}={v}" for a, v in kwargs.items()]) + ")"
            want = _output_size(n, k, s, p, d)
            got = fn(n, k, **kwargs)
            if got is None:
                raise CheckFailed(f"{call} returned None: is the `return` missing?")
            if isinstance(got, (bool, np.bool_)):
                raise CheckFailed(f"{call} returned the bool {got}; return the number of "
                                  f"output positions, an int.")
            if isinstance(got, (int, np.integer)):
                value: float = int(got)
            elif isinstance(got, (float, np.floating)):
                if float(got) == want:
                    raise CheckFailed(f"{call} returned the float {float(got)!r}; a size "
                                      f"counts positions, so return an int: floor division "
                                      f"`//` of ints gives one, eq. {eq}.")
                value = float(got)
            else:
                arr = np.asarray(got) if not type(got).__module__.startswith("torch") \
                    else None
                if arr is None or arr.shape != () or arr.dtype.kind not in "iuf":
                    raise CheckFailed(f"{call} returned a {type(got).__name__}; return one "
                                      f"int, the number of output positions.")
                value = arr.item()
            if value == want:
                return
            span = n + 2 * p - d * (k - 1) - 1
            floor = (f"round down with the floor ⌊·⌋ (`//`), not a ceiling or round(): a "
                     f"window that does not fit entirely gives no output, eq. {eq}")
            mistakes = [
                (f"the +1 is missing: the first window sits at position 0 and each further "
                 f"step of s adds one output, {formula}, eq. {eq}", span // s),
                (f"the padding counts twice, p zeros on each side: n + 2p, eq. {eq}",
                 (n + p - d * (k - 1) - 1) // s + 1),
                (floor, math.ceil(span / s) + 1),
                (floor, round(span / s) + 1),
                (f"round down: `/` leaves a fraction, use `//` for the floor ⌊·⌋, eq. {eq}",
                 span / s + 1),
                (f"the dilation d is ignored: a kernel of size k with dilation d spans "
                 f"d(k − 1) + 1 inputs, {formula}, eq. {eq}",
                 (n + 2 * p - (k - 1) - 1) // s + 1),
                (f"a dilated kernel spans d(k − 1) + 1 inputs, not d·k: {formula}, eq. {eq}",
                 (n + 2 * p - d * k) // s + 1),
                (f"the stride s is ignored: the windows move s positions at a time, so "
                 f"divide by s, {formula}, eq. {eq}", span + 1),
            ]
            for hint, wrong in mistakes:
                if wrong != want and value == wrong:
                    raise CheckFailed(f"{call} gave {value:g}, expected {want}: {hint}.")
            raise CheckFailed(f"{call} gave {value:g}, expected {want}; the output size is "
                              f"{formula}, eq. {eq}.")
        return run

    run_checks("conv_output_size", "5.1", fn, [
        case(7, 3), case(32, 5, p=2), case(10, 3, s=2), case(28, 5, s=3, p=1),
        # with d = 4 and s = 2, the mistakes d·k and a missing +1 give different sizes
        case(21, 3, s=2, d=4), case(10, 3, d=2), case(15, 3, s=2, p=2, d=3),
        case(224, 7, s=2, p=3),
        case(224, 11, s=4, p=2), case(5, 1), case(4, 4), case(5, 3, s=5), case(1, 1),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 5.2 cross-correlation
def check_cross_correlate2d(fn: Any = None) -> None:
    """Exercise 5.2: ``cross_correlate2d(x, k)``, the valid 2-D cross-correlation (5.3)."""
    fn = learner_function(fn, "cross_correlate2d")
    rng = np.random.default_rng(52)
    eq, eq_conv = EQ["correlation_2d"], EQ["convolution"]

    def case(x, k, what):
        def run(fn):
            h, w = x.shape
            kh, kw = k.shape
            want = _xcorr2d(x, k)
            name = f"cross_correlate2d of {what}"
            args = [x.copy(), k.copy()]
            got = fn(*args)
            _unchanged("cross_correlate2d", args, [x, k])
            oh, ow = want.shape
            hints = {
                (w - kw + 1, h - kh + 1): "rows and columns are swapped, the output is "
                "transposed: Y[i, j] has i running over the H − KH + 1 rows",
                (h - kw + 1, w - kh + 1): f"the kernel is transposed: K[u, v] multiplies "
                f"X[i + u, j + v], u along the rows (KH of them), v along the columns, "
                f"eq. {eq}",
                (h + kh - 1, w + kw - 1): f"this is the 'full' output, with the kernel "
                f"sliding past the edges; the valid correlation keeps only the windows "
                f"inside x, (H − KH + 1, W − KW + 1), eq. {eq}",
                (h, w): f"the output has the size of x ('same'); the valid correlation keeps "
                f"only the windows that fit inside x, (H − KH + 1, W − KW + 1), eq. {eq}",
            }
            got = shaped_array(got, want.shape, name, hints,
                          f"the valid output has one entry per window that fits in x, "
                          f"(H − KH + 1, W − KW + 1), eq. {eq}")
            mistakes = {
                f"the kernel is flipped: that is the true convolution of eq. {eq_conv}. A "
                f"convolution layer computes the cross-correlation of eq. {eq}, "
                f"Σ K[u, v] X[i + u, j + v], with the kernel as it is (deep-learning "
                f"libraries do not flip)": _xcorr2d(x, _flip(k)),
            }
            if kh == kw:
                mistakes[f"the kernel is transposed (the indices u and v are swapped): "
                         f"K[u, v] multiplies X[i + u, j + v], u along the rows, v along "
                         f"the columns, eq. {eq}"] = _xcorr2d(x, k.T)
                mistakes[f"the kernel is flipped and transposed: use K[u, v] with "
                         f"X[i + u, j + v], eq. {eq}"] = _xcorr2d(x, _flip(k).T)
            if oh == ow:
                mistakes[f"the output is transposed: Y[i, j] has i along the rows of x and "
                         f"j along its columns, eq. {eq}"] = want.T
            expect(got, want, name, mistakes)
        return run

    run_checks("cross_correlate2d", "5.2", fn, [
        case(rng.standard_normal((6, 7)), rng.standard_normal((3, 3)),
             "a (6, 7) image with a 3×3 kernel"),
        case(rng.standard_normal((5, 8)), rng.standard_normal((2, 3)),
             "a (5, 8) image with a (2, 3) kernel"),
        case(rng.standard_normal((7, 5)), rng.standard_normal((4, 2)),
             "a (7, 5) image with a (4, 2) kernel"),
        case(np.arange(20.0).reshape(4, 5), np.array([[1.0, 0.0], [0.0, -1.0]]),
             "np.arange(20.0).reshape(4, 5) with [[1, 0], [0, -1]]"),
        case(rng.standard_normal((4, 4)), np.array([[2.5]]), "a 1×1 kernel"),
        case(rng.standard_normal((3, 4)), rng.standard_normal((3, 4)),
             "a kernel as large as the image"),
        case(rng.standard_normal((1, 9)), rng.standard_normal((1, 3)),
             "a single row with a (1, 3) kernel"),
        case(rng.standard_normal((12, 10)), rng.standard_normal((5, 3)),
             "a (12, 10) image with a (5, 3) kernel"),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 5.3 padding
def check_pad2d(fn: Any = None) -> None:
    """Exercise 5.3: ``pad2d(x, p)`` zero-pads the last two axes of (N, C, H, W) by p."""
    fn = learner_function(fn, "pad2d")
    rng = np.random.default_rng(53)
    eq = EQ["output_size"]
    how = "np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))"

    def case(shape, p, what):
        x = rng.standard_normal(shape)

        def run(fn):
            n, c, h, w = shape
            name = f"pad2d of {what} with p = {p}"
            arg = x.copy()
            try:
                got = fn(arg, p)
            except (ValueError, IndexError) as exc:
                if p:
                    raise
                raise CheckFailed(f"for p = 0, pad2d raised {type(exc).__name__}: a slice "
                                  f"p:-p is empty when p = 0 (-0 is 0); slice the middle "
                                  f"with p:p + H and p:p + W instead.") from None
            if arg.shape != x.shape or not np.array_equal(arg, x):
                raise CheckFailed(f"pad2d changed the caller's x in place (for {what}, "
                                  f"p = {p}); create a new array of shape (N, C, H + 2p, "
                                  f"W + 2p), e.g. zeros, and copy x into its middle.")
            want = _pad(x, p)
            hints = {}
            if p > 0:
                hints = {
                    (n + 2 * p, c + 2 * p, h + 2 * p, w + 2 * p): "all four axes were "
                    "padded (np.pad(x, p) pads every axis); pad only the last two, H and W: "
                    + how,
                    (n, c, h + p, w + p): "only one side was padded: p zeros go on each "
                    f"side, top and bottom, left and right, so H grows to H + 2p "
                    f"(the 2p of eq. {eq})",
                    (n, c, h + 2 * p, w): "only H was padded; pad W as well",
                    (n, c, h, w + 2 * p): "only W was padded; pad H as well",
                    (n, c, h, w): "the shape did not change: padding adds p rows above and "
                    "below and p columns left and right",
                }
            got = shaped_array(got, want.shape, name, hints,
                          f"the padded array has shape (N, C, H + 2p, W + 2p): {how}")
            mistakes = {
                f"the border repeats the edge values (mode 'edge'); a convolution layer pads "
                f"with zeros: {how}": _pad(x, p, "edge"),
            }
            if p < min(h, w):
                mistakes[f"the border mirrors the image (mode 'reflect'); pad with zeros: "
                         f"{how}"] = _pad(x, p, "reflect")
            if p <= min(h, w):
                mistakes[f"the border mirrors the image (mode 'symmetric'); pad with zeros: "
                         f"{how}"] = _pad(x, p, "symmetric")
            expect(got, want, name, mistakes)
        return run

    run_checks("pad2d", "5.3", fn, [
        case((2, 3, 4, 5), 1, "x of shape (2, 3, 4, 5)"),
        case((1, 2, 3, 6), 2, "x of shape (1, 2, 3, 6)"),
        case((3, 1, 5, 4), 3, "x of shape (3, 1, 5, 4)"),
        case((2, 2, 3, 3), 0, "x of shape (2, 2, 3, 3)"),
        case((1, 1, 1, 1), 1, "one pixel"),
        case((4, 3, 6, 2), 2, "x of shape (4, 3, 6, 2)"),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 5.4 conv forward
def check_conv2d_forward(fn: Any = None) -> None:
    """Exercise 5.4: ``conv2d_forward(x, w, b, stride=1)``, the layer of eq. (5.5)."""
    fn = learner_function(fn, "conv2d_forward")
    rng = np.random.default_rng(54)
    eq, eq_conv, eq_size = EQ["conv_layer"], EQ["convolution"], EQ["output_size"]

    def case(n, c, h, w_, f, kh, kw, stride, what):
        x = rng.standard_normal((n, c, h, w_))
        w = rng.standard_normal((f, c, kh, kw))
        b = rng.standard_normal(f)

        def run(fn):
            name = f"conv2d_forward for {what}"
            args = [x.copy(), w.copy(), b.copy()]
            got = fn(*args) if stride == 1 else fn(*args, stride=stride)
            _unchanged("conv2d_forward", args, [x, w, b])
            want = _conv_forward(x, w, b, stride)
            oh, ow = want.shape[2:]
            hints = {(n, oh, ow, f): "this is the channels-last layout (N, H', W', F); the "
                     "layer returns NCHW, (N, F, H', W'), like x: move the filter axis "
                     "second, e.g. with .transpose(0, 3, 1, 2)",
                     (n, f, c, oh, ow): f"sum over the input channels c as well: each "
                     f"output channel f adds up all C channels, eq. {eq}"}
            if stride > 1:
                hints[(n, f, h - kh + 1, w_ - kw + 1)] = (
                    f"the stride is ignored: this is the output of stride 1. With stride s "
                    f"the window of output (i, j) starts at (s·i, s·j), and H' = "
                    f"⌊(H − KH)/s⌋ + 1, eq. {eq_size}")
            if c != f:
                hints[(n, c, oh, ow)] = ("there is one output channel per filter, F = "
                                         "w.shape[0], not per input channel")
            got = shaped_array(got, want.shape, name, hints,
                          f"the output is (N, F, H', W') with H' = ⌊(H − KH)/s⌋ + 1 and "
                          f"W' = ⌊(W − KW)/s⌋ + 1, eq. {eq_size}")
            no_bias = want - b[None, :, None, None]
            mistakes = {
                f"the kernel is flipped: that is the true convolution of eq. {eq_conv}. The "
                f"layer computes a cross-correlation, W[f, c, u, v] · X[n, c, s·i + u, "
                f"s·j + v], eq. {eq}, with the kernel as it is":
                    _conv_forward(x, _flip(w), b, stride),
                f"the bias is missing: add b_f to every output of channel f, "
                f"b[None, :, None, None], eq. {eq}": no_bias,
                f"the bias is added once per input channel (C = {c} times); add b_f once, "
                f"after the sum over c, eq. {eq}": no_bias + c * b[None, :, None, None],
            }
            for axis, size in ((0, n), (2, oh), (3, ow)):
                if size == f and axis != 1:
                    shape = [1, 1, 1, 1]
                    shape[axis] = f
                    mistakes[f"the bias is broadcast along axis {axis}; b_f belongs to "
                             f"output channel f, axis 1: b[None, :, None, None], eq. {eq}"] = \
                        no_bias + b.reshape(shape)
            if c == f:
                mistakes[f"input and output channels are mixed up: w has shape (F, C, KH, "
                         f"KW), filter f first, input channel c second, W[f, c, u, v] in "
                         f"eq. {eq}"] = _conv_forward(x, w.transpose(1, 0, 2, 3), b, stride)
            if kh == kw:
                mistakes[f"the kernel is transposed: W[f, c, u, v] multiplies X[n, c, "
                         f"s·i + u, s·j + v], u along the rows, v along the columns, "
                         f"eq. {eq}"] = _conv_forward(x, w.swapaxes(2, 3), b, stride)
            if stride > 1:
                mistakes[f"the window of output (i, j) starts at (s·i, s·j), eq. {eq}; "
                         f"this takes the windows at (i, j), as for stride 1"] = \
                    _conv_forward(x, w, b, stride, step=1)
                if (h - kh) % stride >= stride - 1 and (w_ - kw) % stride >= stride - 1:
                    mistakes[f"the stride-1 output was subsampled from the wrong start: "
                             f"keep the windows at s·i, starting at 0 (y[..., ::s, ::s]), "
                             f"eq. {eq}"] = _conv_forward(x, w, b, stride,
                                                          offset=stride - 1)
            expect(got, want, name, mistakes)
        return run

    run_checks("conv2d_forward", "5.4", fn, [
        case(2, 3, 7, 4, 3, 3, 2, 1, "x (2, 3, 7, 4), w (3, 3, 3, 2)"),
        case(2, 2, 6, 5, 4, 3, 3, 1, "x (2, 2, 6, 5), w (4, 2, 3, 3)"),
        case(2, 2, 9, 8, 3, 3, 3, 2, "x (2, 2, 9, 8), w (3, 2, 3, 3), stride 2"),
        case(1, 3, 10, 12, 2, 2, 4, 3, "x (1, 3, 10, 12), w (2, 3, 2, 4), stride 3"),
        case(3, 4, 5, 5, 2, 1, 1, 1, "a 1×1 kernel, x (3, 4, 5, 5), w (2, 4, 1, 1)"),
        case(2, 2, 4, 3, 5, 4, 3, 1, "a kernel as large as the image, w (5, 2, 4, 3)"),
        case(1, 1, 5, 7, 1, 3, 3, 2, "a single image and channel, x (1, 1, 5, 7), "
             "stride 2"),
        # 7·10^5 multiply-adds: under a second for seven nested Python loops
        case(10, 3, 20, 20, 8, 3, 3, 1, "a batch x (10, 3, 20, 20), w (8, 3, 3, 3)"),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 5.5 conv backward
def check_conv2d_backward(fn: Any = None) -> None:
    """Exercise 5.5: ``conv2d_backward(dout, x, w)`` -> (dx, dw, db), eqs. (5.9), (5.10)."""
    fn = learner_function(fn, "conv2d_backward")
    rng = np.random.default_rng(55)
    eq, eq_dx = EQ["conv_backward"], EQ["conv_backward_dx"]

    def case(n, c, h, w_, f, kh, kw, what):
        x = rng.standard_normal((n, c, h, w_))
        w = rng.standard_normal((f, c, kh, kw))
        dout = rng.standard_normal((n, f, h - kh + 1, w_ - kw + 1))

        def run(fn):
            name = f"for {what}"
            args = [dout.copy(), x.copy(), w.copy()]
            dx, dw, db = _triple(fn(*args), "(dx, dw, db)")
            _unchanged("conv2d_backward", args, [dout, x, w])
            want_dx, want_dw, want_db = _conv_backward(dout, x, w)
            oh, ow = dout.shape[2:]
            sums = f"db_f = Σ_(n,i,j) dY[n, f, i, j], dout.sum(axis=(0, 2, 3)), eq. {eq}"
            db_hints = {(n, f): f"db is not summed over the batch: {sums}",
                        (f, oh, ow): f"db is not summed over the positions (i, j): {sums}",
                        (): f"db has one entry per filter; do not sum over f: {sums}",
                        (1, f, 1, 1): f"drop the kept axes (keepdims): db has shape (F,), "
                                      f"{sums}"}
            dw_hints = {(n, f, c, kh, kw): f"dw is not summed over the batch: every image "
                        f"adds to the gradient of the shared weights, Σ over n, i and j in "
                        f"eq. {eq}"}
            if c != f:
                dw_hints[(c, f, kh, kw)] = "dw has the shape of w, (F, C, KH, KW)"
            dx_hints = {(n, f, c, h, w_): f"dx is missing the sum over the output channels "
                        f"f: every filter sends gradient back to every input pixel, eq. "
                        f"{eq_dx}"}
            if c != f:
                dx_hints[(n, f, h, w_)] = "dx has the shape of x, (N, C, H, W)"
            db = shaped_array(db, (f,), f"db {name}", db_hints, f"db has shape (F,): {sums}")
            dw = shaped_array(dw, w.shape, f"dw {name}", dw_hints,
                         f"dw has the shape of w, (F, C, KH, KW), eq. {eq}")
            dx = shaped_array(dx, x.shape, f"dx {name}", dx_hints,
                         f"dx has the shape of x, (N, C, H, W), eq. {eq_dx}")
            expect(db, want_db, f"db {name}", {
                f"db sums over the batch, it does not average: {sums}": want_db / n,
                f"db sums over n, i and j, it does not average: {sums}":
                    want_db / (n * oh * ow),
            })
            dw_mistakes = {
                f"dw must be summed over every image of the batch, not taken from the "
                f"first one only, eq. {eq}": _conv_dw(dout[:1], x[:1], (kh, kw)),
                f"dw sums over the batch, it does not average: Σ over n, i and j, eq. {eq}":
                    want_dw / n,
                f"dw is flipped: dW[f, c, u, v] pairs dY[n, f, i, j] with X[n, c, i + u, "
                f"j + v], eq. {eq}, the same window as the forward pass":
                    _flip(want_dw),
            }
            if kh == kw:
                dw_mistakes[f"dw is transposed in (u, v): dW[f, c, u, v] pairs dY[n, f, i, "
                            f"j] with X[n, c, i + u, j + v], eq. {eq}"] = \
                    want_dw.swapaxes(2, 3)
            expect(dw, want_dw, f"dw {name}", dw_mistakes)
            overlap = ("the windows overlap: an input pixel lies in up to KH·KW windows and "
                       "collects dY·W from each of them")
            dx_mistakes = {
                f"dx has the kernel the wrong way round: dX is the full correlation of dY "
                f"with the flipped kernel, eq. {eq_dx}; read the other way, dY[n, f, i, j] "
                f"adds dY·W[f], W unflipped, into the window x[n, :, i:i+KH, j:j+KW] it "
                f"came from":
                    _conv_dx(dout, _flip(w), x.shape),
                f"{overlap}; add (+=) into dx, do not assign, eq. {eq_dx}":
                    _conv_dx(dout, w, x.shape, assign=True),
                # looping over n, f, i, j and assigning: the last filter's windows win
                f"{overlap}, for every filter f; add (+=) into dx, do not assign, "
                f"eq. {eq_dx}": _conv_dx(dout[:, -1:], w[-1:], x.shape, assign=True),
                f"dx is missing the sum over the output channels f (only the last filter's "
                f"share is left): every filter adds its dY·W, eq. {eq_dx}":
                    _conv_dx(dout[:, -1:], w[-1:], x.shape),
                f"dx sums over the output channels f, it does not average, eq. {eq_dx}":
                    want_dx / f,
            }
            if kh == kw:
                dx_mistakes[f"dx has the kernel transposed: dY[n, f, i, j] adds "
                            f"W[f, c, u, v] to pixel (i + u, j + v), u along the rows, "
                            f"eq. {eq_dx}"] = _conv_dx(dout, w.swapaxes(2, 3), x.shape)
            if kh == kw and oh == ow:
                dx_mistakes[f"dx used the wrong window: dY[n, f, i, j] goes back to the "
                            f"window x[n, :, i:i+KH, j:j+KW] it came from, row i and column "
                            f"j, eq. {eq_dx}"] = _conv_dx(dout, w, x.shape, swap=True)
            expect(dx, want_dx, f"dx {name}", dx_mistakes)
        return run

    run_checks("conv2d_backward", "5.5", fn, [
        case(2, 3, 5, 5, 2, 3, 3, "x (2, 3, 5, 5), w (2, 3, 3, 3)"),
        case(2, 2, 6, 4, 3, 3, 2, "x (2, 2, 6, 4), w (3, 2, 3, 2)"),
        case(3, 2, 4, 5, 4, 1, 1, "a 1×1 kernel, x (3, 2, 4, 5), w (4, 2, 1, 1)"),
        case(2, 3, 3, 4, 2, 3, 4, "a kernel as large as the image, w (2, 3, 3, 4)"),
        case(1, 1, 6, 7, 1, 2, 3, "a single image and channel, x (1, 1, 6, 7)"),
        case(4, 3, 10, 9, 5, 3, 3, "a batch x (4, 3, 10, 9), w (5, 3, 3, 3)"),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 5.6 max pooling
def check_max_pool2d(max_pool2d: Any = None, max_pool2d_backward: Any = None) -> None:
    """Exercise 5.6: ``max_pool2d(x, k)``, ``max_pool2d_backward(dout, x, k)``, eq. (5.7)."""
    forward = learner_function(max_pool2d, "max_pool2d")
    backward = learner_function(max_pool2d_backward, "max_pool2d_backward")
    rng = np.random.default_rng(56)
    eq = EQ["max_pool"]

    def forward_case(x, k, what):
        def run(fn):
            n, c, h, w = x.shape
            name = f"max_pool2d of {what}, k = {k}"
            arg = x.copy()
            got = fn(arg, k)
            _unchanged("max_pool2d", [arg], [x])
            want = _max_pool(x, k)
            hints = {}
            if k > 1:
                hints[(n, c, h - k + 1, w - k + 1)] = (
                    f"the windows overlap (stride 1); max pooling with k×k windows moves "
                    f"k positions at a time, so the output is (N, C, H/k, W/k), eq. {eq}")
            got = shaped_array(got, want.shape, name, hints,
                          f"k×k windows that do not overlap give (N, C, H/k, W/k), eq. {eq}")
            blocks = x.reshape(n, c, h // k, w // k, k, k)
            expect(got, want, name, {
                f"this is the mean of each window (average pooling); max pooling keeps the "
                f"largest entry, eq. {eq}": x.reshape(n, c, h // k, k, w // k, k).mean(
                    axis=(3, 5)),
                f"the windows are not k×k blocks: x.reshape(N, C, H/k, W/k, k, k) mixes "
                f"rows and columns; reshape to (N, C, H/k, k, W/k, k) and take the max over "
                f"axes 3 and 5, eq. {eq}": blocks.max(axis=(4, 5)),
                f"this keeps the top-left entry of each window (x[..., ::k, ::k]); take the "
                f"max of the window, eq. {eq}": x[:, :, ::k, ::k],
                f"the max of a window of negative numbers is negative: start the running "
                f"max at the window's first entry (or -inf), not at 0, eq. {eq}":
                    np.maximum(want, 0.0),
            })
        return run

    def backward_case(x, k, what):
        dout = rng.standard_normal((x.shape[0], x.shape[1], x.shape[2] // k, x.shape[3] // k))

        def run(fn_unused):
            if backward is None:
                raise missing_function("max_pool2d_backward", "5.6")
            name = f"max_pool2d_backward for {what}, k = {k}"
            args = [dout.copy(), x.copy()]
            got = backward(args[0], args[1], k)
            _unchanged("max_pool2d_backward", args, [dout, x])
            got = shaped_array(got, x.shape, name, {},
                          f"the gradient has the shape of x, (N, C, H, W), eq. {eq}")
            want = _max_pool_backward(dout, x, k)
            up = np.repeat(np.repeat(dout, k, axis=2), k, axis=3)
            first = f"route it to the first maximum of the window (row-major order, as " \
                    f"PyTorch does) and give the others 0, eq. {eq}"
            expect(got, want, name, {
                f"the gradient is copied to every entry of the window; only the maximum "
                f"affected the output: {first}": up,
                f"the gradient is spread evenly over the window (that is average pooling's "
                f"backward, dout/k²); {first}": up / k**2,
                f"at ties (windows of equal values, such as the zeros after a ReLU) the "
                f"gradient went to every maximum, which counts it several times; {first}":
                    _max_pool_backward(dout, x, k, pick="all"),
                f"at ties the gradient was split among the maxima; {first}":
                    _max_pool_backward(dout, x, k, pick="split"),
                f"at ties the gradient went to the last maximum; {first}":
                    _max_pool_backward(dout, x, k, pick="last"),
                f"at ties the gradient went to the first maximum in column order; the first "
                f"maximum is taken in row-major order, along each row, then down, as "
                f"np.argmax of the flattened window gives it, eq. {eq}":
                    _max_pool_backward(dout, x, k, pick="column"),
                f"the windows overlap (stride 1): output (i, j) comes from the window at "
                f"(k·i, k·j), x[..., k·i:k·i+k, k·j:k·j+k], eq. {eq}":
                    _max_pool_backward(dout, x, k, stride=1),
            })
        return run

    def relu_like(shape):
        return np.maximum(rng.standard_normal(shape), 0.0)       # many windows of zeros

    # 2×2 windows: [[1, 3], [3, 0]], zeros, [[0, 3], [3, 3]], [[0, 5], [5, 0]], 4s, 2s.
    # The first maximum in row-major order differs from the last and from the first in
    # column order.
    ties = np.array([[[[1.0, 3.0, 0.0, 0.0, 0.0, 3.0],
                       [3.0, 0.0, 0.0, 0.0, 3.0, 3.0],
                       [0.0, 5.0, 4.0, 4.0, 2.0, 2.0],
                       [5.0, 0.0, 4.0, 4.0, 2.0, 2.0]]]])
    run_checks("max_pool2d", "5.6", forward, [
        forward_case(rng.standard_normal((2, 3, 4, 6)), 2, "x (2, 3, 4, 6)"),
        forward_case(rng.standard_normal((1, 2, 6, 9)), 3, "x (1, 2, 6, 9)"),
        forward_case(rng.standard_normal((3, 1, 4, 4)), 4, "x (3, 1, 4, 4)"),
        forward_case(rng.standard_normal((2, 2, 3, 5)), 1, "x (2, 2, 3, 5)"),
        forward_case(-rng.uniform(1, 2, (2, 2, 6, 4)), 2, "negative x (2, 2, 6, 4)"),
        backward_case(rng.standard_normal((2, 3, 4, 6)), 2, "x (2, 3, 4, 6)"),
        backward_case(rng.standard_normal((1, 2, 6, 9)), 3, "x (1, 2, 6, 9)"),
        backward_case(ties, 2, "windows with ties"),
        backward_case(relu_like((2, 3, 6, 4)), 2, "x after a ReLU (windows of zeros)"),
        backward_case(rng.integers(0, 3, (2, 2, 6, 6)).astype(float), 3,
                      "small integers (ties)"),
        backward_case(rng.standard_normal((2, 2, 3, 5)), 1, "x (2, 2, 3, 5)"),
        backward_case(rng.standard_normal((1, 3, 4, 4)), 4, "x (1, 3, 4, 4)"),
    ], time_limit=TIME_LIMIT)
