r"""PyTorch twins of :mod:`dlkit.numpy.recurrent`: RNN, LSTM and GRU (chapter 06).

Same names, arguments and return values as the NumPy reference, on tensors of any
device and floating dtype, with PyTorch's weight layout (``w_ih`` (G·H, D), ``w_hh``
(G·H, H), gate blocks i, f, g, o for the LSTM and r, z, n for the GRU), so that the
weights of ``torch.nn.RNN``/``LSTM``/``GRU`` and their cells can be passed in as they
are. The computations are those of the reference, written with tensor ops (no
``torch.nn`` inside): the input projections of all steps are one matrix product before
the time loop, BPTT computes the local derivatives of all steps at once and the weight
gradients, summed over the steps, as one matrix product after its loop. The loops
collect their steps in lists and stack them, so autograd can also differentiate the
forward functions. Each cell also comes as a ``torch.autograd.Function``
(``RNNCellFn``, ``LSTMCellFn``, ``GRUCellFn``), and each sequence as one (``RNNFn``,
``LSTMFn``, ``GRUFn``), whose backward is the hand-written one, so that it can be
checked against ``torch.autograd``.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from .._checks import check_hyper, check_tensor
# Validation and caches are shared with the NumPy reference: they look only at shapes.
from ..numpy.recurrent import (GRUCache, GRUCellCache, LSTMCache, LSTMCellCache,
                               RNNCache, RNNCellCache, _check_cache, _check_cell,
                               _check_grad, _check_grads_list, _check_sequence,
                               _last_state_hint, _through_weights)
from .layers import _same_place

__all__ = [
    "rnn_cell_forward", "rnn_cell_backward",
    "lstm_cell_forward", "lstm_cell_backward",
    "gru_cell_forward", "gru_cell_backward",
    "rnn_forward", "rnn_backward",
    "lstm_forward", "lstm_backward",
    "gru_forward", "gru_backward",
    "clip_grad_norm", "sample_with_temperature",
    "RNNCellFn", "LSTMCellFn", "GRUCellFn", "RNNFn", "LSTMFn", "GRUFn",
]

_PT_TRANSPOSE = "x.transpose(0, 1)"


# ------------------------------------------------------------------ validation
def _tensors(fn: str, **tensors: Any) -> None:
    """Every input a floating tensor with the dtype and device of the first one."""
    first, *others = tensors
    check_tensor(fn, first, tensors[first])
    _same_place(fn, first, tensors[first], **{k: tensors[k] for k in others})


def _grad(fn: str, name: str, g: Any, like: torch.Tensor, shape, of: str,
          hint: str = "") -> torch.Tensor:
    """``g`` must be a tensor of the forward pass's dtype and device, of ``shape``."""
    check_tensor(fn, name, g)
    if g.device != like.device or g.dtype != like.dtype:
        raise ValueError(
            f"{fn}: the forward pass ran in {like.dtype} on {like.device} but `{name}` "
            f"is {g.dtype} on {g.device}; convert with {name}.to(...) first.")
    _check_grad(fn, name, g, tuple(shape), of, hint)
    return g


# ------------------------------------------------------------------ cells
def rnn_cell_forward(x: torch.Tensor, h: torch.Tensor, w_ih: torch.Tensor,
                     w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor
                     ) -> tuple[torch.Tensor, RNNCellCache]:
    r""":math:`h' = \tanh(x W_{ih}^\top + b_{ih} + h W_{hh}^\top + b_{hh})`; equals
    ``torch.nn.RNNCell`` (tanh).

    Shapes: x (N, D), h (N, H), w_ih (H, D), w_hh (H, H), b_ih, b_hh (H,) ->
    h_next (N, H). Twin: dlkit.numpy.recurrent.rnn_cell_forward. Chapter 06,
    §The recurrent cell.
    """
    fn = "rnn_cell_forward"
    _tensors(fn, x=x, h=h, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)
    _check_cell(fn, "rnn", x, h, None, (w_ih, w_hh, b_ih, b_hh))
    h_next = torch.tanh(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)  # (N, H)
    return h_next, RNNCellCache(x, h, w_ih, w_hh, h_next)


