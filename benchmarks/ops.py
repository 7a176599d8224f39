"""The course's ops: each dlkit NumPy op against PyTorch's own op on the CPU.

Every case runs forward + backward, NumPy on one side (dlkit.numpy's forward/backward
pair, or the tensor autodiff engine of chapter 03) and torch on the other (the
``torch.nn.functional`` op, ``torch.nn.LSTM``/``GRU`` or autograd), on the same
inputs; before timing, the two results are checked to agree. The sizes are the
course's (``full``), or a few elements each (``tiny``, to keep the code working).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from dlkit.autodiff import reverse as rev
from dlkit.numpy import conv as np_conv
from dlkit.numpy import losses as np_losses
from dlkit.numpy import recurrent as np_rec


@dataclass
class Case:
    """One row of the table: two callables that do the same work.

    ``flops`` counts the multiply-adds of the matrix products (2 per multiply-add)
    of one call, or is None for an op without them (memory-bound: pooling, the
    loss), whose speed is not measured against the matmul peak. ``target`` is the
    largest acceptable ratio NumPy time / torch time (None: no target). ``twin``,
    when given, is dlkit.torch's version, timed as an extra column.
    """
    op: str
    numpy: Callable[[], Any]
    torch: Callable[[], Any]
    flops: float | None
    target: float | None
    note: str = ""
    twin: Callable[[], Any] | None = None


def _leaf(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a, requires_grad=True)


def _zero_grads(*tensors: torch.Tensor) -> None:
    for t in tensors:
        t.grad = None


def _flatten(result: Any) -> list[np.ndarray]:
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in _flatten(r)]
    if isinstance(result, torch.Tensor):
        return [result.detach().numpy()]
    return [np.asarray(result)]


def check_agree(case: Case, dtype: np.dtype) -> None:
    """Raise AssertionError unless both sides of ``case`` compute the same numbers."""
    ours, theirs = _flatten(case.numpy()), _flatten(case.torch())
    assert len(ours) == len(theirs), f"{case.op}: {len(ours)} vs {len(theirs)} results"
    tol = 2e-3 if dtype == np.float32 else 1e-8
    for k, (a, b) in enumerate(zip(ours, theirs)):
        scale = max(1.0, float(np.abs(b).max(initial=0.0)))
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale,
                                   err_msg=f"{case.op}: result {k} differs from torch")


# ------------------------------------------------------------------ convolution
def conv2d(size: str, dtype: np.dtype, rng: np.random.Generator) -> Case:
    """conv2d 3×3, padding 1: batch 64, 16 -> 32 channels, 28×28 (chapter 05)."""
    N, C, Fo, H = (64, 16, 32, 28) if size == "full" else (2, 3, 4, 6)
    x = rng.standard_normal((N, C, H, H)).astype(dtype)
    w = (rng.standard_normal((Fo, C, 3, 3)) / np.sqrt(9 * C)).astype(dtype)
    b = rng.standard_normal(Fo).astype(dtype)
    dout = rng.standard_normal((N, Fo, H, H)).astype(dtype)
    xt, wt, bt, doutt = _leaf(x), _leaf(w), _leaf(b), torch.tensor(dout)

    def numpy_step():
        out, cache = np_conv.conv2d_forward(x, w, b, padding=1)
        return out, np_conv.conv2d_backward(dout, cache)

    def torch_step():
        _zero_grads(xt, wt, bt)
        out = F.conv2d(xt, wt, bt, padding=1)
        out.backward(doutt)
        return out, (xt.grad, wt.grad, bt.grad)

    flops = 3 * 2 * N * Fo * H * H * C * 9     # forward, dw and dx: one product each
    return Case(f"conv2d {C}->{Fo} 3x3 fwd+bwd", numpy_step, torch_step, flops, 2.0)


def _pool(kind: str, size: str, dtype: np.dtype, rng: np.random.Generator) -> Case:
    N, C, H = (64, 32, 28) if size == "full" else (2, 3, 6)
    # Pooling follows a ReLU: many windows hold ties (zeros), which must go to the
    # first maximum, as in torch.
    x = np.maximum(rng.standard_normal((N, C, H, H)), 0.0).astype(dtype)
    dout = rng.standard_normal((N, C, H // 2, H // 2)).astype(dtype)
    xt, doutt = _leaf(x), torch.tensor(dout)
    forward = getattr(np_conv, f"{kind}_pool2d_forward")
    backward = getattr(np_conv, f"{kind}_pool2d_backward")
    torch_op = getattr(F, f"{kind}_pool2d")

    def numpy_step():
        out, cache = forward(x, kernel_size=2)
        return out, backward(dout, cache)

    def torch_step():
        _zero_grads(xt)
        out = torch_op(xt, 2)
        out.backward(doutt)
        return out, xt.grad

    return Case(f"{kind}_pool2d 2x2 fwd+bwd", numpy_step, torch_step, None, 1.0)


def max_pool2d(size: str, dtype: np.dtype, rng: np.random.Generator) -> Case:
    """max pooling 2×2 of the conv2d case's output, (64, 32, 28, 28)."""
    return _pool("max", size, dtype, rng)


