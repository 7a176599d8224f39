"""The checks of chapter 07: accept the reference, reject each mistake, never crash."""
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlkit.grading import regularization as checks
from test_grading import TableOfChecks, verdict_of_table

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "07_regularization.ipynb"

#: verdict name -> (check, the learner's functions it takes, in order)
CHECKS = {
    "l2_regularize": (checks.check_l2_regularize, ("l2_regularize",)),
    "weight_decay_step": (checks.check_weight_decay_step,
                          ("weight_decay_step", "l1_step")),
    "dropout_forward": (checks.check_dropout_forward, ("dropout_forward",
                                                        "dropout_backward")),
    "batch_norm_forward": (checks.check_batch_norm_forward, ("batch_norm_forward",)),
    "batch_norm_backward": (checks.check_batch_norm_backward, ("batch_norm_backward",)),
    "train_with_early_stopping": (checks.check_train_with_early_stopping,
                                  ("train_with_early_stopping",)),
    "random_shift": (checks.check_random_shift, ("random_shift",)),
}
NAMES = list(CHECKS)
#: learner function -> the verdict name of the check that grades it
OWNER = {f: name for name, (_, fns) in CHECKS.items() for f in fns}


def run(capsys, name, ns, **replace):
    return verdict_of_table(capsys, CHECKS, name, ns, **replace)


@pytest.mark.parametrize("name", NAMES)
def test_a_missing_function_is_named(capsys, name):
    exec("check()", {"check": CHECKS[name][0]})
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {name}: ") and f"no function named `{name}`" in out, out


@pytest.mark.parametrize("name, second", [("weight_decay_step", "l1_step"),
                                          ("dropout_forward", "dropout_backward")])
def test_a_missing_second_function_is_named(capsys, solution_ns, name, second):
    check, _ = CHECKS[name]
    exec("check()", {"check": check, name: solution_ns[name]})
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {name}: ") and f"no function named `{second}`" in out, out


