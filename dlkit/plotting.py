"""Plots that several chapters and the widgets share (matplotlib)."""
from __future__ import annotations

from collections import Counter
from itertools import combinations
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cbook import is_math_text
from matplotlib.colors import ListedColormap, LogNorm, to_rgb
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path
from matplotlib.textpath import TextToPath

from .autodiff.reverse import Tensor, Value, topological_order
from .data import Surface

__all__ = [
    "OPTIMIZER_COLORS", "CONTOUR_CMAP", "CLASS_COLORS", "plot_contours", "plot_paths",
    "plot_losses", "plot_decision_boundary", "plot_graph",
]

#: One colour per class in every classification figure (colour-blind safe).
CLASS_COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"]

#: One colour per optimizer, the same in every figure of the course.
OPTIMIZER_COLORS = {
    "GD": "#1f77b4", "SGD": "#1f77b4", "momentum": "#ff7f0e", "Nesterov": "#8c564b",
    "AdaGrad": "#9467bd", "RMSProp": "#2ca02c", "Adam": "#d62728",
}


# Light greys for the loss landscape, so that every optimizer colour (blue included)
# stands out on it: low loss is white, high loss mid-grey.
CONTOUR_CMAP = ListedColormap(plt.get_cmap("Greys")(np.linspace(0.0, 0.5, 256)),
                              name="dlkit_greys")


def plot_contours(surface: Surface, ax: Any = None, *, num: int = 200, levels: int = 30,
                  cmap: Any = None, lines: bool = True) -> Any:
    """Draw the filled contours of a 2-D surface and mark its minima; return the axes.

    ``cmap`` defaults to light greys (:data:`CONTOUR_CMAP`), on which the optimizer
    colours of :data:`OPTIMIZER_COLORS` stay visible; ``lines`` adds faint level lines.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    cmap = CONTOUR_CMAP if cmap is None else cmap
    X, Y, Z = surface.grid(num)
    if surface.log_scale:
        # Valleys like Rosenbrock's span many orders of magnitude: log levels show them.
        zmin = max(Z.min(), 1e-3)
        Z = np.maximum(Z, zmin)
        lv = np.logspace(np.log10(zmin), np.log10(Z.max()), levels)
        kw = {"levels": lv, "norm": LogNorm()}
    else:
        kw = {"levels": levels}
    ax.contourf(X, Y, Z, cmap=cmap, **kw)
    if lines:
        ax.contour(X, Y, Z, colors="k", linewidths=0.4, alpha=0.25, **kw)
    mins = np.array(surface.minima)
    ax.plot(mins[:, 0], mins[:, 1], "w*", ms=12, mec="k", label="minimum")
    (x0, x1), (y0, y1) = surface.bounds
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="$w_1$", ylabel="$w_2$",
           title=surface.name)
    ax.set_aspect("equal")
    return ax


def plot_paths(ax: Any, paths: Mapping[str, np.ndarray], *,
               markers: bool = True) -> Any:
    """Draw optimisation trajectories (name -> array (steps + 1, 2)) on contours."""
    for name, path in paths.items():
        path = np.asarray(path, dtype=float)
        color = OPTIMIZER_COLORS.get(name)
        ax.plot(path[:, 0], path[:, 1], "-", color=color, lw=1.8, label=name,
                marker="." if markers else None, ms=3)
        ax.plot(*path[0], "o", color="w", mec="k", ms=6)
    return ax


def plot_losses(ax: Any, losses: Mapping[str, np.ndarray], *, log: bool = True,
                xlabel: str = "step") -> Any:
    """Plot loss curves (name -> values per step), on a log scale by default."""
    for name, values in losses.items():
        ax.plot(np.asarray(values, dtype=float), color=OPTIMIZER_COLORS.get(name),
                label=name)
    if log:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel="loss")
    ax.legend(fontsize="small")
    return ax


def plot_decision_boundary(ax: Any, predict: Any, X: np.ndarray, y: np.ndarray, *,
                           num: int = 200, margin: float = 0.3, title: str | None = None
                           ) -> Any:
    """Colour the plane by the class ``predict`` gives it, and draw the points on top.

    ``predict`` maps an array of points (M, 2) to class labels (M,) or to scores
    (M, K) (the arg-max is taken) or to one score per point (M,) or (M, 1), read as
    class 1 where it is > 0. It may return NumPy arrays or tensors.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    (x0, y0), (x1, y1) = X.min(axis=0) - margin, X.max(axis=0) + margin
    gx, gy = np.meshgrid(np.linspace(x0, x1, num), np.linspace(y0, y1, num))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    out = predict(grid)
    if type(out).__module__.startswith("torch"):
        out = out.detach().cpu().numpy()
    out = np.asarray(out)
    if out.ndim == 2 and out.shape[1] > 1:
        labels = out.argmax(axis=1)
    elif np.issubdtype(out.dtype, np.integer) or out.dtype == bool:
        labels = out.reshape(-1).astype(int)
    else:
        labels = (out.reshape(-1) > 0).astype(int)
    k = int(max(labels.max(), y.max())) + 1
    cmap = ListedColormap(CLASS_COLORS[:k])
    ax.contourf(gx, gy, labels.reshape(gx.shape), levels=np.arange(k + 1) - 0.5,
                cmap=cmap, alpha=0.25)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap=cmap, vmin=-0.5, vmax=k - 0.5, s=14,
               edgecolors="k", linewidths=0.3)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="$x_1$", ylabel="$x_2$")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


