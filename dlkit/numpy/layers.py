r"""Layers of a neural network as forward/backward pairs (chapter 01; backward: chapter 03).

Every layer is two functions, as in cs231n: ``out, cache = op_forward(...)`` and
``grads = op_backward(dout, cache)``, where ``dout`` is :math:`\partial L/\partial out`
and the cache holds what the backward pass needs from the forward pass. Weights are
stored ``(out, in)`` like ``torch.nn.Linear``. On top of the layers sits a small
multilayer perceptron (``mlp_init``, ``mlp_forward``, ``mlp_backward``).
Twin: :mod:`dlkit.torch.layers`.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from .._checks import as_float_array, check_hyper, check_int, check_shape

__all__ = [
    "linear_forward", "linear_backward", "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward", "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward", "softmax", "log_softmax",
    "ACTIVATIONS", "mlp_init", "mlp_forward", "mlp_backward", "num_parameters",
]

_W_HINT = ("dlkit stores weights as (out, in), like torch.nn.Linear; if you built w "
           "as (in, out), pass w.T.")


# ------------------------------------------------------------------ validation
def _check_linear(fn: str, x: Any, w: Any, b: Any) -> None:
    """Shape checks shared by both twins (they work on arrays and tensors alike)."""
    if len(x.shape) == 0:
        raise ValueError(f"{fn}: `x` is a scalar; expected shape (*, D_in), e.g. "
                         f"(N, D_in) for a batch or (D_in,) for one example.")
    dims = {"D_in": x.shape[-1]}
    check_shape(fn, "w", w.shape, ("D_out", "D_in"), dims, hint=_W_HINT)
    if b is not None:
        check_shape(fn, "b", b.shape, ("D_out",), dims,
                    hint="The bias has one entry per output unit.")


def _check_dout(fn: str, dout: Any, out_shape: Sequence[int]) -> None:
    if tuple(dout.shape) != tuple(out_shape):
        raise ValueError(
            f"{fn}: `dout` has shape {tuple(dout.shape)}, expected {tuple(out_shape)}, the "
            f"shape of the forward output: dout[i] is the gradient of the loss w.r.t. out[i]."
        )


def _check_cache(fn: str, cache: Any, kind: type) -> None:
    if not isinstance(cache, kind):
        raise TypeError(
            f"{fn}: `cache` must be the second value returned by the matching forward "
            f"function ({kind.__name__}), got {type(cache).__name__}."
        )


def _check_axis(fn: str, x: Any, axis: Any) -> int:
    ndim = len(x.shape)
    if ndim == 0:
        raise ValueError(f"{fn}: `x` is a scalar; softmax needs at least one axis of scores.")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) \
            or not -ndim <= axis < ndim:
        raise ValueError(f"{fn}: `axis` must be an int from {-ndim} to {ndim - 1} for an "
                         f"input of shape {tuple(x.shape)}, got {axis!r}.")
    return int(axis)


# ------------------------------------------------------------------ caches
class LinearCache(NamedTuple):
    x: np.ndarray
    w: np.ndarray
    has_bias: bool


class ActivationCache(NamedTuple):
    """What an elementwise activation keeps: its input or its output (see ``kind``)."""
    kind: str
    value: np.ndarray
    negative_slope: float = 0.0


# ------------------------------------------------------------------ linear
def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None
                   ) -> tuple[np.ndarray, LinearCache]:
    r"""Affine map :math:`y = x W^\top + b`. Twin: dlkit.torch.layers.linear_forward (F.linear).

    Shapes: x (*, D_in), w (D_out, D_in), b (D_out,) or None -> y (*, D_out).
    Chapter 01, §Layers as matrix products.
    """
    fn = "linear_forward"
    x = as_float_array(fn, "x", x)
    w = as_float_array(fn, "w", w)
    b = None if b is None else as_float_array(fn, "b", b)
    _check_linear(fn, x, w, b)
    y = x @ w.T                   # (*, D_in) @ (D_in, D_out)
    if b is not None:
        y = y + b
    return y, LinearCache(x, w, b is not None)


def linear_backward(dout: np.ndarray, cache: LinearCache
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    r"""Gradients of :math:`y = x W^\top + b`: return ``(dx, dw, db)`` (``db`` None without bias).

    :math:`dx = dout\,W,\ dW = dout^\top x,\ db = \sum_n dout_n`, summing over every
    leading axis. Shapes: dout (*, D_out) -> dx (*, D_in), dw (D_out, D_in), db (D_out,).
    """
    fn = "linear_backward"
    _check_cache(fn, cache, LinearCache)
    x, w, has_bias = cache
    dout = as_float_array(fn, "dout", dout)
    _check_dout(fn, dout, x.shape[:-1] + (w.shape[0],))
    dx = dout @ w                                  # (*, D_out) @ (D_out, D_in)
    d2 = dout.reshape(-1, w.shape[0])              # (N, D_out), N = all leading axes
    dw = d2.T @ x.reshape(-1, w.shape[1])          # (D_out, N) @ (N, D_in)
    return dx, dw, d2.sum(axis=0) if has_bias else None


# ------------------------------------------------------------------ activations
def relu_forward(x: np.ndarray) -> tuple[np.ndarray, ActivationCache]:
    r""":math:`\mathrm{ReLU}(x) = \max(0, x)` elementwise. Twin: dlkit.torch.layers.relu_forward.

    Shapes: x (any) -> out (same). Chapter 01, §Activation functions.
    """
    x = as_float_array("relu_forward", "x", x)
    return np.maximum(x, 0), ActivationCache("relu", x)


def relu_backward(dout: np.ndarray, cache: ActivationCache) -> np.ndarray:
    r""":math:`dx = dout \cdot [x > 0]`: the gradient at the kink x = 0 is taken as 0, like torch."""
    dout, x = _activation_cache("relu_backward", dout, cache, "relu")
    return np.where(x > 0, dout, 0.0)


def leaky_relu_forward(x: np.ndarray, negative_slope: float = 0.01
                       ) -> tuple[np.ndarray, ActivationCache]:
    r""":math:`x` for x > 0, :math:`a x` otherwise. Twin: dlkit.torch.layers.leaky_relu_forward.

    Shapes: x (any) -> out (same). Matches ``F.leaky_relu`` (same default slope).
    """
    fn = "leaky_relu_forward"
    x = as_float_array(fn, "x", x)
    a = check_hyper(fn, "negative_slope", negative_slope, typical="0.01 to 0.2")
    return np.where(x > 0, x, a * x), ActivationCache("leaky_relu", x, a)


def leaky_relu_backward(dout: np.ndarray, cache: ActivationCache) -> np.ndarray:
    r""":math:`dx = dout` where x > 0, :math:`a \cdot dout` elsewhere."""
    dout, x = _activation_cache("leaky_relu_backward", dout, cache, "leaky_relu")
    return np.where(x > 0, dout, cache.negative_slope * dout)


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, ActivationCache]:
    r""":math:`\sigma(x) = 1/(1 + e^{-x})` elementwise. Twin: dlkit.torch.layers.sigmoid_forward.

    Shapes: x (any) -> out (same). Chapter 01, §Activation functions.
    """
    x = as_float_array("sigmoid_forward", "x", x)
    # e^{-x} overflows for x < -709 (float64): write sigma through e^{-|x|} <= 1, which
    # never overflows, as 1/(1+e^{-x}) for x >= 0 and e^{x}/(1+e^{x}) for x < 0.
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1.0, e) / (1.0 + e)
    return out, ActivationCache("sigmoid", out)


def sigmoid_backward(dout: np.ndarray, cache: ActivationCache) -> np.ndarray:
    r""":math:`dx = dout \cdot \sigma(x)(1 - \sigma(x))`, from the stored output."""
    dout, s = _activation_cache("sigmoid_backward", dout, cache, "sigmoid")
    return dout * s * (1.0 - s)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, ActivationCache]:
    r""":math:`\tanh(x) = (e^x - e^{-x})/(e^x + e^{-x})`. Twin: dlkit.torch.layers.tanh_forward.

    Shapes: x (any) -> out (same). Chapter 01, §Activation functions.
    """
    x = as_float_array("tanh_forward", "x", x)
    out = np.tanh(x)
    return out, ActivationCache("tanh", out)


def tanh_backward(dout: np.ndarray, cache: ActivationCache) -> np.ndarray:
    r""":math:`dx = dout \cdot (1 - \tanh^2 x)`, from the stored output."""
    dout, t = _activation_cache("tanh_backward", dout, cache, "tanh")
    return dout * (1.0 - t * t)


def _activation_cache(fn: str, dout: Any, cache: Any, kind: str
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``dout`` and ``cache``; return ``dout`` as an array and the cached value."""
    _check_kind(fn, cache, kind, ActivationCache)
    dout = as_float_array(fn, "dout", dout)
    _check_dout(fn, dout, cache.value.shape)
    return dout, cache.value


