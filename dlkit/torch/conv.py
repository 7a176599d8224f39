r"""PyTorch twins of :mod:`dlkit.numpy.conv`: convolution and pooling (chapter 05).

Same names, arguments and return values as the NumPy reference, on tensors of any
device and floating dtype, computed the same way: a padded buffer, a strided window
view (``as_strided``), one matrix product (im2col), and col2im summed over the kernel
offsets for the input gradient (no ``F.conv2d`` inside). The one difference: the
whole batch is one chunk, since a GPU prefers one large matrix product to many small
ones. Each layer also comes as a ``torch.autograd.Function`` (``Conv2dFn``,
``ConvTranspose2dFn``, ``MaxPool2dFn``, ``AvgPool2dFn``) whose backward is the
hand-written one, so that it can be checked against ``torch.autograd``.
"""
from __future__ import annotations

from typing import Any

import torch

from .._checks import check_tensor
# Validation, geometry and caches are shared with the NumPy reference: they only
# look at shapes and integers.
from ..numpy.conv import (AvgPool2dCache, Conv2dCache, ConvGeometry,
                          ConvTranspose2dCache, MaxPool2dCache, PoolGeometry,
                          _buffer_size, _check_conv, _check_images, _conv_geometry,
                          _interior, _pool_geometry, _transposed_geometry,
                          conv_output_size)
from ..numpy.conv import (MaxUnpool2dCache, UpsampleNearest2dCache, _check_indices,
                          _index_range_error, _own_cache, _pool_index_grid,
                          _scale_factor, _unpool_geometry)
from ..numpy.layers import _check_cache, _check_dout
from .layers import _same_place

__all__ = [
    "conv_output_size",
    "conv2d_forward", "conv2d_backward",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "conv_transpose2d_forward", "conv_transpose2d_backward",
    "max_pool2d_indices", "max_unpool2d_forward", "max_unpool2d_backward",
    "upsample_nearest2d_forward", "upsample_nearest2d_backward",
    "Conv2dFn", "ConvTranspose2dFn", "MaxPool2dFn", "AvgPool2dFn",
    "MaxUnpool2dFn", "UpsampleNearest2dFn",
]


# ------------------------------------------------------------------ validation
def _check_grad(fn: str, dout: Any, like: torch.Tensor, shape) -> None:
    """``dout`` must be a tensor of the forward output's shape, dtype and device."""
    check_tensor(fn, "dout", dout)
    if dout.device != like.device or dout.dtype != like.dtype:
        raise ValueError(
            f"{fn}: the forward pass ran in {like.dtype} on {like.device} but `dout` "
            f"is {dout.dtype} on {dout.device}; convert with dout.to(...) first.")
    _check_dout(fn, dout, shape)


# ------------------------------------------------------------------ im2col, col2im
def _windows(buf: torch.Tensor, g: ConvGeometry, n: int) -> torch.Tensor:
    """The view ``v[k, l, c, m, i, j] = x_p[m, c, i*sh + k*dh, j*sw + l*dw]`` of a
    padded buffer (no copy). Shapes: buf (flat) -> (KH, KW, C, n, GH, GW)."""
    (sh, sw), (dh, dw) = g.stride, g.dilation
    return buf.as_strided((g.KH, g.KW, g.C, n, g.GH, g.GW),
                          (dh * g.Wr, dw, n * g.R * g.Wr, g.R * g.Wr, sh * g.Wr, sw))


def _im2col(x: torch.Tensor, g: ConvGeometry, bias: bool) -> torch.Tensor:
    """Pad ``x`` and copy its windows into a matrix, plus a row of ones with ``bias``.

    Shapes: x (n, C, H, W) -> (KH*KW*C [+ 1], n*GH*GW), rows ordered (k, l, c).
    """
    n, TC = x.shape[0], g.KH * g.KW * g.C
    buf = x.new_zeros(_buffer_size(g, n))
    _interior(buf, g, n).copy_(x.transpose(0, 1))
    cols = x.new_ones((TC + bias, n * g.GH * g.GW))
    cols[:TC].view(g.KH, g.KW, g.C, n, g.GH, g.GW).copy_(_windows(buf, g, n))
    return cols


