r"""Training and scoring helpers for autoencoders in PyTorch (chapter 08).

An autoencoder is any ``torch.nn.Module`` whose output has the shape of its input:
an encoder :math:`\varphi` followed by a decoder :math:`\psi`. The functions here are
the parts that every autoencoder of the chapter shares:

- :func:`reconstruction_loss`, the objective (8.2): squared error summed over the
  entries of an example, averaged over the examples;
- :func:`add_gaussian_noise` and :func:`mask_pixels`, the corruptions of a denoising
  autoencoder (8.8), reproducible from a ``torch.Generator``;
- :func:`fit_autoencoder`, mini-batch Adam with a cosine-decayed learning rate and a
  progress bar, optionally corrupting the inputs while keeping the clean targets;
- :func:`reconstruction_errors`, the score of every example (8.10).

They work on any device and floating dtype. There is no NumPy twin: autoencoders
are trained with PyTorch in this course.
"""
from __future__ import annotations

from typing import Callable

import torch

from .._checks import check_hyper, check_int, check_tensor

__all__ = [
    "reconstruction_loss", "add_gaussian_noise", "mask_pixels", "fit_autoencoder",
    "reconstruction_errors",
]


def _check_pair(fn: str, x_hat: torch.Tensor, x: torch.Tensor) -> None:
    check_tensor(fn, "input", x_hat)
    check_tensor(fn, "target", x)
    if x_hat.shape != x.shape:
        raise ValueError(
            f"{fn}: `input` (the reconstruction) has shape {tuple(x_hat.shape)} but "
            f"`target` has shape {tuple(x.shape)}; an autoencoder must return a tensor "
            f"of its input's shape (reshape the decoder's output, e.g. "
            f"x_hat.view_as(x)).")
    if x.dim() < 1 or x.shape[0] == 0:
        raise ValueError(f"{fn}: expected a batch (N, ...) with N >= 1, got shape "
                         f"{tuple(x.shape)}.")


def reconstruction_loss(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Mean over examples of the squared error summed over each example's entries.

    :math:`L = \frac{1}{N}\sum_n \lVert x_n - \hat x_n\rVert^2` (8.2), that is
    ``F.mse_loss(input, target, reduction="sum") / N``, which is D times
    ``F.mse_loss`` for D entries per example.
    Shapes: input (N, ...), target (N, ...) -> scalar. Chapter 08, §Learning without
    labels.
    """
    fn = "reconstruction_loss"
    _check_pair(fn, input, target)
    return (input - target).square().sum() / target.shape[0]


def reconstruction_errors(model: torch.nn.Module, x: torch.Tensor, *,
                          batch_size: int = 1024) -> torch.Tensor:
    r"""The anomaly score of every example, :math:`s(x_n) = \lVert x_n -
    \psi(\varphi(x_n))\rVert^2` (8.10), computed in eval mode without gradients.

    The model's training/eval mode is restored afterwards.
    Shapes: x (N, ...) -> scores (N,), on x's device. Chapter 08, §Anomaly detection.
    """
    fn = "reconstruction_errors"
    check_tensor(fn, "x", x)
    batch_size = check_int(fn, "batch_size", batch_size, low=1)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            parts = []
            for start in range(0, len(x), batch_size):
                xb = x[start:start + batch_size]
                x_hat = model(xb)
                _check_pair(fn, x_hat, xb)
                parts.append((xb - x_hat).square().flatten(1).sum(dim=1))
    finally:
        model.train(was_training)
    return torch.cat(parts) if parts else x.new_zeros(0)


def add_gaussian_noise(x: torch.Tensor, *, std: float,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Corrupt images in [0, 1]: :math:`\tilde x = \mathrm{clip}(x + \sigma\varepsilon,
    0, 1)`, :math:`\varepsilon \sim \mathcal N(0, I)` (8.8); ``x`` is not modified.

    ``generator`` (on x's device) makes the noise reproducible.
    Shapes: x (N, ...) -> x_noisy (N, ...). Chapter 08, §Denoising autoencoders.
    """
    fn = "add_gaussian_noise"
    check_tensor(fn, "x", x)
    std = check_hyper(fn, "std", std, low=0.0, typical="0.1 to 0.5 for images in [0, 1]")
    eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + std * eps).clamp(0.0, 1.0)