def _check_kind(fn: str, cache: Any, kind: str, cache_type: type) -> None:
    _check_cache(fn, cache, cache_type)
    if cache.kind != kind:
        raise ValueError(f"{fn}: `cache` comes from {cache.kind}_forward, not {kind}_forward; "
                         f"pass each backward function the cache of its own forward call.")


# ------------------------------------------------------------------ softmax
def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    r""":math:`\mathrm{softmax}(x)_i = e^{x_i} / \sum_j e^{x_j}` along ``axis``. Twin: F.softmax.

    Shapes: x (any, at least 1-D) -> out (same); each slice along ``axis`` sums to 1.
    Chapter 01, §Softmax.
    """
    fn = "softmax"
    x = as_float_array(fn, "x", x)
    axis = _check_axis(fn, x, axis)
    # Softmax is shift-invariant: subtracting the max changes nothing mathematically
    # but makes every exponent <= 0, so exp cannot overflow.
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    r""":math:`\log\mathrm{softmax}(x)_i = x_i - \log\sum_j e^{x_j}` (log-sum-exp). Twin: F.log_softmax.

    Shapes: x (any, at least 1-D) -> out (same). Never -inf for finite inputs, unlike
    ``np.log(softmax(x))``, whose tiny probabilities underflow to 0.
    """
    fn = "log_softmax"
    x = as_float_array(fn, "x", x)
    axis = _check_axis(fn, x, axis)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


