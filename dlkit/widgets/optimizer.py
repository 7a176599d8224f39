"""The optimizer explorer of chapter 02: optimizers race on a 2-D loss surface.

Two front ends share one computation and one drawing:

- :func:`compute_race` runs every chosen optimizer from the same start point with
  :func:`dlkit.numpy.optim.optimize` and records the trajectories, the loss gaps
  :math:`f(w_t) - f^*` and which runs diverged;
- :class:`RaceFigure` draws a race: the contour plot with the trajectories on the
  left, the loss gap per step (log scale) on the right. It draws the contours once
  and only moves line data between races, so a new frame costs one render.

:func:`optimizer_explorer` is the live version (Jupyter, Colab: it needs a kernel);
:func:`optimizer_explorer_static` pre-renders a grid of settings into PNG frames
switched in the browser by ``jslink``-ed controls, so that it also responds on the
static website, where no kernel runs.
"""
from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass
from numbers import Real
from typing import Any, Callable, Iterator, Mapping, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from .._checks import check_int
from ..data import SURFACES, Surface
from ..numpy import optim
from ..plotting import OPTIMIZER_COLORS, plot_contours
from ._render import Blitter

__all__ = [
    "OPTIMIZERS", "DEFAULT_RACE", "Race", "RaceFigure", "compute_race",
    "default_hypers", "OptimizerExplorer", "StaticOptimizerExplorer",
    "optimizer_explorer", "optimizer_explorer_static",
]

#: The optimizers the explorer knows, in the order of its legends.
OPTIMIZERS: tuple[str, ...] = (
    "SGD", "momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam",
)

#: The optimizers that race unless told otherwise (AdaGrad is one click away).
DEFAULT_RACE: tuple[str, ...] = ("SGD", "momentum", "Nesterov", "RMSProp", "Adam")

# The hyperparameters each optimizer exposes, with torch.optim's defaults (Adam's
# betas are split in two, one slider each). "SGD" is plain gradient descent, but its
# momentum slider is there to show that momentum=0.9 turns it into "momentum".
_BASE_HYPERS: dict[str, dict[str, float]] = {
    "SGD": {"momentum": 0.0},
    "momentum": {"momentum": 0.9},
    "Nesterov": {"momentum": 0.9},
    "AdaGrad": {"eps": 1e-10},
    "RMSProp": {"alpha": 0.99, "momentum": 0.0, "eps": 1e-8},
    "Adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
}

# Learning rates per surface, chosen so that the race teaches something from the
# default start: plain GD zig-zags across the ill-conditioned bowl, crawls along
# Rosenbrock's valley and lingers at the saddle; momentum (effective step
# lr / (1 - momentum)) overshoots but gets there first; the adaptive methods take
# steps of about `lr` in every direction, so they escape the saddle at once. Nothing
# diverges at these values. Doubling them (the static explorer's "x 2") makes GD
# diverge on the bowl, whose stability limit is lr < 2 / lambda_max = 2 / 20, and
# momentum on Rosenbrock, whose curvature across the valley is about 2000.
_DEFAULT_LRS: dict[str, dict[str, float]] = {
    "ill-conditioned bowl": {"SGD": 0.09, "momentum": 0.02, "Nesterov": 0.02,
                             "AdaGrad": 0.5, "RMSProp": 0.05, "Adam": 0.1},
    "Rosenbrock": {"SGD": 1e-3, "momentum": 1e-3, "Nesterov": 1e-3,
                   "AdaGrad": 0.5, "RMSProp": 0.01, "Adam": 0.1},
    "saddle": {"SGD": 0.05, "momentum": 0.03, "Nesterov": 0.03,
               "AdaGrad": 0.3, "RMSProp": 0.02, "Adam": 0.05},
    "Himmelblau": {"SGD": 0.01, "momentum": 0.002, "Nesterov": 0.002,
                   "AdaGrad": 1.0, "RMSProp": 0.05, "Adam": 0.1},
}

# Steps per run: enough for the good optimizers to arrive, not so many that the
# slow ones catch up (Rosenbrock's valley is long and flat).
_NUM_STEPS: dict[str, int] = {
    "ill-conditioned bowl": 100, "Rosenbrock": 500, "saddle": 200, "Himmelblau": 150,
}

# Three start points per surface for the static explorer. The first is the
# surface's own default start; on the saddle the last one lies exactly on the
# ridge y = 0, where the gradient never points away from it: without noise no
# gradient method escapes.
_STARTS: dict[str, tuple[tuple[float, float], ...]] = {
    "ill-conditioned bowl": ((-2.5, 2.0), (2.5, 1.0), (-2.5, -2.0)),
    "Rosenbrock": ((-1.5, 2.5), (-1.2, 1.0), (0.5, -0.8)),
    "saddle": ((-1.8, 0.01), (-1.5, 0.5), (1.5, 0.0)),
    "Himmelblau": ((0.0, -4.5), (-4.5, 0.5), (0.5, 0.5)),
}

# Loss gaps below this are drawn at this value: the log axis cannot show 0.
_GAP_FLOOR = 1e-12