def mask_pixels(x: torch.Tensor, *, p: float,
                generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Masking noise: each entry is set to 0 with probability ``p``, independently;
    ``x`` is not modified. :math:`\tilde x = m \odot x`, :math:`m_i \sim
    \mathrm{Bernoulli}(1 - p)` (no rescaling, unlike dropout).

    Shapes: x (N, ...) -> x_masked (N, ...). Chapter 08, §Denoising autoencoders.
    """
    fn = "mask_pixels"
    check_tensor(fn, "x", x)
    p = check_hyper(fn, "p", p, low=0.0, high=1.0, high_inclusive=True,
                    typical="0.1 to 0.5")
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return torch.where(u < p, torch.zeros_like(x), x)


def fit_autoencoder(model: torch.nn.Module, x: torch.Tensor, *, epochs: int,
                    batch_size: int = 64, lr: float = 3e-3, weight_decay: float = 0.0,
                    corrupt: Callable[[torch.Tensor], torch.Tensor] | None = None,
                    x_val: torch.Tensor | None = None,
                    generator: torch.Generator | None = None,
                    desc: str = "autoencoder", progress: bool = True
                    ) -> dict[str, list[float]]:
    r"""Train ``model`` to reconstruct ``x`` with Adam on the loss (8.2).

    Every epoch visits the examples once in a random order (from ``generator``, a CPU
    generator) in mini-batches of ``batch_size``; the learning rate decays from ``lr``
    to 0 along a cosine over all steps. With ``corrupt`` (a function of a batch) the
    model reads ``corrupt(x_batch)`` and is scored against the clean ``x_batch``: a
    denoising autoencoder (8.8). Returns the history ``{"train": [...],
    "validation": [...]}`` of per-epoch losses (the training loss averaged over the
    epoch's examples; the validation loss, on clean ``x_val``, only when it is given),
    and leaves the model in eval mode.
    Shapes: x (N, ...) on the model's device. Chapter 08, §A dense autoencoder.
    """
    fn = "fit_autoencoder"
    check_tensor(fn, "x", x)
    epochs = check_int(fn, "epochs", epochs, low=1)
    batch_size = check_int(fn, "batch_size", batch_size, low=1)
    lr = check_hyper(fn, "lr", lr, low=0.0, low_inclusive=False, typical="1e-3 to 1e-2")
    weight_decay = check_hyper(fn, "weight_decay", weight_decay, low=0.0)
    if x_val is not None:
        check_tensor(fn, "x_val", x_val)
        if x_val.shape[1:] != x.shape[1:]:
            raise ValueError(f"{fn}: `x_val` has examples of shape {tuple(x_val.shape[1:])}"
                             f", but `x` has {tuple(x.shape[1:])}; they must match.")
    if generator is not None and generator.device.type != "cpu":
        raise ValueError(f"{fn}: `generator` must be a CPU generator (it shuffles the "
                         f"examples), got one on {generator.device}; use "
                         f"torch.Generator().manual_seed(seed).")
    from tqdm.auto import tqdm

    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * -(-len(x) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    history: dict[str, list[float]] = {"train": []}
    if x_val is not None:
        history["validation"] = []
    for _ in tqdm(range(epochs), desc=desc, disable=not progress):
        model.train()
        order = torch.randperm(len(x), generator=generator).to(x.device)
        total = x.new_zeros(())
        for start in range(0, len(x), batch_size):
            xb = x[order[start:start + batch_size]]
            inputs = xb if corrupt is None else corrupt(xb)
            loss = reconstruction_loss(model(inputs), xb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total = total + loss.detach() * len(xb)
        # one transfer per epoch, not one per step (.item() waits for the GPU)
        history["train"].append(total.item() / len(x))
        if x_val is not None:
            history["validation"].append(reconstruction_errors(model, x_val).mean().item())
    model.eval()
    return history
