"""The convolution explorer of chapter 05: a kernel slides over an image.

Two front ends share one computation and one drawing:

- :func:`compute_conv` runs :func:`dlkit.numpy.conv.conv2d_forward` on one of the
  ``IMAGES`` with a kernel (one of the ``KERNELS`` or your own 3x3/5x5 array), a
  stride and a padding, and takes out the window under one output pixel, its
  elementwise products with the kernel and their sum;
- :class:`ConvFigure` draws the zero-padded input with that window and the output
  with that pixel (a PNG), and :func:`conv_html` writes the output-size formula with
  the numbers substituted and the table "window ⊙ kernel = products, sum = output
  pixel" (HTML, so that every number stays sharp).

:func:`conv_explorer` is the live version (Jupyter, Colab: it needs a kernel), with
an editable kernel grid; :func:`conv_explorer_static` pre-renders a grid of settings
switched in the browser by ``jslink``-ed controls, so that it also responds on the
static website, where no kernel runs.

"Convolution" here is what deep-learning libraries compute, a cross-correlation:
output[i, j] = sum_{u, v} padded[i S + u, j S + v] kernel[u, v], no kernel flip.
"""
from __future__ import annotations

import contextlib
import functools
import gzip
import html
import importlib.util
import time
from dataclasses import dataclass
from itertools import product as _product
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.patheffects import withStroke
from PIL import Image

from .._checks import check_int
from ..numpy import conv as np_conv
from ._render import Blitter
from .playground import nested_stack

__all__ = [
    "IMAGES", "KERNELS", "STRIDES", "PADDINGS", "POSITIONS", "load_image",
    "ConvResult", "compute_conv", "ConvFigure", "conv_html", "ConvExplorer",
    "StaticConvExplorer", "conv_explorer", "conv_explorer_static",
]

# ----------------------------------------------------------------------------- images
#: The images, by name: what each shows (all grayscale, values in [0, 1], offline).
IMAGES: dict[str, str] = {
    "shapes": "a white square and a white disk on black, 40 × 40: sharp edges",
    "digit": "a handwritten 4 from scikit-learn's digits, 8 × 8 as it ships",
    "china": "scikit-learn's china.jpg (a pagoda), grayscale, 64 × 64",
    "flower": "scikit-learn's flower.jpg (a dahlia), grayscale, 64 × 64",
}
_IMAGE_LABELS = {"shapes": "shapes (40 × 40)", "digit": "digit (8 × 8)",
                 "china": "china (64 × 64)", "flower": "flower (64 × 64)"}


def _sklearn_file(*parts: str) -> Path | None:
    """A data file that ships with scikit-learn, found without importing it."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent.joinpath("datasets", *parts)
    return path if path.is_file() else None


def _photo(name: str, crop: float) -> np.ndarray:
    """A square crop of a sample photo, grayscale, downsampled to 64 x 64."""
    path = _sklearn_file("images", f"{name}.jpg")
    if path is not None:  # importing sklearn.datasets takes 1.5 s, the file 0.1 s
        photo = Image.open(path)
    else:
        from sklearn.datasets import load_sample_image
        photo = Image.fromarray(load_sample_image(f"{name}.jpg"))
    photo = photo.convert("L")  # luma: 0.299 R + 0.587 G + 0.114 B
    w, h = photo.size
    side = min(w, h)
    left, top = round((w - side) * crop), (h - side) // 2
    # PIL widens the LANCZOS filter to each output pixel's footprint: no aliasing.
    small = photo.crop((left, top, left + side, top + side)).resize(
        (64, 64), Image.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.float64) / 255.0


def _digit(index: int = 4) -> np.ndarray:
    path = _sklearn_file("data", "digits.csv.gz")
    if path is not None:
        with gzip.open(path, "rt") as file:
            rows = np.loadtxt(file, delimiter=",", max_rows=index + 1)
        pixels = rows[index, :64]
    else:
        from sklearn.datasets import load_digits
        pixels = load_digits().data[index]
    return pixels.reshape(8, 8) / 16.0  # the digits' grey levels are 0..16


def _shapes() -> np.ndarray:
    rows, cols = np.mgrid[0:40, 0:40]
    image = np.zeros((40, 40))
    image[5:17, 5:17] = 1.0                                       # a 12 x 12 square
    image[(rows - 26) ** 2 + (cols - 26) ** 2 <= 9 ** 2] = 1.0    # a disk, radius 9
    return image


_LOADERS: dict[str, Callable[[], np.ndarray]] = {
    "shapes": _shapes, "digit": _digit,
    "china": lambda: _photo("china", 0.3),   # the pagoda is left of centre
    "flower": lambda: _photo("flower", 0.5),
}


@functools.lru_cache(maxsize=None)
def load_image(name: str) -> np.ndarray:
    """One of the explorer's ``IMAGES``: a read-only float64 array in [0, 1].

    Shapes: -> (H, W): shapes (40, 40), digit (8, 8), china and flower (64, 64).
    """
    _check_choice("load_image", "image", name, IMAGES)
    image = _LOADERS[name]()
    image.flags.writeable = False  # the cache hands out the same array again
    return image


# ---------------------------------------------------------------------------- kernels
def _binomial(n: int) -> np.ndarray:
    row = np.array([1.0])
    for _ in range(n - 1):
        row = np.convolve(row, [1.0, 1.0])
    return np.outer(row, row) / row.sum() ** 2


_SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])

#: The preset kernels. Each is one (K, K) array, except "edge magnitude", which is
#: two convolutions combined: sqrt(Sobel_x(image)^2 + Sobel_y(image)^2).
KERNELS: dict[str, tuple[np.ndarray, ...]] = {
    "identity": (np.pad([[1.0]], 1),),
    "box blur 3x3": (np.full((3, 3), 1 / 9),),
    "Gaussian 3x3": (_binomial(3),),
    "Gaussian 5x5": (_binomial(5),),
    "sharpen": (np.array([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]]),),
    "Laplacian": (np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]),),
    "Sobel x": (_SOBEL_X,),
    "Sobel y": (_SOBEL_X.T.copy(),),
    "edge magnitude": (_SOBEL_X, _SOBEL_X.T.copy()),
}
for _pair in KERNELS.values():
    for _k in _pair:
        _k.flags.writeable = False

# What each kernel does, in one line (shown under the table).
_KERNEL_NOTES = {
    "identity": "the centre weight is 1, all others 0: the output copies the input.",
    "box blur 3x3": "the mean of the 3 × 3 window: a blur.",
    "Gaussian 3x3": "a weighted mean, heavier in the centre (1 2 1 ⊗ 1 2 1 / 16): "
                    "a gentler blur.",
    "Gaussian 5x5": "a wider weighted mean (1 4 6 4 1 ⊗ 1 4 6 4 1 / 256): "
                    "a stronger blur.",
    "sharpen": "identity minus Laplacian: 5 × centre − 4 neighbours. Edges get "
               "steeper; the weights sum to 1, so flat areas stay as they are.",
    "Laplacian": "4 neighbours − 4 × centre: 0 on flat areas and ramps, large where "
                 "the brightness bends (on both sides of an edge).",
    "Sobel x": "right column − left column, smoothed vertically: positive where the "
               "image gets brighter to the right, negative where it gets darker.",
    "Sobel y": "bottom row − top row: positive where the image gets brighter "
               "downwards.",
    "edge magnitude": "not one kernel but two convolutions, Sobel x and Sobel y, "
                      "combined pixel by pixel into the length of the gradient "
                      "√(gx² + gy²): large on every edge, whatever its direction.",
    "custom": "your kernel.",
}

#: The strides and paddings the explorers offer; "same" pads P = (K - 1) / 2, which
#: keeps the output as large as the input at stride 1.
STRIDES: tuple[int, ...] = (1, 2, 3)
PADDINGS: tuple[int | str, ...] = (0, 1, 2, "same")

#: Named window positions (the static explorer's choices): the output pixel with
#: the largest |value| (the one nearest the centre among ties), output pixel (0, 0),
#: where the window hangs over the padding, and the centre of the output.
POSITIONS: tuple[str, ...] = ("strongest response", "top-left corner", "centre")


# ----------------------------------------------------------------------------- checks
def _check_choice(fn: str, name: str, value: Any, options: Any) -> None:
    if not isinstance(value, str) or value not in options:
        raise ValueError(
            f"{fn}: unknown `{name}`={value!r}; choose one of "
            f"{', '.join(repr(o) for o in options)}."
        )


def _check_kernel(fn: str, kernel: Any) -> tuple[str, tuple[np.ndarray, ...]]:
    """A preset's name or a square 3x3/5x5 array -> (name, kernels)."""
    if isinstance(kernel, str):
        _check_choice(fn, "kernel", kernel, KERNELS)
        return kernel, KERNELS[kernel]
    try:
        array = np.array(kernel, dtype=np.float64)
        got = (f"shape {array.shape}" if array.shape not in ((3, 3), (5, 5))
               else None if np.isfinite(array).all() else "non-finite values")
    except (TypeError, ValueError):  # ragged lists, strings inside...
        got = f"{type(kernel).__name__} {kernel!r}"
    if got is not None:
        raise ValueError(
            f"{fn}: `kernel` must be a square 3x3 or 5x5 array of finite numbers or "
            f"the name of a preset ({', '.join(repr(k) for k in KERNELS)}), got {got}."
        )
    array.flags.writeable = False
    return "custom", (array,)


