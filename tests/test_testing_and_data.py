"""Finite differences, datasets and the optimisation surfaces."""
import numpy as np
import pytest
import torch

import dlkit
from dlkit import data
from dlkit.testing import assert_gradients_close, numerical_gradient, numerical_vjp, rel_error


def test_central_difference_is_second_order_forward_first_order():
    f, w = (lambda v: float(np.exp(v).sum())), np.array([0.3, -0.7])
    exact = np.exp(w)
    err = {m: [np.abs(numerical_gradient(f, w, h=h, method=m) - exact).max()
               for h in (1e-2, 1e-3)] for m in ("central", "forward", "backward")}
    # Dividing h by 10 divides the error by ~100 (O(h^2)) or ~10 (O(h)).
    assert 60 < err["central"][0] / err["central"][1] < 140
    for m in ("forward", "backward"):
        assert 6 < err[m][0] / err[m][1] < 14


def test_numerical_gradient_any_shape_and_leaves_input_alone(rng):
    w = rng.standard_normal((2, 3))
    before = w.copy()
    g = numerical_gradient(lambda v: float((v**3).sum()), w)
    assert g.shape == w.shape
    assert rel_error(g, 3 * w**2) < 1e-8
    np.testing.assert_array_equal(w, before)


def test_numerical_vjp_matches_the_jacobian_transpose(rng):
    A, x, dout = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(4)
    assert rel_error(numerical_vjp(lambda z: np.tanh(A @ z), x, dout),
                     A.T @ ((1 - np.tanh(A @ x) ** 2) * dout)) < 1e-7


def test_rel_error_and_assert_gradients_close():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(torch.tensor([1.0]), np.array([1.1])) == pytest.approx(0.1 / 2.1)
    with pytest.raises(AssertionError, match="relative error .* analytic value is 2"):
        assert_gradients_close(np.array([1.0, 2.0]), np.array([1.0, 2.5]))
    with pytest.raises(ValueError, match="method"):
        numerical_gradient(np.sum, np.zeros(2), method="sideways")


@pytest.mark.parametrize("name", list(data.SURFACES))
def test_surface_gradient_matches_finite_differences_and_autograd(name, rng):
    s = data.SURFACES[name]()
    for w in rng.uniform(-1.5, 1.5, size=(5, 2)):
        assert_gradients_close(s.grad(w), numerical_gradient(s.f, w), tol=1e-6)
        wt = torch.tensor(w, requires_grad=True)
        s.f(wt).backward()
        torch.testing.assert_close(s.grad(torch.tensor(w)), wt.grad)


@pytest.mark.parametrize("name", list(data.SURFACES))
def test_surface_minima_are_critical_points_and_grid_works(name):
    s = data.SURFACES[name]()
    mins = np.array(s.minima)
    assert np.abs(s.grad(mins)).max() < 1e-3
    X, Y, Z = s.grid(20)
    assert X.shape == Y.shape == Z.shape == (20, 20)
    assert np.all(Z >= s.f(mins).min() - 1e-9)


def test_plain_gradient_descent_converges_with_the_surface_lr():
    # Each surface's `lr` is meant to work for plain GD from its start point.
    from dlkit.numpy.optim import optimize, sgd_step
    for name in ("ill-conditioned bowl", "saddle", "Himmelblau"):
        s = data.SURFACES[name]()
        path = optimize(s.grad, s.start, sgd_step, num_steps=2000, lr=s.lr)
        assert np.abs(s.grad(path[-1])).max() < 1e-4, name


def test_bowl_condition_number_is_the_hessian_condition():
    s = data.quadratic_bowl(condition=25.0, angle=0.4)
    H = np.stack([s.grad(np.array(e)) for e in ([1.0, 0.0], [0.0, 1.0])])
    eig = np.linalg.eigvalsh(H)
    assert eig.max() / eig.min() == pytest.approx(25.0)
    with pytest.raises(ValueError, match="condition"):
        data.quadratic_bowl(condition=0.5)


def test_minibatches_cover_an_epoch_in_a_new_order_each_time(rng):
    X, y = np.arange(23.0)[:, None], np.arange(23)
    epochs = [list(data.minibatches(X, y, batch_size=5, rng=rng)) for _ in range(2)]
    for batches in epochs:
        assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
        assert sorted(np.concatenate([b[1] for b in batches])) == list(range(23))
        for Xb, yb in batches:
            np.testing.assert_array_equal(Xb[:, 0], yb)
    assert not np.array_equal(np.concatenate([b[1] for b in epochs[0]]),
                              np.concatenate([b[1] for b in epochs[1]]))
    with pytest.raises(TypeError, match="rng=np.random.default_rng"):
        next(data.minibatches(X, y, batch_size=5))
    with pytest.raises(ValueError, match="X has 23 examples but y has 3"):
        next(data.minibatches(X, y[:3], batch_size=5, rng=rng))


