"""PyTorch twins of :mod:`dlkit.numpy`: same names and signatures, any device and dtype."""
from . import conv, layers, losses, optim, recurrent, regularization

__all__ = ["conv", "layers", "losses", "optim", "recurrent", "regularization"]
