"""dlkit: the companion package of the course.

NumPy reference implementations live in :mod:`dlkit.numpy`, their PyTorch twins
(same names, same signatures, any device) in :mod:`dlkit.torch`. The helpers here
pick the device, seed the random generators and move arrays between the two.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np

__version__ = "0.1.0"
__all__ = ["device", "seed_everything", "to_numpy", "to_torch"]


def device(verbose: bool = True) -> "torch.device":  # noqa: F821
    """Return ``torch.device("cuda")`` when a CUDA GPU is present, else the CPU.

    With ``verbose=True`` it prints one line saying which device it found, so that a
    notebook's first cell tells the reader where the PyTorch code will run.
    """
    import torch

    if torch.cuda.is_available():
        dev = torch.device("cuda")
        what = f"cuda ({torch.cuda.get_device_name(0)})"
    else:
        dev = torch.device("cpu")
        what = "cpu (no CUDA GPU found; the PyTorch cells run on the CPU)"
    if verbose:
        print(f"dlkit {__version__}: device = {what}")
    return dev


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python's and PyTorch's global generators; return a NumPy Generator.

    dlkit's own functions never use hidden global state: they take an ``rng``
    (NumPy) or ``generator`` (PyTorch) argument. This helper makes the remaining
    library code (e.g. ``torch.nn`` initialisation) reproducible too.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed_everything: `seed` must be an int, got {type(seed).__name__}")
    random.seed(seed)
    try:
        import torch
    except ImportError:  # dlkit.numpy works without torch
        pass
    else:
        torch.manual_seed(seed)
    return np.random.default_rng(seed)


def to_numpy(x: Any) -> np.ndarray:
    """Return a NumPy array holding the values of ``x`` (a tensor, array or list).

    Tensors are detached and copied to the CPU first, whatever their device.
    """
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def to_torch(x: Any, device: Any = None, dtype: Any = None) -> "torch.Tensor":  # noqa: F821
    """Return a tensor with the values of ``x`` on ``device`` (default: the CPU).

    A NumPy float64 array stays float64 unless ``dtype`` says otherwise.
    """
    import torch

    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(x), device=device, dtype=dtype)
