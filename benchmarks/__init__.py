"""Speed of the course's code: benchmarks that print ratios, not timed tests.

``python -m benchmarks``            each dlkit NumPy op against PyTorch's on the CPU
                                    (``--suite layers optim`` adds chapters 01 and 02)
``python -m benchmarks.book``       the execution time of every chapter, and a cold
                                    build of the book
``python -m benchmarks.gpu``        the torch ops and two chapter training loops on
                                    CUDA against the CPU (skipped without a GPU)

Run them from the repository's root. The test suite runs each once at a tiny size,
to keep them working (tests/test_benchmarks.py).
"""
