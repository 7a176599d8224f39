"""Plots that several chapters and the widgets share (matplotlib)."""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap, LogNorm

from .data import Surface

__all__ = [
    "OPTIMIZER_COLORS", "CONTOUR_CMAP", "plot_contours", "plot_paths", "plot_losses",
]

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
