"""The network playground of chapter 01: how an MLP's decision boundary forms as it trains.

A small multilayer perceptron (:mod:`dlkit.numpy.layers`, trained by the Adam of
:mod:`dlkit.numpy.optim` on the softmax cross-entropy) learns a 2-D classification
set; the picture colours the plane by the class the network predicts.
:func:`playground` retrains on every change of its controls (it needs a kernel);
:func:`playground_static` pre-renders a grid of settings x training steps as PNG
frames switched in the browser, so that it responds on the static website too.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from .. import data
from .._checks import check_hyper, check_int
from ..numpy import layers, optim
from ..plotting import CLASS_COLORS
from ._render import Blitter

__all__ = ["DATASETS", "ARCHITECTURES", "TrainingRun", "train_mlp", "playground",
           "playground_static"]

#: The data sets, each drawn from a fixed seed so that every page shows the same points.
DATASETS = {
    "blobs": lambda: data.make_blobs(200, separation=2.5, noise=0.8,
                                     rng=np.random.default_rng(1)),
    "XOR": lambda: data.make_xor(200, noise=0.18, rng=np.random.default_rng(2)),
    "spiral": lambda: data.make_spirals(300, num_classes=3, noise=0.15,
                                        rng=np.random.default_rng(3)),
}

#: Hidden-layer widths: () is no hidden layer at all, i.e. (multinomial) logistic regression.
ARCHITECTURES = {
    "no hidden layer": (),
    "1 layer × 4": (4,),
    "1 layer × 32": (32,),
    "2 layers × 16": (16, 16),
}


@dataclass
class TrainingRun:
    """Snapshots of one training run: ``params[k]`` after ``steps[k]`` Adam steps."""
    X: np.ndarray
    y: np.ndarray
    sizes: list[int]
    activation: str
    steps: list[int]
    params: list[list]
    losses: list[float]
    accuracies: list[float]


def _loss_and_grad(scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, float]:
    """Mean softmax cross-entropy, its gradient w.r.t. the scores, and the accuracy."""
    n = len(y)
    logp = layers.log_softmax(scores)
    dscores = np.exp(logp)
    dscores[np.arange(n), y] -= 1.0          # softmax(z) - onehot(y): chapter 04
    accuracy = float(np.mean(scores.argmax(axis=1) == y))
    return float(-logp[np.arange(n), y].mean()), dscores / n, accuracy


def train_mlp(X: np.ndarray, y: np.ndarray, hidden: Sequence[int], *,
              activation: str = "tanh", lr: float = 0.03, steps: Sequence[int] = (0, 100),
              seed: int = 0) -> TrainingRun:
    """Train an MLP with full-batch Adam and keep its weights after each of ``steps``.

    Shapes: X (N, D), y (N,) integer classes 0..K-1; the network is
    D -> hidden... -> K with a linear output and the softmax cross-entropy loss.
    """
    fn = "train_mlp"
    steps = sorted(check_int(fn, "steps", s, low=0, high=100_000) for s in steps)
    check_hyper(fn, "lr", lr, low_inclusive=False, typical="1e-3 to 1e-1")
    hidden = [check_int(fn, "hidden", h, low=1) for h in hidden]
    y = np.asarray(y)
    sizes = [X.shape[1], *hidden, int(y.max()) + 1]
    params = layers.mlp_init(sizes, rng=np.random.default_rng(seed))
    # Adam treats every parameter alike, so one step on all of them flattened into a
    # single vector equals one step per array, at a fraction of the call overhead.
    shapes = [a.shape for pair in params for a in pair]
    theta, state = np.concatenate([a.ravel() for pair in params for a in pair]), None
    run = TrainingRun(X, y, sizes, activation, [], [], [], [])
    for t in range(steps[-1] + 1):
        params = _unflatten(theta, shapes)
        scores, cache = layers.mlp_forward(X, params, activation=activation)
        loss, dscores, accuracy = _loss_and_grad(scores, y)
        if t in steps:
            run.steps.append(t)
            run.params.append(params)
            run.losses.append(loss)
            run.accuracies.append(accuracy)
        if t == steps[-1]:
            break
        grads = layers.mlp_backward(dscores, cache)
        g = np.concatenate([a.ravel() for pair in grads for a in pair])
        theta, state = optim.adam_step(theta, g, state, lr=lr)
    return run


def _unflatten(theta: np.ndarray, shapes: list) -> list:
    """[(w1, b1), ...] as views into the flat vector ``theta``."""
    arrays, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        arrays.append(theta[start:start + size].reshape(shape))
        start += size
    return list(zip(arrays[0::2], arrays[1::2]))


class BoundaryFigure:
    """One figure per data set; each snapshot redraws only the class colours (blitting)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, *, size: int = 330, dpi: int = 75,
                 num: int = 120) -> None:
        self.X, self.y = X, y
        lo, hi = X.min(axis=0) - 0.3, X.max(axis=0) + 0.3
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], num), np.linspace(lo[1], hi[1], num))
        self.grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
        self.shape = gx.shape
        k = int(y.max()) + 1
        cmap = ListedColormap(CLASS_COLORS[:k])
        self.fig = Figure(figsize=(size / dpi, size / dpi), dpi=dpi)
        self.ax = self.fig.add_axes((0.02, 0.02, 0.96, 0.86))
        self.image = self.ax.imshow(np.zeros(self.shape), origin="lower", cmap=cmap,
                                    vmin=-0.5, vmax=k - 0.5, alpha=0.3, aspect="auto",
                                    extent=(lo[0], hi[0], lo[1], hi[1]),
                                    interpolation="nearest")
        self.points = self.ax.scatter(X[:, 0], X[:, 1], c=y, cmap=cmap, vmin=-0.5, vmax=k - 0.5, s=12,
                        edgecolors="k", linewidths=0.3)
        self.ax.set(xticks=[], yticks=[])
        self.title = self.ax.set_title(" ", fontsize=10, y=1.0, pad=5)
        # The points and the axes are the background; only the colours and title change.
        self.points.set_zorder(3)
        self._blitter = Blitter(self.fig, [self.image, self.points, self.title])

    def render(self, run: TrainingRun, k: int, label: str = "") -> bytes:
        scores, _ = layers.mlp_forward(self.grid, run.params[k], activation=run.activation)
        self.image.set_data(scores.argmax(axis=1).reshape(self.shape))
        self.title.set_text(f"{label}step {run.steps[k]}: loss {run.losses[k]:.3f}, "
                            f"accuracy {100 * run.accuracies[k]:.0f}%")
        return self._blitter.png([self.image, self.points, self.title])