def avg_pool2d(size: str, dtype: np.dtype, rng: np.random.Generator) -> Case:
    """average pooling 2×2 of the conv2d case's output, (64, 32, 28, 28)."""
    return _pool("avg", size, dtype, rng)


# ------------------------------------------------------------------ recurrent
def _recurrent(kind: str, size: str, dtype: np.dtype, rng: np.random.Generator,
               mkldnn: bool = True) -> Case:
    T, N, D, H = (50, 32, 32, 128) if size == "full" else (3, 2, 3, 4)
    G = {"lstm": 4, "gru": 3}[kind]
    bound = 1 / np.sqrt(H)                       # torch.nn's initialisation range
    w_ih, w_hh = (rng.uniform(-bound, bound, (G * H, k)).astype(dtype) for k in (D, H))
    b_ih, b_hh = (rng.uniform(-bound, bound, G * H).astype(dtype) for _ in range(2))
    x = rng.standard_normal((T, N, D)).astype(dtype)
    h0, c0 = (0.5 * rng.standard_normal((N, H)).astype(dtype) for _ in range(2))
    dhs = rng.standard_normal((T, N, H)).astype(dtype)
    module = getattr(torch.nn, kind.upper())(D, H).to(getattr(torch, str(dtype)))
    with torch.no_grad():
        for name, a in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                           (w_ih, w_hh, b_ih, b_hh)):
            getattr(module, name).copy_(torch.from_numpy(a))
    params = list(module.parameters())           # the same order as the NumPy grads
    xt, h0t, c0t, dhst = _leaf(x), _leaf(h0), _leaf(c0), torch.tensor(dhs)

    if kind == "lstm":
        def numpy_step():
            hs, _, cache = np_rec.lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
            return hs, np_rec.lstm_backward(dhs, cache)

        def torch_run():
            _zero_grads(xt, h0t, c0t, *params)
            hs, _ = module(xt, (h0t[None], c0t[None]))
            hs.backward(dhst)
            return hs, (xt.grad, h0t.grad, c0t.grad, *(p.grad for p in params))
    else:
        def numpy_step():
            hs, cache = np_rec.gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh)
            return hs, np_rec.gru_backward(dhs, cache)

        def torch_run():
            _zero_grads(xt, h0t, *params)
            hs, _ = module(xt, h0t[None])
            hs.backward(dhst)
            return hs, (xt.grad, h0t.grad, *(p.grad for p in params))

    def torch_step():
        if mkldnn:
            return torch_run()
        # (torch.backends.mkldnn.flags() would also set a TF32 flag, which warns.)
        torch.backends.mkldnn.enabled = False
        try:
            return torch_run()
        finally:
            torch.backends.mkldnn.enabled = True

    # Forward: the input and the recurrent products; BPTT: twice as many (dx and
    # dw_ih, dh and dw_hh).
    flops = 3 * 2 * T * N * (D + H) * G * H
    label = f"{kind} T={T} H={H} fwd+bptt"
    if not mkldnn:
        return Case(f"{kind} T={T} H={H}, torch w/o oneDNN", numpy_step, torch_step,
                    flops, None, "torch.backends.mkldnn disabled: torch's own loop")
    return Case(label, numpy_step, torch_step, flops, 1.2)


