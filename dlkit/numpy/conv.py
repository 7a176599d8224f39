r"""Convolution and pooling layers as forward/backward pairs (chapter 05).

Layout NCHW and weights ``(F, C, KH, KW)``, like ``torch.nn.Conv2d``. A convolution
layer computes the cross-correlation (no kernel flip, like every deep-learning library)

.. math:: out[n, f, i, j] = b_f + \sum_{c, k, l} w[f, c, k, l]\,
          x_p[n, c,\ i s_h + k d_h,\ j s_w + l d_w],

where :math:`x_p` is ``x`` with ``padding`` zeros on each side, ``s`` the stride and
``d`` the dilation. The chapter writes this as nested loops to explain it; the
functions here compute the same numbers quickly. The tricks, each commented where it
is used:

1. **im2col.** A strided *view* lists every receptive field without copying; one copy
   turns it into a matrix ``cols`` with one row per (kernel offset, channel) and one
   column per output position. The layer is then one matrix product with the
   weights, which BLAS runs near the peak speed of the processor. The weight gradient
   is the product of ``cols`` with ``dout``; the input gradient multiplies ``dout`` by
   the weights and adds each entry back to the pixel it was read from (col2im).
2. **Cache-sized chunks.** The batch is processed a few images at a time, so that the
   im2col matrix (9× the input for a 3×3 kernel) stays in the processor's L2 cache and
   its buffer is reused instead of allocated afresh (which costs page faults).
3. **Shared padding (stride 1).** The padded images are stored one after another with
   only ``pw`` zeros after each row and ``ph`` zero rows after each image: the zeros
   after a row are the right padding of that row *and* the left padding of the next.
   Output position (i, j) is then computed at element ``i*(W+pw) + j`` of an
   ``(H+ph) × (W+pw)`` grid, and kernel offset (k, l) reads a fixed distance further
   on, for *every* position of every image of the chunk: each offset's slice of the
   im2col matrix is one contiguous run of memory, and so is each step of col2im.
   That matters: NumPy (2.3) runs ``a += b`` on strided slices through a copy buffer,
   3-4× slower than on contiguous blocks. The grid has a few more positions than the
   output (7% for 28×28 with padding 1); they are computed and thrown away.
4. **Bias as a weight.** ``cols`` gets a row of ones and the weight matrix a column
   ``b``: the matrix product adds the bias, and the weight-gradient product returns
   ``db`` as its last row.
5. **The product BLAS likes.** The forward pass computes :math:`out^\top =
   cols^\top W^\top`, (positions, F), then transposes: OpenBLAS runs that shape about
   twice as fast as :math:`W\,cols` when there are few filters.

With these, forward + backward of a 16→32-channel 3×3 convolution of 64 images of
28×28 takes about 1.7-2× the time of ``torch.nn.functional.conv2d`` on one core.

Pooling uses the ``KH·KW`` strided slices ``x[..., k::s, l::s]`` (entry (k, l) of every
window), combined with elementwise maxima or sums. Twin: :mod:`dlkit.torch.conv`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._checks import as_float_array, check_int, check_shape
from .layers import _check_cache, _check_dout

__all__ = [
    "conv_output_size",
    "conv2d_forward", "conv2d_backward",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "conv_transpose2d_forward", "conv_transpose2d_backward",
    "max_pool2d_indices", "max_unpool2d_forward", "max_unpool2d_backward",
    "upsample_nearest2d_forward", "upsample_nearest2d_backward",
]

#: Bytes of im2col matrix per chunk of images: about half of a 2 MiB L2 cache.
_CHUNK_BYTES = 1 << 20

_W_HINT = ("dlkit stores conv weights as (F, C, KH, KW), like torch.nn.Conv2d: "
           "w.shape[1] must equal the channels x.shape[1]. Weights stored "
           "channels-last as (KH, KW, C, F) become (F, C, KH, KW) with "
           "w.transpose(3, 2, 0, 1).")
_WT_HINT = ("dlkit stores transposed-conv weights as (C_in, C_out, KH, KW), like "
            "torch.nn.ConvTranspose2d: w.shape[0] must equal the channels x.shape[1] "
            "(the reverse of Conv2d's (F, C, KH, KW)).")


# ------------------------------------------------------------------ validation
def _pair(fn: str, name: str, value: Any, low: int) -> tuple[int, int]:
    """An int or a pair (h, w) of ints >= low, returned as a pair."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    ok = len(values) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
        and v >= low for v in values)
    if not ok:
        raise ValueError(f"{fn}: `{name}` must be an int >= {low} or a pair (h, w) of "
                         f"them, got {value!r}.")
    return int(values[0]), int(values[1])


def _output_size(fn: str, what: str, size: int, k: int, s: int, p: int, d: int) -> int:
    r""":math:`\lfloor (size + 2p - d(k-1) - 1)/s \rfloor + 1`; ValueError if < 1."""
    span = d * (k - 1) + 1                   # pixels that one (dilated) window covers
    if size + 2 * p < span:
        dil = f" (kernel size {k}, dilation {d})" if d > 1 else f" (size {k})"
        raise ValueError(
            f"{fn}: the kernel{dil} spans {span} pixels of the {what}, but the padded "
            f"input has only {what} + 2*padding = {size} + 2*{p} = {size + 2 * p}: the "
            f"output would be empty. Needed: {what} + 2*padding >= {span}; use a "
            f"larger input, padding >= {-(-(span - size) // 2)}, or a smaller kernel"
            f"{' or dilation' if d > 1 else ''}.")
    return (size + 2 * p - span) // s + 1


