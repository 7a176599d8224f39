"""Automatic differentiation written out (chapter 03): forward mode and reverse mode.

:mod:`dlkit.autodiff.forward` propagates tangents with dual numbers (``jvp``);
:mod:`dlkit.autodiff.reverse` records a tape and sweeps it backwards (``Value`` for
scalars, ``Tensor`` for arrays, ``grad``, ``vjp``).
"""
from . import forward, reverse

__all__ = ["forward", "reverse"]
