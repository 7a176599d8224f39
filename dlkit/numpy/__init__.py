"""NumPy reference implementations (float64 by default); twins in :mod:`dlkit.torch`."""
from . import conv, layers, losses, optim, recurrent, regularization

__all__ = ["conv", "layers", "losses", "optim", "recurrent", "regularization"]
