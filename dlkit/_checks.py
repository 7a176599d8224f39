"""Input validation shared by every public function of dlkit.

Each helper raises ``ValueError``/``TypeError`` with a message that names the
function, the argument, what it got, what it expected, and how to fix it.
"""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any, Sequence

import numpy as np


def as_float_array(fn: str, name: str, x: Any) -> np.ndarray:
    """Return ``x`` as a floating-point NumPy array, or raise a helpful TypeError."""
    if type(x).__module__.startswith("torch"):
        raise TypeError(
            f"{fn}: `{name}` is a torch.Tensor, but this is the NumPy version. "
            f"Use the twin in dlkit.torch, or convert with dlkit.to_numpy({name})."
        )
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{fn}: `{name}` could not be turned into an array ({exc}).") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(
            f"{fn}: `{name}` must hold numbers, got an array of dtype {arr.dtype}."
        )
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


def check_tensor(fn: str, name: str, x: Any) -> None:
    """Raise a TypeError unless ``x`` is a floating-point torch.Tensor."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{fn}: `{name}` must be a torch.Tensor, got {type(x).__name__}. "
            f"This is the PyTorch twin: convert with dlkit.to_torch({name}, device), "
            f"or use the NumPy version in dlkit.numpy."
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{fn}: `{name}` must be a floating-point tensor, got dtype {x.dtype}. "
            f"Convert with {name}.float() or {name}.double()."
        )


def check_same_shape(fn: str, name_a: str, a: Any, name_b: str, b: Any) -> None:
    """Raise a ValueError unless ``a`` and ``b`` have the same shape."""
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{fn}: `{name_b}` has shape {tuple(b.shape)}, expected the shape of "
            f"`{name_a}`, {tuple(a.shape)}: there is one gradient entry per parameter."
        )


def check_shape(
    fn: str,
    name: str,
    shape: Sequence[int],
    expected: Sequence[str | int],
    dims: dict[str, int],
    hint: str | None = None,
) -> None:
    """Check ``shape`` against symbolic ``expected`` dims, binding names in ``dims``.

    ``expected`` holds ints (fixed sizes) or names such as ``"N"``; a name seen
    before must have the same size again, so ``dims`` carries sizes across calls.
    """
    shape = tuple(shape)
    pretty = "(" + ", ".join(str(e) for e in expected) + (",)" if len(expected) == 1 else ")")
    msg = None
    if len(shape) != len(expected):
        msg = f"{len(expected)} dimensions {pretty}, got {len(shape)}"
    else:
        for size, want in zip(shape, expected):
            if isinstance(want, int) and size != want:
                msg = f"{pretty} with size {want} where it is {size}"
                break
            if isinstance(want, str) and dims.setdefault(want, size) != size:
                msg = f"{pretty} with {want}={dims[want]}"
                break
    if msg is not None:
        text = f"{fn}: `{name}` has shape {shape}, expected {msg}."
        raise ValueError(text + (f" {hint}" if hint else ""))


def check_int(fn: str, name: str, value: Any, *, low: int = 0,
              high: int | None = None) -> int:
    """Validate an integer argument (a count, a size) and return it as an int."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low \
            or (high is not None and value > high):
        wanted = f"an int >= {low}" if high is None else f"an int from {low} to {high}"
        raise ValueError(f"{fn}: `{name}` must be {wanted}, got {value!r}.")
    return int(value)


def check_hyper(
    fn: str,
    name: str,
    value: Any,
    *,
    low: float = 0.0,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = False,
    typical: str = "",
) -> float:
    """Validate a scalar hyperparameter, like ``torch.optim`` does, and return it."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(
            f"{fn}: `{name}` must be a real number, got {type(value).__name__} ({value!r})."
        )
    value = float(value)
    too_low = value < low or (value == low and not low_inclusive)
    too_high = high is not None and (value > high or (value == high and not high_inclusive))
    if too_low or too_high or not np.isfinite(value):
        lo = "[" if low_inclusive else "("
        hi = "]" if high_inclusive else ")"
        interval = f"{lo}{low:g}, {'inf' if high is None else f'{high:g}'}{hi}"
        extra = f" Typical values: {typical}." if typical else ""
        raise ValueError(f"{fn}: invalid `{name}`={value!r}, expected a value in {interval}.{extra}")
    return value


def check_state(fn: str, state: Any, keys: Sequence[str]) -> None:
    """Raise unless ``state`` is None (first step) or a dict made by the same function."""
    if state is None:
        return
    if not isinstance(state, dict) or not set(keys) <= set(state):
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(
            f"{fn}: `state` must be None on the first step, then the dict that the "
            f"previous call returned (keys {sorted(keys)}); got {got}. Did you pass the "
            f"state of another optimizer, or forget to keep the returned state?"
        )
