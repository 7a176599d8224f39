"""Plots that several chapters and the widgets share (matplotlib)."""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap, LogNorm

from .data import Surface

__all__ = [
    "OPTIMIZER_COLORS", "CONTOUR_CMAP", "CLASS_COLORS", "plot_contours", "plot_paths",
    "plot_losses", "plot_decision_boundary",
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
