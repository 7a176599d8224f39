"""``python -m benchmarks``: see :mod:`benchmarks.run` and ``--help``."""
from .run import main

main()
