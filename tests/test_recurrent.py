"""Recurrent layers: finite differences (NumPy), NumPy == torch twin, twin == torch.nn
cells and modules with torch.autograd, BPTT == autograd through unrolled cells,
gradient clipping, sampling with a temperature, names and error messages."""
import inspect

import numpy as np
import pytest
import torch
import torch.nn as nn

import dlkit.numpy.recurrent as np_rec
import dlkit.torch.recurrent as pt_rec
from conftest import DEVICES
from dlkit.testing import assert_gradients_close, numerical_vjp

KINDS = ["rnn", "lstm", "gru"]
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
FNS = {(k, cell): getattr(pt_rec, f"{k.upper()}{'Cell' if cell else ''}Fn")
       for k in KINDS for cell in (True, False)}
T, N, D, H = 4, 3, 5, 4
DTYPES = [torch.float64, torch.float32]
LEVELS = pytest.mark.parametrize("cell", [True, False], ids=["cell", "sequence"])


# ------------------------------------------------------------------ helpers
def make_data(rng, kind, cell, steps=T, n=N, d=D, h=H):
    """Inputs [x, h (, c)], weights [w_ih, w_hh, b_ih, b_hh] like torch.nn's init."""
    g = GATES[kind]
    x = rng.standard_normal((n, d) if cell else (steps, n, d))
    states = [rng.standard_normal((n, h)) for _ in range(2 if kind == "lstm" else 1)]
    bound = 1 / np.sqrt(h)
    w = [rng.uniform(-bound, bound, s) for s in ((g * h, d), (g * h, h), (g * h,),
                                                  (g * h,))]
    return [x] + states, w


def forward(mod, kind, cell, inputs, w):
    """Outputs as a list, the cache: cells [h'] or [h', c']; sequences [hs] or
    [hs, h_T, c_T]."""
    if kind == "lstm":
        if cell:
            h, c, cache = mod.lstm_cell_forward(*inputs, *w)
            return [h, c], cache
        hs, (h_T, c_T), cache = mod.lstm_forward(*inputs, *w)
        return [hs, h_T, c_T], cache
    out, cache = getattr(mod, f"{kind}{'_cell' if cell else ''}_forward")(*inputs, *w)
    return [out], cache


def backward(mod, kind, cell, douts, cache):
    """Gradients in the order of the forward's arguments."""
    if cell:
        return getattr(mod, f"{kind}_cell_backward")(*douts, cache)
    if kind == "lstm":
        return mod.lstm_backward(douts[0], cache, dh_T=douts[1], dc_T=douts[2])
    return getattr(mod, f"{kind}_backward")(douts[0], cache)


def torch_module(kind, cell, w, dtype=torch.float64, device="cpu"):
    """The torch.nn cell or one-layer module, with our weights copied in."""
    g, h = GATES[kind], w[1].shape[1]
    m = (CELLS if cell else LAYERS)[kind](w[0].shape[1], h).to(device, dtype)
    suffix = "" if cell else "_l0"
    assert getattr(m, "weight_hh" + suffix).shape == (g * h, h)
    with torch.no_grad():
        for name, a in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), w):
            getattr(m, name + suffix).copy_(torch.as_tensor(a))
    return m


def module_outputs(kind, cell, m, inputs):
    """Call a torch.nn cell/module; return the outputs in our order."""
    x, h = inputs[:2]
    if cell:
        return list(m(x, (h, inputs[2]))) if kind == "lstm" else [m(x, h)]
    if kind == "lstm":
        out, (h_n, c_n) = m(x, (h[None], inputs[2][None]))
        return [out, h_n[0], c_n[0]]
    return [m(x, h[None])[0]]


def tensors(arrays, device, dtype=torch.float64, grad=True):
    return [torch.tensor(a, device=device, dtype=dtype, requires_grad=grad)
            for a in arrays]


def to_np(t):
    return t.detach().cpu().numpy()


def as_np(a):
    return to_np(a) if isinstance(a, torch.Tensor) else np.asarray(a)


def dot(outs, douts):
    return sum((o * d).sum() for o, d in zip(outs, douts))