def conv_output_size(size: int, kernel_size: int, *, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    r"""Output length of a convolution or pooling along one axis.

    :math:`\lfloor (size + 2\,padding - dilation\,(kernel\_size - 1) - 1)/stride
    \rfloor + 1`, as in ``torch.nn.Conv2d``; ValueError if that would be < 1.
    Shapes: ints -> int. Twin: dlkit.torch.conv.conv_output_size (the same function).
    Chapter 05, §Convolution maths.
    """
    fn = "conv_output_size"
    size = check_int(fn, "size", size, low=1)
    k = check_int(fn, "kernel_size", kernel_size, low=1)
    s = check_int(fn, "stride", stride, low=1)
    p = check_int(fn, "padding", padding, low=0)
    d = check_int(fn, "dilation", dilation, low=1)
    return _output_size(fn, "size", size, k, s, p, d)


def _check_images(fn: str, name: str, x: Any) -> None:
    """Raise unless ``x`` is a batch of images (N, C, H, W)."""
    shape = tuple(x.shape)
    if len(shape) == 4:
        return
    hint = {3: f" For one image (C, H, W) add a batch axis: {name}[None].",
            2: f" For one gray image (H, W) add batch and channel axes: "
               f"{name}[None, None]."}.get(len(shape), "")
    raise ValueError(f"{fn}: `{name}` has shape {shape}, expected 4 dimensions "
                     f"(N, C, H, W).{hint}")


def _check_conv(fn: str, x: Any, w: Any, b: Any, *, transposed: bool = False) -> None:
    """Shape checks shared by both twins (they work on arrays and tensors alike)."""
    _check_images(fn, "x", x)
    if transposed:
        dims = {"C_in": x.shape[1]}
        check_shape(fn, "w", w.shape, ("C_in", "C_out", "KH", "KW"), dims,
                    hint=_WT_HINT)
        if b is not None:
            check_shape(fn, "b", b.shape, ("C_out",), dims,
                        hint="The bias has one entry per output channel.")
        return
    dims = {"C": x.shape[1]}
    check_shape(fn, "w", w.shape, ("F", "C", "KH", "KW"), dims, hint=_W_HINT)
    if b is not None:
        check_shape(fn, "b", b.shape, ("F",), dims,
                    hint="The bias has one entry per filter (output channel).")


def _as_arrays(fn: str, **arrays: Any) -> list[np.ndarray | None]:
    """Float arrays of one common dtype (float64 unless all inputs are float32)."""
    out = {k: None if v is None else as_float_array(fn, k, v)
           for k, v in arrays.items()}
    dtype = np.result_type(*[v for v in out.values() if v is not None])
    return [None if v is None else v.astype(dtype, copy=False) for v in out.values()]


# ------------------------------------------------------------------ geometry
class ConvGeometry(NamedTuple):
    """Every size of one convolution, and how its padded input is laid out in memory.

    The padded images of a chunk are stored as ``C*n`` planes (channel-major) of
    ``R`` rows of ``Wr`` elements, image pixel (0, 0) at row ``r0``, column ``c0`` of
    its plane, and ``lead`` extra zeros before the first plane. The output is
    computed on a ``GH × GW`` grid of which the first ``OH × OW`` are kept. Plain
    padding: ``R, Wr = H + 2ph, W + 2pw``, ``(r0, c0) = (ph, pw)``, grid = output.
    Shared padding (trick 3): ``R, Wr = H + ph, W + pw``, ``(r0, c0) = (0, 0)``,
    ``lead = ph*Wr + pw``, grid ``R × Wr``.
    """
    N: int
    C: int
    H: int
    W: int
    F: int
    KH: int
    KW: int
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    OH: int
    OW: int
    R: int
    Wr: int
    r0: int
    c0: int
    lead: int
    GH: int
    GW: int

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        return self.N, self.F, self.OH, self.OW


def _conv_geometry(fn: str, x_shape, w_shape, stride, padding, dilation
                   ) -> ConvGeometry:
    """Validate the hyperparameters and work out every size of a convolution."""
    (sh, sw) = _pair(fn, "stride", stride, 1)
    (ph, pw) = _pair(fn, "padding", padding, 0)
    (dh, dw) = _pair(fn, "dilation", dilation, 1)
    N, C, H, W = x_shape
    F, _, KH, KW = w_shape
    OH = _output_size(fn, "height", H, KH, sh, ph, dh)
    OW = _output_size(fn, "width", W, KW, sw, pw, dw)
    sizes = (N, C, H, W, F, KH, KW, (sh, sw), (ph, pw), (dh, dw), OH, OW)
    R, Wr = H + ph, W + pw
    # Shared padding needs stride 1, and padding <= the kernel span (else the output
    # is larger than the grid). Its grid has R*Wr positions for OH*OW outputs: use it
    # when that costs at most a quarter more matrix work.
    if ((sh, sw) == (1, 1) and ph <= dh * (KH - 1) and pw <= dw * (KW - 1)
            and 4 * R * Wr <= 5 * OH * OW):
        return ConvGeometry(*sizes, R, Wr, 0, 0, ph * Wr + pw, R, Wr)
    return ConvGeometry(*sizes, H + 2 * ph, W + 2 * pw, ph, pw, 0, OH, OW)


def _buffer_size(g: ConvGeometry, n: int) -> int:
    """Elements of the padded buffer of n images: its planes, and what windows read."""
    (sh, sw), (dh, dw) = g.stride, g.dilation
    plane, planes = g.R * g.Wr, g.C * n
    span = ((g.KH - 1) * dh + (g.GH - 1) * sh) * g.Wr + (g.KW - 1) * dw \
        + (g.GW - 1) * sw + 1                  # elements that one plane's windows read
    return max(g.lead + planes * plane, (planes - 1) * plane + span)


def _interior(buf: np.ndarray, g: ConvGeometry, n: int) -> np.ndarray:
    """The view of the image pixels inside a padded buffer. Shapes: -> (C, n, H, W)."""
    planes = buf[g.lead:g.lead + g.C * n * g.R * g.Wr].reshape(g.C, n, g.R, g.Wr)
    return planes[:, :, g.r0:g.r0 + g.H, g.c0:g.c0 + g.W]


def _windows(buf: np.ndarray, g: ConvGeometry, n: int, writeable: bool = False
             ) -> np.ndarray:
    """Trick 1: the view ``v[k, l, c, m, i, j] = x_p[m, c, i*sh + k*dh, j*sw + l*dw]``.

    No data is copied: the view only has the strides to jump between the entries of a
    receptive field (k, l) and between receptive fields (i, j) of the padded buffer.
    With shared padding (stride 1, grid R × Wr) the axes (c, m, i, j) have strides
    (n*R*Wr, R*Wr, Wr, 1): together they are one contiguous run, so each offset
    ``v[k, l]`` is a contiguous block. Shapes: -> (KH, KW, C, n, GH, GW).
    """
    (sh, sw), (dh, dw) = g.stride, g.dilation
    e = buf.itemsize
    strides = (dh * g.Wr, dw, n * g.R * g.Wr, g.R * g.Wr, sh * g.Wr, sw)
    return as_strided(buf, (g.KH, g.KW, g.C, n, g.GH, g.GW),
                      tuple(e * s for s in strides), writeable=writeable)


def _chunks(n: int, bytes_per_image: int) -> list[slice]:
    """Trick 2: split the batch so that one chunk's im2col matrix fits in L2."""
    step = max(1, min(n, _CHUNK_BYTES // max(1, bytes_per_image)))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


class _Buffers:
    """Work buffers for chunks of n images, reused from chunk to chunk (trick 2).

    Only the image pixels (and the valid part of the grid) are ever overwritten, so
    the padding stays zero. A smaller last chunk gets buffers of its own size.
    """

    def __init__(self, g: ConvGeometry, dtype, bias: bool):
        self.g, self.dtype, self.bias, self.n = g, dtype, bias, 0

    def resize(self, n: int) -> None:
        if n == self.n:
            return
        g, self.n = self.g, n
        TC = g.KH * g.KW * g.C
        self.x = np.zeros(_buffer_size(g, n), self.dtype)      # padded images
        self.dx = np.zeros_like(self.x)                         # their gradient
        self.cols = np.empty((TC + self.bias, n * g.GH * g.GW), self.dtype)
        self.cols[TC:] = 1.0                                    # trick 4: row of ones
        self.grid = np.zeros((g.F, n, g.GH, g.GW), self.dtype)  # dout on the grid

    def im2col(self, x: np.ndarray) -> np.ndarray:
        """Pad the chunk ``x`` and return its im2col matrix.

        Shapes: x (n, C, H, W) -> (KH*KW*C [+ 1], n*GH*GW), rows ordered (k, l, c).
        """
        g, n = self.g, x.shape[0]
        self.resize(n)
        _interior(self.x, g, n)[...] = x.transpose(1, 0, 2, 3)
        # One copy of the window view. With shared padding its inner loop runs over
        # C*n*GH*GW contiguous elements, once per kernel offset.
        TC = g.KH * g.KW * g.C
        np.copyto(self.cols[:TC].reshape(g.KH, g.KW, g.C, n, g.GH, g.GW),
                  _windows(self.x, g, n))
        return self.cols

    def on_grid(self, dout: np.ndarray) -> np.ndarray:
        """``dout`` on the output grid, zero on its extra positions (so that they add
        nothing to dw and dx). Shapes: dout (n, F, OH, OW) -> (F, n*GH*GW)."""
        g, n = self.g, dout.shape[0]
        self.resize(n)
        self.grid[:, :, :g.OH, :g.OW] = dout.transpose(1, 0, 2, 3)
        return self.grid.reshape(g.F, -1)

    def col2im(self, dcols: np.ndarray) -> np.ndarray:
        r"""The adjoint of ``im2col``: add every entry of ``dcols`` back to the pixel
        that it was read from, and crop the padding.

        Writing through the windows view all at once would be wrong: overlapping
        windows read the same pixel at different offsets, and ``+=`` on such a view
        keeps only one of the sums. So the sum runs over the KH*KW offsets (for one
        offset the pixels are distinct), each step one vectorised add of a strided
        slice; with shared padding each slice is one contiguous block. This replaces
        the slow ``np.add.at``. Shapes: dcols (KH*KW*C, n*GH*GW) -> (n, C, H, W).
        """
        g, n = self.g, self.n
        dcols = dcols.reshape(g.KH, g.KW, g.C, n, g.GH, g.GW)
        self.dx[...] = 0.0
        win = _windows(self.dx, g, n, writeable=True)
        for k in range(g.KH):
            for l in range(g.KW):
                win[k, l] += dcols[k, l]                # (C, n, GH, GW)
        return _interior(self.dx, g, n).transpose(1, 0, 2, 3)


def _weight_matrix(w: np.ndarray) -> np.ndarray:
    """(F, C, KH, KW) -> (F, KH*KW*C): columns ordered like the rows of ``cols``."""
    return w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)


# ------------------------------------------------------------------ the engine
def _conv_pass(g: ConvGeometry, w: np.ndarray, *, x: np.ndarray | None = None,
               b: np.ndarray | None = None, dout: np.ndarray | None = None,
               forward: bool = False, grad_w: bool = False, grad_x: bool = False,
               bias: bool = False) -> dict[str, np.ndarray]:
    r"""One pass over the batch, chunk by chunk, computing what is asked for.

    - ``forward``: :math:`out = w \star x + b` (N, F, OH, OW), from im2col of ``x``;
    - ``grad_w``: :math:`dw[f,c,k,l] = \sum_{n,i,j} dout[n,f,i,j]\,
      x_p[n,c,i s_h + k d_h, j s_w + l d_w]` (F, C, KH, KW), and ``db`` with ``bias``;
    - ``grad_x``: :math:`dx` (N, C, H, W), ``w^T @ dout`` sent back through col2im.

    Sharing the chunk loop lets the backward pass build each im2col matrix and each
    ``dout`` grid once for both gradients. Shapes: x (N, C, H, W), w (F, C, KH, KW),
    b (F,), dout (N, F, OH, OW). Returns a dict with the keys that were asked for.
    """
    TC = g.KH * g.KW * g.C
    bias = bias or b is not None
    dtype = (x if x is not None else dout).dtype
    bufs = _Buffers(g, dtype, bias)
    wm = _weight_matrix(w)                              # (F, TC)
    res: dict[str, np.ndarray] = {}
    if forward:
        res["out"] = np.empty(g.out_shape, dtype)
        w_t = wm.T if b is None else np.vstack([wm.T, b[None, :]])  # (TC [+1], F)
    if grad_w:
        dw_t = np.zeros((TC + bias, g.F), dtype)
    if grad_x:
        res["dx"] = np.empty((g.N, g.C, g.H, g.W), dtype)
        wm_t = np.ascontiguousarray(wm.T)               # (TC, F)
    for chunk in _chunks(g.N, (TC + bias) * g.GH * g.GW * dtype.itemsize):
        n = chunk.stop - chunk.start
        if forward or grad_w:
            cols = bufs.im2col(x[chunk])                # (TC [+1], n*P), P = GH*GW
        if forward:
            # Trick 5: ask BLAS for out^T (n*P, F) = cols^T @ w^T rather than w @ cols:
            # the same numbers, but OpenBLAS runs this shape about twice as fast when
            # F is small. One transposing copy then drops the extra grid positions.
            o = (cols.T @ w_t).reshape(n, g.GH, g.GW, g.F)
            res["out"][chunk] = o[:, :g.OH, :g.OW].transpose(0, 3, 1, 2)
        if grad_w or grad_x:
            d = bufs.on_grid(dout[chunk])               # (F, n*P)
        if grad_w:
            dw_t += cols @ d.T                          # (TC [+1], n*P) @ (n*P, F)
        if grad_x:
            # (TC, F) @ (F, n*P), into the im2col buffer: cols is no longer needed.
            dcols = np.matmul(wm_t, d, out=bufs.cols[:TC])
            res["dx"][chunk] = bufs.col2im(dcols)
    if grad_w:
        dw = dw_t[:TC].reshape(g.KH, g.KW, g.C, g.F).transpose(3, 2, 0, 1)
        res["dw"] = np.ascontiguousarray(dw)
        if bias:
            res["db"] = dw_t[TC]                        # the weight of the ones row
    return res


# ------------------------------------------------------------------ caches
class Conv2dCache(NamedTuple):
    x: np.ndarray
    w: np.ndarray
    has_bias: bool
    geometry: ConvGeometry


class ConvTranspose2dCache(NamedTuple):
    x: np.ndarray
    w: np.ndarray
    has_bias: bool
    geometry: ConvGeometry       # of the convolution whose input gradient this is


# ------------------------------------------------------------------ convolution
def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *,
                   stride: int | tuple[int, int] = 1,
                   padding: int | tuple[int, int] = 0,
                   dilation: int | tuple[int, int] = 1
                   ) -> tuple[np.ndarray, Conv2dCache]:
    r"""2-D convolution (cross-correlation), equal to ``F.conv2d(x, w, b, stride,
    padding, dilation)``.

    :math:`out[n,f,i,j] = b_f + \sum_{c,k,l} w[f,c,k,l]\, x_p[n,c,i s_h + k d_h,
    j s_w + l d_w]` with zero padding; ``stride``, ``padding``, ``dilation`` are ints
    or pairs (h, w). Shapes: x (N, C, H, W), w (F, C, KH, KW), b (F,) or None ->
    out (N, F, OH, OW), OH = ``conv_output_size(H, KH, ...)``.
    Twin: dlkit.torch.conv.conv2d_forward. Chapter 05, §Convolutional layers.
    """
    fn = "conv2d_forward"
    x, w, b = _as_arrays(fn, x=x, w=w, b=b)
    _check_conv(fn, x, w, b)
    g = _conv_geometry(fn, x.shape, w.shape, stride, padding, dilation)
    out = _conv_pass(g, w, x=x, b=b, forward=True)["out"]
    return out, Conv2dCache(x, w, b is not None, g)


def conv2d_backward(dout: np.ndarray, cache: Conv2dCache
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    r"""Gradients of ``conv2d_forward``: ``(dx, dw, db)`` (``db`` None without bias).

    :math:`dw = dout \star x` (the input correlated with the output gradient),
    :math:`dx` = ``dout`` sent back through the weights to every pixel that each
    window read (col2im; equivalently a full correlation of ``dout`` with the flipped
    kernel), :math:`db_f = \sum_{n,i,j} dout[n,f,i,j]`.
    Shapes: dout (N, F, OH, OW) -> dx (N, C, H, W), dw (F, C, KH, KW), db (F,).
    Twin: dlkit.torch.conv.conv2d_backward. Chapter 05, §Convolutional layers.
    """
    fn = "conv2d_backward"
    _check_cache(fn, cache, Conv2dCache)
    x, w, has_bias, g = cache
    dout = as_float_array(fn, "dout", dout).astype(x.dtype, copy=False)
    _check_dout(fn, dout, g.out_shape)
    res = _conv_pass(g, w, x=x, dout=dout, grad_w=True, grad_x=True, bias=has_bias)
    return res["dx"], res["dw"], res.get("db")


# ------------------------------------------------------------------ transposed conv
def _transposed_geometry(fn: str, x_shape, w_shape, stride, padding,
                         output_padding=0) -> ConvGeometry:
    """The geometry of the convolution whose input gradient the transposed conv is."""
    (sh, sw) = _pair(fn, "stride", stride, 1)
    (ph, pw) = _pair(fn, "padding", padding, 0)
    (oh, ow) = _pair(fn, "output_padding", output_padding, 0)
    if oh >= sh or ow >= sw:
        raise ValueError(
            f"{fn}: `output_padding`={output_padding!r} must be smaller than `stride`"
            f"={stride!r} in each dimension, as in torch: it picks one of the `stride` "
            f"output sizes whose conv2d has the input's size. Use output_padding <= "
            f"stride - 1 (0 for stride 1).")
    N, C_in, H, W = x_shape
    _, C_out, KH, KW = w_shape
    # Every output size Ho = (H-1)*s - 2p + KH + op with 0 <= op < s has a
    # convolution of size H; output_padding picks one (8.4).
    Ho = (H - 1) * sh - 2 * ph + KH + oh
    Wo = (W - 1) * sw - 2 * pw + KW + ow
    if Ho < 1 or Wo < 1:
        raise ValueError(
            f"{fn}: the output would be {Ho}x{Wo}, but (H-1)*stride - 2*padding + KH "
            f"+ output_padding = ({H}-1)*{sh} - 2*{ph} + {KH} + {oh} must be >= 1 "
            f"(and likewise for the width); use less padding or a larger kernel.")
    return _conv_geometry(fn, (N, C_out, Ho, Wo), (C_in, C_out, KH, KW), (sh, sw),
                          (ph, pw), 1)


def conv_transpose2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                             *, stride: int | tuple[int, int] = 1,
                             padding: int | tuple[int, int] = 0,
                             output_padding: int | tuple[int, int] = 0
                             ) -> tuple[np.ndarray, ConvTranspose2dCache]:
    r"""Transposed convolution, equal to ``F.conv_transpose2d(x, w, b, stride,
    padding, output_padding)``.

    The adjoint of ``conv2d``: :math:`out = (\partial\,\mathrm{conv2d}/\partial x)^\top
    x + b`: input pixel (i, j) adds ``x[n, c, i, j] * w[c]`` to the output window at
    (i s_h - p_h, j s_w - p_w). ``output_padding`` (< stride) adds rows and columns
    at the bottom and right, so that a stride-2 decoder can map 7 back to 14.
    Shapes: x (N, C_in, H, W), w (C_in, C_out, KH, KW), b (C_out,) or None ->
    out (N, C_out, Ho, Wo), Ho = (H-1) s_h - 2 p_h + KH + output_padding_h.
    Twin: dlkit.torch.conv.conv_transpose2d_forward. Chapter 08, §Transposed
    convolution.
    """
    fn = "conv_transpose2d_forward"
    x, w, b = _as_arrays(fn, x=x, w=w, b=b)
    _check_conv(fn, x, w, b, transposed=True)
    g = _transposed_geometry(fn, x.shape, w.shape, stride, padding, output_padding)
    out = _conv_pass(g, w, dout=x, grad_x=True)["dx"]   # conv2d's dx, with dout = x
    if b is not None:
        out += b[:, None, None]
    return out, ConvTranspose2dCache(x, w, b is not None, g)


def conv_transpose2d_backward(dout: np.ndarray, cache: ConvTranspose2dCache
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    r"""Gradients of ``conv_transpose2d_forward``: ``(dx, dw, db)``.

    The adjoint of the adjoint is the convolution itself: :math:`dx = w \star dout`
    (``conv2d`` of ``dout`` with the same weights read as (F, C) = (C_in, C_out)),
    :math:`dw = x \star dout`, :math:`db = \sum dout`; one im2col pass over ``dout``
    gives dx and dw. Shapes: dout (N, C_out, Ho, Wo) -> dx (N, C_in, H, W),
    dw (C_in, C_out, KH, KW), db (C_out,). Twin:
    dlkit.torch.conv.conv_transpose2d_backward.
    """
    fn = "conv_transpose2d_backward"
    _check_cache(fn, cache, ConvTranspose2dCache)
    x, w, has_bias, g = cache
    dout = as_float_array(fn, "dout", dout).astype(x.dtype, copy=False)
    _check_dout(fn, dout, (g.N, g.C, g.H, g.W))
    res = _conv_pass(g, w, x=dout, dout=x, forward=True, grad_w=True)
    dx, dw = res["out"], res["dw"]
    # Sum the contiguous last axis first: that is NumPy's fast (pairwise) summation.
    db = dout.reshape(g.N, g.C, -1).sum(axis=2).sum(axis=0) if has_bias else None
    return dx, dw, db


# ------------------------------------------------------------------ pooling
class PoolGeometry(NamedTuple):
    x_shape: tuple[int, int, int, int]
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    OH: int
    OW: int

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        return self.x_shape[0], self.x_shape[1], self.OH, self.OW


class MaxPool2dCache(NamedTuple):
    argmax: np.ndarray           # (N, C, OH, OW): the winning offset k*KW + l (uint8)
    geometry: PoolGeometry
    dtype: np.dtype


class AvgPool2dCache(NamedTuple):
    geometry: PoolGeometry
    dtype: np.dtype


def _pool_geometry(fn: str, x_shape, kernel_size, stride, padding) -> PoolGeometry:
    """Validate pooling hyperparameters like torch, and work out the output size."""
    k = _pair(fn, "kernel_size", kernel_size, 1)
    s = k if stride is None else _pair(fn, "stride", stride, 1)
    p = _pair(fn, "padding", padding, 0)
    for what, ki, pi in zip(("height", "width"), k, p):
        if 2 * pi > ki:
            raise ValueError(
                f"{fn}: `padding`={padding!r} must be at most half of `kernel_size`="
                f"{kernel_size!r} ({what}: {pi} > {ki}/2), as in torch: a window could "
                f"otherwise hold nothing but padding. Use padding <= {ki // 2}.")
    OH = _output_size(fn, "height", x_shape[2], k[0], s[0], p[0], 1)
    OW = _output_size(fn, "width", x_shape[3], k[1], s[1], p[1], 1)
    return PoolGeometry(tuple(x_shape), k, s, p, OH, OW)


def _pad(x: np.ndarray, p: tuple[int, int], value: float) -> np.ndarray:
    if p == (0, 0):
        return x
    N, C, H, W = x.shape
    xp = np.full((N, C, H + 2 * p[0], W + 2 * p[1]), value, x.dtype)
    xp[:, :, p[0]:p[0] + H, p[1]:p[1] + W] = x
    return xp


def _crop(xp: np.ndarray, p: tuple[int, int]) -> np.ndarray:
    if p == (0, 0):
        return xp
    return xp[:, :, p[0]:xp.shape[2] - p[0], p[1]:xp.shape[3] - p[1]].copy()


def _taps(xp: np.ndarray, g: PoolGeometry) -> list[np.ndarray]:
    """The KH*KW strided slices ``xp[..., k + i*sh, l + j*sw]``, one per window offset.

    Slice ``k*KW + l`` holds entry (k, l) of every window: a view, no copy. Pooling is
    then an elementwise max or sum of these arrays, which NumPy runs at memory speed.
    Shapes: xp (N, C, Hp, Wp) -> KH*KW views (N, C, OH, OW).
    """
    (KH, KW), (sh, sw) = g.kernel_size, g.stride
    hs, ws = sh * (g.OH - 1) + 1, sw * (g.OW - 1) + 1
    return [xp[:, :, k:k + hs:sh, l:l + ws:sw] for k in range(KH) for l in range(KW)]


def max_pool2d_forward(x: np.ndarray, *, kernel_size: int | tuple[int, int],
                       stride: int | tuple[int, int] | None = None,
                       padding: int | tuple[int, int] = 0
                       ) -> tuple[np.ndarray, MaxPool2dCache]:
    r"""Max pooling, equal to ``F.max_pool2d(x, kernel_size, stride, padding)``.

    :math:`out[n,c,i,j] = \max_{k,l} x_p[n,c,i s_h + k, j s_w + l]`, padding with
    :math:`-\infty`; ``stride`` defaults to ``kernel_size``. Shapes: x (N, C, H, W) ->
    out (N, C, OH, OW), OH = ``conv_output_size(H, KH, stride=sh, padding=ph)``.
    Twin: dlkit.torch.conv.max_pool2d_forward. Chapter 05, §Pooling.
    """
    fn = "max_pool2d_forward"
    x = as_float_array(fn, "x", x)
    _check_images(fn, "x", x)
    g = _pool_geometry(fn, x.shape, kernel_size, stride, padding)
    taps = _taps(_pad(x, g.padding, -np.inf), g)
    out = taps[0].copy()
    argmax = np.zeros(out.shape, np.uint8 if len(taps) <= 256 else np.int32)
    for t in range(1, len(taps)):
        # The first maximum in row-major order wins, as in torch (ties are common:
        # zeros after a ReLU). Offset t takes over only where it is strictly larger
        # than the maximum of offsets 0..t-1, or NaN (NaN propagates, as in torch).
        better = np.greater(taps[t], out)
        better |= np.isnan(taps[t])
        np.maximum(out, taps[t], out=out)
        # argmax = the last t that took over; t grows, so a running maximum of
        # t*better records it with two cheap contiguous operations (no masked writes).
        np.maximum(argmax, better * argmax.dtype.type(t), out=argmax)
    return out, MaxPool2dCache(argmax, g, x.dtype)


def max_pool2d_backward(dout: np.ndarray, cache: MaxPool2dCache) -> np.ndarray:
    r""":math:`dx` = each window's ``dout`` routed to the window's (first) maximum.

    Only the winner of a window moves the output, so it alone gets the gradient; with
    ties the first maximum in row-major order gets it, like torch. With overlapping
    windows (stride < kernel) a pixel can win several windows: the gradients add.
    Shapes: dout (N, C, OH, OW) -> dx (N, C, H, W). Twin:
    dlkit.torch.conv.max_pool2d_backward. Chapter 05, §Pooling.
    """
    fn = "max_pool2d_backward"
    _check_cache(fn, cache, MaxPool2dCache)
    argmax, g, dtype = cache
    dout = as_float_array(fn, "dout", dout).astype(dtype, copy=False)
    _check_dout(fn, dout, g.out_shape)
    (N, C, H, W), (ph, pw) = g.x_shape, g.padding
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype)
    overlap = any(s < k for s, k in zip(g.stride, g.kernel_size))
    for t, tap in enumerate(_taps(dxp, g)):
        # dout * [argmax == t]: a multiplication by a 0/1 mask, faster than a masked
        # write. Without overlap each pixel is in at most one window: write, not add.
        if overlap:
            tap += dout * (argmax == t)
        else:
            np.multiply(dout, argmax == t, out=tap)
    return _crop(dxp, g.padding)


def avg_pool2d_forward(x: np.ndarray, *, kernel_size: int | tuple[int, int],
                       stride: int | tuple[int, int] | None = None,
                       padding: int | tuple[int, int] = 0
                       ) -> tuple[np.ndarray, AvgPool2dCache]:
    r"""Average pooling, equal to ``F.avg_pool2d(x, kernel_size, stride, padding)``.

    :math:`out[n,c,i,j] = \frac{1}{KH\,KW} \sum_{k,l} x_p[n,c,i s_h + k, j s_w + l]`,
    the zero padding counted in the mean (torch's ``count_include_pad=True``);
    ``stride`` defaults to ``kernel_size``. Shapes: x (N, C, H, W) -> out (N, C, OH,
    OW). Twin: dlkit.torch.conv.avg_pool2d_forward. Chapter 05, §Pooling.
    """
    fn = "avg_pool2d_forward"
    x = as_float_array(fn, "x", x)
    _check_images(fn, "x", x)
    g = _pool_geometry(fn, x.shape, kernel_size, stride, padding)
    taps = _taps(_pad(x, g.padding, 0.0), g)
    out = taps[0].copy()
    for tap in taps[1:]:
        out += tap
    out /= len(taps)
    return out, AvgPool2dCache(g, x.dtype)


def avg_pool2d_backward(dout: np.ndarray, cache: AvgPool2dCache) -> np.ndarray:
    r""":math:`dx` = ``dout / (KH KW)`` spread evenly over each window (overlaps add).

    Shapes: dout (N, C, OH, OW) -> dx (N, C, H, W). Twin:
    dlkit.torch.conv.avg_pool2d_backward. Chapter 05, §Pooling.
    """
    fn = "avg_pool2d_backward"
    _check_cache(fn, cache, AvgPool2dCache)
    g, dtype = cache
    dout = as_float_array(fn, "dout", dout).astype(dtype, copy=False)
    _check_dout(fn, dout, g.out_shape)
    (N, C, H, W), (ph, pw) = g.x_shape, g.padding
    share = dout / (g.kernel_size[0] * g.kernel_size[1])
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype)
    overlap = any(s < k for s, k in zip(g.stride, g.kernel_size))
    for tap in _taps(dxp, g):
        if overlap:
            tap += share
        else:
            tap[...] = share
    return _crop(dxp, g.padding)