def test_datasets_are_offline_and_shaped():
    X, y = data.load_diabetes()
    assert X.shape == (442, 10) and y.shape == (442,)
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(axis=0), 1)
    X, y = data.load_digits()
    assert X.shape == (1797, 64) and X.max() == 1.0 and set(y) == set(range(10))
    x, y = data.make_line(500, noise=0.1, rng=np.random.default_rng(1))
    slope, intercept = np.polyfit(x, y, 1)
    assert slope == pytest.approx(3.0, abs=0.05) and intercept == pytest.approx(-2.0, abs=0.05)


def test_device_seed_and_conversions(capsys):
    dev = dlkit.device()
    assert dev.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert f"device = {dev.type}" in capsys.readouterr().out
    a = dlkit.seed_everything(3).standard_normal(3)
    t = torch.randn(2)
    b = dlkit.seed_everything(3).standard_normal(3)
    np.testing.assert_array_equal(a, b)
    torch.testing.assert_close(torch.randn(2), t)
    x = np.arange(3.0)
    back = dlkit.to_numpy(dlkit.to_torch(x, dev))
    np.testing.assert_array_equal(back, x)
    assert dlkit.to_torch(x).dtype == torch.float64
    with pytest.raises(TypeError, match="int"):
        dlkit.seed_everything(1.5)


def test_blobs_are_linearly_separable_and_xor_and_spirals_are_not(rng):
    from sklearn.linear_model import LogisticRegression

    X, y = data.make_blobs(200, separation=6.0, noise=0.5, rng=rng)
    assert X.shape == (200, 2) and np.bincount(y).tolist() == [100, 100]
    assert LogisticRegression(C=1e4).fit(X, y).score(X, y) == 1.0
    X4, y4 = data.make_xor(4)
    assert X4.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and y4.tolist() == [0, 1, 1, 0]
    # no line gets more than 3 of the 4 XOR points right
    assert LogisticRegression(C=1e4).fit(X4, y4).score(X4, y4) <= 0.75
    Xs, ys = data.make_spirals(300, num_classes=3, rng=rng)
    assert Xs.shape == (300, 2) and set(ys.tolist()) == {0, 1, 2}
    assert np.abs(Xs).max() <= 1.0 + 1e-12
    assert LogisticRegression().fit(Xs, ys).score(Xs, ys) < 0.7
    Xn, yn = data.make_xor(100, noise=0.1, rng=rng)
    assert np.array_equal(yn, (Xn[:, 0] > 0.5) != (Xn[:, 1] > 0.5))


def test_decision_boundary_accepts_labels_scores_and_tensors():
    import matplotlib.pyplot as plt

    from dlkit.plotting import plot_decision_boundary

    X, y = data.make_xor(4)
    fig, axes = plt.subplots(1, 3)
    for ax, predict in zip(axes, [
            lambda P: (P[:, 0] > 0.5).astype(int),                       # labels
            lambda P: np.stack([P[:, 0], 1 - P[:, 0]], axis=1),           # scores
            lambda P: torch.tensor(P[:, 0] - 0.5)]):                      # one score
        plot_decision_boundary(ax, predict, X, y, num=20)
        assert len(ax.collections) >= 2      # the filled regions and the points
    plt.close(fig)


def test_new_generators_need_an_explicit_rng():
    with pytest.raises(TypeError, match="rng=np.random.default_rng"):
        data.make_spirals(10)
    with pytest.raises(ValueError, match="`num_classes` must be an int >= 2"):
        data.make_spirals(10, num_classes=1, rng=np.random.default_rng())


def test_sample_images_load_offline_gray_or_colour_and_downsampled():
    colour = data.load_image("flower", gray=False)
    assert colour.shape == (427, 640, 3) and 0 <= colour.min() and colour.max() <= 1
    gray = data.load_image("china")
    np.testing.assert_allclose(gray, colour_to_gray(data.load_image("china", gray=False)))
    small = data.load_image("china", size=64)
    assert min(small.shape) == 427 // (427 // 64) and small.shape[1] == 640 // (427 // 64)
    # block averaging: the mean brightness is kept (up to the cropped border)
    assert abs(small.mean() - gray[:small.shape[0] * 6, :small.shape[1] * 6].mean()) < 1e-12
    with pytest.raises(ValueError, match="load_image: unknown image 'ascent'"):
        data.load_image("ascent")


def colour_to_gray(img):
    return 0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]


def test_the_public_domain_text_ships_with_the_package():
    text = data.load_text()
    assert len(text) > 4000 and text.startswith("Shall I compare thee")
    assert set(text) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            " \n.,;:!?'\"-")
    with pytest.raises(ValueError, match="load_text: unknown text 'hamlet'"):
        data.load_text("hamlet")
