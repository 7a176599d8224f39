r"""PyTorch twins of :mod:`dlkit.numpy.losses` (chapter 04).

Same names, arguments and reductions as the NumPy reference, on tensors of any device
and float dtype. Each loss equals its ``torch.nn.functional`` counterpart and each
``*_grad`` equals ``torch.autograd`` applied to it; ``input`` and ``target`` of
different shapes are refused rather than broadcast. The validation and the reductions
only look at shapes and compare values, so they are shared with the NumPy reference.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .._checks import check_hyper, check_tensor
from ..numpy.losses import (_BCE_GRAD_FLOOR, _DIST_HINT, _LOGITS_HINT, _TARGET_HINT,
                            Reduction, _check_axis, _check_class_target,
                            _check_distribution_pair, _check_labels,
                            _check_probabilities, _check_reduction, _check_same_shape,
                            _reduce, _reduce_grad)
from .layers import _same_place, log_softmax, softmax

__all__ = [
    "mse", "mse_grad", "mae", "mae_grad", "huber", "huber_grad",
    "hinge", "hinge_grad", "logistic", "logistic_grad",
    "binary_cross_entropy", "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_grad",
    "cross_entropy", "cross_entropy_grad",
    "log_sum_exp", "entropy", "kl_divergence", "cross_entropy_of",
]


# ------------------------------------------------------------------ entry points
def _pair(fn: str, input: Any, target: Any, reduction: Any) -> None:
    """Validate the arguments of an elementwise loss (same shape, dtype and device)."""
    _check_reduction(fn, reduction)
    check_tensor(fn, "input", input)
    _same_place(fn, "input", input, target=target)
    _check_same_shape(fn, "input", input, "target", target)


def _margin_pair(fn: str, input: Any, target: Any, reduction: Any) -> None:
    _pair(fn, input, target, reduction)
    _check_labels(fn, target)


def _probability_pair(fn: str, input: Any, target: Any, reduction: Any) -> None:
    _pair(fn, input, target, reduction)
    _check_probabilities(fn, "input", input, _LOGITS_HINT)
    _check_probabilities(fn, "target", target, _TARGET_HINT)


def _logits_pair(fn: str, input: Any, target: Any, reduction: Any) -> None:
    _pair(fn, input, target, reduction)
    _check_probabilities(fn, "target", target, _TARGET_HINT)


def _class_pair(fn: str, input: Any, target: Any, reduction: Any) -> None:
    _check_reduction(fn, reduction)
    check_tensor(fn, "input", input)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"{fn}: `target` must be a torch.Tensor of class indices, "
                        f"got {type(target).__name__}. Convert with "
                        f"torch.as_tensor(target, device=input.device).")
    if target.device != input.device:
        raise ValueError(f"{fn}: `input` is on {input.device} but `target` is on "
                         f"{target.device}; move it with target.to(input.device).")
    integer = not (target.is_floating_point() or target.is_complex()
                   or target.dtype == torch.bool)
    _check_class_target(fn, input, target, integer=integer, fix="target.long()")


def _distributions(fn: str, p: Any, q: Any | None, axis: Any) -> int:
    check_tensor(fn, "p", p)
    _check_probabilities(fn, "p", p, _DIST_HINT)
    if q is None:
        return _check_axis(fn, "`p`", tuple(p.shape), axis)
    _same_place(fn, "p", p, q=q)
    _check_probabilities(fn, "q", q, _DIST_HINT)
    return _check_distribution_pair(fn, p, q, axis)


# ------------------------------------------------------------------ numerics
def _softplus(z: torch.Tensor) -> torch.Tensor:
    r""":math:`\log(1 + e^z) = \max(z, 0) + \log(1 + e^{-|z|})`: no overflow."""
    # Not F.softplus: beyond its threshold (z > 20) it returns z itself, an error of
    # log(1 + e^{-20}) ~ 2e-9, far above float64 round-off.
    return z.clamp_min(0) + torch.log1p(torch.exp(-z.abs()))


# ------------------------------------------------------------------ regression
def mse(input: torch.Tensor, target: torch.Tensor, *, reduction: Reduction = "mean"
        ) -> torch.Tensor:
    r"""Squared error :math:`\ell_i = (x_i - y_i)^2`; equals ``F.mse_loss``.

    Shapes: input (any), target (same) -> scalar, or (same) with reduction="none".
    Twin: dlkit.numpy.losses.mse.
    Chapter 04, §Regression: squared, absolute and Huber losses.
    """
    _pair("mse", input, target, reduction)
    return _reduce((input - target) ** 2, reduction)


def mse_grad(input: torch.Tensor, target: torch.Tensor, *,
             reduction: Reduction = "mean") -> torch.Tensor:
    r""":math:`\partial \ell_i / \partial x_i = 2 (x_i - y_i)`, divided by n for "mean".

    Shapes: input (any), target (same) -> dx (same as input).
    Twin: dlkit.numpy.losses.mse_grad.
    Chapter 04, §Regression: squared, absolute and Huber losses.
    """
    _pair("mse_grad", input, target, reduction)
    return _reduce_grad(2 * (input - target), input.numel(), reduction)


def mae(input: torch.Tensor, target: torch.Tensor, *, reduction: Reduction = "mean"
        ) -> torch.Tensor:
    r"""Absolute error :math:`\ell_i = |x_i - y_i|`; equals ``F.l1_loss``.

    Shapes: input (any), target (same) -> scalar, or (same) with reduction="none".
    Twin: dlkit.numpy.losses.mae.
    Chapter 04, §Regression: squared, absolute and Huber losses.
    """
    _pair("mae", input, target, reduction)
    return _reduce((input - target).abs(), reduction)


def mae_grad(input: torch.Tensor, target: torch.Tensor, *,
             reduction: Reduction = "mean") -> torch.Tensor:
    r""":math:`\partial \ell_i / \partial x_i = \operatorname{sign}(x_i - y_i)`.

    0 at the kink x = y, like autograd. Divided by n for "mean".
    Shapes: input (any), target (same) -> dx (same as input).
    Twin: dlkit.numpy.losses.mae_grad.
    Chapter 04, §Regression: squared, absolute and Huber losses.
    """
    _pair("mae_grad", input, target, reduction)
    return _reduce_grad(torch.sign(input - target), input.numel(), reduction)


def huber(input: torch.Tensor, target: torch.Tensor, *, delta: float = 1.0,
          reduction: Reduction = "mean") -> torch.Tensor:
    r"""Huber :math:`\ell_i = \tfrac12 d_i^2` if :math:`|d_i| < \delta`, else linear.

    The linear part is :math:`\delta (|d_i| - \tfrac12 \delta)`, with d = x - y.
    Equals ``F.huber_loss(input, target, delta=delta)``.
    Shapes: input (any), target (same) -> scalar, or (same) with reduction="none".
    Twin: dlkit.numpy.losses.huber.
    Chapter 04, §Regression: squared, absolute and Huber losses.
    """
    fn = "huber"
    _pair(fn, input, target, reduction)
    delta = check_hyper(fn, "delta", delta, low=0.0, low_inclusive=False, typical="1.0")
    a = (input - target).abs()
    losses = torch.where(a < delta, 0.5 * a**2, delta * (a - 0.5 * delta))
    return _reduce(losses, reduction)


def huber_grad(input: torch.Tensor, target: torch.Tensor, *, delta: float = 1.0,
               reduction: Reduction = "mean") -> torch.Tensor:
    r""":math:`\partial \ell_i / \partial x_i = \mathrm{clip}(x_i - y_i, \pm\delta)`.

    Divided by n for "mean". Shapes: input (any), target (same) -> dx (same as input).
    Twin: dlkit.numpy.losses.huber_grad.
    Chapter 04, §Regression: squared, absolute and Huber losses.
    """
    fn = "huber_grad"
    _pair(fn, input, target, reduction)
    delta = check_hyper(fn, "delta", delta, low=0.0, low_inclusive=False, typical="1.0")
    return _reduce_grad((input - target).clamp(-delta, delta), input.numel(), reduction)


# ------------------------------------------------------------------ margin losses
def hinge(input: torch.Tensor, target: torch.Tensor, *, reduction: Reduction = "mean"
          ) -> torch.Tensor:
    r"""Hinge :math:`\ell_i = \max(0, 1 - y_i s_i)`: scores s, labels y = ±1.

    Computed as ``F.relu(1 - target * input)``.
    Shapes: input (any), target (same) -> scalar, or (same) with reduction="none".
    Twin: dlkit.numpy.losses.hinge.
    Chapter 04, §Classification: the zero-one loss and its surrogates.
    """
    _margin_pair("hinge", input, target, reduction)
    return _reduce(F.relu(1 - target * input), reduction)


def hinge_grad(input: torch.Tensor, target: torch.Tensor, *,
               reduction: Reduction = "mean") -> torch.Tensor:
    r""":math:`\partial \ell_i / \partial s_i = -y_i` where :math:`y_i s_i < 1`, else 0.

    0 also at the kink, like autograd of relu. Divided by n for "mean".
    Shapes: input (any), target (same) -> dx (same as input).
    Twin: dlkit.numpy.losses.hinge_grad.
    Chapter 04, §Classification: the zero-one loss and its surrogates.
    """
    _margin_pair("hinge_grad", input, target, reduction)
    dx = torch.where(target * input < 1, -target, torch.zeros_like(target))
    return _reduce_grad(dx, input.numel(), reduction)


def logistic(input: torch.Tensor, target: torch.Tensor, *,
             reduction: Reduction = "mean") -> torch.Tensor:
    r"""Logistic :math:`\ell_i = \log(1 + e^{-y_i s_i})`: scores s, labels y = ±1.

    Equals ``F.soft_margin_loss``, which computes ``log1p(exp(-y s))`` and so gives
    inf (and a NaN gradient) for margins below -88 (float32) or -709 (float64);
    this twin stays finite. Shapes: input (any), target (same) -> scalar, or (same)
    with reduction="none". Twin: dlkit.numpy.losses.logistic.
    Chapter 04, §Classification: the zero-one loss and its surrogates.
    """
    _margin_pair("logistic", input, target, reduction)
    return _reduce(_softplus(-target * input), reduction)


def logistic_grad(input: torch.Tensor, target: torch.Tensor, *,
                  reduction: Reduction = "mean") -> torch.Tensor:
    r""":math:`\partial \ell_i / \partial s_i = -y_i\, \sigma(-y_i s_i)`, /n for "mean".

    Shapes: input (any), target (same) -> dx (same as input).
    Twin: dlkit.numpy.losses.logistic_grad.
    Chapter 04, §Classification: the zero-one loss and its surrogates.
    """
    _margin_pair("logistic_grad", input, target, reduction)
    dx = -target * torch.sigmoid(-target * input)
    return _reduce_grad(dx, input.numel(), reduction)


# ------------------------------------------------------------ binary cross-entropy
def binary_cross_entropy(input: torch.Tensor, target: torch.Tensor, *,
                         reduction: Reduction = "mean") -> torch.Tensor:
    r"""BCE :math:`\ell_i = -[t_i \log p_i + (1 - t_i) \log(1 - p_i)]`, p = input.

    Each log is clamped at -100; equals ``F.binary_cross_entropy``.
    Shapes: input (any) in [0, 1], target (same) in [0, 1] -> scalar, or (same).
    Twin: dlkit.numpy.losses.binary_cross_entropy.
    Chapter 04, §The logistic loss is the binary cross-entropy.
    """
    _probability_pair("binary_cross_entropy", input, target, reduction)
    # log 0 = -inf becomes a finite 100, and 0 * log 0 cannot turn into NaN.
    log_p = torch.log(input).clamp_min(-100)
    log_1mp = torch.log1p(-input).clamp_min(-100)
    return _reduce(-(target * log_p + (1 - target) * log_1mp), reduction)


def binary_cross_entropy_grad(input: torch.Tensor, target: torch.Tensor, *,
                              reduction: Reduction = "mean") -> torch.Tensor:
    r"""Gradient :math:`(p_i - t_i) / \max(p_i (1 - p_i), \epsilon)` w.r.t. :math:`p_i`.

    The formula of torch's backward, with its floor :math:`\epsilon \approx 10^{-12}`
    (a float32 constant). Divided by n for "mean".
    Shapes: input (any), target (same) -> dx (same as input).
    Twin: dlkit.numpy.losses.binary_cross_entropy_grad.
    Chapter 04, §The logistic loss is the binary cross-entropy.
    """
    fn = "binary_cross_entropy_grad"
    _probability_pair(fn, input, target, reduction)
    dx = (input - target) / (input * (1 - input)).clamp_min(_BCE_GRAD_FLOOR)
    return _reduce_grad(dx, input.numel(), reduction)


def binary_cross_entropy_with_logits(input: torch.Tensor, target: torch.Tensor, *,
                                     reduction: Reduction = "mean") -> torch.Tensor:
    r"""BCE of :math:`\sigma(x_i)`: :math:`\ell_i = \log(1 + e^{x_i}) - t_i x_i`.

    ``input`` holds logits x; equals ``F.binary_cross_entropy_with_logits``.
    Shapes: input (any), target (same) in [0, 1] -> scalar, or (same).
    Twin: dlkit.numpy.losses.binary_cross_entropy_with_logits.
    Chapter 04, §Binary cross-entropy from logits.
    """
    _logits_pair("binary_cross_entropy_with_logits", input, target, reduction)
    # max(x, 0) - t x first: exact for hard labels, so small losses keep their digits.
    x = input
    losses = x.clamp_min(0) - target * x + torch.log1p(torch.exp(-x.abs()))
    return _reduce(losses, reduction)


def binary_cross_entropy_with_logits_grad(input: torch.Tensor, target: torch.Tensor,
                                          *, reduction: Reduction = "mean"
                                          ) -> torch.Tensor:
    r""":math:`\partial \ell_i / \partial x_i = \sigma(x_i) - t_i`, /n for "mean".

    Shapes: input (any), target (same) -> dx (same as input).
    Twin: dlkit.numpy.losses.binary_cross_entropy_with_logits_grad.
    Chapter 04, §Binary cross-entropy from logits.
    """
    _logits_pair("binary_cross_entropy_with_logits_grad", input, target, reduction)
    return _reduce_grad(torch.sigmoid(input) - target, input.numel(), reduction)


# ----------------------------------------------------------- softmax cross-entropy
def cross_entropy(input: torch.Tensor, target: torch.Tensor, *,
                  reduction: Reduction = "mean") -> torch.Tensor:
    r"""Softmax cross-entropy :math:`\ell_n = \log \sum_k e^{x_{nk}} - x_{n y_n}`.

    Equals ``F.cross_entropy``, but takes any integer dtype (torch wants int64).
    Shapes: input (N, K) logits, target (N,) integers in 0..K-1 -> scalar, or (N,)
    with reduction="none". Twin: dlkit.numpy.losses.cross_entropy.
    Chapter 04, §Softmax and the categorical cross-entropy.
    """
    _class_pair("cross_entropy", input, target, reduction)
    log_probs = log_softmax(input, axis=1)                        # (N, K), max-shifted
    rows = torch.arange(len(target), device=input.device)
    return _reduce(-log_probs[rows, target.long()], reduction)


def cross_entropy_grad(input: torch.Tensor, target: torch.Tensor, *,
                       reduction: Reduction = "mean") -> torch.Tensor:
    r""":math:`\partial \ell_n / \partial x_n = \mathrm{softmax}(x_n) - e_{y_n}`.

    :math:`e_{y_n}` is the one-hot row of the true class. Divided by N for "mean".
    Shapes: input (N, K), target (N,) -> dx (N, K).
    Twin: dlkit.numpy.losses.cross_entropy_grad.
    Chapter 04, §Softmax and the categorical cross-entropy.
    """
    _class_pair("cross_entropy_grad", input, target, reduction)
    n, k = input.shape
    onehot = F.one_hot(target.long(), k).to(input.dtype)          # (N, K)
    return _reduce_grad(softmax(input, axis=1) - onehot, n, reduction)


# -------------------------------------------------------------- information theory
def log_sum_exp(x: torch.Tensor, axis: int = -1, keepdims: bool = False
                ) -> torch.Tensor:
    r""":math:`\log \sum_i e^{x_i} = m + \log \sum_i e^{x_i - m}` with m the max.

    Equals ``torch.logsumexp(x, dim=axis, keepdim=keepdims)``.
    Shapes: x (any, at least 1-D) -> x without ``axis`` (kept as size 1 if keepdims).
    Twin: dlkit.numpy.losses.log_sum_exp. Chapter 04, §The log-sum-exp trick.
    """
    fn = "log_sum_exp"
    check_tensor(fn, "x", x)
    axis = _check_axis(fn, "`x`", tuple(x.shape), axis)
    m = x.amax(dim=axis, keepdim=True)
    # No overflow after the shift; an infinite max is replaced by 0 to avoid inf - inf.
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    out = m + torch.log(torch.exp(x - m).sum(dim=axis, keepdim=True))
    return out if keepdims else out.squeeze(axis)


def entropy(p: torch.Tensor, axis: int = -1) -> torch.Tensor:
    r"""Shannon entropy :math:`H(p) = -\sum_i p_i \log p_i` in nats, with 0 log 0 = 0.

    Computed as ``torch.special.entr(p).sum(axis)``.
    Shapes: p (any, at least 1-D) -> p without ``axis``.
    Twin: dlkit.numpy.losses.entropy.
    Chapter 04, §Entropy, cross-entropy and the KL divergence.
    """
    axis = _distributions("entropy", p, None, axis)
    return torch.special.entr(p).sum(dim=axis)


def kl_divergence(p: torch.Tensor, q: torch.Tensor, axis: int = -1) -> torch.Tensor:
    r"""Kullback-Leibler divergence :math:`D(p \,\|\, q) = \sum_i p_i \log (p_i / q_i)`.

    Computed as ``xlogy(p, p) - xlogy(p, q)``: terms with p = 0 count 0, q = 0 < p
    gives +inf. Equals ``F.kl_div(q.log(), p, reduction="none").sum(axis)`` where
    that is finite (F.kl_div gives NaN where p = q = 0).
    Shapes: p (any, at least 1-D), q (broadcasts with p) -> without ``axis``.
    Twin: dlkit.numpy.losses.kl_divergence.
    Chapter 04, §Entropy, cross-entropy and the KL divergence.
    """
    axis = _distributions("kl_divergence", p, q, axis)
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(dim=axis)


def cross_entropy_of(p: torch.Tensor, q: torch.Tensor, axis: int = -1) -> torch.Tensor:
    r"""Cross-entropy of distributions :math:`H(p, q) = -\sum_i p_i \log q_i`.

    It equals :math:`H(p) + D(p \,\|\, q)`; computed as ``-xlogy(p, q).sum(axis)``.
    Shapes: p (any, at least 1-D), q (broadcasts with p) -> without ``axis``.
    Twin: dlkit.numpy.losses.cross_entropy_of.
    Chapter 04, §Entropy, cross-entropy and the KL divergence.
    """
    axis = _distributions("cross_entropy_of", p, q, axis)
    return -torch.xlogy(p, q).sum(dim=axis)