# ------------------------------------------------------------ 1. finite differences
@LEVELS
@pytest.mark.parametrize("kind", KINDS)
def test_numpy_backward_matches_finite_differences(rng, kind, cell):
    inputs, w = make_data(rng, kind, cell)
    outs, cache = forward(np_rec, kind, cell, inputs, w)
    douts = [rng.standard_normal(o.shape) for o in outs]   # incl. dh_T, dc_T (LSTM)
    grads = backward(np_rec, kind, cell, douts, cache)
    args = inputs + w
    assert len(grads) == len(args)
    names = (["x", "h", "c"][:len(inputs)]) + ["w_ih", "w_hh", "b_ih", "b_hh"]
    for j, (name, a, g) in enumerate(zip(names, args, grads)):
        assert g.shape == a.shape, name

        def f(v, j=j):
            trial = list(args)
            trial[j] = v
            k = len(inputs)
            outs = forward(np_rec, kind, cell, trial[:k], trial[k:])[0]
            return np.concatenate([o.ravel() for o in outs])

        dflat = np.concatenate([d.ravel() for d in douts])
        assert_gradients_close(g, numerical_vjp(f, a, dflat, h=1e-5),
                               name=f"{kind} d{name}")


@pytest.mark.parametrize("kind", KINDS)
def test_sequence_is_a_loop_over_cells_and_bptt_sums_the_cell_gradients(rng, kind):
    """The whole-sequence functions compute what the cells do step by step; BPTT is
    the cells' backward run from t = T down to 1, weight gradients summed."""
    inputs, w = make_data(rng, kind, cell=False, steps=6)
    outs, cache = forward(np_rec, kind, False, inputs, w)
    douts = [rng.standard_normal(o.shape) for o in outs]
    grads = backward(np_rec, kind, False, douts, cache)
    x, states = inputs[0], inputs[1:]
    caches = []
    for t in range(len(x)):
        step_outs, c = forward(np_rec, kind, True, [x[t]] + states, w)
        states = step_outs
        caches.append(c)
        np.testing.assert_allclose(step_outs[0], outs[0][t], rtol=1e-12, atol=1e-14)
    if kind == "lstm":
        np.testing.assert_allclose(states[1], outs[2], rtol=1e-12, atol=1e-14)
    carried = [np.zeros_like(s) for s in states]           # dh (and dc) from step t+1
    if kind == "lstm":
        carried = [douts[1], douts[2]]
    dx, dw = np.zeros_like(x), [np.zeros_like(a) for a in w]
    for t in range(len(x) - 1, -1, -1):
        step_douts = [douts[0][t] + carried[0]] + carried[1:]
        g = backward(np_rec, kind, True, step_douts, caches[t])
        dx[t], carried = g[0], list(g[1:1 + len(carried)])
        dw = [a + b for a, b in zip(dw, g[1 + len(carried):])]
    for got, want in zip(grads, [dx] + carried + dw):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_bptt_chunks_carry_the_state(rng, kind):
    """Two chunks, the first's final state the second's initial state, give the whole
    sequence's states; passing the second chunk's dh0 (dc0) back as the first chunk's
    dh_T (dc_T) gives the whole gradient (truncated BPTT stops exactly there)."""
    inputs, w = make_data(rng, kind, cell=False, steps=7)
    outs, cache = forward(np_rec, kind, False, inputs, w)
    dhs = rng.standard_normal(outs[0].shape)
    lstm = kind == "lstm"
    zeros = [np.zeros((N, H))] * 2
    full = backward(np_rec, kind, False, [dhs] + zeros * lstm, cache)
    x, first = inputs[0], inputs[1:]
    o1, c1 = forward(np_rec, kind, False, [x[:3]] + first, w)
    second = o1[1:] if lstm else [o1[0][-1]]
    o2, c2 = forward(np_rec, kind, False, [x[3:]] + second, w)
    np.testing.assert_allclose(np.concatenate([o1[0], o2[0]]), outs[0], rtol=1e-12)
    g2 = backward(np_rec, kind, False, [dhs[3:]] + zeros * lstm, c2)
    n_states = 2 if lstm else 1
    carried = list(g2[1:1 + n_states])
    if lstm:
        g1 = np_rec.lstm_backward(dhs[:3], c1, dh_T=carried[0], dc_T=carried[1])
    else:
        d1 = dhs[:3].copy()
        d1[-1] += carried[0]
        g1 = backward(np_rec, kind, False, [d1], c1)
    np.testing.assert_allclose(np.concatenate([g1[0], g2[0]]), full[0], rtol=1e-10)
    for k in range(1, 1 + n_states):                       # dh0, dc0: from chunk 1
        np.testing.assert_allclose(g1[k], full[k], rtol=1e-10, atol=1e-13)
    for a, b, want in zip(g1[1 + n_states:], g2[1 + n_states:], full[1 + n_states:]):
        np.testing.assert_allclose(a + b, want, rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------ 2. NumPy == torch twin
@pytest.mark.parametrize("device", DEVICES)
@LEVELS
@pytest.mark.parametrize("kind", KINDS)
def test_twin_matches_numpy(rng, kind, cell, device):
    inputs, w = make_data(rng, kind, cell)
    outs, cache = forward(np_rec, kind, cell, inputs, w)
    douts = [rng.standard_normal(o.shape) for o in outs]
    grads = backward(np_rec, kind, cell, douts, cache)
    pt_outs, pt_cache = forward(pt_rec, kind, cell, tensors(inputs, device, grad=False),
                                tensors(w, device, grad=False))
    pt_douts = tensors(douts, device, grad=False)
    pt_grads = backward(pt_rec, kind, cell, pt_douts, pt_cache)
    for got, want in zip(pt_outs + list(pt_grads), outs + list(grads)):
        assert got.device.type == torch.device(device).type
        np.testing.assert_allclose(to_np(got), want, rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------ 3. twin == torch.nn
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@LEVELS
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch_nn_values_and_autograd(rng, kind, cell, dtype, device):
    """nn.RNNCell/LSTMCell/GRUCell and one-layer nn.RNN/LSTM/GRU with our weights:
    the same outputs; the hand-written backward (through the autograd Function, and
    the NumPy reference) gives autograd's gradients of every input and parameter."""
    inputs, w = make_data(rng, kind, cell)
    m = torch_module(kind, cell, w, dtype, device)
    params = [getattr(m, n + ("" if cell else "_l0"))
              for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    ref_in = tensors(inputs, device, dtype)
    ref_outs = module_outputs(kind, cell, m, ref_in)
    douts = [torch.randn(o.shape, dtype=dtype, device=device,
                         generator=torch.Generator(device).manual_seed(k))
             for k, o in enumerate(ref_outs)]
    dot(ref_outs, douts).backward()
    ref_grads = [t.grad for t in ref_in] + [p.grad for p in params]

    ours_in, ours_w = tensors(inputs, device, dtype), tensors(w, device, dtype)
    outs = FNS[kind, cell].apply(*ours_in, *ours_w)
    outs = [outs] if isinstance(outs, torch.Tensor) else list(outs)
    dot(outs, douts).backward()
    tol = {} if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    for got, want in zip(outs, ref_outs):
        assert got.dtype == dtype
        torch.testing.assert_close(got, want, **tol)
    for got, want in zip([t.grad for t in ours_in + ours_w], ref_grads):
        torch.testing.assert_close(got, want, **tol)

    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    np_outs, cache = forward(np_rec, kind, cell, [a.astype(np_dtype) for a in inputs],
                             [a.astype(np_dtype) for a in w])
    np_grads = backward(np_rec, kind, cell, [to_np(d) for d in douts], cache)
    for got, want in zip(np_outs + list(np_grads), ref_outs + ref_grads):
        assert got.dtype == np_dtype
        np.testing.assert_allclose(got, to_np(want), **(
            dict(rtol=1e-10, atol=1e-12) if dtype == torch.float64 else tol))


@LEVELS
@pytest.mark.parametrize("kind", KINDS)
def test_autograd_functions_pass_gradcheck(rng, kind, cell):
    """torch.autograd.gradcheck: the hand-written backward of each Function against
    finite differences of its forward, for every input and every output."""
    inputs, w = make_data(rng, kind, cell, steps=3, n=2, d=3, h=3)
    args = tensors(inputs + w, "cpu")
    assert torch.autograd.gradcheck(FNS[kind, cell].apply, args)


def test_lstm_fn_when_only_hs_reaches_the_loss(rng):
    """Unused outputs (h_T, c_T) get zero gradients, as in torch.nn.LSTM."""
    inputs, w = make_data(rng, "lstm", cell=False)
    args = tensors(inputs + w, "cpu")
    hs, _, _ = pt_rec.LSTMFn.apply(*args)
    hs.sum().backward()
    m = torch_module("lstm", False, w)
    ref_in = tensors(inputs, "cpu")
    module_outputs("lstm", False, m, ref_in)[0].sum().backward()
    for t, ref in zip(args, ref_in):
        torch.testing.assert_close(t.grad, ref.grad)


@pytest.mark.parametrize("kind", KINDS)
def test_bptt_equals_autograd_through_the_unrolled_torch_cell(rng, kind):
    """Unroll nn.RNNCell/LSTMCell/GRUCell over T steps by hand and let autograd go back
    through the loop: that is what BPTT computes."""
    steps = 6
    inputs, w = make_data(rng, kind, cell=False, steps=steps)
    outs, cache = forward(np_rec, kind, False, inputs, w)
    dhs = rng.standard_normal(outs[0].shape)
    zeros = [np.zeros((N, H))] * 2 * (kind == "lstm")
    grads = backward(np_rec, kind, False, [dhs] + zeros, cache)
    m = torch_module(kind, True, w)
    x, *state = tensors(inputs, "cpu")
    s = state
    loss = 0
    for t in range(steps):
        s = list(m(x[t], tuple(s))) if kind == "lstm" else [m(x[t], s[0])]
        loss = loss + (s[0] * torch.tensor(dhs[t])).sum()
    loss.backward()
    want = [x.grad] + [t.grad for t in state] + [m.weight_ih.grad, m.weight_hh.grad,
                                                  m.bias_ih.grad, m.bias_hh.grad]
    for got, ref in zip(grads, want):
        np.testing.assert_allclose(got, to_np(ref), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_a_longer_sequence_matches_torch_nn(rng, kind):
    """T = 50 as in the benchmark (smaller batch and widths): the buffers and the
    after-the-loop weight gradients over many steps."""
    inputs, w = make_data(rng, kind, cell=False, steps=50, n=4, d=6, h=8)
    m = torch_module(kind, False, w)
    ref_in = tensors(inputs, "cpu")
    ref_outs = module_outputs(kind, False, m, ref_in)
    douts = [rng.standard_normal(o.shape) for o in ref_outs]
    dot(ref_outs, [torch.tensor(d) for d in douts]).backward()
    outs, cache = forward(np_rec, kind, False, inputs, w)
    grads = backward(np_rec, kind, False, douts, cache)
    want = ref_outs + [t.grad for t in ref_in] + [
        p.grad for p in (m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)]
    for got, ref in zip(outs + list(grads), want):
        np.testing.assert_allclose(got, to_np(ref), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", KINDS)
def test_twin_forward_is_differentiable_by_autograd(rng, kind, device):
    """The twin's forward is made of tensor ops, so autograd can go through it too."""
    inputs, w = make_data(rng, kind, cell=False)
    ours = tensors(inputs + w, device)
    outs, _ = forward(pt_rec, kind, False, ours[:len(inputs)], ours[len(inputs):])
    sum(o.square().sum() for o in outs).backward()
    m = torch_module(kind, False, w, device=device)
    ref_in = tensors(inputs, device)
    sum(o.square().sum() for o in module_outputs(kind, False, m, ref_in)).backward()
    want = [t.grad for t in ref_in] + [
        p.grad for p in (m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)]
    for t, ref in zip(ours, want):
        torch.testing.assert_close(t.grad, ref)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_saturated_gates_stay_finite_without_warnings(rng, dtype):
    """Pre-activations of ±1e4 saturate every gate: σ is computed through tanh, which
    cannot overflow, so there is no warning, and the results match torch."""
    for kind in KINDS:
        for cell in (True, False):
            inputs, w = make_data(rng, kind, cell)
            w = [1e4 * a for a in w]
            inputs, w = [a.astype(dtype) for a in inputs], [a.astype(dtype) for a in w]
            with np.errstate(all="raise"):
                outs, cache = forward(np_rec, kind, cell, inputs, w)
                grads = backward(np_rec, kind, cell, [np.ones_like(o) for o in outs],
                                 cache)
            assert all(np.isfinite(a).all() for a in outs + list(grads))
            ref = module_outputs(kind, cell, torch_module(
                kind, cell, w, dtype=torch.float64), tensors(inputs, "cpu"))
            for got, want in zip(outs, ref):
                np.testing.assert_allclose(got, to_np(want), atol=1e-5)


def test_numpy_dtypes_and_inputs_are_left_alone(rng):
    inputs, w = make_data(rng, "lstm", cell=False)
    copies = [a.copy() for a in inputs + w]
    hs, (h_T, c_T), cache = np_rec.lstm_forward(*inputs, *w)
    dh_T, dc_T = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dcopies = [dh_T.copy(), dc_T.copy()]
    np_rec.lstm_backward(np.ones(hs.shape), cache, dh_T=dh_T, dc_T=dc_T)
    np_rec.lstm_backward(np.ones(hs.shape), cache, dh_T=dh_T, dc_T=dc_T)  # twice: ok
    for a, c in zip(inputs + w + [dh_T, dc_T], copies + dcopies):
        np.testing.assert_array_equal(a, c)
    mixed, _ = np_rec.rnn_forward(inputs[0].astype(np.float32), inputs[1],
                                  w[0][:H], w[1][:H, :], w[2][:H], w[3][:H])
    assert mixed.dtype == np.float64                         # float64 wins, like NumPy
    ints, _ = np_rec.rnn_cell_forward(np.arange(2 * D).reshape(2, D), np.zeros((2, H)),
                                      w[0][:H], w[1][:H], w[2][:H], w[3][:H])
    assert ints.dtype == np.float64


# ------------------------------------------------------------ 4. gradient clipping
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("max_norm", [0.5, 100.0], ids=["clipped", "unclipped"])
@pytest.mark.parametrize("module", [np_rec, pt_rec], ids=["numpy", "torch"])
def test_clip_grad_norm_matches_torch(rng, module, max_norm, dtype):
    arrays = [rng.standard_normal(s) for s in ((4, 3), (3,), (2, 2, 2))]
    params = [torch.zeros(a.shape, dtype=dtype, requires_grad=True) for a in arrays]
    for p, a in zip(params, arrays):
        p.grad = torch.tensor(a, dtype=dtype)
    want_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    want = [to_np(p.grad) for p in params]
    if module is np_rec:
        grads = [a.astype(want[0].dtype) for a in arrays]
    else:
        grads = [torch.tensor(a, dtype=dtype) for a in arrays]
    copies = [np.array(as_np(g)) for g in grads]
    clipped, total = module.clip_grad_norm(grads, max_norm)
    tol = dict(rtol=1e-12) if dtype == torch.float64 else dict(rtol=1e-6)
    np.testing.assert_allclose(float(total), float(want_norm), **tol)
    assert (float(total) > max_norm) == (max_norm == 0.5)
    for got, ref, g, c in zip(clipped, want, grads, copies):
        np.testing.assert_allclose(as_np(got), ref, **tol)
        assert as_np(got).dtype == ref.dtype
        np.testing.assert_array_equal(as_np(g), c)          # no in-place change
        assert got is not g
    new_norm = np.sqrt(sum(np.sum(as_np(g).astype(float) ** 2) for g in clipped))
    assert new_norm == pytest.approx(min(max_norm, float(total)), rel=1e-5)
    if module is pt_rec:
        assert isinstance(total, torch.Tensor) and total.ndim == 0


@pytest.mark.parametrize("module", [np_rec, pt_rec], ids=["numpy", "torch"])
def test_clip_grad_norm_with_inf_or_nan_behaves_like_torch(module):
    for bad in (np.inf, np.nan):
        arrays = [np.array([1.0, bad]), np.array([2.0])]
        params = [torch.zeros(2, dtype=torch.float64, requires_grad=True),
                  torch.zeros(1, dtype=torch.float64, requires_grad=True)]
        for p, a in zip(params, arrays):
            p.grad = torch.tensor(a)
        want_norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        grads = arrays if module is np_rec else [torch.tensor(a) for a in arrays]
        with np.errstate(invalid="ignore"):              # inf * 0 = NaN, as in torch
            clipped, total = module.clip_grad_norm(grads, 1.0)
        np.testing.assert_array_equal(float(total), float(want_norm))
        for got, p in zip(clipped, params):
            np.testing.assert_array_equal(as_np(got), to_np(p.grad))


# ------------------------------------------------------------ 5. sampling
LOGITS = np.array([2.0, 1.0, 0.5, -1.0, 0.0])


def draw(module, logits, temperature, seed=0):
    if module is np_rec:
        return np.asarray(module.sample_with_temperature(
            logits, temperature, rng=np.random.default_rng(seed)))
    gen = torch.Generator().manual_seed(seed)
    return to_np(module.sample_with_temperature(torch.tensor(logits), temperature,
                                                generator=gen))


@pytest.mark.parametrize("temperature", [0.7, 1.0, 2.0])
@pytest.mark.parametrize("module", [np_rec, pt_rec], ids=["numpy", "torch"])
def test_sample_frequencies_follow_softmax_of_logits_over_temperature(module,
                                                                      temperature):
    n = 20_000
    samples = draw(module, np.tile(LOGITS, (n, 1)), temperature)   # one draw per row
    assert samples.shape == (n,) and samples.dtype == np.int64
    p = np.exp(LOGITS / temperature)
    p /= p.sum()
    counts = np.bincount(samples, minlength=len(LOGITS))
    chi2 = np.sum((counts - n * p) ** 2 / (n * p))
    assert chi2 < 18.47, (chi2, counts, n * p)   # chi-square, 4 dof, p = 0.001


@pytest.mark.parametrize("module", [np_rec, pt_rec], ids=["numpy", "torch"])
def test_sample_temperature_limits(module):
    rows = np.tile(LOGITS, (2000, 1))
    assert set(draw(module, rows, 0.02)) == {0}              # T -> 0: greedy argmax
    with np.errstate(all="raise"):
        assert set(draw(module, rows, 1e-310)) == {0}        # no overflow, even here
    ties = draw(module, np.tile([1.0, 3.0, 3.0], (2000, 1)), 1e-9)
    assert set(ties) == {1, 2} and abs(np.mean(ties == 1) - 0.5) < 0.05
    freq = np.bincount(draw(module, rows, 1e4), minlength=5) / len(rows)
    np.testing.assert_allclose(freq, 0.2, atol=0.03)         # T -> inf: uniform
    masked = draw(module, np.tile([0.0, -np.inf, 0.0], (500, 1)), 1.0)
    assert 1 not in set(masked)                              # -inf: never drawn


@pytest.mark.parametrize("module", [np_rec, pt_rec], ids=["numpy", "torch"])
def test_sample_shapes_rows_and_seeds(module):
    one = draw(module, LOGITS, 1.0)
    assert one.shape == ()
    if module is np_rec:
        assert isinstance(np_rec.sample_with_temperature(
            LOGITS, 1.0, rng=np.random.default_rng(0)), int)
    rows = np.array([[9.0, 0.0, 0.0], [0.0, 0.0, 9.0]])     # each row has its favourite
    got = draw(module, np.repeat(rows, 50, axis=0), 1.0).reshape(2, 50)
    assert (got[0] == 0).mean() > 0.9 and (got[1] == 2).mean() > 0.9
    a, b = draw(module, rows, 1.0, seed=3), draw(module, rows, 1.0, seed=3)
    np.testing.assert_array_equal(a, b)                      # a fixed seed, fixed draws


@pytest.mark.parametrize("device", DEVICES)
def test_torch_sample_stays_on_the_device_of_the_logits(device):
    logits = torch.tensor([[0.0, 5.0]], device=device)
    idx = pt_rec.sample_with_temperature(logits, 1.0,
                                         generator=torch.Generator().manual_seed(0))
    assert idx.device.type == torch.device(device).type and idx.dtype == torch.int64


# ------------------------------------------------------------ 6. names and errors
def test_twins_have_the_same_public_names_and_signatures():
    twin_only = {"RNNCellFn", "LSTMCellFn", "GRUCellFn", "RNNFn", "LSTMFn", "GRUFn"}
    assert [n for n in pt_rec.__all__ if n not in twin_only] == np_rec.__all__
    assert twin_only <= set(pt_rec.__all__)
    same = {"rng": "generator"}                              # randomness is explicit
    for name in np_rec.__all__:
        pa = inspect.signature(getattr(np_rec, name)).parameters
        pb = inspect.signature(getattr(pt_rec, name)).parameters
        assert [same.get(p, p) for p in pa] == list(pb), name
        for p in pa:
            assert pa[p].default == pb[same.get(p, p)].default, (name, p)
            assert pa[p].kind == pb[same.get(p, p)].kind, (name, p)


Z = np.zeros


def lstm_args(x=(2, 32), h=(2, 128), c=(2, 128), w_ih=(512, 32), w_hh=(512, 128),
              b=(512,)):
    return [Z(x), Z(h), Z(c), Z(w_ih), Z(w_hh), Z(b), Z(b)]


def seq(kind, x, h0, hidden=4, d=3):
    g = GATES[kind]
    w = [Z((g * hidden, d)), Z((g * hidden, hidden)), Z(g * hidden), Z(g * hidden)]
    return [Z(x), Z(h0)] + ([Z(h0)] if kind == "lstm" else []) + w


def fwd(kind, cell=False):
    return getattr(np_rec, f"{kind}{'_cell' if cell else ''}_forward")


_, _, LSTM_CACHE = np_rec.lstm_forward(*seq("lstm", (5, 3, 3), (3, 4)))
_, GRU_CELL_CACHE = np_rec.gru_cell_forward(Z((3, 3)), Z((3, 4)), Z((12, 3)),
                                             Z((12, 4)), Z(12), Z(12))
RNN_REST = [(3, 4), (4, 3), (4, 4), (4,), (4,)]  # h, w_ih, w_hh, b_ih, b_hh; N=D=3, H=4
ERRORS = [  # (call, exception, message)
    (lambda: np_rec.lstm_cell_forward(*lstm_args(w_ih=(512, 16))), ValueError,
     r"lstm_cell_forward: `w_ih` has shape \(512, 16\), expected \(4\*H, D\) = "
     r"\(4\*128, 32\) = \(512, 32\) for an LSTM with hidden size H=128 \(from "
     r"h.shape\[1\]\) and input size D=32 \(from x.shape\[1\]\); gate order i, f, g, o "
     r"like torch.nn.LSTM"),
    (lambda: np_rec.lstm_cell_forward(*lstm_args(w_ih=(32, 512))), ValueError,
     r"It looks transposed: .*\(out, in\) like torch.nn; pass w_ih.T"),
    (lambda: np_rec.lstm_cell_forward(*lstm_args(w_ih=(384, 32))), ValueError,
     r"Its 384 = 3\*128 rows are those of a GRU"),
    (lambda: np_rec.lstm_cell_forward(*lstm_args(h=(2, 64), c=(2, 64))), ValueError,
     r"`w_ih` has shape \(512, 32\), expected .* hidden size H=64 .*It fits hidden "
     r"size 128: the state and the weights disagree"),
    (lambda: np_rec.lstm_cell_forward(*lstm_args(b=(128,))), ValueError,
     r"`b_ih` has shape \(128,\), expected \(4\*H,\) = \(4\*128,\) = \(512,\) for an "
     r"LSTM with hidden size H=128 \(from h.shape\[1\]\); gate order.*Its 128 = "
     r"1\*128 entries are those of an RNN"),
    (lambda: np_rec.rnn_cell_forward(Z((2, 3)), Z((2, 4)), Z((4, 3)), Z((4, 5)),
                                     Z(4), Z(4)), ValueError,
     r"`w_hh` has shape \(4, 5\), expected \(H, H\) = \(4, 4\) for an RNN .*like "
     r"torch.nn.RNN"),
    (lambda: np_rec.gru_cell_forward(Z((2, 3)), Z((2, 4)), Z((16, 3)), Z((12, 4)),
                                     Z(12), Z(12)), ValueError,
     r"gate order r, z, n like torch.nn.GRU\. Its 16 = 4\*4 rows are those of an LSTM"),
    (lambda: np_rec.lstm_cell_forward(*lstm_args(c=(2, 64))), ValueError,
     r"`c` has shape \(2, 64\), expected the shape of h, \(2, 128\)"),
    (lambda: np_rec.lstm_cell_forward(*lstm_args(x=(32,))), ValueError,
     r"`x` has shape \(32,\), expected 2 dimensions \(N, D\).*x\[None\]"),
    (lambda: np_rec.lstm_cell_forward(*lstm_args(x=(5, 2, 32))), ValueError,
     r"A cell takes one time step; for a whole sequence \(T, N, D\) use lstm_forward"),
    (lambda: np_rec.lstm_cell_forward(*lstm_args(h=(3, 128))), ValueError,
     r"`h` has shape \(3, 128\), expected \(N, H\) with N=2 \(from x.shape\[0\]\)"),
    (lambda: fwd("lstm")(*seq("lstm", (3, 7, 3), (3, 4))), ValueError,
     r"`x` has shape \(3, 7, 3\), read as \(T, N, D\) = \(3, 7, 3\), but `h0` has 3 "
     r"rows.*looks batch-first, \(N, T, D\).*transpose with x.transpose\(1, 0, 2\)"),
    (lambda: pt_rec.gru_forward(*map(torch.tensor, seq("gru", (3, 7, 3), (3, 4)))),
     ValueError, r"batch-first.*torch.nn.GRU's default; transpose with "
                 r"x.transpose\(0, 1\)"),
    (lambda: fwd("rnn")(*seq("rnn", (7, 3), (1, 4))), ValueError,
     r"`x` has shape \(7, 3\), expected 3 dimensions \(T, N, D\), time first like "
     r"torch.nn.RNN's default \(batch_first=False\). For one sequence of shape "
     r"\(T, D\) add a batch axis: x\[:, None\]"),
    (lambda: fwd("gru")(Z((5, 2, 3)), Z((1, 2, 4)), Z((12, 3)), Z((12, 4)), Z(12),
                        Z(12)), ValueError,
     r"`h0` has shape \(1, 2, 4\).*\(num_layers, N, H\); for one layer drop that "
     r"axis: h0\[0\]"),
    (lambda: fwd("rnn")(*seq("rnn", (0, 2, 3), (2, 4))), ValueError,
     r"no time steps"),
    (lambda: np_rec.lstm_backward(Z((3, 4)), LSTM_CACHE), ValueError,
     r"lstm_backward: `dhs` has shape \(3, 4\), expected \(5, 3, 4\), the shape of hs"
     r".*If the loss uses only the last state, pass zeros"),
    (lambda: np_rec.lstm_backward(Z((5, 3, 4)), LSTM_CACHE, dc_T=Z((4, 3))),
     ValueError, r"`dc_T` has shape \(4, 3\), expected \(3, 4\), the shape of c_T"),
    (lambda: np_rec.gru_cell_backward(Z((3, 5)), GRU_CELL_CACHE), ValueError,
     r"`dh_next` has shape \(3, 5\), expected \(3, 4\), the shape of h_next"),
    (lambda: np_rec.gru_backward(Z((5, 3, 4)), LSTM_CACHE), TypeError,
     r"`cache` must be the cache that gru_forward returned \(GRUCache\), got "
     r"LSTMCache"),
    (lambda: np_rec.clip_grad_norm([Z(3)], 0.0), ValueError,
     r"clip_grad_norm: invalid `max_norm`=0.0, expected a value in \(0, inf\)"),
    (lambda: pt_rec.clip_grad_norm([torch.zeros(3)], -1), ValueError,
     r"invalid `max_norm`=-1.0"),
    (lambda: np_rec.clip_grad_norm(Z(3), 1.0), TypeError,
     r"`grads` must be a list of gradient arrays.*pass \[g\]"),
    (lambda: np_rec.sample_with_temperature(Z(3), 0.0, rng=np.random.default_rng()),
     ValueError, r"sample_with_temperature: invalid `temperature`=0.0, expected a "
                 r"value in \(0, inf\)"),
    (lambda: pt_rec.sample_with_temperature(torch.zeros(3), -2.0,
                                            generator=torch.Generator()),
     ValueError, r"invalid `temperature`=-2.0"),
    (lambda: np_rec.sample_with_temperature(Z(3), 1.0, rng=0), TypeError,
     r"`rng` must be a np.random.Generator"),
    (lambda: pt_rec.sample_with_temperature(torch.zeros(3), 1.0, generator=None),
     TypeError, r"`generator` must be a torch.Generator"),
    (lambda: np_rec.sample_with_temperature(Z((2, 3, 4)), 1.0,
                                            rng=np.random.default_rng()),
     ValueError, r"`logits` has shape \(2, 3, 4\), expected \(K,\)"),
    (lambda: np_rec.sample_with_temperature(np.array([0.0, np.nan]), 1.0,
                                            rng=np.random.default_rng()),
     ValueError, r"`logits` holds NaN or \+inf"),
    (lambda: np_rec.rnn_cell_forward(torch.zeros(3, 3), *[Z(s) for s in RNN_REST]),
     TypeError, r"Use the twin in dlkit.torch"),
    (lambda: pt_rec.rnn_cell_forward(Z((3, 3)), *[torch.zeros(s) for s in RNN_REST]),
     TypeError, r"convert with dlkit.to_torch"),
    (lambda: pt_rec.rnn_cell_forward(torch.zeros(3, 3), *[torch.zeros(s) for s in
                                                          RNN_REST[:-1]],
                                     torch.zeros(4, dtype=torch.float64)),
     ValueError, r"`x` is torch.float32 on cpu but `b_hh` is torch.float64"),
    (lambda: pt_rec.rnn_backward(torch.zeros(5, 3, 4, dtype=torch.float64),
                                 pt_rec.rnn_forward(torch.zeros(5, 3, 3), *[
                                     torch.zeros(s) for s in RNN_REST])[1]),
     ValueError, r"the forward pass ran in torch.float32 on cpu but `dhs` is "
                 r"torch.float64"),
]


@pytest.mark.parametrize("call, exc, message", ERRORS,
                         ids=[f"error{k}" for k in range(len(ERRORS))])
def test_bad_input_gets_a_clear_error(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