def _check_stride(fn: str, stride: Any, allowed: Sequence[int] | None = None) -> int:
    if allowed is not None and (isinstance(stride, bool) or stride not in allowed):
        raise ValueError(
            f"{fn}: `stride` must be one of {', '.join(map(str, allowed))}, "
            f"got {stride!r}."
        )
    return check_int(fn, "stride", stride, low=1)


def _check_padding(fn: str, padding: Any, size: int,
                   allowed: Sequence[int | str] | None = None) -> int:
    """An int P >= 0 or "same" (P = (K - 1) / 2) -> P, for a kernel of ``size``."""
    if padding == "same":
        return (size - 1) // 2
    if allowed is not None and (isinstance(padding, bool) or padding not in allowed):
        raise ValueError(
            f"{fn}: `padding` must be one of {', '.join(repr(p) for p in allowed)}, "
            f"got {padding!r}."
        )
    if isinstance(padding, str):
        raise ValueError(f"{fn}: `padding` must be an int >= 0 or 'same', "
                         f"got {padding!r}.")
    return check_int(fn, "padding", padding, low=0)


def _check_size(fn: str, width: Any, height: Any, dpi: Any) -> None:
    check_int(fn, "width", width, low=400, high=2000)
    check_int(fn, "height", height, low=200, high=1200)
    check_int(fn, "dpi", dpi, low=30, high=300)


# ------------------------------------------------------------------------ computation
@dataclass(frozen=True)
class ConvResult:
    """The result of :func:`compute_conv`.

    ``maps`` holds what :func:`dlkit.numpy.conv.conv2d_forward` returned, one map per
    kernel (one, or two for "edge magnitude"); ``out`` is the map shown (for the
    magnitude, sqrt(maps[0]^2 + maps[1]^2)). At output pixel ``position`` = (i, j),
    ``window`` = padded[i S : i S + K, j S : j S + K] and ``products[f]`` =
    window * kernels[f], whose sum ``sums[f]`` is maps[f][i, j].

    Shapes: image (H, W), padded (H + 2P, W + 2P), kernels[f] (K, K), maps[f] and
    out (H_out, W_out) with H_out = (H + 2P - K) // S + 1, window and products[f]
    (K, K).
    """

    image_name: str | None
    kernel_name: str
    image: np.ndarray
    kernels: tuple[np.ndarray, ...]
    stride: int
    padding: int
    padding_label: str
    padded: np.ndarray
    maps: tuple[np.ndarray, ...]
    out: np.ndarray
    position: tuple[int, int]
    window: np.ndarray
    products: tuple[np.ndarray, ...]
    sums: tuple[float, ...]

    @property
    def kernel_size(self) -> int:
        return self.kernels[0].shape[0]

    @property
    def value(self) -> float:
        """The output pixel at ``position``."""
        return float(self.out[self.position])

    @property
    def window_origin(self) -> tuple[int, int]:
        """The window's top-left pixel in input coordinates (negative: padding)."""
        i, j = self.position
        return i * self.stride - self.padding, j * self.stride - self.padding


def _inside(image_shape: tuple[int, int], out_shape: tuple[int, int], size: int,
            stride: int, padding: int) -> np.ndarray:
    """Which output pixels have their window entirely inside the image (no padding).

    Shapes: -> (H_out, W_out) bool.
    """
    (H, W), (h_out, w_out) = image_shape, out_shape
    rows = np.arange(h_out) * stride - padding   # the windows' first rows and columns
    cols = np.arange(w_out) * stride - padding
    return (((rows >= 0) & (rows + size <= H))[:, None]
            & ((cols >= 0) & (cols + size <= W))[None, :])