# --------------------------------------------------------------------------- checks
def _check_surface(fn: str, name: Any) -> str:
    if not isinstance(name, str) or name not in SURFACES:
        raise ValueError(
            f"{fn}: unknown surface {name!r}; choose one of "
            f"{', '.join(repr(s) for s in SURFACES)}."
        )
    return name


def _check_optimizers(fn: str, names: Any) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise ValueError(
            f"{fn}: `optimizers` must be a list or tuple of names, got {names!r}; "
            f"e.g. optimizers=('SGD', 'Adam'). Valid names: {', '.join(OPTIMIZERS)}."
        )
    bad = [n for n in names if n not in OPTIMIZERS]
    if bad:
        raise ValueError(
            f"{fn}: unknown optimizer(s) {', '.join(repr(b) for b in bad)}; "
            f"choose among {', '.join(repr(o) for o in OPTIMIZERS)}."
        )
    # Keep the canonical order, so that colours and legends never move around.
    return tuple(o for o in OPTIMIZERS if o in names)


def _check_start(fn: str, start: Any) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in start)
    except (TypeError, ValueError):
        raise ValueError(
            f"{fn}: `start` must be a pair (x, y) of numbers, got {start!r}."
        ) from None
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(f"{fn}: `start` must be finite, got {start!r}.")
    return x, y


# --------------------------------------------------------------------------- the race
def default_hypers(surface: str) -> dict[str, dict[str, float]]:
    """Return the default hyperparameters of every optimizer on ``surface``.

    A fresh dict ``{optimizer: {"lr": ..., "momentum": ..., ...}}`` that the caller
    may edit; the learning rates are chosen per surface (see ``_DEFAULT_LRS``).
    """
    _check_surface("default_hypers", surface)
    return {name: {"lr": _DEFAULT_LRS[surface][name], **_BASE_HYPERS[name]}
            for name in OPTIMIZERS}


def _step_rule(
    name: str, hyper: Mapping[str, float]
) -> tuple[Callable, dict[str, Any]]:
    """Map an optimizer's name and hyperparameters to a dlkit rule and its kwargs."""
    lr = hyper["lr"]
    if name in ("SGD", "momentum", "Nesterov"):
        mu = hyper.get("momentum", 0.0)
        # Nesterov's look-ahead needs a velocity; with momentum 0 it *is* plain GD,
        # which sgd_step (like torch.optim.SGD) asks us to say with nesterov=False.
        return optim.sgd_step, {"lr": lr, "momentum": mu,
                                "nesterov": name == "Nesterov" and mu > 0}
    if name == "AdaGrad":
        return optim.adagrad_step, {"lr": lr, "eps": hyper.get("eps", 1e-10)}
    if name == "RMSProp":
        return optim.rmsprop_step, {"lr": lr, "alpha": hyper.get("alpha", 0.99),
                                    "eps": hyper.get("eps", 1e-8),
                                    "momentum": hyper.get("momentum", 0.0)}
    return optim.adam_step, {"lr": lr, "betas": (hyper.get("beta1", 0.9),
                                                 hyper.get("beta2", 0.999)),
                             "eps": hyper.get("eps", 1e-8)}


@dataclass(frozen=True)
class Race:
    """The result of :func:`compute_race`: one trajectory per optimizer.

    ``paths[name]`` is what :func:`dlkit.numpy.optim.optimize` returned, shape
    (num_steps + 1, 2), inf/nan included after a divergence; ``gaps[name]`` is the
    loss gap :math:`f(w_t) - f^*` per step, shape (num_steps + 1,), floored at 1e-12
    for the log axis; ``diverged[name]`` is the first step at which the run was far
    outside the window (or inf/nan), None if it never was; ``hypers[name]`` holds
    the hyperparameters and ``kwargs[name]`` what the update rule received.
    """

    surface_name: str
    surface: Surface
    start: tuple[float, float]
    num_steps: int
    hypers: dict[str, dict[str, float]]
    kwargs: dict[str, dict[str, Any]]
    paths: dict[str, np.ndarray]
    gaps: dict[str, np.ndarray]
    diverged: dict[str, int | None]


def compute_race(
    surface: str,
    start: Sequence[float],
    hypers: Mapping[str, Mapping[str, float]],
    *,
    num_steps: int,
) -> Race:
    """Run every optimizer of ``hypers`` from ``start`` on one of the ``SURFACES``.

    ``hypers`` maps optimizer names (``OPTIMIZERS``) to hyperparameters, e.g.
    ``{"SGD": {"lr": 0.09}, "Adam": {"lr": 0.1, "beta1": 0.9, "beta2": 0.999}}``;
    the ones left out take torch.optim's defaults. Each run is exactly
    ``optimize(surface.grad, start, rule, num_steps=num_steps, **race.kwargs[name])``.

    Shapes: start (2,) -> paths (num_steps + 1, 2), gaps (num_steps + 1,).
    """
    return _compute_races("compute_race", surface, [start], hypers, num_steps)[0]


_HYPER_KEYS = {name: {"lr", *base} for name, base in _BASE_HYPERS.items()}