def rnn_cell_backward(dh_next: torch.Tensor, cache: RNNCellCache
                      ) -> tuple[torch.Tensor, ...]:
    r"""Return ``(dx, dh, dw_ih, dw_hh, db_ih, db_hh)`` with :math:`da = dh' \odot
    (1 - h'^2)`. Twin: dlkit.numpy.recurrent.rnn_cell_backward."""
    fn = "rnn_cell_backward"
    _check_cache(fn, cache, RNNCellCache, "rnn_cell_forward")
    x, h, w_ih, w_hh, h_next = cache
    _grad(fn, "dh_next", dh_next, h_next, h_next.shape, "h_next")
    da = dh_next * (1 - h_next * h_next)                       # through the tanh
    return _through_weights(da, da, x, h, w_ih, w_hh)


def lstm_cell_forward(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                      w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                      b_hh: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor, LSTMCellCache]:
    r"""One LSTM step, :math:`c' = f \odot c + i \odot g`, :math:`h' = o \odot
    \tanh c'`; equals ``torch.nn.LSTMCell``.

    Shapes: x (N, D), h, c (N, H), w_ih (4H, D), w_hh (4H, H), b_ih, b_hh (4H,), gate
    blocks i, f, g, o -> h_next, c_next (N, H). Twin:
    dlkit.numpy.recurrent.lstm_cell_forward. Chapter 06, §Gated cells: LSTM and GRU.
    """
    fn = "lstm_cell_forward"
    _tensors(fn, x=x, h=h, c=c, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)
    _check_cell(fn, "lstm", x, h, c, (w_ih, w_hh, b_ih, b_hh))
    i, f, g, o = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=1)
    gates = torch.cat([torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g),
                       torch.sigmoid(o)], dim=1)                # (N, 4H)
    i, f, g, o = gates.chunk(4, dim=1)
    c_next = f * c + i * g                                     # forget some, add some
    tanh_c = torch.tanh(c_next)
    h_next = o * tanh_c
    return h_next, c_next, LSTMCellCache(x, h, c, w_ih, w_hh, gates, tanh_c)


def lstm_cell_backward(dh_next: torch.Tensor, dc_next: torch.Tensor,
                       cache: LSTMCellCache) -> tuple[torch.Tensor, ...]:
    r"""Return ``(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh)`` of one LSTM step. Twin:
    dlkit.numpy.recurrent.lstm_cell_backward."""
    fn = "lstm_cell_backward"
    _check_cache(fn, cache, LSTMCellCache, "lstm_cell_forward")
    x, h, c, w_ih, w_hh, gates, tanh_c = cache
    _grad(fn, "dh_next", dh_next, c, c.shape, "h_next")
    _grad(fn, "dc_next", dc_next, c, c.shape, "c_next")
    i, f, g, o = gates.chunk(4, dim=1)
    dc_total = dc_next + dh_next * o * (1 - tanh_c * tanh_c)  # c' also reaches h'
    da = torch.cat([dc_total * g * i * (1 - i),                # σ' = σ(1 - σ)
                    dc_total * c * f * (1 - f),
                    dc_total * i * (1 - g * g),                # tanh' = 1 - tanh²
                    dh_next * tanh_c * o * (1 - o)], dim=1)
    dx, dh, dw_ih, dw_hh, db_ih, db_hh = _through_weights(da, da, x, h, w_ih, w_hh)
    return dx, dh, dc_total * f, dw_ih, dw_hh, db_ih, db_hh


