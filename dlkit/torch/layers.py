r"""PyTorch twins of :mod:`dlkit.numpy.layers` (chapter 01; backward: chapter 03).

Same names, arguments and return values as the NumPy reference, on tensors of any
device and dtype. Each layer also comes as a ``torch.autograd.Function``
(``LinearFn``, ``ReLUFn``, ``LeakyReLUFn``, ``SigmoidFn``, ``TanhFn``) whose backward is
the hand-written one, so that it can be checked against ``torch.autograd``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from .._checks import check_hyper, check_tensor
# The caches are plain named tuples, shared with the NumPy reference.
from ..numpy.layers import (ActivationCache, LinearCache, MLPCache, _check_axis,
                            _check_cache, _check_dout, _check_kind, _check_linear,
                            _check_sizes, _mlp_backward, _mlp_forward, num_parameters)

__all__ = [
    "linear_forward", "linear_backward", "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward", "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward", "softmax", "log_softmax",
    "ACTIVATIONS", "mlp_init", "mlp_forward", "mlp_backward", "num_parameters",
    "LinearFn", "ReLUFn", "LeakyReLUFn", "SigmoidFn", "TanhFn",
]


def _same_place(fn: str, ref_name: str, ref: torch.Tensor, **others: Any) -> None:
    for name, t in others.items():
        if t is None:
            continue
        check_tensor(fn, name, t)
        if t.device != ref.device or t.dtype != ref.dtype:
            raise ValueError(
                f"{fn}: `{ref_name}` is {ref.dtype} on {ref.device} but `{name}` is "
                f"{t.dtype} on {t.device}; convert with {name}.to({ref_name})."
            )


# ------------------------------------------------------------------ linear
def linear_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, LinearCache]:
    r"""Affine map :math:`y = x W^\top + b`; equals ``F.linear(x, w, b)``.

    Shapes: x (*, D_in), w (D_out, D_in), b (D_out,) or None -> y (*, D_out).
    """
    fn = "linear_forward"
    check_tensor(fn, "x", x)
    _same_place(fn, "x", x, w=w, b=b)
    _check_linear(fn, x, w, b)
    y = x @ w.T                   # (*, D_in) @ (D_in, D_out)
    if b is not None:
        y = y + b
    return y, LinearCache(x, w, b is not None)


def linear_backward(dout: torch.Tensor, cache: LinearCache
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    r"""Return ``(dx, dw, db)``: :math:`dout\,W`, :math:`dout^\top x`, :math:`\sum_n dout_n`."""
    fn = "linear_backward"
    _check_cache(fn, cache, LinearCache)
    x, w, has_bias = cache
    check_tensor(fn, "dout", dout)
    _check_dout(fn, dout, x.shape[:-1] + (w.shape[0],))
    dx = dout @ w                                  # (*, D_out) @ (D_out, D_in)
    d2 = dout.reshape(-1, w.shape[0])              # (N, D_out)
    dw = d2.T @ x.reshape(-1, w.shape[1])          # (D_out, N) @ (N, D_in)
    return dx, dw, d2.sum(dim=0) if has_bias else None


# ------------------------------------------------------------------ activations
def _activation_input(fn: str, x: Any) -> torch.Tensor:
    check_tensor(fn, "x", x)
    return x


def _activation_cache(fn: str, dout: Any, cache: Any, kind: str) -> torch.Tensor:
    _check_kind(fn, cache, kind, ActivationCache)
    check_tensor(fn, "dout", dout)
    _check_dout(fn, dout, cache.value.shape)
    return cache.value


def relu_forward(x: torch.Tensor) -> tuple[torch.Tensor, ActivationCache]:
    r""":math:`\max(0, x)`; equals ``F.relu``. Shapes: x (any) -> out (same)."""
    x = _activation_input("relu_forward", x)
    return x.clamp_min(0), ActivationCache("relu", x)


def relu_backward(dout: torch.Tensor, cache: ActivationCache) -> torch.Tensor:
    r""":math:`dx = dout \cdot [x > 0]` (0 at the kink, like torch)."""
    x = _activation_cache("relu_backward", dout, cache, "relu")
    return torch.where(x > 0, dout, torch.zeros_like(dout))


def leaky_relu_forward(x: torch.Tensor, negative_slope: float = 0.01
                       ) -> tuple[torch.Tensor, ActivationCache]:
    r""":math:`x` for x > 0, :math:`a x` otherwise; equals ``F.leaky_relu``."""
    fn = "leaky_relu_forward"
    x = _activation_input(fn, x)
    a = check_hyper(fn, "negative_slope", negative_slope, typical="0.01 to 0.2")
    return torch.where(x > 0, x, a * x), ActivationCache("leaky_relu", x, a)


def leaky_relu_backward(dout: torch.Tensor, cache: ActivationCache) -> torch.Tensor:
    r""":math:`dx = dout` where x > 0, :math:`a \cdot dout` elsewhere."""
    x = _activation_cache("leaky_relu_backward", dout, cache, "leaky_relu")
    return torch.where(x > 0, dout, cache.negative_slope * dout)


def sigmoid_forward(x: torch.Tensor) -> tuple[torch.Tensor, ActivationCache]:
    r""":math:`1/(1 + e^{-x})`; equals ``torch.sigmoid`` (stable for large |x|)."""
    x = _activation_input("sigmoid_forward", x)
    out = torch.sigmoid(x)
    return out, ActivationCache("sigmoid", out)


def sigmoid_backward(dout: torch.Tensor, cache: ActivationCache) -> torch.Tensor:
    r""":math:`dx = dout \cdot \sigma(x)(1 - \sigma(x))`."""
    s = _activation_cache("sigmoid_backward", dout, cache, "sigmoid")
    return dout * s * (1 - s)


def tanh_forward(x: torch.Tensor) -> tuple[torch.Tensor, ActivationCache]:
    r""":math:`\tanh x`; equals ``torch.tanh``."""
    x = _activation_input("tanh_forward", x)
    out = torch.tanh(x)
    return out, ActivationCache("tanh", out)


def tanh_backward(dout: torch.Tensor, cache: ActivationCache) -> torch.Tensor:
    r""":math:`dx = dout \cdot (1 - \tanh^2 x)`."""
    t = _activation_cache("tanh_backward", dout, cache, "tanh")
    return dout * (1 - t * t)


# ------------------------------------------------------------------ softmax
def softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    r""":math:`e^{x_i}/\sum_j e^{x_j}` along ``axis``; equals ``F.softmax(x, dim=axis)``."""
    check_tensor("softmax", "x", x)
    axis = _check_axis("softmax", x, axis)
    e = torch.exp(x - x.amax(dim=axis, keepdim=True))   # max-shift: no overflow
    return e / e.sum(dim=axis, keepdim=True)


def log_softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    r""":math:`x_i - \log\sum_j e^{x_j}`; equals ``F.log_softmax(x, dim=axis)``."""
    check_tensor("log_softmax", "x", x)
    axis = _check_axis("log_softmax", x, axis)
    shifted = x - x.amax(dim=axis, keepdim=True)
    return shifted - torch.log(torch.exp(shifted).sum(dim=axis, keepdim=True))


# ------------------------------------------------------------------ autograd Functions
class LinearFn(torch.autograd.Function):
    """``F.linear`` with dlkit's hand-written backward (``linear_backward``)."""

    @staticmethod
    def forward(ctx, x, w, b=None):
        y, ctx.cache = linear_forward(x, w, b)
        return y

    @staticmethod
    def backward(ctx, dout):
        return linear_backward(dout, ctx.cache)