def _compute_races(
    fn: str,
    surface: str,
    starts: Sequence[Sequence[float]],
    hypers: Mapping[str, Mapping[str, float]],
    num_steps: int,
) -> list[Race]:
    """Run the race from several start points at once; return one Race per start.

    The update rules are elementwise, so one ``optimize`` call on a batch of K
    starts, w0 of shape (K, 2), costs about as much as a single start.
    """
    _check_surface(fn, surface)
    surf = SURFACES[surface]()
    starts = [_check_start(fn, start) for start in starts]
    num_steps = check_int(fn, "num_steps", num_steps, low=1, high=100_000)
    if not isinstance(hypers, Mapping):
        raise ValueError(
            f"{fn}: `hypers` must map optimizer names to dicts of hyperparameters, "
            f"got {type(hypers).__name__}; e.g. {{'SGD': {{'lr': 0.1}}}}."
        )
    names = _check_optimizers(fn, list(hypers))
    for name in names:
        extra = set(hypers[name]) - _HYPER_KEYS[name]
        if "lr" not in hypers[name] or extra:
            raise ValueError(
                f"{fn}: hyperparameters of {name!r} must include 'lr' and may include "
                f"{sorted(_HYPER_KEYS[name] - {'lr'})}; got {sorted(hypers[name])}."
            )
        bad = {k: v for k, v in hypers[name].items()
               if isinstance(v, bool) or not isinstance(v, Real)}
        if bad:
            raise ValueError(
                f"{fn}: hyperparameters of {name!r} must be numbers, got {bad!r}."
            )
    runs = {name: _run(surface, tuple(starts), num_steps, name,
                       tuple(sorted((k, float(v)) for k, v in hypers[name].items())))
            for name in names}
    return [
        Race(surface, surf, start, num_steps, {n: dict(hypers[n]) for n in names},
             {name: dict(kwargs) for name, (kwargs, *_) in runs.items()},
             {name: paths[:, k] for name, (_, paths, _, _) in runs.items()},
             {name: gaps[:, k] for name, (_, _, gaps, _) in runs.items()},
             {name: int(np.argmax(far[:, k])) if far[:, k].any() else None
              for name, (*_, far) in runs.items()})
        for k, start in enumerate(starts)
    ]


# Tuning one optimizer in the live explorer leaves the other runs unchanged: a
# small cache of runs makes such an update cost one run instead of five.
@functools.lru_cache(maxsize=256)
def _run(
    surface: str,
    starts: tuple[tuple[float, float], ...],
    num_steps: int,
    name: str,
    hyper: tuple[tuple[str, float], ...],
) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """One optimizer from K starts: (kwargs, paths (n+1, K, 2), gaps and far (n+1, K)).

    The arrays are read-only, since the cache hands the same ones out again.
    """
    surf = SURFACES[surface]()
    f_star = float(np.min(surf.f(np.array(surf.minima))))
    (x0, x1), (y0, y1) = surf.bounds
    span = max(x1 - x0, y1 - y0)
    w0 = np.array(starts[0] if len(starts) == 1 else starts)  # (2,) or (K, 2)
    step_fn, kwargs = _step_rule(name, dict(hyper))
    paths = optim.optimize(surf.grad, w0, step_fn, num_steps=num_steps, **kwargs)
    paths = paths.reshape(num_steps + 1, -1, 2)  # (num_steps + 1, K, 2)
    with np.errstate(over="ignore", invalid="ignore"):
        gaps = surf.f(paths) - f_star
        # Two window widths off-screen, a run is not coming back: on these
        # surfaces the gradient grows with the distance (cubically on Rosenbrock).
        far = ~np.isfinite(paths).all(axis=-1)
        far |= (paths[..., 0] < x0 - 2 * span) | (paths[..., 0] > x1 + 2 * span)
        far |= (paths[..., 1] < y0 - 2 * span) | (paths[..., 1] > y1 + 2 * span)
    gaps = np.where(np.isfinite(gaps), np.maximum(gaps, _GAP_FLOOR), np.inf)
    for array in (paths, gaps, far):
        array.flags.writeable = False
    return kwargs, paths, gaps, far