def gru_cell_forward(x: torch.Tensor, h: torch.Tensor, w_ih: torch.Tensor,
                     w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor
                     ) -> tuple[torch.Tensor, GRUCellCache]:
    r"""One GRU step, :math:`n = \tanh(x W_{in}^\top + b_{in} + r \odot (h W_{hn}^\top +
    b_{hn}))`, :math:`h' = (1 - z) \odot n + z \odot h`; equals ``torch.nn.GRUCell``.

    Shapes: x (N, D), h (N, H), w_ih (3H, D), w_hh (3H, H), b_ih, b_hh (3H,), gate
    blocks r, z, n -> h_next (N, H). Twin: dlkit.numpy.recurrent.gru_cell_forward.
    Chapter 06, §Gated cells: LSTM and GRU.
    """
    fn = "gru_cell_forward"
    _tensors(fn, x=x, h=h, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)
    _check_cell(fn, "gru", x, h, None, (w_ih, w_hh, b_ih, b_hh))
    gi_r, gi_z, gi_n = (x @ w_ih.T + b_ih).chunk(3, dim=1)    # (N, H) each
    gh_r, gh_z, gh_n = (h @ w_hh.T + b_hh).chunk(3, dim=1)
    r = torch.sigmoid(gi_r + gh_r)                             # reset gate
    z = torch.sigmoid(gi_z + gh_z)                             # update gate
    n = torch.tanh(gi_n + r * gh_n)                            # candidate state
    h_next = n + z * (h - n)                                   # = (1 - z) n + z h
    gates = torch.cat([r, z, n], dim=1)
    return h_next, GRUCellCache(x, h, w_ih, w_hh, gates, gh_n)


def gru_cell_backward(dh_next: torch.Tensor, cache: GRUCellCache
                      ) -> tuple[torch.Tensor, ...]:
    r"""Return ``(dx, dh, dw_ih, dw_hh, db_ih, db_hh)`` of one GRU step. Twin:
    dlkit.numpy.recurrent.gru_cell_backward."""
    fn = "gru_cell_backward"
    _check_cache(fn, cache, GRUCellCache, "gru_cell_forward")
    x, h, w_ih, w_hh, gates, gh_n = cache
    _grad(fn, "dh_next", dh_next, h, h.shape, "h_next")
    r, z, n = gates.chunk(3, dim=1)
    da_n = dh_next * (1 - z) * (1 - n * n)
    da_r = da_n * gh_n * r * (1 - r)
    da_z = dh_next * (h - n) * z * (1 - z)
    dgi = torch.cat([da_r, da_z, da_n], dim=1)                # w.r.t. x W_ih^T + b_ih
    dgh = torch.cat([da_r, da_z, da_n * r], dim=1)            # w.r.t. h W_hh^T + b_hh
    dx, dh, dw_ih, dw_hh, db_ih, db_hh = _through_weights(dgi, dgh, x, h, w_ih, w_hh)
    return dx, dh + dh_next * z, dw_ih, dw_hh, db_ih, db_hh


# ------------------------------------------------------------------ sequences
def _projections(x: torch.Tensor, w_ih: torch.Tensor, bias: torch.Tensor
                 ) -> torch.Tensor:
    """Trick 1 of the reference: x_t W_ih^T + bias for all steps in one product.

    Shapes: x (T, N, D), w_ih (G*H, D), bias (G*H,) -> (T, N, G*H).
    """
    T, N, D = x.shape
    return torch.addmm(bias, x.reshape(T * N, D), w_ih.T).reshape(T, N, -1)


def rnn_forward(x: torch.Tensor, h0: torch.Tensor, w_ih: torch.Tensor,
                w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor
                ) -> tuple[torch.Tensor, RNNCache]:
    r""":math:`h_t = \tanh(x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh})`,
    t = 1..T; ``hs`` equals the output of a one-layer ``torch.nn.RNN``.

    Shapes: x (T, N, D) (time first), h0 (N, H), w_ih (H, D), w_hh (H, H), b_ih,
    b_hh (H,) -> hs (T, N, H). Twin: dlkit.numpy.recurrent.rnn_forward. Chapter 06,
    §The recurrent cell.
    """
    fn = "rnn_forward"
    _tensors(fn, x=x, h0=h0, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)
    T, _, _, _ = _check_sequence(fn, "rnn", x, h0, None, (w_ih, w_hh, b_ih, b_hh),
                                 _PT_TRANSPOSE)
    xw = _projections(x, w_ih, b_ih + b_hh)                   # (T, N, H)
    hs = [h0]
    for t in range(T):
        hs.append(torch.tanh(torch.addmm(xw[t], hs[-1], w_hh.T)))
    hs = torch.stack(hs)                                       # (T+1, N, H)
    return hs[1:], RNNCache(x, w_ih, w_hh, hs)