def _on_grid(dout: torch.Tensor, g: ConvGeometry) -> torch.Tensor:
    """``dout`` on the output grid, zero elsewhere.

    Shapes: dout (n, F, OH, OW) -> (F, n*GH*GW).
    """
    grid = dout.new_zeros((g.F, dout.shape[0], g.GH, g.GW))
    grid[:, :, :g.OH, :g.OW] = dout.transpose(0, 1)
    return grid.view(g.F, -1)


def _col2im(dcols: torch.Tensor, g: ConvGeometry, n: int) -> torch.Tensor:
    """Add every entry of ``dcols`` back to the pixel it was read from, one kernel
    offset at a time (for one offset the pixels are distinct), and crop the padding.

    Shapes: dcols (KH*KW*C, n*GH*GW) -> (n, C, H, W).
    """
    dcols = dcols.view(g.KH, g.KW, g.C, n, g.GH, g.GW)
    buf = dcols.new_zeros(_buffer_size(g, n))
    win = _windows(buf, g, n)
    for k in range(g.KH):
        for l in range(g.KW):
            win[k, l] += dcols[k, l]
    return _interior(buf, g, n).transpose(0, 1).contiguous()


def _weight_matrix(w: torch.Tensor) -> torch.Tensor:
    """(F, C, KH, KW) -> (F, KH*KW*C): columns ordered like the rows of ``cols``."""
    return w.permute(0, 2, 3, 1).reshape(w.shape[0], -1)


def _conv_pass(g: ConvGeometry, w: torch.Tensor, *, x: torch.Tensor | None = None,
               b: torch.Tensor | None = None, dout: torch.Tensor | None = None,
               forward: bool = False, grad_w: bool = False, grad_x: bool = False,
               bias: bool = False) -> dict[str, torch.Tensor]:
    r"""What :func:`dlkit.numpy.conv._conv_pass` computes, for the whole batch at once.

    ``forward``: :math:`out = w \star x + b`; ``grad_w``: ``dw`` (and ``db`` with
    ``bias``); ``grad_x``: ``dx`` by col2im of ``w^T @ dout``.
    """
    TC = g.KH * g.KW * g.C
    bias = bias or b is not None
    wm = _weight_matrix(w)                              # (F, TC)
    res: dict[str, torch.Tensor] = {}
    if forward or grad_w:
        cols = _im2col(x, g, bias)                      # (TC [+1], N*P)
    if forward:
        w_t = wm.T if b is None else torch.cat([wm.T, b[None, :]])  # (TC [+1], F)
        o = (cols.T @ w_t).view(g.N, g.GH, g.GW, g.F)   # out^T, as in the NumPy twin
        res["out"] = o[:, :g.OH, :g.OW].permute(0, 3, 1, 2).contiguous()
    if grad_w or grad_x:
        d = _on_grid(dout, g)                           # (F, N*P)
    if grad_w:
        dw_t = cols @ d.T                               # (TC [+1], F)
        dw = dw_t[:TC].reshape(g.KH, g.KW, g.C, g.F).permute(3, 2, 0, 1)
        res["dw"] = dw.contiguous()
        if bias:
            res["db"] = dw_t[TC].contiguous()           # the weight of the ones row
    if grad_x:
        res["dx"] = _col2im(wm.T @ d, g, g.N)           # (TC, F) @ (F, N*P)
    return res


