"""How fast are dlkit's update rules next to torch.optim? Prints time ratios.

    python benchmarks/bench_optim.py [--size 1000000] [--repeat 30]

A ratio of 1.0 means as fast as torch.optim's own step on the same parameter
(foreach implementation, CPU or GPU); above 1 is slower. The NumPy reference is
written for reading, not speed, so ratios of 2 to 5 there are expected.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import dlkit
import dlkit.numpy.optim as np_optim
import dlkit.torch.optim as pt_optim

RULES = {
    "sgd (momentum)": ("sgd_step", torch.optim.SGD, dict(lr=1e-2, momentum=0.9)),
    "rmsprop": ("rmsprop_step", torch.optim.RMSprop, dict(lr=1e-3)),
    "adam": ("adam_step", torch.optim.Adam, dict(lr=1e-3)),
}


def median_time(step, repeat: int, sync=lambda: None) -> float:
    times = []
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    device = dlkit.device()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rng = np.random.default_rng(0)
    w_np = rng.standard_normal(args.size).astype(np.float32)
    g_np = rng.standard_normal(args.size).astype(np.float32)
    print(f"parameter of {args.size:,} float32 values, median of {args.repeat} steps")
    print(f"{'rule':16} {'torch.optim':>12} {'dlkit.torch':>12} {'ratio':>6} "
          f"{'dlkit.numpy':>12} {'ratio':>6}")
    for label, (name, cls, hyper) in RULES.items():
        p = torch.nn.Parameter(torch.from_numpy(w_np.copy()).to(device))
        p.grad = torch.from_numpy(g_np).to(device)
        opt = cls([p], **hyper)
        t_ref = median_time(opt.step, args.repeat, sync)

        box = {"w": p.detach().clone(), "state": None}
        g = p.grad.detach().clone()

        def twin_step():
            box["w"], box["state"] = getattr(pt_optim, name)(box["w"], g, box["state"], **hyper)

        t_twin = median_time(twin_step, args.repeat, sync)
        time.sleep(0.2)  # let torch's and OpenBLAS's worker threads go idle (TOOLCHAIN.md)
        nbox = {"w": w_np.copy(), "state": None}

        def numpy_step():
            nbox["w"], nbox["state"] = getattr(np_optim, name)(nbox["w"], g_np, nbox["state"],
                                                               **hyper)

        t_np = median_time(numpy_step, args.repeat)
        print(f"{label:16} {t_ref * 1e3:10.2f}ms {t_twin * 1e3:10.2f}ms {t_twin / t_ref:6.2f} "
              f"{t_np * 1e3:10.2f}ms {t_np / t_ref:6.2f}")


if __name__ == "__main__":
    main()