def rnn_backward(dhs: torch.Tensor, cache: RNNCache) -> tuple[torch.Tensor, ...]:
    r"""BPTT: :math:`da_t = (dhs_t + da_{t+1} W_{hh}) \odot (1 - h_t^2)`, weight
    gradients summed over the steps. Returns ``(dx, dh0, dw_ih, dw_hh, db_ih,
    db_hh)``. Twin: dlkit.numpy.recurrent.rnn_backward."""
    fn = "rnn_backward"
    _check_cache(fn, cache, RNNCache, "rnn_forward")
    x, w_ih, w_hh, hs = cache
    T, N, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    _grad(fn, "dhs", dhs, hs, (T, N, H), "hs", _last_state_hint(fn, "dhs"))
    k = 1 - hs[1:] * hs[1:]                                    # tanh' of every step
    dh, da = torch.zeros_like(hs[0]), [None] * T
    for t in range(T - 1, -1, -1):
        da[t] = (dhs[t] + dh) * k[t]
        dh = da[t] @ w_hh                                      # (N, H) @ (H, H)
    da = torch.stack(da).reshape(T * N, H)                     # all steps at once
    db = da.sum(0)
    return ((da @ w_ih).reshape(x.shape), dh, da.T @ x.reshape(T * N, -1),
            da.T @ hs[:-1].reshape(T * N, H), db, db.clone())


def lstm_forward(x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor,
                 w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                 b_hh: torch.Tensor
                 ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor], LSTMCache]:
    r"""``lstm_cell_forward`` at t = 1..T; ``(hs, (h_T, c_T))`` equals ``output, (h_n,
    c_n)`` of a one-layer ``torch.nn.LSTM``.

    Shapes: x (T, N, D) (time first), h0, c0 (N, H), w_ih (4H, D), w_hh (4H, H),
    b_ih, b_hh (4H,), gate blocks i, f, g, o -> hs (T, N, H), h_T, c_T (N, H). Twin:
    dlkit.numpy.recurrent.lstm_forward. Chapter 06, §Gated cells: LSTM and GRU.
    """
    fn = "lstm_forward"
    _tensors(fn, x=x, h0=h0, c0=c0, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)
    T, _, _, _ = _check_sequence(fn, "lstm", x, h0, c0, (w_ih, w_hh, b_ih, b_hh),
                                 _PT_TRANSPOSE)
    xw = _projections(x, w_ih, b_ih + b_hh)                   # (T, N, 4H)
    h, c, hs, cs, gates = h0, c0, [h0], [c0], []
    for t in range(T):
        i, f, g, o = torch.addmm(xw[t], h, w_hh.T).chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        gates.append(torch.cat([i, f, g, o], dim=1))
        hs.append(h)
        cs.append(c)
    hs, cs = torch.stack(hs), torch.stack(cs)                  # (T+1, N, H)
    return hs[1:], (h, c), LSTMCache(x, w_ih, w_hh, torch.stack(gates), hs, cs)


