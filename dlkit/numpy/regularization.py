r"""Regularization layers and penalties: dropout, batch norm, L1 and L2 (chapter 07).

* **Inverted dropout** (7.14)-(7.16). In training each unit is kept with probability
  :math:`q = 1 - p` and the kept ones are divided by :math:`q`, so that
  :math:`E[y_i] = x_i`; in evaluation the layer is the identity. ``p`` is the *drop*
  probability, as in ``torch.nn.functional.dropout``.
* **Batch normalization** (7.17)-(7.23), with the arguments, defaults and running
  statistics of ``torch.nn.functional.batch_norm``: ``x`` is (N, C) or (N, C, H, W)
  (any (N, C, ...)); every channel is normalised over all the other axes; in training
  the batch statistics normalise and ``running_mean``/``running_var`` are updated in
  place (the variance unbiased); in evaluation the running statistics normalise.
* **Penalties** :math:`\Omega(w)` of the cost :math:`J(w) + \lambda\Omega(w)` (7.4):
  ``l2_penalty`` :math:`\tfrac{\lambda}{2}\sum w^2` and ``l1_penalty``
  :math:`\lambda\sum|w|`, with their gradients. They take the coefficient itself; the
  chapter's per-example convention passes ``lam / n``.

Layers are ``out, cache = op_forward(...)`` and ``grads = op_backward(dout, cache)``.
Twin: :mod:`dlkit.torch.regularization`.
"""
from __future__ import annotations

from numbers import Real
from typing import Any, NamedTuple, Sequence

import numpy as np

from .._checks import as_float_array, check_hyper
from .conv import _as_arrays
from .layers import _check_cache, _check_dout

__all__ = [
    "dropout_forward", "dropout_backward",
    "batch_norm_forward", "batch_norm_backward",
    "l1_penalty", "l1_penalty_grad", "l2_penalty", "l2_penalty_grad",
]


# ------------------------------------------------------------------ validation
# These helpers look only at shapes and Python values, so the torch twin uses them too.
def _check_flag(fn: str, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: `{name}` must be True or False, got "
                        f"{type(value).__name__} ({value!r}). Pass training=True while "
                        f"learning and training=False to evaluate.")
    return bool(value)


def _check_p(fn: str, p: Any) -> float:
    if isinstance(p, Real) and not isinstance(p, bool) and p == 1:
        raise ValueError(f"{fn}: `p`=1 would drop every unit, and inverted dropout "
                         f"divides the kept ones by 1 - p = 0; expected a drop "
                         f"probability in [0, 1), typically 0.1 to 0.5.")
    return check_hyper(fn, "p", p, high=1.0,
                       typical="0.1 to 0.5 (the drop probability)")


def _channel_axes(fn: str, x: Any) -> tuple[int, ...]:
    """The axes that batch norm reduces: all but the channel axis 1."""
    shape = tuple(x.shape)
    if len(shape) < 2:
        hint = (" For one example add a batch axis: x[None] (but training needs more "
                "than one value per channel)." if len(shape) == 1 else "")
        raise ValueError(f"{fn}: `x` has shape {shape}, expected (N, C) or "
                         f"(N, C, H, W): a batch of N examples with C features or "
                         f"channels.{hint}")
    return (0,) + tuple(range(2, len(shape)))


def _check_batch_norm(fn: str, x: Any, gamma: Any, beta: Any, running_mean: Any,
                      running_var: Any, training: bool) -> tuple[tuple[int, ...], int]:
    """Shapes of batch norm's arguments; returns (reduced axes, values per channel)."""
    axes = _channel_axes(fn, x)
    shape = tuple(x.shape)
    C = shape[1]
    for name, v in (("gamma", gamma), ("beta", beta), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if v is not None and tuple(v.shape) != (C,):
            raise ValueError(
                f"{fn}: `{name}` has shape {tuple(v.shape)}, expected (C,) with C={C} "
                f"(from x.shape[1]): one entry per channel. Batch norm normalises "
                f"every channel over the other axes of x {shape}; for channels-last "
                f"data move the channels to axis 1 first.")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{fn}: pass both `running_mean` and `running_var`, or "
                         f"neither (then no running statistics are kept).")
    if not training and running_mean is None:
        raise ValueError(f"{fn}: evaluation mode (training=False) normalises with the "
                         f"running statistics, but `running_mean` and `running_var` "
                         f"are None. Pass the ones kept during training (they start "
                         f"as zeros(C) and ones(C)), or use training=True.")
    m = int(np.prod([shape[a] for a in axes]))
    if training and m < 2:
        raise ValueError(f"{fn}: `x` has shape {shape}, only {m} value per channel; "
                         f"training needs more than one to estimate a variance (as in "
                         f"torch). Use a batch of at least 2 examples, or "
                         f"training=False.")
    return axes, m


