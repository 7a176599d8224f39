"""Timing helpers shared by the benchmark suites: thread control, medians, the peak.

Benchmarks on a shared machine are noisy, so every number is a median, and NumPy and
torch are timed in the same process, with the same number of threads, in many short
alternating blocks, so that a slow spell of the machine hits both sides alike. With
more than one thread the blocks are separated by a pause: OpenBLAS's and OpenMP's
worker threads keep spinning for about 0.1 s after a call and would slow whatever
runs next.
"""
from __future__ import annotations

import contextlib
import gc
import statistics
import time
from typing import Any, Callable, Iterator

import numpy as np
import torch
from threadpoolctl import threadpool_limits

#: Seconds to wait between a NumPy block and a torch block (worker threads go idle).
PAUSE = 0.15


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Run NumPy's BLAS and torch's intra-op pool with ``n`` threads each."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(before)


def _block(fn: Callable[[], Any], runs: int, out: list[float]) -> None:
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)


def time_pair(numpy_fn: Callable[[], Any], torch_fn: Callable[[], Any], *,
              repeat: int, rounds: int = 10, warmup: int = 2,
              pause: float = PAUSE) -> tuple[float, float]:
    """Median seconds of ``numpy_fn`` and of ``torch_fn``, ``repeat`` runs each.

    The runs come in ``rounds`` alternating blocks: NumPy, pause, torch, pause, ...
    """
    for _ in range(warmup):
        numpy_fn()
        torch_fn()
    times: tuple[list[float], list[float]] = ([], [])
    rounds = max(1, min(rounds, repeat))
    for r in range(rounds):
        runs = repeat // rounds + (r < repeat % rounds)
        for fn, out in zip((numpy_fn, torch_fn), times):
            if pause:
                gc.collect()
                time.sleep(pause)
            _block(fn, runs, out)
    return statistics.median(times[0]), statistics.median(times[1])


def median_seconds(fn: Callable[[], Any], *, repeat: int, warmup: int = 2,
                   sync: Callable[[], None] = lambda: None) -> float:
    """Median seconds of ``fn()`` over ``repeat`` runs; ``sync`` waits for a GPU."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def settle_allocator() -> None:
    """Put the C allocator in the state of a long-running process, for both sides.

    glibc's malloc starts by returning every freed block above 128 KiB to the
    system, and the next allocation page-faults it back in (about 0.25 ms per MiB).
    Once a large block has been freed it raises that threshold to the block's size
    (at most 32 MiB) and keeps freed memory for reuse. A notebook that has loaded
    some data is in that state already; a fresh benchmark process is not, and the
    first cases would pay page faults that a learner's session does not.
    """
    block = np.empty(30 << 20, np.uint8)      # 30 MiB: mmap-ed, then freed
    del block


def matmul_peak(dtype: np.dtype, *, n: int = 1024, repeat: int = 10) -> float:
    """The machine's matmul speed in GFLOP/s: the fastest of ``repeat`` n×n products,
    NumPy's or torch's. Call it inside :func:`threads`; it is the reference for
    "fraction of peak"."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    at, bt = torch.from_numpy(a), torch.from_numpy(b)
    out, out_t = np.empty_like(a), torch.empty_like(at)
    best = []
    for fn in (lambda: np.matmul(a, b, out=out),
               lambda: torch.matmul(at, bt, out=out_t)):
        fn()
        times = []
        _block(fn, repeat, times)
        best.append(min(times))
        time.sleep(PAUSE)
    return 2 * n**3 / min(best) / 1e9
