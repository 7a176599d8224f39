"""NumPy reference implementations (float64 by default); twins in :mod:`dlkit.torch`."""
from . import optim

__all__ = ["optim"]