def lstm_backward(dhs: torch.Tensor, cache: LSTMCache, *,
                  dh_T: torch.Tensor | None = None, dc_T: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, ...]:
    r"""BPTT through an LSTM: return ``(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh)``;
    ``dh_T``, ``dc_T`` (default 0) are the gradients of the final state. Twin:
    dlkit.numpy.recurrent.lstm_backward."""
    fn = "lstm_backward"
    _check_cache(fn, cache, LSTMCache, "lstm_forward")
    x, w_ih, w_hh, gates, hs, cs = cache
    T, N, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    _grad(fn, "dhs", dhs, hs, (T, N, H), "hs",
          _last_state_hint(fn, "dhs", ", or zeros for dhs and it as dh_T"))
    dh, dc = (torch.zeros_like(hs[0]) if g is None else
              _grad(fn, name, g, hs, (N, H), name[1:])
              for name, g in (("dh_T", dh_T), ("dc_T", dc_T)))
    i, f, g, o = gates.reshape(T, N, 4, H).unbind(dim=2)
    tanh_c = torch.tanh(cs[1:])
    # The local derivatives of every step at once: da_i = dc g σ'(i), da_f = dc c_{t-1}
    # σ'(f), da_g = dc i (1 - g²), da_o = dh tanh(c_t) σ'(o).
    k = torch.stack([g * i * (1 - i), cs[:-1] * f * (1 - f), i * (1 - g * g),
                     tanh_c * o * (1 - o)], dim=2)             # (T, N, 4, H)
    dc_dh = o * (1 - tanh_c * tanh_c)                          # c_t reaches h_t
    da = [None] * T
    for t in range(T - 1, -1, -1):
        dh_t = dhs[t] + dh                                     # both routes into h_t
        dc_t = dc + dh_t * dc_dh[t]                            # both routes into c_t
        da[t] = (k[t] * torch.stack([dc_t, dc_t, dc_t, dh_t], dim=1)).reshape(N, -1)
        dc = dc_t * f[t]
        dh = da[t] @ w_hh                                      # (N, 4H) @ (4H, H)
    da = torch.stack(da).reshape(T * N, 4 * H)                 # all steps at once
    db = da.sum(0)
    return ((da @ w_ih).reshape(x.shape), dh, dc, da.T @ x.reshape(T * N, -1),
            da.T @ hs[:-1].reshape(T * N, H), db, db.clone())


def gru_forward(x: torch.Tensor, h0: torch.Tensor, w_ih: torch.Tensor,
                w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor
                ) -> tuple[torch.Tensor, GRUCache]:
    r"""``gru_cell_forward`` at t = 1..T; ``hs`` equals the output of a one-layer
    ``torch.nn.GRU``.

    Shapes: x (T, N, D) (time first), h0 (N, H), w_ih (3H, D), w_hh (3H, H), b_ih,
    b_hh (3H,), gate blocks r, z, n -> hs (T, N, H). Twin:
    dlkit.numpy.recurrent.gru_forward. Chapter 06, §Gated cells: LSTM and GRU.
    """
    fn = "gru_forward"
    _tensors(fn, x=x, h0=h0, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)
    T, _, _, H = _check_sequence(fn, "gru", x, h0, None, (w_ih, w_hh, b_ih, b_hh),
                                 _PT_TRANSPOSE)
    # b_hr and b_hz just add to the input side; b_hn sits inside r ⊙ (...).
    bias = torch.cat([b_ih[:2 * H] + b_hh[:2 * H], b_ih[2 * H:]])
    xw = _projections(x, w_ih, bias)                           # (T, N, 3H)
    b_hn = b_hh[2 * H:]
    h, hs, gates, gh_ns = h0, [h0], [], []
    for t in range(T):
        gi_r, gi_z, gi_n = xw[t].chunk(3, dim=1)
        gh_r, gh_z, gh_n = (h @ w_hh.T).chunk(3, dim=1)
        gh_n = gh_n + b_hn
        r = torch.sigmoid(gi_r + gh_r)
        z = torch.sigmoid(gi_z + gh_z)
        n = torch.tanh(gi_n + r * gh_n)
        h = n + z * (h - n)
        gates.append(torch.cat([r, z, n], dim=1))
        gh_ns.append(gh_n)
        hs.append(h)
    hs = torch.stack(hs)                                       # (T+1, N, H)
    return hs[1:], GRUCache(x, w_ih, w_hh, torch.stack(gates), hs, torch.stack(gh_ns))


