r"""PyTorch twins of :mod:`dlkit.numpy.regularization`: dropout, batch norm, L1 and L2
(chapter 07).

Same names, arguments and return values as the NumPy reference, on tensors of any
device and floating dtype, written with tensor ops (no ``torch.nn`` inside).
``batch_norm_forward`` equals ``F.batch_norm``, running statistics included (updated in
place, under ``no_grad``); ``dropout_forward`` has the statistics of ``F.dropout``
(its random numbers come from ``rng``: a ``torch.Generator``, None for torch's default
generator, or a ``np.random.Generator``, which draws the very mask of the NumPy
reference). The two layers also come as ``torch.autograd.Function`` s
(``DropoutFn``, ``BatchNormFn``) whose backward is the hand-written one, so that it
can be checked against ``torch.autograd``. The penalties are differentiable tensor
expressions, so autograd checks their ``*_grad`` directly.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from .._checks import check_tensor
# Validation and caches are shared with the NumPy reference: they look only at shapes
# and Python values.
from ..numpy.regularization import (BatchNormCache, DropoutCache, _bn_hypers,
                                    _check_batch_norm, _check_flag, _check_lam,
                                    _check_p, _params, _per_channel)
from ..numpy.layers import _check_cache, _check_dout
from .layers import _same_place

__all__ = [
    "dropout_forward", "dropout_backward",
    "batch_norm_forward", "batch_norm_backward",
    "l1_penalty", "l1_penalty_grad", "l2_penalty", "l2_penalty_grad",
    "DropoutFn", "BatchNormFn",
]


# ------------------------------------------------------------------ validation
def _tensor(fn: str, name: str, v: Any) -> torch.Tensor:
    check_tensor(fn, name, v)
    return v


def _tensors(fn: str, w: Any) -> tuple[list[torch.Tensor], bool]:
    """One tensor or a list of them, all on the device and of the dtype of the first."""
    ws, single = _params(fn, w, _tensor)
    if not single:
        _same_place(fn, "w[0]", ws[0], **{f"w[{i}]": v for i, v in enumerate(ws)})
    return ws, single


def _uniform(fn: str, x: torch.Tensor, rng: Any) -> torch.Tensor:
    """U[0, 1) numbers of the shape of x, on x's device, drawn from ``rng``."""
    if isinstance(rng, np.random.Generator):
        # The NumPy reference's draws: the twins then drop the same units.
        return torch.as_tensor(rng.random(tuple(x.shape)), device=x.device)
    dtype = torch.promote_types(x.dtype, torch.float32)   # no coarse float16 grid
    if rng is None:
        return torch.rand(x.shape, device=x.device, dtype=dtype)
    if isinstance(rng, torch.Generator):
        u = torch.rand(x.shape, generator=rng, device=rng.device, dtype=dtype)
        return u.to(x.device)
    raise TypeError(f"{fn}: `rng` must be a torch.Generator, None (torch's default "
                    f"generator) or a np.random.Generator, got {type(rng).__name__}.")


# ------------------------------------------------------------------ dropout
def dropout_forward(x: torch.Tensor, *, p: float, training: bool,
                    rng: torch.Generator | np.random.Generator | None
                    ) -> tuple[torch.Tensor, DropoutCache]:
    r"""Inverted dropout :math:`y = m \odot x / q`, :math:`q = 1 - p` (7.14); the
    statistics of ``F.dropout(x, p, training)``.

    Shapes: x (any) -> out (same). Twin: dlkit.numpy.regularization.dropout_forward.
    Chapter 07, §Dropout.
    """
    fn = "dropout_forward"
    check_tensor(fn, "x", x)
    p = _check_p(fn, p)
    training = _check_flag(fn, "training", training)
    if not training:
        return x.clone(), DropoutCache(None, 1.0, tuple(x.shape))
    mask = _uniform(fn, x, rng) >= p        # kept with probability q = 1 - p
    scale = 1.0 / (1.0 - p)
    return x * mask * scale, DropoutCache(mask, scale, tuple(x.shape))


