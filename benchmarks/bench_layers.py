"""How fast are dlkit's layers next to torch.nn.functional on the CPU? Prints time ratios.

    python benchmarks/bench_layers.py [--batch 4096] [--width 512] [--repeat 30]

Each op runs forward + backward on a (batch, width) float32 input: dlkit.numpy's
forward/backward pair against ``F.*`` with autograd, in the same process and with
the same thread count. A ratio of 1.0 means as fast as PyTorch; above 1 is slower.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

import dlkit.numpy.layers as np_layers


def median_time(fn, repeat: int) -> float:
    fn()                                          # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def numpy_ops(x, w, b, dout, params):
    def pair(forward, backward, *args):
        return lambda: backward(dout[:, :x.shape[1]], forward(x, *args)[1])

    def mlp():
        out, cache = np_layers.mlp_forward(x, params)
        np_layers.mlp_backward(dout[:, :out.shape[1]], cache)

    return {
        "linear": lambda: np_layers.linear_backward(dout[:, :w.shape[0]],
                                                    np_layers.linear_forward(x, w, b)[1]),
        "relu": pair(np_layers.relu_forward, np_layers.relu_backward),
        "sigmoid": pair(np_layers.sigmoid_forward, np_layers.sigmoid_backward),
        "tanh": pair(np_layers.tanh_forward, np_layers.tanh_backward),
        "softmax (fwd)": lambda: np_layers.softmax(x),
        "mlp 3 layers": mlp,
    }


def torch_ops(x, w, b, dout, params):
    def grad_of(f, *inputs):
        def run():
            for t in inputs:
                t.grad = None
            out = f(*inputs)
            out.backward(dout[:, :out.shape[1]])
        return run

    def mlp(x):
        for l, (wl, bl) in enumerate(params):
            x = F.linear(x, wl, bl)
            x = F.relu(x) if l < len(params) - 1 else x
        return x

    return {
        "linear": grad_of(F.linear, x, w, b),
        "relu": grad_of(F.relu, x),
        "sigmoid": grad_of(torch.sigmoid, x),
        "tanh": grad_of(torch.tanh, x),
        "softmax (fwd)": lambda: F.softmax(x.detach(), dim=-1),
        "mlp 3 layers": grad_of(mlp, x),
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    n, d = args.batch, args.width
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d)).astype(np.float32)
    w = (rng.standard_normal((d // 2, d)) / np.sqrt(d)).astype(np.float32)
    b = np.zeros(d // 2, np.float32)
    dout = rng.standard_normal((n, d + 10)).astype(np.float32)   # sliced to each output
    params = [(p.astype(np.float32), q.astype(np.float32)) for p, q in
              np_layers.mlp_init([d, d, d // 2, 10], rng=rng)]
    to_t = lambda a, grad=True: torch.tensor(a, requires_grad=grad)  # noqa: E731
    ours = numpy_ops(x, w, b, dout, params)
    theirs = torch_ops(to_t(x), to_t(w), to_t(b), torch.tensor(dout),
                       [(to_t(p, False), to_t(q, False)) for p, q in params])
    print(f"float32 input ({n}, {d}), forward + backward, median of {args.repeat} runs, "
          f"{torch.get_num_threads()} torch thread(s)")
    print(f"{'op':16} {'torch':>10} {'dlkit.numpy':>12} {'ratio':>6}")
    ratios = {}
    for name in ours:
        t_torch = median_time(theirs[name], args.repeat)
        time.sleep(0.1)   # let torch's worker threads go idle before NumPy runs
        t_np = median_time(ours[name], args.repeat)
        ratios[name] = t_np / t_torch
        print(f"{name:16} {t_torch * 1e3:8.2f}ms {t_np * 1e3:10.2f}ms {ratios[name]:6.2f}")
    return ratios


if __name__ == "__main__":
    main()
