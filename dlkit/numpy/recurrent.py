r"""Recurrent layers: RNN, LSTM and GRU cells, whole sequences and BPTT (chapter 06).

PyTorch's conventions, so that ``torch.nn`` with the same weights gives the same
numbers: weights ``w_ih`` (G·H, D) and ``w_hh`` (G·H, H), biases ``b_ih``, ``b_hh``
(G·H,), the G gate blocks stacked along the first axis like ``weight_ih_l0``:
G = 1 for the RNN (tanh), 4 for the LSTM (blocks i, f, g, o), 3 for the GRU (r, z, n).
A cell takes one step of a batch, x (N, D) and h (N, H); a sequence is time-major,
x (T, N, D), like torch's default ``batch_first=False``. With :math:`\sigma` the
logistic sigmoid and :math:`\odot` the elementwise product (rows are examples, so
weights act as :math:`x W^\top`):

.. math::
   \text{RNN:}\quad h' &= \tanh(x W_{ih}^\top + b_{ih} + h W_{hh}^\top + b_{hh})\\
   \text{LSTM:}\quad (i, f, g, o) &= (\sigma, \sigma, \tanh, \sigma)(x W_{ih}^\top
       + b_{ih} + h W_{hh}^\top + b_{hh}),\quad c' = f \odot c + i \odot g,\quad
       h' = o \odot \tanh c'\\
   \text{GRU:}\quad (r, z) &= \sigma(x W_{i\{r,z\}}^\top + b_{i\{r,z\}}
       + h W_{h\{r,z\}}^\top + b_{h\{r,z\}}),\\
   n &= \tanh(x W_{in}^\top + b_{in} + r \odot (h W_{hn}^\top + b_{hn})),\quad
       h' = (1 - z) \odot n + z \odot h

The GRU is PyTorch's variant (Cho et al. 2014 with the reset gate applied after
:math:`W_{hn}`; :math:`z` weighs the *old* state, the mirror image of the
:math:`h' = (1-z) \odot h + z \odot n` some texts use).

Each cell is a forward/backward pair written as the equations read. The
whole-sequence functions compute the same numbers, organised for speed: the input
projections of all steps are one matrix product before the time loop, each step is
a handful of NumPy calls on preallocated buffers, and backpropagation through time
(BPTT) computes the local derivatives of all steps at once before its loop and the
weight gradients, summed over the steps, as one matrix product after it.
Twin: :mod:`dlkit.torch.recurrent`.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from .._checks import as_float_array, check_hyper
from .conv import _as_arrays

__all__ = [
    "rnn_cell_forward", "rnn_cell_backward",
    "lstm_cell_forward", "lstm_cell_backward",
    "gru_cell_forward", "gru_cell_backward",
    "rnn_forward", "rnn_backward",
    "lstm_forward", "lstm_backward",
    "gru_forward", "gru_backward",
    "clip_grad_norm", "sample_with_temperature",
]

#: The three layers: (gate blocks G, "a/an" name, the blocks, the torch.nn module).
_SPECS = {
    "rnn": (1, "an RNN", "", "RNN"),
    "lstm": (4, "an LSTM", "i, f, g, o", "LSTM"),
    "gru": (3, "a GRU", "r, z, n", "GRU"),
}
_NP_TRANSPOSE = "x.transpose(1, 0, 2)"


# ------------------------------------------------------------------ validation
# These helpers look only at shapes, so the torch twin uses them too.
def _shape(a: Any) -> tuple[int, ...]:
    return tuple(a.shape)


def _check_weights(fn: str, kind: str, D: int, H: int, weights: Sequence[Any],
                   h_from: str, x_from: str) -> None:
    """``w_ih`` (G*H, D), ``w_hh`` (G*H, H), ``b_ih`` and ``b_hh`` (G*H,)."""
    G, layer, blocks, module = _SPECS[kind]
    sym, num = ("H", f"{H}") if G == 1 else (f"{G}*H", f"{G}*{H}")
    order = (f"; gate order {blocks} like torch.nn.{module}" if blocks
             else f", like torch.nn.{module}")
    expected = {"w_ih": ((G * H, D), f"({sym}, D)", f"({num}, {D})"),
                "w_hh": ((G * H, H), f"({sym}, H)", f"({num}, {H})"),
                "b_ih": ((G * H,), f"({sym},)", f"({num},)"),
                "b_hh": ((G * H,), f"({sym},)", f"({num},)")}
    for name, w in zip(expected, weights):
        want, sym_shape, num_shape = expected[name]
        shape = _shape(w)
        if shape == want:
            continue
        eq = f"{sym_shape} = {num_shape}" + (f" = {want}" if G > 1 else "")
        sizes = f"hidden size H={H} (from {h_from})"
        if name.startswith("w_ih"):
            sizes += f" and input size D={D} (from {x_from})"
        msg = (f"{fn}: `{name}` has shape {shape}, expected {eq} for {layer} with "
               f"{sizes}{order}.")
        rows = shape[0] if shape else 0
        if len(want) == 2 and shape == want[::-1]:
            msg += (f" It looks transposed: dlkit stores weights as (out, in) like "
                    f"torch.nn; pass {name}.T.")
        elif rows and H and shape[1:] == want[1:] and rows % H == 0 \
                and rows // H in (1, 3, 4) and rows // H != G:
            other = next(k for k, s in _SPECS.items() if s[0] == rows // H)
            what = "rows" if len(want) == 2 else "entries"
            msg += (f" Its {rows} = {rows // H}*{H} {what} are those of "
                    f"{_SPECS[other][1]}: are these the parameters of another kind "
                    f"of layer?")
        elif rows and shape[1:] == want[1:] and rows % G == 0 and name != "w_hh":
            msg += (f" It fits hidden size {rows // G}: the state and the weights "
                    f"disagree; the state must be (N, {rows // G}).")
        raise ValueError(msg)


def _state_hint(name: str, shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return f" For one example add a batch axis: {name}[None]."
    if len(shape) == 3 and shape[0] == 1:
        return (f" torch.nn's RNN modules keep states as (num_layers, N, H); for one "
                f"layer drop that axis: {name}[0].")
    return ""


def _check_cell(fn: str, kind: str, x: Any, h: Any, c: Any, weights: Sequence[Any]
                ) -> tuple[int, int, int]:
    """x (N, D), h and c (N, H), then the weights. Returns (N, D, H)."""
    xs = _shape(x)
    if len(xs) != 2:
        hint = {1: " For one example add a batch axis: x[None].",
                3: f" A cell takes one time step; for a whole sequence (T, N, D) use "
                   f"{kind}_forward."}.get(len(xs), "")
        raise ValueError(f"{fn}: `x` has shape {xs}, expected 2 dimensions (N, D), "
                         f"one row per example.{hint}")
    N, D = xs
    for name, s in (("h", h), ("c", c)):
        if s is None:
            continue
        ss = _shape(s)
        if len(ss) != 2 or ss[0] != N or (name == "c" and ss != _shape(h)):
            what = (f"the shape of h, {_shape(h)}" if name == "c" and len(ss) == 2
                    and ss[0] == N else f"(N, H) with N={N} (from x.shape[0])")
            raise ValueError(f"{fn}: `{name}` has shape {ss}, expected {what}: one "
                             f"state per example.{_state_hint(name, ss)}")
    H = _shape(h)[1]
    _check_weights(fn, kind, D, H, weights, "h.shape[1]", "x.shape[1]")
    return N, D, H


def _check_sequence(fn: str, kind: str, x: Any, h0: Any, c0: Any,
                    weights: Sequence[Any], transpose: str
                    ) -> tuple[int, int, int, int]:
    """x (T, N, D), h0 and c0 (N, H), then the weights. Returns (T, N, D, H)."""
    module = _SPECS[kind][3]
    xs = _shape(x)
    if len(xs) != 3:
        hint = (" For one sequence of shape (T, D) add a batch axis: x[:, None]."
                if len(xs) == 2 else "")
        raise ValueError(
            f"{fn}: `x` has shape {xs}, expected 3 dimensions (T, N, D), time first "
            f"like torch.nn.{module}'s default (batch_first=False).{hint}")
    T, N, D = xs
    if T == 0:
        raise ValueError(f"{fn}: `x` has shape {xs}: no time steps (T = 0).")
    for name, s in (("h0", h0), ("c0", c0)):
        if s is None:
            continue
        ss = _shape(s)
        if len(ss) == 2 and ss[0] != N and ss[0] == T:
            raise ValueError(
                f"{fn}: `x` has shape {xs}, read as (T, N, D) = ({T}, {N}, {D}), but "
                f"`{name}` has {ss[0]} rows, the size of x.shape[0]: x looks "
                f"batch-first, (N, T, D). dlkit's sequences are time-major like "
                f"torch.nn.{module}'s default; transpose with {transpose}.")
        if len(ss) != 2 or ss[0] != N or (name == "c0" and ss != _shape(h0)):
            what = (f"the shape of h0, {_shape(h0)}" if name == "c0" and len(ss) == 2
                    and ss[0] == N else f"(N, H) with N={N} (from x.shape[1])")
            raise ValueError(f"{fn}: `{name}` has shape {ss}, expected {what}: one "
                             f"initial state per sequence.{_state_hint(name, ss)}")
    H = _shape(h0)[1]
    _check_weights(fn, kind, D, H, weights, "h0.shape[1]", "x.shape[2]")
    return T, N, D, H


def _check_grad(fn: str, name: str, g: Any, shape: tuple[int, ...], of: str,
                hint: str = "") -> None:
    if _shape(g) != tuple(shape):
        raise ValueError(
            f"{fn}: `{name}` has shape {_shape(g)}, expected {tuple(shape)}, the shape "
            f"of {of}: it holds the gradient of the loss with respect to {of}.{hint}")


def _check_cache(fn: str, cache: Any, kind: type, forward: str) -> None:
    if not isinstance(cache, kind):
        raise TypeError(f"{fn}: `cache` must be the cache that {forward} returned "
                        f"({kind.__name__}), got {type(cache).__name__}.")


def _last_state_hint(fn: str, name: str, extra: str = "") -> str:
    return (f" If the loss uses only the last state, pass zeros for the other steps "
            f"and its gradient in {name}[-1]{extra}.")


def _grad(fn: str, name: str, g: Any, dtype: np.dtype) -> np.ndarray:
    """``g`` as an array in the dtype of the forward pass."""
    return as_float_array(fn, name, g).astype(dtype, copy=False)


# ------------------------------------------------------------------ caches
class RNNCellCache(NamedTuple):
    x: np.ndarray
    h: np.ndarray
    w_ih: np.ndarray
    w_hh: np.ndarray
    h_next: np.ndarray


class LSTMCellCache(NamedTuple):
    x: np.ndarray
    h: np.ndarray
    c: np.ndarray
    w_ih: np.ndarray
    w_hh: np.ndarray
    gates: np.ndarray       # (N, 4H): i, f, g, o after their activations
    tanh_c: np.ndarray      # tanh(c_next)


class GRUCellCache(NamedTuple):
    x: np.ndarray
    h: np.ndarray
    w_ih: np.ndarray
    w_hh: np.ndarray
    gates: np.ndarray       # (N, 3H): r, z, n after their activations
    gh_n: np.ndarray        # h W_hn^T + b_hn, which r multiplies


class RNNCache(NamedTuple):
    x: np.ndarray
    w_ih: np.ndarray
    w_hh: np.ndarray
    hs: np.ndarray          # (T+1, N, H): h_0 then every state


class LSTMCache(NamedTuple):
    x: np.ndarray
    w_ih: np.ndarray
    w_hh: np.ndarray
    gates: np.ndarray       # (T, N, 4H): i, f, g, o of every step
    hs: np.ndarray          # (T+1, N, H): h_0, ..., h_T
    cs: np.ndarray          # (T+1, N, H): c_0, ..., c_T


class GRUCache(NamedTuple):
    x: np.ndarray
    w_ih: np.ndarray
    w_hh: np.ndarray
    gates: np.ndarray       # (T, N, 3H): r, z, n of every step
    hs: np.ndarray          # (T+1, N, H): h_0, ..., h_T
    gh_n: np.ndarray        # (T, N, H): h_{t-1} W_hn^T + b_hn


# ------------------------------------------------------------------ helpers
def _sigmoid(a: np.ndarray) -> np.ndarray:
    r""":math:`\sigma(a) = (1 + \tanh(a/2))/2`: equal to :math:`1/(1 + e^{-a})`, but
    tanh never overflows (:math:`e^{-a}` does for a < -709 in float64) and it is one
    transcendental call. The absolute error stays below the rounding error of 1, so
    values far below it (:math:`\sigma(-40) \approx 4 \cdot 10^{-18}`) come out as 0."""
    return 0.5 * np.tanh(0.5 * a) + 0.5


def _through_weights(dgi: np.ndarray, dgh: np.ndarray, x: np.ndarray, h: np.ndarray,
                     w_ih: np.ndarray, w_hh: np.ndarray) -> tuple[np.ndarray, ...]:
    r"""Backward of :math:`g_i = x W_{ih}^\top + b_{ih}` and :math:`g_h = h W_{hh}^\top
    + b_{hh}`: return ``(dx, dh, dw_ih, dw_hh, db_ih, db_hh)``. Written with operators
    that arrays and tensors share, so the torch twin uses it too."""
    return (dgi @ w_ih,          # (N, G*H) @ (G*H, D)
            dgh @ w_hh,          # (N, G*H) @ (G*H, H)
            dgi.T @ x,           # (G*H, N) @ (N, D)
            dgh.T @ h,           # (G*H, N) @ (N, H)
            dgi.sum(0), dgh.sum(0))


def _flat(a: np.ndarray) -> np.ndarray:
    """(T, N, K) -> (T*N, K): all steps as one batch, for one matrix product."""
    return a.reshape(-1, a.shape[-1])


# ------------------------------------------------------------------ cells
def rnn_cell_forward(x: np.ndarray, h: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                     b_ih: np.ndarray, b_hh: np.ndarray
                     ) -> tuple[np.ndarray, RNNCellCache]:
    r"""One RNN step, :math:`h' = \tanh(x W_{ih}^\top + b_{ih} + h W_{hh}^\top
    + b_{hh})`.

    Shapes: x (N, D), h (N, H), w_ih (H, D), w_hh (H, H), b_ih, b_hh (H,) ->
    h_next (N, H). Equals ``torch.nn.RNNCell`` (tanh). Twin:
    dlkit.torch.recurrent.rnn_cell_forward. Chapter 06, §The recurrent cell.
    """
    fn = "rnn_cell_forward"
    x, h, w_ih, w_hh, b_ih, b_hh = _as_arrays(fn, x=x, h=h, w_ih=w_ih, w_hh=w_hh,
                                              b_ih=b_ih, b_hh=b_hh)
    _check_cell(fn, "rnn", x, h, None, (w_ih, w_hh, b_ih, b_hh))
    h_next = np.tanh(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)    # (N, H)
    return h_next, RNNCellCache(x, h, w_ih, w_hh, h_next)


def rnn_cell_backward(dh_next: np.ndarray, cache: RNNCellCache
                      ) -> tuple[np.ndarray, ...]:
    r"""Return ``(dx, dh, dw_ih, dw_hh, db_ih, db_hh)`` of one RNN step.

    With :math:`da = dh' \odot (1 - h'^2)` (tanh' = 1 - tanh²): :math:`dx = da\,W_{ih}`,
    :math:`dh = da\,W_{hh}`, :math:`dW_{ih} = da^\top x`, :math:`dW_{hh} = da^\top h`,
    :math:`db_{ih} = db_{hh} = \sum_n da_n`. Shapes: dh_next (N, H) -> the shapes of
    (x, h, w_ih, w_hh, b_ih, b_hh). Twin: dlkit.torch.recurrent.rnn_cell_backward.
    """
    fn = "rnn_cell_backward"
    _check_cache(fn, cache, RNNCellCache, "rnn_cell_forward")
    x, h, w_ih, w_hh, h_next = cache
    dh_next = _grad(fn, "dh_next", dh_next, h_next.dtype)
    _check_grad(fn, "dh_next", dh_next, h_next.shape, "h_next")
    da = dh_next * (1.0 - h_next * h_next)                     # through the tanh
    return _through_weights(da, da, x, h, w_ih, w_hh)


def lstm_cell_forward(x: np.ndarray, h: np.ndarray, c: np.ndarray, w_ih: np.ndarray,
                      w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, LSTMCellCache]:
    r"""One LSTM step: gates :math:`i, f, o = \sigma(\cdot)`, candidate
    :math:`g = \tanh(\cdot)` of :math:`x W_{ih}^\top + b_{ih} + h W_{hh}^\top + b_{hh}`;
    cell state :math:`c' = f \odot c + i \odot g`, hidden state :math:`h' = o \odot
    \tanh c'`.

    Shapes: x (N, D), h, c (N, H), w_ih (4H, D), w_hh (4H, H), b_ih, b_hh (4H,), gate
    blocks i, f, g, o -> h_next, c_next (N, H). Equals ``torch.nn.LSTMCell``. Twin:
    dlkit.torch.recurrent.lstm_cell_forward. Chapter 06, §Gated cells: LSTM and GRU.
    """
    fn = "lstm_cell_forward"
    x, h, c, w_ih, w_hh, b_ih, b_hh = _as_arrays(fn, x=x, h=h, c=c, w_ih=w_ih,
                                                 w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)
    _check_cell(fn, "lstm", x, h, c, (w_ih, w_hh, b_ih, b_hh))
    H = h.shape[1]
    a = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh                  # (N, 4H)
    gates = np.concatenate([_sigmoid(a[:, :2 * H]),            # input, forget gates
                            np.tanh(a[:, 2 * H:3 * H]),        # candidate g
                            _sigmoid(a[:, 3 * H:])], axis=1)   # output gate
    i, f, g, o = np.split(gates, 4, axis=1)
    c_next = f * c + i * g                                     # forget some, add some
    tanh_c = np.tanh(c_next)
    h_next = o * tanh_c
    return h_next, c_next, LSTMCellCache(x, h, c, w_ih, w_hh, gates, tanh_c)


def lstm_cell_backward(dh_next: np.ndarray, dc_next: np.ndarray, cache: LSTMCellCache
                       ) -> tuple[np.ndarray, ...]:
    r"""Return ``(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh)`` of one LSTM step.

    :math:`dc' \mathrel{+}= dh' \odot o \odot (1 - \tanh^2 c')` (c' also reaches the
    loss through h'); then :math:`do = dh' \odot \tanh c'`, :math:`di = dc' \odot g`,
    :math:`df = dc' \odot c`, :math:`dg = dc' \odot i`, :math:`dc = dc' \odot f`, each
    gate times its activation's derivative, and the weights as in a linear layer.
    Shapes: dh_next, dc_next (N, H) -> the shapes of (x, h, c, w_ih, w_hh, b_ih,
    b_hh). Twin: dlkit.torch.recurrent.lstm_cell_backward.
    """
    fn = "lstm_cell_backward"
    _check_cache(fn, cache, LSTMCellCache, "lstm_cell_forward")
    x, h, c, w_ih, w_hh, gates, tanh_c = cache
    dh_next = _grad(fn, "dh_next", dh_next, c.dtype)
    dc_next = _grad(fn, "dc_next", dc_next, c.dtype)
    _check_grad(fn, "dh_next", dh_next, c.shape, "h_next")
    _check_grad(fn, "dc_next", dc_next, c.shape, "c_next")
    i, f, g, o = np.split(gates, 4, axis=1)
    dc_total = dc_next + dh_next * o * (1.0 - tanh_c * tanh_c)
    da = np.concatenate([dc_total * g * i * (1.0 - i),         # σ' = σ(1 - σ)
                         dc_total * c * f * (1.0 - f),
                         dc_total * i * (1.0 - g * g),         # tanh' = 1 - tanh²
                         dh_next * tanh_c * o * (1.0 - o)], axis=1)
    dx, dh, dw_ih, dw_hh, db_ih, db_hh = _through_weights(da, da, x, h, w_ih, w_hh)
    return dx, dh, dc_total * f, dw_ih, dw_hh, db_ih, db_hh


def gru_cell_forward(x: np.ndarray, h: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                     b_ih: np.ndarray, b_hh: np.ndarray
                     ) -> tuple[np.ndarray, GRUCellCache]:
    r"""One GRU step (PyTorch's variant): :math:`r, z = \sigma(\cdot)`,
    :math:`n = \tanh(x W_{in}^\top + b_{in} + r \odot (h W_{hn}^\top + b_{hn}))`,
    :math:`h' = (1 - z) \odot n + z \odot h`.

    Shapes: x (N, D), h (N, H), w_ih (3H, D), w_hh (3H, H), b_ih, b_hh (3H,), gate
    blocks r, z, n -> h_next (N, H). Equals ``torch.nn.GRUCell``. Twin:
    dlkit.torch.recurrent.gru_cell_forward. Chapter 06, §Gated cells: LSTM and GRU.
    """
    fn = "gru_cell_forward"
    x, h, w_ih, w_hh, b_ih, b_hh = _as_arrays(fn, x=x, h=h, w_ih=w_ih, w_hh=w_hh,
                                              b_ih=b_ih, b_hh=b_hh)
    _check_cell(fn, "gru", x, h, None, (w_ih, w_hh, b_ih, b_hh))
    H = h.shape[1]
    gi = x @ w_ih.T + b_ih                                     # (N, 3H)
    gh = h @ w_hh.T + b_hh                                     # (N, 3H)
    rz = _sigmoid(gi[:, :2 * H] + gh[:, :2 * H])               # reset, update gates
    r, z = rz[:, :H], rz[:, H:]
    gh_n = gh[:, 2 * H:]
    n = np.tanh(gi[:, 2 * H:] + r * gh_n)                      # candidate state
    h_next = n + z * (h - n)                                   # = (1 - z) n + z h
    gates = np.concatenate([rz, n], axis=1)
    return h_next, GRUCellCache(x, h, w_ih, w_hh, gates, gh_n)


def gru_cell_backward(dh_next: np.ndarray, cache: GRUCellCache
                      ) -> tuple[np.ndarray, ...]:
    r"""Return ``(dx, dh, dw_ih, dw_hh, db_ih, db_hh)`` of one GRU step.

    :math:`dn = dh' \odot (1 - z)`, :math:`dz = dh' \odot (h - n)`, and h also reaches
    h' directly, :math:`dh \mathrel{+}= dh' \odot z`. Through the tanh,
    :math:`da_n = dn \odot (1 - n^2)`; :math:`r` multiplies :math:`h W_{hn}^\top +
    b_{hn}`, so :math:`dr = da_n \odot (h W_{hn}^\top + b_{hn})` and the hidden-side n
    block gets :math:`da_n \odot r`. Shapes: dh_next (N, H) -> the shapes of (x, h,
    w_ih, w_hh, b_ih, b_hh). Twin: dlkit.torch.recurrent.gru_cell_backward.
    """
    fn = "gru_cell_backward"
    _check_cache(fn, cache, GRUCellCache, "gru_cell_forward")
    x, h, w_ih, w_hh, gates, gh_n = cache
    dh_next = _grad(fn, "dh_next", dh_next, h.dtype)
    _check_grad(fn, "dh_next", dh_next, h.shape, "h_next")
    r, z, n = np.split(gates, 3, axis=1)
    da_n = dh_next * (1.0 - z) * (1.0 - n * n)
    da_r = da_n * gh_n * r * (1.0 - r)
    da_z = dh_next * (h - n) * z * (1.0 - z)
    dgi = np.concatenate([da_r, da_z, da_n], axis=1)          # w.r.t. x W_ih^T + b_ih
    dgh = np.concatenate([da_r, da_z, da_n * r], axis=1)      # w.r.t. h W_hh^T + b_hh
    dx, dh, dw_ih, dw_hh, db_ih, db_hh = _through_weights(dgi, dgh, x, h, w_ih, w_hh)
    return dx, dh + dh_next * z, dw_ih, dw_hh, db_ih, db_hh


# ------------------------------------------------------------------ sequences
# The tricks of the sequence functions, each commented where it is used:
# 1. The input projections x_t W_ih^T do not depend on the recurrence: for all T steps
#    they are ONE (T*N, D) @ (D, G*H) product, which BLAS runs far faster than T small
#    ones. Only h_{t-1} W_hh^T, which needs the previous step, stays in the loop.
# 2. σ(a) = (1 + tanh(a/2))/2. Halving the rows of the sigmoid gates in the weights
#    and biases (exact: a power of 2) makes one tanh call give every gate of a step,
#    followed by one scale and one shift: 3 calls instead of 6 or more.
# 3. In BPTT the local derivatives (σ' = σ(1 - σ), 1 - tanh², the products with the
#    other factors) do not depend on the upstream gradient: they are computed for all
#    steps at once before the loop, which then does a few products per step.
# 4. The weights are shared by all steps, so dW = sum_t da_t^T x_t: one matrix
#    product over the stacked da of all steps after the loop, not T small ones.
# 5. Per-step results go into preallocated (T, N, ·) buffers with out=, so the loop
#    allocates nothing, and the states returned are views of those buffers, not copies.

def rnn_forward(x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                b_ih: np.ndarray, b_hh: np.ndarray) -> tuple[np.ndarray, RNNCache]:
    r"""A whole sequence through an RNN: :math:`h_t = \tanh(x_t W_{ih}^\top + b_{ih}
    + h_{t-1} W_{hh}^\top + b_{hh})` for t = 1..T.

    Shapes: x (T, N, D) (time first), h0 (N, H), w_ih (H, D), w_hh (H, H), b_ih,
    b_hh (H,) -> hs (T, N, H), every hidden state (the last one is h_T); hs shares
    memory with the cache, so do not modify it in place before the backward pass.
    Equals the output of a one-layer ``torch.nn.RNN`` (tanh). Twin:
    dlkit.torch.recurrent.rnn_forward. Chapter 06, §The recurrent cell.
    """
    fn = "rnn_forward"
    x, h0, w_ih, w_hh, b_ih, b_hh = _as_arrays(fn, x=x, h0=h0, w_ih=w_ih, w_hh=w_hh,
                                               b_ih=b_ih, b_hh=b_hh)
    T, N, D, H = _check_sequence(fn, "rnn", x, h0, None, (w_ih, w_hh, b_ih, b_hh),
                                 _NP_TRANSPOSE)
    hs = np.empty((T + 1, N, H), dtype=x.dtype)               # h_0, h_1, ..., h_T
    hs[0] = h0
    np.matmul(_flat(x), w_ih.T, out=_flat(hs[1:]))             # trick 1: all steps
    hs[1:] += b_ih + b_hh
    rec = np.empty((N, H), dtype=x.dtype)
    w_hh_t = np.ascontiguousarray(w_hh.T)
    for t in range(T):
        np.matmul(hs[t], w_hh_t, out=rec)                      # (N, H) @ (H, H)
        hs[t + 1] += rec
        np.tanh(hs[t + 1], out=hs[t + 1])
    return hs[1:], RNNCache(x, w_ih, w_hh, hs)


def rnn_backward(dhs: np.ndarray, cache: RNNCache) -> tuple[np.ndarray, ...]:
    r"""Backpropagation through time: return ``(dx, dh0, dw_ih, dw_hh, db_ih, db_hh)``.

    Backwards from t = T, with :math:`da_{T+1} = 0`:
    :math:`da_t = (dhs_t + da_{t+1} W_{hh}) \odot (1 - h_t^2)`; the weights are shared
    by the steps, so their gradients are sums, :math:`dW_{hh} = \sum_t da_t^\top
    h_{t-1}`, :math:`dW_{ih} = \sum_t da_t^\top x_t`, :math:`db = \sum_{t,n} da_t`.
    ``dhs[t]`` is the gradient that reaches state t from outside the recurrence (the
    output layer of step t). Shapes: dhs (T, N, H) -> the shapes of (x, h0, w_ih,
    w_hh, b_ih, b_hh). Twin: dlkit.torch.recurrent.rnn_backward. Chapter 06,
    §Backpropagation through time.
    """
    fn = "rnn_backward"
    _check_cache(fn, cache, RNNCache, "rnn_forward")
    x, w_ih, w_hh, hs = cache
    T, N, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    dhs = _grad(fn, "dhs", dhs, hs.dtype)
    _check_grad(fn, "dhs", dhs, (T, N, H), "hs", _last_state_hint(fn, "dhs"))
    da = np.multiply(hs[1:], hs[1:])                           # trick 3: 1 - h_t²
    np.subtract(1.0, da, out=da)
    dh = np.zeros((N, H), dtype=hs.dtype)                      # from step t+1
    for t in range(T - 1, -1, -1):
        dh += dhs[t]                                           # dL/dh_t, both routes
        da[t] *= dh                                            # through the tanh
        np.matmul(da[t], w_hh, out=dh)                         # (N, H) @ (H, H)
    da2 = _flat(da)                                            # trick 4
    db = da2.sum(axis=0)
    return ((da2 @ w_ih).reshape(x.shape), dh, da2.T @ _flat(x),
            da2.T @ _flat(hs[:-1]), db, db.copy())


def lstm_forward(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, w_ih: np.ndarray,
                 w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray
                 ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], LSTMCache]:
    r"""A whole sequence through an LSTM: ``lstm_cell_forward`` at t = 1..T.

    :math:`c_t = f_t \odot c_{t-1} + i_t \odot g_t`, :math:`h_t = o_t \odot \tanh c_t`.
    Returns ``(hs, (h_T, c_T), cache)``; they share memory with the cache, so do not
    modify them in place before the backward pass. Shapes: x (T, N, D) (time first),
    h0, c0 (N, H), w_ih (4H, D), w_hh (4H, H), b_ih, b_hh (4H,), gate blocks i, f, g,
    o -> hs (T, N, H), h_T, c_T (N, H). Equals ``output, (h_n, c_n)`` of a one-layer
    ``torch.nn.LSTM``. Twin: dlkit.torch.recurrent.lstm_forward. Chapter 06,
    §Gated cells: LSTM and GRU.
    """
    fn = "lstm_forward"
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _as_arrays(
        fn, x=x, h0=h0, c0=c0, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)
    T, N, D, H = _check_sequence(fn, "lstm", x, h0, c0, (w_ih, w_hh, b_ih, b_hh),
                                 _NP_TRANSPOSE)
    dt = x.dtype
    # Trick 2: act = scale * tanh(scale * a) + shift gives σ(a) for i, f, o (scale =
    # shift = 1/2) and tanh(a) for g (scale 1, shift 0). The inner scale goes into
    # the weights.
    scale = np.repeat(np.array([0.5, 0.5, 1.0, 0.5], dtype=dt), H)       # (4H,)
    shift = np.repeat(np.array([0.5, 0.5, 0.0, 0.5], dtype=dt), H)
    gates = _flat(x) @ (w_ih * scale[:, None]).T                # trick 1: (T*N, 4H)
    gates += (b_ih + b_hh) * scale
    gates = gates.reshape(T, N, 4 * H)
    w_hh_t = np.ascontiguousarray((w_hh * scale[:, None]).T)    # (H, 4H)
    hs = np.empty((T + 1, N, H), dtype=dt)
    cs = np.empty((T + 1, N, H), dtype=dt)
    hs[0], cs[0] = h0, c0
    rec = np.empty((N, 4 * H), dtype=dt)
    ig, tanh_c = np.empty((N, H), dtype=dt), np.empty((N, H), dtype=dt)
    for t in range(T):
        a = gates[t]                                            # (N, 4H), a view
        np.matmul(hs[t], w_hh_t, out=rec)                       # (N, H) @ (H, 4H)
        a += rec
        np.tanh(a, out=a)
        a *= scale
        a += shift                                              # now i, f, g, o
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        np.multiply(f, cs[t], out=cs[t + 1])                    # c_t = f c_{t-1} + i g
        np.multiply(i, g, out=ig)
        cs[t + 1] += ig
        np.tanh(cs[t + 1], out=tanh_c)
        np.multiply(o, tanh_c, out=hs[t + 1])                   # h_t = o tanh(c_t)
    return hs[1:], (hs[T], cs[T]), LSTMCache(x, w_ih, w_hh, gates, hs, cs)


def lstm_backward(dhs: np.ndarray, cache: LSTMCache, *, dh_T: np.ndarray | None = None,
                  dc_T: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    r"""BPTT through an LSTM: return ``(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh)``.

    Backwards from t = T: :math:`dh_t = dhs_t + da_{t+1} W_{hh}`, :math:`dc_t =
    dc_{t+1} \odot f_{t+1} + dh_t \odot o_t \odot (1 - \tanh^2 c_t)`, then the gates
    as in ``lstm_cell_backward``; the weight gradients are summed over the steps.
    ``dh_T`` and ``dc_T`` (default 0) are the gradients of the returned final state,
    beyond what ``dhs[-1]`` holds. Shapes: dhs (T, N, H), dh_T, dc_T (N, H) -> the
    shapes of (x, h0, c0, w_ih, w_hh, b_ih, b_hh). Twin:
    dlkit.torch.recurrent.lstm_backward. Chapter 06, §Gated cells: LSTM and GRU.
    """
    fn = "lstm_backward"
    _check_cache(fn, cache, LSTMCache, "lstm_forward")
    x, w_ih, w_hh, gates, hs, cs = cache
    T, N, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    dt = hs.dtype
    dhs = _grad(fn, "dhs", dhs, dt)
    _check_grad(fn, "dhs", dhs, (T, N, H), "hs",
                _last_state_hint(fn, "dhs", ", or zeros for dhs and it as dh_T"))
    dh, dc = (np.zeros((N, H), dtype=dt) if g is None else
              np.array(_grad(fn, name, g, dt), copy=True)       # updated in place
              for name, g in (("dh_T", dh_T), ("dc_T", dc_T)))
    for name, g in (("dh_T", dh), ("dc_T", dc)):
        _check_grad(fn, name, g, (N, H), name[1:])
    g4 = gates.reshape(T, N, 4, H)
    i, f, g, o = g4[:, :, 0], g4[:, :, 1], g4[:, :, 2], g4[:, :, 3]
    # Trick 3: k holds, for every step, what da_gate is once multiplied by dc_t (i, f,
    # g) or dh_t (o): da_i = dc g σ'(i), da_f = dc c_{t-1} σ'(f), da_g = dc i (1 - g²),
    # da_o = dh tanh(c_t) σ'(o). The loop turns k into da in place.
    k = np.subtract(1.0, gates)
    k *= gates                                                  # σ(1 - σ), all blocks
    k4 = k.reshape(T, N, 4, H)
    k4[:, :, 0] *= g
    k4[:, :, 1] *= cs[:-1]
    np.multiply(g, g, out=k4[:, :, 2])
    np.subtract(1.0, k4[:, :, 2], out=k4[:, :, 2])              # the g block: 1 - g²
    k4[:, :, 2] *= i
    dc_dh = np.tanh(cs[1:])                                     # tanh(c_t), recomputed
    k4[:, :, 3] *= dc_dh                                        # (cheaper than stored)
    dc_dh *= dc_dh                                              # c_t reaches h_t:
    np.subtract(1.0, dc_dh, out=dc_dh)                          # dh_t o (1 - tanh² c_t)
    dc_dh *= o
    dh_t, dc_t = np.empty((N, H), dtype=dt), np.empty((N, H), dtype=dt)
    for t in range(T - 1, -1, -1):
        np.add(dhs[t], dh, out=dh_t)                            # dL/dh_t, both routes
        np.multiply(dh_t, dc_dh[t], out=dc_t)
        dc_t += dc                                              # dL/dc_t, both routes
        k4[t, :, :3] *= dc_t[:, None, :]                        # da_i, da_f, da_g
        k4[t, :, 3] *= dh_t                                     # da_o
        np.multiply(dc_t, f[t], out=dc)                         # dL/dc_{t-1}
        np.matmul(k[t], w_hh, out=dh)                           # (N, 4H) @ (4H, H)
    da = _flat(k)                                               # trick 4: (T*N, 4H)
    db = da.sum(axis=0)
    return ((da @ w_ih).reshape(x.shape), dh, dc, da.T @ _flat(x),
            da.T @ _flat(hs[:-1]), db, db.copy())


def gru_forward(x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                b_ih: np.ndarray, b_hh: np.ndarray) -> tuple[np.ndarray, GRUCache]:
    r"""A whole sequence through a GRU: ``gru_cell_forward`` at t = 1..T,
    :math:`h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}`.

    Shapes: x (T, N, D) (time first), h0 (N, H), w_ih (3H, D), w_hh (3H, H), b_ih,
    b_hh (3H,), gate blocks r, z, n -> hs (T, N, H), every hidden state (the last
    one is h_T); hs shares memory with the cache, so do not modify it in place
    before the backward pass. Equals the output of a one-layer ``torch.nn.GRU``. Twin:
    dlkit.torch.recurrent.gru_forward. Chapter 06, §Gated cells: LSTM and GRU.
    """
    fn = "gru_forward"
    x, h0, w_ih, w_hh, b_ih, b_hh = _as_arrays(fn, x=x, h0=h0, w_ih=w_ih, w_hh=w_hh,
                                               b_ih=b_ih, b_hh=b_hh)
    T, N, D, H = _check_sequence(fn, "gru", x, h0, None, (w_ih, w_hh, b_ih, b_hh),
                                 _NP_TRANSPOSE)
    dt = x.dtype
    scale = np.repeat(np.array([0.5, 0.5, 1.0], dtype=dt), H)  # trick 2 for r, z
    bias = b_ih.copy()
    bias[:2 * H] += b_hh[:2 * H]        # b_hr, b_hz just add; b_hn sits inside r (...)
    gates = _flat(x) @ (w_ih * scale[:, None]).T               # trick 1: (T*N, 3H)
    gates += bias * scale
    gates = gates.reshape(T, N, 3 * H)
    w_hh_t = np.ascontiguousarray((w_hh * scale[:, None]).T)   # (H, 3H)
    b_hn = b_hh[2 * H:]
    hs = np.empty((T + 1, N, H), dtype=dt)
    hs[0] = h0
    gh_n = np.empty((T, N, H), dtype=dt)
    rec, tmp = np.empty((N, 3 * H), dtype=dt), np.empty((N, H), dtype=dt)
    for t in range(T):
        a = gates[t]                                           # (N, 3H), a view
        np.matmul(hs[t], w_hh_t, out=rec)                      # (N, H) @ (H, 3H)
        rz = a[:, :2 * H]
        rz += rec[:, :2 * H]
        np.tanh(rz, out=rz)
        rz *= 0.5
        rz += 0.5                                              # now r, z = σ(·)
        r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
        np.add(rec[:, 2 * H:], b_hn, out=gh_n[t])              # h W_hn^T + b_hn
        np.multiply(r, gh_n[t], out=tmp)
        n += tmp
        np.tanh(n, out=n)                                      # now n
        np.subtract(hs[t], n, out=tmp)
        tmp *= z
        np.add(n, tmp, out=hs[t + 1])                          # n + z (h - n)
    return hs[1:], GRUCache(x, w_ih, w_hh, gates, hs, gh_n)


def gru_backward(dhs: np.ndarray, cache: GRUCache) -> tuple[np.ndarray, ...]:
    r"""BPTT through a GRU: return ``(dx, dh0, dw_ih, dw_hh, db_ih, db_hh)``.

    Backwards from t = T: :math:`dh_t = dhs_t + dg_{h,t+1} W_{hh} + dh_{t+1} \odot
    z_{t+1}`, the gates as in ``gru_cell_backward``, the weight gradients summed over
    the steps. Shapes: dhs (T, N, H) -> the shapes of (x, h0, w_ih, w_hh, b_ih, b_hh).
    Twin: dlkit.torch.recurrent.gru_backward. Chapter 06, §Gated cells: LSTM and GRU.
    """
    fn = "gru_backward"
    _check_cache(fn, cache, GRUCache, "gru_forward")
    x, w_ih, w_hh, gates, hs, gh_n = cache
    T, N, H = gh_n.shape
    dt = hs.dtype
    dhs = _grad(fn, "dhs", dhs, dt)
    _check_grad(fn, "dhs", dhs, (T, N, H), "hs", _last_state_hint(fn, "dhs"))
    g3 = gates.reshape(T, N, 3, H)
    r, z, n = g3[:, :, 0], g3[:, :, 1], g3[:, :, 2]
    # Trick 3: every gradient of a step is dh_t times a factor known in advance:
    # da_n = dh (1 - z)(1 - n²) = dh k_n, da_r = dh k_n gh_n σ'(r),
    # da_z = dh (h_{t-1} - n) σ'(z), and the n block of h W_hh^T gets da_n r.
    k_n = np.subtract(1.0, z)
    tmp = np.multiply(n, n)
    np.subtract(1.0, tmp, out=tmp)
    k_n *= tmp
    k = np.empty((T, N, 3, H), dtype=dt)     # becomes dg_h = d(h W_hh^T + b_hh)
    np.subtract(1.0, g3[:, :, :2], out=k[:, :, :2])
    k[:, :, :2] *= g3[:, :, :2]                                # σ(1 - σ) of r, z
    k[:, :, 0] *= gh_n
    k[:, :, 0] *= k_n
    np.subtract(hs[:-1], n, out=tmp)
    k[:, :, 1] *= tmp
    np.multiply(k_n, r, out=k[:, :, 2])
    dh_all = np.empty((T, N, H), dtype=dt)                     # dL/dh_t of every step
    dh, zdh = np.zeros((N, H), dtype=dt), np.empty((N, H), dtype=dt)
    for t in range(T - 1, -1, -1):
        dh_t = dh_all[t]
        np.add(dhs[t], dh, out=dh_t)                           # both routes into h_t
        k[t] *= dh_t[:, None, :]                               # dg_h of step t
        np.matmul(k[t].reshape(N, 3 * H), w_hh, out=dh)        # (N, 3H) @ (3H, H)
        np.multiply(dh_t, z[t], out=zdh)                       # h_{t-1} -> h_t direct
        dh += zdh
    dgh = k.reshape(T * N, 3 * H)
    dw_hh = dgh.T @ _flat(hs[:-1])                             # trick 4
    db_hh = dgh.sum(axis=0)
    # d(x W_ih^T + b_ih) equals dg_h in the r and z blocks; its n block is da_n, which
    # lacks the factor r: overwrite that block in place (dg_h is not needed any more).
    np.multiply(dh_all, k_n, out=k[:, :, 2])
    dgi = dgh
    return ((dgi @ w_ih).reshape(x.shape), dh, dgi.T @ _flat(x), dw_hh,
            dgi.sum(axis=0), db_hh)


# ------------------------------------------------------------------ training helpers
def _check_grads_list(fn: str, grads: Any) -> None:
    if not isinstance(grads, (list, tuple)):
        raise TypeError(
            f"{fn}: `grads` must be a list of gradient arrays, got "
            f"{type(grads).__name__}; for a single array pass [g].")


def clip_grad_norm(grads: Sequence[np.ndarray], max_norm: float
                   ) -> tuple[list[np.ndarray], float]:
    r"""Scale gradients so that their global L2 norm is at most ``max_norm``.

    :math:`\|g\| = \sqrt{\sum_k \|g_k\|_2^2}` over all arrays; every array is
    multiplied by :math:`\min(1,\ max\_norm / (\|g\| + 10^{-6}))`, which keeps the
    direction of the update and bounds its size (against exploding gradients). Like
    ``torch.nn.utils.clip_grad_norm_`` (the same 1e-6; a NaN or inf norm gives NaN
    or zero gradients as there), but returning new arrays: ``(clipped_grads,
    total_norm)``, the norm before clipping as a float. Shapes: a list of arrays of
    any shapes -> a list of the same shapes. Twin:
    dlkit.torch.recurrent.clip_grad_norm. Chapter 06, §Gradient clipping.
    """
    fn = "clip_grad_norm"
    _check_grads_list(fn, grads)
    grads = [as_float_array(fn, f"grads[{k}]", g) for k, g in enumerate(grads)]
    max_norm = check_hyper(fn, "max_norm", max_norm, low=0.0, low_inclusive=False,
                           typical="1 to 5 for RNNs")
    # Norm of the per-array norms: BLAS's nrm2 scales as it sums, so squares of large
    # gradients do not overflow.
    norms = [np.linalg.norm(g.ravel()) for g in grads]
    total = float(np.linalg.norm(np.array(norms, dtype=np.float64)))
    coef = float(np.minimum(max_norm / (total + 1e-6), 1.0))  # NaN stays NaN
    return [g * coef for g in grads], total


def sample_with_temperature(logits: np.ndarray, temperature: float, *,
                            rng: np.random.Generator) -> int | np.ndarray:
    r"""Draw an index from :math:`\mathrm{softmax}(logits / T)`, one per row.

    :math:`p_k = e^{\ell_k/T} / \sum_j e^{\ell_j/T}`. T = 1 samples from the model's
    distribution; T < 1 sharpens it (as T → 0 it becomes the greedy argmax, ties
    shared); T > 1 flattens it towards uniform. Shapes: logits (K,) -> an int,
    logits (N, K) -> (N,) int64, one draw per row. ``rng`` is a
    ``np.random.Generator``: a fixed seed gives fixed samples. Twin:
    dlkit.torch.recurrent.sample_with_temperature (``generator``). Chapter 06,
    §Sampling with a temperature.
    """
    fn = "sample_with_temperature"
    logits = as_float_array(fn, "logits", logits)
    if logits.ndim not in (1, 2) or logits.shape[-1] == 0:
        raise ValueError(
            f"{fn}: `logits` has shape {logits.shape}, expected (K,) for one "
            f"distribution over K classes or (N, K) for N of them, K >= 1.")
    temperature = check_hyper(fn, "temperature", temperature, low=0.0,
                              low_inclusive=False,
                              typical="0.5 to 1.5; 1 samples the model's distribution")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{fn}: `rng` must be a np.random.Generator, e.g. "
                        f"np.random.default_rng(0), got {type(rng).__name__}.")
    rows = logits.reshape(-1, logits.shape[-1])                # (N, K)
    top = rows.max(axis=1, keepdims=True)                      # NaN if any is NaN
    if not np.isfinite(top).all():
        raise ValueError(
            f"{fn}: `logits` holds NaN or +inf, or a row that is all -inf; -inf is "
            f"fine for masked classes, but each row needs a finite maximum.")
    # Shift by the max *before* dividing by T: then every exponent is <= 0, so exp
    # cannot overflow however small T is, and the maxima get exp(0) = 1. (For a tiny
    # T the division may give -inf, whose exp is the 0 wanted.)
    with np.errstate(over="ignore"):
        e = np.exp((rows - top) / temperature)
    cdf = np.cumsum(e, axis=1)                                 # unnormalised
    # Inverse-CDF sampling: u uniform on [0, total), the index is the first k with
    # cdf_k > u, i.e. the number of cdf entries <= u.
    u = rng.random((rows.shape[0], 1)) * cdf[:, -1:]
    idx = np.minimum((cdf <= u).sum(axis=1), rows.shape[1] - 1)
    return int(idx[0]) if logits.ndim == 1 else idx.astype(np.int64)