def _strongest(out: np.ndarray, inside: np.ndarray) -> tuple[int, int]:
    """The pixel of largest |value|; among (near) ties, the one nearest the centre.

    Only pixels whose window lies inside the image count, when there are any: at a
    bright border, zero padding makes an edge of its own that would always win.
    """
    magnitude = np.where(inside, np.abs(out), -1.0) if inside.any() else np.abs(out)
    top = magnitude.max()
    rows, cols = np.nonzero(magnitude >= top - 1e-9 * max(top, 1.0))
    centre = (np.array(out.shape) - 1) / 2
    k = np.argmin((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2)
    return int(rows[k]), int(cols[k])


def compute_conv(
    image: str | np.ndarray = "shapes",
    kernel: str | np.ndarray = "Sobel x",
    *,
    stride: int = 1,
    padding: int | str = 0,
    position: str | Sequence[int] = "strongest response",
) -> ConvResult:
    """Convolve (cross-correlate) an image with a kernel; take one output pixel apart.

    ``image`` is one of the ``IMAGES`` or a 2-D array; ``kernel`` one of the
    ``KERNELS`` or a square 3x3 or 5x5 array; ``padding`` an int or "same"
    (P = (K - 1) / 2); ``position`` an output pixel (row, column) or one of the
    ``POSITIONS``. The maps are exactly
    ``conv2d_forward(image[None, None], w, 0, stride=stride, padding=P)`` with
    w = the kernels stacked, shape (F, 1, K, K), and no bias.

    Shapes: image (H, W), kernel (K, K) -> out (H_out, W_out) with
    H_out = floor((H + 2P - K) / S) + 1 (see :class:`ConvResult`).
    """
    fn = "compute_conv"
    if isinstance(image, str):
        _check_choice(fn, "image", image, IMAGES)
        image_name, x = image, load_image(image)
    else:
        image_name = None
        x = np.asarray(image, dtype=np.float64)
        if x.ndim != 2 or min(x.shape) < 1 or not np.isfinite(x).all():
            raise ValueError(
                f"{fn}: `image` must be one of {', '.join(map(repr, IMAGES))} or a "
                f"2-D array (H, W) of finite numbers, got shape {x.shape}."
            )
    kernel_name, kernels = _check_kernel(fn, kernel)
    stride = _check_stride(fn, stride)
    size = kernels[0].shape[0]
    pad = _check_padding(fn, padding, size)
    H, W = x.shape
    h_out = (H + 2 * pad - size) // stride + 1
    w_out = (W + 2 * pad - size) // stride + 1
    if h_out < 1 or w_out < 1:
        raise ValueError(
            f"{fn}: a {size}x{size} kernel does not fit in the {H}x{W} image padded by "
            f"{pad}; use more padding or a smaller kernel."
        )
    # One convolution layer with one filter per kernel (two for the edge magnitude),
    # no bias. Shapes: x (1, 1, H, W), w (F, 1, K, K) -> (1, F, H_out, W_out).
    w = np.stack(kernels)[:, None]
    maps, _ = np_conv.conv2d_forward(x[None, None], w, np.zeros(len(kernels)),
                                     stride=stride, padding=pad)
    maps = tuple(maps[0, f] for f in range(len(kernels)))
    out = maps[0] if len(maps) == 1 else np.sqrt(maps[0] ** 2 + maps[1] ** 2)
    if isinstance(position, str):
        _check_choice(fn, "position", position, POSITIONS)
        if position == "strongest response":
            i, j = _strongest(out, _inside(x.shape, out.shape, size, stride, pad))
        elif position == "top-left corner":
            i, j = 0, 0
        else:
            i, j = (h_out - 1) // 2, (w_out - 1) // 2
    else:
        try:
            i, j = (int(p) for p in position)
        except (TypeError, ValueError):
            raise ValueError(f"{fn}: `position` must be (row, column) of the output or "
                             f"one of {POSITIONS}, got {position!r}.") from None
        if not (0 <= i < h_out and 0 <= j < w_out):
            raise ValueError(f"{fn}: `position` {position!r} is outside the "
                             f"{h_out} x {w_out} output.")
    padded = np.pad(x, pad)
    window = padded[i * stride:i * stride + size, j * stride:j * stride + size]
    products = tuple(window * k for k in kernels)
    return ConvResult(image_name, kernel_name, x, kernels, stride, pad,
                      "same" if padding == "same" else str(pad), padded, maps, out,
                      (i, j), window, products, tuple(float(p.sum()) for p in products))


# ---------------------------------------------------------------------------- drawing
_WINDOW_COLOR = "#ffb000"     # amber, outlined in black: visible on any grey or colour
_WINDOW_COLOR_RGB = tuple(int(_WINDOW_COLOR[k:k + 2], 16) / 255 for k in (1, 3, 5))
_PAD_RGB = (0.30, 0.50, 0.85)  # the blue tint of the zero padding ...
_PAD_ALPHA = 0.55
_PAD_SHOWN = tuple(_PAD_ALPHA * c for c in _PAD_RGB)  # ... as it shows over black (0)
_DIVERGING = colormaps["RdBu_r"]
_GRAY = colormaps["gray"]


def _palette() -> tuple[Any, list[int]]:
    """A fixed palette for the frames: greys, the diverging map, amber, the padding.

    An adaptive palette (octree) keeps too few greys for a grey photo, which then
    shows bands. PIL maps each colour to the palette entry nearest to it at 6 bits
    per channel, i.e. to the multiple of 4 below it (white to 252): so the entries
    are multiples of 4, and the saved palette stretches them back by 255 / 252,
    which makes black and white exact. 2 ms a frame, PNGs 3 times smaller than RGB.
    Returns (the palette image for ``quantize``, the palette to save).
    """
    greys = np.linspace(0, 1, 64)[:, None].repeat(3, axis=1)
    diverging = _DIVERGING(np.linspace(0, 1, 96))[:, :3]
    amber = np.array(_WINDOW_COLOR_RGB)
    blends = [a * amber + (1 - a) * g for a in (0.25, 0.5, 0.75, 1.0)
              for g in (np.zeros(3), np.full(3, 0.5), np.ones(3))]
    pad = [np.array(_PAD_SHOWN), 0.5 * (np.array(_PAD_SHOWN) + 1)]
    colours = np.vstack([greys, diverging, blends, pad]) * 252
    snapped = np.unique(4 * np.round(colours / 4), axis=0).astype(np.uint8)
    lookup = Image.new("P", (1, 1))
    lookup.putpalette(snapped.ravel().tolist())
    saved = np.round(snapped * (255 / 252)).astype(np.uint8).ravel().tolist()
    return lookup, saved


def _display_range(result: "ConvResult") -> tuple[Any, float, float]:
    """(colormap, vmin, vmax) for the output map.

    Kernels that sum to 0 (edge detectors) give signed outputs: a diverging map,
    symmetric about 0. Other kernels give grey levels on [0, sum of the weights],
    the input's own scale for identity, blurs and sharpen, so the pictures compare,
    widened to the values the output takes: sharpen overshoots at edges, and
    clipping would hide exactly that. The range comes from the windows inside the
    image: the edge that zero padding makes at a bright border would otherwise
    wash out the rest (it saturates instead).
    """
    inside = _inside(result.image.shape, result.out.shape, result.kernel_size,
                     result.stride, result.padding)
    values = result.out[inside] if inside.any() else result.out
    low, high = float(values.min()), float(values.max())
    peak = max(abs(low), abs(high), 1e-12)
    if len(result.kernels) > 1:  # the edge magnitude: >= 0
        return _GRAY, 0.0, peak
    kernel = result.kernels[0]
    total = float(kernel.sum())
    if abs(total) <= 1e-9 * float(np.abs(kernel).sum()):
        return _DIVERGING, -peak, peak
    low, high = min(low, 0.0, total), max(high, 0.0, total)
    return _GRAY, low, max(high, low + 1e-12)


class ConvFigure:
    """The padded input with the window, and the output with its pixel (PNG frames).

    The output is drawn at the input's scale, one output pixel as large as one input
    pixel (a whole number of screen pixels), so that stride and padding visibly
    change its size. The figure lives outside pyplot (no stray inline plot, no
    leak). Frames on the same image, padding, stride and kernel size reuse a cached
    background (blitting, like :class:`dlkit.widgets._render.Blitter`, but with the
    fixed palette of :func:`_palette`): a new window position or kernel costs about
    10 ms, a new geometry about 30 ms. Tick labels and the colour bar are plain
    texts and an image, which matplotlib draws several times faster than ticks.
    """

    def __init__(self, *, width: int = 580, height: int = 290, dpi: int = 90) -> None:
        self.width, self.height, self.dpi = width, height, dpi
        self.fig = fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
        # Fixed pixel geometry: two square boxes for the panels, a gap, a colour bar;
        # titles above, tick labels left and below.
        top, bottom, left, gap, bar = 30, 22, 30, 40, 56
        self.side = side = min(height - top - bottom, (width - left - gap - bar) // 2)
        self._box_in = (left, bottom, side)
        self._box_out = (left + side + gap, bottom, side)
        self.ax_in = fig.add_axes(self._frac(left, bottom, side, side))
        self.ax_out = fig.add_axes(self._frac(*self._box_out[:2], side, side))
        self.cax = fig.add_axes(self._frac(0, 0, 10, side))  # placed by draw()
        kw = {"interpolation": "nearest", "resample": False}
        self.im_in = self.ax_in.imshow(np.zeros((2, 2)), cmap=_GRAY, vmin=0, vmax=1,
                                       **kw)
        self.im_pad = self.ax_in.imshow(np.zeros((2, 2, 4)), **kw)
        self.im_out = self.ax_out.imshow(np.zeros((2, 2)), cmap=_GRAY, **kw)
        self.im_bar = self.cax.imshow(np.linspace(1, 0, 128)[:, None], aspect="auto",
                                      extent=(0, 1, 0, 1), **kw)
        stroke = [withStroke(linewidth=4.2, foreground="black")]
        self.border = Rectangle((0, 0), 1, 1, fill=False, ec="white", lw=1.0,
                                ls=(0, (3, 2)), zorder=3)
        self.window = Rectangle((0, 0), 1, 1, fill=False, ec=_WINDOW_COLOR, lw=2.2,
                                path_effects=stroke, zorder=4)
        self.pixel = Rectangle((0, 0), 1, 1, fill=False, ec=_WINDOW_COLOR, lw=2.2,
                               path_effects=stroke, zorder=4)
        self.ax_in.add_patch(self.border)
        self.ax_in.add_patch(self.window)
        self.ax_out.add_patch(self.pixel)
        for ax in (self.ax_in, self.ax_out, self.cax):
            ax.set_xticks([])
            ax.set_yticks([])
        # Tick labels: first and last pixel of each axis (plus 0 when padded).
        self.ticks: dict[str, list[Any]] = {}
        for name, ax in (("in", self.ax_in), ("out", self.ax_out)):
            self.ticks[name + "x"] = [
                ax.text(0, 0, "", transform=ax.get_xaxis_transform(), ha="center",
                        va="top", fontsize=8, clip_on=False) for _ in range(3)]
            self.ticks[name + "y"] = [
                ax.text(0, 0, "", transform=ax.get_yaxis_transform(), ha="right",
                        va="center", fontsize=8, clip_on=False) for _ in range(3)]
        self.bar_labels = [
            self.cax.text(1.5, y, "", transform=self.cax.transAxes, ha="left",
                          va="center", fontsize=8) for y in (1.0, 0.5, 0.0)]
        self.title_in = fig.text(*self._title_xy(self._box_in), "", ha="center",
                                 va="baseline", fontsize=10)
        self.title_out = fig.text(*self._title_xy(self._box_out), "", ha="center",
                                  va="baseline", fontsize=10)
        # What changes between frames on one image, stride, padding and kernel size;
        # the rest is the cached background (blitting), about half of a frame's cost.
        self._animated = [self.im_out, self.im_bar, *self.bar_labels, self.window,
                          self.pixel]
        self._blitter = Blitter(fig, self._animated, palette=_palette())

    def _frac(self, x: float, y: float, w: float, h: float) -> tuple[float, ...]:
        return x / self.width, y / self.height, w / self.width, h / self.height

    def _title_xy(self, box: tuple[float, float, float]) -> tuple[float, float]:
        x, y, side = box
        return (x + side / 2) / self.width, (y + side + 10) / self.height

    def _place(self, ax: Any, box: tuple[float, float, float], rows: int, cols: int,
               scale: int) -> None:
        """Put ``ax`` at the centre of ``box``, ``scale`` screen pixels per pixel."""
        x, y, side = box
        w, h = cols * scale, rows * scale
        # Whole screen pixels: every image pixel becomes an equal block.
        ax.set_position(self._frac(x + (side - w) // 2, y + (side - h) // 2, w, h))

    def _set_ticks(self, name: str, last: int, padding: int, scale: int) -> None:
        """Label the first and last pixel of both axes (and -P when there is room)."""
        values = [0, last] if last > 0 else [0]
        if padding and padding * scale >= 16:
            values.append(-padding)
        for axis in "xy":
            for text, value in zip(self.ticks[name + axis], values + [None] * 3):
                text.set_visible(value is not None)
                if value is not None:
                    text.set_text(str(value).replace("-", "−"))
                    text.set_position((value, -0.012) if axis == "x"
                                      else (-0.015, value))

    def draw(self, result: "ConvResult") -> bytes:
        """Show ``result``; return the PNG bytes."""
        H, W = result.image.shape
        P, K = result.padding, result.kernel_size
        Hp, Wp = result.padded.shape
        h_out, w_out = result.out.shape
        i, j = result.position
        r0, c0 = result.window_origin
        scale = max(1, self.side // max(Hp, Wp))  # screen pixels per image pixel

        # Input: the padded image, its padding tinted blue, the image's border dashed.
        self._place(self.ax_in, self._box_in, Hp, Wp, scale)
        extent = (-P - 0.5, W + P - 0.5, H + P - 0.5, -P - 0.5)
        self.im_in.set_data(result.padded)
        tint = np.zeros((Hp, Wp, 4))
        tint[..., :3] = _PAD_RGB
        tint[..., 3] = _PAD_ALPHA
        tint[P:P + H, P:P + W, 3] = 0.0
        self.im_pad.set_data(tint)
        for image in (self.im_in, self.im_pad):
            image.set_extent(extent)
        self.ax_in.set_xlim(extent[0], extent[1])
        self.ax_in.set_ylim(extent[2], extent[3])
        self.border.set_bounds(-0.5, -0.5, W, H)
        self.border.set_visible(P > 0)
        self.window.set_bounds(c0 - 0.5, r0 - 0.5, K, K)
        self._set_ticks("in", H - 1, P, scale)  # the images are square

        # Output: at the same scale, centred in its box, with the chosen pixel.
        self._place(self.ax_out, self._box_out, h_out, w_out, scale)
        cmap, vmin, vmax = _display_range(result)
        self.im_out.set_data(result.out)
        self.im_out.set_cmap(cmap)
        self.im_out.set_clim(vmin, vmax)
        self.im_out.set_extent((-0.5, w_out - 0.5, h_out - 0.5, -0.5))
        self.ax_out.set_xlim(-0.5, w_out - 0.5)
        self.ax_out.set_ylim(h_out - 0.5, -0.5)
        self.pixel.set_bounds(j - 0.5, i - 0.5, 1, 1)
        self._set_ticks("out", h_out - 1, 0, scale)
        # The colour bar beside the output, at least 100 px tall.
        x, y, side = self._box_out
        bar = max(100, h_out * scale)
        self.cax.set_position(self._frac(x + (side + w_out * scale) // 2 + 10,
                                         y + (side - bar) // 2, 10, bar))
        self.im_bar.set_cmap(cmap)
        # Labels at both ends, and at 0 when the range straddles it (else halfway).
        middle = 0.0 if vmin < 0 < vmax else (vmin + vmax) / 2
        at = (middle - vmin) / (vmax - vmin)
        for text, value, y in zip(self.bar_labels, (vmax, middle, vmin), (1, at, 0)):
            text.set_text(f"{value:.3g}".replace("-", "−"))
            text.set_y(y)
            text.set_visible(y in (0, 1) or 0.12 < y < 0.88)

        pad_text = f", padded by {P} → {Hp} × {Wp}" if P else ", no padding"
        self.title_in.set_text(f"input {H} × {W}{pad_text}")
        self.title_out.set_text(f"output {h_out} × {w_out}, stride {result.stride}")
        # The background: the input panel, titles, ticks, the panels' places.
        return self._blitter.png(self._animated,
                                 key=(result.padded.shape, P, K, result.stride,
                                      result.padded.tobytes()))

# ----------------------------------------------------------------------------- tables
_STYLE = """<style>
.dlkit-conv {font-size: 13px; line-height: 1.4; max-width: 760px}
.dlkit-conv p {margin: 2px 0 6px 0}
.dlkit-conv .eq {display: flex; align-items: center; gap: 6px; flex-wrap: wrap;
  margin: 4px 0}
.dlkit-conv .eq .eq {margin: 0}
.dlkit-conv .m {display: grid; gap: 1px; background: #ddd; border: 1px solid #ddd}
.dlkit-conv .m div {min-width: 44px; height: 22px; line-height: 22px; padding: 0 2px;
  text-align: center; font: 12px ui-monospace, Menlo, Consolas, monospace;
  box-sizing: border-box; color: #222}
.dlkit-conv .m div.w {color: #fff}
.dlkit-conv .m div.p {font-style: italic; color: #fff}
.dlkit-conv .cap {font-size: 11.5px; opacity: 0.75; text-align: center;
  margin-top: 2px}
.dlkit-conv .op {font-size: 20px; padding-bottom: 16px}
.dlkit-conv .sum {font: 13px ui-monospace, Menlo, Consolas, monospace;
  padding-bottom: 16px}
.dlkit-conv .sum b {background: #ffe7a8; color: #222; padding: 0 3px}
.dlkit-conv .note {opacity: 0.75; font-size: 12px}
.dlkit-kernel-grid input {padding: 0 5px; text-align: right;
  font: 12px ui-monospace, Menlo, Consolas, monospace; appearance: textfield;
  -moz-appearance: textfield}
.dlkit-kernel-grid input::-webkit-inner-spin-button,
.dlkit-kernel-grid input::-webkit-outer-spin-button {-webkit-appearance: none;
  margin: 0}
</style>"""


def _fmt(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    if float(text) == 0:
        return "0"
    return text.replace("-", "−")


def _num(value: float) -> str:
    """A sum or an output pixel: four significant digits, float noise shown as 0."""
    if abs(value) < 5e-5:
        return "0"
    text = f"{value:.4g}"
    return (f"{value:.4f}" if "e" in text else text).replace("-", "−")


def _decimals(values: np.ndarray, exact_up_to: int, fallback: int | None = None
              ) -> int:
    """How many decimals a table shows.

    The fewest, up to ``exact_up_to``, that show every entry exactly (0 for Sobel or
    the shapes' 0s and 1s, 4 for the Gaussian's 0.0625); else ``fallback``, or
    three significant digits on the largest entry.
    """
    for d in range(exact_up_to + 1):
        if np.allclose(np.round(values, d), values, rtol=0, atol=1e-12):
            return d
    if fallback is not None:
        return fallback
    peak = float(np.abs(values).max())
    return int(np.clip(2 - np.floor(np.log10(peak)), 0, 4))


def _matrix(values: np.ndarray, colours: np.ndarray, classes: np.ndarray,
            decimals: int) -> str:
    K = values.shape[1]
    cells = "".join(
        f"<div class='{cls}' style='background:{colour}'>{_fmt(v, decimals)}</div>"
        if cls else f"<div style='background:{colour}'>{_fmt(v, decimals)}</div>"
        for v, colour, cls in zip(values.ravel(), colours.ravel(), classes.ravel()))
    return (f"<div class='m' style='grid-template-columns:repeat({K}, auto)'>"
            f"{cells}</div>")


def _pale(rgba: np.ndarray, amount: float = 0.45) -> np.ndarray:
    """Mix colours with white, so that dark text stays readable on them."""
    return 1 - amount * (1 - rgba[..., :3])


def _hex(rgb: np.ndarray) -> np.ndarray:
    flat = [to_hex(c) for c in rgb.reshape(-1, 3)]
    return np.array(flat).reshape(rgb.shape[:-1])


def _signed_colours(values: np.ndarray) -> np.ndarray:
    peak = max(float(np.abs(values).max()), 1e-12)
    return _hex(_pale(_DIVERGING(0.5 + 0.5 * values / peak)))


def _window_matrix(result: ConvResult) -> str:
    """The window's input values on their own grey, the padding's zeros in blue."""
    K = result.kernel_size
    r0, c0 = result.window_origin
    H, W = result.image.shape
    rows, cols = np.mgrid[r0:r0 + K, c0:c0 + K]
    padding = (rows < 0) | (rows >= H) | (cols < 0) | (cols >= W)
    grey = np.repeat(np.clip(result.window, 0, 1)[..., None], 3, axis=-1)
    colours = _hex(np.where(padding[..., None], np.array(_PAD_SHOWN), grey))
    classes = np.where(padding, "p", np.where(result.window < 0.5, "w", ""))
    return _matrix(result.window, colours, classes, _decimals(result.window, 2, 2))


def _cell(body: str, caption: str) -> str:
    return f"<div>{body}<div class='cap'>{caption}</div></div>"


def _int(n: int) -> str:
    return str(n).replace("-", "−")


def _output_size_text(result: ConvResult) -> str:
    """⌊(H + 2P − K) / S⌋ + 1 with the numbers substituted, rows (and columns)."""
    H, W = result.image.shape
    K, P, S = result.kernel_size, result.padding, result.stride
    h_out, w_out = result.out.shape

    def one(n: int, got: int) -> str:
        return (f"⌊({n} + 2·{P} − {K}) / {S}⌋ + 1 = ⌊{n + 2 * P - K} / {S}⌋ "
                f"+ 1 = <b>{got}</b>")

    same = " (“same”: (K − 1) / 2)" if result.padding_label == "same" else ""
    if H == W:
        sizes = one(H, h_out)
    else:
        sizes = f"rows {one(H, h_out)}, columns {one(W, w_out)}"
    return (f"<p><b>Output size</b> = ⌊(H + 2P − K) / S⌋ + 1 = {sizes}"
            f"<br><span class='note'>input H = {H}, kernel K = {K}, padding P = "
            f"{P}{same}, stride S = {S}: the output is {h_out} × {w_out}."
            f"</span></p>")


def conv_html(result: ConvResult) -> str:
    """The output-size formula and the products behind the chosen output pixel (HTML).

    One row "window ⊙ kernel = products, sum = output pixel" per kernel (two for the
    edge magnitude, then their combination). Uses the explorer's style sheet.
    """
    i, j = result.position
    r0, c0 = result.window_origin
    K, S, P = result.kernel_size, result.stride, result.padding
    parts = [_output_size_text(result)]
    parts.append(
        f"<p><b>Output pixel ({i}, {j})</b> comes from the window at input rows "
        f"{_int(r0)} to {_int(r0 + K - 1)}, columns {_int(c0)} to {_int(c0 + K - 1)} "
        f"(first row {i}·{S} − {P} = {_int(r0)}, first column {j}·{S} − {P} = "
        f"{_int(c0)}): multiply it elementwise (⊙) by the kernel and add up the "
        f"products.</p>")
    magnitude = len(result.kernels) > 1
    names = ["Sobel x", "Sobel y"] if magnitude else [result.kernel_name]
    window = _window_matrix(result)
    for name, kernel, products, total, symbol in zip(
            names, result.kernels, result.products, result.sums, ["gx", "gy"]):
        dk, dp = _decimals(kernel, 4, 4), _decimals(products, 3)
        kernel_html = _matrix(kernel, _signed_colours(kernel),
                              np.full(kernel.shape, ""), dk)
        products_html = _matrix(products, _signed_colours(products),
                                np.full(kernel.shape, ""), dp)
        if magnitude:
            total_html = f"sum = <b>{symbol} = {_num(total)}</b>"
        else:
            total_html = f"sum = <b>{_num(total)}</b><br>= output[{i}, {j}]"
        # Two groups, so that a row too wide for the page (5 x 5) breaks at "=".
        parts.append(
            "<div class='eq'><div class='eq'>"
            + _cell(window, "input window")
            + "<div class='op'>⊙</div>"
            + _cell(kernel_html, html.escape(f"kernel ({name})"))
            + "</div><div class='eq'><div class='op'>=</div>"
            + _cell(products_html, "products")
            + "<div class='op'>→</div>"
            + f"<div class='sum'>{total_html}</div></div></div>")
    if magnitude:
        gx, gy = (_num(s) if s >= 0 else f"({_num(s)})" for s in result.sums)
        parts.append(
            f"<p class='sum'>output[{i}, {j}] = √(gx² + gy²) = √({gx}² + {gy}²) "
            f"= <b>{_num(result.value)}</b></p>")
    note = _KERNEL_NOTES.get(result.kernel_name, _KERNEL_NOTES["custom"])
    parts.append(f"<p class='note'><b>{html.escape(result.kernel_name)}</b>: {note} "
                 "Blue cells: zero padding. No bias is added.</p>")
    return "<div class='dlkit-conv'>" + "".join(parts) + "</div>"


# ----------------------------------------------------------------------- live explorer
def _label(text: str, width: str = "64px") -> Any:
    """A right-aligned label in the style of a widget's description."""
    html_text = f"<div style='text-align:right; padding-right:8px'>{text}</div>"
    return widgets.HTML(html_text, layout=widgets.Layout(width=width))


def _toggles(options: Sequence[Any], value: Any, tooltip: str,
             width: str = "52px") -> Any:
    return widgets.ToggleButtons(options=[(str(o), o) for o in options], value=value,
                                 tooltips=[f"{tooltip} {o}" for o in options],
                                 style={"button_width": width})


def _resize(kernel: np.ndarray, size: int) -> np.ndarray:
    """Embed a kernel in a larger one (zeros around) or keep its centre."""
    k = kernel.shape[0]
    if size >= k:
        return np.pad(kernel, (size - k) // 2)
    cut = (k - size) // 2
    return kernel[cut:cut + size, cut:cut + size].copy()


def _output_shape(image: str, size: int, stride: int, padding: int) -> tuple[int, int]:
    H, W = load_image(image).shape
    return ((H + 2 * padding - size) // stride + 1,
            (W + 2 * padding - size) // stride + 1)


class ConvExplorer(widgets.VBox):
    """The live convolution explorer (needs a kernel); see :func:`conv_explorer`.

    Attributes for code and tests: ``controls`` (name -> widget: ``image``,
    ``kernel``, ``size``, ``stride``, ``padding``, ``row``, ``col``, ``strongest``),
    ``cells`` (5 x 5 FloatText; the top-left K x K show the kernel, rounded),
    ``weights`` (the kernel's exact K x K weights), ``grid`` (the GridBox that
    shows the cells), ``image`` (the figure, a PNG ``Image``), ``table``
    (the HTML with the output size and the products), ``result`` (the last
    :class:`ConvResult` shown) and ``last_update_seconds``.
    """

    def __init__(self, image: str, kernel: str | np.ndarray, stride: int,
                 padding: int | str, position: str | tuple[int, int], *,
                 width: int, height: int, dpi: int) -> None:
        self._figure = ConvFigure(width=width, height=height, dpi=dpi)
        self._muted = False
        self.weights = np.zeros((3, 3))  # the kernel's weights, exact (set below)
        self.result: ConvResult | None = None
        self.last_update_seconds = float("nan")
        name, kernels = _check_kernel("conv_explorer", kernel)
        style = {"description_width": "50px"}
        self.controls: dict[str, Any] = {
            "image": widgets.Dropdown(options=[(_IMAGE_LABELS[n], n) for n in IMAGES],
                                      value=image, description="image", style=style,
                                      layout=widgets.Layout(width="230px")),
            "kernel": widgets.Dropdown(options=[*KERNELS, "custom"], value=name,
                                       description="kernel", style=style,
                                       layout=widgets.Layout(width="230px")),
            "size": _toggles(["3x3", "5x5"], f"{kernels[0].shape[0]}x"
                             f"{kernels[0].shape[0]}", "kernel size"),
            "stride": _toggles(STRIDES, stride, "stride"),
            "padding": _toggles(PADDINGS, padding, "padding", "58px"),
            "row": widgets.IntSlider(0, min=0, max=1, description="out row",
                                     style=style, layout=widgets.Layout(width="310px")),
            "col": widgets.IntSlider(0, min=0, max=1, description="out col",
                                     style=style, layout=widgets.Layout(width="310px")),
            "strongest": widgets.Button(description="strongest response",
                                        tooltip="move the window to the output pixel "
                                                "of largest |value|",
                                        layout=widgets.Layout(width="150px")),
        }
        self.cells = [[widgets.FloatText(0.0, layout=widgets.Layout(width="62px"))
                       for _ in range(5)] for _ in range(5)]
        self.grid = widgets.GridBox(layout=widgets.Layout(grid_gap="2px"))
        self.grid.add_class("dlkit-kernel-grid")  # numbers without spin buttons
        self._grid_note = widgets.HTML(layout=widgets.Layout(width="300px"))
        self.image = widgets.Image(format="png")
        self.table = widgets.HTML()
        c = self.controls
        settings = widgets.VBox([
            c["image"], c["kernel"],
            # Labels beside, not `description`s: web pages put those above buttons.
            widgets.HBox([_label("stride", "54px"), c["stride"]]),
            widgets.HBox([_label("padding", "54px"), c["padding"]]),
            c["row"], c["col"],
            widgets.HBox([_label("", "54px"), c["strongest"]]),
        ], layout=widgets.Layout(width="320px"))
        editor = widgets.VBox([
            widgets.HTML("<b>kernel weights</b>"),
            widgets.HBox([_label("size", "40px"), c["size"]]),
            self.grid, self._grid_note,
        ], layout=widgets.Layout(width="330px", margin="0 0 0 10px"))
        super().__init__([
            widgets.HTML(_STYLE),
            widgets.HBox([settings, editor],
                         layout=widgets.Layout(flex_flow="row wrap")),
            self.image,
            self.table,
        ], layout=widgets.Layout(align_items="flex-start"))
        self._show_kernel(name, kernels)
        for key in ("image", "stride", "padding"):
            c[key].observe(self._on_setting, names="value")
        c["kernel"].observe(self._on_kernel, names="value")
        c["size"].observe(self._on_size, names="value")
        c["row"].observe(self._on_position, names="value")
        c["col"].observe(self._on_position, names="value")
        c["strongest"].on_click(lambda button: self.redraw("strongest response"))
        for row in self.cells:
            for cell in row:
                cell.observe(self._on_cell, names="value")
        self.redraw(position)

    # -- state ------------------------------------------------------------------
    @contextlib.contextmanager
    def _mute(self) -> Iterator[None]:
        """Update several controls with one redraw at the end, not one per control."""
        muted, self._muted = self._muted, True
        try:
            yield
        finally:
            self._muted = muted

    @property
    def kernel(self) -> str | np.ndarray:
        """A preset's name, or the K x K weights of the grid for "custom"."""
        name = self.controls["kernel"].value
        return name if name != "custom" else self.weights.copy()

    def _show_kernel(self, name: str, kernels: tuple[np.ndarray, ...]) -> None:
        """Put a kernel into the grid (no redraw); "edge magnitude" hides the grid."""
        c = self.controls
        size = kernels[0].shape[0]
        # The weights stay exact; the grid shows them to 4 decimals (0.0039 for the
        # Gaussian's 1/256), and an edit replaces only the cell it changes.
        self.weights = np.array(kernels[0], dtype=np.float64)
        with self._mute():
            c["kernel"].value = name
            c["size"].value = f"{size}x{size}"
            for r in range(size):
                for col in range(size):
                    self.cells[r][col].value = round(float(self.weights[r, col]), 4)
        two = len(kernels) > 1
        self.grid.children = [self.cells[r][col] for r in range(size)
                              for col in range(size)]
        self.grid.layout.grid_template_columns = f"repeat({size}, 62px)"
        self.grid.layout.display = "none" if two else None
        note = ("Edge magnitude is two kernels, Sobel x and Sobel y, combined: "
                "√(gx² + gy²). Choose “Sobel x” or “Sobel y” to see one, then "
                "edit it." if two else "Editing a cell makes the kernel “custom”.")
        self._grid_note.value = ("<div style='font-size:12px; line-height:1.35; "
                                 f"color:#555; margin-top:4px'>{note}</div>")

    # -- events -----------------------------------------------------------------
    def _on_setting(self, change: dict) -> None:
        if not self._muted:
            self.redraw()

    def _on_position(self, change: dict) -> None:
        if not self._muted:
            self.redraw((self.controls["row"].value, self.controls["col"].value))

    def _on_kernel(self, change: dict) -> None:
        if self._muted:
            return
        if change["new"] != "custom":
            self._show_kernel(change["new"], KERNELS[change["new"]])
        else:
            self._show_kernel("custom", (np.array(self.kernel),))
        self.redraw()

    def _on_size(self, change: dict) -> None:
        if self._muted:
            return
        self._show_kernel("custom", (_resize(self.weights, int(change["new"][0])),))
        self.redraw()

    def _on_cell(self, change: dict) -> None:
        if self._muted:
            return
        r, col = next((r, col) for r, row in enumerate(self.cells)
                      for col, cell in enumerate(row) if cell is change["owner"])
        weights = self.weights.copy()
        weights[r, col] = change["new"]
        self._show_kernel("custom", (weights,))
        self.redraw()

    # -- drawing ----------------------------------------------------------------
    def redraw(self, position: str | tuple[int, int] | None = None) -> None:
        """Recompute for the current controls and show it.

        ``position``: an output pixel, one of the ``POSITIONS``, or None to keep the
        window where it was, relative to the output's size.
        """
        tic = time.perf_counter()
        c = self.controls
        kernel = self.kernel
        size = int(c["size"].value[0])
        pad = _check_padding("conv_explorer", c["padding"].value, size)
        # Every choice fits: the smallest output, the digit's with K = 5, P = 0, S = 3,
        # is 2 x 2.
        h_out, w_out = _output_shape(c["image"].value, size, c["stride"].value, pad)
        if position is None:
            if self.result is None:
                position = "strongest response"
            else:
                # Stay at the same place relative to the output when its size changes.
                (i, j), (h, w) = self.result.position, self.result.out.shape
                position = (round(i * (h_out - 1) / max(h - 1, 1)),
                            round(j * (w_out - 1) / max(w - 1, 1)))
        self.result = result = compute_conv(c["image"].value, kernel,
                                            stride=c["stride"].value,
                                            padding=c["padding"].value,
                                            position=position)
        with self._mute():
            for key, n, value in (("row", h_out, result.position[0]),
                                  ("col", w_out, result.position[1])):
                slider = c[key]
                # Widen first, then narrow: ipywidgets clamps the value to [min, max].
                slider.max = max(slider.max, n - 1)
                slider.value = value
                slider.max = n - 1
        self.image.value = self._figure.draw(result)
        self.table.value = conv_html(result)
        self.last_update_seconds = time.perf_counter() - tic


def _check_position(fn: str, position: Any,
                    out_shape: tuple[int, int]) -> str | tuple[int, int]:
    """One of the ``POSITIONS``, or an output pixel (row, column) inside out_shape."""
    if isinstance(position, str):
        _check_choice(fn, "position", position, POSITIONS)
        return position
    try:
        i, j = position
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: `position` must be (row, column) of the output or "
                         f"one of {', '.join(map(repr, POSITIONS))}, got "
                         f"{position!r}.") from None
    i, j = check_int(fn, "position", i), check_int(fn, "position", j)
    if i >= out_shape[0] or j >= out_shape[1]:
        raise ValueError(f"{fn}: `position` {position!r} is outside the "
                         f"{out_shape[0]} x {out_shape[1]} output.")
    return i, j


def conv_explorer(
    image: str = "shapes",
    kernel: str | np.ndarray = "Sobel x",
    *,
    stride: int = 1,
    padding: int | str = 1,
    position: str | tuple[int, int] = "strongest response",
    width: int = 580,
    height: int = 290,
    dpi: int = 90,
) -> ConvExplorer:
    """Slide a kernel over an image, live: every control recomputes the convolution.

    Choose the image (``IMAGES``), a preset kernel (``KERNELS``) or edit the 3x3 /
    5x5 grid of weights, the stride (1, 2, 3), the padding (0, 1, 2 or "same"), and
    the output pixel (the "out row" / "out col" sliders). Left: the zero-padded
    input (padding in blue) with the window (amber); right: the output at the same
    scale, with that pixel. Below: the output size ⌊(H + 2P − K) / S⌋ + 1 with the
    numbers substituted, and the window ⊙ kernel = products whose sum is the pixel.
    Every output is :func:`dlkit.numpy.conv.conv2d_forward` (no bias); the last one
    shown is in ``explorer.result``.

    ``kernel`` may be a (3, 3) or (5, 5) array; ``position`` an output pixel (row,
    column) or one of the ``POSITIONS``; ``width``/``height`` are the figure's size
    in pixels at ``dpi``. Needs a running kernel (Jupyter, Colab); on the static
    website use :func:`conv_explorer_static`.
    """
    fn = "conv_explorer"
    _check_choice(fn, "image", image, IMAGES)
    _, kernels = _check_kernel(fn, kernel)
    _check_stride(fn, stride, STRIDES)
    size = kernels[0].shape[0]
    pad = _check_padding(fn, padding, size, PADDINGS)
    position = _check_position(fn, position,
                               _output_shape(image, size, stride, pad))
    _check_size(fn, width, height, dpi)
    return ConvExplorer(image, kernel, stride, padding, position, width=width,
                        height=height, dpi=dpi)


# --------------------------------------------------------------------- static explorer
class StaticConvExplorer(widgets.VBox):
    """Pre-rendered convolutions, switched in the browser: :func:`conv_explorer_static`.

    Attributes: ``controls`` (``image``, ``kernel``, ``stride``, ``padding``,
    ``position``), ``caption`` (the HTML note above them), ``settings`` (control
    name -> the values it offers), ``levels`` (the control names from the outer
    Stack to the inner ones: the controls with fewer options nest outside, which
    needs fewer Stacks), ``stack`` (the outer
    Stack), ``frames`` and ``tables`` ((image, kernel, stride, padding, position)
    -> the PNG ``Image`` and the ``HTML`` of that setting), ``leaves`` (the same
    keys -> the VBox that shows both), ``links`` (the jslink objects),
    ``payload_bytes`` (PNG and HTML bytes) and ``render_seconds``.
    """

    def __init__(self, controls: dict[str, Any], settings: dict[str, tuple],
                 levels: tuple[str, ...], stack: Any, caption: Any,
                 frames: dict[tuple, Any], tables: dict[tuple, Any],
                 leaves: dict[tuple, Any], links: list[Any],
                 render_seconds: float) -> None:
        c = controls
        wrap = widgets.Layout(flex_flow="row wrap", align_items="center")
        super().__init__([
            widgets.HTML(_STYLE),
            caption,
            widgets.HBox([c["image"], c["kernel"]], layout=wrap),
            widgets.HBox([_label("stride", "56px"), c["stride"],
                          _label("padding", "70px"), c["padding"]], layout=wrap),
            widgets.HBox([_label("window", "56px"), c["position"]], layout=wrap),
            stack,
        ])
        self.controls, self.settings, self.levels = controls, settings, levels
        self.caption = caption
        self.stack, self.frames, self.tables = stack, frames, tables
        self.leaves = leaves
        self.links = links
        self.payload_bytes = (sum(len(img.value) for img in frames.values())
                              + sum(len(t.value.encode()) for t in tables.values()))
        self.render_seconds = render_seconds


def _check_list(fn: str, name: str, chosen: Any, allowed: Sequence[Any]) -> tuple:
    if isinstance(chosen, str) or not isinstance(chosen, (list, tuple)) or not chosen \
            or len(set(map(str, chosen))) != len(chosen):
        raise ValueError(
            f"{fn}: `{name}` must be a non-empty list of distinct choices, got "
            f"{chosen!r}; choose among {', '.join(repr(a) for a in allowed)}."
        )
    for value in chosen:
        # Exact matches only: 1.0 or True are not the stride 1.
        if not any(value == a and type(value) is type(a) for a in allowed):
            raise ValueError(
                f"{fn}: unknown {name[:-1] if name.endswith('s') else name} "
                f"{value!r} in `{name}`; choose among "
                f"{', '.join(repr(a) for a in allowed)}."
            )
    return tuple(chosen)


def conv_explorer_static(
    *,
    images: Sequence[str] = ("shapes", "digit", "china"),
    kernels: Sequence[str] = tuple(KERNELS),
    strides: Sequence[int] = (1, 2),
    paddings: Sequence[int | str] = (0, "same"),
    positions: Sequence[str] = ("strongest response", "top-left corner"),
    width: int = 580,
    height: int = 290,
    dpi: int = 90,
) -> StaticConvExplorer:
    """The convolution explorer on pre-rendered frames that respond without a kernel.

    Renders every combination of image x preset kernel x stride x padding x window
    position (named ``POSITIONS``) as a PNG with its HTML table of products, and
    stacks them in nested ``ipywidgets.Stack``s whose ``selected_index`` follows the
    controls through ``jslink``, which runs in the browser: the controls keep
    working in the widget state saved in a static web page. Defaults:
    3 images x 9 kernels x 2 strides x 2 paddings x 2 positions = 216 frames, about
    3 s to render and 2.8 MB in the page. Editing the kernel, the other strides and
    paddings and any window position need the live :func:`conv_explorer`.

    ``width``/``height`` are each frame's size in pixels at ``dpi``.
    """
    fn = "conv_explorer_static"
    settings = {
        "image": _check_list(fn, "images", images, tuple(IMAGES)),
        "kernel": _check_list(fn, "kernels", kernels, tuple(KERNELS)),
        "stride": _check_list(fn, "strides", strides, STRIDES),
        "padding": _check_list(fn, "paddings", paddings, PADDINGS),
        "position": _check_list(fn, "positions", positions, POSITIONS),
    }
    _check_size(fn, width, height, dpi)

    tic = time.perf_counter()
    figure = ConvFigure(width=width, height=height, dpi=dpi)
    frames, tables, leaves = {}, {}, {}
    names = tuple(settings)
    # Hundreds of widgets share three Layout models instead of one each: the saved
    # page is smaller and loads faster.
    image_layout, table_layout, leaf_layout = (widgets.Layout() for _ in range(3))
    # Frames on one image, stride, padding and kernel size share the figure's cached
    # background: render them one after another.
    by_size = sorted(settings["kernel"], key=lambda k: KERNELS[k][0].shape[0])
    for image, stride, padding, kernel, position in _product(
            settings["image"], settings["stride"], settings["padding"], by_size,
            settings["position"]):
        combo = (image, kernel, stride, padding, position)
        result = compute_conv(image, kernel, stride=stride, padding=padding,
                              position=position)
        frames[combo] = widgets.Image(value=figure.draw(result), format="png",
                                      layout=image_layout)
        tables[combo] = widgets.HTML(conv_html(result), layout=table_layout)
        leaves[combo] = widgets.VBox([frames[combo], tables[combo]],
                                     layout=leaf_layout)
    # Images at their own size: a VBox would stretch them to its width (blurred).
    leaf_layout.align_items = "flex-start"
    render_seconds = time.perf_counter() - tic

    style = {"description_width": "50px"}
    controls = {
        "image": widgets.Dropdown(options=[(_IMAGE_LABELS[n], n)
                                           for n in settings["image"]],
                                  index=0, description="image", style=style,
                                  layout=widgets.Layout(width="230px")),
        "kernel": widgets.Dropdown(options=list(settings["kernel"]),
                                   index=(settings["kernel"].index("Sobel x")
                                          if "Sobel x" in settings["kernel"] else 0),
                                   description="kernel", style=style,
                                   layout=widgets.Layout(width="230px")),
        "stride": _toggles(settings["stride"], settings["stride"][0], "stride"),
        "padding": _toggles(settings["padding"], settings["padding"][-1], "padding",
                            "60px"),
        "position": widgets.ToggleButtons(
            options=list(settings["position"]), index=0,
            tooltips=[f"the window at the {p}" for p in settings["position"]],
            style={"button_width": "150px"}),
    }
    # Nest the controls with fewer options outside: fewer Stacks and links.
    levels = tuple(sorted(names, key=lambda n: len(settings[n])))
    by_index = {
        tuple(settings[n].index(combo[names.index(n)]) for n in levels): leaf
        for combo, leaf in leaves.items()
    }
    stack, links = nested_stack(by_index, [controls[n] for n in levels],
                                [len(settings[n]) for n in levels])
    caption = widgets.HTML(
        "<p style='line-height:1.35; max-width:%dpx; margin:0 0 4px 0'>"
        "<b>Convolution explorer.</b> The kernel's window (amber) slides over the "
        "input, zero-padded in blue; each output pixel is the sum of the window's "
        "values times the kernel's weights, spelled out under the picture. Pick an "
        "<b>image</b>, a <b>kernel</b>, the <b>stride</b>, the <b>padding</b> and "
        "where the <b>window</b> sits. These %d frames were computed when the page "
        "was built. <i>Edit the kernel, move the window anywhere, or try every "
        "stride and padding: run <code>dlkit.widgets.conv_explorer()</code> in "
        "Colab or Jupyter.</i></p>" % (width, len(frames)))
    return StaticConvExplorer(controls, settings, levels, stack, caption, frames,
                              tables, leaves, links, render_seconds)
