"""Run the suites, print the table, write the JSON records: ``python -m benchmarks``.

For every thread count and dtype it first measures the machine's matmul peak, then
for every case checks that NumPy and torch agree and times both (medians of
``--repeat`` runs in alternating blocks, the same thread count on both sides).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from . import layers, ops, optim
from ._timing import PAUSE, matmul_peak, settle_allocator, threads, time_pair

SUITES = {"ops": ops.CASES, "layers": layers.CASES, "optim": optim.CASES}
DTYPES = ("float32", "float64")


def run_cases(suites: Sequence[str], *, thread_counts: Sequence[int] = (1, 2),
              dtypes: Sequence[str] = DTYPES, size: str = "full", repeat: int = 30,
              only: Sequence[str] | None = None, verbose: bool = True
              ) -> list[dict[str, Any]]:
    """Time every case of ``suites``; return one record per (case, threads, dtype)."""
    tiny = size == "tiny"
    settle_allocator()
    records = []
    for n_threads in thread_counts:
        with threads(n_threads):
            for dtype_name in dtypes:
                dtype = np.dtype(dtype_name)
                peak = matmul_peak(dtype, n=64 if tiny else 1024,
                                   repeat=1 if tiny else 10)
                if verbose:
                    print(f"[{n_threads} thread(s), {dtype_name}] matmul peak "
                          f"{peak:.0f} GFLOP/s", file=sys.stderr, flush=True)
                for suite in suites:
                    for name, build in SUITES[suite].items():
                        if only and name not in only:
                            continue
                        case = build(size, dtype, np.random.default_rng(0))
                        if case is None:            # not defined for this dtype
                            continue
                        ops.check_agree(case, dtype)
                        records.append(_time_case(suite, name, case, n_threads,
                                                  dtype_name, peak, repeat, tiny))
    return records


def _time_case(suite: str, name: str, case: ops.Case, n_threads: int, dtype: str,
               peak: float, repeat: int, tiny: bool) -> dict[str, Any]:
    # One thread has no worker threads that keep spinning: no pause is needed.
    kw = dict(repeat=repeat, pause=0.0 if tiny or n_threads == 1 else PAUSE,
              **({"warmup": 1} if tiny else {}))
    t_np, t_torch = time_pair(case.numpy, case.torch, **kw)
    t_twin = time_pair(case.twin, case.torch, **kw)[0] if case.twin else None
    ratio = t_np / t_torch

    def gflops(seconds):
        return None if case.flops is None else case.flops / seconds / 1e9

    return {
        "suite": suite, "case": name, "op": case.op, "threads": n_threads,
        "dtype": dtype, "numpy_ms": t_np * 1e3, "torch_ms": t_torch * 1e3,
        "ratio": ratio, "target": case.target,
        "met": None if case.target is None else bool(ratio <= case.target),
        "twin_ms": None if t_twin is None else t_twin * 1e3,
        "numpy_gflops": gflops(t_np), "torch_gflops": gflops(t_torch),
        "peak_gflops": peak,
        "numpy_peak_fraction": None if case.flops is None else gflops(t_np) / peak,
        "torch_peak_fraction": None if case.flops is None else gflops(t_torch) / peak,
        "size": "tiny" if tiny else "full", "repeat": repeat, "note": case.note,
        "load": os.getloadavg()[0],      # 1-minute load average, this process included
    }


def _fmt(value: float | None, spec: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}{spec}}"


def format_table(records: Sequence[dict[str, Any]]) -> str:
    """The full table, then the ratios at a glance, then the missed targets."""
    twin = any(r["twin_ms"] is not None for r in records)
    head = (f"{'op':38} {'dtype':7} {'thr':>3} {'numpy ms':>9} {'torch ms':>9} "
            + (f"{'twin ms':>9} " if twin else "")
            + f"{'ratio':>6} {'target':>8}  {'GFLOP/s np':>10} {'torch':>6} "
              f"{'peak np':>7} {'torch':>6}")
    lines = [head, "-" * len(head)]
    for r in records:
        target = "" if r["target"] is None else (
            f"<={r['target']:.1f} " + ("ok" if r["met"] else "MISS"))
        frac = [None if f is None else 100 * f
                for f in (r["numpy_peak_fraction"], r["torch_peak_fraction"])]
        lines.append(
            f"{r['op'][:38]:38} {r['dtype']:7} {r['threads']:3d} "
            f"{r['numpy_ms']:9.2f} {r['torch_ms']:9.2f} "
            + (f"{_fmt(r['twin_ms'], '.2f', 9)} " if twin else "")
            + f"{r['ratio']:6.2f} {target:>8}  {_fmt(r['numpy_gflops'], '.1f', 10)} "
              f"{_fmt(r['torch_gflops'], '.1f', 6)} {_fmt(frac[0], '.0f', 6)}% "
              f"{_fmt(frac[1], '.0f', 5)}%")
    lines.append("GFLOP/s counts the matrix products only; '-': an op without them "
                 "(memory-bound). peak: % of the measured matmul peak.")
    configs = sorted({(r["dtype"], r["threads"]) for r in records})
    lines += ["", "ratio NumPy / torch (median); * = target missed",
              f"{'op':38} " + " ".join(f"{d[5:] + 'b ' + str(t) + 't':>9}"
                                       for d, t in configs) + "   target"]
    for op in dict.fromkeys(r["op"] for r in records):
        cells, target = [], None
        for config in configs:
            r = next((r for r in records if r["op"] == op
                      and (r["dtype"], r["threads"]) == config), None)
            target = target if r is None else r["target"]
            cells.append(f"{'-':>9}" if r is None else
                         f"{r['ratio']:8.2f}" + ("*" if r["met"] is False else " "))
        lines.append(f"{op[:38]:38} " + " ".join(cells)
                     + ("" if target is None else f"   <= {target:.1f}"))
    missed = [r for r in records if r["met"] is False]
    lines.append("")
    if missed:
        lines.append("targets missed:")
        lines += [f"  {r['op']} ({r['dtype']}, {r['threads']} thread(s)): "
                  f"{r['ratio']:.2f} > {r['target']:.1f}" for r in missed]
    elif any(r["target"] is not None for r in records):
        lines.append("every target met.")
    return "\n".join(lines)


def _machine() -> str:
    load = os.getloadavg()[0]
    busy = " (busy: other processes distort the times)" if load > 0.5 else ""
    return (f"{platform.machine()}, {os.cpu_count()} CPU(s), load {load:.1f}{busy}; "
            f"numpy {np.__version__}, torch {torch.__version__}")


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time dlkit's NumPy ops against PyTorch's on the CPU.")
    parser.add_argument("--suite", nargs="+", choices=[*SUITES, "all"],
                        default=["ops"], help="which cases (default: ops)")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2],
                        help="thread counts, the same for NumPy and torch")
    parser.add_argument("--dtype", nargs="+", choices=DTYPES, default=list(DTYPES))
    parser.add_argument("--size", choices=("full", "tiny"), default="full",
                        help="tiny: a few elements per op, to check the code runs")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per side (default 30; 1 at --size tiny)")
    parser.add_argument("--only", nargs="+", metavar="CASE",
                        help="only these cases, e.g. conv2d lstm")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write the records to FILE")
    args = parser.parse_args(argv)
    suites = list(SUITES) if "all" in args.suite else args.suite
    known = {name for s in suites for name in SUITES[s]}
    if args.only and not set(args.only) <= known:
        parser.error(f"unknown case(s) {sorted(set(args.only) - known)}; "
                     f"the suites {suites} have {sorted(known)}")
    if any(t < 1 for t in args.threads):
        parser.error("--threads must be >= 1")
    repeat = args.repeat or (1 if args.size == "tiny" else 30)
    print(f"dlkit NumPy vs PyTorch on the CPU ({_machine()}); median of {repeat} "
          f"runs per side, size {args.size}")
    records = run_cases(suites, thread_counts=args.threads, dtypes=args.dtype,
                        size=args.size, repeat=repeat, only=args.only)
    print(format_table(records))
    if args.json:
        args.json.write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {len(records)} records to {args.json}")
    return records