# --------------------------------------------------------------------------- drawing
class RaceFigure:
    """One matplotlib figure for the races on one surface: contours + loss gaps.

    Made once per surface: the contours, the axes and one line per optimizer.
    :meth:`draw` swaps the line data and, while the axes' ranges stay the same,
    re-renders only those lines over a cached background (blitting): a frame then
    costs about a third of a full draw. The figure lives outside pyplot, so it
    never shows up as a stray inline plot and never leaks.
    """

    def __init__(self, surface: str, *, width: int = 620, height: int = 270,
                 dpi: int = 75, palette: bool = True) -> None:
        self.surface_name = _check_surface("RaceFigure", surface)
        self.surface = surf = SURFACES[surface]()
        self.palette = palette
        self.fig = fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
        # Fixed positions instead of a layout engine: nothing moves between frames.
        # The map is square in pixels, so that its equal aspect wastes no room; the
        # loss panel's tick labels get 75 px, the legend 130 px on the right.
        bottom, top = 0.15, 0.90
        side = (top - bottom) * height / width
        left_loss = 0.075 + side + 75 / width
        self.ax_map = ax = fig.add_axes((0.075, bottom, side, top - bottom))
        self.ax_loss = axl = fig.add_axes(
            (left_loss, bottom, 1 - 130 / width - left_loss, top - bottom))
        plot_contours(surf, ax, num=120, levels=20)
        ax.tick_params(labelsize="small", pad=2)
        ax.xaxis.labelpad = ax.yaxis.labelpad = 0
        axl.set_yscale("log")
        # Minor ticks over 10+ decades are invisible clutter and cost 40% of a draw.
        axl.yaxis.set_minor_locator(NullLocator())
        self.loss_top = _loss_top(surf)
        axl.set_xlabel("step", labelpad=1)
        axl.set_ylabel("loss gap $f(w_t) - f^*$", labelpad=1)
        axl.tick_params(labelsize="small", pad=2)
        axl.grid(True, which="major", alpha=0.3)
        self.lines: dict[str, tuple[Any, Any, Any]] = {}
        for name in OPTIMIZERS:
            color = OPTIMIZER_COLORS.get(name)
            path, = ax.plot([], [], "-", color=color, lw=1.3, marker=".", ms=2.5)
            # A cross where a diverged run leaves the picture.
            end, = ax.plot([], [], "X", color=color, mec="k", mew=0.6, ms=8)
            loss, = axl.plot([], [], color=color, lw=1.4)
            self.lines[name] = (path, end, loss)
        self.start, = ax.plot([], [], "o", color="w", mec="k", ms=7)
        # An explicit y keeps matplotlib from re-placing titles on every full draw.
        self.map_title = ax.set_title(" ", fontsize="medium", y=1.0, pad=5)
        self.loss_title = axl.set_title(" ", fontsize="medium", y=1.0, pad=5)
        self._dynamic = [a for trio in self.lines.values() for a in trio]
        self._dynamic += [self.start, self.map_title, self.loss_title]
        self._blitter = Blitter(fig, self._dynamic, palette=palette)
        self.labels: list[str] = []  # the legend of the last frame drawn

    def draw(self, race: Race, *, title: str | None = None,
             ylim: tuple[float, float] | None = None) -> bytes:
        """Show ``race`` (which must be on this figure's surface); return PNG bytes.

        ``title`` goes above the loss panel; ``ylim`` fixes its range (default: from
        the smallest gap of this race to a fixed top, in whole decades).
        """
        if race.surface_name != self.surface_name:
            raise ValueError(
                f"RaceFigure.draw: this figure shows {self.surface_name!r}, the race "
                f"ran on {race.surface_name!r}; make one RaceFigure per surface."
            )
        handles, labels = [], []
        for name, (line, end, loss) in self.lines.items():
            shown = name in race.paths
            for artist in (line, end, loss):
                artist.set_visible(shown)
            if not shown:
                continue
            path, gap, stop = race.paths[name], race.gaps[name], race.diverged[name]
            label = f"{name} {race.hypers[name]['lr']:.2g}"
            if stop is None:
                line.set_data(path[:, 0], path[:, 1])
                loss.set_data(np.arange(len(gap)), gap)
                end.set_data([], [])
            else:
                # Draw the run up to where it leaves the window, and mark that spot.
                shown_path = _clip_to_window(path[:stop + 1], self.surface.bounds)
                line.set_data(shown_path[:, 0], shown_path[:, 1])
                end.set_data(shown_path[-1:, 0], shown_path[-1:, 1])
                loss.set_data(np.arange(stop), gap[:stop])
                label += " diverged"
            handles.append(loss)
            labels.append(label)
        self.start.set_data([race.start[0]], [race.start[1]])
        self.ax_loss.set_xlim(0, race.num_steps)
        self.ax_loss.set_ylim(ylim if ylim is not None else self.auto_ylim([race]))
        self.map_title.set_text(
            f"{self.surface_name}, start ({race.start[0]:.3g}, {race.start[1]:.3g})")
        self.loss_title.set_text(title if title is not None else "loss gap per step")
        self.labels = labels
        legend = None
        if handles:
            legend = self.fig.legend(
                handles, labels, title="optimizer, lr", loc="center left",
                bbox_to_anchor=(self.ax_loss.get_position().x1 + 0.01, 0.52),
                fontsize="small", title_fontsize="small", frameon=False,
                handlelength=1.2, handletextpad=0.5, labelspacing=0.4, borderaxespad=0)
            legend.set_animated(True)
        try:
            # Diverged runs go on top: their first step often hides under the others'.
            late = [a for n in race.paths if race.diverged[n] is not None
                    for a in self.lines[n]]
            early = [a for trio in self.lines.values() for a in trio if a not in late]
            marks = [self.start, self.map_title, self.loss_title]
            return self._render([*early, *late, *marks, *([legend] if legend else [])])
        finally:
            if legend is not None:
                legend.remove()

    def auto_ylim(self, races: Sequence[Race]) -> tuple[float, float]:
        """A loss range in whole decades that holds every gap of ``races``."""
        lows = [gap[np.isfinite(gap)].min() for race in races
                for gap in race.gaps.values() if np.isfinite(gap).any()]
        top = self.loss_top
        # Half a decade of room below the lowest curve, at least four decades in all.
        low = 10.0 ** np.floor(np.log10(min(lows, default=top)) - 0.5)
        return min(low, top * 1e-4), top

    def _render(self, artists: list[Any]) -> bytes:
        """Draw ``artists`` over the cached background; return the PNG bytes."""
        # The loss axis' ranges are part of the background, hence of its key.
        return self._blitter.png(artists,
                                 key=(self.ax_loss.get_xlim(), self.ax_loss.get_ylim()))