# ---------------------------------------------------------------- computational graphs
# Readable symbols for the ops of dlkit.autodiff.reverse; other ops show their name.
_OP_SYMBOLS = {"*": "×", "/": "÷", "sum": "Σ", "sigmoid": "σ", "relu": "ReLU",
               "cross_entropy": "cross-entropy", "T": "transpose"}
_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_GRAPH_SHOW = ("data", "grad", "both", "none")
_GRAPH_MAX_NODES = 200
# Sizes in inches (one data unit is one inch when the figure is drawn at full size).
_GAP_X, _GAP_Y, _DUMMY_H, _MARGIN = 0.6, 0.24, 0.06, 0.12
_LABEL_PT, _DETAIL_PT = 10.0, 8.0


def _tint(color: str, amount: float) -> tuple:
    """``color`` mixed with white: ``amount`` = 1 is the colour itself."""
    return tuple(1.0 - amount * (1.0 - c) for c in to_rgb(color))


def _number_or_shape(node: Any, a: Any) -> str:
    """Three significant digits for a scalar, the shape for an array."""
    if isinstance(node, Tensor) and np.ndim(a) > 0:
        return str(tuple(np.shape(a)))
    return f"{float(a) + 0.0:.3g}"                  # + 0.0 prints -0.0 as 0


def _op_symbol(node: Any) -> str:
    """The operation of an inner node: "×", "σ", "(·)²" for "**2", "(·)^0.5" ..."""
    op = node._op
    if op.startswith("**"):
        p = op[2:]
        return "(·)" + (p.translate(_SUPERSCRIPTS) if p.lstrip("-").isdigit()
                        else "^" + p)
    if op == "*" and isinstance(node, Tensor):
        return "⊙"                          # element-wise, not the matrix product
    return _OP_SYMBOLS.get(op, op)


def _node_text(node: Any, name: str | None, show: str) -> tuple[str, list[str]]:
    """The label of a node and the lines under it."""
    leaf = not node._prev
    if name is None:
        label = _number_or_shape(node, node.data) if leaf else _op_symbol(node)
    else:
        label = name if leaf else f"{name} = {_op_symbol(node)}"
    lines = []
    if show in ("data", "both") and not (leaf and name is None):   # else: the label
        lines.append(f"data {_number_or_shape(node, node.data)}")
    if show in ("grad", "both"):
        lines.append("no grad" if node.grad is None
                     else f"grad {_number_or_shape(node, node.grad)}")
    return label, lines


def _text_width(s: str, size: float, weight: str = "normal") -> float:
    """Width in inches of ``s`` drawn at ``size`` points (mathtext included)."""
    prop, measure = FontProperties(size=size, weight=weight), TextToPath()
    return max(measure.get_text_width_height_descent(line, prop, is_math_text(line))[0]
               for line in s.split("\n")) / 72


