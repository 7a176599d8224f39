r"""Finite differences and relative errors: how every gradient in the course is checked.

The central difference :math:`(f(w+h e_i) - f(w-h e_i)) / 2h` has a truncation error
of order :math:`h^2` and a round-off error of order :math:`\epsilon_{mach}/h`; in
float64 the total is smallest near :math:`h \approx 10^{-5}`. The forward difference
:math:`(f(w+h e_i) - f(w))/h` is cheaper (n + 1 evaluations instead of 2n) but only
first-order accurate, with its best h near :math:`\sqrt{\epsilon_{mach}} \approx 10^{-8}`.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ._checks import as_float_array

__all__ = ["numerical_gradient", "numerical_vjp", "rel_error", "assert_gradients_close"]

_METHODS = ("central", "forward", "backward")


def _check_method(fn: str, method: str, h: float) -> None:
    if method not in _METHODS:
        raise ValueError(f"{fn}: `method` must be one of {_METHODS}, got {method!r}.")
    if not (isinstance(h, (int, float)) and h > 0):
        raise ValueError(f"{fn}: `h` must be a positive float such as 1e-6, got {h!r}.")


def numerical_gradient(
    f: Callable[[np.ndarray], Any], w: Any, *, h: float = 1e-6, method: str = "central"
) -> np.ndarray:
    r"""Finite-difference gradient of a scalar function ``f`` at ``w``.

    ``method`` is ``"central"`` (2n evaluations, error :math:`O(h^2)`), ``"forward"``
    or ``"backward"`` (n + 1 evaluations, error :math:`O(h)`). ``w`` is not modified.

    Shapes: w (any) -> gradient (same as w).
    """
    _check_method("numerical_gradient", method, h)
    w = as_float_array("numerical_gradient", "w", w).astype(np.float64, copy=True)
    grad = np.empty_like(w)
    fw = None if method == "central" else float(f(w.copy()))
    flat, gflat = w.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        f_plus = float(f(w.copy())) if method != "backward" else fw
        flat[i] = old - h
        f_minus = float(f(w.copy())) if method != "forward" else fw
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * h if method == "central" else h)
    return grad


def numerical_vjp(
    f: Callable[[np.ndarray], np.ndarray], x: Any, dout: Any, *, h: float = 1e-6
) -> np.ndarray:
    r"""Central-difference vector-Jacobian product :math:`(\partial f/\partial x)^\top dout`.

    This is the gradient of :math:`\langle f(x), dout\rangle`, which is what an
    ``op_backward(dout, cache)`` must return for its input ``x``.

    Shapes: x (any), dout (shape of f(x)) -> dx (same as x).
    """
    dout = as_float_array("numerical_vjp", "dout", dout)
    return numerical_gradient(lambda z: np.sum(np.asarray(f(z)) * dout), x, h=h)


def rel_error(a: Any, b: Any) -> float:
    r"""Largest elementwise relative error :math:`|a-b| / \max(|a|+|b|, 10^{-12})`.

    Around 1e-7 or less for a correct float64 gradient against central differences;
    1e-2 or more means a bug. Accepts arrays or tensors (any device).
    """
    from . import to_numpy

    a = np.asarray(to_numpy(a), dtype=np.float64)
    b = np.asarray(to_numpy(b), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}.")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-12)))


def assert_gradients_close(
    analytic: Any, numeric: Any, *, tol: float = 1e-6, name: str = "gradient"
) -> None:
    """Raise AssertionError with a readable message if the two gradients disagree."""
    err = rel_error(analytic, numeric)
    if not err <= tol:
        a, n = np.asarray(analytic, dtype=float), np.asarray(numeric, dtype=float)
        i = np.unravel_index(np.argmax(np.abs(a - n)), a.shape) if a.ndim else ()
        raise AssertionError(
            f"{name}: relative error {err:.3g} > {tol:g}. At index {tuple(map(int, i))} "
            f"the analytic value is {a[i]:.8g}, the finite difference gives {n[i]:.8g}."
        )