def _clip_to_window(path: np.ndarray, bounds: Any) -> np.ndarray:
    """Cut a path at the first point where it leaves the window ``bounds``.

    The last segment is shortened to end on the window's border, so that the
    diverged run visibly heads off in the right direction and ends in a cross.

    Shapes: path (n, 2) with n >= 1 -> (m, 2), m <= n.
    """
    (x0, x1), (y0, y1) = bounds
    with np.errstate(invalid="ignore"):
        inside = ((path[:, 0] >= x0) & (path[:, 0] <= x1)
                  & (path[:, 1] >= y0) & (path[:, 1] <= y1))
    if inside.all():
        return path
    k = int(np.argmin(inside))  # the first point outside
    if k == 0:
        return path[:1]
    a, b = path[k - 1], path[k]
    if not np.isfinite(b).all():
        return path[:k]
    # Largest t in [0, 1] with a + t (b - a) still inside the window.
    t = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        for lo, hi, ai, di in ((x0, x1, a[0], b[0] - a[0]),
                               (y0, y1, a[1], b[1] - a[1])):
            if di > 0:
                t = min(t, (hi - ai) / di)
            elif di < 0:
                t = min(t, (lo - ai) / di)
    return np.vstack([path[:k], a + t * (b - a)])


def _loss_top(surface: Surface) -> float:
    """A fixed top for the loss axis: the decade above the largest gap in the window."""
    _, _, Z = surface.grid(60)
    f_star = float(np.min(surface.f(np.array(surface.minima))))
    return 10.0 ** np.ceil(np.log10(Z.max() - f_star))


# ------------------------------------------------------------------ live explorer
# Which sliders each optimizer shows; the slider names are the keys of its hypers.
_SLIDERS_OF = {name: ("lr", *base) for name, base in _BASE_HYPERS.items()}
_SLIDER_KEYS = ("lr", "momentum", "alpha", "beta1", "beta2", "eps")


def _slider_layout(width: str = "300px") -> dict[str, Any]:
    return {"layout": widgets.Layout(width=width),
            "style": {"description_width": "70px"}, "continuous_update": False}


def _label(text: str, width: str = "74px") -> Any:
    """A right-aligned label in the style of a widget's description."""
    html = f"<div style='text-align:right; padding-right:8px'>{text}</div>"
    return widgets.HTML(html, layout=widgets.Layout(width=width))


def _set_range(slider: Any, low: float, high: float, value: float) -> None:
    """Move a slider to a new range and value without ever having min > max."""
    # Widen first, then narrow: ipywidgets rejects min > max at every step.
    slider.min, slider.max = min(slider.min, low), max(slider.max, high)
    slider.value = value
    slider.min, slider.max = low, high