def gru_backward(dhs: torch.Tensor, cache: GRUCache) -> tuple[torch.Tensor, ...]:
    r"""BPTT through a GRU: return ``(dx, dh0, dw_ih, dw_hh, db_ih, db_hh)``. Twin:
    dlkit.numpy.recurrent.gru_backward."""
    fn = "gru_backward"
    _check_cache(fn, cache, GRUCache, "gru_forward")
    x, w_ih, w_hh, gates, hs, gh_n = cache
    T, N, H = gh_n.shape
    _grad(fn, "dhs", dhs, hs, (T, N, H), "hs", _last_state_hint(fn, "dhs"))
    r, z, n = gates.reshape(T, N, 3, H).unbind(dim=2)
    # Every gradient of a step is dh_t times a factor known in advance.
    k_n = (1 - z) * (1 - n * n)                                # da_n = dh k_n
    k = torch.stack([k_n * gh_n * r * (1 - r),                 # da_r
                     (hs[:-1] - n) * z * (1 - z),              # da_z
                     k_n * r], dim=2)                          # n block of h W_hh^T
    dh, dgh, dh_all = torch.zeros_like(hs[0]), [None] * T, [None] * T
    for t in range(T - 1, -1, -1):
        dh_all[t] = dhs[t] + dh                                # both routes into h_t
        dgh[t] = (k[t] * dh_all[t][:, None, :]).reshape(N, -1)
        dh = dgh[t] @ w_hh + dh_all[t] * z[t]                  # (N, 3H) @ (3H, H)
    dgh = torch.stack(dgh).reshape(T, N, 3, H)
    dh_all = torch.stack(dh_all)
    # The input side equals dg_h in the r and z blocks; its n block is da_n (no r).
    dgi = torch.cat([dgh[:, :, :2], (dh_all * k_n)[:, :, None]], dim=2)
    dgh, dgi = dgh.reshape(T * N, 3 * H), dgi.reshape(T * N, 3 * H)
    return ((dgi @ w_ih).reshape(x.shape), dh, dgi.T @ x.reshape(T * N, -1),
            dgh.T @ hs[:-1].reshape(T * N, H), dgi.sum(0), dgh.sum(0))


# ------------------------------------------------------------------ training helpers
def clip_grad_norm(grads: Sequence[torch.Tensor], max_norm: float
                   ) -> tuple[list[torch.Tensor], torch.Tensor]:
    r"""Scale gradients to a global L2 norm of at most ``max_norm``: every tensor times
    :math:`\min(1,\ max\_norm / (\|g\| + 10^{-6}))`, like
    ``torch.nn.utils.clip_grad_norm_``, but returning new tensors (the inputs are not
    modified): ``(clipped_grads, total_norm)``, the norm before clipping as a 0-dim
    tensor. Twin: dlkit.numpy.recurrent.clip_grad_norm. Chapter 06, §Gradient
    clipping.
    """
    fn = "clip_grad_norm"
    _check_grads_list(fn, grads)
    for k, g in enumerate(grads):
        check_tensor(fn, f"grads[{k}]", g)
    max_norm = check_hyper(fn, "max_norm", max_norm, low=0.0, low_inclusive=False,
                           typical="1 to 5 for RNNs")
    if len(grads) == 0:
        return [], torch.tensor(0.0)
    device = grads[0].device
    # The norm of the per-tensor norms, gathered on the first tensor's device (as
    # torch does); no .item(): the coefficient stays a tensor, no sync with the GPU.
    total = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(g).to(device) for g in grads]))
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)    # NaN stays NaN
    return [g * coef.to(g.device) for g in grads], total


