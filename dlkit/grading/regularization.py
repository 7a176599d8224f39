"""Checks for the exercises of chapter 07, regularization: penalties, dropout, batch
normalisation, early stopping and data augmentation.

Each ``check_*`` function is called from a check cell, without arguments (it finds
the learner's functions by name in the notebook) or with the functions to check. It
prints one verdict line and returns None.

The expected values are computed here with NumPy, on purpose independently of
``dlkit.numpy.regularization``: a bug there must not make a wrong answer pass. Batch
normalisation follows ``torch.nn.functional.batch_norm``: the biased variance to
normalise, the unbiased one in the running estimate, and a momentum that weights the
new batch; the tests check these references against torch. Dropout and the random
shifts draw random numbers, so their checks test what every correct implementation
satisfies (each output entry is 0 or x/q, about a fraction q is kept, each image is a
shifted copy of its input), never particular draws: any way of using ``rng`` passes.
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ._core import (_where, CheckFailed, close, expect, learner_array, learner_function,
                    missing_function, run_checks, shaped_array)

__all__ = ["check_l2_regularize", "check_weight_decay_step", "check_dropout_forward",
           "check_batch_norm_forward", "check_batch_norm_backward",
           "check_train_with_early_stopping", "check_random_shift"]

#: Where chapter 07 states what each exercise implements.
EQ = {"l2_cost": "(7.5)", "l2_grad": "(7.6)", "weight_decay": "(7.7)",
      "l1_cost": "(7.8)", "l1_step": "(7.9)", "soft_threshold": "(7.10)",
      "dropout": "(7.14)", "dropout_mean": "(7.15)", "dropout_backward": "(7.16)",
      "bn_mean": "(7.17)", "bn_var": "(7.18)", "bn_normalise": "(7.19)",
      "bn_affine": "(7.20)", "bn_running": "(7.21)", "bn_backward": "(7.22)",
      "bn_param_grads": "(7.23)"}

#: Seconds per case; the largest case (7.7, two thousand images shifted in a Python
#: loop) takes a learner's code well under a second.
TIME_LIMIT = 30.0

#: The shift of an image that is no shifted copy of its input (see _read_shifts).
NO_SHIFT = -10**6


# ------------------------------------------------------------------ shared helpers
def _tuple(out: Any, size: int, what: str) -> tuple:
    word = "pair" if size == 2 else "triple" if size == 3 else "tuple"
    if not isinstance(out, (tuple, list)):
        raise CheckFailed(f"return the {word} {what}, got {type(out).__name__}.")
    if len(out) != size:
        raise CheckFailed(f"return the {word} {what} ({size} values), got a "
                          f"{type(out).__name__} of {len(out)}.")
    return tuple(out)


def _unchanged(name: str, given: list[np.ndarray], kept: list[np.ndarray]) -> None:
    """Fail when the learner's function wrote into one of the caller's arrays."""
    if any(not np.array_equal(a, b, equal_nan=True) for a, b in zip(given, kept)):
        raise CheckFailed(f"{name} changed an input array in place; leave the caller's "
                          f"arrays alone and write the result into a new array.")


def _scalar(value: Any, what: str) -> np.ndarray:
    """The learner's number as a 0-d float array."""
    arr = learner_array(what, value)
    if arr.shape not in ((), (1,)):
        raise CheckFailed(f"{what} has shape {arr.shape}; it is one number.")
    return arr.reshape(())


def _named(fn_name: str, mistakes: dict[str, Any]) -> dict[str, Any]:
    """The mistakes of a second function, their hints prefixed with its name."""
    return {f"{fn_name}: {hint}": value for hint, value in mistakes.items()}


def _flat(arrays) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in arrays]) if len(arrays) else np.zeros(0)


