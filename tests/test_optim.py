"""The optimizers: NumPy reference == PyTorch twin == torch.optim, step for step."""
import inspect

import numpy as np
import pytest
import torch

import dlkit.numpy.optim as np_optim
import dlkit.torch.optim as pt_optim
from conftest import DEVICES

# (dlkit name, torch.optim class, hyperparameters): every option of every rule.
CASES = [
    ("sgd_step", torch.optim.SGD, dict(lr=1e-3)),
    ("sgd_step", torch.optim.SGD, dict(lr=1e-3, momentum=0.9)),
    ("sgd_step", torch.optim.SGD, dict(lr=5e-4, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("adagrad_step", torch.optim.Adagrad, dict(lr=0.1)),
    ("adagrad_step", torch.optim.Adagrad, dict(lr=0.05, eps=1e-6, weight_decay=0.01)),
    ("rmsprop_step", torch.optim.RMSprop, dict(lr=1e-2)),
    ("rmsprop_step", torch.optim.RMSprop, dict(lr=1e-3, alpha=0.9, momentum=0.5, eps=1e-6)),
    ("rmsprop_step", torch.optim.RMSprop, dict(lr=1e-3, weight_decay=0.05)),
    ("adam_step", torch.optim.Adam, dict(lr=1e-2)),
    ("adam_step", torch.optim.Adam, dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6)),
    ("adam_step", torch.optim.Adam, dict(lr=1e-2, weight_decay=0.1)),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in hp.items())}" for name, _, hp in CASES]


def loss(w):
    """A non-convex, non-separable function of a (3, 2) parameter (works on tensors)."""
    x, y = w[:, 0], w[:, 1]
    return ((1 - x) ** 2 + 5 * (y - x**2) ** 2).sum() + torch.sin(3 * w).sum()


def grad(w):
    w = w.detach().clone().requires_grad_(True)
    loss(w).backward()
    return w.grad


W0 = [[-1.2, 1.0], [0.5, -0.3], [1.5, 2.0]]


def torch_optim_path(cls, hyper, device, dtype, num_steps=100):
    p = torch.tensor(W0, dtype=dtype, device=device, requires_grad=True)
    opt = cls([p], **hyper)
    path = []
    for _ in range(num_steps):
        opt.zero_grad()
        loss(p).backward()
        opt.step()
        path.append(p.detach().clone())
    return torch.stack(path)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, cls, hyper", CASES, ids=IDS)
def test_twin_equals_torch_optim_over_100_steps(name, cls, hyper, device):
    want = torch_optim_path(cls, hyper, device, torch.float64)
    w0 = torch.tensor(W0, dtype=torch.float64, device=device)
    got = pt_optim.optimize(grad, w0, getattr(pt_optim, name), num_steps=100, **hyper)[1:]
    assert got.device == want.device and got.dtype == torch.float64
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    # The run must go somewhere: a no-op step would also "match" a frozen optimizer.
    assert (want[-1] - want[0]).abs().max() > 1e-2


@pytest.mark.parametrize("name, cls, hyper", CASES, ids=IDS)
def test_numpy_reference_equals_torch_optim(name, cls, hyper):
    want = torch_optim_path(cls, hyper, "cpu", torch.float64).numpy()
    got = np_optim.optimize(lambda w: grad(torch.from_numpy(w)).numpy(), np.array(W0),
                            getattr(np_optim, name), num_steps=100, **hyper)[1:]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, cls, hyper", CASES[::3], ids=IDS[::3])
def test_twin_float32_keeps_dtype_and_matches(name, cls, hyper, device):
    want = torch_optim_path(cls, hyper, device, torch.float32, num_steps=20)
    w0 = torch.tensor(W0, dtype=torch.float32, device=device)
    got = pt_optim.optimize(grad, w0, getattr(pt_optim, name), num_steps=20, **hyper)[1:]
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_twins_have_the_same_public_names_and_signatures():
    assert np_optim.__all__ == pt_optim.__all__
    for name in np_optim.__all__:
        a = inspect.signature(getattr(np_optim, name))
        b = inspect.signature(getattr(pt_optim, name))
        assert list(a.parameters) == list(b.parameters), name
        for p in a.parameters:
            assert a.parameters[p].default == b.parameters[p].default, (name, p)