def lstm(size: str, dtype: np.dtype, rng: np.random.Generator) -> Case:
    """LSTM forward + BPTT, T=50, batch 32, input 32, hidden 128, vs torch.nn.LSTM."""
    return _recurrent("lstm", size, dtype, rng)


def lstm_no_onednn(size: str, dtype: np.dtype, rng: np.random.Generator) -> Case:
    """The same LSTM, with torch's oneDNN (mkldnn) kernels switched off."""
    return _recurrent("lstm", size, dtype, rng, mkldnn=False)


def gru(size: str, dtype: np.dtype, rng: np.random.Generator) -> Case:
    """GRU forward + BPTT, T=50, batch 32, input 32, hidden 128, vs torch.nn.GRU."""
    return _recurrent("gru", size, dtype, rng)


# ------------------------------------------------------------------ loss
def cross_entropy(size: str, dtype: np.dtype, rng: np.random.Generator) -> Case:
    """softmax cross-entropy, 4096 examples × 1000 classes, loss and gradient."""
    N, K = (4096, 1000) if size == "full" else (4, 5)
    logits = (3 * rng.standard_normal((N, K))).astype(dtype)
    target = rng.integers(0, K, N)
    lt, tt = _leaf(logits), torch.from_numpy(target)

    def numpy_step():
        return (np_losses.cross_entropy(logits, target),
                np_losses.cross_entropy_grad(logits, target))

    def torch_step():
        _zero_grads(lt)
        loss = F.cross_entropy(lt, tt)
        loss.backward()
        return loss, lt.grad

    return Case(f"cross_entropy {N}x{K} fwd+bwd", numpy_step, torch_step, None, 1.0)


# ------------------------------------------------------------------ autodiff
def mlp_step(size: str, dtype: np.dtype, rng: np.random.Generator) -> Case | None:
    """One SGD step of a 64-128-10 ReLU MLP on 1000 examples: chapter 03's tensor
    engine against torch autograd. The engine computes in float64 only."""
    if dtype != np.float64:
        return None
    N, D, Hd, K = (1000, 64, 128, 10) if size == "full" else (6, 4, 5, 3)
    X = rng.standard_normal((N, D))
    y = rng.integers(0, K, N)
    shapes = [(Hd, D), (Hd,), (K, Hd), (K,)]
    init = [rng.standard_normal(s) / np.sqrt(s[-1]) for s in shapes]
    lr = 0.1
    ours = [rev.Tensor(p.copy(), requires_grad=True) for p in init]
    theirs = [_leaf(p) for p in init]
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def numpy_step():
        W1, b1, W2, b2 = ours
        hidden = (rev.Tensor(X) @ W1.T + b1).relu()
        loss = rev.softmax_cross_entropy(hidden @ W2.T + b2, y)
        loss.backward()
        grads = [p.grad for p in ours]
        for p in ours:                              # SGD, then zero_grad
            p.data -= lr * p.grad
            p.grad = None
        return loss.data, grads

    def torch_step():
        W1, b1, W2, b2 = theirs
        loss = F.cross_entropy(F.linear(F.relu(F.linear(Xt, W1, b1)), W2, b2), yt)
        loss.backward()
        grads = [p.grad for p in theirs]
        with torch.no_grad():
            for p in theirs:
                p -= lr * p.grad
                p.grad = None
        return loss, grads

    flops = 3 * 2 * N * (D * Hd + Hd * K)
    return Case(f"autodiff MLP {D}-{Hd}-{K} step", numpy_step, torch_step, flops, 2.0,
                "chapter 03's Tensor engine (float64 only) vs torch autograd")


#: The cases of the table, in order.
CASES: dict[str, Callable[..., Case | None]] = {
    "conv2d": conv2d,
    "max_pool2d": max_pool2d,
    "avg_pool2d": avg_pool2d,
    "lstm": lstm,
    "lstm_no_onednn": lstm_no_onednn,
    "gru": gru,
    "cross_entropy": cross_entropy,
    "mlp_step": mlp_step,
}
