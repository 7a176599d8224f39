"""dlkit.torch.autoencoders (loss, corruptions, training, scores) and plot_image_grid."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from dlkit.plotting import plot_image_grid  # noqa: E402
from dlkit.torch import autoencoders as ae  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def tiny_autoencoder(d=6, k=2):
    return torch.nn.Sequential(torch.nn.Linear(d, k), torch.nn.Linear(k, d))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(5, 7), (4, 1, 3, 3)])
def test_reconstruction_loss_is_a_sum_over_entries_and_a_mean_over_examples(device, shape):
    g = torch.Generator().manual_seed(0)
    x_hat = torch.rand(shape, generator=g, dtype=torch.float64).to(device)
    x = torch.rand(shape, generator=g, dtype=torch.float64).to(device)
    loss = ae.reconstruction_loss(x_hat, x)
    by_example = [((a - b) ** 2).sum() for a, b in zip(x_hat, x)]
    torch.testing.assert_close(loss, torch.stack(by_example).mean())
    per_entry = F.mse_loss(x_hat, x)
    torch.testing.assert_close(loss, per_entry * x[0].numel())
    # the gradient autograd gets is 2 (x_hat - x) / N
    x_hat.requires_grad_(True)
    ae.reconstruction_loss(x_hat, x).backward()
    torch.testing.assert_close(x_hat.grad, 2 * (x_hat - x).detach() / shape[0])


def test_reconstruction_loss_rejects_mismatched_shapes_with_a_hint():
    with pytest.raises(ValueError, match="view_as"):
        ae.reconstruction_loss(torch.zeros(4, 64), torch.zeros(4, 1, 8, 8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        ae.reconstruction_loss(np.zeros((2, 3)), torch.zeros(2, 3))


@pytest.mark.parametrize("device", DEVICES)
def test_reconstruction_errors_are_per_example_and_restore_the_mode(device):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 3), torch.nn.Dropout(0.5),
                                torch.nn.Linear(3, 6)).double().to(device)
    x = torch.rand(10, 6, dtype=torch.float64, device=device)
    model.train()
    scores = ae.reconstruction_errors(model, x, batch_size=3)     # several batches
    assert model.training, "the training mode must be restored"
    model.eval()
    with torch.no_grad():
        expected = ((x - model(x)) ** 2).sum(dim=1)              # eval: no dropout
    torch.testing.assert_close(scores, expected)
    assert not scores.requires_grad and scores.device == x.device


@pytest.mark.parametrize("device", DEVICES)
def test_gaussian_noise_is_clipped_reproducible_and_leaves_the_input_alone(device):
    x = torch.rand(2000, 8, dtype=torch.float64, device=device)
    x_before = x.clone()
    noisy = ae.add_gaussian_noise(x, std=0.3, generator=torch.Generator(device).manual_seed(1))
    again = ae.add_gaussian_noise(x, std=0.3, generator=torch.Generator(device).manual_seed(1))
    torch.testing.assert_close(x, x_before)
    torch.testing.assert_close(noisy, again)
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert (noisy == 0).any() and (noisy == 1).any(), "large noise must be clipped"
    # small noise around 0.5 is never clipped: there it is exactly N(0, 0.05^2)
    mid = torch.full((20000,), 0.5, dtype=torch.float64, device=device)
    diff = ae.add_gaussian_noise(mid, std=0.05,
                                 generator=torch.Generator(device).manual_seed(2)) - mid
    assert abs(diff.mean().item()) < 0.002 and abs(diff.std().item() - 0.05) < 0.002
    torch.testing.assert_close(ae.add_gaussian_noise(x, std=0.0), x)
    with pytest.raises(ValueError, match="std"):
        ae.add_gaussian_noise(x, std=-0.1)


@pytest.mark.parametrize("device", DEVICES)
def test_masking_zeroes_a_fraction_p_and_keeps_the_rest(device):
    x = torch.rand(4000, 5, device=device) + 0.5           # no zeros to begin with
    x_before = x.clone()
    masked = ae.mask_pixels(x, p=0.25, generator=torch.Generator(device).manual_seed(0))
    torch.testing.assert_close(x, x_before)
    zero = masked == 0
    assert abs(zero.float().mean().item() - 0.25) < 0.02
    torch.testing.assert_close(masked[~zero], x[~zero])      # no rescaling
    assert (ae.mask_pixels(x, p=1.0) == 0).all()
    torch.testing.assert_close(ae.mask_pixels(x, p=0.0), x)


def test_fit_autoencoder_learns_a_low_rank_set_and_is_reproducible():
    # data on a 2-D subspace of R^6: a linear autoencoder with k=2 can reconstruct it
    g = torch.Generator().manual_seed(0)
    basis = torch.randn(2, 6, generator=g)
    x = torch.randn(256, 2, generator=g) @ basis
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = tiny_autoencoder()
        start = ae.reconstruction_errors(model, x).mean().item()
        history = ae.fit_autoencoder(model, x, epochs=60, batch_size=32, lr=1e-2,
                                     x_val=x[:64], progress=False,
                                     generator=torch.Generator().manual_seed(3))
        runs.append(history)
    assert len(history["train"]) == 60 and len(history["validation"]) == 60
    assert history["train"][-1] < 1e-3 * start
    assert runs[0] == runs[1], "the same seeds must give the same history"
    # the validation loss is the mean reconstruction error of x_val at the end
    final = ae.reconstruction_errors(model, x[:64]).mean().item()
    assert history["validation"][-1] == pytest.approx(final, rel=1e-6)
    assert not model.training


def test_fit_autoencoder_scores_corrupted_inputs_against_clean_targets():
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(()))

        def forward(self, inp):
            seen.append(inp.detach().clone())
            return self.scale * inp

    x = torch.rand(40, 4)
    model = Recorder()
    # corrupt = add 1: a model that returns its input is then off by 1 per entry
    ae.fit_autoencoder(model, x, epochs=1, batch_size=40, lr=1e-9, progress=False,
                       corrupt=lambda xb: xb + 1.0,
                       generator=torch.Generator().manual_seed(0))
    batch = seen[0]
    assert torch.allclose(batch.sort(dim=0).values, (x + 1.0).sort(dim=0).values)
    # the first loss is computed against the clean x: 4 entries of (x+1 - x)^2 = 1
    model2 = Recorder()
    history = ae.fit_autoencoder(model2, x, epochs=1, batch_size=40, lr=1e-9,
                                 progress=False, corrupt=lambda xb: xb + 1.0)
    assert history["train"][0] == pytest.approx(4.0, rel=1e-5)


def test_fit_autoencoder_validates_its_arguments():
    model, x = tiny_autoencoder(), torch.rand(8, 6)
    with pytest.raises(ValueError, match="epochs"):
        ae.fit_autoencoder(model, x, epochs=0)
    with pytest.raises(ValueError, match="lr"):
        ae.fit_autoencoder(model, x, epochs=1, lr=0.0)
    with pytest.raises(ValueError, match="x_val"):
        ae.fit_autoencoder(model, x, epochs=1, x_val=torch.rand(3, 5), progress=False)
    with pytest.raises(TypeError, match="torch.Tensor"):
        ae.fit_autoencoder(model, np.zeros((8, 6)), epochs=1)


def test_plot_image_grid_draws_every_image_in_its_place():
    a = np.random.default_rng(0).random((3, 8, 8))
    rows = [a, torch.tensor(a[:2]).reshape(2, 1, 8, 8), a.reshape(3, 64)]
    fig = plot_image_grid(rows, row_labels=["a", "b", "c"], titles=["1", "2", "3"],
                          title="grid")
    (ax,) = fig.axes
    (image,) = ax.get_images()
    mosaic = np.ma.filled(image.get_array().astype(float), np.nan)
    assert mosaic.shape == (3 * 9 - 1, 3 * 9 - 1)            # 8x8 tiles, 1-pixel gaps
    for r, n in enumerate([3, 2, 3]):
        for c in range(3):
            tile = mosaic[9 * r:9 * r + 8, 9 * c:9 * c + 8]
            if c < n:
                np.testing.assert_allclose(tile, a[c])
            else:
                assert np.isnan(tile).all()                 # an empty place stays blank
    texts = {t.get_text() for t in ax.texts}
    assert {"a", "b", "c", "1", "2", "3"} <= texts and fig._suptitle.get_text() == "grid"
    plt.close(fig)
    # per-image scaling maps every image onto [0, 1]
    fig = plot_image_grid([5 + 2 * a], vmin=None)
    tile = fig.axes[0].get_images()[0].get_array()[:8, :8]
    assert tile.min() == pytest.approx(0) and tile.max() == pytest.approx(1)
    plt.close(fig)
    with pytest.raises(ValueError, match="square"):
        plot_image_grid([np.zeros((2, 10))])
    with pytest.raises(ValueError, match="row labels"):
        plot_image_grid([a], row_labels=["x", "y"])
    with pytest.raises(ValueError, match="different sizes"):
        plot_image_grid([a, np.zeros((2, 4, 4))])
