"""NumPy reference implementations (float64 by default); twins in :mod:`dlkit.torch`."""
from . import layers, optim

__all__ = ["layers", "optim"]