class OptimizerExplorer(widgets.VBox):
    """The live optimizer explorer (needs a kernel); see :func:`optimizer_explorer`.

    Attributes for code and tests: ``controls`` (name -> widget), ``race_boxes``
    (optimizer -> Checkbox), ``image`` (the figure, a PNG ``Image``), ``race`` (the
    last :class:`Race` drawn), ``figure`` (its :class:`RaceFigure`; ``.labels`` is
    the legend), ``settings`` (surface -> its start, num_steps and hypers, as
    edited) and ``last_update_seconds`` (time of the last redraw).
    """

    def __init__(self, surface: str, *, num_steps: int | None,
                 optimizers: Sequence[str], width: int, height: int, dpi: int) -> None:
        self._size = {"width": width, "height": height, "dpi": dpi}
        self._figures: dict[str, RaceFigure] = {}
        self._muted = False
        self._num_steps = num_steps
        self.settings = {name: self._default_settings(name) for name in SURFACES}
        self.race: Race | None = None
        self.last_update_seconds = float("nan")

        lr = widgets.FloatLogSlider(value=0.1, base=10, min=-5, max=1, step=0.05,
                                    description="lr", readout_format=".2g",
                                    **_slider_layout())
        momentum = widgets.FloatSlider(value=0.0, min=0.0, max=0.99, step=0.01,
                                       description="momentum", **_slider_layout())
        alpha = widgets.FloatSlider(value=0.99, min=0.5, max=0.999, step=0.001,
                                    description="alpha", readout_format=".3f",
                                    **_slider_layout())
        beta1 = widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01,
                                    description="beta1", **_slider_layout())
        beta2 = widgets.FloatSlider(value=0.999, min=0.9, max=0.9999, step=0.0001,
                                    description="beta2", readout_format=".4f",
                                    **_slider_layout())
        self.controls: dict[str, Any] = {
            "surface": widgets.Dropdown(options=list(SURFACES), value=surface,
                                        description="surface",
                                        style={"description_width": "70px"}),
            "num_steps": widgets.IntSlider(value=1, min=1, max=1000, step=1,
                                           description="steps", **_slider_layout()),
            "reset": widgets.Button(description="reset surface",
                                    tooltip="back to this surface's defaults"),
            "edit": widgets.ToggleButtons(
                options=OPTIMIZERS, value=optimizers[0] if optimizers else "SGD",
                tooltips=[f"show the hyperparameters of {n}" for n in OPTIMIZERS],
                style={"button_width": "88px"}),
            "lr": lr, "momentum": momentum, "alpha": alpha, "beta1": beta1,
            "beta2": beta2,
            # A large eps turns the adaptive methods back into (slow) plain GD.
            "eps": widgets.FloatLogSlider(value=1e-8, base=10, min=-10, max=0, step=0.5,
                                          description="eps", readout_format=".0e",
                                          **_slider_layout()),
            "x0": widgets.FloatSlider(value=0.0, min=-1.0, max=1.0, step=0.01,
                                      description="start w1", **_slider_layout()),
            "y0": widgets.FloatSlider(value=0.0, min=-1.0, max=1.0, step=0.01,
                                      description="start w2", **_slider_layout()),
        }
        self.race_boxes = {
            # The colour of each optimizer beside its name: a legend for the controls.
            name: widgets.Checkbox(value=name in optimizers, indent=False,
                                   description=f"<span style='color:"
                                   f"{OPTIMIZER_COLORS[name]}'>&#9632;</span> {name}",
                                   description_allow_html=True,
                                   layout=widgets.Layout(width="105px"))
            for name in OPTIMIZERS
        }
        self.image = widgets.Image(format="png")
        c = self.controls
        wrap = widgets.Layout(flex_flow="row wrap")
        super().__init__([
            widgets.HBox([c["surface"], c["num_steps"], c["reset"]], layout=wrap),
            widgets.HBox([_label("race"), *self.race_boxes.values()], layout=wrap),
            # A label beside, not a `description`: web pages put that above buttons.
            widgets.HBox([_label("tune"), c["edit"]]),
            widgets.HBox([c[k] for k in _SLIDER_KEYS], layout=wrap),
            widgets.HBox([c["x0"], c["y0"]], layout=wrap),
            self.image,
        ])
        c["surface"].observe(self._on_surface, names="value")
        c["edit"].observe(self._on_edit, names="value")
        c["reset"].on_click(self._on_reset)
        for key in _SLIDER_KEYS:
            c[key].observe(self._on_hyper, names="value")
        for key in ("x0", "y0", "num_steps"):
            c[key].observe(self._on_setting, names="value")
        for box in self.race_boxes.values():
            box.observe(self._on_setting, names="value")
        self._load_surface()
        self.redraw()

    # -- state ------------------------------------------------------------------
    def _default_settings(self, surface: str) -> dict[str, Any]:
        return {"start": SURFACES[surface]().start,
                "num_steps": self._num_steps or _NUM_STEPS[surface],
                "hypers": default_hypers(surface)}

    @contextlib.contextmanager
    def _mute(self) -> Iterator[None]:
        """Update several controls with one redraw at the end, not one per control."""
        self._muted = True
        try:
            yield
        finally:
            self._muted = False

    def _load_surface(self) -> None:
        """Put the current surface's settings into the controls (no redraw)."""
        c = self.controls
        name = c["surface"].value
        (x0, x1), (y0, y1) = SURFACES[name]().bounds
        state = self.settings[name]
        with self._mute():
            _set_range(c["x0"], x0, x1, state["start"][0])
            _set_range(c["y0"], y0, y1, state["start"][1])
            c["x0"].step, c["y0"].step = (x1 - x0) / 200, (y1 - y0) / 200
            c["num_steps"].value = state["num_steps"]
        self._load_hypers()

    def _load_hypers(self) -> None:
        """Show the sliders of the optimizer being tuned, set to its values."""
        c = self.controls
        edit = c["edit"].value
        hyper = self.settings[c["surface"].value]["hypers"][edit]
        with self._mute():
            for key in _SLIDER_KEYS:
                shown = key in _SLIDERS_OF[edit]
                c[key].layout.display = None if shown else "none"
                if shown:
                    c[key].value = hyper[key]

    # -- events -----------------------------------------------------------------
    def _on_surface(self, change: dict) -> None:
        self._load_surface()
        self.redraw()

    def _on_edit(self, change: dict) -> None:
        self._load_hypers()

    def _on_reset(self, button: Any) -> None:
        name = self.controls["surface"].value
        self.settings[name] = self._default_settings(name)
        self._load_surface()
        self.redraw()

    def _on_hyper(self, change: dict) -> None:
        if self._muted:
            return
        c = self.controls
        edit = c["edit"].value
        key = next(k for k in _SLIDERS_OF[edit] if c[k] is change["owner"])
        self.settings[c["surface"].value]["hypers"][edit][key] = change["new"]
        # Tuning an optimizer that is not racing would change nothing on screen.
        if not self.race_boxes[edit].value:
            with self._mute():
                self.race_boxes[edit].value = True
        self.redraw()

    def _on_setting(self, change: dict) -> None:
        if self._muted:
            return
        c = self.controls
        state = self.settings[c["surface"].value]
        state["start"] = (c["x0"].value, c["y0"].value)
        state["num_steps"] = c["num_steps"].value
        self.redraw()

    # -- drawing ----------------------------------------------------------------
    @property
    def figure(self) -> RaceFigure | None:
        """The RaceFigure of the surface on show (None before the first redraw)."""
        return self._figures.get(self.controls["surface"].value)

    def redraw(self) -> None:
        """Recompute the race for the current controls and show it."""
        tic = time.perf_counter()
        name = self.controls["surface"].value
        state = self.settings[name]
        racing = [n for n, box in self.race_boxes.items() if box.value]
        self.race = compute_race(name, state["start"],
                                 {n: state["hypers"][n] for n in racing},
                                 num_steps=state["num_steps"])
        if name not in self._figures:
            self._figures[name] = RaceFigure(name, **self._size)
        self.image.value = self._figures[name].draw(self.race)
        self.last_update_seconds = time.perf_counter() - tic


