r"""Loss functions and the information theory behind them (chapter 04).

Every loss is ``name(input, target, *, reduction="mean")`` with the argument order,
defaults and reductions of ``torch.nn.functional``: ``"mean"`` averages the terms
:math:`\ell_i` (one per element, or one per example for ``cross_entropy``), ``"sum"``
adds them and ``"none"`` returns them. Its gradient with respect to ``input`` is
``name_grad(input, target, *, reduction=...)``, of the shape of ``input``; with
``"none"`` it holds :math:`\partial \ell_i / \partial x_i`, the gradient of the sum.
Unlike torch, ``input`` and ``target`` of different shapes are refused, not broadcast.
The helpers of the information-theory section (``log_sum_exp``, ``entropy``,
``kl_divergence``, ``cross_entropy_of``) work in nats along an axis; p and q may
broadcast (one p against a batch of q) but must hold the same outcomes.
Twin: :mod:`dlkit.torch.losses`.
"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .. import to_numpy
from .._checks import as_float_array, check_hyper, check_shape
from .layers import sigmoid_forward

__all__ = [
    "mse", "mse_grad", "mae", "mae_grad", "huber", "huber_grad",
    "hinge", "hinge_grad", "logistic", "logistic_grad",
    "binary_cross_entropy", "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_grad",
    "cross_entropy", "cross_entropy_grad",
    "log_sum_exp", "entropy", "kl_divergence", "cross_entropy_of",
]

Reduction = Literal["mean", "sum", "none"]
REDUCTIONS = ("mean", "sum", "none")

_LOGITS_HINT = ("Did you pass logits? Use binary_cross_entropy_with_logits(logits, "
                "target), which is also stable for large logits.")
_TARGET_HINT = ("The target of a binary loss is the probability of class 1, usually "
                "0 or 1.")
_DIST_HINT = ("Did you pass logits or log-probabilities? Turn scores into a "
              "distribution with softmax first.")

# torch floors p(1 - p) in the BCE backward with `constexpr float EPSILON = 1e-12`:
# the float32 nearest 1e-12, 9.99999996e-13, even for float64 tensors.
_BCE_GRAD_FLOOR = float(np.float32(1e-12))

#: Bytes of logits per block of rows in the softmax cross-entropy: a block and its
#: exponentials fill half of a 2 MiB L2 cache, so that the passes over a block
#: (max, subtract, exp, sum) find it there instead of in main memory.
_BLOCK_BYTES = 1 << 19


# ------------------------------------------------------------------ validation
# These helpers only look at shapes and compare values, so they serve both twins:
# dlkit.torch.losses imports them.
def _check_reduction(fn: str, reduction: Any) -> None:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"{fn}: `reduction` must be 'mean', 'sum' or 'none' (as in "
                         f"torch.nn.functional), got {reduction!r}.")


def _check_same_shape(fn: str, name_a: str, a: Any, name_b: str, b: Any) -> None:
    """Refuse what torch broadcasts: (N,) with (N, 1) would silently make N² terms."""
    sa, sb = tuple(a.shape), tuple(b.shape)
    if sa == sb:
        return
    try:
        both = (f" torch would broadcast the two to {np.broadcast_shapes(sa, sb)} "
                f"(with at most a warning), which computes a different loss.")
    except ValueError:
        both = ""
    raise ValueError(f"{fn}: `{name_b}` has shape {sb}, expected the shape of "
                     f"`{name_a}`, {sa}.{both} Did you mean "
                     f"{name_b}.reshape({name_a}.shape)?")


def _values(x: Any) -> str:
    """A short description of the values in ``x``, for error messages."""
    v = to_numpy(x)
    if np.isnan(v).any():
        return "NaN values"
    distinct = np.unique(v)
    if distinct.size <= 4:
        return "values " + ", ".join(f"{d:g}" for d in distinct)
    return f"values from {v.min():g} to {v.max():g}"


def _check_labels(fn: str, target: Any) -> None:
    """Labels of a margin loss must be -1 or +1."""
    if bool(((target == 1) | (target == -1)).all()):
        return
    v = to_numpy(target)
    if bool(((v == 0) | (v == 1)).all()):
        fix = "got labels 0/1: convert them with 2 * target - 1"
    else:
        fix = f"got {_values(v)}"
    raise ValueError(f"{fn}: `target` must hold the labels -1 and +1 of a margin loss; "
                     f"{fix}.")


def _check_probabilities(fn: str, name: str, p: Any, hint: str) -> None:
    """Every entry must lie in [0, 1] (NaN fails the test, as in torch)."""
    if bool(((p >= 0) & (p <= 1)).all()):
        return
    v = to_numpy(p)
    if name == "target" and bool(((v == -1) | (v == 1)).all()):
        hint = "got labels -1/+1: convert them with (target + 1) / 2."
    raise ValueError(f"{fn}: `{name}` must hold probabilities in [0, 1], got "
                     f"{_values(v)}. {hint}")


def _check_class_target(fn: str, input: Any, target: Any, *, integer: bool,
                        fix: str) -> None:
    """Logits (N, K) and N integer class indices in 0..K-1."""
    if len(input.shape) != 2:
        raise ValueError(f"{fn}: `input` has shape {tuple(input.shape)}, expected "
                         f"logits of shape (N, K): one row of K class scores per "
                         f"example. For a single example, pass input[None] and "
                         f"target[None].")
    hint = None
    if len(target.shape) == 2:
        hint = ("This looks like one-hot (or probability) targets: pass the class "
                "indices, e.g. target.argmax(axis=1).")
    check_shape(fn, "target", target.shape, ("N",), {"N": input.shape[0]}, hint=hint)
    if not integer:
        raise TypeError(f"{fn}: `target` must hold integer class indices, got dtype "
                        f"{target.dtype}. Convert with {fix}.")
    k = input.shape[1]
    if bool(((target >= 0) & (target < k)).all()):
        return
    v = to_numpy(target)
    msg = (f"{fn}: `target` must hold class indices from 0 to {k - 1} (input has K={k} "
           f"columns), got values from {v.min()} to {v.max()}.")
    if v.min() >= 1 and v.max() == k:
        msg += " Labels that start at 1? Pass target - 1."
    raise ValueError(msg)


def _check_axis(fn: str, what: str, shape: tuple[int, ...], axis: Any) -> int:
    """``what`` names the argument(s), e.g. "`x`"; ``shape`` is the shape reduced."""
    if not shape:
        raise ValueError(f"{fn}: {what} is a scalar; expected at least one axis to "
                         f"reduce, e.g. shape (K,) for a distribution over K outcomes.")
    ndim = len(shape)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) \
            or not -ndim <= axis < ndim:
        raise ValueError(f"{fn}: `axis` must be an int from {-ndim} to {ndim - 1} for "
                         f"{what} of shape {shape}, got {axis!r}.")
    if shape[axis] == 0:
        raise ValueError(f"{fn}: {what} has shape {shape}: axis {axis} is empty, so "
                         f"there is nothing to reduce.")
    return int(axis)


def _check_distribution_pair(fn: str, p: Any, q: Any, axis: Any) -> int:
    """p and q may broadcast (one p against a batch of q), but not along ``axis``."""
    sp, sq = tuple(p.shape), tuple(q.shape)
    try:
        shape = tuple(np.broadcast_shapes(sp, sq))
    except ValueError:
        raise ValueError(f"{fn}: `p` has shape {sp} and `q` has shape {sq}, which do "
                         f"not broadcast against each other. Did you mean "
                         f"q.reshape(p.shape)?") from None
    what = "`p`" if shape == sp else "`p` and `q` (broadcast)"
    axis = _check_axis(fn, what, shape, axis)
    kp = ((1,) * (len(shape) - len(sp)) + sp)[axis]
    kq = ((1,) * (len(shape) - len(sq)) + sq)[axis]
    if kp != kq:
        raise ValueError(f"{fn}: `p` has shape {sp} and `q` has shape {sq}: along "
                         f"axis {axis}, the outcomes, they have {kp} and {kq} entries. "
                         f"Other axes may broadcast, the outcomes must match. Did you "
                         f"mean q.reshape(p.shape)?")
    return axis


# ------------------------------------------------------------------ reductions
# Also shared with the twin: .mean() and .sum() mean the same on arrays and tensors.
def _reduce(losses: Any, reduction: str) -> Any:
    """The cost from the per-term losses: their mean, their sum, or the terms."""
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _reduce_grad(dx: Any, n_terms: int, reduction: str) -> Any:
    """The mean divides every term, hence its gradient, by the number of terms."""
    return dx / n_terms if reduction == "mean" else dx


# ------------------------------------------------------------------ entry points
def _pair(fn: str, input: Any, target: Any, reduction: Any
          ) -> tuple[np.ndarray, np.ndarray]:
    """Validate the arguments of an elementwise loss; return them as float arrays."""
    _check_reduction(fn, reduction)
    input = as_float_array(fn, "input", input)
    target = as_float_array(fn, "target", target)
    _check_same_shape(fn, "input", input, "target", target)
    return input, target


def _margin_pair(fn: str, input: Any, target: Any, reduction: Any
                 ) -> tuple[np.ndarray, np.ndarray]:
    input, target = _pair(fn, input, target, reduction)
    _check_labels(fn, target)
    return input, target


def _probability_pair(fn: str, input: Any, target: Any, reduction: Any
                      ) -> tuple[np.ndarray, np.ndarray]:
    input, target = _pair(fn, input, target, reduction)
    _check_probabilities(fn, "input", input, _LOGITS_HINT)
    _check_probabilities(fn, "target", target, _TARGET_HINT)
    return input, target


def _logits_pair(fn: str, input: Any, target: Any, reduction: Any
                 ) -> tuple[np.ndarray, np.ndarray]:
    input, target = _pair(fn, input, target, reduction)
    _check_probabilities(fn, "target", target, _TARGET_HINT)
    return input, target


def _class_pair(fn: str, input: Any, target: Any, reduction: Any
                ) -> tuple[np.ndarray, np.ndarray]:
    _check_reduction(fn, reduction)
    input = as_float_array(fn, "input", input)
    if type(target).__module__.startswith("torch"):
        raise TypeError(f"{fn}: `target` is a torch.Tensor, but this is the NumPy "
                        f"version. Use the twin in dlkit.torch, or convert with "
                        f"dlkit.to_numpy(target).")
    target = np.asarray(target)
    integer = np.issubdtype(target.dtype, np.integer)
    _check_class_target(fn, input, target, integer=integer,
                        fix="target.astype(np.int64)")
    return input, target


def _distributions(fn: str, p: Any, q: Any | None, axis: Any
                   ) -> tuple[np.ndarray, np.ndarray | None, int]:
    p = as_float_array(fn, "p", p)
    _check_probabilities(fn, "p", p, _DIST_HINT)
    if q is None:
        return p, q, _check_axis(fn, "`p`", p.shape, axis)
    q = as_float_array(fn, "q", q)
    _check_probabilities(fn, "q", q, _DIST_HINT)
    return p, q, _check_distribution_pair(fn, p, q, axis)


# ------------------------------------------------------------------ numerics
def _softplus(z: np.ndarray) -> np.ndarray:
    r""":math:`\log(1 + e^z)`, written as :math:`\max(z, 0) + \log(1 + e^{-|z|})`."""
    # e^z overflows for z > 709 (float64): with e^{-|z|} <= 1 nothing overflows, and
    # log1p keeps the digits of log(1 + u) for tiny u, where 1 + u rounds to 1.
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """The stable logistic function of chapter 01 (through e^{-|z|})."""
    return sigmoid_forward(z)[0]


def _xlogy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r""":math:`a \log b`, and 0 wherever a = 0 (the limit of t log t): torch.xlogy."""
    # b = 0 < a gives -inf: an outcome that b calls impossible although it happens.
    with np.errstate(divide="ignore"):
        return a * np.log(np.where(a == 0, 1.0, b))


# ------------------------------------------------------------------ regression
def mse(input: np.ndarray, target: np.ndarray, *, reduction: Reduction = "mean"
        ) -> np.ndarray:
    r"""Squared error :math:`\ell_i = (x_i - y_i)^2`; the mean is the MSE.

    Shapes: input (any), target (same) -> scalar, or (same) with reduction="none".
    Twin: dlkit.torch.losses.mse (= F.mse_loss).
    Chapter 04, §Regression: squared, absolute and Huber losses.
    """
    input, target = _pair("mse", input, target, reduction)
    return _reduce((input - target) ** 2, reduction)


def mse_grad(input: np.ndarray, target: np.ndarray, *, reduction: Reduction = "mean"
             ) -> np.ndarray:
    r""":math:`\partial \ell_i / \partial x_i = 2 (x_i - y_i)`, divided by n for "mean".

    Shapes: input (any), target (same) -> dx (same as input).
    Twin: dlkit.torch.losses.mse_grad.
    Chapter 04, §Regression: squared, absolute and Huber losses.
    """
    input, target = _pair("mse_grad", input, target, reduction)
    return _reduce_grad(2 * (input - target), input.size, reduction)


def mae(input: np.ndarray, target: np.ndarray, *, reduction: Reduction = "mean"
        ) -> np.ndarray:
    r"""Absolute error :math:`\ell_i = |x_i - y_i|`; the mean is the MAE.

    Shapes: input (any), target (same) -> scalar, or (same) with reduction="none".
    Twin: dlkit.torch.losses.mae (= F.l1_loss).
    Chapter 04, §Regression: squared, absolute and Huber losses.
    """
    input, target = _pair("mae", input, target, reduction)
    return _reduce(np.abs(input - target), reduction)


def mae_grad(input: np.ndarray, target: np.ndarray, *, reduction: Reduction = "mean"
             ) -> np.ndarray:
    r""":math:`\partial \ell_i / \partial x_i = \operatorname{sign}(x_i - y_i)`.

    At the kink x = y the subgradient 0 is taken, as torch's autograd does. Divided
    by n for "mean".
    Shapes: input (any), target (same) -> dx (same as input).
    Twin: dlkit.torch.losses.mae_grad.
    Chapter 04, §Regression: squared, absolute and Huber losses.
    """
    input, target = _pair("mae_grad", input, target, reduction)
    return _reduce_grad(np.sign(input - target), input.size, reduction)


def huber(input: np.ndarray, target: np.ndarray, *, delta: float = 1.0,
          reduction: Reduction = "mean") -> np.ndarray:
    r"""Huber :math:`\ell_i = \tfrac12 d_i^2` if :math:`|d_i| < \delta`, else linear.

    With :math:`d = x - y`, the linear part is :math:`\delta (|d_i| - \tfrac12 \delta)`:
    quadratic (like MSE) near 0, linear (like MAE) beyond delta, continuous slope.
    Shapes: input (any), target (same) -> scalar, or (same) with reduction="none".
    Twin: dlkit.torch.losses.huber (= F.huber_loss).
    Chapter 04, §Regression: squared, absolute and Huber losses.
    """
    fn = "huber"
    input, target = _pair(fn, input, target, reduction)
    delta = check_hyper(fn, "delta", delta, low=0.0, low_inclusive=False, typical="1.0")
    a = np.abs(input - target)
    losses = np.where(a < delta, 0.5 * a**2, delta * (a - 0.5 * delta))
    return _reduce(losses, reduction)


def huber_grad(input: np.ndarray, target: np.ndarray, *, delta: float = 1.0,
               reduction: Reduction = "mean") -> np.ndarray:
    r""":math:`\partial \ell_i / \partial x_i = \mathrm{clip}(x_i - y_i, \pm\delta)`.

    An outlier pulls with a force of at most delta, unlike MSE. Divided by n for "mean".
    Shapes: input (any), target (same) -> dx (same as input).
    Twin: dlkit.torch.losses.huber_grad.
    Chapter 04, §Regression: squared, absolute and Huber losses.
    """
    fn = "huber_grad"
    input, target = _pair(fn, input, target, reduction)
    delta = check_hyper(fn, "delta", delta, low=0.0, low_inclusive=False, typical="1.0")
    return _reduce_grad(np.clip(input - target, -delta, delta), input.size, reduction)


# ------------------------------------------------------------------ margin losses
def hinge(input: np.ndarray, target: np.ndarray, *, reduction: Reduction = "mean"
          ) -> np.ndarray:
    r"""Hinge :math:`\ell_i = \max(0, 1 - y_i s_i)`: scores s, labels y in {-1, +1}.

    A convex upper bound of the zero-one loss :math:`[y_i s_i \le 0]`.
    Shapes: input (any), target (same) -> scalar, or (same) with reduction="none".
    Twin: dlkit.torch.losses.hinge (= F.relu(1 - target * input)).
    Chapter 04, §Classification: the zero-one loss and its surrogates.
    """
    input, target = _margin_pair("hinge", input, target, reduction)
    return _reduce(np.maximum(0.0, 1.0 - target * input), reduction)


def hinge_grad(input: np.ndarray, target: np.ndarray, *, reduction: Reduction = "mean"
               ) -> np.ndarray:
    r""":math:`\partial \ell_i / \partial s_i = -y_i` where :math:`y_i s_i < 1`, else 0.

    At the kink :math:`y_i s_i = 1` the subgradient 0 is taken, as autograd of relu
    does. Divided by n for "mean". Shapes: input (any), target (same) -> dx (same).
    Twin: dlkit.torch.losses.hinge_grad.
    Chapter 04, §Classification: the zero-one loss and its surrogates.
    """
    input, target = _margin_pair("hinge_grad", input, target, reduction)
    dx = np.where(target * input < 1, -target, 0.0)
    return _reduce_grad(dx, input.size, reduction)


def logistic(input: np.ndarray, target: np.ndarray, *, reduction: Reduction = "mean"
             ) -> np.ndarray:
    r"""Logistic :math:`\ell_i = \log(1 + e^{-y_i s_i})`: scores s, labels y = ±1.

    Equals binary_cross_entropy_with_logits(s, (y + 1) / 2); smooth, unlike the hinge.
    Shapes: input (any), target (same) -> scalar, or (same) with reduction="none".
    Twin: dlkit.torch.losses.logistic (= F.soft_margin_loss, but finite for any s).
    Chapter 04, §Classification: the zero-one loss and its surrogates.
    """
    input, target = _margin_pair("logistic", input, target, reduction)
    return _reduce(_softplus(-target * input), reduction)


def logistic_grad(input: np.ndarray, target: np.ndarray, *,
                  reduction: Reduction = "mean") -> np.ndarray:
    r""":math:`\partial \ell_i / \partial s_i = -y_i\, \sigma(-y_i s_i)`, /n for "mean".

    Shapes: input (any), target (same) -> dx (same as input).
    Twin: dlkit.torch.losses.logistic_grad.
    Chapter 04, §Classification: the zero-one loss and its surrogates.
    """
    input, target = _margin_pair("logistic_grad", input, target, reduction)
    return _reduce_grad(-target * _sigmoid(-target * input), input.size, reduction)


# ------------------------------------------------------------ binary cross-entropy
def binary_cross_entropy(input: np.ndarray, target: np.ndarray, *,
                         reduction: Reduction = "mean") -> np.ndarray:
    r"""BCE :math:`\ell_i = -[t_i \log p_i + (1 - t_i) \log(1 - p_i)]`, p = input.

    Each log is clamped at -100, exactly like F.binary_cross_entropy.
    Shapes: input (any) in [0, 1], target (same) in [0, 1] -> scalar, or (same).
    Twin: dlkit.torch.losses.binary_cross_entropy.
    Chapter 04, §The logistic loss is the binary cross-entropy.
    """
    input, target = _probability_pair("binary_cross_entropy", input, target, reduction)
    # A confident mistake (p = 0 for t = 1) costs log 0 = -inf; the clamp turns it
    # into a finite 100 and keeps 0 * log 0 from becoming 0 * -inf = NaN. log1p(-p)
    # keeps the digits of log(1 - p) for small p.
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(input), -100.0)
        log_1mp = np.maximum(np.log1p(-input), -100.0)
    return _reduce(-(target * log_p + (1 - target) * log_1mp), reduction)


def binary_cross_entropy_grad(input: np.ndarray, target: np.ndarray, *,
                              reduction: Reduction = "mean") -> np.ndarray:
    r"""Gradient :math:`(p_i - t_i) / \max(p_i (1 - p_i), \epsilon)` w.r.t. :math:`p_i`.

    The floor :math:`\epsilon \approx 10^{-12}` of torch's backward keeps p = 0 or 1
    finite (the exact slope is infinite there). Divided by n for "mean".
    Shapes: input (any), target (same) -> dx (same as input).
    Twin: dlkit.torch.losses.binary_cross_entropy_grad.
    Chapter 04, §The logistic loss is the binary cross-entropy.
    """
    fn = "binary_cross_entropy_grad"
    input, target = _probability_pair(fn, input, target, reduction)
    dx = (input - target) / np.maximum(input * (1 - input), _BCE_GRAD_FLOOR)
    return _reduce_grad(dx, input.size, reduction)


def binary_cross_entropy_with_logits(input: np.ndarray, target: np.ndarray, *,
                                     reduction: Reduction = "mean") -> np.ndarray:
    r"""BCE of :math:`\sigma(x_i)`: :math:`\ell_i = \log(1 + e^{x_i}) - t_i x_i`.

    ``input`` holds logits x. Finite for every logit, where BCE of sigmoid(x) would
    saturate at the clamp.
    Shapes: input (any), target (same) in [0, 1] -> scalar, or (same).
    Twin: dlkit.torch.losses.binary_cross_entropy_with_logits
    (= F.binary_cross_entropy_with_logits).
    Chapter 04, §Binary cross-entropy from logits.
    """
    fn = "binary_cross_entropy_with_logits"
    input, target = _logits_pair(fn, input, target, reduction)
    # -log sigma(x) = log(1 + e^{-x}) and -log(1 - sigma(x)) = log(1 + e^x): BCE
    # collapses to log(1 + e^x) - t x = max(x, 0) - t x + log(1 + e^{-|x|}). Adding
    # in this order, max(x, 0) - t x is exact for t = 0 or 1, so a confident correct
    # prediction keeps every digit of its small loss log(1 + e^{-|x|}).
    x = input
    losses = np.maximum(x, 0) - target * x + np.log1p(np.exp(-np.abs(x)))
    return _reduce(losses, reduction)


def binary_cross_entropy_with_logits_grad(input: np.ndarray, target: np.ndarray, *,
                                          reduction: Reduction = "mean") -> np.ndarray:
    r""":math:`\partial \ell_i / \partial x_i = \sigma(x_i) - t_i`, /n for "mean".

    Shapes: input (any), target (same) -> dx (same as input).
    Twin: dlkit.torch.losses.binary_cross_entropy_with_logits_grad.
    Chapter 04, §Binary cross-entropy from logits.
    """
    fn = "binary_cross_entropy_with_logits_grad"
    input, target = _logits_pair(fn, input, target, reduction)
    return _reduce_grad(_sigmoid(input) - target, input.size, reduction)


# ----------------------------------------------------------- softmax cross-entropy
def _row_blocks(x: np.ndarray) -> list[slice]:
    """Blocks of rows of about 512 KiB each: small enough to stay in the L2 cache."""
    step = _block_rows(x)
    return [slice(i, i + step) for i in range(0, x.shape[0], step)]


def _block_rows(x: np.ndarray) -> int:
    return max(1, _BLOCK_BYTES // max(1, x.shape[1] * x.itemsize))


def _exp_shifted(x: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Write :math:`e^{x - m}` into ``out``, with m the max of each row; return m and
    the row sums of ``out``. Shapes: x, out (n, K) -> m, sums (n, 1)."""
    # Subtracting the max makes every exponent <= 0 (no overflow) and the largest
    # term e^0 = 1 (the sum cannot underflow to 0).
    m = x.max(axis=1, keepdims=True)
    np.subtract(x, m, out=out)
    np.exp(out, out=out)                                          # in place: no copy
    return m, out.sum(axis=1, keepdims=True)


