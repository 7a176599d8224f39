"""PyTorch twins of :mod:`dlkit.numpy`: same names and signatures, any device and dtype."""
from . import optim

__all__ = ["optim"]