@pytest.mark.parametrize("name", ["sgd_step", "adagrad_step", "rmsprop_step", "adam_step"])
def test_defaults_match_torch_optim(name):
    cls = {"sgd_step": torch.optim.SGD, "adagrad_step": torch.optim.Adagrad,
           "rmsprop_step": torch.optim.RMSprop, "adam_step": torch.optim.Adam}[name]
    ours = inspect.signature(getattr(np_optim, name)).parameters
    theirs = inspect.signature(cls.__init__).parameters
    for p, param in ours.items():
        if p in theirs and p != "lr" and param.default is not inspect.Parameter.empty:
            assert theirs[p].default == param.default, (name, p)


def test_numpy_step_does_not_modify_its_inputs(rng):
    w, dw = rng.standard_normal(4), rng.standard_normal(4)
    w_copy, dw_copy = w.copy(), dw.copy()
    state = None
    for _ in range(3):
        _, state = np_optim.adam_step(w, dw, state, lr=0.1)
    np.testing.assert_array_equal(w, w_copy)
    np.testing.assert_array_equal(dw, dw_copy)


def test_torch_step_returns_a_leaf_that_trains():
    w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    state = None
    for _ in range(200):
        loss_value = (w**2).sum()
        loss_value.backward()
        w, state = pt_optim.sgd_step(w, w.grad, state, lr=0.1, momentum=0.5)
        assert w.is_leaf and w.requires_grad and w.grad is None
    assert loss_value.item() < 1e-10


def test_first_adam_step_has_size_lr_in_every_coordinate():
    # The point of bias correction: m_0 = v_0 = 0 would otherwise shrink the steps.
    w, _ = np_optim.adam_step(np.zeros(3), np.array([1e-3, 1.0, -50.0]), None, lr=0.01)
    np.testing.assert_allclose(np.abs(w), 0.01, rtol=1e-4)


@pytest.mark.parametrize("module", [np_optim, pt_optim], ids=["numpy", "torch"])
@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-0.1), "adam_step: invalid `lr`=-0.1"),
    (dict(lr=0.1, betas=(0.9, 1.5)), "invalid `betas[1]`=1.5"),
    (dict(lr=0.1, betas=0.9), "`betas` must be a pair"),
    (dict(lr=0.1, eps=0.0), "invalid `eps`=0.0"),
    (dict(lr="fast"), "`lr` must be a real number, got str"),
])
def test_bad_hyperparameters_get_clear_errors(module, kwargs, message):
    w = np.zeros(2) if module is np_optim else torch.zeros(2)
    with pytest.raises((ValueError, TypeError)) as err:
        module.adam_step(w, w + 1, None, **kwargs)
    assert message in str(err.value)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"`dw` has shape \(3,\), expected the shape of `w`, \(2,\)"):
        np_optim.sgd_step(np.zeros(2), np.zeros(3), None, lr=0.1)


def test_state_of_another_optimizer_is_rejected():
    _, sgd_state = np_optim.sgd_step(np.zeros(2), np.ones(2), None, lr=0.1)
    with pytest.raises(ValueError, match="state of another optimizer"):
        np_optim.adam_step(np.zeros(2), np.ones(2), sgd_state, lr=0.1)


def test_nesterov_without_momentum_is_rejected():
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        pt_optim.sgd_step(torch.zeros(2), torch.ones(2), None, lr=0.1, nesterov=True)


def test_mixing_backends_points_to_the_twin():
    with pytest.raises(TypeError, match="dlkit.to_numpy"):
        np_optim.sgd_step(torch.zeros(2), torch.ones(2), None, lr=0.1)
    with pytest.raises(TypeError, match="dlkit.to_torch"):
        pt_optim.sgd_step(np.zeros(2), np.ones(2), None, lr=0.1)


def test_diverging_run_is_quiet_and_reaches_inf():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = np_optim.optimize(lambda w: 4 * w**3, np.array([3.0]), np_optim.sgd_step,
                                 num_steps=50, lr=1.0)
    assert not np.all(np.isfinite(path[-1]))
