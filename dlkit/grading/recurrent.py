"""Checks for the exercises of chapter 06, recurrent networks: RNN, LSTM and GRU.

Each ``check_*`` function is called from a check cell, without arguments (it finds
the learner's function by name in the notebook) or with the function to check. It
prints one verdict line and returns None.

The expected values are computed here with NumPy, on purpose independently of
``dlkit.numpy.recurrent``: a bug there must not make a wrong answer pass. The layout
is PyTorch's (``torch.nn.RNNCell``, ``LSTMCell``, ``GRUCell``): batch-first cells with
x (N, D) and h (N, H), weights w_ih (G·H, D) and w_hh (G·H, H) whose G blocks of rows
are the gates (LSTM: i, f, g, o; GRU: r, z, n), biases b_ih and b_hh (G·H,), and
time-major sequences x (T, N, D). The tests check these references against torch.
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ._core import (CheckFailed, close, expect, learner_array, learner_function,
                    match_mistake, run_checks, shaped_array)

__all__ = ["check_rnn_cell", "check_rnn_unroll", "check_rnn_bptt", "check_lstm_cell",
           "check_gru_cell", "check_clip_grad_norm", "check_sample_with_temperature"]

#: Where chapter 06 states what each exercise implements.
EQ = {"rnn_cell": "(6.1)", "rnn_output": "(6.2)", "bptt": "(6.4)", "clipping": "(6.6)",
      "lstm": "(6.7)", "gru": "(6.8)", "temperature": "(6.10)"}

#: Seconds per case; the largest case (6.7, five thousand draws) takes a learner's code
#: well under a second.
TIME_LIMIT = 30.0

#: The ε that torch.nn.utils.clip_grad_norm_ adds to the norm before dividing by it.
CLIP_EPS = 1e-6

LSTM_GATES, GRU_GATES = "ifgo", "rzn"


# ------------------------------------------------------------------ reference values
def _sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1/(1 + e^(−z)), written with tanh so that it never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh, act=np.tanh):
    """h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), eq. (6.1): (N, D), (N, H) -> (N, H)."""
    return act(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)


def _rnn_unroll(x, h0, w_ih, w_hh, b_ih, b_hh, *, carry: bool = True) -> np.ndarray:
    """Every state h_1 … h_T of the RNN over x (T, N, D): (T, N, H).

    Without ``carry`` every step starts from h0 (a mistake).
    """
    h, hs = h0, []
    for x_t in x:
        h_new = _rnn_cell(x_t, h if carry else h0, w_ih, w_hh, b_ih, b_hh)
        hs.append(h_new)
        h = h_new
    return np.stack(hs) if hs else np.zeros((0,) + h0.shape)


def _rnn_bptt(dhs, x, hs, h0, w_hh, *, recurse: bool = True, deriv: str = "tanh",
              prev: bool = True, backward: bool = True, w_t: bool = False):
    """Gradients (dw_ih, dw_hh, db, dh0) of a tanh RNN through time, eq. (6.4).

    ``dhs[t]`` is ∂L/∂h_(t+1) from the outputs only (not through the later states); hs
    (T, N, H) are the states h_1 … h_T, h0 the initial state. The recursion is
    δ_t = (dh_t + δ_(t+1) W_hh) ⊙ (1 − h_t²); dW_ih = Σ_t δ_tᵀ x_t,
    dW_hh = Σ_t δ_tᵀ h_(t−1), db = Σ_t Σ_n δ_t (the gradient of b_ih and of b_hh alike),
    dh0 = δ_1 W_hh. The keywords make mistakes: no recursive term (``recurse``), another
    derivative (``deriv``: "tanh", "none", "tanh_of_h" for 1 − tanh(h)², "sigmoid" for
    h(1 − h)), h_t in place of h_(t−1) (``prev``), the recursion run forward in time
    (``backward``) or carried back with W_hhᵀ (``w_t``).
    """
    t_len = len(hs)
    before = np.concatenate([h0[None], hs[:-1]]) if t_len else hs
    factor = {"tanh": 1.0 - hs ** 2, "none": np.ones_like(hs),
              "tanh_of_h": 1.0 - np.tanh(hs) ** 2, "sigmoid": hs * (1.0 - hs)}[deriv]
    w_back = w_hh.T if w_t else w_hh
    deltas = np.zeros_like(hs)
    carry = np.zeros_like(h0)
    steps = range(t_len - 1, -1, -1) if backward else range(t_len)
    for t in steps:
        deltas[t] = (dhs[t] + (carry @ w_back if recurse else 0.0)) * factor[t]
        carry = deltas[t]
    dw_ih = np.einsum("tnh,tnd->hd", deltas, x)
    dw_hh = np.einsum("tnh,tnk->hk", deltas, before if prev else hs)
    db = deltas.sum(axis=(0, 1))
    dh0 = carry @ w_back if t_len else np.zeros_like(h0)
    return dw_ih, dw_hh, db, dh0


def _blocks(w: np.ndarray, order: str, canonical: str) -> np.ndarray:
    """The weights that make the reference compute what a learner reading the gate blocks
    in ``order`` computes: block k of ``w`` is used as gate ``order[k]``."""
    parts = np.split(w, len(canonical), axis=0)
    return np.concatenate([parts[order.index(g)] for g in canonical], axis=0)


def _lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh, *, g_act=np.tanh, h_tanh: bool = True,
               new_c: bool = True, swap_if: bool = False, interleaved: bool = False):
    """(h', c') of the LSTM, eq. (6.7), gates in PyTorch's order i, f, g, o.

    i = σ(·), f = σ(·), g = tanh(·), o = σ(·); c' = f ⊙ c + i ⊙ g; h' = o ⊙ tanh(c').
    The keywords make mistakes: another activation for g, h' = o ⊙ c', h' from the old
    c, the roles of i and f swapped in c', every fourth column taken as one gate.
    """
    z = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh                       # (N, 4H)
    if interleaved:
        zi, zf, zg, zo = (z.reshape(z.shape[0], -1, 4)[..., k] for k in range(4))
    else:
        zi, zf, zg, zo = np.split(z, 4, axis=1)
    i, f, g, o = _sigmoid(zi), _sigmoid(zf), g_act(zg), _sigmoid(zo)
    c_next = i * c + f * g if swap_if else f * c + i * g
    cell = c_next if new_c else c
    h_next = o * np.tanh(cell) if h_tanh else o * cell
    return h_next, c_next


def _gru_cell(x, h, w_ih, w_hh, b_ih, b_hh, *, mix: str = "torch", reset: str = "after",
              n_act=np.tanh):
    """h' of the GRU in PyTorch's variant, eq. (6.8), gates r, z, n.

    r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr), z likewise, n = tanh(x W_inᵀ + b_in +
    r ⊙ (h W_hnᵀ + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h. Mistakes: ``mix`` "mirrored" for
    h' = z ⊙ n + (1 − z) ⊙ h; ``reset`` "before" for (r ⊙ h) W_hnᵀ + b_hn (Cho et al.),
    "bias_out" for r ⊙ (h W_hnᵀ) + b_hn, "none" for no reset gate; ``n_act`` for σ.
    """
    gi = x @ w_ih.T + b_ih                                          # (N, 3H)
    gh = h @ w_hh.T + b_hh
    i_r, i_z, i_n = np.split(gi, 3, axis=1)
    h_r, h_z, h_n = np.split(gh, 3, axis=1)
    r, z = _sigmoid(i_r + h_r), _sigmoid(i_z + h_z)
    b_hn = np.split(b_hh, 3)[2]
    if reset == "after":
        hidden = r * h_n
    elif reset == "before":
        hidden = (r * h) @ np.split(w_hh, 3, axis=0)[2].T + b_hn
    elif reset == "bias_out":
        hidden = r * (h_n - b_hn) + b_hn
    else:
        hidden = h_n
    n = n_act(i_n + hidden)
    return (1.0 - z) * n + z * h if mix == "torch" else z * n + (1.0 - z) * h


def _global_norm(grads) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(g))) for g in grads)))


def _clip(grads, max_norm: float):
    """Scale all arrays by max_norm/(‖g‖ + ε) when that is below 1, eq. (6.6)."""
    total = _global_norm(grads)
    coef = max_norm / (total + CLIP_EPS)
    return [g * coef if coef < 1.0 else g.copy() for g in grads], total


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


# ------------------------------------------------------------------ shared helpers
def _tuple(out: Any, size: int, what: str) -> tuple:
    if not isinstance(out, (tuple, list)):
        raise CheckFailed(f"return the {'pair' if size == 2 else 'tuple'} {what}, got "
                          f"{type(out).__name__}.")
    if len(out) != size:
        raise CheckFailed(f"return the {'pair' if size == 2 else 'tuple'} {what} "
                          f"({size} values), got a {type(out).__name__} of {len(out)}.")
    return tuple(out)


def _unchanged(name: str, given: list[np.ndarray], kept: list[np.ndarray]) -> None:
    """Fail when the learner's function wrote into one of the caller's arrays."""
    if any(not np.array_equal(a, b) for a, b in zip(given, kept)):
        raise CheckFailed(f"{name} changed an input array in place; leave the caller's "
                          f"arrays alone and write the result into a new array.")


def _call(fn, args, layout: str):
    """Call the learner's function; a matrix product of mismatched shapes gets a hint."""
    try:
        return fn(*args)
    except ValueError as exc:
        msg = str(exc)
        if "matmul" in msg or "not aligned" in msg:
            raise CheckFailed(f"raised ValueError, a matrix product of mismatched shapes; "
                              f"{layout}") from None
        raise


def _weights(rng, gates: int, d: int, h: int, scale: float = 0.6):
    """w_ih (G·H, D), w_hh (G·H, H), b_ih, b_hh (G·H,), seeded."""
    return (rng.standard_normal((gates * h, d)) * scale,
            rng.standard_normal((gates * h, h)) * scale,
            rng.standard_normal(gates * h) * 0.5, rng.standard_normal(gates * h) * 0.5)


# ------------------------------------------------------------------ 6.1 RNN cell
def check_rnn_cell(fn: Any = None) -> None:
    """Exercise 6.1: ``rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh)`` -> h_next, eq. (6.1)."""
    fn = learner_function(fn, "rnn_cell")
    rng = np.random.default_rng(61)
    eq = EQ["rnn_cell"]
    rule = "h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)"
    layout = (f"w_ih has shape (H, D) and w_hh (H, H), PyTorch's layout, and x is (N, D): "
              f"the terms are x @ w_ih.T and h @ w_hh.T, {rule}, eq. {eq}")

    def case(n, d, hdim, what, *, scale=1.0, zero_h=False):
        x = rng.standard_normal((n, d)) * scale
        h = np.zeros((n, hdim)) if zero_h else rng.standard_normal((n, hdim))
        w_ih, w_hh, b_ih, b_hh = _weights(rng, 1, d, hdim)

        def run(fn):
            name = f"rnn_cell for {what}"
            args = [x.copy(), h.copy(), w_ih.copy(), w_hh.copy(), b_ih.copy(), b_hh.copy()]
            got = _call(fn, args, layout)
            _unchanged("rnn_cell", args, [x, h, w_ih, w_hh, b_ih, b_hh])
            hints = {}
            if n != hdim:
                hints[(hdim, n)] = ("the result is transposed: the cell is batch-first, one "
                                    "row per example, h' of shape (N, H): " + layout)
            got = shaped_array(got, (n, hdim), name, hints, f"h' has the shape of h, (N, H), "
                          f"{rule}, eq. {eq}")
            want = _rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh)
            pre_x, pre_h = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
            mistakes = {
                f"this is σ of the sum, a sigmoid; the RNN cell uses tanh, whose outputs lie "
                f"in (−1, 1) and are centred on 0: {rule}, eq. {eq}":
                    _rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh, act=_sigmoid),
                f"both biases are missing: add b_ih and b_hh inside the tanh, {rule}, "
                f"eq. {eq}": np.tanh(x @ w_ih.T + h @ w_hh.T),
                f"the bias b_ih is missing: {rule}, eq. {eq}":
                    np.tanh(x @ w_ih.T + pre_h),
                f"the bias b_hh is missing: PyTorch's cell has two biases, b_ih and b_hh, "
                f"and both are added, {rule}, eq. {eq}": np.tanh(pre_x + h @ w_hh.T),
                f"the hidden term h W_hhᵀ is missing: the new state depends on the previous "
                f"one, that is what makes the network recurrent, {rule}, eq. {eq}":
                    np.tanh(pre_x + b_hh),
                f"the hidden term h W_hhᵀ and its bias are missing: the new state depends "
                f"on the previous one, {rule}, eq. {eq}": np.tanh(pre_x),
                f"the tanh is applied to the input term only; it acts on the whole sum, "
                f"{rule}, eq. {eq}": np.tanh(pre_x) + pre_h,
                f"the tanh is applied to the hidden term only; it acts on the whole sum, "
                f"{rule}, eq. {eq}": pre_x + np.tanh(pre_h),
                f"the tanh is applied to each term separately; it acts on their sum, "
                f"{rule}, eq. {eq}": np.tanh(pre_x) + np.tanh(pre_h),
                f"the tanh is missing: {rule}, eq. {eq}": pre_x + pre_h,
                f"w_hh is used untransposed (h @ w_hh); the hidden term is h @ w_hh.T, "
                f"{rule}, eq. {eq}": np.tanh(pre_x + h @ w_hh + b_hh),
            }
            if d == hdim:
                mistakes["the weights are used untransposed (x @ w_ih); " + layout] = \
                    np.tanh(x @ w_ih + b_ih + h @ w_hh + b_hh)
                mistakes["w_ih is used untransposed (x @ w_ih); " + layout] = \
                    np.tanh(x @ w_ih + b_ih + pre_h)
            expect(got, want, name, mistakes)
        return run

    run_checks("rnn_cell", "6.1", fn, [
        case(3, 4, 5, "x (3, 4), h (3, 5)"),
        case(2, 6, 3, "x (2, 6), h (2, 3)"),
        case(4, 3, 3, "x (4, 3), h (4, 3), D = H"),
        case(1, 5, 2, "a single example, x (1, 5), h (1, 2)"),
        case(3, 2, 7, "h = 0, the first step", zero_h=True),
        case(5, 4, 6, "large inputs, x (5, 4) (the tanh saturates)", scale=8.0),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 6.2 unrolling
def check_rnn_unroll(fn: Any = None) -> None:
    """Exercise 6.2: ``rnn_unroll(x, h0, w_ih, w_hh, b_ih, b_hh)`` -> hs (T, N, H)."""
    fn = learner_function(fn, "rnn_unroll")
    rng = np.random.default_rng(62)
    eq, eq_y = EQ["rnn_cell"], EQ["rnn_output"]
    every = (f"return every state h_1, …, h_T stacked along axis 0, hs[t] the state after "
             f"reading x[t]; each one feeds an output y_t = W_hy h_t + b_y, eq. {eq_y}")

    def case(t_len, n, d, hdim, what):
        x = rng.standard_normal((t_len, n, d))
        h0 = rng.standard_normal((n, hdim)) * 0.5
        w_ih, w_hh, b_ih, b_hh = _weights(rng, 1, d, hdim)

        def run(fn):
            name = f"rnn_unroll for {what}"
            args = [x.copy(), h0.copy(), w_ih.copy(), w_hh.copy(), b_ih.copy(), b_hh.copy()]
            got = fn(*args)
            _unchanged("rnn_unroll", args, [x, h0, w_ih, w_hh, b_ih, b_hh])
            if isinstance(got, (tuple, list)) and len(got) == 2 and \
                    np.shape(got[0]) == (t_len, n, hdim):
                raise CheckFailed(f"{name} returned a pair; return the array hs of shape "
                                  f"(T, N, H) alone (its last entry hs[-1] is the final "
                                  f"state).")
            want = _rnn_unroll(x, h0, w_ih, w_hh, b_ih, b_hh)
            hints = {(n, hdim): f"this is one state; {every}",
                     (t_len + 1, n, hdim): f"hs includes h0; h0 is an input, {every}"}
            if t_len > 1:
                hints[(t_len - 1, n, hdim)] = f"the last step is missing; {every}"
            if n != t_len:
                hints[(n, t_len, hdim)] = (f"the batch and time axes are swapped: sequences "
                                           f"are time-major, x (T, N, D), and hs is (T, N, "
                                           f"H); {every}")
            got = shaped_array(got, want.shape, name, hints, every)
            same = (f"the state is not carried over: every step starts from h0. Step t "
                    f"uses the state just computed, h_t = tanh(x_t W_ihᵀ + b_ih + "
                    f"h_(t−1) W_hhᵀ + b_hh), eq. {eq}")
            mistakes = {
                same: _rnn_unroll(x, h0, w_ih, w_hh, b_ih, b_hh, carry=False),
                f"hs is shifted by one step: it starts with h0 and misses the last state; "
                f"{every}": np.concatenate([h0[None], want[:-1]]),
            }
            if n == t_len:
                mistakes[f"the batch and time axes are swapped: sequences are time-major, "
                         f"x[t] is the input of step t for the whole batch; {every}"] = \
                    want.swapaxes(0, 1)
                mistakes[f"x is read batch-first (x[:, t]); sequences are time-major, x[t] "
                         f"(N, D) is the input of step t; {every}"] = \
                    _rnn_unroll(x.swapaxes(0, 1), h0, w_ih, w_hh, b_ih, b_hh)
                mistakes[f"x is read batch-first (x[:, t]) and hs stacked batch-first; "
                         f"sequences are time-major, x[t] (N, D) is the input of step t; "
                         f"{every}"] = _rnn_unroll(x.swapaxes(0, 1), h0, w_ih, w_hh, b_ih,
                                                   b_hh).swapaxes(0, 1)
            if close(got, want):
                return
            hint = match_mistake(got, mistakes)
            if hint:
                raise CheckFailed(hint)
            first = _rnn_cell(x[0], h0, w_ih, w_hh, b_ih, b_hh)
            if not close(got[0], first):
                raise CheckFailed(f"{name}: hs[0] is not rnn_cell(x[0], h0, …), eq. {eq}; "
                                  f"does your rnn_cell of Exercise 6.1 pass its check?")
            expect(got, want, name, {})
        return run

    run_checks("rnn_unroll", "6.2", fn, [
        case(5, 3, 4, 6, "x (5, 3, 4), h0 (3, 6)"),
        case(4, 2, 3, 3, "x (4, 2, 3), h0 (2, 3)"),
        case(3, 3, 4, 2, "x (3, 3, 4), as many steps as examples"),
        case(6, 1, 2, 5, "a single sequence, x (6, 1, 2)"),
        case(1, 2, 3, 4, "one step, x (1, 2, 3)"),
        case(30, 4, 5, 8, "a longer sequence, x (30, 4, 5)"),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 6.3 BPTT
def check_rnn_bptt(fn: Any = None) -> None:
    """Exercise 6.3: ``rnn_bptt(dhs, x, hs, h0, w_hh)`` -> (dw_ih, dw_hh, db, dh0), (6.4)."""
    fn = learner_function(fn, "rnn_bptt")
    rng = np.random.default_rng(63)
    eq = EQ["bptt"]
    rec = "δ_t = (dh_t + δ_(t+1) W_hh) ⊙ (1 − h_t²)"
    sums = (f"the weights are shared by all steps, so their gradients add up the steps: "
            f"dW_ih = Σ_t δ_tᵀ x_t, dW_hh = Σ_t δ_tᵀ h_(t−1), db = Σ_t Σ_n δ_t, eq. {eq}")

    def case(t_len, n, d, hdim, what, *, last_only=False):
        x = rng.standard_normal((t_len, n, d))
        h0 = rng.standard_normal((n, hdim)) * 0.5
        w_ih, w_hh, b_ih, b_hh = _weights(rng, 1, d, hdim)
        hs = _rnn_unroll(x, h0, w_ih, w_hh, b_ih, b_hh)
        dhs = rng.standard_normal(hs.shape)
        if last_only:
            dhs[:-1] = 0.0

        def run(fn):
            name = f"for {what}"
            args = [dhs.copy(), x.copy(), hs.copy(), h0.copy(), w_hh.copy()]
            out = _tuple(fn(*args), 4, "(dw_ih, dw_hh, db, dh0)")
            _unchanged("rnn_bptt", args, [dhs, x, hs, h0, w_hh])
            want = _rnn_bptt(dhs, x, hs, h0, w_hh)
            wrong = {
                "recurse": _rnn_bptt(dhs, x, hs, h0, w_hh, recurse=False),
                "none": _rnn_bptt(dhs, x, hs, h0, w_hh, deriv="none"),
                "tanh_of_h": _rnn_bptt(dhs, x, hs, h0, w_hh, deriv="tanh_of_h"),
                "sigmoid": _rnn_bptt(dhs, x, hs, h0, w_hh, deriv="sigmoid"),
                "forward": _rnn_bptt(dhs, x, hs, h0, w_hh, backward=False),
                "w_t": _rnn_bptt(dhs, x, hs, h0, w_hh, w_t=True),
                "prev": _rnn_bptt(dhs, x, hs, h0, w_hh, prev=False),
            }
            deltas = np.zeros_like(hs)          # the right δ_t, to build the one-step sums
            carry = np.zeros_like(h0)
            for t in range(t_len - 1, -1, -1):
                deltas[t] = (dhs[t] + carry @ w_hh) * (1.0 - hs[t] ** 2)
                carry = deltas[t]
            before = np.concatenate([h0[None], hs[:-1]])
            hints = {
                "recurse": f"the recursive term δ_(t+1) W_hh is missing: h_t also influences "
                           f"the loss through h_(t+1), so its gradient is the upstream dh_t "
                           f"plus what flows back from the next step, {rec}, eq. {eq}",
                "none": f"the derivative of the tanh is missing: δ_t is the gradient of the "
                        f"pre-activation, {rec}, with tanh'(a) = 1 − tanh(a)² = 1 − h_t², "
                        f"eq. {eq}",
                "tanh_of_h": f"the derivative of the tanh is 1 − h_t², computed from the "
                             f"state h_t = tanh(a_t) itself; 1 − tanh(h_t)² applies tanh "
                             f"once more: {rec}, eq. {eq}",
                "sigmoid": f"h_t(1 − h_t) is the derivative of a sigmoid; the RNN uses tanh, "
                           f"whose derivative is 1 − h_t²: {rec}, eq. {eq}",
                "forward": f"the recursion runs forward in time; δ_t needs δ_(t+1), so start "
                           f"at the last step t = T (δ_(T+1) = 0) and go back to t = 1, "
                           f"{rec}, eq. {eq}",
                "w_t": f"the gradient flows back through W_hh, not W_hhᵀ: the forward pass "
                       f"computes h_(t−1) W_hhᵀ, so ∂/∂h_(t−1) is δ_t W_hh, {rec}, eq. {eq}",
                "prev": f"dW_hh pairs δ_t with the state that entered step t, h_(t−1) (h0 at "
                        f"the first step), not with h_t: dW_hh = Σ_t δ_tᵀ h_(t−1), eq. {eq}",
            }
            one = {"last": (deltas[-1:], x[-1:], before[-1:]),
                   "first": (deltas[:1], x[:1], before[:1])}

            def part(k, label):
                """Mistakes for component k of the output (0 dw_ih, 1 dw_hh, 2 db)."""
                out = {}
                for which, (dl, xx, hb) in one.items():
                    value = (np.einsum("tnh,tnd->hd", dl, xx), np.einsum("tnh,tnk->hk", dl, hb),
                             dl.sum(axis=(0, 1)))[k]
                    out[f"{label} holds the {which} step only; {sums}"] = value
                for key, hint in hints.items():
                    out[hint] = wrong[key][k]
                return out

            dw_ih, dw_hh, db, dh0 = out
            db = shaped_array(db, (hdim,), f"db {name}", {
                (n, hdim): f"db is not summed over the batch: db = Σ_t Σ_n δ_t, eq. {eq}",
                (t_len, n, hdim): f"db is not summed over time and batch: {sums}",
                (t_len, hdim): f"db is not summed over time: {sums}",
                (2, hdim): "db is one array of shape (H,), the gradient of b_ih and of b_hh "
                           "alike (the two biases only enter as a sum)"},
                f"db has shape (H,): {sums}")
            dw_ih = shaped_array(dw_ih, (hdim, d), f"dw_ih {name}", {
                (d, hdim): f"dw_ih is transposed: it has the shape of w_ih, (H, D), "
                           f"dW_ih = Σ_t δ_tᵀ x_t, eq. {eq}",
                (t_len, hdim, d): f"dw_ih is not summed over time: {sums}"},
                f"dw_ih has the shape of w_ih, (H, D), eq. {eq}")
            dw_hh = shaped_array(dw_hh, (hdim, hdim), f"dw_hh {name}", {
                (t_len, hdim, hdim): f"dw_hh is not summed over time: {sums}"},
                f"dw_hh has the shape of w_hh, (H, H), eq. {eq}")
            dh0 = shaped_array(dh0, (n, hdim), f"dh0 {name}", {},
                          "dh0 has the shape of h0, (N, H)")
            expect(db, want[2], f"db {name}", part(2, "db"))
            dw_ih_mistakes = part(0, "dw_ih")
            if d == hdim:
                dw_ih_mistakes[f"dw_ih is transposed: dW_ih = Σ_t δ_tᵀ x_t, row k for the "
                               f"k-th state unit, eq. {eq}"] = want[0].T
            expect(dw_ih, want[0], f"dw_ih {name}", dw_ih_mistakes)
            dw_hh_mistakes = part(1, "dw_hh")
            dw_hh_mistakes[f"dw_hh is transposed: dW_hh = Σ_t δ_tᵀ h_(t−1), row k for the "
                           f"k-th state unit, eq. {eq}"] = want[1].T
            expect(dw_hh, want[1], f"dw_hh {name}", dw_hh_mistakes)
            expect(dh0, want[3], f"dh0 {name}", {
                f"dh0 is δ_1 W_hh, the gradient that flows back from the first step into h0; "
                f"h0 did not come out of a tanh here, so no factor (1 − h0²), eq. {eq}":
                    want[3] * (1.0 - h0 ** 2),
                f"dh0 is δ_1 W_hh: the gradient flows back through the weights of the first "
                f"step, eq. {eq}": deltas[0],
                **{hint: wrong[key][3] for key, hint in hints.items() if key != "prev"},
            })
        return run

    run_checks("rnn_bptt", "6.3", fn, [
        case(5, 3, 4, 6, "T = 5, x (5, 3, 4), h (·, 3, 6)"),
        case(4, 2, 3, 3, "T = 4, x (4, 2, 3), h (·, 2, 3)"),
        case(6, 2, 5, 4, "a loss on the last state only, dhs[:-1] = 0", last_only=True),
        case(7, 1, 2, 5, "a single sequence, x (7, 1, 2)"),
        case(1, 3, 4, 2, "one step, T = 1"),
        case(25, 4, 3, 6, "a longer sequence, T = 25"),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 6.4 LSTM cell
def check_lstm_cell(fn: Any = None) -> None:
    """Exercise 6.4: ``lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)`` -> (h', c'), (6.7)."""
    fn = learner_function(fn, "lstm_cell")
    rng = np.random.default_rng(64)
    eq = EQ["lstm"]
    order = ("PyTorch stacks the four gates in the order i, f, g, o: rows 0:H of w_ih, "
             "w_hh, b_ih and b_hh belong to the input gate i, H:2H to the forget gate f, "
             "2H:3H to the candidate g, 3H:4H to the output gate o")
    update = "c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c')"
    layout = (f"w_ih has shape (4H, D) and w_hh (4H, H), so the pre-activations of all four "
              f"gates are x @ w_ih.T + b_ih + h @ w_hh.T + b_hh, of shape (N, 4H), eq. {eq}")

    def case(n, d, hdim, what, *, scale=1.0, zero=False):
        x = rng.standard_normal((n, d)) * scale
        h = np.zeros((n, hdim)) if zero else rng.standard_normal((n, hdim))
        c = np.zeros((n, hdim)) if zero else rng.standard_normal((n, hdim)) * 1.5
        w_ih, w_hh, b_ih, b_hh = _weights(rng, 4, d, hdim)

        def run(fn):
            name = f"for {what}"
            args = [x.copy(), h.copy(), c.copy(), w_ih.copy(), w_hh.copy(), b_ih.copy(),
                    b_hh.copy()]
            out = _tuple(_call(fn, args, layout), 2, "(h_next, c_next)")
            _unchanged("lstm_cell", args, [x, h, c, w_ih, w_hh, b_ih, b_hh])
            want_h, want_c = _lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)
            shape_hints = {(n, 4 * hdim): f"this has all four gates side by side; split the "
                           f"(N, 4H) pre-activations into four blocks of H columns, {order}"}
            got_h = shaped_array(out[0], (n, hdim), f"h_next {name}", shape_hints,
                            "h' has the shape of h, (N, H)")
            got_c = shaped_array(out[1], (n, hdim), f"c_next {name}", shape_hints,
                            "c' has the shape of c, (N, H)")
            if close(got_h, want_c) and close(got_c, want_h) and not close(got_h, want_h):
                raise CheckFailed(f"the pair is the wrong way round: return (h_next, "
                                  f"c_next), h first, like torch.nn.LSTMCell, eq. {eq}.")

            def variant(**kw):
                return _lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh, **kw)

            mistakes = [
                (f"i and f are swapped: the forget gate f multiplies the old cell state c and "
                 f"the input gate i the candidate g, {update}; {order}, eq. {eq}",
                 variant(swap_if=True)),
                (f"the candidate g uses a sigmoid; g = tanh(·) (values in (−1, 1), so the "
                 f"cell state can go down as well as up), while i, f and o are sigmoids, "
                 f"eq. {eq}", variant(g_act=_sigmoid)),
                (f"the tanh of the new cell state is missing: {update}, eq. {eq}",
                 variant(h_tanh=False)),
                (f"h' is computed from the old cell state c; use the new one: {update}, "
                 f"eq. {eq}", variant(new_c=False)),
                (f"the gates are taken as every fourth column of the pre-activations; each "
                 f"gate is a block of H consecutive columns: {order}, eq. {eq}",
                 variant(interleaved=True)),
            ]
            for perm in itertools.permutations(LSTM_GATES):
                read = "".join(perm)
                if read != LSTM_GATES:
                    mistakes.append((
                        f"the gates are read in the order {', '.join(read)}; {order} "
                        f"(TensorFlow 1's LSTMCell uses i, g, f, o, and ONNX i, o, f, g, so "
                        f"copied code may differ), eq. {eq}",
                        _lstm_cell(x, h, c, _blocks(w_ih, read, LSTM_GATES),
                                   _blocks(w_hh, read, LSTM_GATES),
                                   _blocks(b_ih, read, LSTM_GATES),
                                   _blocks(b_hh, read, LSTM_GATES))))
            mistakes.append((f"the bias b_hh is missing: both biases are added to every "
                             f"gate, eq. {eq}", _lstm_cell(x, h, c, w_ih, w_hh, b_ih, 0 * b_hh)))
            mistakes.append((f"the bias b_ih is missing: both biases are added to every "
                             f"gate, eq. {eq}", _lstm_cell(x, h, c, w_ih, w_hh, 0 * b_ih,
                                                           b_hh)))
            expect(got_c, want_c, f"c_next {name}", {m: v[1] for m, v in mistakes})
            expect(got_h, want_h, f"h_next {name}", {m: v[0] for m, v in mistakes})
        return run

    run_checks("lstm_cell", "6.4", fn, [
        case(3, 4, 5, "x (3, 4), h and c (3, 5)"),
        case(2, 3, 2, "x (2, 3), h and c (2, 2)"),
        case(4, 2, 6, "x (4, 2), h and c (4, 6)"),
        case(1, 5, 3, "a single example, x (1, 5), h and c (1, 3)"),
        case(3, 3, 3, "D = H = 3"),
        case(2, 4, 4, "h = c = 0, the first step", zero=True),
        case(3, 2, 4, "large inputs (the gates saturate)", scale=6.0),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 6.5 GRU cell
def check_gru_cell(fn: Any = None) -> None:
    """Exercise 6.5: ``gru_cell(x, h, w_ih, w_hh, b_ih, b_hh)`` -> h_next, eq. (6.8)."""
    fn = learner_function(fn, "gru_cell")
    rng = np.random.default_rng(65)
    eq = EQ["gru"]
    order = ("PyTorch stacks the three blocks in the order r, z, n: rows 0:H of the weights "
             "and biases belong to the reset gate r, H:2H to the update gate z, 2H:3H to the "
             "candidate n")
    cand = "n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn))"
    mix = "h' = (1 − z) ⊙ n + z ⊙ h"
    layout = (f"w_ih has shape (3H, D) and w_hh (3H, H): x @ w_ih.T + b_ih and h @ w_hh.T + "
              f"b_hh are (N, 3H), three blocks of H columns, eq. {eq}")

    def case(n, d, hdim, what, *, scale=1.0, zero=False):
        x = rng.standard_normal((n, d)) * scale
        h = np.zeros((n, hdim)) if zero else rng.standard_normal((n, hdim))
        w_ih, w_hh, b_ih, b_hh = _weights(rng, 3, d, hdim)

        def run(fn):
            name = f"gru_cell for {what}"
            args = [x.copy(), h.copy(), w_ih.copy(), w_hh.copy(), b_ih.copy(), b_hh.copy()]
            got = _call(fn, args, layout)
            _unchanged("gru_cell", args, [x, h, w_ih, w_hh, b_ih, b_hh])
            if isinstance(got, (tuple, list)):
                raise CheckFailed(f"{name} returned a {type(got).__name__}; a GRU has no "
                                  f"cell state, return h_next alone, an array (N, H).")
            got = shaped_array(got, (n, hdim), name, {
                (n, 3 * hdim): f"this has all three blocks side by side; split the (N, 3H) "
                               f"pre-activations into three blocks of H columns, {order}"},
                "h' has the shape of h, (N, H)")
            want = _gru_cell(x, h, w_ih, w_hh, b_ih, b_hh)

            def variant(**kw):
                return _gru_cell(x, h, w_ih, w_hh, b_ih, b_hh, **kw)

            mistakes = {
                f"z and 1 − z are swapped: h' = z ⊙ n + (1 − z) ⊙ h is a valid convention "
                f"found in some texts (it only renames z as 1 − z), but PyTorch, like Cho et "
                f"al. (2014), keeps the old state with weight z: {mix}, eq. {eq}":
                    variant(mix="mirrored"),
                f"the reset gate multiplies h before the product, (r ⊙ h) W_hnᵀ: that is the "
                f"original GRU of Cho et al. (2014); PyTorch's variant applies r after it, "
                f"{cand}, eq. {eq}": variant(reset="before"),
                f"b_hn is added outside the reset gate; in PyTorch's variant r multiplies "
                f"the whole hidden part, bias included: {cand}, eq. {eq}":
                    variant(reset="bias_out"),
                f"the reset gate is missing from the candidate: {cand}, eq. {eq}":
                    variant(reset="none"),
                f"the candidate n uses a sigmoid; it is a tanh, {cand}, eq. {eq}":
                    variant(n_act=_sigmoid),
            }
            for perm in itertools.permutations(GRU_GATES):
                read = "".join(perm)
                if read != GRU_GATES:
                    mistakes[f"the blocks are read in the order {', '.join(read)}; {order}, "
                             f"eq. {eq}"] = _gru_cell(
                        x, h, _blocks(w_ih, read, GRU_GATES), _blocks(w_hh, read, GRU_GATES),
                        _blocks(b_ih, read, GRU_GATES), _blocks(b_hh, read, GRU_GATES))
            mistakes[f"the bias b_hh is missing: both biases enter, b_hn inside the reset "
                     f"gate, {cand}, eq. {eq}"] = _gru_cell(x, h, w_ih, w_hh, b_ih, 0 * b_hh)
            mistakes[f"the bias b_ih is missing: both biases enter, eq. {eq}"] = \
                _gru_cell(x, h, w_ih, w_hh, 0 * b_ih, b_hh)
            expect(got, want, name, mistakes)
        return run

    run_checks("gru_cell", "6.5", fn, [
        case(3, 4, 5, "x (3, 4), h (3, 5)"),
        case(2, 3, 2, "x (2, 3), h (2, 2)"),
        case(4, 6, 3, "x (4, 6), h (4, 3)"),
        case(1, 2, 4, "a single example, x (1, 2), h (1, 4)"),
        case(3, 3, 3, "D = H = 3"),
        case(2, 5, 4, "h = 0, the first step", zero=True),
        case(3, 4, 2, "large inputs (the gates saturate)", scale=6.0),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 6.6 clipping
def check_clip_grad_norm(fn: Any = None) -> None:
    """Exercise 6.6: ``clip_grad_norm(grads, max_norm)`` -> (clipped, total_norm), (6.6)."""
    fn = learner_function(fn, "clip_grad_norm")
    rng = np.random.default_rng(66)
    eq = EQ["clipping"]
    rule = (f"g ← g · min(1, τ/(‖g‖ + 10⁻⁶)) for every array, with the one global norm "
            f"‖g‖ = √(Σ over all arrays of their squared entries), eq. {eq}")

    def case(shapes, max_norm, what, *, scale=1.0, zero=False):
        grads = [np.zeros(s) if zero else rng.standard_normal(s) * scale for s in shapes]

        def run(fn):
            name = f"clip_grad_norm for {what}"
            given = [g.copy() for g in grads]
            out = _tuple(fn(given, max_norm), 2, "(clipped, total_norm)")
            _unchanged("clip_grad_norm", given, grads)
            clipped, total = out
            if not isinstance(clipped, (list, tuple)) or len(clipped) != len(grads):
                raise CheckFailed(f"{name}: the first value returned is a list of "
                                  f"{len(grads)} arrays, one per gradient, in the same "
                                  f"order; got {type(clipped).__name__}"
                                  + (f" of {len(clipped)}" if hasattr(clipped, "__len__")
                                     else "") + ".")
            got = [shaped_array(g, s.shape, f"clipped array {k} {name}", {},
                           "each clipped array has the shape of its gradient")
                   for k, (g, s) in enumerate(zip(clipped, grads))]
            want, want_total = _clip(grads, max_norm)

            def flat(arrays):
                return np.concatenate([np.ravel(a) for a in arrays])

            per_array = [g * min(1.0, max_norm / (np.linalg.norm(g) + CLIP_EPS)) for g in grads]
            norm_l1 = sum(float(np.linalg.norm(g)) for g in grads)
            scale_l1 = min(1.0, max_norm / (norm_l1 + CLIP_EPS))
            always = max_norm / (want_total + CLIP_EPS)
            mistakes = {
                f"the gradients were not changed: their global norm {want_total:.3g} is "
                f"above τ = {max_norm:g}, so scale them down, {rule}": flat(grads),
                f"each array was clipped by its own norm; clipping by the global norm scales "
                f"every array by the same factor, which keeps the direction of the whole "
                f"gradient: {rule}": flat(per_array),
                f"the entries were clipped to [−τ, τ] (np.clip); clipping by norm rescales "
                f"the whole gradient and keeps its direction: {rule}":
                    flat([np.clip(g, -max_norm, max_norm) for g in grads]),
                f"small gradients were scaled up to norm τ; clipping only ever shrinks: "
                f"when ‖g‖ ≤ τ the gradients stay as they are, {rule}":
                    flat([g * always for g in grads]),
                f"the norm is the sum of the arrays' norms; the global L2 norm is the square "
                f"root of the sum of their squared norms, {rule}":
                    flat([g * scale_l1 for g in grads]),
            }
            if want_total > max_norm:
                mistakes[f"the factor is upside down: scale by τ/‖g‖, not ‖g‖/τ, {rule}"] = \
                    flat([g * (want_total / max_norm) for g in grads])
            expect(flat(got), flat(want), f"the clipped gradients {name}", mistakes)
            total = learner_array(f"total_norm {name}", total)
            if total.shape not in ((), (1,)):
                raise CheckFailed(f"total_norm {name} has shape {total.shape}; it is one "
                                  f"number, the global norm of all the gradients.")
            expect(total.reshape(()), np.asarray(want_total), f"total_norm {name}", {
                f"total_norm is the norm before clipping (what torch.nn.utils.clip_grad_norm_"
                f" returns, handy to monitor exploding gradients), not the norm after it, "
                f"eq. {eq}": np.asarray(_global_norm(want)),
                f"total_norm is the global norm ‖g‖ = √(Σ of all squared entries), not its "
                f"square, eq. {eq}": np.asarray(want_total ** 2),
                f"total_norm is the global L2 norm, √(Σ over the arrays of ‖g_k‖²), not the "
                f"sum of their norms, eq. {eq}": np.asarray(norm_l1),
            }, rtol=1e-5)
        return run

    run_checks("clip_grad_norm", "6.6", fn, [
        case([(4, 3), (4,), (2, 4)], 1.0, "three arrays with global norm ≈ 4, τ = 1"),
        case([(5, 5), (5,)], 2.5, "two arrays, τ = 2.5", scale=3.0),
        case([(3, 2), (6,)], 50.0, "a global norm below τ = 50 (no clipping)"),
        case([(7,)], 0.1, "a single vector, τ = 0.1"),
        case([(2, 3), (3,), (1, 1)], 1.0, "all gradients zero", zero=True),
        case([(6, 4), (4,), (4, 6), (6,)], 5.0, "exploding gradients, τ = 5", scale=100.0),
        case([(2, 2), (3,)], 3.0, "a norm just below τ = 3", scale=0.9),
    ], time_limit=TIME_LIMIT)


# ------------------------------------------------------------------ 6.7 temperature
def check_sample_with_temperature(fn: Any = None) -> None:
    """Exercise 6.7: ``sample_with_temperature(logits, temperature, rng)``, eq. (6.10)."""
    fn = learner_function(fn, "sample_with_temperature")
    eq = EQ["temperature"]
    rule = f"p_k ∝ exp(z_k / T), the softmax of logits / temperature, eq. {eq}"
    draws = 5000

    def index(got, k, call):
        if got is None:
            raise CheckFailed(f"{call} returned None: is the `return` missing?")
        if type(got).__module__.startswith("torch"):
            raise CheckFailed(f"{call} returned a torch.Tensor; use NumPy and return an int.")
        if isinstance(got, (bool, np.bool_)):
            raise CheckFailed(f"{call} returned a bool; return the drawn index, an int.")
        if isinstance(got, np.ndarray) and got.shape == () and got.dtype.kind in "iu":
            got = got.item()
        if not isinstance(got, (int, np.integer)):
            shape = np.shape(got) if isinstance(got, (np.ndarray, list, tuple)) else None
            if shape and shape == (k,):
                raise CheckFailed(f"{call} returned {k} numbers (the probabilities?); draw "
                                  f"one index from them and return it, an int.")
            raise CheckFailed(f"{call} returned a {type(got).__name__}; return one index, "
                              f"an int in 0 … K − 1.")
        if not 0 <= int(got) < k:
            raise CheckFailed(f"{call} returned {int(got)}, outside 0 … {k - 1}.")
        return int(got)

    def sample(fn, z, temp, seed, count):
        rng = np.random.default_rng(seed)
        call = f"sample_with_temperature(logits, {temp:g}, rng)"
        try:
            return [index(fn(z.copy(), temp, rng), len(z), call) for _ in range(count)]
        except ValueError as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            if "nan" in msg.lower():
                raise CheckFailed(f"{call} raised ValueError ({msg[:60]}): exp(z/T) "
                                  f"overflowed for large logits or a small temperature, "
                                  f"which gives inf/inf = nan. Subtract the largest z_k/T "
                                  f"before exp (it cancels in the normalisation): "
                                  f"{rule}.") from None
            if "sum to 1" in msg:
                raise CheckFailed(f"{call} raised ValueError ({msg[:60]}): divide exp(z/T) "
                                  f"by its sum, so that the probabilities add up to 1: "
                                  f"{rule}.") from None
            if "non-negative" in msg:
                raise CheckFailed(f"{call} raised ValueError ({msg[:60]}): the "
                                  f"probabilities are exp(z/T) normalised, never z/T itself: "
                                  f"{rule}.") from None
            raise

    def frequency_case(z, temp, what):
        z = np.asarray(z, dtype=float)

        def run(fn):
            got = np.bincount(sample(fn, z, temp, 6700 + len(z), draws), minlength=len(z))
            freq = got / draws

            def fits(p):
                # five standard errors per category, plus 1% for the rounding of counts
                return bool(np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / draws)
                                   + 0.01))

            p = _softmax(z / temp)
            if fits(p):
                return
            argmax = np.eye(len(z))[np.argmax(z)]
            shown = ", ".join(f"{f:.2f}" for f in freq)
            want = ", ".join(f"{q:.2f}" for q in p)
            for hint, q in [
                (f"it always returns the most likely index; sampling draws index k with "
                 f"probability p_k, so that every plausible token can come out, {rule}",
                 argmax),
                (f"the temperature is ignored (this is the softmax of the logits): {rule}",
                 _softmax(z)),
                (f"the logits are multiplied by T; divide them by T, so that T > 1 flattens "
                 f"the distribution and T < 1 sharpens it: {rule}", _softmax(z * temp)),
            ]:
                if not np.allclose(q, p, atol=0.03) and fits(q):
                    raise CheckFailed(f"for {what}, T = {temp:g}: {hint}.")
            raise CheckFailed(f"for {what}, T = {temp:g}, the frequencies of {draws} draws "
                              f"are [{shown}], expected about [{want}]: {rule}.")
        return run

    def limit_case(z, temp, what):
        z = np.asarray(z, dtype=float)

        def run(fn):
            got = sample(fn, z, temp, 6790, 200)
            best = int(np.argmax(z))
            if any(g != best for g in got):
                raise CheckFailed(f"for {what}, T = {temp:g}, it returned "
                                  f"{sorted(set(got))}; as T → 0 the distribution "
                                  f"concentrates on the largest logit, index {best}: {rule}.")
        return run

    def rng_case(z, temp):
        z = np.asarray(z, dtype=float)

        def run(fn):
            first = sample(fn, z, temp, 6777, 50)
            again = sample(fn, z, temp, 6777, 50)
            if first != again:
                raise CheckFailed(f"two runs with np.random.default_rng(6777) drew different "
                                  f"indices; draw from the `rng` argument (rng.choice or "
                                  f"rng.random), not from np.random, so that a seeded run "
                                  f"can be repeated, eq. {eq}.")
        return run

    z5 = [2.0, 1.0, 0.0, -1.0, 0.5]
    run_checks("sample_with_temperature", "6.7", fn, [
        frequency_case(z5, 1.0, "logits [2, 1, 0, −1, 0.5]"),
        frequency_case(z5, 2.0, "logits [2, 1, 0, −1, 0.5]"),
        frequency_case(z5, 0.5, "logits [2, 1, 0, −1, 0.5]"),
        frequency_case([0.3, -0.2, 0.1], 10.0, "logits [0.3, −0.2, 0.1] (nearly uniform)"),
        rng_case(z5, 1.0),
        limit_case([1.0, 3.0, 2.5, -1.0], 1e-3, "logits [1, 3, 2.5, −1]"),
        limit_case([900.0, 1000.0, 950.0], 0.5, "large logits [900, 1000, 950]"),
        frequency_case([1000.0, 1001.0, 999.0], 1.0, "large logits [1000, 1001, 999]"),
    ], time_limit=TIME_LIMIT)