def _check_running(fn: str, name: str, r: Any) -> None:
    """The NumPy running statistics are updated in place: they must be float arrays."""
    if r is None:
        return
    if not isinstance(r, np.ndarray) or not np.issubdtype(r.dtype, np.floating) \
            or not r.flags.writeable:
        what = (type(r).__name__ if not isinstance(r, np.ndarray)
                else f"an array of dtype {r.dtype}" if r.flags.writeable
                else "a read-only array")
        raise TypeError(f"{fn}: `{name}` must be a writable floating-point NumPy array "
                        f"(it is updated in place in training mode), got {what}. "
                        f"Create it with np.zeros(C) for the mean and np.ones(C) for "
                        f"the variance, and keep it between calls.")


def _bn_hypers(fn: str, training: Any, momentum: Any, eps: Any
               ) -> tuple[bool, float, float]:
    training = _check_flag(fn, "training", training)
    momentum = check_hyper(fn, "momentum", momentum, high=1.0, high_inclusive=True,
                           typical="0.1 (torch's default) or 0.01")
    eps = check_hyper(fn, "eps", eps, low_inclusive=False, typical="1e-5")
    return training, momentum, eps


def _params(fn: str, w: Any, convert) -> tuple[list, bool]:
    """One parameter or a list of them: returns (the list, whether it was one)."""
    if isinstance(w, (list, tuple)):
        if len(w) == 0:
            raise ValueError(f"{fn}: `w` is an empty {type(w).__name__}; pass one "
                             f"array or a non-empty list of parameters, e.g. [w1, w2].")
        return [convert(fn, f"w[{i}]", v) for i, v in enumerate(w)], False
    return [convert(fn, "w", w)], True


def _check_lam(fn: str, lam: Any) -> float:
    return check_hyper(fn, "lam", lam,
                       typical="1e-5 to 1e-2 (or lambda / n per example)")


# ------------------------------------------------------------------ caches
class DropoutCache(NamedTuple):
    """The kept units (a boolean mask, None in evaluation) and the scale 1/q."""
    mask: np.ndarray | None
    scale: float
    shape: tuple[int, ...]


class BatchNormCache(NamedTuple):
    r"""What the backward pass needs: :math:`\hat x`, the per-channel
    :math:`1/\sqrt{\sigma^2+\epsilon}`, gamma (or None), whether beta was given, the
    mode and the reduced axes."""
    x_hat: np.ndarray
    inv_std: np.ndarray
    gamma: np.ndarray | None
    has_beta: bool
    training: bool
    axes: tuple[int, ...]


