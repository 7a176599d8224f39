r"""PyTorch twins of :mod:`dlkit.numpy.optim` (chapter 02).

Same names, arguments and state as the NumPy reference; tensors stay on their
device and keep their dtype. Each step runs under ``torch.no_grad()`` and returns a
fresh leaf tensor that requires grad when ``w`` did, so a training loop can call
``loss.backward()`` on it again. The trajectories equal those of ``torch.optim``.
"""
from __future__ import annotations

from typing import Callable

import torch

from .._checks import (check_hyper, check_int, check_same_shape, check_state,
                       check_tensor)
from ..numpy.optim import _check_betas

__all__ = ["sgd_step", "adagrad_step", "rmsprop_step", "adam_step", "optimize"]

State = dict


def _prepare(fn: str, w, dw, state, keys, lr, weight_decay):
    check_tensor(fn, "w", w)
    check_tensor(fn, "dw", dw)
    check_same_shape(fn, "w", w, "dw", dw)
    if dw.device != w.device:
        raise ValueError(
            f"{fn}: `w` is on {w.device} but `dw` is on {dw.device}; "
            f"move them to the same device with dw.to(w.device)."
        )
    check_state(fn, state, keys)
    check_hyper(fn, "lr", lr, typical="1e-3 to 1e-1")
    check_hyper(fn, "weight_decay", weight_decay, typical="0 or 1e-4 to 1e-2")
    w_data, g = w.detach(), dw.detach()
    if weight_decay:
        g = g + weight_decay * w_data
    return w_data, g


def _leaf(w_new: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return w_new.requires_grad_(w.requires_grad)


@torch.no_grad()
def sgd_step(
    w: torch.Tensor,
    dw: torch.Tensor,
    state: State | None,
    *,
    lr: float,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> tuple[torch.Tensor, State]:
    r"""One step of (momentum) SGD. Twin of ``dlkit.numpy.optim.sgd_step``; matches ``torch.optim.SGD``.

    Shapes: w (any), dw (same as w) -> w_new (same as w).
    """
    fn = "sgd_step"
    w_data, g = _prepare(fn, w, dw, state, ("step",), lr, weight_decay)
    check_hyper(fn, "momentum", momentum, high=1.0, typical="0.9")
    if nesterov and momentum == 0:
        raise ValueError(
            f"{fn}: nesterov=True needs momentum > 0 (got momentum={momentum}); "
            f"Nesterov's look-ahead is a variant of momentum."
        )
    step = 1 if state is None else state["step"] + 1
    new_state: State = {"step": step}
    if momentum:
        buf = g.clone() if state is None else momentum * state["momentum_buffer"] + g
        new_state["momentum_buffer"] = buf
        g = g + momentum * buf if nesterov else buf
    return _leaf(w_data - lr * g, w), new_state


@torch.no_grad()
def adagrad_step(
    w: torch.Tensor,
    dw: torch.Tensor,
    state: State | None,
    *,
    lr: float,
    eps: float = 1e-10,
    weight_decay: float = 0.0,
) -> tuple[torch.Tensor, State]:
    r"""One step of AdaGrad. Twin of ``dlkit.numpy.optim.adagrad_step``; matches ``torch.optim.Adagrad``.

    Shapes: w (any), dw (same as w) -> w_new (same as w).
    """
    fn = "adagrad_step"
    w_data, g = _prepare(fn, w, dw, state, ("step", "sum"), lr, weight_decay)
    check_hyper(fn, "eps", eps, low_inclusive=False, typical="1e-10")
    total = g * g if state is None else state["sum"] + g * g
    step = 1 if state is None else state["step"] + 1
    return _leaf(w_data - lr * g / (total.sqrt() + eps), w), {"step": step, "sum": total}


@torch.no_grad()
def rmsprop_step(
    w: torch.Tensor,
    dw: torch.Tensor,
    state: State | None,
    *,
    lr: float,
    alpha: float = 0.99,
    eps: float = 1e-8,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
) -> tuple[torch.Tensor, State]:
    r"""One step of RMSProp. Twin of ``dlkit.numpy.optim.rmsprop_step``; matches ``torch.optim.RMSprop``.

    Shapes: w (any), dw (same as w) -> w_new (same as w).
    """
    fn = "rmsprop_step"
    w_data, g = _prepare(fn, w, dw, state, ("step", "square_avg"), lr, weight_decay)
    check_hyper(fn, "alpha", alpha, high=1.0, typical="0.9 to 0.99")
    check_hyper(fn, "eps", eps, low_inclusive=False, typical="1e-8")
    check_hyper(fn, "momentum", momentum, high=1.0, typical="0 or 0.9")
    square_avg = (1 - alpha) * g * g
    if state is not None:
        square_avg = alpha * state["square_avg"] + square_avg
    scaled = g / (square_avg.sqrt() + eps)
    step = 1 if state is None else state["step"] + 1
    new_state: State = {"step": step, "square_avg": square_avg}
    if momentum:
        buf = scaled if state is None else momentum * state["momentum_buffer"] + scaled
        new_state["momentum_buffer"] = scaled = buf
    return _leaf(w_data - lr * scaled, w), new_state


@torch.no_grad()
def adam_step(
    w: torch.Tensor,
    dw: torch.Tensor,
    state: State | None,
    *,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> tuple[torch.Tensor, State]:
    r"""One step of Adam. Twin of ``dlkit.numpy.optim.adam_step``; matches ``torch.optim.Adam``.

    Shapes: w (any), dw (same as w) -> w_new (same as w).
    """
    fn = "adam_step"
    w_data, g = _prepare(fn, w, dw, state, ("step", "exp_avg", "exp_avg_sq"), lr, weight_decay)
    beta1, beta2 = _check_betas(fn, betas)
    check_hyper(fn, "eps", eps, low_inclusive=False, typical="1e-8")
    t = 1 if state is None else state["step"] + 1
    m = (1 - beta1) * g
    v = (1 - beta2) * g * g
    if state is not None:
        m = beta1 * state["exp_avg"] + m
        v = beta2 * state["exp_avg_sq"] + v
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    w_new = w_data - lr * m_hat / (v_hat.sqrt() + eps)
    return _leaf(w_new, w), {"step": t, "exp_avg": m, "exp_avg_sq": v}


def optimize(
    grad_fn: Callable[[torch.Tensor], torch.Tensor],
    w0: torch.Tensor,
    step_fn: Callable,
    *,
    num_steps: int,
    **hyper,
) -> torch.Tensor:
    """Run ``num_steps`` steps of ``step_fn`` from ``w0``; return the whole trajectory.

    Twin of ``dlkit.numpy.optim.optimize``. Shapes: w0 (D,) -> (num_steps + 1, D).
    """
    num_steps = check_int("optimize", "num_steps", num_steps)
    check_tensor("optimize", "w0", w0)
    w, state = w0.detach(), None
    path = [w]
    for _ in range(num_steps):
        w, state = step_fn(w, grad_fn(w), state, **hyper)
        path.append(w)
    return torch.stack(path)