def sample_with_temperature(logits: torch.Tensor, temperature: float, *,
                            generator: torch.Generator) -> torch.Tensor:
    r"""Draw an index from :math:`\mathrm{softmax}(logits / T)`, one per row.

    T = 1 samples from the model's distribution, T < 1 sharpens it (T → 0: the greedy
    argmax), T > 1 flattens it towards uniform. Shapes: logits (K,) -> a 0-dim int64
    tensor (``int(...)`` gives the Python int the NumPy twin returns), logits (N, K)
    -> (N,) int64, on the device of ``logits``. ``generator`` is a
    ``torch.Generator``; the draw runs on its device. Twin:
    dlkit.numpy.recurrent.sample_with_temperature (``rng``). Chapter 06,
    §Sampling with a temperature.
    """
    fn = "sample_with_temperature"
    check_tensor(fn, "logits", logits)
    if logits.ndim not in (1, 2) or logits.shape[-1] == 0:
        raise ValueError(
            f"{fn}: `logits` has shape {tuple(logits.shape)}, expected (K,) for one "
            f"distribution over K classes or (N, K) for N of them, K >= 1.")
    temperature = check_hyper(fn, "temperature", temperature, low=0.0,
                              low_inclusive=False,
                              typical="0.5 to 1.5; 1 samples the model's distribution")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"{fn}: `generator` must be a torch.Generator, e.g. "
                        f"torch.Generator().manual_seed(0), got "
                        f"{type(generator).__name__}.")
    rows = logits.reshape(-1, logits.shape[-1])                # (N, K)
    # Shift by the max before dividing by T: exponents <= 0, no overflow for any T.
    # multinomial takes unnormalised weights, so there is no need to divide by the sum.
    e = torch.exp((rows - rows.amax(dim=1, keepdim=True)) / temperature)
    idx = torch.multinomial(e.to(generator.device), 1, generator=generator)[:, 0]
    idx = idx.to(logits.device)
    return idx[0] if logits.ndim == 1 else idx


# ------------------------------------------------------------------ autograd Functions
class RNNCellFn(torch.autograd.Function):
    """``torch.nn.RNNCell`` with dlkit's hand-written ``rnn_cell_backward``."""

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih, b_hh):
        h_next, ctx.cache = rnn_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh)
        return h_next

    @staticmethod
    def backward(ctx, dh_next):
        return rnn_cell_backward(dh_next, ctx.cache)


class LSTMCellFn(torch.autograd.Function):
    """``torch.nn.LSTMCell`` with dlkit's hand-written ``lstm_cell_backward``;
    returns ``(h_next, c_next)``."""

    @staticmethod
    def forward(ctx, x, h, c, w_ih, w_hh, b_ih, b_hh):
        h_next, c_next, ctx.cache = lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh)
        return h_next, c_next

    @staticmethod
    def backward(ctx, dh_next, dc_next):
        return lstm_cell_backward(dh_next, dc_next, ctx.cache)


class GRUCellFn(torch.autograd.Function):
    """``torch.nn.GRUCell`` with dlkit's hand-written ``gru_cell_backward``."""

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih, b_hh):
        h_next, ctx.cache = gru_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh)
        return h_next

    @staticmethod
    def backward(ctx, dh_next):
        return gru_cell_backward(dh_next, ctx.cache)


class RNNFn(torch.autograd.Function):
    """A one-layer ``torch.nn.RNN`` (its output ``hs``) with the hand-written BPTT."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh):
        hs, ctx.cache = rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh)
        return hs

    @staticmethod
    def backward(ctx, dhs):
        return rnn_backward(dhs, ctx.cache)


class LSTMFn(torch.autograd.Function):
    """A one-layer ``torch.nn.LSTM`` with the hand-written BPTT; returns
    ``(hs, h_T, c_T)``."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        hs, (h_T, c_T), ctx.cache = lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
        return hs, h_T, c_T

    @staticmethod
    def backward(ctx, dhs, dh_T, dc_T):
        return lstm_backward(dhs, ctx.cache, dh_T=dh_T, dc_T=dc_T)


class GRUFn(torch.autograd.Function):
    """A one-layer ``torch.nn.GRU`` (its output ``hs``) with the hand-written BPTT."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh):
        hs, ctx.cache = gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh)
        return hs

    @staticmethod
    def backward(ctx, dhs):
        return gru_backward(dhs, ctx.cache)