def dropout_backward(dout: torch.Tensor, cache: DropoutCache) -> torch.Tensor:
    r""":math:`dx = m \odot dout / q` (7.16); :math:`dx = dout` in evaluation mode."""
    fn = "dropout_backward"
    _check_cache(fn, cache, DropoutCache)
    check_tensor(fn, "dout", dout)
    _check_dout(fn, dout, cache.shape)
    if cache.mask is None:
        return dout.clone()
    return dout * cache.mask * cache.scale


# ------------------------------------------------------------------ batch norm
def batch_norm_forward(x: torch.Tensor, gamma: torch.Tensor | None,
                       beta: torch.Tensor | None, running_mean: torch.Tensor | None,
                       running_var: torch.Tensor | None, *, training: bool,
                       momentum: float = 0.1, eps: float = 1e-5
                       ) -> tuple[torch.Tensor, BatchNormCache]:
    r""":math:`y = \gamma\,(x - \mu)/\sqrt{\sigma^2 + \epsilon} + \beta` per channel
    (7.17)-(7.21); equals ``F.batch_norm(x, running_mean, running_var, gamma, beta,
    training, momentum, eps)``, with the same in-place update of the running statistics.

    Shapes: x (N, C) or (N, C, H, W), the others (C,) -> out (shape of x).
    Twin: dlkit.numpy.regularization.batch_norm_forward.
    Chapter 07, §Batch normalization.
    """
    fn = "batch_norm_forward"
    check_tensor(fn, "x", x)
    _same_place(fn, "x", x, gamma=gamma, beta=beta, running_mean=running_mean,
                running_var=running_var)
    training, momentum, eps = _bn_hypers(fn, training, momentum, eps)
    axes, m = _check_batch_norm(fn, x, gamma, beta, running_mean, running_var, training)
    nd = x.dim()
    if training:
        mean = x.mean(dim=axes)                                   # (C,)  (7.17)
        xc = x - _per_channel(mean, nd)
        var = (xc * xc).mean(dim=axes)                            # (C,)  (7.18)
        if running_mean is not None:
            with torch.no_grad():                                 # (7.21), in place
                running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                running_var.mul_(1 - momentum).add_(var.detach() * (m / (m - 1)),
                                                    alpha=momentum)
    else:
        mean, var = running_mean, running_var
        xc = x - _per_channel(mean, nd)
    inv_std = 1.0 / torch.sqrt(var + eps)                         # (C,)
    x_hat = xc * _per_channel(inv_std, nd)                        # (7.19)
    out = x_hat if gamma is None else x_hat * _per_channel(gamma, nd)
    if beta is not None:
        out = out + _per_channel(beta, nd)                        # (7.20)
    return out, BatchNormCache(x_hat, inv_std, gamma, beta is not None, training, axes)


def batch_norm_backward(dout: torch.Tensor, cache: BatchNormCache
                        ) -> tuple[torch.Tensor, torch.Tensor | None,
                                   torch.Tensor | None]:
    r"""Return ``(dx, dgamma, dbeta)`` (7.22)-(7.23), as the NumPy reference.

    Shapes: dout (shape of x) -> dx (same), dgamma, dbeta (C,) or None.
    """
    fn = "batch_norm_backward"
    _check_cache(fn, cache, BatchNormCache)
    check_tensor(fn, "dout", dout)
    _check_dout(fn, dout, cache.x_hat.shape)
    x_hat, inv_std, gamma, has_beta, training, axes = cache
    if dout.device != x_hat.device or dout.dtype != x_hat.dtype:
        raise ValueError(
            f"{fn}: the forward pass ran in {x_hat.dtype} on {x_hat.device} but `dout` "
            f"is {dout.dtype} on {dout.device}; convert with dout.to(...) first.")
    nd = x_hat.dim()
    dbeta = dout.sum(dim=axes) if has_beta else None                        # (7.23)
    dgamma = (dout * x_hat).sum(dim=axes) if gamma is not None else None    # (7.23)
    dx_hat = dout if gamma is None else dout * _per_channel(gamma, nd)      # (7.22)
    if not training:
        return dx_hat * _per_channel(inv_std, nd), dgamma, dbeta
    # The compact form (7.22): remove from dx_hat its channel mean and its component
    # along x_hat (the directions that mu and sigma^2 absorb), scale by 1/std.
    m = x_hat.numel() // x_hat.shape[1]
    s1 = _per_channel(dx_hat.sum(dim=axes), nd)              # sum_j dx_hat_j
    s2 = _per_channel((dx_hat * x_hat).sum(dim=axes), nd)    # sum_j dx_hat_j x_hat_j
    dx = _per_channel(inv_std / m, nd) * (m * dx_hat - s1 - x_hat * s2)
    return dx, dgamma, dbeta