# ------------------------------------------------------------------ unpooling (ch. 08)
class MaxUnpool2dCache(NamedTuple):
    indices: np.ndarray          # (N, C, H*W): flat positions in OH*OW, int64
    x_shape: tuple[int, int, int, int]
    out_shape: tuple[int, int, int, int]
    dtype: np.dtype


class UpsampleNearest2dCache(NamedTuple):
    x_shape: tuple[int, int, int, int]
    scale_factor: tuple[int, int]
    dtype: np.dtype


def _own_cache(fn: str, cache: Any, field: str, kind: type, twin: str) -> None:
    """Caches are shared by both twins: refuse one that holds the other's arrays."""
    if not isinstance(getattr(cache, field), kind):
        raise TypeError(
            f"{fn}: this cache holds {type(getattr(cache, field)).__name__} values, "
            f"so it comes from the other backend; use {twin} with it.")


def _pool_index_grid(g: PoolGeometry, arange: Any = np.arange):
    """Rows and columns of the first pixel of every window, in unpadded coordinates.

    Shapes: -> rows (OH, 1), cols (1, OW), integer arrays made by ``arange`` (NumPy's,
    or torch's on the right device).
    """
    (sh, sw), (ph, pw) = g.stride, g.padding
    rows = arange(g.OH).reshape(-1, 1) * sh - ph
    cols = arange(g.OW).reshape(1, -1) * sw - pw
    return rows, cols


