"""NumPy reference implementations (float64 by default); twins in :mod:`dlkit.torch`."""
from . import layers, losses, optim

__all__ = ["layers", "losses", "optim"]