# ------------------------------------------------------------------ a small MLP
#: The hidden activations an MLP can use: name -> (forward, backward).
ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
}

Params = list  # [(w1, b1), (w2, b2), ...], w_l of shape (n_l, n_{l-1})


class MLPCache(NamedTuple):
    layers: list  # [(LinearCache, ActivationCache or None), ...]


def _check_sizes(fn: str, sizes: Any) -> list[int]:
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__") or len(sizes) < 2:
        raise ValueError(f"{fn}: `sizes` must list the layer widths from input to output, "
                         f"at least two of them, e.g. [2, 16, 1]; got {sizes!r}.")
    return [check_int(fn, f"sizes[{i}]", s, low=1) for i, s in enumerate(sizes)]


def _check_activation(fn: str, activation: Any) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"{fn}: unknown `activation`={activation!r}; choose one of "
                         f"{sorted(ACTIVATIONS)}.")


def _check_params(fn: str, params: Any) -> None:
    ok = isinstance(params, (list, tuple)) and len(params) > 0 and all(
        isinstance(p, (list, tuple)) and len(p) == 2 for p in params)
    if not ok:
        raise TypeError(f"{fn}: `params` must be the list of (w, b) pairs that mlp_init "
                        f"returns, got {type(params).__name__}.")


def mlp_init(sizes: Sequence[int], *, rng: np.random.Generator) -> Params:
    r"""Weights of an MLP with layer widths ``sizes`` (input first), drawn like ``nn.Linear``.

    Layer :math:`l` gets :math:`W^{(l)}` of shape ``(sizes[l], sizes[l-1])`` and
    :math:`b^{(l)}` of shape ``(sizes[l],)``, both uniform on
    :math:`[-1/\sqrt{n_{l-1}},\, 1/\sqrt{n_{l-1}}]` (PyTorch's default; chapter 07 covers
    Xavier and He). Returns ``[(w1, b1), ..., (wL, bL)]`` in float64.
    """
    fn = "mlp_init"
    sizes = _check_sizes(fn, sizes)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{fn}: `rng` must be a np.random.Generator, e.g. "
                        f"np.random.default_rng(0), got {type(rng).__name__}.")
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(n_in)
        w = rng.uniform(-bound, bound, size=(n_out, n_in))
        b = rng.uniform(-bound, bound, size=n_out)
        params.append((w, b))
    return params


