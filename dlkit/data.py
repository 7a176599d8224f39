"""Datasets and test functions, offline first.

Everything here works with no network: scikit-learn ships the digits and diabetes
sets, the rest is generated from an explicit ``rng``. The optimisation test
surfaces accept NumPy arrays *and* torch tensors of shape ``(..., 2)``, so the
same surface feeds the NumPy reference, the PyTorch twin and the contour plots.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from ._checks import check_hyper, check_int

__all__ = [
    "load_digits", "load_diabetes", "load_image", "load_text", "make_line", "make_blobs", "make_xor", "make_spirals",
    "minibatches", "augment_digits",
    "Surface", "quadratic_bowl", "rosenbrock", "saddle", "himmelblau", "SURFACES",
]


def _rng(fn: str, rng: Any) -> np.random.Generator:
    if rng is None:
        raise TypeError(
            f"{fn}: pass `rng=np.random.default_rng(seed)`; dlkit never draws from "
            f"hidden global random state, so that every run can be reproduced."
        )
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{fn}: `rng` must be a numpy.random.Generator, got {type(rng).__name__}.")
    return rng


# --------------------------------------------------------------------------- datasets
def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 handwritten digits, scaled to [0, 1].

    Shapes: -> X (1797, 64) float64, y (1797,) int64 with classes 0..9.
    """
    from sklearn.datasets import load_digits as _load

    X, y = _load(return_X_y=True)
    return X / 16.0, y.astype(np.int64)


#: The photographs that ship with scikit-learn (offline), by short name.
IMAGES = {"china": "china.jpg", "flower": "flower.jpg"}


