"""Chapter 01's layers: dlkit.numpy's forward/backward pairs against torch's.

Each case runs forward + backward on a (batch, width) input, 4096 × 512 at full size.
They have no target: the elementwise layers run at memory speed on both sides, and
their ratios show what NumPy's single-threaded elementwise loops cost next to torch's
multi-threaded ones.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from dlkit.numpy import layers as np_layers

from .ops import Case, _leaf, _zero_grads


def _sizes(size: str) -> tuple[int, int]:
    return (4096, 512) if size == "full" else (16, 8)


def linear(size: str, dtype: np.dtype, rng: np.random.Generator) -> Case:
    """linear layer (batch, width) -> (batch, width/2), forward + backward."""
    n, d = _sizes(size)
    x = rng.standard_normal((n, d)).astype(dtype)
    w = (rng.standard_normal((d // 2, d)) / np.sqrt(d)).astype(dtype)
    b = rng.standard_normal(d // 2).astype(dtype)
    dout = rng.standard_normal((n, d // 2)).astype(dtype)
    xt, wt, bt, doutt = _leaf(x), _leaf(w), _leaf(b), torch.tensor(dout)

    def numpy_step():
        out, cache = np_layers.linear_forward(x, w, b)
        return out, np_layers.linear_backward(dout, cache)

    def torch_step():
        _zero_grads(xt, wt, bt)
        out = F.linear(xt, wt, bt)
        out.backward(doutt)
        return out, (xt.grad, wt.grad, bt.grad)

    return Case(f"linear {d}->{d // 2} fwd+bwd", numpy_step, torch_step,
                3 * 2 * n * d * (d // 2), None)


def _activation(name: str, torch_fn: Callable) -> Callable[..., Case]:
    forward = getattr(np_layers, f"{name}_forward")
    backward = getattr(np_layers, f"{name}_backward")

    def build(size: str, dtype: np.dtype, rng: np.random.Generator) -> Case:
        n, d = _sizes(size)
        x, dout = (rng.standard_normal((n, d)).astype(dtype) for _ in range(2))
        xt, doutt = _leaf(x), torch.tensor(dout)

        def numpy_step():
            out, cache = forward(x)
            return out, backward(dout, cache)

        def torch_step():
            _zero_grads(xt)
            out = torch_fn(xt)
            out.backward(doutt)
            return out, xt.grad

        return Case(f"{name} fwd+bwd", numpy_step, torch_step, None, None)

    build.__doc__ = f"{name} on (batch, width), forward + backward."
    return build


def softmax(size: str, dtype: np.dtype, rng: np.random.Generator) -> Case:
    """softmax along the rows of (batch, width), forward only."""
    n, d = _sizes(size)
    x = rng.standard_normal((n, d)).astype(dtype)
    xt = torch.from_numpy(x)
    return Case("softmax fwd", lambda: np_layers.softmax(x),
                lambda: F.softmax(xt, dim=-1), None, None)


def mlp(size: str, dtype: np.dtype, rng: np.random.Generator) -> Case:
    """a 3-layer ReLU MLP width-width-width/2-10: mlp_forward/mlp_backward."""
    n, d = _sizes(size)
    x = rng.standard_normal((n, d)).astype(dtype)
    sizes = [d, d, d // 2, 10]
    params = [(w.astype(dtype), b.astype(dtype))
              for w, b in np_layers.mlp_init(sizes, rng=rng)]
    dout = rng.standard_normal((n, 10)).astype(dtype)
    xt, doutt = torch.from_numpy(x), torch.tensor(dout)
    leaves = [(_leaf(w), _leaf(b)) for w, b in params]

    def numpy_step():
        out, cache = np_layers.mlp_forward(x, params)
        return out, np_layers.mlp_backward(dout, cache)

    def torch_step():
        a = xt
        for layer, (w, b) in enumerate(leaves):
            _zero_grads(w, b)
            a = F.linear(a, w, b)
            a = F.relu(a) if layer < len(leaves) - 1 else a
        a.backward(doutt)
        return a, [(w.grad, b.grad) for w, b in leaves]

    flops = sum(2 * n * i * o for i, o in zip(sizes[:-1], sizes[1:]))
    # The first layer's input needs no gradient: 3 products per layer but one.
    flops = 3 * flops - 2 * n * sizes[0] * sizes[1]
    return Case("mlp 3 layers fwd+bwd", numpy_step, torch_step, flops, None)


CASES: dict[str, Callable[..., Case | None]] = {
    "linear": linear,
    "relu": _activation("relu", F.relu),
    "sigmoid": _activation("sigmoid", torch.sigmoid),
    "tanh": _activation("tanh", torch.tanh),
    "softmax": softmax,
    "mlp": mlp,
}