def max_pool2d_indices(cache: MaxPool2dCache) -> np.ndarray:
    r"""The indices of ``F.max_pool2d(x, ..., return_indices=True)``, from the cache
    of ``max_pool2d_forward``: where each window's (first) maximum sits in ``x``.

    :math:`idx[n,c,i,j] = (i s_h + k - p_h)\,W + (j s_w + l - p_w)` for the winning
    offset (k, l), a flat index into the H*W pixels of channel c, which is what
    ``max_unpool2d_forward`` needs (8.7). Shapes: MaxPool2dCache of x (N, C, H, W) ->
    indices (N, C, OH, OW), int64. Twin: dlkit.torch.conv.max_pool2d_indices.
    Chapter 08, §Unpooling and upsampling.
    """
    fn = "max_pool2d_indices"
    _check_cache(fn, cache, MaxPool2dCache)
    _own_cache(fn, cache, "argmax", np.ndarray, "dlkit.torch.conv.max_pool2d_indices")
    argmax, g, _ = cache
    H, W = g.x_shape[2:]
    KW = g.kernel_size[1]
    t = argmax.astype(np.int64)
    rows, cols = _pool_index_grid(g)
    # A window of -inf only (with padding) keeps offset 0, which may be padding;
    # torch then names the window's first real pixel: clipping gives exactly that.
    r = np.clip(rows + t // KW, 0, H - 1)
    c = np.clip(cols + t % KW, 0, W - 1)
    return r * W + c


def _unpool_geometry(fn: str, x_shape, kernel_size, stride, padding, output_size
                     ) -> tuple[int, int]:
    """The output size of max unpooling, validated like ``F.max_unpool2d``."""
    k = _pair(fn, "kernel_size", kernel_size, 1)
    s = k if stride is None else _pair(fn, "stride", stride, 1)
    p = _pair(fn, "padding", padding, 0)
    # The input size of the max pooling that gave x: (H - 1)*s - 2p + k.
    default = tuple((x_shape[2 + d] - 1) * s[d] - 2 * p[d] + k[d] for d in (0, 1))
    if output_size is None:
        if min(default) < 1:
            raise ValueError(
                f"{fn}: the output would be {default[0]}x{default[1]} = (H-1)*stride "
                f"- 2*padding + kernel_size, which is empty; use less padding.")
        return default
    size = tuple(output_size) if isinstance(output_size, (tuple, list)) else None
    if size is not None and len(size) == 4:
        size = size[2:]                      # (N, C, H, W), as torch accepts
    if size is None or len(size) != 2 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
            for v in size):
        raise ValueError(f"{fn}: `output_size` must be None or a pair (H, W) of ints "
                         f"(or (N, C, H, W), e.g. the shape of the pooled input), "
                         f"got {output_size!r}.")
    for d, what in enumerate(("height", "width")):
        low, high = default[d] - s[d], default[d] + s[d]
        if not low < size[d] < high or size[d] < 1:
            raise ValueError(
                f"{fn}: `output_size`={output_size!r} is not the input size of a max "
                f"pooling with these hyperparameters: the {what} must be between "
                f"{low} and {high} (exclusive), as in torch. Pass the shape of the "
                f"pooling's input, or check kernel_size, stride and padding.")
    return int(size[0]), int(size[1])