def _check_choice(fn: str, name: str, value: Any, options: dict) -> None:
    if value not in options:
        raise ValueError(f"{fn}: unknown `{name}`={value!r}; choose one of {list(options)}.")


class Playground(widgets.VBox):
    """The live playground (:func:`playground`); ``run`` is the last training run."""

    def __init__(self, dataset: str, architecture: str, activation: str, lr: float,
                 num_steps: int) -> None:
        style = {"description_width": "80px"}
        self.controls = {
            "dataset": widgets.Dropdown(options=list(DATASETS), value=dataset,
                                        description="data", style=style),
            "architecture": widgets.Dropdown(options=list(ARCHITECTURES), value=architecture,
                                             description="hidden", style=style),
            "activation": widgets.Dropdown(options=list(layers.ACTIVATIONS),
                                           value=activation, description="activation",
                                           style=style),
            "lr": widgets.FloatLogSlider(value=lr, base=10, min=-3, max=0, step=0.25,
                                         description="lr", style=style),
            "num_steps": widgets.IntSlider(value=num_steps, min=0, max=2000, step=50,
                                           description="Adam steps", style=style,
                                           continuous_update=False),
        }
        self.image = widgets.Image(format="png")
        box = widgets.VBox(list(self.controls.values()))
        super().__init__([widgets.HBox([box, self.image])])
        for control in self.controls.values():
            control.observe(lambda change: self.redraw(), names="value")
        self.redraw()

    def redraw(self) -> None:
        c = {name: control.value for name, control in self.controls.items()}
        X, y = DATASETS[c["dataset"]]()
        self.run = train_mlp(X, y, ARCHITECTURES[c["architecture"]],
                             activation=c["activation"], lr=c["lr"],
                             steps=[c["num_steps"]])
        self.image.value = BoundaryFigure(X, y).render(self.run, 0)


def playground(dataset: str = "spiral", architecture: str = "2 layers × 16", *,
               activation: str = "tanh", lr: float = 0.03, num_steps: int = 500
               ) -> Playground:
    """Train an MLP on a 2-D set and show its decision boundary; retrains on every change.

    Needs a running kernel (Jupyter, Colab). The version that also works on the
    static website is :func:`playground_static`.
    """
    fn = "playground"
    _check_choice(fn, "dataset", dataset, DATASETS)
    _check_choice(fn, "architecture", architecture, ARCHITECTURES)
    _check_choice(fn, "activation", activation, layers.ACTIVATIONS)
    check_hyper(fn, "lr", lr, low_inclusive=False, high=1.0, typical="1e-3 to 1e-1")
    check_int(fn, "num_steps", num_steps, low=0, high=2000)
    return Playground(dataset, architecture, activation, lr, num_steps)


