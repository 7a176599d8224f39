"""Interactive explorers of the course (ipywidgets + matplotlib).

Each explorer comes twice: a live version, which recomputes on every change and
needs a kernel (Jupyter, Colab), and a static version, whose frames are rendered
when the book is built and switched in the browser, so that it responds on the
website too.
"""
from __future__ import annotations

from .conv import conv_explorer, conv_explorer_static
from .optimizer import optimizer_explorer, optimizer_explorer_static
from .playground import playground, playground_static

__all__ = ["conv_explorer", "conv_explorer_static", "optimizer_explorer",
           "optimizer_explorer_static", "playground", "playground_static"]