def _check_indices(fn: str, indices: Any, x_shape) -> None:
    """One index per value of x."""
    if tuple(indices.shape) != tuple(x_shape):
        raise ValueError(
            f"{fn}: `indices` has shape {tuple(indices.shape)}, expected the shape of "
            f"`x`, {tuple(x_shape)}: one index per value, as max_pool2d_indices or "
            f"F.max_pool2d(..., return_indices=True) return them.")


def _index_range_error(fn: str, amin: int, amax: int, out_hw) -> ValueError:
    """The error for indices outside [0, OH*OW); amin/amax: the range they cover."""
    return ValueError(
        f"{fn}: `indices` range from {amin} to {amax}, but they are flat positions "
        f"in the {out_hw[0]}x{out_hw[1]} output of each channel, from 0 to "
        f"{out_hw[0] * out_hw[1] - 1}. Use the indices of the max pooling whose "
        f"input had that size, or pass its shape as `output_size`.")


def max_unpool2d_forward(x: np.ndarray, indices: np.ndarray, *,
                         kernel_size: int | tuple[int, int],
                         stride: int | tuple[int, int] | None = None,
                         padding: int | tuple[int, int] = 0,
                         output_size: tuple[int, ...] | None = None
                         ) -> tuple[np.ndarray, MaxUnpool2dCache]:
    r"""Max unpooling (8.7), equal to ``F.max_unpool2d(x, indices, kernel_size, stride,
    padding, output_size)``: each value goes back where its maximum was.

    :math:`out[n,c,\,idx[n,c,i,j]] = x[n,c,i,j]`, zero elsewhere, with the flat indices
    of ``max_pool2d_indices`` (or torch's ``return_indices=True``). An index named
    twice (overlapping windows, then with equal values) keeps one of its values;
    torch does not say which either. ``output_size`` defaults to (H-1) s - 2p + k;
    pass the pooled input's shape when the pooling dropped a remainder (7x7 pooled
    by 2). Shapes: x (N, C, H, W), indices (N, C, H, W) integers ->
    out (N, C, OH, OW). Twin: dlkit.torch.conv.max_unpool2d_forward. Chapter 08,
    §Unpooling and upsampling.
    """
    fn = "max_unpool2d_forward"
    x = as_float_array(fn, "x", x)
    _check_images(fn, "x", x)
    if type(indices).__module__.startswith("torch"):
        raise TypeError(f"{fn}: `indices` is a torch.Tensor, but this is the NumPy "
                        f"version; convert with dlkit.to_numpy(indices).")
    indices = np.asarray(indices)
    if not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(f"{fn}: `indices` must hold integers (flat positions), got "
                        f"dtype {indices.dtype}; use the output of max_pool2d_indices.")
    _check_indices(fn, indices, x.shape)
    OH, OW = _unpool_geometry(fn, x.shape, kernel_size, stride, padding, output_size)
    if indices.size and (indices.min() < 0 or indices.max() >= OH * OW):
        raise _index_range_error(fn, int(indices.min()), int(indices.max()), (OH, OW))
    N, C = x.shape[:2]
    idx = indices.reshape(N, C, -1).astype(np.int64)
    out = np.zeros((N, C, OH * OW), x.dtype)
    # Along the last axis, out[n, c, idx[n, c, m]] = x[n, c, m]: one scatter.
    np.put_along_axis(out, idx, x.reshape(N, C, -1), axis=2)
    return (out.reshape(N, C, OH, OW),
            MaxUnpool2dCache(idx, tuple(x.shape), (N, C, OH, OW), x.dtype))


