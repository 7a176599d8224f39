r"""Forward-mode automatic differentiation with dual numbers (chapter 03).

A dual number :math:`a + a'\varepsilon` with :math:`\varepsilon^2 = 0` carries a value and a
tangent. Every operation applies its derivative rule to the tangent, so evaluating
:math:`f(x + v\varepsilon)` gives :math:`f(x) + (J_f(x)\,v)\,\varepsilon`: one sweep
yields one directional derivative (a Jacobian-vector product). Values and tangents may be
floats or NumPy arrays of the same shape. Matches ``torch.func.jvp``.
"""
from __future__ import annotations

from numbers import Number
from typing import Any, Callable

import numpy as np

__all__ = ["Dual", "exp", "log", "sin", "cos", "tanh", "sigmoid", "sqrt", "sum", "jvp",
           "jacobian"]


def _check_operand(op: str, other: Any) -> None:
    if not isinstance(other, (Dual, Number, np.ndarray, np.generic)):
        raise TypeError(f"Dual {op}: cannot combine a Dual with {type(other).__name__}; "
                        f"use a Dual, a number or a NumPy array.")


class Dual:
    r"""A dual number ``value + tangent·ε`` with ``ε² = 0``. Chapter 03, §Forward mode."""

    __slots__ = ("value", "tangent")
    # NumPy must not treat a Dual as an opaque object: binary operators with an array
    # defer to Dual's own, and NumPy functions (np.sum, np.exp) raise a TypeError
    # instead of silently returning a wrong result. Use the functions of this module.
    __array_ufunc__ = None

    def __init__(self, value: Any, tangent: Any = 0.0) -> None:
        if isinstance(value, Dual) or isinstance(tangent, Dual):
            raise TypeError("Dual: value and tangent must be numbers or arrays, not Duals "
                            "(nested duals, for higher derivatives, are not supported).")
        self.value = value
        self.tangent = tangent

    def __repr__(self) -> str:
        def show(a: Any) -> str:          # NumPy scalars as plain floats
            return repr(float(a)) if np.ndim(a) == 0 else repr(a)
        return f"Dual(value={show(self.value)}, tangent={show(self.tangent)})"

    # Each rule: the value as usual, the tangent by the derivative rule (eqs. 3.4-3.7).
    def __add__(self, other: Any) -> Dual:
        _check_operand("+", other)
        if isinstance(other, Dual):
            return Dual(self.value + other.value, self.tangent + other.tangent)
        return Dual(self.value + other, self.tangent)

    __radd__ = __add__

    def __neg__(self) -> Dual:
        return Dual(-self.value, -self.tangent)

    def __sub__(self, other: Any) -> Dual:
        _check_operand("-", other)
        return self + (-other)

    def __rsub__(self, other: Any) -> Dual:
        _check_operand("-", other)
        return (-self) + other

    def __mul__(self, other: Any) -> Dual:
        _check_operand("*", other)
        if isinstance(other, Dual):
            # (a + a'ε)(b + b'ε) = ab + (a'b + ab')ε
            return Dual(self.value * other.value,
                        self.tangent * other.value + self.value * other.tangent)
        return Dual(self.value * other, self.tangent * other)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Dual:
        _check_operand("/", other)
        if isinstance(other, Dual):
            # (a + a'ε)/(b + b'ε) = a/b + (a'b - ab')/b² ε
            return Dual(self.value / other.value,
                        (self.tangent * other.value - self.value * other.tangent)
                        / other.value**2)
        return Dual(self.value / other, self.tangent / other)

    def __rtruediv__(self, other: Any) -> Dual:
        _check_operand("/", other)
        return Dual(other / self.value, -other * self.tangent / self.value**2)

    def __pow__(self, other: Any) -> Dual:
        _check_operand("**", other)
        if isinstance(other, Dual):
            # a^b = exp(b log a): d = a^b (b' log a + b a'/a)
            out = self.value**other.value
            return Dual(out, out * (other.tangent * np.log(self.value)
                                    + other.value * self.tangent / self.value))
        return Dual(self.value**other, other * self.value**(other - 1) * self.tangent)

    def __rpow__(self, other: Any) -> Dual:
        _check_operand("**", other)
        out = other**self.value
        return Dual(out, out * np.log(other) * self.tangent)

    # A matrix product is linear in each factor: d(AB) = dA B + A dB.
    def __matmul__(self, other: Any) -> Dual:
        _check_operand("@", other)
        if isinstance(other, Dual):
            return Dual(self.value @ other.value,
                        self._full_tangent() @ other.value
                        + self.value @ other._full_tangent())
        return Dual(self.value @ other, self._full_tangent() @ other)

    def __rmatmul__(self, other: Any) -> Dual:
        _check_operand("@", other)
        return Dual(other @ self.value, other @ self._full_tangent())

    @property
    def T(self) -> Dual:
        """The transpose (linear, so the tangent is transposed too)."""
        return Dual(np.transpose(self.value), np.transpose(self._full_tangent()))

    def _full_tangent(self) -> Any:
        """The tangent with the shape of the value (a constant's tangent is a bare 0)."""
        return np.broadcast_to(self.tangent, np.shape(self.value))