def _layered_layout(order: list, root: Any, named: set
                    ) -> tuple[list[int], list[list[int]], list[list[int]]]:
    """Columns by longest path, chains of dummy slots for long edges, ordered columns.

    Named leaves (the inputs) stay in column 0; an unnamed leaf (a constant) sits just
    left of its first user, so that it does not send a long edge across the graph.

    Returns the column of every item (nodes 0..n-1 in ``order``, then the dummies),
    one chain of items per edge (source, dummies..., user) and the items of each
    column from top to bottom, ordered by barycentre sweeps to reduce crossings.
    """
    index = {id(node): i for i, node in enumerate(order)}
    col = [0] * len(order)
    for i, node in enumerate(order):                # inputs come first in `order`
        if node._prev:
            col[i] = 1 + max(col[index[id(p)]] for p in node._prev)
    for i, node in enumerate(order):
        users = [col[t] for t, user in enumerate(order)
                 if any(p is node for p in user._prev)]
        if not node._prev and id(node) not in named and users:
            col[i] = min(users) - 1
    chains = []
    for t, node in enumerate(order):
        for p in node._prev:                        # a node used twice: two edges
            s = index[id(p)]
            dummies = list(range(len(col), len(col) + col[t] - col[s] - 1))
            col += list(range(col[s] + 1, col[t]))
            chains.append([s, *dummies, t])
    pred, succ = [[] for _ in col], [[] for _ in col]
    for chain in chains:
        for a, b in zip(chain, chain[1:]):
            pred[b].append(a)
            succ[a].append(b)
    # Start from the order in which the expression reads, left operand first.
    rank, stack = {}, [root]
    while stack:
        node = stack.pop()
        if id(node) not in rank:
            rank[id(node)] = len(rank)
            stack.extend(reversed(node._prev))
    first = [rank[id(node)] for node in order] + list(range(len(order), len(col)))
    layers = [[] for _ in range(max(col) + 1)]
    for item in sorted(range(len(col)), key=first.__getitem__):
        layers[col[item]].append(item)

    def crossings() -> int:
        total = 0
        for upper, lower in zip(layers, layers[1:]):
            pa = {v: k for k, v in enumerate(upper)}
            pb = {v: k for k, v in enumerate(lower)}
            segs = [(pa[u], pb[v]) for u in upper for v in succ[u]]
            total += sum((a1 - a2) * (b1 - b2) < 0
                         for (a1, b1), (a2, b2) in combinations(segs, 2))
        return total

    def barycentre(c: int, fixed: list, nbrs: list) -> None:
        pos = {v: k for k, v in enumerate(fixed)}
        keys = {v: np.mean([pos[u] for u in nbrs[v]]) if nbrs[v] else k
                for k, v in enumerate(layers[c])}
        layers[c].sort(key=keys.__getitem__)        # stable: ties keep their order

    best, fewest = [list(layer) for layer in layers], crossings()
    for _ in range(4):
        for c in range(1, len(layers)):
            barycentre(c, layers[c - 1], pred)
        for c in range(len(layers) - 2, -1, -1):
            barycentre(c, layers[c + 1], succ)
        if (count := crossings()) < fewest:
            best, fewest = [list(layer) for layer in layers], count
    return col, chains, best


def _ports(edges: list, towards: list, centre: float, height: float) -> dict:
    """Where edges meet a box side: spread out, the edge towards the highest on top."""
    ranked = sorted(range(len(edges)), key=lambda j: -towards[j])   # stable on ties
    half = min(0.3 * height, 0.07 * (len(edges) - 1))
    offsets = np.linspace(half, -half, len(edges))
    return {edges[j]: centre + offsets[r] for r, j in enumerate(ranked)}


def _spline(pts: list) -> Path:
    """Through ``pts``: S-curves with level ends across the gaps between columns
    (segments 0, 2, 4 ...), straight lines through the dummy slots (1, 3 ...)."""
    verts, codes = [pts[0]], [Path.MOVETO]
    for j, (a, b) in enumerate(zip(pts, pts[1:])):
        if j % 2 == 0:
            mid = (a[0] + b[0]) / 2
            verts += [(mid, a[1]), (mid, b[1]), b]
            codes += [Path.CURVE4] * 3
        else:
            verts.append(b)
            codes.append(Path.LINETO)
    return Path(verts, codes)