def max_unpool2d_backward(dout: np.ndarray, cache: MaxUnpool2dCache) -> np.ndarray:
    r""":math:`dx[n,c,i,j] = dout[n,c,\,idx[n,c,i,j]]`: each value reads the gradient
    of the pixel it was written to (a gather, the adjoint of the scatter).

    As in torch, a repeated index gives its gradient to every value that names it.
    Shapes: dout (N, C, OH, OW) -> dx (N, C, H, W). Twin:
    dlkit.torch.conv.max_unpool2d_backward. Chapter 08, §Unpooling and upsampling.
    """
    fn = "max_unpool2d_backward"
    _check_cache(fn, cache, MaxUnpool2dCache)
    _own_cache(fn, cache, "indices", np.ndarray,
               "dlkit.torch.conv.max_unpool2d_backward")
    idx, x_shape, out_shape, dtype = cache
    dout = as_float_array(fn, "dout", dout).astype(dtype, copy=False)
    _check_dout(fn, dout, out_shape)
    N, C = x_shape[:2]
    dx = np.take_along_axis(dout.reshape(N, C, -1), idx, axis=2)
    return dx.reshape(x_shape)


def _scale_factor(fn: str, scale_factor: Any) -> tuple[int, int]:
    try:
        return _pair(fn, "scale_factor", scale_factor, 1)
    except ValueError as err:
        raise ValueError(
            f"{err} Nearest upsampling here repeats every pixel a whole number of "
            f"times; for another factor use F.interpolate, for 2.0 pass 2.") from None


