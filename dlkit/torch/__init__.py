"""PyTorch twins of :mod:`dlkit.numpy`: same names and signatures, any device and dtype."""
from . import layers, losses, optim

__all__ = ["layers", "losses", "optim"]
