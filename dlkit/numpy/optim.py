r"""Update rules of gradient descent, one step at a time (chapter 02).

Every rule has the same interface, as in cs231n: ``w_new, state = rule(w, dw, state,
*, lr, ...)``. Pass ``state=None`` on the first step and the returned ``state`` on
the next ones. Nothing is updated in place. Hyperparameters use the names and
defaults of ``torch.optim``, and the trajectories equal those of ``torch.optim.SGD``,
``Adagrad``, ``RMSprop`` and ``Adam``. Twin: :mod:`dlkit.torch.optim`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .._checks import (as_float_array, check_hyper, check_int, check_same_shape,
                       check_state)

__all__ = ["sgd_step", "adagrad_step", "rmsprop_step", "adam_step", "optimize"]

State = dict


def _prepare(fn: str, w, dw, state, keys, lr, weight_decay):
    w = as_float_array(fn, "w", w)
    dw = as_float_array(fn, "dw", dw)
    check_same_shape(fn, "w", w, "dw", dw)
    check_state(fn, state, keys)
    check_hyper(fn, "lr", lr, typical="1e-3 to 1e-1")
    check_hyper(fn, "weight_decay", weight_decay, typical="0 or 1e-4 to 1e-2")
    # L2 weight decay enters through the gradient, exactly as in torch.optim.
    g = dw + weight_decay * w if weight_decay else dw
    return w, g


def sgd_step(
    w: np.ndarray,
    dw: np.ndarray,
    state: State | None,
    *,
    lr: float,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> tuple[np.ndarray, State]:
    r"""One step of (momentum) SGD. Twin: ``dlkit.torch.optim.sgd_step``. Chapter 02, §Momentum.

    .. math::
        g_t = \nabla_w J(w_{t-1}) + \lambda w_{t-1},\quad
        v_t = \mu v_{t-1} + g_t \;(v_1 = g_1),\quad
        w_t = w_{t-1} - \eta\,(g_t + \mu v_t \text{ if Nesterov else } v_t)

    With ``momentum=0`` this is plain gradient descent :math:`w_t = w_{t-1} - \eta g_t`.

    Shapes: w (any), dw (same as w) -> w_new (same as w).
    """
    fn = "sgd_step"
    w, g = _prepare(fn, w, dw, state, ("step",), lr, weight_decay)
    check_hyper(fn, "momentum", momentum, high=1.0, typical="0.9")
    if nesterov and momentum == 0:
        raise ValueError(
            f"{fn}: nesterov=True needs momentum > 0 (got momentum={momentum}); "
            f"Nesterov's look-ahead is a variant of momentum."
        )
    step = 1 if state is None else state["step"] + 1
    new_state: State = {"step": step}
    if momentum:
        buf = g if state is None else momentum * state["momentum_buffer"] + g
        new_state["momentum_buffer"] = buf
        g = g + momentum * buf if nesterov else buf
    return w - lr * g, new_state


def adagrad_step(
    w: np.ndarray,
    dw: np.ndarray,
    state: State | None,
    *,
    lr: float,
    eps: float = 1e-10,
    weight_decay: float = 0.0,
) -> tuple[np.ndarray, State]:
    r"""One step of AdaGrad. Twin: ``dlkit.torch.optim.adagrad_step``. Chapter 02, §AdaGrad.

    .. math::
        s_t = s_{t-1} + g_t^2,\qquad w_t = w_{t-1} - \eta\, g_t / (\sqrt{s_t} + \epsilon)

    Every coordinate gets its own step size, which only ever shrinks.

    Shapes: w (any), dw (same as w) -> w_new (same as w).
    """
    fn = "adagrad_step"
    w, g = _prepare(fn, w, dw, state, ("step", "sum"), lr, weight_decay)
    check_hyper(fn, "eps", eps, low_inclusive=False, typical="1e-10")
    total = (0.0 if state is None else state["sum"]) + g * g
    step = 1 if state is None else state["step"] + 1
    return w - lr * g / (np.sqrt(total) + eps), {"step": step, "sum": total}


def rmsprop_step(
    w: np.ndarray,
    dw: np.ndarray,
    state: State | None,
    *,
    lr: float,
    alpha: float = 0.99,
    eps: float = 1e-8,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
) -> tuple[np.ndarray, State]:
    r"""One step of RMSProp. Twin: ``dlkit.torch.optim.rmsprop_step``. Chapter 02, §RMSProp.

    .. math::
        v_t = \alpha v_{t-1} + (1-\alpha) g_t^2,\qquad
        w_t = w_{t-1} - \eta\, g_t / (\sqrt{v_t} + \epsilon)

    :math:`v_t` is a moving average of the *squared* gradient (``v_0 = 0``). With
    ``momentum`` :math:`\mu > 0`, the scaled step :math:`g_t/(\sqrt{v_t}+\epsilon)`
    is accumulated in a buffer :math:`b_t = \mu b_{t-1} + \ldots` first, as in torch.

    Shapes: w (any), dw (same as w) -> w_new (same as w).
    """
    fn = "rmsprop_step"
    w, g = _prepare(fn, w, dw, state, ("step", "square_avg"), lr, weight_decay)
    check_hyper(fn, "alpha", alpha, high=1.0, typical="0.9 to 0.99")
    check_hyper(fn, "eps", eps, low_inclusive=False, typical="1e-8")
    check_hyper(fn, "momentum", momentum, high=1.0, typical="0 or 0.9")
    square_avg = (0.0 if state is None else alpha * state["square_avg"]) + (1 - alpha) * g * g
    scaled = g / (np.sqrt(square_avg) + eps)
    step = 1 if state is None else state["step"] + 1
    new_state: State = {"step": step, "square_avg": square_avg}
    if momentum:
        buf = scaled if state is None else momentum * state["momentum_buffer"] + scaled
        new_state["momentum_buffer"] = scaled = buf
    return w - lr * scaled, new_state


def adam_step(
    w: np.ndarray,
    dw: np.ndarray,
    state: State | None,
    *,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> tuple[np.ndarray, State]:
    r"""One step of Adam. Twin: ``dlkit.torch.optim.adam_step``. Chapter 02, §Adam.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\\
        \hat m_t = m_t / (1-\beta_1^t),\quad \hat v_t = v_t / (1-\beta_2^t),\quad
        w_t = w_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)

    The bias correction undoes the pull of :math:`m_0 = v_0 = 0` towards zero, so
    that the first step has size about :math:`\eta` in every coordinate.

    Shapes: w (any), dw (same as w) -> w_new (same as w).
    """
    fn = "adam_step"
    w, g = _prepare(fn, w, dw, state, ("step", "exp_avg", "exp_avg_sq"), lr, weight_decay)
    beta1, beta2 = _check_betas(fn, betas)
    check_hyper(fn, "eps", eps, low_inclusive=False, typical="1e-8")
    t = 1 if state is None else state["step"] + 1
    m = (0.0 if state is None else beta1 * state["exp_avg"]) + (1 - beta1) * g
    v = (0.0 if state is None else beta2 * state["exp_avg_sq"]) + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    w_new = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return w_new, {"step": t, "exp_avg": m, "exp_avg_sq": v}


def _check_betas(fn: str, betas) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(
            f"{fn}: `betas` must be a pair (beta1, beta2), got {betas!r}. "
            f"The usual values are betas=(0.9, 0.999)."
        )
    return (check_hyper(fn, "betas[0]", betas[0], high=1.0, typical="0.9"),
            check_hyper(fn, "betas[1]", betas[1], high=1.0, typical="0.999"))


def optimize(
    grad_fn: Callable[[np.ndarray], np.ndarray],
    w0: np.ndarray,
    step_fn: Callable,
    *,
    num_steps: int,
    **hyper,
) -> np.ndarray:
    """Run ``num_steps`` steps of ``step_fn`` from ``w0``; return the whole trajectory.

    ``grad_fn(w)`` returns the gradient at ``w``; ``hyper`` goes to ``step_fn``
    (e.g. ``lr=0.1, momentum=0.9``). Twin: ``dlkit.torch.optim.optimize``.

    Shapes: w0 (D,) -> trajectory (num_steps + 1, D).
    """
    num_steps = check_int("optimize", "num_steps", num_steps)
    w = as_float_array("optimize", "w0", w0)
    path = [w]
    state = None
    # Diverging runs (a learning rate that is too large) are part of the lesson:
    # let them reach inf/nan quietly instead of printing overflow warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(num_steps):
            w, state = step_fn(w, grad_fn(w), state, **hyper)
            path.append(w)
    return np.stack(path)