def upsample_nearest2d_forward(x: np.ndarray, *, scale_factor: int | tuple[int, int]
                               ) -> tuple[np.ndarray, UpsampleNearest2dCache]:
    r"""Nearest-neighbour upsampling by whole factors, equal to ``F.interpolate(x,
    scale_factor=scale_factor, mode="nearest")``: each pixel becomes an s_h × s_w block.

    :math:`out[n,c,i,j] = x[n,c,\lfloor i/s_h \rfloor,\lfloor j/s_w \rfloor]`; followed
    by a convolution it is the resize-then-convolve decoder, free of checkerboards
    (8.11). Shapes: x (N, C, H, W) -> out (N, C, s_h H, s_w W). Twin:
    dlkit.torch.conv.upsample_nearest2d_forward. Chapter 08, §Unpooling and upsampling.
    """
    fn = "upsample_nearest2d_forward"
    x = as_float_array(fn, "x", x)
    _check_images(fn, "x", x)
    sh, sw = _scale_factor(fn, scale_factor)
    N, C, H, W = x.shape
    # Output row i*sh + a, column j*sw + b holds x[i, j]: read as (H, sh, W, sw), the
    # output is x[:, :, :, None, :, None] broadcast over the offsets a and b; one copy.
    out = np.broadcast_to(x[:, :, :, None, :, None], (N, C, H, sh, W, sw))
    return (out.reshape(N, C, H * sh, W * sw),
            UpsampleNearest2dCache((N, C, H, W), (sh, sw), x.dtype))


def upsample_nearest2d_backward(dout: np.ndarray, cache: UpsampleNearest2dCache
                                ) -> np.ndarray:
    r""":math:`dx[n,c,i,j] = \sum_{a<s_h,\,b<s_w} dout[n,c,i s_h + a, j s_w + b]`: each
    pixel collects the gradient of the block it was copied to.

    Shapes: dout (N, C, s_h H, s_w W) -> dx (N, C, H, W). Twin:
    dlkit.torch.conv.upsample_nearest2d_backward. Chapter 08, §Unpooling and
    upsampling.
    """
    fn = "upsample_nearest2d_backward"
    _check_cache(fn, cache, UpsampleNearest2dCache)
    (N, C, H, W), (sh, sw), dtype = cache
    dout = as_float_array(fn, "dout", dout).astype(dtype, copy=False)
    _check_dout(fn, dout, (N, C, H * sh, W * sw))
    # The same reshape as the forward pass, (H*sh, W*sw) -> (H, sh, W, sw) (a view):
    # summing the two offset axes adds up every block.
    return dout.reshape(N, C, H, sh, W, sw).sum(axis=(3, 5))