def _elementwise(name: str, f: Callable, df: Callable) -> Callable:
    """An elementwise function that also accepts Duals: f(a + a'ε) = f(a) + f'(a) a' ε."""
    def apply(x: Any) -> Any:
        if isinstance(x, Dual):
            return Dual(f(x.value), df(x.value) * x.tangent)
        return f(x)

    apply.__name__ = name
    apply.__doc__ = f"{name} of a number, an array or a Dual (forward-mode rule)."
    return apply


def _sigmoid(a: Any) -> Any:
    e = np.exp(-np.abs(a))            # never overflows
    return (np.where(np.asarray(a) >= 0, 1.0, e) / (1.0 + e))[()]   # [()]: 0-d -> scalar


exp = _elementwise("exp", np.exp, np.exp)
log = _elementwise("log", np.log, lambda a: 1.0 / a)
sin = _elementwise("sin", np.sin, np.cos)
cos = _elementwise("cos", np.cos, lambda a: -np.sin(a))
tanh = _elementwise("tanh", np.tanh, lambda a: 1.0 - np.tanh(a) ** 2)
sigmoid = _elementwise("sigmoid", _sigmoid, lambda a: _sigmoid(a) * (1.0 - _sigmoid(a)))
sqrt = _elementwise("sqrt", np.sqrt, lambda a: 0.5 / np.sqrt(a))


def sum(x: Any, axis: int | tuple | None = None) -> Any:  # noqa: A001 (like np.sum)
    """Sum of a number, an array or a Dual; a sum is linear, so the tangents are summed."""
    if isinstance(x, Dual):
        return Dual(np.sum(x.value, axis=axis), np.sum(x._full_tangent(), axis=axis))
    return np.sum(x, axis=axis)


def _as_input(fn: str, name: str, x: Any) -> Any:
    if isinstance(x, Number) and not isinstance(x, bool):
        return float(x)
    if type(x).__module__.startswith("torch"):
        raise TypeError(f"{fn}: `{name}` is a torch.Tensor; pass a float or a NumPy array "
                        f"(dlkit.to_numpy({name})), or use torch.func.jvp.")
    arr = np.asarray(x, dtype=np.float64) if not isinstance(x, np.ndarray) else x
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{fn}: `{name}` must hold numbers, got dtype {arr.dtype}.")
    return arr.astype(np.float64)


def jvp(f: Callable, x: Any, v: Any) -> tuple[Any, Any]:
    r"""Return ``(f(x), J_f(x) v)`` with one forward sweep. Matches ``torch.func.jvp``.

    ``f`` is written with ordinary operators and the functions of this module; ``x``
    and the direction ``v`` are floats or arrays of the same shape.
    """
    fn = "jvp"
    x, v = _as_input(fn, "x", x), _as_input(fn, "v", v)
    if np.shape(x) != np.shape(v):
        raise ValueError(f"{fn}: `v` has shape {np.shape(v)}, expected the shape of `x`, "
                         f"{np.shape(x)}: the direction lives in the input space.")
    out = f(Dual(x, v))
    if not isinstance(out, Dual):      # f did not depend on x: the derivative is 0
        return out, np.zeros_like(np.asarray(out, dtype=np.float64))
    tangent = out.tangent + np.zeros_like(np.asarray(out.value, dtype=np.float64))
    return out.value, tangent


def jacobian(f: Callable, x: Any) -> np.ndarray:
    r"""The Jacobian of ``f: R^n -> R^m`` at ``x`` (shape (n,)), by n forward sweeps.

    Sweep j seeds the direction :math:`e_j` and yields column j. Shapes: -> (m, n),
    or (n,) when f returns a scalar.
    """
    x = _as_input("jacobian", "x", x)
    if np.ndim(x) != 1:
        raise ValueError(f"jacobian: `x` must be a vector of shape (n,), got shape "
                         f"{np.shape(x)}; flatten it with x.ravel().")
    columns = []
    for j in range(len(x)):
        e_j = np.zeros_like(x)
        e_j[j] = 1.0
        columns.append(jvp(f, x, e_j)[1])
    return np.stack(columns, axis=-1)