def plot_graph(root: Value | Tensor, ax: Axes | None = None, *,
               names: Mapping[Any, str] | None = None, show: str = "data",
               title: str | None = None) -> Axes:
    """Draw the computational graph of ``root``, inputs on the left; return the axes.

    Chapter 03, §The computational graph. ``root`` is a :class:`~dlkit.autodiff.reverse.
    Value` or a :class:`~dlkit.autodiff.reverse.Tensor`. ``names`` labels nodes
    (``{x: "x", f: "f"}``); unnamed leaves show their value (constants such as the
    ``-1`` of ``a - b``), inner nodes their operation. ``show`` puts ``"data"``,
    ``"grad"``, ``"both"`` or ``"none"`` under each label: numbers for a Value, shapes
    for a Tensor. Columns are longest paths from the leaves; an edge is an arrow from
    an input to its user, drawn once per use (``x * x`` has two arrows from ``x``).
    Artists carry gids (``node3-box``, ``node3-label``, ``node3-detail``, ``edge5``).
    """
    fn = "plot_graph"
    if not isinstance(root, (Value, Tensor)):
        raise TypeError(f"{fn}: `root` must be a Value or a Tensor from "
                        f"dlkit.autodiff.reverse, got {type(root).__name__}.")
    if show not in _GRAPH_SHOW:
        raise ValueError(f"{fn}: `show` must be one of "
                         f"{', '.join(map(repr, _GRAPH_SHOW))}, got {show!r}.")
    names = {} if names is None else names
    if not isinstance(names, Mapping):
        raise TypeError(f"{fn}: `names` must map nodes to labels, e.g. {{x: 'x'}}, got "
                        f"{type(names).__name__}.")
    label_of = {}
    for node, name in names.items():
        if not isinstance(name, str):
            raise TypeError(f"{fn}: `names` must map nodes to str labels, got "
                            f"{type(name).__name__} {name!r}.")
        label_of[id(node)] = name
    order = topological_order(root)
    if len(order) > _GRAPH_MAX_NODES:
        raise ValueError(f"{fn}: the graph has {len(order)} nodes, too large to draw "
                         f"(at most {_GRAPH_MAX_NODES}); draw a smaller expression, "
                         f"e.g. one neuron instead of the whole network.")
    col, chains, layers = _layered_layout(order, root, set(label_of))
    n = len(order)

    # Box sizes, in inches at full size.
    texts = [_node_text(node, label_of.get(id(node)), show) for node in order]
    n_lines = max(len(lines) for _, lines in texts)
    width = [max(0.55, 0.24 + max([_text_width(label, _LABEL_PT, "bold")]
                                  + [_text_width(s, _DETAIL_PT) for s in lines]))
             for label, lines in texts]
    height = (1.3 * _LABEL_PT + 1.35 * _DETAIL_PT * n_lines) / 72 + 0.16
    col_w = [max(width[v] for v in layer if v < n) for layer in layers]
    col_x = np.cumsum([0.0] + [(a + b) / 2 + _GAP_X for a, b in zip(col_w, col_w[1:])])
    x = [col_x[c] for c in col]
    y = [0.0] * len(col)
    for layer in layers:                            # top to bottom, centred on 0
        ext = [height if v < n else _DUMMY_H for v in layer]
        tops = -np.cumsum([0.0] + [e + _GAP_Y for e in ext[:-1]])
        shift = -(tops[-1] - ext[-1]) / 2
        for v, top, e in zip(layer, tops, ext):
            y[v] = top - e / 2 + shift
    x_lo, x_hi = -col_w[0] / 2 - _MARGIN, col_x[-1] + col_w[-1] / 2 + _MARGIN
    y_hi = max(y) + height / 2 + _MARGIN
    y_lo = min(y) - height / 2 - _MARGIN

    # At full size one data unit is one inch; a smaller axes scales fonts and lines.
    W, H = x_hi - x_lo, y_hi - y_lo
    if ax is None:
        scale = min(1.0, 14.0 / W, 10.0 / H)
        title_h = 0.4 if title else 0.0
        fig = plt.figure(figsize=(W * scale, H * scale + title_h))
        ax = fig.add_axes((0.0, 0.0, 1.0, H * scale / (H * scale + title_h)))
    else:
        fw, fh = ax.figure.get_size_inches()
        box = ax.get_position()
        scale = min(1.0, box.width * fw / W, box.height * fh / H)

    # Nodes: rounded boxes; constants grey, named leaves blue, operations green.
    blue, orange, green = CLASS_COLORS[0], CLASS_COLORS[1], CLASS_COLORS[2]
    for i, node in enumerate(order):
        if node is root:
            edge, face, lw = "#A05A00", _tint(orange, 0.45), 2.2
        elif node._prev:
            edge, face, lw = green, _tint(green, 0.18), 1.2
        elif id(node) in label_of:
            edge, face, lw = blue, _tint(blue, 0.18), 1.2
        else:
            edge, face, lw = "#8C8C8C", _tint("#8C8C8C", 0.15), 1.2
        w = width[i]
        ax.add_patch(FancyBboxPatch(
            (x[i] - w / 2, y[i] - height / 2), w, height, gid=f"node{i}-box",
            boxstyle="round,pad=0,rounding_size=0.08", fc=face, ec=edge,
            lw=lw * scale, zorder=2))
        label, lines = texts[i]
        label_h = 1.3 * _LABEL_PT / 72
        block = label_h + 1.35 * _DETAIL_PT * len(lines) / 72
        ax.text(x[i], y[i] + block / 2 - label_h / 2, label, ha="center", va="center",
                fontsize=_LABEL_PT * scale, fontweight="bold", color="#1A1A1A",
                gid=f"node{i}-label", zorder=3)
        if lines:
            ax.text(x[i], y[i] + block / 2 - label_h - (block - label_h) / 2,
                    "\n".join(lines), ha="center", va="center", linespacing=1.25,
                    fontsize=_DETAIL_PT * scale, color="#404040",
                    gid=f"node{i}-detail", zorder=3)

    # Edges: leave the right side of an input, enter the left side of its user.
    # One port per edge, so that the two uses of `x` in `x * x` stay apart.
    leaving, entering = [[] for _ in range(n)], [[] for _ in range(n)]
    for k, chain in enumerate(chains):
        leaving[chain[0]].append(k)
        entering[chain[-1]].append(k)
    outs, ins = {}, {}
    for i in range(n):
        nxt = [y[chains[k][1]] for k in leaving[i]]
        prv = [y[chains[k][-2]] for k in entering[i]]
        outs.update(_ports(leaving[i], nxt, y[i], height))
        ins.update(_ports(entering[i], prv, y[i], height))
    copies = Counter((c[0], c[-1]) for c in chains if len(c) == 2)
    twins: dict = {}                                # copies drawn so far
    style = dict(arrowstyle="-|>", mutation_scale=11 * scale, lw=1.1 * scale,
                 color="#4D4D4D", zorder=1)
    for k, chain in enumerate(chains):
        s, t = chain[0], chain[-1]
        start, end = (x[s] + width[s] / 2, outs[k]), (x[t] - width[t] / 2, ins[k])
        if len(chain) == 2 and copies[s, t] > 1:
            # A node used twice: arcs bending apart (the top one up), both seen.
            j = twins[s, t] = twins.get((s, t), -1) + 1
            rad = np.linspace(-0.2, 0.2, copies[s, t])[j]
            ax.add_patch(FancyArrowPatch(start, end, connectionstyle=f"arc3,rad={rad}",
                                         shrinkA=0, shrinkB=0, gid=f"edge{k}", **style))
            continue
        # A long edge runs through the free slot its dummies keep in each column.
        pts = [start]
        for d in chain[1:-1]:
            half = col_w[col[d]] / 2
            pts += [(x[d] - half, y[d]), (x[d] + half, y[d])]
        ax.add_patch(FancyArrowPatch(path=_spline(pts + [end]), gid=f"edge{k}",
                                     **style))

    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=11 * max(scale, 0.8))
    return ax