# ------------------------------------------------------------------ 7.1 L2 penalty
def check_l2_regularize(fn: Any = None) -> None:
    """Exercise 7.1: ``l2_regularize(params, loss, grads, *, lam, n)``, (7.5), (7.6)."""
    fn = learner_function(fn, "l2_regularize")
    rng = np.random.default_rng(71)
    eq_c, eq_g = EQ["l2_cost"], EQ["l2_grad"]
    cost_rule = f"C = C₀ + (λ/2n) Σ_w w², summed over the weights only, eq. {eq_c}"
    grad_rule = (f"∂C/∂w = ∂C₀/∂w + (λ/n) w for every weight array and ∂C/∂b = ∂C₀/∂b "
                 f"for every bias, eq. {eq_g}")

    def case(shapes, lam, n, what):
        params = []
        for s in shapes:                     # w (out, in, ...) then its bias b (out,)
            params += [rng.standard_normal(s), rng.standard_normal(s[0])]
        grads = [rng.standard_normal(p.shape) for p in params]
        loss = float(rng.uniform(0.5, 2.5))

        def run(fn):
            name = f"for {what}, λ = {lam:g}, n = {n}"
            given_p = [p.copy() for p in params]
            given_g = [g.copy() for g in grads]
            out = _tuple(fn(given_p, loss, given_g, lam=lam, n=n), 2, "(cost, grads)")
            if any(not np.array_equal(a, b) for a, b in zip(given_g, grads)):
                raise CheckFailed(f"l2_regularize added the penalty into the caller's "
                                  f"gradient arrays (in place, g += ...); return new "
                                  f"arrays, {grad_rule}.")
            _unchanged("l2_regularize", given_p, params)
            cost, new = out
            cost = _scalar(cost, f"the cost {name}")
            if not isinstance(new, (list, tuple)) or len(new) != len(params):
                size = f" of {len(new)}" if hasattr(new, "__len__") else ""
                raise CheckFailed(f"{name}: the second value returned is a list of "
                                  f"{len(params)} gradients, one per parameter in the "
                                  f"order of `params`; got {type(new).__name__}{size}.")
            new = [shaped_array(g, p.shape, f"gradient {k} {name}", {},
                                "each gradient has the shape of its parameter")
                   for k, (g, p) in enumerate(zip(new, params))]
            w, b = params[0::2], params[1::2]
            sq_w = sum(float(np.sum(a ** 2)) for a in w)
            sq_b = sum(float(np.sum(a ** 2)) for a in b)
            want = loss + lam / (2 * n) * sq_w
            not_matrix = [k for k, a in enumerate(params) if k % 2 == 0 and a.ndim != 2]
            cost_mistakes = {
                "the biases are penalised too; the penalty sums the squares of the "
                "weights only (a bias shifts a unit and does not make the model more "
                f"complex): {cost_rule}": loss + lam / (2 * n) * (sq_w + sq_b),
                f"the factor 1/2 is missing: {cost_rule}; the 1/2 is there so that the "
                f"gradient comes out as (λ/n) w": loss + lam / n * sq_w,
                f"the division by n is missing: the penalty is (λ/2n) Σ w², so that it "
                f"keeps its weight against the mean data loss C₀, {cost_rule}":
                    loss + lam / 2 * sq_w,
                f"both the 1/2 and the 1/n are missing: {cost_rule}": loss + lam * sq_w,
                "the penalty is subtracted; it is added to the data loss (a minus "
                f"sign in front of a bracket that holds it flips it), {cost_rule}":
                    loss - lam / (2 * n) * sq_w,
                "the data loss C₀ is missing: the cost is the data loss plus the "
                f"penalty, {cost_rule}": lam / (2 * n) * sq_w,
                f"this is an L1 penalty (Σ |w|, eq. {EQ['l1_cost']}); the L2 penalty "
                "sums the squares, "
                f"{cost_rule}": loss + lam / n * sum(np.abs(a).sum() for a in w),
                "the square is taken of the sum of each weight array, (Σ w)²; the "
                f"penalty sums the squares of the entries, Σ w², {cost_rule}":
                    loss + lam / (2 * n) * sum(float(np.sum(a)) ** 2 for a in w),
                "the norms of the weight arrays are added, not their squares: Σ_w w² "
                f"is the squared norm, {cost_rule}":
                    loss + lam / (2 * n) * sum(float(np.linalg.norm(a)) for a in w),
            }
            if not_matrix:
                kernel = (f"the convolution kernel params[{not_matrix[0]}] is a weight "
                          "too: penalise every array at an even position, whatever "
                          "its number of axes")
                cost_mistakes[f"{kernel}, {cost_rule}"] = loss + lam / (2 * n) * sum(
                    float(np.sum(a ** 2)) for a in w if a.ndim == 2)
            if len(w) > 1:
                cost_mistakes["only the first weight array is penalised; the sum runs "
                              f"over the weights of every layer, {cost_rule}"] = \
                    loss + lam / (2 * n) * float(np.sum(w[0] ** 2))
                cost_mistakes["only the last weight array is penalised; the sum runs "
                              f"over the weights of every layer, {cost_rule}"] = \
                    loss + lam / (2 * n) * float(np.sum(w[-1] ** 2))
            expect(cost, np.asarray(want), f"the cost {name}", cost_mistakes)

            def grads_with(w_factor, b_factor=0.0, data=True, sign=False, skip=()):
                out = []
                for k, (p, g) in enumerate(zip(params, grads)):
                    base = g if data else 0.0 * g
                    if k % 2:
                        out.append(base + b_factor * p)
                    elif k in skip:
                        out.append(base)
                    else:
                        out.append(base + w_factor * (np.sign(p) if sign else p))
                return _flat(out)

            grad_mistakes = {
                f"the gradients of the biases carry a penalty term; the biases are not "
                f"penalised, so {grad_rule}": grads_with(lam / n, lam / n),
                f"the penalty term of the gradient is 2(λ/n) w; the 1/2 in the cost "
                f"(λ/2n) Σ w² cancels the 2 of the derivative of w², {grad_rule}":
                    grads_with(2 * lam / n),
                f"the division by n is missing from the gradient: {grad_rule}":
                    grads_with(lam),
                "the penalty term is (λ/2n) w; the derivative of w² is 2w, so the "
                f"term is (λ/n) w, {grad_rule}": grads_with(lam / (2 * n)),
                "the penalty term is subtracted; the gradient of an added penalty is "
                f"added, {grad_rule}": grads_with(-lam / n),
                f"the gradients are returned without the penalty term: {grad_rule}":
                    grads_with(0.0),
                f"the data gradient ∂C₀/∂w is missing: {grad_rule}":
                    grads_with(lam / n, data=False),
                "this is the gradient of an L1 penalty, (λ/n) sgn(w); the L2 penalty "
                f"gives (λ/n) w, {grad_rule}": grads_with(lam / n, sign=True),
            }
            if not_matrix:
                grad_mistakes[f"{kernel}, {grad_rule}"] = grads_with(lam / n,
                                                                      skip=not_matrix)
            expect(_flat(new), grads_with(lam / n), f"the gradients {name}",
                   grad_mistakes)
        return run

    run_checks("l2_regularize", "7.1", fn, [
        case([(4, 3), (2, 4)], 0.5, 40, "two layers, w1 (4, 3) and w2 (2, 4)"),
        case([(5, 4), (3, 5), (2, 3)], 1.5, 25, "three layers"),
        case([(1, 6)], 4.0, 100, "one layer, w (1, 6)"),
        case([(4, 2, 3, 3), (3, 36)], 0.3, 7, "a convolution kernel (4, 2, 3, 3) and a "
             "linear layer"),
        case([(3, 3), (2, 3)], 0.0, 10, "λ = 0, no penalty"),
        case([(2, 5), (4, 2)], 0.8, 1, "n = 1"),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 7.2 SGD steps
def check_weight_decay_step(weight_decay_step: Any = None, l1_step: Any = None) -> None:
    """Exercise 7.2: ``weight_decay_step(w, dw, *, lr, lam, n)``, eq. (7.7), and
    ``l1_step(w, dw, *, lr, lam, n)``, eq. (7.9)."""
    decay = learner_function(weight_decay_step, "weight_decay_step")
    l1 = learner_function(l1_step, "l1_step")
    rng = np.random.default_rng(72)
    eq_wd, eq_l1, eq_soft = EQ["weight_decay"], EQ["l1_step"], EQ["soft_threshold"]
    wd_rule = f"w ← (1 − ηλ/n) w − η ∂C₀/∂w, eq. {eq_wd}"
    l1_rule = f"w ← w − (ηλ/n) sgn(w) − η ∂C₀/∂w, eq. {eq_l1}"

    def data(shape, zeros):
        w = rng.standard_normal(shape)
        if zeros:
            w.flat[::3] = 0.0              # exact zeros, where sgn(0) = 0 matters
        return w, rng.standard_normal(shape)

    def call(fn, label, w, dw, lr, lam, n, what):
        name = f"{label} for {what}, lr = {lr:g}, λ = {lam:g}, n = {n}"
        args = [w.copy(), dw.copy()]
        got = fn(*args, lr=lr, lam=lam, n=n)
        _unchanged(label, args, [w, dw])
        return name, shaped_array(got, w.shape, name, {},
                                  "the new w has the shape of w")

    def decay_case(shape, lr, lam, n, what):
        w, dw = data(shape, False)

        def run(fn):
            name, got = call(fn, "weight_decay_step", w, dw, lr, lam, n, what)
            t = lr * lam / n
            expect(got, (1 - t) * w - lr * dw, name, {
                "the factor is (1 − ηλ): the decay per step is ηλ/n, the division by "
                f"n is missing, {wd_rule}": (1 - lr * lam) * w - lr * dw,
                "the factor is (1 − λ/n): the learning rate η multiplies the decay "
                f"too, {wd_rule}": (1 - lam / n) * w - lr * dw,
                "the factor is (1 + ηλ/n); weight decay shrinks the weights, "
                f"{wd_rule}":
                    (1 + t) * w - lr * dw,
                f"the weights are not decayed: {wd_rule}": w - lr * dw,
                "the decay is applied after the gradient step, (1 − ηλ/n)(w − η "
                "∂C₀/∂w); it multiplies the old w only, "
                f"{wd_rule}": (1 - t) * (w - lr * dw),
                f"the factor is (1 − 2ηλ/n); the gradient of (λ/2n) Σ w² is (λ/n) w, "
                f"{wd_rule}": (1 - 2 * t) * w - lr * dw,
                f"the step goes uphill: subtract η ∂C₀/∂w, {wd_rule}":
                    (1 - t) * w + lr * dw,
                "this is the L1 step (ηλ/n) sgn(w), the answer of l1_step; weight "
                "decay shrinks in proportion to w, "
                f"{wd_rule}": w - t * np.sign(w) - lr * dw,
            })
        return run

    def l1_case(shape, lr, lam, n, what, zeros=False):
        w, dw = data(shape, zeros)

        def run(fn_unused):
            if l1 is None:
                raise missing_function("l1_step", "7.2")
            name, got = call(l1, "l1_step", w, dw, lr, lam, n, what)
            t = lr * lam / n
            u = w - lr * dw
            with np.errstate(all="ignore"):
                ratio = w / np.abs(w)
            expect(got, w - t * np.sign(w) - lr * dw, name, _named("l1_step", {
                f"this uses w instead of sgn(w): that is weight decay, eq. {eq_wd}; "
                "the derivative of |w| is sgn(w), so L1 moves every weight by the "
                f"same amount ηλ/n towards 0, {l1_rule}": w - t * w - lr * dw,
                "the division by n is missing: "
                f"{l1_rule}": w - lr * lam * np.sign(w) - lr * dw,
                f"the penalty pushes the weights away from 0; subtract (ηλ/n) sgn(w), "
                f"{l1_rule}": w + t * np.sign(w) - lr * dw,
                f"this is the soft-thresholding step of eq. {eq_soft}, which sets the "
                "weights that cross 0 to exactly 0; a good method, but this exercise "
                f"asks for the plain subgradient step, {l1_rule}":
                    np.sign(u) * np.maximum(np.abs(u) - t, 0.0),
                "at w = 0 the sign is taken as ±1; sgn(0) = 0 (np.sign), the "
                f"subgradient that leaves a weight at 0 alone, {l1_rule}":
                    w - t * np.where(w >= 0, 1.0, -1.0) - lr * dw,
                f"w/|w| is 0/0 = nan at w = 0; use np.sign(w), which gives sgn(0) = 0, "
                f"{l1_rule}": w - t * ratio - lr * dw,
                f"the weights are not penalised: {l1_rule}": w - lr * dw,
                f"the step goes uphill: subtract η ∂C₀/∂w, {l1_rule}":
                    w - t * np.sign(w) + lr * dw,
            }))
        return run

    run_checks("weight_decay_step", "7.2", decay, [
        decay_case((5, 3), 0.1, 5.0, 50, "w (5, 3)"),
        decay_case((4,), 0.5, 2.0, 8, "w (4,)"),
        decay_case((2, 3, 4), 0.01, 30.0, 60, "w (2, 3, 4)"),
        decay_case((3, 3), 0.2, 0.0, 10, "w (3, 3), λ = 0"),
        l1_case((6, 4), 0.1, 20.0, 10, "w (6, 4)"),
        l1_case((5,), 0.3, 1.5, 4, "w (5,)"),
        l1_case((4, 5), 0.05, 8.0, 16, "w (4, 5) with exact zeros", zeros=True),
        l1_case((3, 2), 0.2, 0.0, 10, "w (3, 2), λ = 0"),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 7.3 dropout
def check_dropout_forward(dropout_forward: Any = None,
                          dropout_backward: Any = None) -> None:
    """Exercise 7.3: ``dropout_forward(x, *, p, training, rng)`` -> (out, cache) and
    ``dropout_backward(dout, cache)`` -> dx, inverted dropout, eqs. (7.14)-(7.16)."""
    forward = learner_function(dropout_forward, "dropout_forward")
    backward = learner_function(dropout_backward, "dropout_backward")
    eq, eq_mean, eq_back = EQ["dropout"], EQ["dropout_mean"], EQ["dropout_backward"]
    rule = (f"in training y = m ⊙ x / q with m_i ~ Bernoulli(q), q = 1 − p, and in "
            f"evaluation y = x, eq. {eq}")
    back_rule = f"dx = m ⊙ dy / q with the mask m of the forward pass, eq. {eq_back}"

    def data(shape, seed):
        r = np.random.default_rng(seed)
        # no zeros, so that the kept entries are exactly the non-zero outputs
        return r.uniform(0.5, 2.0, shape) * r.choice([-1.0, 1.0], shape), \
            r.standard_normal(shape)

    def run_forward(fn, x, p, training, rng, name):
        arg = x.copy()
        out = fn(arg, p=p, training=training, rng=rng)
        _unchanged("dropout_forward", [arg], [x])
        if not isinstance(out, (tuple, list)) and np.shape(out) == x.shape:
            raise CheckFailed("dropout_forward returned one array; return the pair "
                              "(out, cache), the cache holding what dropout_backward "
                              "needs (the mask and q).")
        y, cache = _tuple(out, 2, "(out, cache)")
        return shaped_array(y, x.shape, "out "
                                        f"{name}", {}, "out has the shape of x"), cache

    def run_backward(dout, cache, name):
        if backward is None:
            raise missing_function("dropout_backward", "7.3")
        arg = dout.copy()
        dx = backward(arg, cache)
        _unchanged("dropout_backward", [arg], [dout])
        return shaped_array(dx, dout.shape, "dx "
                                            f"{name}", {}, "dx has the shape of dout")

    def train_case(shape, p, seed, what):
        x, dout = data(shape, seed)

        def run(fn):
            name = f"for {what}, p = {p:g}, training=True"
            rng = np.random.default_rng(seed + 1)
            y, cache = run_forward(fn, x, p, True, rng, name)
            q = 1.0 - p
            kept = y != 0
            if p > 0 and kept.all():
                if close(y, x):
                    raise CheckFailed(f"{name}: nothing was dropped; in training each "
                                      f"entry is dropped with probability p, {rule}.")
                raise CheckFailed(f"{name}: no entry is 0; each entry is dropped (set "
                                  f"to 0) with probability p, {rule}.")
            ratio = y[kept] / x[kept]
            if ratio.size and not close(ratio, np.full(ratio.shape, 1 / q)):
                scales = [
                    (1.0, "the kept entries are not rescaled (the original dropout, "
                          "which scales at test time instead); inverted dropout "
                          "divides them by q = 1 − p, so that E[y_i] = x_i, eq. "
                          f"{eq_mean}, and evaluation needs no change: {rule}"),
                    (1 / p if p else math.inf,
                     "the kept entries are divided by p; divide by the probability of "
                     f"keeping, q = 1 − p, so that E[y_i] = x_i, eq. {eq_mean}: "
                     f"{rule}"),
                    (q, "the kept entries are multiplied by q; that is the test-time "
                        "rule of the original dropout. Inverted dropout divides by q "
                        f"during training, eq. {eq_mean}: {rule}"),
                    (p, "the kept entries are multiplied by p; inverted dropout "
                        f"divides them by q = 1 − p, eq. {eq_mean}: {rule}"),
                ]
                for scale, hint in scales:
                    if close(ratio, np.full(ratio.shape, scale)):
                        raise CheckFailed(f"{name}: {hint}.")
                raise CheckFailed(f"{name}: every output entry is either 0 (dropped) "
                                  f"or x_i/q = x_i/{q:g} (kept), {rule}.")
            frac, size = float(kept.mean()), kept.size
            slack = 5 * math.sqrt(p * q / size) + 0.01
            if abs(frac - q) > slack:
                if abs(frac - p) <= slack:
                    raise CheckFailed(f"{name}: {frac:.0%} of the entries were kept, "
                                      "about p; p is the probability of dropping (as "
                                      "in torch.nn.Dropout), so keep each entry with "
                                      f"probability q = 1 − p: {rule}.")
                raise CheckFailed(f"{name}: {frac:.1%} of the entries were kept, "
                                  f"expected about q = {q:.0%}: {rule}.")
            if p > 0 and shape[0] > 1 and (kept == kept[:1]).all():
                raise CheckFailed(f"{name}: every example got the same mask; draw one "
                                  "Bernoulli variable per entry, rng.random(x.shape) "
                                  "< q, so that each example is thinned differently, "
                                  f"{rule}.")
            rows = kept.reshape(shape[0], -1)
            whole = rows.all(axis=1) | ~rows.any(axis=1)
            if p > 0 and rows.shape[1] > 1 and whole.all():
                raise CheckFailed(f"{name}: whole examples were dropped; dropout drops "
                                  "single units, one Bernoulli variable per entry of "
                                  f"x, {rule}.")
            dx = run_backward(dout, cache, name)
            want = kept * dout / q
            nonzero = dx != 0
            # dx of the form m' ⊙ dout / q, with a mask m' of its own
            other_mask = (nonzero.any() and not nonzero.all()
                          and not np.array_equal(nonzero, kept)
                          and close(dx[nonzero] / dout[nonzero],
                                    np.full(nonzero.sum(), 1 / q)))
            if other_mask and not close(dx, want):
                raise CheckFailed(f"dropout_backward, dx {name}: the backward pass "
                                  "used another mask than the forward pass; keep the "
                                  f"mask in the cache and reuse it, {back_rule}.")
            mistakes = {
                "the mask is not applied: a dropped unit did not reach the output, so "
                f"it gets no gradient, {back_rule}": dout,
                f"the division by q is missing: the forward pass divides by q, so the "
                f"backward pass does too, {back_rule}": kept * dout,
                f"the mask is missing, only the division by q is there: {back_rule}":
                    dout / q,
            }
            if p > 0:
                mistakes[f"dx is divided by p; divide by q = 1 − p, {back_rule}"] = \
                    kept * dout / p
            expect(dx, want, f"dx {name}", _named("dropout_backward", mistakes))
        return run

    def eval_case(shape, p, seed, what):
        x, dout = data(shape, seed)

        def run(fn):
            name = f"for {what}, p = {p:g}, training=False"
            rng = np.random.default_rng(seed + 1)
            y, cache = run_forward(fn, x, p, False, rng, name)
            q = 1.0 - p
            if not close(y, x):
                if close(y, x * q):
                    raise CheckFailed(f"{name}: the output is multiplied by q; that is "
                                      "the test-time rule of the original dropout. "
                                      "With inverted dropout the rescaling happens in "
                                      "training, and evaluation returns x unchanged: "
                                      f"{rule}.")
                if close(y, x / q):
                    raise CheckFailed(f"{name}: the output is divided by q; in "
                                      "evaluation dropout does nothing, y = x: "
                                      f"{rule}.")
                if np.any(y == 0):
                    raise CheckFailed(f"{name}: entries were dropped in evaluation "
                                      "mode; with training=False every unit is kept "
                                      f"and y = x, {rule}.")
                raise CheckFailed(f"{name}: in evaluation y = x, {rule}.")
            dx = run_backward(dout, cache, name)
            expect(dx, dout, f"dx {name}", _named("dropout_backward", {
                "in evaluation the forward pass is the identity, so dx = dout, with "
                f"no division by q, eq. {eq_back}": dout / q,
                "in evaluation the forward pass is the identity, so dx = dout, with "
                f"no factor q, eq. {eq_back}": dout * q,
            }))
        return run

    def rng_case(shape, p):
        x, _ = data(shape, 730)

        def run(fn):
            name = f"for x {shape}, p = {p:g}"
            first, _ = run_forward(fn, x, p, True, np.random.default_rng(7), name)
            again, _ = run_forward(fn, x, p, True, np.random.default_rng(7), name)
            if not np.array_equal(first, again):
                raise CheckFailed("two runs with np.random.default_rng(7) dropped "
                                  "different entries; draw the mask from the `rng` "
                                  "argument (rng.random(x.shape) < q), not from "
                                  "np.random, so that a seeded run can be repeated.")
            rng = np.random.default_rng(8)
            one, _ = run_forward(fn, x, p, True, rng, name)
            two, _ = run_forward(fn, x, p, True, rng, name)
            if np.array_equal(one, two) or np.array_equal(one, first):
                raise CheckFailed(f"{name}: the same entries were dropped on two calls "
                                  "(or with two seeds); every call draws a new mask "
                                  f"from `rng`, {rule}.")
        return run

    run_checks("dropout_forward", "7.3", forward, [
        train_case((200, 50), 0.2, 731, "x (200, 50)"),
        train_case((100, 40), 0.5, 732, "x (100, 40)"),
        train_case((8, 4, 6, 6), 0.3, 733, "a batch of feature maps x (8, 4, 6, 6)"),
        train_case((200, 50), 0.9, 734, "x (200, 50)"),
        train_case((1, 2000), 0.4, 735, "a single example x (1, 2000)"),
        train_case((30, 20), 0.0, 736, "x (30, 20), nothing dropped"),
        eval_case((50, 20), 0.3, 737, "x (50, 20)"),
        eval_case((4, 3, 5, 5), 0.5, 738, "x (4, 3, 5, 5)"),
        rng_case((40, 30), 0.5),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ batch norm, referen
def _bn_axes(ndim: int) -> tuple[int, ...]:
    """The axes that batch norm averages over: all but the channel axis 1."""
    return (0,) if ndim == 2 else (0,) + tuple(range(2, ndim))


def _per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    """(C,) -> (1, C, 1, 1): broadcasts along axis 1 of an (N, C, ...) array."""
    return np.reshape(v, (1, -1) + (1,) * (ndim - 2))


def _bn_forward(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1,
                eps=1e-5, axes=None, norm_var="biased", eps_mode="inside",
                run_var="unbiased", run_count="m", keras=False, eval_batch=False):
    """(out, new running_mean, new running_var) of batch norm, eqs. (7.17)-(7.21).

    Training normalises with the batch mean and the biased batch variance and moves the
    running statistics by ``momentum`` towards the batch mean and the unbiased batch
    variance (torch's rule); evaluation normalises with the running statistics. The
    keywords make mistakes: other ``axes``, the unbiased variance to normalise
    (``norm_var``), ε outside the root, no ε or no root (``eps_mode``), the biased
    variance or N/(N − 1) in the running estimate (``run_var``, ``run_count``), the
    momentum weighting the old value (``keras``), batch statistics in evaluation.
    """
    nd = x.ndim
    right = axes is None
    axes = _bn_axes(nd) if right else axes
    m = int(np.prod([x.shape[a] for a in axes]))
    new_mean, new_var = running_mean.copy(), running_var.copy()
    if training or eval_batch:
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True, ddof=1 if norm_var == "unbiased" else 0)
        if training and right:
            batch_var = x.var(axis=axes)
            count = m if run_count == "m" else x.shape[0]
            if run_var == "unbiased":
                batch_var = batch_var * count / (count - 1)
            new_w = 1 - momentum if keras else momentum
            new_mean = (1 - new_w) * running_mean + new_w * x.mean(axis=axes)
            new_var = (1 - new_w) * running_var + new_w * batch_var
    else:
        mean, var = _per_channel(running_mean, nd), _per_channel(running_var, nd)
    with np.errstate(all="ignore"):
        if eps_mode == "inside":
            x_hat = (x - mean) / np.sqrt(var + eps)
        elif eps_mode == "outside":
            x_hat = (x - mean) / (np.sqrt(var) + eps)
        elif eps_mode == "none":
            x_hat = (x - mean) / np.sqrt(var)
        else:                                      # "no_sqrt"
            x_hat = (x - mean) / (var + eps)
    return _per_channel(gamma, nd) * x_hat + _per_channel(beta, nd), new_mean, new_var


def _bn_backward(dout, x, gamma, eps=1e-5, *, kind="right"):
    """(dx, dgamma, dbeta) of training-mode batch norm, eqs. (7.22) and (7.23).

    dx̂ = γ dy; dx = (m dx̂ − Σ dx̂ − x̂ Σ dx̂ x̂) / (m √(σ²_B + ε)), sums per channel.
    ``kind`` makes a mistake: "constants" (μ_B, σ²_B held fixed), "no_mean" or
    "no_var" (a term missing), "no_gamma", "count_n" (m = N for (N, C, H, W)),
    "unbiased" (x̂ from the unbiased variance).
    """
    nd = x.ndim
    axes = _bn_axes(nd)
    m = x.size // x.shape[1]
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=1 if kind == "unbiased" else 0)
    std = np.sqrt(var + eps)
    x_hat = (x - mean) / std
    dx_hat = dout if kind == "no_gamma" else dout * _per_channel(gamma, nd)
    s1 = dx_hat.sum(axis=axes, keepdims=True)
    s2 = (dx_hat * x_hat).sum(axis=axes, keepdims=True)
    mm = x.shape[0] if kind == "count_n" else m
    if kind == "constants":
        dx = dx_hat / std
    elif kind == "no_mean":
        dx = (mm * dx_hat - x_hat * s2) / (mm * std)
    elif kind == "no_var":
        dx = (mm * dx_hat - s1) / (mm * std)
    else:
        dx = (mm * dx_hat - s1 - x_hat * s2) / (mm * std)
    return dx, (dout * x_hat).sum(axis=axes), dout.sum(axis=axes)


def _bn_call(fn, args, kwargs):
    """Call the learner's batch norm; a broadcasting error gets a hint."""
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        if "broadcast" not in str(exc):
            raise
        msg, c = str(exc), np.shape(args[0])[1]
        shapes = re.findall(r"\([\d, ]*\)", msg)
        line = _where(exc)
        # an in-place update names the output last: the (C,) of a running statistic
        if f"into shape ({c},)" in msg or shapes[2:] == [f"({c},)"]:
            raise CheckFailed(f"raised ValueError{line}, arrays that do not broadcast; "
                              "running_mean and running_var have one entry per "
                              "channel, shape (C,): for feature maps (N, C, H, W) "
                              "average over axes (0, 2, 3), eq. "
                              f"{EQ['bn_mean']}") from None
        raise CheckFailed(f"raised ValueError{line}, arrays that do not broadcast; γ, "
                          "β and the statistics have one entry per channel, shape "
                          "(C,): for x (N, C, H, W) reshape them to (1, C, 1, 1) so "
                          "that they line up with axis 1, eq. "
                          f"{EQ['bn_affine']}") from None


def _bn_data(rng, shape, tiny=False):
    """x with its own mean and scale per channel; γ, β; running statistics (C,)."""
    nd, c = len(shape), shape[1]
    loc = _per_channel(rng.normal(0.0, 2.0, c), nd)
    scale = _per_channel(rng.uniform(0.5, 3.0, c), nd)
    x = loc + scale * rng.standard_normal(shape)
    if tiny:                       # a channel of variance ~1e-4 and a constant one
        x[:, 0] = 1.0 + 1e-2 * rng.standard_normal(x[:, 0].shape)
        x[:, 1] = -0.5
    gamma = rng.uniform(0.5, 2.0, c) * rng.choice([-1.0, 1.0], c)
    beta = rng.normal(0.0, 1.0, c)
    return x, gamma, beta


# ------------------------------------------------------------------ 7.4 BN forward
def check_batch_norm_forward(fn: Any = None) -> None:
    """Exercise 7.4: ``batch_norm_forward(x, gamma, beta, running_mean, running_var, *,
    training, momentum=0.1, eps=1e-5)`` -> out, eqs. (7.17)-(7.21)."""
    fn = learner_function(fn, "batch_norm_forward")
    rng = np.random.default_rng(74)
    eq_mu, eq_var, eq_hat = EQ["bn_mean"], EQ["bn_var"], EQ["bn_normalise"]
    eq_aff, eq_run = EQ["bn_affine"], EQ["bn_running"]
    norm = f"x̂ = (x − μ_B)/√(σ²_B + ε), y = γ x̂ + β, eqs. {eq_hat} and {eq_aff}"
    run_rule = (f"μ_run ← (1 − α) μ_run + α μ_B and σ²_run ← (1 − α) σ²_run + "
                f"α · m/(m − 1) · σ²_B, with α = momentum, eq. {eq_run}")
    in_place = ("the running statistics were not updated in place: they are state "
                "that lives in the caller's arrays, as with "
                "torch.nn.functional.batch_norm; write into them (running_mean *= 1 - "
                "momentum; running_mean += ..., or running_mean[...] = ...), since "
                f"`running_mean = ...` only rebinds the local name: {run_rule}")

    def case(shape, what, modes, *, momentum=0.1, eps=1e-5, tiny=False):
        c = shape[1]
        batches = [_bn_data(rng, shape, tiny) for _ in modes]
        gamma, beta = batches[0][1], batches[0][2]
        mean0 = rng.normal(0.0, 1.0, c)
        var0 = rng.uniform(0.5, 2.0, c)

        def run(fn):
            mean, var = mean0.copy(), var0.copy()        # the learner's running arrays
            ref_mean, ref_var = mean0.copy(), var0.copy()
            for step, (training, (x, _, _)) in enumerate(zip(modes, batches)):
                name = f"for {what}, training={training}"
                if len(modes) > 1:
                    name += f" (call {step + 1} of {len(modes)})"
                kwargs: dict[str, Any] = {"training": training}
                if momentum != 0.1:
                    kwargs["momentum"] = momentum
                if eps != 1e-5:
                    kwargs["eps"] = eps
                args = [x.copy(), gamma.copy(), beta.copy()]
                before_mean, before_var = mean.copy(), var.copy()
                got = _bn_call(fn, args + [mean, var], kwargs)
                _unchanged("batch_norm_forward", args, [x, gamma, beta])
                if isinstance(got, (tuple, list)):
                    raise CheckFailed("batch_norm_forward returned a "
                                      f"{type(got).__name__}; return the array out "
                                      "alone, and update running_mean and running_var "
                                      "in place.")
                got = shaped_array(got, x.shape, f"out {name}", {},
                                   "out has the shape of x")

                def variant(**kw):
                    return _bn_forward(x, gamma, beta, ref_mean, ref_var,
                                       training=training, momentum=momentum, eps=eps,
                                       **kw)

                want, new_mean, new_var = variant()
                if training:
                    over = ("over the batch axis 0, one mean and variance per feature"
                            if x.ndim == 2 else "over the axes N, H and W, "
                            "axis=(0, 2, 3), one mean and variance per channel")
                    mistakes = {
                        "x is normalised with the unbiased variance (ddof=1); batch "
                        "norm normalises with the biased σ²_B = (1/m) Σ (x_i − μ_B)², "
                        f"eq. {eq_var} (the unbiased one only goes into running_var)":
                            variant(norm_var="unbiased")[0],
                        "ε is added outside the square root; it goes inside, √(σ²_B + "
                        f"ε), {norm}": variant(eps_mode="outside")[0],
                        "ε is missing: without it a channel of (nearly) constant "
                        "values divides by (nearly) 0, "
                        f"{norm}": variant(eps_mode="none")[0],
                        "x − μ_B is divided by the variance; divide by the standard "
                        "deviation √(σ²_B + ε), "
                        f"{norm}": variant(eps_mode="no_sqrt")[0],
                        "the statistics are taken over all the entries at once; batch "
                        f"norm averages {over}, eqs. {eq_mu} and {eq_var}":
                            variant(axes=tuple(range(x.ndim)))[0],
                    }
                    if x.ndim == 2:
                        mistakes["each example (row) is normalised over its features "
                                 "(axis 1), which is layer normalisation; batch norm "
                                 f"averages {over}, eq. "
                                 f"{eq_mu}"] = variant(axes=(1,))[0]
                    else:
                        mistakes["the statistics are taken over the batch axis only, "
                                 "one per pixel; for feature maps batch norm averages "
                                 f"{over}, eq. {eq_mu}"] = variant(axes=(0,))[0]
                        mistakes["each feature map is normalised over its own H and "
                                 "W, which is instance normalisation; batch norm "
                                 f"averages {over}, eq. "
                                 f"{eq_mu}"] = variant(axes=(2, 3))[0]
                else:
                    updated = _bn_forward(x, gamma, beta, ref_mean, ref_var,
                                          training=True, momentum=momentum, eps=eps)[1:]
                    mistakes = {
                        "evaluation used the statistics of the batch; in evaluation "
                        "batch norm uses the running statistics, x̂ = (x − "
                        "μ_run)/√(σ²_run + ε), so that an example's output does not "
                        "depend on the rest of its batch, eq. "
                        f"{eq_run}": variant(eval_batch=True)[0],
                        f"ε is added outside the square root; it goes inside, "
                        f"√(σ²_run + ε), eq. {eq_run}": variant(eps_mode="outside")[0],
                        f"x − μ_run is divided by the running variance; divide by "
                        f"√(σ²_run + ε), eq. {eq_run}": variant(eps_mode="no_sqrt")[0],
                        "the running statistics were updated in evaluation mode, with "
                        "this batch, before they were used; only training updates "
                        f"them, eq. {eq_run}": _bn_forward(x, gamma, beta, *updated,
                                                        training=False, eps=eps)[0],
                    }
                nd = x.ndim
                x_hat = (want - _per_channel(beta, nd)) / _per_channel(gamma, nd)
                mistakes[f"γ and β are not applied: y = γ x̂ + β, eq. {eq_aff}"] = x_hat
                mistakes[f"γ and β are swapped: y = γ x̂ + β, eq. {eq_aff}"] = \
                    _per_channel(beta, nd) * x_hat + _per_channel(gamma, nd)
                expect(got, want, f"out {name}", mistakes)
                if not training:
                    if not (np.array_equal(mean, before_mean) and
                            np.array_equal(var, before_var)):
                        raise CheckFailed(f"{name}: the running statistics changed in "
                                          "evaluation mode; only training updates "
                                          f"them, eq. {eq_run}.")
                    continue
                if np.array_equal(mean, before_mean) and \
                        np.array_equal(var, before_var):
                    raise CheckFailed(f"{name}: {in_place}.")
                keras = variant(keras=True)
                expect(mean, new_mean, f"running_mean after the call {name}", {
                    f"running_mean was not updated in place, {in_place}": before_mean,
                    f"the momentum weights the old value: in torch's convention α = "
                    f"momentum = 0.1 is the weight of the new batch, {run_rule} (Keras "
                    f"calls 1 − α its momentum, 0.99)": keras[1],
                    "running_mean was replaced by the batch mean; it moves only a "
                    f"step α towards it, {run_rule}": x.mean(axis=_bn_axes(x.ndim)),
                })
                m = x.size // c
                count_n = {}
                if x.ndim > 2:
                    count_n[f"the correction uses N/(N − 1); m counts every value of a "
                            f"channel, m = N·H·W = {m}, so the factor is m/(m − 1), "
                            f"{run_rule}"] = variant(run_count="N")[2]
                expect(var, new_var, f"running_var after the call {name}", {
                    f"running_var was not updated in place, {in_place}": before_var,
                    "running_var is updated with the biased batch variance; it "
                    "estimates the variance of the whole data, so it takes the "
                    f"unbiased m/(m − 1) · σ²_B (as torch does), {run_rule}":
                        variant(run_var="biased")[2],
                    "the momentum weights the old value: in torch's convention α = "
                    "momentum = 0.1 is the weight of the new batch, "
                    f"{run_rule}": keras[2],
                    "running_var is updated with the standard deviation; it holds a "
                    "variance, "
                    f"{run_rule}": (1 - momentum) * ref_var + momentum * np.sqrt(
                        x.var(axis=_bn_axes(x.ndim)) * m / (m - 1)),
                    **count_n,
                })
                ref_mean, ref_var = new_mean, new_var
        return run

    run_checks("batch_norm_forward", "7.4", fn, [
        case((16, 5), "x (16, 5)", [True]),
        case((6, 3), "a small batch, x (6, 3)", [True]),
        case((4, 3, 5, 6), "feature maps x (4, 3, 5, 6)", [True]),
        case((10, 4), "x (10, 4)", [False]),
        case((3, 2, 4, 5), "feature maps x (3, 2, 4, 5)", [False]),
        case((8, 4), "x (8, 4), ε = 10⁻³, a channel of tiny variance and a constant "
                     "one",
             [True, False], eps=1e-3, tiny=True),
        case((12, 3), "x (12, 3), momentum 0.3", [True, True, False], momentum=0.3),
        case((5, 4, 3, 2), "three training batches, then evaluation, x (5, 4, 3, 2)",
             [True, True, True, False]),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 7.5 BN backward
def check_batch_norm_backward(fn: Any = None) -> None:
    """Exercise 7.5: ``batch_norm_backward(dout, x, gamma, *, eps=1e-5)`` ->
    (dx, dgamma, dbeta) in training mode, eqs. (7.22) and (7.23)."""
    fn = learner_function(fn, "batch_norm_backward")
    rng = np.random.default_rng(75)
    eq, eq_p = EQ["bn_backward"], EQ["bn_param_grads"]
    dx_rule = (f"dx̂ = γ dy and dx_i = (m dx̂_i − Σ_j dx̂_j − x̂_i Σ_j dx̂_j x̂_j) / "
               f"(m √(σ²_B + ε)), eq. {eq}")
    p_rule = f"dγ = Σ_i dy_i x̂_i and dβ = Σ_i dy_i, per channel, eq. {eq_p}"

    def case(shape, what, *, eps=1e-5):
        x, gamma, _ = _bn_data(rng, shape)
        dout = rng.standard_normal(shape)

        def run(fn):
            n, c = shape[:2]
            name = f"for {what}"
            args = [dout.copy(), x.copy(), gamma.copy()]
            kwargs = {} if eps == 1e-5 else {"eps": eps}
            out = _tuple(_bn_call(fn, args, kwargs), 3, "(dx, dgamma, dbeta)")
            _unchanged("batch_norm_backward", args, [dout, x, gamma])
            want = _bn_backward(dout, x, gamma, eps)
            sums = "sum over the batch" + ("" if len(shape) == 2 else
                                           " and the positions")
            hints = {(n, c): f"it is not summed over the batch: {p_rule}",
                     (): f"it has one entry per channel; do not sum over the channels: "
                         f"{p_rule}",
                     (1, c) + (1,) * (len(shape) - 2): "drop the kept axes "
                                                       "(keepdims): shape (C,), "
                                                       f"{p_rule}"}
            if len(shape) > 2:
                hints[tuple(shape[1:])] = (f"it is summed over the batch only; {sums}, "
                                           f"axis=(0, 2, 3): {p_rule}")
            dgamma = shaped_array(out[1], (c,), f"dgamma {name}", hints,
                                  f"dgamma has shape (C,): {p_rule}")
            dbeta = shaped_array(out[2], (c,), f"dbeta {name}", hints,
                                 f"dbeta has shape (C,): {p_rule}")
            dx = shaped_array(out[0], shape, f"dx {name}", {}, "dx has the shape of x")
            if close(dgamma, want[2]) and close(dbeta, want[1]):
                raise CheckFailed(f"dgamma and dbeta are swapped: return (dx, dgamma, "
                                  f"dbeta), in this order, {p_rule}.")
            m = x.size // c
            expect(dbeta, want[2], f"dbeta {name}", {
                f"dbeta is a sum, not a mean: {p_rule}": want[2] / m})
            unbiased = _bn_backward(dout, x, gamma, eps, kind="unbiased")
            expect(dgamma, want[1], f"dgamma {name}", {
                "dgamma is Σ dy_i x̂_i, with the normalised input x̂: "
                f"{p_rule}": want[2],
                f"dgamma pairs dy with x̂, not with x: {p_rule}":
                    (dout * x).sum(axis=_bn_axes(x.ndim)),
                f"dgamma is a sum, not a mean: {p_rule}": want[1] / m,
                "x̂ was computed with the unbiased variance; the forward pass "
                "normalises with the biased σ²_B = (1/m) Σ (x_i − μ_B)², eq. "
                f"{EQ['bn_var']}":
                    unbiased[1],
            })
            mistakes = {
                f"μ_B and σ²_B were treated as constants (dx = γ dy/√(σ²_B + ε)); both "
                f"depend on every x_i of the batch, which adds the two sums: {dx_rule}":
                    _bn_backward(dout, x, gamma, eps, kind="constants")[0],
                "the term − Σ_j dx̂_j is missing; it comes from the dependence of μ_B "
                "on x_i: "
                f"{dx_rule}": _bn_backward(dout, x, gamma, eps, kind="no_mean")[0],
                "the term − x̂_i Σ_j dx̂_j x̂_j is missing; it comes from the "
                f"dependence of σ²_B on x_i: {dx_rule}":
                    _bn_backward(dout, x, gamma, eps, kind="no_var")[0],
                f"γ is missing: the upstream gradient of x̂ is dx̂ = γ dy, {dx_rule}":
                    _bn_backward(dout, x, gamma, eps, kind="no_gamma")[0],
                "x̂ was computed with the unbiased variance; the forward pass "
                f"normalises with the biased σ²_B, eq. {EQ['bn_var']}": unbiased[0],
            }
            if len(shape) > 2:
                mistakes["m is the batch size N; for feature maps each channel "
                         f"averages m = N·H·W = {m} values, and the sums run over the "
                         "same axes, "
                         f"{dx_rule}"] = _bn_backward(dout, x, gamma, eps,
                                                      kind="count_n")[0]
            expect(dx, want[0], f"dx {name}", mistakes, rtol=1e-5, atol=1e-8)
        return run

    run_checks("batch_norm_backward", "7.5", fn, [
        case((8, 4), "x (8, 4)"),
        case((5, 3), "x (5, 3)"),
        case((2, 6), "a batch of two, x (2, 6)"),
        case((4, 3, 5, 6), "feature maps x (4, 3, 5, 6)"),
        case((3, 2, 4, 5), "feature maps x (3, 2, 4, 5)"),
        case((10, 5), "x (10, 5), ε = 0.1", eps=0.1),
        case((64, 7), "a larger batch, x (64, 7)"),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 7.6 early stopping
def _early_stopping(losses, patience, *, compare="best", strict=True, reset=True,
                    offset=0) -> tuple[int, int]:
    """(best epoch, epochs trained) of early stopping on a list of validation losses.

    An epoch improves when its loss is strictly below the best so far; training stops
    once ``patience`` epochs in a row have not improved. Mistakes: ``compare``
    "previous" (the counter compares with the last epoch), "first_increase" (stop at
    the first loss above the previous one), ``strict`` False (ties improve), ``reset``
    False (the counter is never reset), ``offset`` ±1 (stop at patience ± 1).
    """
    best, best_epoch, wait, previous = math.inf, -1, 0, math.inf
    for epoch, loss in enumerate(losses):
        improved = loss < best if strict else loss <= best
        if improved:
            best, best_epoch = loss, epoch
        if compare == "first_increase":
            if loss > previous:
                return best_epoch, epoch + 1
        else:
            better = loss < previous if compare == "previous" else improved
            if better and reset:
                wait = 0
            elif not better:
                wait += 1
            if wait >= patience + offset:
                return best_epoch, epoch + 1
        previous = loss
    return best_epoch, len(losses)


def _toy_model(torch: Any, rng: np.random.Generator) -> Any:
    """A linear layer and a batch norm: parameters and buffers, like a real network.

    It counts the calls of load_state_dict, to tell a state that was never loaded back
    from one that was saved without a copy.
    """
    class Toy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 2)
            self.norm = torch.nn.BatchNorm1d(2)
            self.loads = 0

        def forward(self, x):
            return self.norm(self.linear(x))

        def load_state_dict(self, *args, **kwargs):
            self.loads += 1
            return super().load_state_dict(*args, **kwargs)

    model = Toy()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.as_tensor(rng.standard_normal(tuple(p.shape))))
    return model


def check_train_with_early_stopping(fn: Any = None) -> None:
    """Exercise 7.6: ``train_with_early_stopping(model, train_epoch, val_loss, *,
    max_epochs, patience)`` -> (best_epoch, history)."""
    fn = learner_function(fn, "train_with_early_stopping")
    rule = ("after every epoch, record the validation loss; an epoch whose loss is "
            "below the best so far becomes the best (save a copy of "
            "model.state_dict()); stop when `patience` epochs in a row bring no new "
            "best, or after max_epochs; then load the saved state back into the model")

    def case(losses, patience, what, seed):
        max_epochs = len(losses)

        def run(fn):
            import torch

            rng = np.random.default_rng(seed)
            model = _toy_model(torch, rng)
            snapshots: list[dict] = []
            train_losses = [2.0 / (k + 1) for k in range(max_epochs)]

            def train_epoch(m):
                if m is not model:
                    raise CheckFailed("train_epoch was called with another object "
                                      "than the model passed in; train the model "
                                      "itself, train_epoch(model).")
                if len(snapshots) >= max_epochs:
                    raise CheckFailed("train_epoch was called more than max_epochs = "
                                      f"{max_epochs} times; train for at most "
                                      "max_epochs epochs.")
                with torch.no_grad():       # an optimizer changes the tensors in place
                    for p in model.parameters():
                        p.add_(torch.as_tensor(rng.standard_normal(tuple(p.shape)),
                                               dtype=p.dtype))
                    model.norm.running_mean.add_(torch.as_tensor(rng.standard_normal(2),
                                                                 dtype=torch.float32))
                    model.norm.num_batches_tracked.add_(10)
                snapshots.append({k: v.detach().clone()
                                  for k, v in model.state_dict().items()})
                return train_losses[len(snapshots) - 1]

            def val_loss(m):
                return float(losses[len(snapshots) - 1]) if snapshots else 10.0

            name = f"for {what} (patience {patience}, max_epochs {max_epochs})"
            out = _tuple(fn(model, train_epoch, val_loss, max_epochs=max_epochs,
                            patience=patience), 2, "(best_epoch, history)")
            best_epoch, history = out
            epochs = len(snapshots)
            if isinstance(history, np.ndarray):
                history = history.tolist()
            if not isinstance(history, (list, tuple)):
                raise CheckFailed(f"{name}: history is a list of the validation "
                                  "losses, one per epoch; got "
                                  f"{type(history).__name__}.")
            try:
                history = [float(v) for v in history]
            except (TypeError, ValueError):
                raise CheckFailed(f"{name}: history holds numbers, the validation "
                                  "losses of the epochs.") from None
            seen = [float(v) for v in losses[:epochs]]
            if history != seen:
                if history[1:] == seen and history[:1] == [10.0]:
                    raise CheckFailed(f"{name}: history starts with the loss before "
                                      "training; record the validation loss after "
                                      "each epoch only, one entry per epoch trained.")
                if history == train_losses[:epochs]:
                    raise CheckFailed(f"{name}: history holds the values returned by "
                                      f"train_epoch, the training losses; record "
                                      f"val_loss(model), the validation losses.")
                if len(history) != epochs:
                    raise CheckFailed(f"{name}: history has {len(history)} entries, "
                                      f"but {epochs} epochs were trained; append "
                                      "val_loss(model) once after every epoch.")
                raise CheckFailed(f"{name}: history is not the list of validation "
                                  "losses val_loss(model) after each epoch.")
            want_best, want_epochs = _early_stopping(losses, patience)
            if epochs != want_epochs:
                variants = [
                    (dict(strict=False), "an equal loss counted as an improvement; "
                                         "only a loss strictly below the best so far "
                                         "is one"),
                    (dict(compare="first_increase"),
                     "it stopped at the first epoch whose loss went up; a validation "
                     "loss is noisy and often rises for an epoch or two before it "
                     "falls again, so wait `patience` epochs without a new best"),
                    (dict(offset=1), "it trained one epoch too many: stop as soon as "
                                     "`patience` epochs in a row have brought no new "
                                     "best (counter ≥ patience)"),
                    (dict(offset=-1), "it stopped one epoch too early: stop after "
                                      "`patience` epochs in a row without a new best, "
                                      "not patience − 1"),
                    (dict(reset=False), "the counter of epochs without improvement is "
                                        "not set back to 0 when the loss improves; "
                                        "patience counts the epochs in a row since "
                                        "the last best"),
                    (dict(compare="previous"), "each epoch is compared with the "
                                               "previous one; compare it with the "
                                               "best loss so far, a loss that goes "
                                               "down again without beating the best "
                                               "is no improvement"),
                ]
                for kw, hint in variants:
                    if _early_stopping(losses, patience, **kw)[1] == epochs:
                        raise CheckFailed(f"{name}: it trained {epochs} epochs, "
                                          f"expected {want_epochs}: {hint}.")
                if epochs == max_epochs:
                    raise CheckFailed(f"{name}: it trained all {epochs} epochs, "
                                      f"expected to stop after {want_epochs}: {rule}.")
                raise CheckFailed(f"{name}: it trained {epochs} epochs, expected "
                                  f"{want_epochs}: {rule}.")
            if isinstance(best_epoch, (float, np.floating)) and \
                    float(best_epoch) == min(seen) and min(seen) != want_best:
                raise CheckFailed(f"{name}: best_epoch is the best loss; return the "
                                  "index of its epoch in history.")
            if isinstance(best_epoch, (bool, np.bool_)) or not isinstance(
                    best_epoch, (int, np.integer)):
                raise CheckFailed(f"{name}: best_epoch is an int, the index in history "
                                  "of the best epoch; got "
                                  f"{type(best_epoch).__name__}.")
            if int(best_epoch) != want_best:
                if int(best_epoch) == want_best + 1:
                    raise CheckFailed(f"{name}: best_epoch is {int(best_epoch)}, "
                                      f"expected {want_best}: it counts from 0, the "
                                      "index of the best loss in history "
                                      "(history[best_epoch] is the lowest loss).")
                ties = _early_stopping(losses, patience, strict=False)[0]
                if ties == int(best_epoch):
                    raise CheckFailed(f"{name}: best_epoch is {int(best_epoch)}, "
                                      f"expected {want_best}: an equal loss counted as "
                                      "an improvement; only a loss strictly below the "
                                      "best so far is one.")
                raise CheckFailed(f"{name}: best_epoch is {int(best_epoch)}, expected "
                                  f"{want_best}, the index of the lowest loss in "
                                  "history.")
            final = model.state_dict()
            params = [k for k, _ in model.named_parameters()]
            buffers = [k for k, _ in model.named_buffers()]

            def states(keys):
                return [k for k, s in enumerate(snapshots)
                        if all(torch.equal(final[key], s[key]) for key in keys)]

            at, buf_at = states(params), states(buffers)
            if want_best in at and want_best in buf_at:
                return
            if want_best in at:
                raise CheckFailed(f"{name}: the weights of epoch {want_best} are back, "
                                  "but not its buffers (the running statistics of "
                                  "batch norm); save and load the whole "
                                  "model.state_dict(), which holds both.")
            if at == [epochs - 1]:
                if model.loads:
                    raise CheckFailed(f"{name}: the model was left in the state of its "
                                      "last epoch although load_state_dict was "
                                      "called: model.state_dict() holds references to "
                                      "the live tensors, which training keeps "
                                      "changing, so save a copy, "
                                      "copy.deepcopy(model.state_dict()).")
                if want_epochs == max_epochs:
                    raise CheckFailed(f"{name}: the loop ran to max_epochs and the "
                                      "model kept the state of its last epoch; "
                                      "restore the best state after the loop, not "
                                      f"only when stopping early ({rule}).")
                raise CheckFailed(f"{name}: the model was left in the state of its "
                                  "last epoch, not restored to the best one, epoch "
                                  f"{want_best}; call model.load_state_dict(saved) on "
                                  "the model that was passed in (assigning `model = "
                                  f"...` does not change the caller's model): {rule}.")
            if at:
                raise CheckFailed(f"{name}: the model holds the state of epoch "
                                  f"{at[0]}, expected the best one, epoch {want_best}: "
                                  f"{rule}.")
            raise CheckFailed(f"{name}: the model's weights are none of the states it "
                              "went through; load the saved state_dict of the best "
                              f"epoch back into it: {rule}.")
        return run

    run_checks("train_with_early_stopping", "7.6", fn, [
        case([1.0, 0.8, 0.65, 0.6, 0.62, 0.66, 0.7, 0.75, 0.8, 0.9], 3,
             "a U-shaped validation curve", 761),
        case([1.0, 0.8, 0.9, 0.7, 0.6], 1, "a curve that rises once", 762),
        case([1.0, 0.9, 0.95, 0.92, 0.85, 0.88, 0.86, 0.8, 0.83, 0.84, 0.9, 0.95, 1.0],
             3, "a bumpy curve that improves again within the patience", 763),
        case([1.0, 0.7, 0.9, 0.85, 0.8, 0.75, 0.72, 0.71, 0.69, 0.68], 2,
             "a jump up followed by a slow decline", 764),
        case([1.0, 0.6, 0.7, 0.75, 0.8], 5, "a curve whose best epoch comes early, "
                                            "with more patience than epochs", 765),
        case([1.0, 0.8, 0.8, 0.8, 0.7, 0.6], 2, "a plateau of equal losses", 766),
        case([1.0, 0.9, 0.8, 0.7, 0.6, 0.5], 2, "a curve that improves at every epoch",
             767),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 7.7 random shifts
def _shift(images: np.ndarray, dy: int, dx: int, fill: str = "zero") -> np.ndarray:
    """Every image moved dy rows down, dx columns right: out[i, j] = x[i − dy, j − dx].

    ``fill`` says what enters at the edges: "zero" (the right answer), "roll" (the
    pixels that leave on one side, np.roll) or "edge" (copies of the border pixels).
    """
    n, h, w = images.shape
    if fill == "roll":
        return np.roll(images, (dy, dx), axis=(1, 2))
    if fill == "edge":
        p = max(abs(dy), abs(dx))
        padded = np.pad(images, ((0, 0), (p, p), (p, p)), mode="edge")
        return padded[:, p - dy:p - dy + h, p - dx:p - dx + w]
    out = np.zeros_like(images)
    if abs(dy) < h and abs(dx) < w:
        out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            images[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _read_shifts(images: np.ndarray, out: np.ndarray, reach: int,
                 fill: str = "zero") -> np.ndarray:
    """(N, 2): the (dy, dx) with |dy|, |dx| ≤ reach that turns images[i] into out[i],
    or NO_SHIFT when there is none."""
    found = np.full((len(images), 2), NO_SHIFT)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            cand = _shift(images, dy, dx, fill)
            near = np.abs(out - cand) <= 1e-9 + 1e-7 * np.abs(cand)
            match = near.all(axis=(1, 2))
            new = match & (found[:, 0] == NO_SHIFT)
            found[new] = (dy, dx)
    return found


def check_random_shift(fn: Any = None) -> None:
    """Exercise 7.7: ``random_shift(images, max_shift, rng)``: every image moved by its
    own random (dy, dx) in [−k, k]², zero-filled."""
    fn = learner_function(fn, "random_shift")
    rule = ("move every image by its own random whole-pixel shift (dy, dx), each drawn "
            "uniformly from −k, …, k, and fill the uncovered pixels with 0")

    def images_of(shape, seed):
        # every pixel positive and different, so that each shift can be read off
        return np.random.default_rng(seed).uniform(0.1, 1.0, shape)

    def call(fn, images, k, rng, name):
        arg = images.copy()
        got = fn(arg, k, rng)
        if not np.array_equal(arg, images):
            raise CheckFailed("random_shift wrote into `images` (in place); the "
                              "caller's images must stay as they are: build the "
                              "result in a new array, e.g. np.zeros_like(images).")
        n, h, w = images.shape
        hints = {(n, h + 2 * k, w + 2 * k): "these are the padded images; cut each one "
                                            "back to H × W at its shifted position"}
        return shaped_array(got, images.shape, name, hints,
                            "the result has the shape of images, (N, H, W)")

    def case(shape, k, what, seed):
        images = images_of(shape, seed)

        def run(fn):
            n, h, w = shape
            name = f"random_shift for {what}, max_shift = {k}"
            got = call(fn, images, k, np.random.default_rng(seed + 1), name)
            reach = min(k + 2, h - 1, w - 1)
            shifts = _read_shifts(images, got, reach)
            bad = np.flatnonzero(shifts[:, 0] == NO_SHIFT)
            if bad.size:
                i = int(bad[0])
                rolled = _read_shifts(images[bad], got[bad], reach, "roll")
                if np.any((rolled != 0).any(axis=1) & (rolled[:, 0] != NO_SHIFT)):
                    raise CheckFailed(f"{name}: the pixels that leave on one side come "
                                      "back on the other (np.roll wraps around); a "
                                      "shifted digit must not wrap: fill the "
                                      f"uncovered rows and columns with 0, {rule}.")
                edge = _read_shifts(images[bad], got[bad], reach, "edge")
                if np.any(edge[:, 0] != NO_SHIFT):
                    raise CheckFailed(f"{name}: the uncovered pixels repeat the border "
                                      "pixels; fill them with 0 (the background of "
                                      f"the digits), {rule}.")
                raise CheckFailed(f"{name}: image {i} of the result is not images[{i}] "
                                  "moved by whole pixels with zero fill (no shift "
                                  f"with |dy|, |dx| ≤ {reach} gives it): {rule}.")
            if k == 0:
                return
            far = np.abs(shifts).max(axis=1) > k
            if far.any():
                dy, dx = shifts[int(np.flatnonzero(far)[0])]
                raise CheckFailed(f"{name}: an image was moved by (dy, dx) = ({dy}, "
                                  f"{dx}), outside [−{k}, {k}]; rng.integers(-k, k + "
                                  "1) draws from −k, …, k (its upper bound is "
                                  f"excluded), {rule}.")
            if (shifts == shifts[:1]).all():
                raise CheckFailed(f"{name}: every image was moved by the same (dy, dx) "
                                  f"= {tuple(int(s) for s in shifts[0])}; draw a shift "
                                  f"for each image, {rule}.")
            if (shifts[:, 0] == shifts[:, 1]).all():
                raise CheckFailed(f"{name}: dy and dx are always equal (only diagonal "
                                  f"moves); draw the row and the column shift "
                                  f"independently, {rule}.")
            for axis, label in ((0, "dy (rows)"), (1, "dx (columns)")):
                counts = np.bincount(shifts[:, axis] + k, minlength=2 * k + 1)
                if np.count_nonzero(counts) == 1:
                    raise CheckFailed(f"{name}: {label} is always "
                                      f"{int(shifts[0, axis])}; move the images along "
                                      f"both axes, {rule}.")
                if counts[:k].sum() == 0:
                    raise CheckFailed(f"{name}: {label} is never negative; shift both "
                                      f"ways, −k, …, k, {rule}.")
                if counts[-1] == 0:
                    raise CheckFailed(f"{name}: {label} never reaches +{k}; the upper "
                                      "bound of rng.integers(low, high) is excluded, "
                                      f"so draw with rng.integers(-k, k + 1), {rule}.")
                if counts[0] == 0:
                    raise CheckFailed(f"{name}: {label} never reaches −{k}; draw from "
                                      f"−k, …, k, rng.integers(-k, k + 1), {rule}.")
                expected = n / (2 * k + 1)
                slack = 5 * math.sqrt(expected * (1 - 1 / (2 * k + 1))) + 0.01 * n
                if np.any(np.abs(counts - expected) > slack):
                    shown = ", ".join(str(int(c)) for c in counts)
                    raise CheckFailed(f"{name}: the {n} values of {label} are not "
                                      f"uniform over −{k}, …, {k} (counts {shown}, "
                                      f"expected about {expected:.0f} each): {rule}.")
        return run

    def rng_case(shape, k):
        images = images_of(shape, 779)

        def run(fn):
            name = f"random_shift for {shape[0]} images, max_shift = {k}"
            first = call(fn, images, k, np.random.default_rng(7), name)
            again = call(fn, images, k, np.random.default_rng(7), name)
            if not np.array_equal(first, again):
                raise CheckFailed("two runs with np.random.default_rng(7) gave "
                                  "different shifts; draw them from the `rng` "
                                  "argument (rng.integers), not from np.random, so "
                                  "that a seeded run can be repeated.")
            rng = np.random.default_rng(8)
            one = call(fn, images, k, rng, name)
            two = call(fn, images, k, rng, name)
            if np.array_equal(one, two) or np.array_equal(one, first):
                raise CheckFailed(f"{name}: two calls (or two seeds) gave the same "
                                  "shifts; every call draws new shifts from `rng`, "
                                  f"{rule}.")
        return run

    run_checks("random_shift", "7.7", fn, [
        case((2000, 8, 8), 2, "2000 images 8 × 8", 771),
        case((1000, 8, 8), 1, "1000 images 8 × 8", 772),
        case((1500, 8, 8), 3, "1500 images 8 × 8", 773),
        case((500, 6, 10), 2, "500 images 6 × 10", 774),
        case((50, 8, 8), 0, "50 images 8 × 8 (no shift)", 775),
        rng_case((200, 8, 8), 2),
    ], time_limit=TIME_LIMIT)