def _elementwise_fn(name: str, forward, backward) -> type:
    def fwd(ctx, x, *args):
        out, ctx.cache = forward(x, *args)
        return out

    def bwd(ctx, dout):
        return (backward(dout, ctx.cache),) + (None,) * (ctx.cache.kind == "leaky_relu")

    doc = f"``{forward.__name__}`` with dlkit's hand-written ``{backward.__name__}``."
    return type(name, (torch.autograd.Function,), {
        "__doc__": doc, "forward": staticmethod(fwd), "backward": staticmethod(bwd)})


ReLUFn = _elementwise_fn("ReLUFn", relu_forward, relu_backward)
LeakyReLUFn = _elementwise_fn("LeakyReLUFn", leaky_relu_forward, leaky_relu_backward)
SigmoidFn = _elementwise_fn("SigmoidFn", sigmoid_forward, sigmoid_backward)
TanhFn = _elementwise_fn("TanhFn", tanh_forward, tanh_backward)


# ------------------------------------------------------------------ a small MLP
ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
}

Params = list


def mlp_init(sizes: Sequence[int], *, rng: np.random.Generator | torch.Generator,
             device: Any = None, dtype: torch.dtype = torch.float32) -> Params:
    r"""Weights of an MLP, uniform on :math:`\pm 1/\sqrt{n_{l-1}}` like ``nn.Linear``.

    With a NumPy ``rng`` the values are those that ``dlkit.numpy.layers.mlp_init`` draws
    from the same generator state, so the two twins start from identical weights; with
    a ``torch.Generator`` they are drawn by torch (on the generator's device).
    Returns ``[(w1, b1), ..., (wL, bL)]`` on ``device`` in ``dtype``.
    """
    fn = "mlp_init"
    sizes = _check_sizes(fn, sizes)
    if isinstance(rng, np.random.Generator):
        from ..numpy.layers import mlp_init as np_mlp_init
        return [(torch.as_tensor(w, device=device, dtype=dtype),
                 torch.as_tensor(b, device=device, dtype=dtype))
                for w, b in np_mlp_init(sizes, rng=rng)]
    if not isinstance(rng, torch.Generator):
        raise TypeError(f"{fn}: `rng` must be a np.random.Generator or a torch.Generator, "
                        f"got {type(rng).__name__}.")
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / n_in ** 0.5
        w, b = (torch.rand(shape, generator=rng, device=rng.device, dtype=dtype)
                for shape in ((n_out, n_in), (n_out,)))
        params.append(((2 * w - 1).mul_(bound).to(device), (2 * b - 1).mul_(bound).to(device)))
    return params


def mlp_forward(x: torch.Tensor, params: Params, *, activation: str = "relu"
                ) -> tuple[torch.Tensor, MLPCache]:
    r"""Hidden layers :math:`g(W^{(l)} a^{(l-1)} + b^{(l)})`, linear output (logits).

    Shapes: x (N, sizes[0]) -> out (N, sizes[-1]). Equals an ``nn.Sequential`` of
    ``nn.Linear`` and activation modules holding the same weights.
    """
    return _mlp_forward("mlp_forward", x, params, activation, linear_forward, ACTIVATIONS,
                        MLPCache)


def mlp_backward(dout: torch.Tensor, cache: MLPCache) -> Params:
    r"""Return ``[(dw1, db1), ..., (dwL, dbL)]`` by backpropagation (chapter 03)."""
    return _mlp_backward("mlp_backward", dout, cache, linear_backward, ACTIVATIONS, MLPCache)