# ------------------------------------------------------------------ convolution
def conv2d_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, *,
                   stride: int | tuple[int, int] = 1,
                   padding: int | tuple[int, int] = 0,
                   dilation: int | tuple[int, int] = 1
                   ) -> tuple[torch.Tensor, Conv2dCache]:
    r"""2-D convolution (cross-correlation); equals ``F.conv2d(x, w, b, stride, padding,
    dilation)``.

    :math:`out[n,f,i,j] = b_f + \sum_{c,k,l} w[f,c,k,l]\, x_p[n,c,i s_h + k d_h,
    j s_w + l d_w]`. Shapes: x (N, C, H, W), w (F, C, KH, KW), b (F,) or None ->
    out (N, F, OH, OW). Twin: dlkit.numpy.conv.conv2d_forward. Chapter 05,
    §Convolutional layers.
    """
    fn = "conv2d_forward"
    check_tensor(fn, "x", x)
    _same_place(fn, "x", x, w=w, b=b)
    _check_conv(fn, x, w, b)
    g = _conv_geometry(fn, x.shape, w.shape, stride, padding, dilation)
    out = _conv_pass(g, w, x=x, b=b, forward=True)["out"]
    return out, Conv2dCache(x, w, b is not None, g)


def conv2d_backward(dout: torch.Tensor, cache: Conv2dCache
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    r"""Return ``(dx, dw, db)``: col2im of :math:`w^\top dout`, :math:`dout \star x`,
    :math:`\sum dout` (``db`` None without bias). Twin:
    dlkit.numpy.conv.conv2d_backward.
    """
    fn = "conv2d_backward"
    _check_cache(fn, cache, Conv2dCache)
    x, w, has_bias, g = cache
    _check_grad(fn, dout, x, g.out_shape)
    res = _conv_pass(g, w, x=x, dout=dout, grad_w=True, grad_x=True, bias=has_bias)
    return res["dx"], res["dw"], res.get("db")


def conv_transpose2d_forward(x: torch.Tensor, w: torch.Tensor,
                             b: torch.Tensor | None = None, *,
                             stride: int | tuple[int, int] = 1,
                             padding: int | tuple[int, int] = 0,
                             output_padding: int | tuple[int, int] = 0
                             ) -> tuple[torch.Tensor, ConvTranspose2dCache]:
    r"""Transposed convolution; equals ``F.conv_transpose2d(x, w, b, stride, padding,
    output_padding)``.

    The input gradient of ``conv2d``, with ``x`` in the role of ``dout``. Shapes:
    x (N, C_in, H, W), w (C_in, C_out, KH, KW), b (C_out,) or None ->
    out (N, C_out, (H-1) s_h - 2 p_h + KH + output_padding_h, ...). Twin:
    dlkit.numpy.conv.conv_transpose2d_forward. Chapter 08, §Transposed convolution.
    """
    fn = "conv_transpose2d_forward"
    check_tensor(fn, "x", x)
    _same_place(fn, "x", x, w=w, b=b)
    _check_conv(fn, x, w, b, transposed=True)
    g = _transposed_geometry(fn, x.shape, w.shape, stride, padding, output_padding)
    out = _conv_pass(g, w, dout=x, grad_x=True)["dx"]
    if b is not None:
        out = out + b[:, None, None]
    return out, ConvTranspose2dCache(x, w, b is not None, g)


def conv_transpose2d_backward(dout: torch.Tensor, cache: ConvTranspose2dCache
                              ) -> tuple[torch.Tensor, torch.Tensor,
                                         torch.Tensor | None]:
    r"""Return ``(dx, dw, db)``: :math:`dx = w \star dout` (a ``conv2d``),
    :math:`dw = x \star dout`, :math:`db = \sum dout`. Twin:
    dlkit.numpy.conv.conv_transpose2d_backward.
    """
    fn = "conv_transpose2d_backward"
    _check_cache(fn, cache, ConvTranspose2dCache)
    x, w, has_bias, g = cache
    _check_grad(fn, dout, x, (g.N, g.C, g.H, g.W))
    res = _conv_pass(g, w, x=dout, dout=x, forward=True, grad_w=True)
    db = dout.sum(dim=(0, 2, 3)) if has_bias else None
    return res["out"], res["dw"], db


# ------------------------------------------------------------------ pooling
def _pad(x: torch.Tensor, p: tuple[int, int], value: float) -> torch.Tensor:
    if p == (0, 0):
        return x
    N, C, H, W = x.shape
    xp = x.new_full((N, C, H + 2 * p[0], W + 2 * p[1]), value)
    xp[:, :, p[0]:p[0] + H, p[1]:p[1] + W] = x
    return xp


def _crop(xp: torch.Tensor, p: tuple[int, int]) -> torch.Tensor:
    if p == (0, 0):
        return xp
    return xp[:, :, p[0]:xp.shape[2] - p[0], p[1]:xp.shape[3] - p[1]].contiguous()


def _taps(xp: torch.Tensor, g: PoolGeometry) -> list[torch.Tensor]:
    """The KH*KW strided slices ``xp[..., k + i*sh, l + j*sw]``, one per offset."""
    (KH, KW), (sh, sw) = g.kernel_size, g.stride
    hs, ws = sh * (g.OH - 1) + 1, sw * (g.OW - 1) + 1
    return [xp[:, :, k:k + hs:sh, l:l + ws:sw] for k in range(KH) for l in range(KW)]


def _pool_input(fn: str, x: Any) -> None:
    check_tensor(fn, "x", x)
    _check_images(fn, "x", x)


def _overlap(g: PoolGeometry) -> bool:
    return any(s < k for s, k in zip(g.stride, g.kernel_size))


def max_pool2d_forward(x: torch.Tensor, *, kernel_size: int | tuple[int, int],
                       stride: int | tuple[int, int] | None = None,
                       padding: int | tuple[int, int] = 0
                       ) -> tuple[torch.Tensor, MaxPool2dCache]:
    r""":math:`\max_{k,l} x_p[n,c,i s_h + k, j s_w + l]`; equals ``F.max_pool2d(x,
    kernel_size, stride, padding)``. Shapes: x (N, C, H, W) -> out (N, C, OH, OW).
    Twin: dlkit.numpy.conv.max_pool2d_forward. Chapter 05, §Pooling.
    """
    fn = "max_pool2d_forward"
    _pool_input(fn, x)
    g = _pool_geometry(fn, x.shape, kernel_size, stride, padding)
    taps = _taps(_pad(x, g.padding, float("-inf")), g)
    out = taps[0].clone()
    argmax = torch.zeros(out.shape, dtype=torch.uint8 if len(taps) <= 256 else
                         torch.int32, device=x.device)
    for t in range(1, len(taps)):
        # First maximum wins ties (strictly greater takes over); NaN propagates.
        better = (taps[t] > out) | taps[t].isnan()
        out = torch.maximum(out, taps[t])
        argmax.masked_fill_(better, t)
    return out, MaxPool2dCache(argmax, g, x.dtype)


def max_pool2d_backward(dout: torch.Tensor, cache: MaxPool2dCache) -> torch.Tensor:
    r""":math:`dx` = each window's ``dout`` routed to its first maximum (overlaps add).

    Shapes: dout (N, C, OH, OW) -> dx (N, C, H, W). Twin:
    dlkit.numpy.conv.max_pool2d_backward.
    """
    fn = "max_pool2d_backward"
    _check_cache(fn, cache, MaxPool2dCache)
    argmax, g, dtype = cache
    _check_grad(fn, dout, argmax.new_empty(0, dtype=dtype), g.out_shape)
    (N, C, H, W), (ph, pw) = g.x_shape, g.padding
    dxp = dout.new_zeros((N, C, H + 2 * ph, W + 2 * pw))
    for t, tap in enumerate(_taps(dxp, g)):
        if _overlap(g):
            tap += dout * (argmax == t)
        else:
            tap.copy_(dout * (argmax == t))
    return _crop(dxp, g.padding)


def avg_pool2d_forward(x: torch.Tensor, *, kernel_size: int | tuple[int, int],
                       stride: int | tuple[int, int] | None = None,
                       padding: int | tuple[int, int] = 0
                       ) -> tuple[torch.Tensor, AvgPool2dCache]:
    r""":math:`\frac{1}{KH\,KW}\sum_{k,l} x_p[n,c,i s_h + k, j s_w + l]`; equals
    ``F.avg_pool2d(x, kernel_size, stride, padding)`` (``count_include_pad=True``).
    Shapes: x (N, C, H, W) -> out (N, C, OH, OW). Twin:
    dlkit.numpy.conv.avg_pool2d_forward. Chapter 05, §Pooling.
    """
    fn = "avg_pool2d_forward"
    _pool_input(fn, x)
    g = _pool_geometry(fn, x.shape, kernel_size, stride, padding)
    taps = _taps(_pad(x, g.padding, 0.0), g)
    out = taps[0].clone()
    for tap in taps[1:]:
        out += tap
    return out / len(taps), AvgPool2dCache(g, x.dtype)


def avg_pool2d_backward(dout: torch.Tensor, cache: AvgPool2dCache) -> torch.Tensor:
    r""":math:`dx` = ``dout / (KH KW)`` spread over each window (overlaps add).

    Shapes: dout (N, C, OH, OW) -> dx (N, C, H, W). Twin:
    dlkit.numpy.conv.avg_pool2d_backward.
    """
    fn = "avg_pool2d_backward"
    _check_cache(fn, cache, AvgPool2dCache)
    g, dtype = cache
    check_tensor(fn, "dout", dout)
    _check_dout(fn, dout, g.out_shape)
    share = dout / (g.kernel_size[0] * g.kernel_size[1])
    (N, C, H, W), (ph, pw) = g.x_shape, g.padding
    dxp = share.new_zeros((N, C, H + 2 * ph, W + 2 * pw))
    for tap in _taps(dxp, g):
        if _overlap(g):
            tap += share
        else:
            tap.copy_(share)
    return _crop(dxp, g.padding)


# ------------------------------------------------------------------ autograd Functions
class Conv2dFn(torch.autograd.Function):
    """``F.conv2d`` with dlkit's hand-written backward (``conv2d_backward``)."""

    @staticmethod
    def forward(ctx, x, w, b=None, stride=1, padding=0, dilation=1):
        out, ctx.cache = conv2d_forward(x, w, b, stride=stride, padding=padding,
                                        dilation=dilation)
        return out

    @staticmethod
    def backward(ctx, dout):
        return conv2d_backward(dout, ctx.cache) + (None, None, None)


class ConvTranspose2dFn(torch.autograd.Function):
    """``F.conv_transpose2d`` with the hand-written ``conv_transpose2d_backward``."""

    @staticmethod
    def forward(ctx, x, w, b=None, stride=1, padding=0, output_padding=0):
        out, ctx.cache = conv_transpose2d_forward(x, w, b, stride=stride,
                                                  padding=padding,
                                                  output_padding=output_padding)
        return out

    @staticmethod
    def backward(ctx, dout):
        return conv_transpose2d_backward(dout, ctx.cache) + (None, None, None)


class MaxPool2dFn(torch.autograd.Function):
    """``F.max_pool2d`` with dlkit's hand-written ``max_pool2d_backward``."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride=None, padding=0):
        out, ctx.cache = max_pool2d_forward(x, kernel_size=kernel_size, stride=stride,
                                            padding=padding)
        return out

    @staticmethod
    def backward(ctx, dout):
        return max_pool2d_backward(dout, ctx.cache), None, None, None


class AvgPool2dFn(torch.autograd.Function):
    """``F.avg_pool2d`` with dlkit's hand-written ``avg_pool2d_backward``."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride=None, padding=0):
        out, ctx.cache = avg_pool2d_forward(x, kernel_size=kernel_size, stride=stride,
                                            padding=padding)
        return out

    @staticmethod
    def backward(ctx, dout):
        return avg_pool2d_backward(dout, ctx.cache), None, None, None


# ------------------------------------------------------------------ unpooling (ch. 08)
def max_pool2d_indices(cache: MaxPool2dCache) -> torch.Tensor:
    r"""The indices of ``F.max_pool2d(x, ..., return_indices=True)`` from the cache of
    ``max_pool2d_forward``: :math:`idx = (i s_h + k - p_h) W + (j s_w + l - p_w)` for
    the winning offset (k, l). Shapes: -> (N, C, OH, OW), int64, on x's device.
    Twin: dlkit.numpy.conv.max_pool2d_indices. Chapter 08, §Unpooling and upsampling.
    """
    fn = "max_pool2d_indices"
    _check_cache(fn, cache, MaxPool2dCache)
    _own_cache(fn, cache, "argmax", torch.Tensor, "dlkit.numpy.conv.max_pool2d_indices")
    argmax, g, _ = cache
    H, W = g.x_shape[2:]
    KW = g.kernel_size[1]
    t = argmax.long()
    rows, cols = _pool_index_grid(g, lambda n: torch.arange(n, device=t.device))
    # Clipping names the first real pixel of an all -inf window, as torch does.
    r = (rows + t // KW).clamp(0, H - 1)
    c = (cols + t % KW).clamp(0, W - 1)
    return r * W + c


def max_unpool2d_forward(x: torch.Tensor, indices: torch.Tensor, *,
                         kernel_size: int | tuple[int, int],
                         stride: int | tuple[int, int] | None = None,
                         padding: int | tuple[int, int] = 0,
                         output_size: tuple[int, ...] | None = None
                         ) -> tuple[torch.Tensor, MaxUnpool2dCache]:
    r""":math:`out[n,c,\,idx[n,c,i,j]] = x[n,c,i,j]`, zero elsewhere (8.7); equals
    ``F.max_unpool2d(x, indices, kernel_size, stride, padding, output_size)``.

    Shapes: x (N, C, H, W), indices (N, C, H, W) integers -> out (N, C, OH, OW).
    Twin: dlkit.numpy.conv.max_unpool2d_forward. Chapter 08, §Unpooling and
    upsampling.
    """
    fn = "max_unpool2d_forward"
    _pool_input(fn, x)
    if not isinstance(indices, torch.Tensor) or indices.is_floating_point() \
            or indices.is_complex() or indices.dtype == torch.bool:
        got = indices.dtype if isinstance(indices, torch.Tensor) else \
            type(indices).__name__
        raise TypeError(f"{fn}: `indices` must be an integer torch.Tensor (flat "
                        f"positions), got {got}; use the output of max_pool2d_indices.")
    if indices.device != x.device:
        raise ValueError(f"{fn}: `x` is on {x.device} but `indices` on "
                         f"{indices.device}; convert with indices.to(x.device).")
    _check_indices(fn, indices, x.shape)
    OH, OW = _unpool_geometry(fn, x.shape, kernel_size, stride, padding, output_size)
    N, C = x.shape[:2]
    idx = indices.reshape(N, C, -1).long()
    # Validation needs one look at the values on the host, as in F.max_unpool2d.
    if idx.numel() and bool(((idx < 0) | (idx >= OH * OW)).any()):
        raise _index_range_error(fn, int(idx.min()), int(idx.max()), (OH, OW))
    out = x.new_zeros((N, C, OH * OW)).scatter_(2, idx, x.reshape(N, C, -1))
    return (out.view(N, C, OH, OW),
            MaxUnpool2dCache(idx, tuple(x.shape), (N, C, OH, OW), x.dtype))


def max_unpool2d_backward(dout: torch.Tensor, cache: MaxUnpool2dCache) -> torch.Tensor:
    r""":math:`dx[n,c,i,j] = dout[n,c,\,idx[n,c,i,j]]` (a gather). Shapes: dout (N, C,
    OH, OW) -> dx (N, C, H, W). Twin: dlkit.numpy.conv.max_unpool2d_backward.
    """
    fn = "max_unpool2d_backward"
    _check_cache(fn, cache, MaxUnpool2dCache)
    _own_cache(fn, cache, "indices", torch.Tensor,
               "dlkit.numpy.conv.max_unpool2d_backward")
    idx, x_shape, out_shape, dtype = cache
    _check_grad(fn, dout, idx.new_empty(0, dtype=dtype), out_shape)
    N, C = x_shape[:2]
    return dout.reshape(N, C, -1).gather(2, idx).view(x_shape)


def upsample_nearest2d_forward(x: torch.Tensor, *, scale_factor: int | tuple[int, int]
                               ) -> tuple[torch.Tensor, UpsampleNearest2dCache]:
    r""":math:`out[n,c,i,j] = x[n,c,\lfloor i/s_h \rfloor,\lfloor j/s_w \rfloor]`;
    equals ``F.interpolate(x, scale_factor=scale_factor, mode="nearest")`` for whole
    factors. Shapes: x (N, C, H, W) -> out (N, C, s_h H, s_w W). Twin:
    dlkit.numpy.conv.upsample_nearest2d_forward. Chapter 08, §Unpooling and
    upsampling.
    """
    fn = "upsample_nearest2d_forward"
    _pool_input(fn, x)
    sh, sw = _scale_factor(fn, scale_factor)
    N, C, H, W = x.shape
    # (H*sh, W*sw) read as (H, sh, W, sw): x broadcast over the two offset axes.
    out = x[:, :, :, None, :, None].expand(N, C, H, sh, W, sw)
    return (out.reshape(N, C, H * sh, W * sw),
            UpsampleNearest2dCache((N, C, H, W), (sh, sw), x.dtype))


def upsample_nearest2d_backward(dout: torch.Tensor, cache: UpsampleNearest2dCache
                                ) -> torch.Tensor:
    r""":math:`dx[n,c,i,j] = \sum_{a,b} dout[n,c,i s_h + a, j s_w + b]`, the sum over
    each block. Shapes: dout (N, C, s_h H, s_w W) -> dx (N, C, H, W). Twin:
    dlkit.numpy.conv.upsample_nearest2d_backward.
    """
    fn = "upsample_nearest2d_backward"
    _check_cache(fn, cache, UpsampleNearest2dCache)
    (N, C, H, W), (sh, sw), dtype = cache
    check_tensor(fn, "dout", dout)
    if dout.dtype != dtype:
        raise ValueError(f"{fn}: the forward pass ran in {dtype} but `dout` is "
                         f"{dout.dtype}; convert with dout.to({dtype}) first.")
    _check_dout(fn, dout, (N, C, H * sh, W * sw))
    return dout.reshape(N, C, H, sh, W, sw).sum(dim=(3, 5))


class MaxUnpool2dFn(torch.autograd.Function):
    """``F.max_unpool2d`` with dlkit's hand-written ``max_unpool2d_backward``."""

    @staticmethod
    def forward(ctx, x, indices, kernel_size, stride=None, padding=0,
                output_size=None):
        out, ctx.cache = max_unpool2d_forward(x, indices, kernel_size=kernel_size,
                                              stride=stride, padding=padding,
                                              output_size=output_size)
        return out

    @staticmethod
    def backward(ctx, dout):
        return max_unpool2d_backward(dout, ctx.cache), None, None, None, None, None


class UpsampleNearest2dFn(torch.autograd.Function):
    """``F.interpolate(mode="nearest")`` with the hand-written backward."""

    @staticmethod
    def forward(ctx, x, scale_factor):
        out, ctx.cache = upsample_nearest2d_forward(x, scale_factor=scale_factor)
        return out

    @staticmethod
    def backward(ctx, dout):
        return upsample_nearest2d_backward(dout, ctx.cache), None