class StaticPlayground(widgets.VBox):
    """Pre-rendered frames switched in the browser (:func:`playground_static`).

    ``controls`` holds ``dataset``, ``architecture`` and ``step``; ``frames`` maps
    (dataset, architecture, step index) to an Image; ``runs`` maps (dataset,
    architecture) to its :class:`TrainingRun`.
    """

    def __init__(self, controls, stack, caption, frames, runs, links, render_seconds):
        super().__init__([caption, widgets.HBox([controls["dataset"],
                                                 controls["architecture"]]),
                          controls["step"], stack])
        self.controls, self.stack, self.frames, self.runs = controls, stack, frames, runs
        self.links = links
        self.payload_bytes = sum(len(img.value) for img in frames.values())
        self.render_seconds = render_seconds


def nested_stack(frames: dict[tuple, Any], controls: Sequence[Any],
                 shape: Sequence[int]) -> tuple[Any, list[Any]]:
    """Nest ``Stack``s so that control i picks index i of ``frames[(i0, i1, ...)]``.

    Every Stack of level i follows control i through a ``jslink`` on ``index``, which
    runs in the browser: the choice works in a static page with no kernel.
    Returns the outer Stack and the links.
    """
    links: list[Any] = []

    def build(prefix: tuple) -> Any:
        level = len(prefix)
        if level == len(shape):
            return frames[prefix]
        stack = widgets.Stack([build(prefix + (i,)) for i in range(shape[level])],
                              selected_index=controls[level].index)
        links.append(widgets.jslink((controls[level], "index"), (stack, "selected_index")))
        return stack

    return build(()), links


def playground_static(*, datasets: Sequence[str] = tuple(DATASETS),
                      architectures: Sequence[str] = tuple(ARCHITECTURES),
                      steps: Sequence[int] = (0, 50, 100, 200, 400, 800),
                      activation: str = "tanh", lr: float = 0.03
                      ) -> StaticPlayground:
    """The playground on pre-rendered frames: data set x architecture x training step.

    Trains one network per (data set, architecture) with full-batch Adam, keeps its
    weights at every entry of ``steps``, and renders the decision boundary of each
    snapshot. Defaults: 3 x 4 x 6 = 72 frames, computed in a few seconds.
    """
    fn = "playground_static"
    for name, chosen, options in (("datasets", datasets, DATASETS),
                                  ("architectures", architectures, ARCHITECTURES)):
        if isinstance(chosen, str) or not chosen:
            raise ValueError(f"{fn}: `{name}` must be a non-empty list, got {chosen!r}.")
        for value in chosen:
            _check_choice(fn, name, value, options)
    _check_choice(fn, "activation", activation, layers.ACTIVATIONS)
    if isinstance(steps, (str, int)) or not 1 <= len(steps) <= 12:
        raise ValueError(f"{fn}: `steps` must list 1 to 12 step counts, got {steps!r}.")

    tic = time.perf_counter()
    frames, runs = {}, {}
    for i, dataset in enumerate(datasets):
        X, y = DATASETS[dataset]()
        figure = BoundaryFigure(X, y)
        for j, arch in enumerate(architectures):
            run = train_mlp(X, y, ARCHITECTURES[arch], activation=activation, lr=lr,
                            steps=steps)
            runs[dataset, arch] = run
            for k in range(len(run.steps)):
                frames[i, j, k] = widgets.Image(value=figure.render(run, k), format="png")
    render_seconds = time.perf_counter() - tic

    style = {"description_width": "60px"}
    controls = {
        "dataset": widgets.Dropdown(options=list(datasets), index=len(datasets) - 1,
                                    description="data", style=style,
                                    layout=widgets.Layout(width="200px")),
        "architecture": widgets.Dropdown(options=list(architectures),
                                         index=len(architectures) - 1,
                                         description="hidden", style=style,
                                         layout=widgets.Layout(width="230px")),
        "step": widgets.SelectionSlider(options=[str(s) for s in run.steps],
                                        index=len(run.steps) - 1, description="step",
                                        style=style, layout=widgets.Layout(width="430px")),
    }
    shape = (len(datasets), len(architectures), len(run.steps))
    stack, links = nested_stack(frames, list(controls.values()), shape)
    caption = widgets.HTML(
        "<p style='line-height:1.35; max-width:440px; margin:0 0 4px 0'><b>Network "
        f"playground.</b> A {activation} MLP trained with Adam (lr {lr:g}) on the "
        "softmax cross-entropy; the background shows the class it predicts at each point. "
        "Pick the <b>data</b>, the <b>hidden</b> layers, and move the <b>step</b> slider "
        f"to watch the boundary form. These {len(frames)} frames were computed when the "
        "page was built; <code>dlkit.widgets.playground()</code> retrains live in Jupyter "
        "or Colab, with any activation, learning rate and number of steps.</p>")
    return StaticPlayground(controls, stack, caption, frames, runs, links, render_seconds)