def optimizer_explorer(
    surface: str = "Rosenbrock",
    *,
    num_steps: int | None = None,
    optimizers: Sequence[str] = DEFAULT_RACE,
    width: int = 820,
    height: int = 340,
    dpi: int = 85,
) -> OptimizerExplorer:
    """Race optimizers on a 2-D loss surface, live: every control redraws the figure.

    Choose the surface, which optimizers race, and tune each optimizer's learning
    rate, momentum, RMSProp's alpha, Adam's betas and eps (pick the optimizer under
    "tune"); set the number of steps and move the start point with its sliders.
    Left: the contours with the trajectories (white dot: start, star: minima,
    cross: where a diverged run left the window). Right: the loss gap
    :math:`f(w_t) - f^*` per step, on a log scale.
    Every run is :func:`dlkit.numpy.optim.optimize` with the rules of
    :mod:`dlkit.numpy.optim`; the last race is in ``explorer.race``.

    ``num_steps=None`` picks a per-surface number of steps; ``width``/``height`` are
    the figure's size in pixels at ``dpi``. Needs a running kernel (Jupyter, Colab);
    on the static website use :func:`optimizer_explorer_static`.
    """
    fn = "optimizer_explorer"
    _check_surface(fn, surface)
    if num_steps is not None:
        num_steps = check_int(fn, "num_steps", num_steps, low=1, high=1000)
    optimizers = _check_optimizers(fn, optimizers)
    _check_size(fn, width, height, dpi)
    return OptimizerExplorer(surface, num_steps=num_steps, optimizers=optimizers,
                             width=width, height=height, dpi=dpi)


def _check_size(fn: str, width: Any, height: Any, dpi: Any) -> None:
    check_int(fn, "width", width, low=300, high=3000)
    check_int(fn, "height", height, low=150, high=2000)
    check_int(fn, "dpi", dpi, low=30, high=300)


# ---------------------------------------------------------------- static explorer
class StaticOptimizerExplorer(widgets.VBox):
    """Pre-rendered races, switched in the browser: :func:`optimizer_explorer_static`.

    Attributes: ``controls`` (``surface``, ``start``, ``lr_scale``), ``stacks``
    (the outer Stack over surfaces; ``stacks.children[i].children[j]`` is the Stack
    over learning-rate scales of surface i, start j), ``frames`` ((surface, start
    index, scale index) -> Image), ``links`` (the jslink objects),
    ``payload_bytes`` (total PNG size) and ``render_seconds``.
    """

    def __init__(self, controls: dict[str, Any], stack: Any, caption: Any,
                 frames: dict[tuple[str, int, int], Any], links: list[Any],
                 render_seconds: float) -> None:
        super().__init__([
            caption,
            # A label beside, not a `description`: web pages put that above buttons.
            widgets.HBox([controls["surface"], _label("start", "50px"),
                          controls["start"]],
                         layout=widgets.Layout(flex_flow="row wrap")),
            controls["lr_scale"],
            stack,
        ])
        self.controls, self.stacks, self.frames = controls, stack, frames
        self.links = links
        self.payload_bytes = sum(len(img.value) for img in frames.values())
        self.render_seconds = render_seconds