def test_the_solutions_cite_only_equations_of_the_table():
    nb = nbformat.read(SOLUTION, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    cited = set(re.findall(r"eq(?:s)?\. (\(7\.\d+\))", text))
    assert cited and cited <= set(checks.EQ.values()), cited


# ------------------------------------------------------------------ references vs torch
def t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize("shape", [(16, 5), (6, 3), (4, 3, 5, 6), (5, 4, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("momentum, eps", [(0.1, 1e-5), (0.3, 1e-3)])
def test_batch_norm_forward_reference_agrees_with_torch(shape, training, momentum, eps):
    rng = np.random.default_rng(len(shape) * 10 + shape[0])
    x, gamma, beta = checks._bn_data(rng, shape, tiny=True)
    mean, var = rng.normal(0.0, 1.0, shape[1]), rng.uniform(0.5, 2.0, shape[1])
    mean_t, var_t = t(mean), t(var)
    want = F.batch_norm(t(x), mean_t, var_t, t(gamma), t(beta), training=training,
                        momentum=momentum, eps=eps)
    out, new_mean, new_var = checks._bn_forward(x, gamma, beta, mean, var,
                                                training=training, momentum=momentum,
                                                eps=eps)
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(new_mean, mean_t, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(new_var, var_t, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape", [(8, 4), (2, 6), (4, 3, 5, 6), (64, 7)])
@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_batch_norm_backward_reference_agrees_with_autograd(shape, eps):
    rng = np.random.default_rng(shape[0] + shape[1])
    x, gamma, beta = checks._bn_data(rng, shape)
    dout = rng.standard_normal(shape)
    xt, gt, bt = t(x, True), t(gamma, True), t(beta, True)
    F.batch_norm(xt, None, None, gt, bt, training=True, eps=eps).backward(t(dout))
    for got, want in zip(checks._bn_backward(dout, x, gamma, eps), (xt, gt, bt)):
        np.testing.assert_allclose(got, want.grad, rtol=1e-9, atol=1e-12)


def test_the_batch_norm_mistakes_really_differ_from_the_reference():
    rng = np.random.default_rng(3)
    for shape in [(8, 4), (4, 3, 5, 6)]:
        x, gamma, beta = checks._bn_data(rng, shape, tiny=True)
        mean, var = rng.normal(0, 1, shape[1]), rng.uniform(0.5, 2, shape[1])
        right = checks._bn_forward(x, gamma, beta, mean, var, training=True, eps=1e-3)
        wrong_axes = (1,) if len(shape) == 2 else (0,)
        for kw in [{"norm_var": "unbiased"}, {"eps_mode": "outside"},
                   {"eps_mode": "none"}, {"eps_mode": "no_sqrt"}, {"axes": wrong_axes}]:
            wrong = checks._bn_forward(x, gamma, beta, mean, var, training=True,
                                       eps=1e-3, **kw)
            assert not np.allclose(wrong[0], right[0], equal_nan=True), kw
        for kw, k in [({"run_var": "biased"}, 2), ({"keras": True}, 1)]:
            wrong = checks._bn_forward(x, gamma, beta, mean, var, training=True, **kw)
            assert not np.allclose(wrong[k], right[k]), kw
        dout = rng.standard_normal(shape)
        want = checks._bn_backward(dout, x, gamma)[0]
        kinds = ["constants", "no_mean", "no_var", "no_gamma", "unbiased"]
        for kind in kinds + (["count_n"] if len(shape) > 2 else []):
            wrong = checks._bn_backward(dout, x, gamma, kind=kind)[0]
            assert not np.allclose(wrong, want), kind


def _early_stopping_by_definition(losses, patience):
    """Stop after the first epoch e that lies `patience` epochs after the first minimum
    of losses[:e + 1]; the best epoch is the first minimum of what was trained."""
    for e in range(len(losses)):
        if e - int(np.argmin(losses[:e + 1])) >= patience:
            return int(np.argmin(losses[:e + 1])), e + 1
    return int(np.argmin(losses)), len(losses)


def test_early_stopping_reference_agrees_with_its_definition():
    rng = np.random.default_rng(0)
    for _ in range(500):
        size = int(rng.integers(1, 15))
        losses = list(rng.integers(0, 6, size) / 4)         # many ties
        patience = int(rng.integers(1, 5))
        assert checks._early_stopping(losses, patience) == \
            _early_stopping_by_definition(losses, patience), (losses, patience)


def test_early_stopping_schedules_tell_the_mistakes_apart():
    """Each mistake changes the epochs trained on at least one schedule of the check."""
    schedules = [([1.0, 0.8, 0.65, 0.6, 0.62, 0.66, 0.7, 0.75, 0.8, 0.9], 3),
                 ([1.0, 0.9, 0.95, 0.92, 0.85, 0.88, 0.86, 0.8, 0.83, 0.84, 0.9], 3),
                 ([1.0, 0.7, 0.9, 0.85, 0.8, 0.75, 0.72, 0.71, 0.69, 0.68], 2),
                 ([1.0, 0.8, 0.8, 0.8, 0.7, 0.6], 2)]
    for kw in [{"compare": "first_increase"}, {"offset": 1}, {"offset": -1},
               {"reset": False}, {"compare": "previous"}, {"strict": False}]:
        assert any(checks._early_stopping(s, p, **kw) != checks._early_stopping(s, p)
                   for s, p in schedules), kw


@pytest.mark.parametrize("fill", ["zero", "roll", "edge"])
def test_shift_reference_agrees_with_its_definition(fill):
    rng = np.random.default_rng(1)
    images = rng.uniform(0.1, 1.0, (3, 6, 10))
    n, h, w = images.shape
    for dy in range(-4, 5):
        for dx in range(-4, 5):
            want = np.zeros_like(images)
            for i in range(h):
                for j in range(w):
                    r, c = i - dy, j - dx
                    if fill == "roll":
                        r, c = r % h, c % w
                    elif fill == "edge":
                        r, c = min(max(r, 0), h - 1), min(max(c, 0), w - 1)
                    if 0 <= r < h and 0 <= c < w:
                        want[:, i, j] = images[:, r, c]
            np.testing.assert_array_equal(checks._shift(images, dy, dx, fill), want)


def test_read_shifts_recovers_the_shifts_and_rejects_other_images():
    rng = np.random.default_rng(2)
    images = rng.uniform(0.1, 1.0, (200, 8, 8))
    shifts = rng.integers(-3, 4, (200, 2))
    out = np.stack([checks._shift(images[i:i + 1], dy, dx)[0]
                    for i, (dy, dx) in enumerate(shifts)])
    np.testing.assert_array_equal(checks._read_shifts(images, out, 5), shifts)
    rolled = np.roll(images, 1, axis=2)
    assert np.all(checks._read_shifts(images, rolled, 5)[:, 0] == checks.NO_SHIFT)


# ------------------------------------------------------------------ other right answers
ALSO_RIGHT = {
    "l2_regularize": [
        """def f(params, loss, grads, *, lam, n):
            import torch
            ps = [torch.tensor(p, requires_grad=True) for p in params]
            penalty = lam / (2 * n) * sum((p ** 2).sum() for p in ps[0::2])
            penalty.backward()
            extra = [0.0 if p.grad is None else p.grad.numpy() for p in ps]
            return loss + penalty.item(), [g + e for g, e in zip(grads, extra)]""",
        """def f(params, loss, grads, *, lam, n):
            weights = [p for p in params if p.ndim > 1]
            cost = loss + lam / (2 * n) * sum(np.sum(w * w) for w in weights)
            return cost, [g + lam / n * p if p.ndim > 1 else g + 0 for p, g in
                          zip(params, grads)]""",
    ],
    "weight_decay_step": [
        """def f(w, dw, *, lr, lam, n):
            import torch
            p = torch.tensor(w, requires_grad=True)
            p.grad = torch.tensor(dw)
            torch.optim.SGD([p], lr=lr, weight_decay=lam / n).step()
            return p.detach().numpy()""",
    ],
    "l1_step": [
        """def f(w, dw, *, lr, lam, n):
            import torch
            p = torch.tensor(w, requires_grad=True)
            (lam / n * p.abs().sum() + (p * torch.tensor(dw)).sum()).backward()
            return (p - lr * p.grad).detach().numpy()""",
    ],
    "dropout_forward": [
        """def f(x, *, p, training, rng):
            import torch
            with torch.random.fork_rng():
                torch.manual_seed(int(rng.integers(2 ** 31)))
                out = torch.nn.functional.dropout(torch.tensor(x), p, training).numpy()
            return out, (out != 0, 1 - p if training else 1.0)""",
        """def f(x, *, p, training, rng):
            if not training:
                return x, (None, 1.0)          # the cache of the reference backward
            keep = rng.binomial(1, 1 - p, size=x.shape)
            return keep * x / (1 - p), (keep, 1 - p)""",
    ],
    "dropout_backward": [
        """def f(dout, cache):
            mask, q = cache
            if mask is None:
                return dout
            return np.where(mask, dout / q, 0.0)""",
    ],
    "batch_norm_forward": [
        """def f(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1,
              eps=1e-5):
            import torch
            # torch.from_numpy shares memory: torch updates the caller's arrays in place
            out = torch.nn.functional.batch_norm(
                torch.tensor(x), torch.from_numpy(running_mean),
                torch.from_numpy(running_var), torch.tensor(gamma), torch.tensor(beta),
                training=training, momentum=momentum, eps=eps)
            return out.numpy()""",
        """def f(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1,
              eps=1e-5):
            xs = np.moveaxis(x, 1, -1)                  # channels last
            flat = xs.reshape(-1, xs.shape[-1])
            if training:
                mu, var = flat.mean(axis=0), flat.var(axis=0)
                m = len(flat)
                running_mean[:] = (1 - momentum) * running_mean + momentum * mu
                running_var[:] = ((1 - momentum) * running_var
                                  + momentum * var * m / (m - 1))
            else:
                mu, var = running_mean, running_var
            return np.moveaxis(gamma * (xs - mu) / np.sqrt(var + eps) + beta, -1, 1)""",
    ],
    "batch_norm_backward": [
        """def f(dout, x, gamma, *, eps=1e-5):
            import torch
            xt = torch.tensor(x, requires_grad=True)
            gt = torch.tensor(gamma, requires_grad=True)
            bt = torch.zeros(len(gamma), dtype=torch.float64, requires_grad=True)
            y = torch.nn.functional.batch_norm(xt, None, None, gt, bt, training=True,
                                               eps=eps)
            y.backward(torch.tensor(dout))
            return xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()""",
    ],
    "train_with_early_stopping": [
        """def f(model, train_epoch, val_loss, *, max_epochs, patience):
            import copy
            best, best_epoch, best_model, history = None, 0, None, []
            for epoch in range(max_epochs):
                train_epoch(model)
                history.append(val_loss(model))
                if best is None or history[-1] < best:
                    best, best_epoch = history[-1], epoch
                    best_model = copy.deepcopy(model)
                elif epoch - best_epoch >= patience:
                    break
            model.load_state_dict(best_model.state_dict())
            return best_epoch, history""",
        """def f(model, train_epoch, val_loss, *, max_epochs, patience):
            history, saved, wait = [], None, 0
            for epoch in range(max_epochs):
                train_epoch(model)
                history.append(val_loss(model))
                if history[-1] < min(history[:-1], default=np.inf):
                    saved = {k: v.detach().clone()
                             for k, v in model.state_dict().items()}
                    wait = 0
                else:
                    wait += 1
                if wait == patience:
                    break
            model.load_state_dict(saved)
            return int(np.argmin(history)), np.array(history)""",
    ],
    "random_shift": [
        """def f(images, max_shift, rng):
            n, h, w = images.shape
            out = np.zeros(images.shape)
            for i in range(n):
                dy, dx = rng.integers(-max_shift, max_shift + 1, size=2)
                for r in range(h):
                    for c in range(w):
                        if 0 <= r + dy < h and 0 <= c + dx < w:
                            out[i, r, c] = images[i, r + dy, c + dx]
            return out""",
        """def f(images, max_shift, rng):
            out = images.copy()
            for i in range(len(out)):
                dy, dx = (int(v) for v in rng.integers(-max_shift, max_shift + 1, 2))
                out[i] = np.roll(out[i], (dy, dx), axis=(0, 1))
                if dy > 0:
                    out[i, :dy] = 0
                elif dy < 0:
                    out[i, dy:] = 0
                if dx > 0:
                    out[i, :, :dx] = 0
                elif dx < 0:
                    out[i, :, dx:] = 0
            return out""",
    ],
}


# ------------------------------------------------------------------ wrong answers
_L2 = """def f(params, loss, grads, *, lam, n):
    cost, out = loss, []
    for k, (p, g) in enumerate(zip(params, grads)):
        weight = {weight}
        if weight:
            cost = cost {op} {coef_c} * np.sum({square})
        out.append(g + ({coef_g} * {term} if weight else {bias}))
    return {ret}"""


def l2(weight="k % 2 == 0", op="+", coef_c="lam / (2 * n)", square="p ** 2",
       coef_g="lam / n", term="p", bias="0", ret="cost, out"):
    return _L2.format(weight=weight, op=op, coef_c=coef_c, square=square, coef_g=coef_g,
                      term=term, bias=bias, ret=ret)


_DROP = """def f(x, *, p, training, rng):
    q = 1 - p
    if not ({train}):
        return {eval_out}, (np.ones(x.shape, bool), {eval_q})
    mask = {mask}
    return {out}, (mask, q)"""


def drop(train="training", eval_out="x.copy()", eval_q="1.0",
         mask="rng.random(x.shape) < q", out="x * mask / q"):
    return _DROP.format(train=train, eval_out=eval_out, eval_q=eval_q, mask=mask,
                        out=out)


_BN = """def f(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1,
      eps=1e-5):
    axes = {axes}
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = {m}
    mean, var = x.mean(axis=axes), x.var(axis=axes, ddof={ddof})
    if {update}:
        {run_mean}
        {run_var}
    if not training:
        mean, var = {eval_stats}
    x_hat = (x - mean.reshape(shape)) / {denominator}
    return {out}"""


def bn(axes="(0,) if x.ndim == 2 else (0, 2, 3)", m="x.size // x.shape[1]", ddof="0",
       update="training",
       run_mean="running_mean *= 1 - momentum; running_mean += momentum * mean",
       run_var="running_var *= 1 - momentum; "
               "running_var += momentum * x.var(axis=axes) * m / (m - 1)",
       eval_stats="running_mean, running_var",
       denominator="np.sqrt(var.reshape(shape) + eps)",
       out="gamma.reshape(shape) * x_hat + beta.reshape(shape)"):
    return _BN.format(axes=axes, m=m, ddof=ddof, update=update, run_mean=run_mean,
                      run_var=run_var, eval_stats=eval_stats, denominator=denominator,
                      out=out)


_BN_BACK = """def f(dout, x, gamma, *, eps=1e-5):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    m = {m}
    mean = x.mean(axis=axes, keepdims=True)
    std = np.sqrt(x.var(axis=axes, keepdims=True, ddof={ddof}) + eps)
    x_hat = (x - mean) / std
    dx_hat = {dx_hat}
    s1 = dx_hat.sum(axis=axes, keepdims=True)
    s2 = (dx_hat * x_hat).sum(axis=axes, keepdims=True)
    dx = {dx}
    return {ret}"""


def bn_back(m="x.size // x.shape[1]", ddof="0",
            dx_hat="dout * gamma.reshape((1, -1) + (1,) * (x.ndim - 2))",
            dx="(m * dx_hat - s1 - x_hat * s2) / (m * std)",
            ret="dx, (dout * x_hat).sum(axis=axes), dout.sum(axis=axes)"):
    return _BN_BACK.format(m=m, ddof=ddof, dx_hat=dx_hat, dx=dx, ret=ret)


_STOP = """def f(model, train_epoch, val_loss, *, max_epochs, patience):
    import copy
    best, best_epoch, wait, history, prev = float("inf"), -1, 0, [], float("inf")
    saved = {save}
    for epoch in range(max_epochs):
        train_epoch(model)
        loss = val_loss(model)
        history.append(loss)
        if loss {better} {versus}:
            {reset}
        else:
            wait += 1
        if loss < best:
            best, best_epoch = loss, epoch
            saved = {save}
        prev = loss
        if wait {stop} patience:
            {on_stop}
            break
    {restore}
    return {ret}"""


def stop(save="copy.deepcopy(model.state_dict())", better="<", versus="best",
         reset="wait = 0", stop_=">=", on_stop="pass",
         restore="model.load_state_dict(saved)", ret="best_epoch, history"):
    return _STOP.format(save=save, better=better, versus=versus, reset=reset,
                        stop=stop_, on_stop=on_stop, restore=restore, ret=ret)


_SHIFT = """def f(images, max_shift, rng):
    n, h, w = images.shape
    k = max_shift
    padded = np.pad(images, ((0, 0), (k, k), (k, k)){mode})
    shifts = {shifts}
    out = {out}
    for i, (dy, dx) in enumerate(shifts):
        {body}
    return out"""


def shift(mode="", shifts="rng.integers(-k, k + 1, size=(n, 2))",
          out="np.empty_like(images)",
          body="out[i] = padded[i, k - dy:k - dy + h, k - dx:k - dx + w]"):
    return _SHIFT.format(mode=mode, shifts=shifts, out=out, body=body)


WRONG = {
    "l2_regularize": [
        (l2(weight="True"), "biases are penalised too"),
        (l2(coef_c="lam / n", coef_g="2 * lam / n"), "factor 1/2 is missing"),
        (l2(coef_g="2 * lam / n"), "2(λ/n) w"),
        (l2(coef_c="lam / 2", coef_g="lam"), "division by n is missing"),
        (l2(coef_g="lam"), "division by n is missing from the gradient"),
        (l2(coef_g="lam / (2 * n)"), "the derivative of w² is 2w"),
        (l2(op="-", coef_g="-lam / n"), "the penalty is subtracted"),
        (l2(coef_g="-lam / n"), "the penalty term is subtracted"),
        (l2(coef_g="0"), "without the penalty term"),
        (l2(square="np.abs(p)", coef_c="lam / n", term="np.sign(p)"), "L1 penalty"),
        (l2(term="np.sign(p)"), "gradient of an L1 penalty"),
        (l2(square="p.sum() ** 2"), "(Σ w)²"),
        (l2(ret="cost - loss, out"), "data loss C₀ is missing"),
        (l2(weight="p.ndim == 2"), "convolution kernel"),
        ("""def f(params, loss, grads, *, lam, n):
            cost = loss
            for k in range(0, len(params), 2):
                cost += lam / (2 * n) * np.sum(params[k] ** 2)
                grads[k] += lam / n * params[k]
            return cost, grads""", "in place"),
        (l2(ret="cost"), "return the pair"),
        (l2(ret="cost, out[0::2]"), "one per parameter"),
    ],
    "weight_decay_step": [
        ("def f(w, dw, *, lr, lam, n): return (1 - lr * lam) * w - lr * dw",
         "the division by n is"),
        ("def f(w, dw, *, lr, lam, n): return (1 - lam / n) * w - lr * dw",
         "the learning rate η multiplies"),
        ("def f(w, dw, *, lr, lam, n): return (1 + lr * lam / n) * w - lr * dw",
         "weight decay shrinks the weights"),
        ("def f(w, dw, *, lr, lam, n): return w - lr * dw", "not decayed"),
        ("def f(w, dw, *, lr, lam, n): return (1 - lr * lam / n) * (w - lr * dw)",
         "after the gradient step"),
        ("def f(w, dw, *, lr, lam, n): return (1 - 2 * lr * lam / n) * w - lr * dw",
         "(1 − 2ηλ/n)"),
        ("def f(w, dw, *, lr, lam, n): return (1 - lr * lam / n) * w + lr * "
         "dw", "uphill"),
        ("def f(w, dw, *, lr, lam, n): return w - lr * lam / n * np.sign(w) - lr * dw",
         "this is the L1 step"),
        ("def f(w, dw, *, lr, lam, n):\n w *= 1 - lr * lam / n\n w -= lr * dw\n "
         "return w",
         "in place"),
    ],
    "l1_step": [
        ("def f(w, dw, *, lr, lam, n): return w - lr * lam / n * w - lr * dw",
         "uses w instead of sgn(w)"),
        ("def f(w, dw, *, lr, lam, n): return w - lr * lam * np.sign(w) - lr * dw",
         "division by n is missing"),
        ("def f(w, dw, *, lr, lam, n): return w + lr * lam / n * np.sign(w) - lr * dw",
         "away from 0"),
        ("""def f(w, dw, *, lr, lam, n):
            u = w - lr * dw
            return np.sign(u) * np.maximum(np.abs(u) - lr * lam / n, 0)""",
         "soft-thresholding step of eq. (7.10)"),
        ("def f(w, dw, *, lr, lam, n):\n return w - lr * lam / n * np.where(w >= 0, "
         "1.0, -1.0) - lr * dw", "sgn(0) = 0"),
        ("def f(w, dw, *, lr, lam, n): return w - lr * lam / n * w / np.abs(w) - lr * "
         "dw",
         "0/0 = nan"),
        ("def f(w, dw, *, lr, lam, n): return w - lr * dw", "not penalised"),
    ],
    "dropout_forward": [
        (drop(out="x * mask"), "not rescaled"),
        (drop(out="x * mask / p"), "divided by p"),
        (drop(out="x * mask * q"), "multiplied by q"),
        (drop(mask="rng.random(x.shape) < p"), "probability of dropping"),
        (drop(train="True"), "dropped in evaluation mode"),
        (drop(eval_out="x * q"), "test-time rule of the original dropout"),
        (drop(mask="np.broadcast_to(rng.random(x.shape[1:]) < q, x.shape)"),
         "every example got the same mask"),
        (drop(mask="np.broadcast_to(rng.random((len(x),) + (1,) * (x.ndim - 1)) < q, "
                   "x.shape)"), "whole examples"),
        (drop(mask="np.random.random(x.shape) < q"), "from the `rng` argument"),
        (drop(mask="np.random.default_rng(0).random(x.shape) < q"), "on two calls"),
        (drop(eval_q="q"), "no division by q"),
        ("""def f(x, *, p, training, rng):
            if training:
                x *= (rng.random(x.shape) < 1 - p) / (1 - p)
            return x, (x != 0, 1 - p)""", "in place"),
        ("""def f(x, *, p, training, rng):
            return x * (rng.random(x.shape) < 1 - p) / (1 - p) if training else x""",
         "return the pair (out, cache)"),
    ],
    "dropout_backward": [
        ("def f(dout, cache): return dout / cache[1]", "mask is missing"),
        ("def f(dout, cache): return dout * cache[0]", "division by q is missing"),
        ("def f(dout, cache): return dout", "the mask is not applied"),
        ("""def f(dout, cache):
            q = cache[1]
            return dout * (np.random.default_rng(1).random(dout.shape) < q) / q""",
         "another mask"),
    ],
    "batch_norm_forward": [
        (bn(ddof="1"), "unbiased variance (ddof=1)"),
        (bn(denominator="(np.sqrt(var.reshape(shape)) + eps)"),
         "outside the square root"),
        (bn(denominator="np.sqrt(var.reshape(shape))"), "ε is missing"),
        (bn(denominator="(var.reshape(shape) + eps)"), "divided by the variance"),
        (bn(axes="tuple(range(x.ndim))", run_mean="pass", run_var="pass",
            update="False"), "all the entries at once"),
        ("""def f(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1,
                  eps=1e-5):
                mean, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
                return gamma * (x - mean) / np.sqrt(var + eps) + beta""",
         "layer normalisation"),
        (bn(axes="0"), "average over axes (0, 2, 3)"),
        (bn(eval_stats="mean, var"), "statistics of the batch"),
        (bn(update="True"), "updated in evaluation mode"),
        # the running statistics move in evaluation, but the output uses the old ones
        (bn(update="True", eval_stats="old").replace(
            "    if True:", "    old = running_mean.copy(), running_var.copy()\n    "
                            "if True:"),
         "changed in evaluation mode"),
        (bn(run_var="running_var *= 1 - momentum; running_var += momentum * var"),
         "biased batch variance"),
        (bn(run_mean="running_mean = (1 - momentum) * running_mean + momentum * mean",
            run_var="running_var = (1 - momentum) * running_var + momentum * var * m / "
                    "(m - 1)"), "not updated in place"),
        (bn(run_mean="running_mean[:] = momentum * running_mean + (1 - momentum) * "
                     "mean",
            run_var="running_var[:] = momentum * running_var + (1 - momentum) * var * "
                    "m / (m - 1)"), "weights the old value"),
        (bn(m="x.shape[0]"), "N/(N − 1)"),
        (bn(out="beta.reshape(shape) * x_hat + "
                "gamma.reshape(shape)"), "γ and β are swapped"),
        (bn(out="x_hat"), "γ and β are not applied"),
        (bn(out="gamma * x_hat + beta"), "reshape them to (1, C, 1, 1)"),
        (bn(out="gamma.reshape(shape) * x_hat + beta.reshape(shape), (x_hat, var)"),
         "return the array out alone"),
    ],
    "batch_norm_backward": [
        (bn_back(dx="dx_hat / std"), "treated as constants"),
        (bn_back(dx="(m * dx_hat - x_hat * s2) / (m * std)"), "− Σ_j dx̂_j is missing"),
        (bn_back(dx="(m * dx_hat - s1) / (m * std)"), "− x̂_i Σ_j dx̂_j x̂_j is "
                                                      "missing"),
        (bn_back(dx_hat="dout"), "γ is missing"),
        (bn_back(m="x.shape[0]"), "m is the batch size N"),
        (bn_back(ddof="1"), "unbiased variance"),
        (bn_back(ret="dx, dout * x_hat, "
                     "dout.sum(axis=axes)"), "not summed over the batch"),
        (bn_back(ret="dx, (dout * x_hat).sum(axis=axes), dout.mean(axis=axes)"),
         "a sum, not a mean"),
        (bn_back(ret="dx, dout.sum(axis=axes), dout.sum(axis=axes)"),
         "with the normalised input x̂"),
        (bn_back(ret="dx, dout.sum(axis=axes), (dout * "
                     "x_hat).sum(axis=axes)"), "swapped"),
        (bn_back(ret="dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)"),
         "summed over the batch only"),
        (bn_back(ret="dx, (dout * x_hat).sum(axis=axes)"), "(dx, dgamma, dbeta)"),
    ],
    "train_with_early_stopping": [
        (stop(restore="pass"), "not restored to the best one"),
        (stop(save="model.state_dict()"), "references to the live tensors"),
        (stop(save="model.state_dict().copy()"), "references to the live tensors"),
        (stop(on_stop="model.load_state_dict(saved)", restore="pass"),
         "not only when stopping early"),
        (stop(stop_=">"), "one epoch too many"),
        (stop(stop_=">= -1 +"), "one epoch too early"),
        ("""def f(model, train_epoch, val_loss, *, max_epochs, patience):
            import copy
            history, best, best_epoch, saved = [], float("inf"), -1, None
            for epoch in range(max_epochs):
                train_epoch(model)
                history.append(val_loss(model))
                if history[-1] < best:
                    best, best_epoch = history[-1], epoch
                    saved = copy.deepcopy(model.state_dict())
                if len(history) > 1 and history[-1] > history[-2]:
                    break
            model.load_state_dict(saved)
            return best_epoch, history""", "first epoch whose loss went up"),
        (stop(reset="pass"), "not set back to 0"),
        (stop(versus="prev"), "compared with the previous one"),
        (stop(better="<=", versus="best").replace("if loss < "
                                                  "best:", "if loss <= best:"),
         "an equal loss counted as an improvement"),
        (stop(ret="best_epoch + 1, history"), "it counts from 0"),
        (stop(ret="best, history"), "best_epoch is the best loss"),
        (stop().replace("    history.append(loss)", "    history.append(loss)")
         .replace("best, best_epoch, wait, history, prev = float(\"inf\"), -1, 0, [],",
                  "best, best_epoch, wait, history, prev = float(\"inf\"), -1, 0, "
                  "[val_loss(model)],"), "loss before training"),
        (stop().replace("train_epoch(model)\n", "train_loss = train_epoch(model)\n")
         .replace("history.append(loss)", "history.append(train_loss)"),
         "training losses"),
        (stop(save="{k: v.detach().clone() for k, v in model.named_parameters()}",
              restore="""with __import__('torch').no_grad():
        for k, v in model.named_parameters():
            v.copy_(saved[k])"""), "not its buffers"),
        ("""def f(model, train_epoch, val_loss, *, max_epochs, patience):
            import copy
            best, best_model, history, wait = float("inf"), model, [], 0
            for epoch in range(max_epochs):
                train_epoch(model)
                history.append(val_loss(model))
                if history[-1] < best:
                    best, best_epoch = history[-1], epoch
                    best_model = copy.deepcopy(model)
                    wait = 0
                else:
                    wait += 1
                    if wait >= patience:
                        break
            model = best_model
            return best_epoch, history""", "assigning `model = ...`"),
        ("""def f(model, train_epoch, val_loss, *, max_epochs, patience):
            history = []
            while len(history) < 100:
                train_epoch(model)
                history.append(val_loss(model))
            return 0, history""", "more than max_epochs"),
    ],
    "random_shift": [
        ("""def f(images, max_shift, rng):
            out = np.empty_like(images)
            for i in range(len(images)):
                dy, dx = rng.integers(-max_shift, max_shift + 1, 2)
                out[i] = np.roll(images[i], (dy, dx), axis=(0, 1))
            return out""", "np.roll wraps around"),
        (shift(mode=", mode='edge'"), "repeat the border pixels"),
        (shift(shifts="np.repeat(rng.integers(-k, k + 1, size=(1, 2)), n, axis=0)"),
         "every image was moved by the same"),
        (shift(shifts="np.repeat(rng.integers(-k, k + 1, size=(n, 1)), 2, axis=1)"),
         "always equal"),
        (shift(shifts="rng.integers(-k, k, size=(n, 2))"), "never reaches +"),
        (shift(shifts="rng.integers(0, k + 1, size=(n, 2))"), "never negative"),
        (shift(shifts="rng.integers(-k + 1, k + 1, size=(n, 2))"), "never reaches −"),
        (shift().replace("k = max_shift", "k = max_shift + 1"), "outside [−"),
        (shift(shifts="np.stack([rng.integers(-k, k + 1, n), np.zeros(n, int)], 1)"),
         "dx (columns) is always 0"),
        (shift(shifts="np.random.randint(-k, k + 1, size=(n, 2))"),
         "from the `rng` argument"),
        (shift(shifts="rng.integers(-k, k + 1, size=(n, 2))\n    shifts[:, 0] = "
                      "np.where(shifts[:, 0] == 0, 1, shifts[:, 0])"),
         "not uniform"),
        (shift(out="images", body="out[i] = padded[i, k - dy:k - dy + h, k - dx:k - "
                                  "dx + w]"),
         "wrote into `images`"),
        ("def f(images, max_shift, rng):\n"
         " return np.pad(images, ((0, 0), (max_shift,) * 2, (max_shift,) * 2))",
         "padded images"),
    ],
}

class TestTableOfChecks(TableOfChecks):
    CHECKS, ALSO_RIGHT, WRONG = CHECKS, ALSO_RIGHT, WRONG


@pytest.mark.parametrize("fn", list(OWNER))
def test_torch_tensors_are_rejected_with_a_reason(capsys, solution_ns, fn):
    name = OWNER[fn]
    line = run(capsys, name, solution_ns, **{fn: lambda *a, **k: torch.zeros(3)})
    assert line.startswith(f"✗ {name}: "), line


@pytest.mark.parametrize("fn", ["dropout_forward", "batch_norm_forward"])
def test_wrong_shapes_get_a_verdict(capsys, solution_ns, fn):
    name = OWNER[fn]
    wrong = {"dropout_forward": lambda x, **k: (x[:1], None),
             "batch_norm_forward": lambda x, *a, **k: x.T}[fn]
    line = run(capsys, name, solution_ns, **{fn: wrong})
    assert line.startswith(f"✗ {name}: ") and "has shape" in line, line