def load_image(name: str = "china", *, size: int | None = None, gray: bool = True
               ) -> np.ndarray:
    """One of scikit-learn's sample photographs, as floats in [0, 1].

    ``gray=True`` averages the colour channels with the usual luminance weights
    (0.299 R + 0.587 G + 0.114 B); ``size`` downsamples by averaging blocks of pixels
    until the shorter side has about ``size`` pixels (cheap, and free of aliasing).

    Shapes: -> (H, W) when gray, else (H, W, 3); the originals are 427 x 640.
    """
    if name not in IMAGES:
        raise ValueError(f"load_image: unknown image {name!r}; choose one of "
                         f"{', '.join(map(repr, IMAGES))}.")
    from sklearn.datasets import load_sample_image

    img = load_sample_image(IMAGES[name]).astype(np.float64) / 255.0     # (H, W, 3)
    if gray:
        img = img @ np.array([0.299, 0.587, 0.114])
    if size is not None:
        size = check_int("load_image", "size", size, low=1)
        f = max(1, min(img.shape[:2]) // size)                # block size
        h, w = (img.shape[0] // f) * f, (img.shape[1] // f) * f
        img = img[:h, :w].reshape(h // f, f, w // f, f, *img.shape[2:]).mean(axis=(1, 3))
    return img


#: The texts that ship with dlkit (dlkit/texts/, all in the public domain).
TEXTS = ("verse",)


def load_text(name: str = "verse") -> str:
    """A small public-domain text that ships with dlkit, for character-level models.

    ``"verse"``: four of Shakespeare's sonnets, Carroll's "Jabberwocky" and Lincoln's
    Gettysburg Address, about 5,000 characters (see dlkit/texts/README.md).
    """
    if name not in TEXTS:
        raise ValueError(f"load_text: unknown text {name!r}; choose one of "
                         f"{', '.join(map(repr, TEXTS))}.")
    from importlib.resources import files

    return (files("dlkit") / "texts" / f"{name}.txt").read_text(encoding="utf-8")


def load_diabetes(*, standardize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A real regression set: disease progression of 442 diabetes patients.

    Ten baseline measurements (age, sex, BMI, blood pressure, six blood serum
    values) predict a measure of disease progression one year later. With
    ``standardize=True`` every column of X and the target y have mean 0 and
    standard deviation 1, which is what gradient descent likes.

    Shapes: -> X (442, 10) float64, y (442,) float64.
    """
    from sklearn.datasets import load_diabetes as _load

    X, y = _load(return_X_y=True, scaled=False)
    X, y = X.astype(np.float64), y.astype(np.float64)
    if standardize:
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        y = (y - y.mean()) / y.std()
    return X, y


def make_line(
    n: int = 100, *, slope: float = 3.0, intercept: float = -2.0, noise: float = 1.0,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy points around the line ``y = slope * x + intercept``, x uniform in [-2, 2].

    Shapes: -> x (n,), y (n,).
    """
    rng = _rng("make_line", rng)
    n = check_int("make_line", "n", n, low=1)
    check_hyper("make_line", "noise", noise)
    x = rng.uniform(-2.0, 2.0, size=n)
    return x, slope * x + intercept + noise * rng.standard_normal(n)


def make_blobs(
    n: int = 100, *, separation: float = 3.0, noise: float = 0.7,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clouds in the plane, centred ``separation`` apart on a diagonal.

    Gaussian clouds can overlap: with the defaults most draws, not all, can be split
    by a straight line (are *linearly separable*), which is what the perceptron needs;
    a larger ``separation`` or a smaller ``noise`` makes overlap rarer.

    Shapes: -> X (n, 2), y (n,) int64 in {0, 1}, half of each class.
    """
    rng = _rng("make_blobs", rng)
    n = check_int("make_blobs", "n", n, low=2)
    check_hyper("make_blobs", "separation", separation)
    check_hyper("make_blobs", "noise", noise)
    y = (np.arange(n) >= n // 2).astype(np.int64)
    centres = np.where(y[:, None] == 1, 1.0, -1.0) * (separation / (2 * np.sqrt(2)))
    return centres + noise * rng.standard_normal((n, 2)), y


def make_xor(
    n: int = 200, *, noise: float = 0.0, rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The XOR problem: label 1 when exactly one of the two inputs is "on".

    With ``n=4`` and ``noise=0`` it returns the four corners of the unit square,
    ``X = [[0,0],[0,1],[1,0],[1,1]]`` and ``y = [0,1,1,0]``; otherwise ``n`` points
    drawn around the corners with Gaussian ``noise`` (a cloud per corner).

    Shapes: -> X (n, 2), y (n,) int64 in {0, 1}.
    """
    n = check_int("make_xor", "n", n, low=4)
    check_hyper("make_xor", "noise", noise)
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    if n == 4 and noise == 0:
        X = corners
    else:
        rng = _rng("make_xor", rng)
        X = corners[np.arange(n) % 4] + noise * rng.standard_normal((n, 2))
        X = X[rng.permutation(n)] if noise else X
    y = ((X[:, 0] > 0.5) != (X[:, 1] > 0.5)).astype(np.int64)
    return X, y


def make_spirals(
    n: int = 300, *, num_classes: int = 2, turns: float = 1.25, noise: float = 0.2,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class: a set no straight line can split.

    Arm k follows the radius r in [0.1, 1] through ``turns`` turns, rotated by
    2πk/num_classes, with Gaussian noise of ``noise`` radians on the angle.

    Shapes: -> X (n, 2) in about [-1, 1]², y (n,) int64 in 0..num_classes-1.
    """
    rng = _rng("make_spirals", rng)
    n = check_int("make_spirals", "n", n, low=1)
    num_classes = check_int("make_spirals", "num_classes", num_classes, low=2)
    check_hyper("make_spirals", "turns", turns, low_inclusive=False)
    check_hyper("make_spirals", "noise", noise)
    y = np.arange(n) % num_classes
    r = rng.uniform(0.1, 1.0, size=n)
    theta = 2 * np.pi * (turns * r + y / num_classes) + noise * rng.standard_normal(n)
    X = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    return X, y.astype(np.int64)


def minibatches(
    X: np.ndarray, y: np.ndarray, *, batch_size: int, shuffle: bool = True,
    rng: np.random.Generator | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield the mini-batches ``(X[idx], y[idx])`` of one epoch.

    With ``shuffle=True`` the order is a fresh random permutation (drawn from
    ``rng``) on every call, i.e. every epoch. Every example appears exactly once per
    epoch; the last batch is smaller when ``batch_size`` does not divide n, so an
    epoch has ``ceil(n / batch_size)`` iterations.

    Shapes: X (n, ...), y (n, ...) -> batches (batch_size, ...).
    """
    n = len(X)
    if len(y) != n:
        raise ValueError(
            f"minibatches: X has {n} examples but y has {len(y)}; they must pair up."
        )
    batch_size = check_int("minibatches", "batch_size", batch_size, low=1)
    order = _rng("minibatches", rng).permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        yield X[idx], y[idx]


# --------------------------------------------------------------------------- surfaces
def _stack(a: Any, b: Any) -> Any:
    """Stack two coordinate arrays on a last axis, for NumPy arrays or tensors."""
    if type(a).__module__.startswith("torch"):
        import torch

        return torch.stack([a, b], dim=-1)
    return np.stack([a, b], axis=-1)


@dataclass(frozen=True)
class Surface:
    """A 2-D test function for optimisers, with its analytic gradient.

    ``f(w)`` and ``grad(w)`` take ``w`` of shape ``(..., 2)`` (NumPy or torch) and
    return shapes ``(...)`` and ``(..., 2)``. ``bounds`` is the plotting window,
    ``minima`` the known minimisers, ``start`` a good default start point, and
    ``lr`` a learning rate for plain gradient descent that works on it.
    """

    name: str
    f: Callable[[Any], Any] = field(repr=False)
    grad: Callable[[Any], Any] = field(repr=False)
    bounds: tuple[tuple[float, float], tuple[float, float]]
    minima: tuple[tuple[float, float], ...]
    start: tuple[float, float]
    lr: float
    log_scale: bool = False

    def __call__(self, w: Any) -> Any:
        return self.f(w)

    def grid(self, num: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``X, Y, Z`` on a ``num x num`` grid over ``bounds`` (for contours)."""
        (x0, x1), (y0, y1) = self.bounds
        X, Y = np.meshgrid(np.linspace(x0, x1, num), np.linspace(y0, y1, num))
        return X, Y, self.f(np.stack([X, Y], axis=-1))


def quadratic_bowl(condition: float = 10.0, angle: float = 0.0) -> Surface:
    r"""The bowl :math:`f(w) = \tfrac12 w^\top A w` whose Hessian A has eigenvalues 1 and ``condition``.

    ``angle`` (radians) rotates the axes of the ellipses. Gradient descent converges
    for :math:`\eta < 2/\lambda_{max}`; a large condition number makes it zig-zag.
    """
    kappa = check_hyper("quadratic_bowl", "condition", condition, low=1.0, typical="1 to 100")
    c, s = np.cos(angle), np.sin(angle)
    # A = R diag(1, kappa) R^T with R the rotation by `angle`.
    a11, a12, a22 = c * c + kappa * s * s, (1 - kappa) * c * s, s * s + kappa * c * c

    def f(w):
        x, y = w[..., 0], w[..., 1]
        return 0.5 * (a11 * x * x + 2 * a12 * x * y + a22 * y * y)

    def grad(w):
        x, y = w[..., 0], w[..., 1]
        return _stack(a11 * x + a12 * y, a12 * x + a22 * y)

    return Surface(f"bowl (condition {kappa:g})", f, grad, ((-3.0, 3.0), (-3.0, 3.0)),
                   ((0.0, 0.0),), (-2.5, 2.0), lr=1.0 / kappa)


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Surface:
    r"""Rosenbrock's banana valley :math:`(a-x)^2 + b(y-x^2)^2`, minimum at :math:`(a, a^2)`."""

    def f(w):
        x, y = w[..., 0], w[..., 1]
        return (a - x) ** 2 + b * (y - x * x) ** 2

    def grad(w):
        x, y = w[..., 0], w[..., 1]
        r = y - x * x
        return _stack(-2 * (a - x) - 4 * b * x * r, 2 * b * r)

    return Surface("Rosenbrock", f, grad, ((-2.0, 2.0), (-1.0, 3.0)), ((a, a * a),),
                   (-1.5, 2.5), lr=1e-3, log_scale=True)


def saddle() -> Surface:
    r"""A saddle at the origin between two minima: :math:`x^2/2 + y^4/4 - y^2/2`.

    The Hessian at (0, 0) is diag(1, -1); the minima are :math:`(0, \pm 1)`. A start
    on the line y = 0 slides into the saddle and stays there; a tiny offset escapes.
    """

    def f(w):
        x, y = w[..., 0], w[..., 1]
        return 0.5 * x * x + 0.25 * y**4 - 0.5 * y * y

    def grad(w):
        x, y = w[..., 0], w[..., 1]
        return _stack(x, y**3 - y)

    return Surface("saddle", f, grad, ((-2.0, 2.0), (-2.0, 2.0)),
                   ((0.0, -1.0), (0.0, 1.0)), (-1.8, 0.01), lr=0.1)


def himmelblau() -> Surface:
    r"""Himmelblau's function :math:`(x^2+y-11)^2 + (x+y^2-7)^2`: four minima, all with value 0."""

    def f(w):
        x, y = w[..., 0], w[..., 1]
        return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2

    def grad(w):
        x, y = w[..., 0], w[..., 1]
        p, q = x * x + y - 11, x + y * y - 7
        return _stack(4 * x * p + 2 * q, 2 * p + 4 * y * q)

    minima = ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126))
    return Surface("Himmelblau", f, grad, ((-5.0, 5.0), (-5.0, 5.0)), minima,
                   (0.0, -4.5), lr=0.01, log_scale=True)


#: The surfaces of chapter 02's comparisons and of the optimizer explorer.
SURFACES: dict[str, Callable[[], Surface]] = {
    "ill-conditioned bowl": lambda: quadratic_bowl(condition=20.0, angle=np.pi / 6),
    "Rosenbrock": rosenbrock,
    "saddle": saddle,
    "Himmelblau": himmelblau,
}


# ------------------------------------------------------------------------- augmentation
def augment_digits(
    X: np.ndarray, *, rng: np.random.Generator, max_shift: int = 1,
    max_angle: float = 0.0, noise: float = 0.0,
) -> np.ndarray:
    r"""Randomly shifted, rotated and noisy copies of 8x8 digit images (chapter 07).

    :math:`x' = \mathrm{clip}(R_\theta\, S_{(d_r, d_c)}\, x + \varepsilon,\ 0,\ 1)`,
    drawn afresh for every image: :math:`S` moves the image by integers
    :math:`d_r, d_c \in [-\text{max\_shift}, \text{max\_shift}]` with zero fill (what
    leaves the frame is lost, nothing wraps around), :math:`R_\theta` rotates it about
    its centre by :math:`\theta \sim U[-\text{max\_angle}, \text{max\_angle}]` degrees
    (bilinear, zero fill, ``scipy.ndimage.rotate``), and
    :math:`\varepsilon \sim \mathcal N(0, \text{noise}^2)` per pixel. With every
    amount 0 it returns a copy of ``X``. The same ``rng`` state gives the same copies.

    Shapes: X (N, 64) or (N, 8, 8) in [0, 1] (as ``load_digits`` returns) -> a new
    array of the same shape and dtype. Chapter 07, §Data augmentation.
    """
    fn = "augment_digits"
    if type(X).__module__.startswith("torch"):
        raise TypeError(f"{fn}: `X` is a torch.Tensor; this helper works on NumPy "
                        f"arrays. Convert with dlkit.to_numpy(X), and back with "
                        f"dlkit.to_torch(...).")
    X = np.asarray(X)
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise TypeError(f"{fn}: `X` must hold pixel values, got an array of dtype "
                        f"{X.dtype}.")
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    shape = X.shape
    if shape[1:] not in ((64,), (8, 8)):
        hint = (" For one image add a batch axis: X[None]."
                if shape in ((64,), (8, 8)) else "")
        raise ValueError(f"{fn}: `X` has shape {shape}, expected (N, 64) or "
                         f"(N, 8, 8): a batch of 8x8 digit images like those of "
                         f"load_digits().{hint}")
    if X.size and not (np.isfinite(X).all() and X.min() >= 0 and X.max() <= 1):
        got = ("non-finite values" if not np.isfinite(X).all()
               else f"values from {X.min():g} to {X.max():g}")
        hint = (" scikit-learn's raw digits hold 0..16: divide by 16 (load_digits "
                "does)." if X.max() <= 16 and X.min() >= 0 else "")
        raise ValueError(f"{fn}: `X` must hold pixel intensities in [0, 1], got "
                         f"{got}.{hint}")
    rng = _rng(fn, rng)
    s = check_int(fn, "max_shift", max_shift, low=0, high=7)
    max_angle = check_hyper(fn, "max_angle", max_angle, high=180.0, high_inclusive=True,
                            typical="0 to 15 (degrees)")
    noise = check_hyper(fn, "noise", noise, typical="0 to 0.1")

    imgs = X.reshape(-1, 8, 8)
    n = imgs.shape[0]
    out = imgs.copy()                     # the identity when every amount is 0
    if s:
        # Pad every image with s zeros on each side; the image moved by (dr, dc) is
        # the 8x8 window of the padded one starting at (s - dr, s - dc). The zeros
        # fill what the move uncovers, so nothing wraps around.
        padded = np.pad(imgs, ((0, 0), (s, s), (s, s)))
        dr, dc = rng.integers(-s, s + 1, size=(2, n))
        rows = (s - dr)[:, None] + np.arange(8)                   # (n, 8)
        cols = (s - dc)[:, None] + np.arange(8)                   # (n, 8)
        out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    if max_angle:
        from scipy.ndimage import rotate

        angles = rng.uniform(-max_angle, max_angle, size=n)
        for i in range(n):
            # Bilinear interpolation (order=1) mixes neighbouring pixels with
            # weights summing to at most 1, so the values stay in [0, 1].
            out[i] = rotate(out[i], angles[i], reshape=False, order=1,
                            mode="constant", cval=0.0)
    if noise:
        out = out + noise * rng.standard_normal(out.shape)
    return np.clip(out, 0.0, 1.0).astype(X.dtype, copy=False).reshape(shape)