def optimizer_explorer_static(
    *,
    surfaces: Sequence[str] = tuple(SURFACES),
    lr_scales: Sequence[float] = (0.25, 0.5, 1.0, 2.0),
    optimizers: Sequence[str] = DEFAULT_RACE,
    num_steps: int | None = None,
    width: int = 620,
    height: int = 270,
    dpi: int = 75,
) -> StaticOptimizerExplorer:
    """Race optimizers on pre-rendered frames that respond without a kernel.

    Renders every combination of surface x start point (three per surface) x
    learning-rate multiplier (every optimizer's default ``lr`` times the scale) as a
    PNG, with all ``optimizers`` racing in each frame, and stacks the frames in
    nested ``ipywidgets.Stack``s whose ``selected_index`` follows the controls
    through ``jslink``. The links run in the browser, so the controls keep working
    in the widget state saved in a static web page. Defaults: 4 x 3 x 4 = 48 frames.
    The live version with every hyperparameter is :func:`optimizer_explorer`.

    ``num_steps=None`` picks a per-surface number of steps; ``width``/``height``
    are each frame's size in pixels at ``dpi``.
    """
    fn = "optimizer_explorer_static"
    if isinstance(surfaces, str) or not isinstance(surfaces, (list, tuple)) \
            or not surfaces or len(set(surfaces)) != len(surfaces):
        raise ValueError(
            f"{fn}: `surfaces` must be a non-empty list of distinct names, got "
            f"{surfaces!r}; choose among {', '.join(repr(s) for s in SURFACES)}."
        )
    for surface in surfaces:
        _check_surface(fn, surface)
    if not isinstance(lr_scales, (list, tuple)) or not 1 <= len(lr_scales) <= 8 or any(
            isinstance(x, bool) or not isinstance(x, Real) or not 0 < x < np.inf
            for x in lr_scales):
        raise ValueError(
            f"{fn}: `lr_scales` must be 1 to 8 positive numbers, got {lr_scales!r}; "
            f"e.g. lr_scales=(0.25, 0.5, 1.0, 2.0)."
        )
    optimizers = _check_optimizers(fn, optimizers)
    if not optimizers:
        raise ValueError(f"{fn}: `optimizers` is empty; choose among {OPTIMIZERS}.")
    if num_steps is not None:
        num_steps = check_int(fn, "num_steps", num_steps, low=1, high=1000)
    _check_size(fn, width, height, dpi)

    tic = time.perf_counter()
    frames: dict[tuple[str, int, int], Any] = {}
    for surface in surfaces:
        figure = RaceFigure(surface, width=width, height=height, dpi=dpi)
        defaults = default_hypers(surface)
        races = {}
        for j, scale in enumerate(lr_scales):
            hypers = {n: {**defaults[n], "lr": defaults[n]["lr"] * scale}
                      for n in optimizers}
            # One batched run for the three start points of this setting.
            batch = _compute_races(fn, surface, _STARTS[surface], hypers,
                                   num_steps or _NUM_STEPS[surface])
            races.update(((i, j), race) for i, race in enumerate(batch))
        # One loss range per surface: frames compare at a glance, and the cached
        # background (axes, ticks, contours) serves every frame.
        ylim = figure.auto_ylim(list(races.values()))
        for (i, j), race in races.items():
            png = figure.draw(race, title=f"every learning rate × {lr_scales[j]:g}",
                              ylim=ylim)
            frames[surface, i, j] = widgets.Image(value=png, format="png")
    render_seconds = time.perf_counter() - tic

    num_starts = len(_STARTS[surfaces[0]])
    controls = {
        "surface": widgets.Dropdown(options=list(surfaces), index=0,
                                    description="surface",
                                    style={"description_width": "60px"},
                                    layout=widgets.Layout(width="270px")),
        "start": widgets.ToggleButtons(options=[chr(65 + i) for i in range(num_starts)],
                                       index=0, style={"button_width": "48px"},
                                       tooltips=[f"start point {chr(65 + i)}"
                                                 for i in range(num_starts)]),
        "lr_scale": widgets.SelectionSlider(
            options=[f"× {x:g}" for x in lr_scales],
            index=list(lr_scales).index(1.0) if 1.0 in lr_scales else 0,
            description="lr scale", continuous_update=True,
            style={"description_width": "60px"}, layout=widgets.Layout(width="360px")),
    }
    # Nested stacks: surface -> start -> lr scale -> frame. One control per level,
    # linked in the browser to every stack of its level.
    links = []
    by_surface = []
    for surface in surfaces:
        by_start = []
        for i in range(num_starts):
            inner = widgets.Stack(
                [frames[surface, i, j] for j in range(len(lr_scales))],
                selected_index=controls["lr_scale"].index)
            links.append(widgets.jslink((controls["lr_scale"], "index"),
                                        (inner, "selected_index")))
            by_start.append(inner)
        middle = widgets.Stack(by_start, selected_index=0)
        links.append(widgets.jslink((controls["start"], "index"),
                                    (middle, "selected_index")))
        by_surface.append(middle)
    outer = widgets.Stack(by_surface, selected_index=0)
    links.append(widgets.jslink((controls["surface"], "index"),
                                (outer, "selected_index")))

    names = ", ".join(optimizers)
    caption = widgets.HTML(
        "<p style='line-height:1.35; max-width:%dpx; margin:0 0 4px 0'>"
        "<b>Optimizer race.</b> %s start from the white dot; stars mark the minima, "
        "a cross marks where a run diverged out of the window. Pick a "
        "<b>surface</b>, a <b>start</b> point (A, B, C), and an <b>lr scale</b> that "
        "multiplies every optimizer's learning rate (its value is in the legend). "
        "These %d frames were computed when the page was built. For every "
        "hyperparameter (momentum, alpha, betas), any start point and your own "
        "choice of racers, run <code>dlkit.widgets.optimizer_explorer()</code> in "
        "Jupyter or Colab.</p>" % (width, names, len(frames)))
    return StaticOptimizerExplorer(controls, outer, caption, frames, links,
                                   render_seconds)