def mlp_forward(x: np.ndarray, params: Params, *, activation: str = "relu"
                ) -> tuple[np.ndarray, MLPCache]:
    r""":math:`a^{(l)} = g(W^{(l)} a^{(l-1)} + b^{(l)})` for the hidden layers, linear output.

    The output layer has no activation: it returns scores (logits), to which a loss
    or a softmax is applied. Shapes: x (N, sizes[0]) -> out (N, sizes[-1]).
    Twin: dlkit.torch.layers.mlp_forward. Chapter 01, §The multilayer perceptron.
    """
    return _mlp_forward("mlp_forward", x, params, activation, linear_forward, ACTIVATIONS,
                        MLPCache)


def _mlp_forward(fn, x, params, activation, linear, activations, cache_type):
    """The forward pass of both twins: they differ only in their layer functions."""
    _check_params(fn, params)
    _check_activation(fn, activation)
    forward = activations[activation][0]
    w1 = params[0][0]
    x_shape = tuple(getattr(x, "shape", np.shape(x)))
    if x_shape and len(w1.shape) == 2 and x_shape[-1] != w1.shape[1]:
        raise ValueError(
            f"{fn}: `x` has shape {x_shape}, {x_shape[-1]} features per example, but the "
            f"first layer takes {w1.shape[1]} (sizes[0] of mlp_init); pass x of shape "
            f"(N, {w1.shape[1]}) or build the MLP with sizes[0]={x_shape[-1]}.")
    a, caches = x, []
    for l, (w, b) in enumerate(params, start=1):
        try:
            z, lin = linear(a, w, b)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{fn}: layer {l}: {exc}") from None
        act = None
        if l < len(params):
            a, act = forward(z)
        else:
            a = z                     # linear output layer: scores (logits)
        caches.append((lin, act))
    return a, cache_type(caches)


def mlp_backward(dout: np.ndarray, cache: MLPCache) -> Params:
    r"""Gradients of the loss w.r.t. every parameter: ``[(dw1, db1), ..., (dwL, dbL)]``.

    Backpropagation, layer by layer from the output (derived in chapter 03).
    Shapes: dout (N, sizes[-1]); each (dw, db) has the shape of its (w, b).
    """
    return _mlp_backward("mlp_backward", dout, cache, linear_backward, ACTIVATIONS, MLPCache)


def _mlp_backward(fn, dout, cache, linear_backward, activations, cache_type):
    _check_cache(fn, cache, cache_type)
    grads = []
    for lin, act in reversed(cache.layers):
        if act is not None:
            dout = activations[act.kind][1](dout, act)   # through g'(z^(l))
        dout, dw, db = linear_backward(dout, lin)       # through W^(l)
        grads.append((dw, db))
    return grads[::-1]


def num_parameters(sizes: Sequence[int]) -> int:
    r"""Number of weights and biases of an MLP: :math:`\sum_l (n_{l-1} + 1)\, n_l`."""
    sizes = _check_sizes("num_parameters", sizes)
    return sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