# --------------------------------------------------------------------------- image grids
__all__ += ["plot_image_grid"]


def _as_images(fn: str, r: int, row: Any) -> np.ndarray:
    """One row of images as an array (K, H, W)."""
    a = np.asarray(row.detach().cpu() if hasattr(row, "detach") else row, float)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    elif a.ndim == 2:
        side = int(round(np.sqrt(a.shape[1])))
        if side * side != a.shape[1]:
            raise ValueError(f"{fn}: row {r} has shape {a.shape}: flat images must have "
                             f"a square number of pixels; pass (K, H, W).")
        a = a.reshape(len(a), side, side)
    if a.ndim != 3:
        raise ValueError(f"{fn}: row {r} has shape {a.shape}, expected images (K, H, W), "
                         f"(K, 1, H, W) or (K, H*W).")
    return a


def plot_image_grid(rows: Any, *, row_labels: Any = None, titles: Any = None,
                    title: str | None = None, cmap: str = "gray_r",
                    vmin: float | None = 0.0, vmax: float | None = 1.0,
                    size: float = 0.9) -> Any:
    """Draw rows of small images (digits, reconstructions, ...) as a grid; return the figure.

    ``rows`` is a sequence of rows, each an array (or tensor, on any device) of images of
    shape (K, H, W), (K, 1, H, W) or (K, H*W) with a square H*W; all images have the
    same H and W. ``row_labels`` names each row on its left, ``titles`` (one per
    column) goes above the first row, ``title`` above the whole grid. Values outside
    ``[vmin, vmax]`` are clipped in the picture; with ``vmin`` or ``vmax`` None each
    image is scaled to its own range. ``size`` is the side of one image in inches.
    The grid is a single image with gaps (fast to draw, even with a hundred tiles).
    Chapter 08 (reconstructions, denoising, interpolation).
    """
    fn = "plot_image_grid"
    grids = [_as_images(fn, r, row) for r, row in enumerate(rows)]
    if not grids:
        raise ValueError(f"{fn}: `rows` is empty; pass a list of rows of images.")
    shapes = {a.shape[1:] for a in grids}
    if len(shapes) > 1:
        raise ValueError(f"{fn}: the rows hold images of different sizes {sorted(shapes)}"
                         f"; resize them to one size first (e.g. np.kron for a whole "
                         f"factor).")
    if row_labels is not None and len(row_labels) != len(grids):
        raise ValueError(f"{fn}: {len(row_labels)} row labels for {len(grids)} rows.")
    (H, W), gap = shapes.pop(), 1
    n_rows, n_cols = len(grids), max(len(a) for a in grids)
    lo, hi = (0.0, 1.0) if vmin is None or vmax is None else (vmin, vmax)
    mosaic = np.full((n_rows * (H + gap) - gap, n_cols * (W + gap) - gap), np.nan)
    for r, a in enumerate(grids):
        for c, img in enumerate(a):
            if vmin is None or vmax is None:     # each image on its own scale
                span = img.max() - img.min()
                img = (img - img.min()) / (span if span > 0 else 1.0)
            mosaic[r * (H + gap):r * (H + gap) + H, c * (W + gap):c * (W + gap) + W] = img
    # Margins in inches: row labels on the left, column titles and a title on top.
    left = 1.25 if row_labels is not None else 0.1
    top = (0.4 if titles is not None else 0.1) + (0.4 if title else 0.0)
    width, height = n_cols * size, n_rows * size * (H + gap) / (W + gap)
    fig = plt.figure(figsize=(left + width + 0.1, top + height + 0.1))
    fw, fh = fig.get_size_inches()
    ax = fig.add_axes((left / fw, 0.1 / fh, width / fw, height / fh))
    colormap = plt.get_cmap(cmap).copy()
    colormap.set_bad("white")
    ax.imshow(mosaic, cmap=colormap, vmin=lo, vmax=hi, interpolation="nearest")
    for r, a in enumerate(grids):
        for c in range(len(a)):
            ax.add_patch(plt.Rectangle((c * (W + gap) - 0.5, r * (H + gap) - 0.5), W, H,
                                       fill=False, ec="0.55", lw=0.6, clip_on=False))
        if row_labels is not None:
            ax.text(-0.12 * W, r * (H + gap) + H / 2 - 0.5, row_labels[r], ha="right",
                    va="center", fontsize=10)
    for c, t in enumerate(titles or []):
        ax.text(c * (W + gap) + W / 2 - 0.5, -0.12 * H, t, ha="center", va="bottom",
                fontsize=9)
    if title:
        fig.suptitle(title, y=1 - 0.08 / fh, va="top")
    ax.axis("off")
    return fig
