"""Notebook conventions shared by chapters, solutions and exercises."""
from __future__ import annotations

#: The first code cell of every notebook, character for character (a test checks it).
SETUP_CELL = '''\
# Setup, the same in every notebook: install dlkit if it is missing (e.g. on Colab),
# without touching the numpy/torch already there, and pick the device (GPU if any).
import importlib.util, subprocess, sys
if importlib.util.find_spec("dlkit") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "git+https://github.com/dlkit-course/deep-learning-course"], check=True)
import dlkit
DEVICE = dlkit.device()'''