def _per_channel(v: Any, ndim: int) -> Any:
    """A (C,) vector reshaped to broadcast along axis 1: (1, C, 1, ..., 1)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


# ------------------------------------------------------------------ dropout
def dropout_forward(x: np.ndarray, *, p: float, training: bool,
                    rng: np.random.Generator | None
                    ) -> tuple[np.ndarray, DropoutCache]:
    r"""Inverted dropout :math:`y = m \odot x / q`, with
    :math:`m_i \sim \mathrm{Bernoulli}(q)`, :math:`q = 1 - p` (7.14); :math:`y = x`
    when not training.

    Shapes: x (any) -> out (same). ``rng``: a np.random.Generator (may be None when
    ``training=False``). Twin: dlkit.torch.regularization.dropout_forward
    (statistics of ``F.dropout``). Chapter 07, §Dropout.
    """
    fn = "dropout_forward"
    x = as_float_array(fn, "x", x)
    p = _check_p(fn, p)
    training = _check_flag(fn, "training", training)
    if not training:
        if rng is not None and not isinstance(rng, np.random.Generator):
            _rng_error(fn, rng)
        return x.copy(), DropoutCache(None, 1.0, x.shape)
    if not isinstance(rng, np.random.Generator):
        _rng_error(fn, rng)
    # u ~ U[0, 1) is >= p with probability 1 - p = q: the units to keep.
    mask = rng.random(x.shape) >= p
    scale = 1.0 / (1.0 - p)
    # Dividing the kept units by q keeps E[y_i] = q x_i / q = x_i (7.15), so the
    # next layer sees activations of the same size in training and in evaluation.
    return x * mask * scale, DropoutCache(mask, scale, x.shape)


def _rng_error(fn: str, rng: Any) -> None:
    if rng is None:
        raise TypeError(f"{fn}: training=True needs `rng`, e.g. "
                        f"rng=np.random.default_rng(0): dlkit never draws from hidden "
                        f"global random state.")
    raise TypeError(f"{fn}: `rng` must be a np.random.Generator, e.g. "
                    f"np.random.default_rng(0), got {type(rng).__name__}.")


def dropout_backward(dout: np.ndarray, cache: DropoutCache) -> np.ndarray:
    r""":math:`dx = m \odot dout / q` (7.16); :math:`dx = dout` in evaluation mode.

    Shapes: dout (shape of x) -> dx (same).
    """
    fn = "dropout_backward"
    _check_cache(fn, cache, DropoutCache)
    dout = as_float_array(fn, "dout", dout)
    _check_dout(fn, dout, cache.shape)
    if cache.mask is None:
        return dout.copy()
    return dout * cache.mask * cache.scale


# ------------------------------------------------------------------ batch norm
def batch_norm_forward(x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
                       running_mean: np.ndarray | None, running_var: np.ndarray | None,
                       *, training: bool, momentum: float = 0.1, eps: float = 1e-5
                       ) -> tuple[np.ndarray, BatchNormCache]:
    r"""Batch norm :math:`y = \gamma\,(x - \mu)/\sqrt{\sigma^2 + \epsilon} + \beta`
    per channel (7.17)-(7.21).

    Training: :math:`\mu, \sigma^2` are the batch mean and (biased) variance over the
    m = N·H·W values of each channel, and the running statistics are updated in place,
    :math:`r \leftarrow (1 - \alpha) r + \alpha s` with :math:`\alpha` = ``momentum``
    and the unbiased variance :math:`\tfrac{m}{m-1}\sigma^2_B`. Evaluation:
    ``running_mean`` and ``running_var`` normalise. ``gamma``/``beta`` None mean 1 and
    0 (``affine=False``).

    Shapes: x (N, C) or (N, C, H, W), gamma, beta, running_mean, running_var (C,)
    -> out (shape of x). Twin: dlkit.torch.regularization.batch_norm_forward
    (``F.batch_norm(x, running_mean, running_var, gamma, beta, training, momentum,
    eps)``). Chapter 07, §Batch normalization.
    """
    fn = "batch_norm_forward"
    x, gamma, beta = _as_arrays(fn, x=x, gamma=gamma, beta=beta)
    training, momentum, eps = _bn_hypers(fn, training, momentum, eps)
    if training:
        _check_running(fn, "running_mean", running_mean)
        _check_running(fn, "running_var", running_var)
    else:
        running_mean = None if running_mean is None else \
            as_float_array(fn, "running_mean", running_mean)
        running_var = None if running_var is None else \
            as_float_array(fn, "running_var", running_var)
    axes, m = _check_batch_norm(fn, x, gamma, beta, running_mean, running_var, training)
    if training:
        mean = x.mean(axis=axes)                                  # (C,)  (7.17)
        xc = x - _per_channel(mean, x.ndim)
        var = (xc * xc).mean(axis=axes)                           # (C,)  (7.18)
        if running_mean is not None:
            # (7.21), in place like F.batch_norm; the running variance estimates the
            # population's, hence Bessel's correction m/(m-1).
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (m / (m - 1))
    else:
        mean = running_mean.astype(x.dtype, copy=True)
        var = running_var.astype(x.dtype, copy=True)
        xc = x - _per_channel(mean, x.ndim)
    inv_std = 1.0 / np.sqrt(var + eps)                            # (C,)
    x_hat = xc * _per_channel(inv_std, x.ndim)                    # (7.19)
    out = x_hat if gamma is None else x_hat * _per_channel(gamma, x.ndim)
    if beta is not None:
        out = out + _per_channel(beta, x.ndim)                    # (7.20)
    return out, BatchNormCache(x_hat, inv_std, gamma, beta is not None, training, axes)


def batch_norm_backward(dout: np.ndarray, cache: BatchNormCache
                        ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    r"""Return ``(dx, dgamma, dbeta)`` (7.22)-(7.23); ``dgamma``/``dbeta`` are None
    when ``gamma``/``beta`` were.

    Training: :math:`dx_i = \frac{1}{m\sqrt{\sigma^2+\epsilon}}\,(m\,d\hat x_i -
    \sum_j d\hat x_j - \hat x_i \sum_j d\hat x_j \hat x_j)` with
    :math:`d\hat x = \gamma\,dout`; evaluation (constant statistics):
    :math:`dx = \gamma\,dout/\sqrt{\sigma^2_{run}+\epsilon}`.
    Shapes: dout (shape of x) -> dx (same), dgamma, dbeta (C,).
    """
    fn = "batch_norm_backward"
    _check_cache(fn, cache, BatchNormCache)
    dout = as_float_array(fn, "dout", dout)
    _check_dout(fn, dout, cache.x_hat.shape)
    x_hat, inv_std, gamma, has_beta, training, axes = cache
    nd = x_hat.ndim
    dbeta = dout.sum(axis=axes) if has_beta else None                       # (7.23)
    dgamma = (dout * x_hat).sum(axis=axes) if gamma is not None else None   # (7.23)
    dx_hat = dout if gamma is None else dout * _per_channel(gamma, nd)      # (7.22)
    if not training:
        # The running statistics are constants: the layer is affine in x.
        return dx_hat * _per_channel(inv_std, nd), dgamma, dbeta
    # In training mu and sigma^2 depend on every x_j of the channel. Chaining through
    # them gives two sums per channel: x_hat has zero mean and unit variance over the
    # channel, so the gradient loses its component along the constant direction
    # (sum_j dx_hat_j) and along x_hat itself (sum_j dx_hat_j x_hat_j), then is scaled
    # by 1/sqrt(sigma^2 + eps). Computing the two sums once costs O(m) per channel,
    # instead of the m x m Jacobian.
    m = x_hat.size // x_hat.shape[1]
    s1 = _per_channel(dx_hat.sum(axis=axes), nd)             # sum_j dx_hat_j
    s2 = _per_channel((dx_hat * x_hat).sum(axis=axes), nd)   # sum_j dx_hat_j x_hat_j
    dx = _per_channel(inv_std / m, nd) * (m * dx_hat - s1 - x_hat * s2)
    return dx, dgamma, dbeta


# ------------------------------------------------------------------ penalties
def l2_penalty(w: np.ndarray | Sequence[np.ndarray], lam: float) -> np.floating:
    r"""L2 penalty :math:`\frac{\lambda}{2}\sum_i w_i^2` (7.5 with :math:`\lambda/n`).

    A list of parameters gives the sum of their penalties (leave the biases out of
    the list: they are not penalised). Shapes: w (any) or a list -> scalar.
    Twin: dlkit.torch.regularization.l2_penalty. Chapter 07, §L2 regularization.
    """
    fn = "l2_penalty"
    lam = _check_lam(fn, lam)
    ws, _ = _params(fn, w, as_float_array)
    return lam / 2 * sum((v * v).sum() for v in ws)


def l2_penalty_grad(w: np.ndarray | Sequence[np.ndarray], lam: float
                    ) -> np.ndarray | list[np.ndarray]:
    r""":math:`\partial/\partial w\ \frac{\lambda}{2}\sum w^2 = \lambda w` (7.6).

    Shapes: w (any) -> dw (same); a list -> the list of gradients.
    Twin: dlkit.torch.regularization.l2_penalty_grad.
    """
    fn = "l2_penalty_grad"
    lam = _check_lam(fn, lam)
    ws, single = _params(fn, w, as_float_array)
    grads = [lam * v for v in ws]
    return grads[0] if single else grads


def l1_penalty(w: np.ndarray | Sequence[np.ndarray], lam: float) -> np.floating:
    r"""L1 penalty :math:`\lambda\sum_i |w_i|` (7.8 with :math:`\lambda/n`).

    A list of parameters gives the sum of their penalties. Shapes: w (any) or a list
    -> scalar. Twin: dlkit.torch.regularization.l1_penalty.
    Chapter 07, §L1 regularization.
    """
    fn = "l1_penalty"
    lam = _check_lam(fn, lam)
    ws, _ = _params(fn, w, as_float_array)
    return lam * sum(np.abs(v).sum() for v in ws)


def l1_penalty_grad(w: np.ndarray | Sequence[np.ndarray], lam: float
                    ) -> np.ndarray | list[np.ndarray]:
    r""":math:`\lambda\,\mathrm{sgn}(w)` (7.9), with :math:`\mathrm{sgn}(0) = 0`, which
    is also torch's gradient of :math:`|w|` at 0.

    Shapes: w (any) -> dw (same); a list -> the list of gradients.
    Twin: dlkit.torch.regularization.l1_penalty_grad.
    """
    fn = "l1_penalty_grad"
    lam = _check_lam(fn, lam)
    ws, single = _params(fn, w, as_float_array)
    grads = [lam * np.sign(v) for v in ws]
    return grads[0] if single else grads