# ------------------------------------------------------------------ penalties
def l2_penalty(w: torch.Tensor | Sequence[torch.Tensor], lam: float) -> torch.Tensor:
    r""":math:`\frac{\lambda}{2}\sum_i w_i^2`, summed over a list of parameters (7.5).

    Shapes: w (any) or a list -> scalar tensor. Its autograd gradient is
    ``l2_penalty_grad``; ``torch.optim``'s ``weight_decay=lam`` adds the same.
    Twin: dlkit.numpy.regularization.l2_penalty.
    """
    fn = "l2_penalty"
    lam = _check_lam(fn, lam)
    ws, _ = _tensors(fn, w)
    return lam / 2 * sum((v * v).sum() for v in ws)


def l2_penalty_grad(w: torch.Tensor | Sequence[torch.Tensor], lam: float
                    ) -> torch.Tensor | list[torch.Tensor]:
    r""":math:`\lambda w` (7.6). Shapes: w (any) -> dw (same); a list -> a list."""
    fn = "l2_penalty_grad"
    lam = _check_lam(fn, lam)
    ws, single = _tensors(fn, w)
    grads = [lam * v for v in ws]
    return grads[0] if single else grads


def l1_penalty(w: torch.Tensor | Sequence[torch.Tensor], lam: float) -> torch.Tensor:
    r""":math:`\lambda\sum_i |w_i|`, summed over a list of parameters (7.8).

    Shapes: w (any) or a list -> scalar tensor.
    Twin: dlkit.numpy.regularization.l1_penalty.
    """
    fn = "l1_penalty"
    lam = _check_lam(fn, lam)
    ws, _ = _tensors(fn, w)
    return lam * sum(v.abs().sum() for v in ws)


def l1_penalty_grad(w: torch.Tensor | Sequence[torch.Tensor], lam: float
                    ) -> torch.Tensor | list[torch.Tensor]:
    r""":math:`\lambda\,\mathrm{sgn}(w)` (7.9), 0 where w = 0 (torch's gradient of |w|).

    Shapes: w (any) -> dw (same); a list -> a list.
    """
    fn = "l1_penalty_grad"
    lam = _check_lam(fn, lam)
    ws, single = _tensors(fn, w)
    grads = [lam * torch.sign(v) for v in ws]
    return grads[0] if single else grads


# ------------------------------------------------------------------ autograd Functions
class DropoutFn(torch.autograd.Function):
    """Inverted dropout with dlkit's hand-written backward (``dropout_backward``).

    ``DropoutFn.apply(x, p, training, rng)`` (positional, as ``apply`` requires).
    """

    @staticmethod
    def forward(ctx, x, p, training, rng=None):
        out, ctx.cache = dropout_forward(x, p=p, training=training, rng=rng)
        return out

    @staticmethod
    def backward(ctx, dout):
        return dropout_backward(dout, ctx.cache), None, None, None


class BatchNormFn(torch.autograd.Function):
    """``F.batch_norm`` with dlkit's hand-written backward (``batch_norm_backward``).

    ``BatchNormFn.apply(x, gamma, beta, running_mean, running_var, training,
    momentum, eps)``; the running statistics are updated in place when training.
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, training,
                momentum=0.1, eps=1e-5):
        out, ctx.cache = batch_norm_forward(x, gamma, beta, running_mean, running_var,
                                            training=training, momentum=momentum,
                                            eps=eps)
        return out

    @staticmethod
    def backward(ctx, dout):
        return batch_norm_backward(dout, ctx.cache) + (None,) * 5