def cross_entropy(input: np.ndarray, target: np.ndarray, *,
                  reduction: Reduction = "mean") -> np.ndarray:
    r"""Softmax cross-entropy :math:`\ell_n = \log \sum_k e^{x_{nk}} - x_{n y_n}`.

    That is :math:`-\log \mathrm{softmax}(x_n)_{y_n}`, the negative log-likelihood of
    the true class. Shapes: input (N, K) logits, target (N,) integers in 0..K-1 ->
    scalar, or (N,) with reduction="none".
    Twin: dlkit.torch.losses.cross_entropy (= F.cross_entropy).
    Chapter 04, §Softmax and the categorical cross-entropy.
    """
    input, target = _class_pair("cross_entropy", input, target, reduction)
    # Only the log-sum-exp of each row is needed, never the whole log_softmax: the
    # rows go through in blocks that stay in the cache, and the exponentials of a
    # block are written into one buffer, reused by the next block.
    lse = np.empty(input.shape[0], input.dtype)
    buf = np.empty_like(input[:_block_rows(input)])
    for rows in _row_blocks(input):
        x = input[rows]
        m, sums = _exp_shifted(x, buf[:len(x)])
        lse[rows] = (m + np.log(sums))[:, 0]                      # log sum_k e^{x_k}
    return _reduce(lse - input[np.arange(len(target)), target], reduction)


def cross_entropy_grad(input: np.ndarray, target: np.ndarray, *,
                       reduction: Reduction = "mean") -> np.ndarray:
    r""":math:`\partial \ell_n / \partial x_n = \mathrm{softmax}(x_n) - e_{y_n}`.

    :math:`e_{y_n}` is the one-hot row of the true class. Divided by N for "mean".
    Shapes: input (N, K), target (N,) -> dx (N, K).
    Twin: dlkit.torch.losses.cross_entropy_grad.
    Chapter 04, §Softmax and the categorical cross-entropy.
    """
    input, target = _class_pair("cross_entropy_grad", input, target, reduction)
    n = input.shape[0]
    scale = 1.0 / n if reduction == "mean" and n else 1.0     # (n = 0: dx is empty)
    dx = np.empty_like(input)
    for rows in _row_blocks(input):              # block by block, in the cache
        e = dx[rows]
        _, sums = _exp_shifted(input[rows], e)
        e *= scale / sums                        # softmax and the mean's 1/N at once
    # Minus the one-hot rows: one entry per row, not an (N, K) one-hot matrix.
    dx[np.arange(n), target] -= scale
    return dx


# ------------------------------------------------------------------ information theory
def log_sum_exp(x: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    r""":math:`\log \sum_i e^{x_i} = m + \log \sum_i e^{x_i - m}` with m the max.

    Shapes: x (any, at least 1-D) -> x without ``axis`` (kept as size 1 if keepdims).
    Twin: dlkit.torch.losses.log_sum_exp (= torch.logsumexp).
    Chapter 04, §The log-sum-exp trick.
    """
    fn = "log_sum_exp"
    x = as_float_array(fn, "x", x)
    axis = _check_axis(fn, "`x`", x.shape, axis)
    m = x.max(axis=axis, keepdims=True)
    # After the shift every exponent is <= 0 (no overflow) and the largest term is
    # e^0 = 1 (the sum cannot underflow to 0). An infinite max would give
    # inf - inf = NaN: shift by 0 there, so that a row of -inf gives -inf.
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
    return out if keepdims else out.squeeze(axis)


def entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    r"""Shannon entropy :math:`H(p) = -\sum_i p_i \log p_i` in nats, with 0 log 0 = 0.

    Shapes: p (any, at least 1-D) -> p without ``axis``.
    Twin: dlkit.torch.losses.entropy (= torch.special.entr(p).sum(axis)).
    Chapter 04, §Entropy, cross-entropy and the KL divergence.
    """
    p, _, axis = _distributions("entropy", p, None, axis)
    # 0 - sum rather than -sum: a certain outcome has entropy 0.0, not -0.0
    return 0.0 - np.sum(_xlogy(p, p), axis=axis)


def kl_divergence(p: np.ndarray, q: np.ndarray, axis: int = -1) -> np.ndarray:
    r"""Kullback-Leibler divergence :math:`D(p \,\|\, q) = \sum_i p_i \log (p_i / q_i)`.

    Terms with p = 0 count 0; q = 0 < p gives +inf.
    Shapes: p (any, at least 1-D), q (broadcasts with p) -> without ``axis``.
    Twin: dlkit.torch.losses.kl_divergence
    (= F.kl_div(q.log(), p, reduction="none").sum(axis) where finite).
    Chapter 04, §Entropy, cross-entropy and the KL divergence.
    """
    p, q, axis = _distributions("kl_divergence", p, q, axis)
    return np.sum(_xlogy(p, p) - _xlogy(p, q), axis=axis)


def cross_entropy_of(p: np.ndarray, q: np.ndarray, axis: int = -1) -> np.ndarray:
    r"""Cross-entropy of distributions :math:`H(p, q) = -\sum_i p_i \log q_i`.

    It equals :math:`H(p) + D(p \,\|\, q)`: with one-hot p, the loss of cross_entropy.
    Terms with p = 0 count 0; q = 0 < p gives +inf.
    Shapes: p (any, at least 1-D), q (broadcasts with p) -> without ``axis``.
    Twin: dlkit.torch.losses.cross_entropy_of.
    Chapter 04, §Entropy, cross-entropy and the KL divergence.
    """
    p, q, axis = _distributions("cross_entropy_of", p, q, axis)
    return -np.sum(_xlogy(p, q), axis=axis)
