"""The torch side on a GPU: ops and two chapter training loops, CUDA against the CPU.

    python -m benchmarks.gpu [--steps 300] [--repeat 20]

Without CUDA it prints "CUDA not available: skipped" and exits with status 0. With a
GPU it times, in float32, PyTorch's own ops and dlkit.torch's twins (forward +
backward, at the sizes of ``python -m benchmarks``) and two short training loops like
the chapters' (the CNN on digits of chapter 05, the character-level LSTM of chapter
06), each on the CPU and on the GPU, and prints the speed-up. Every GPU time is taken
after ``torch.cuda.synchronize()``: CUDA calls return before the work is done.
``--device cpu`` runs the same code with the CPU on both sides (the tests use it).
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from dlkit import data
from dlkit.torch import conv as pt_conv
from dlkit.torch import losses as pt_losses
from dlkit.torch import recurrent as pt_rec

from ._timing import median_seconds

#: A case: device -> a function that runs one step on that device.
Case = Callable[[torch.device], Callable[[], Any]]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _randn(gen: torch.Generator, device: torch.device, *shape: int,
           grad: bool = False) -> torch.Tensor:
    # Drawn on the CPU, so that both devices get the same numbers.
    return torch.randn(*shape, generator=gen).to(device).requires_grad_(grad)


# ------------------------------------------------------------------ ops
def conv2d_cases(tiny: bool) -> dict[str, Case]:
    N, C, Fo, H = (2, 3, 4, 6) if tiny else (64, 16, 32, 28)

    def make(twin: bool) -> Case:
        def build(device):
            gen = torch.Generator().manual_seed(0)
            x, dout = _randn(gen, device, N, C, H, H), _randn(gen, device, N, Fo, H, H)
            w, b = _randn(gen, device, Fo, C, 3, 3), _randn(gen, device, Fo)
            if twin:
                def step():
                    out, cache = pt_conv.conv2d_forward(x, w, b, padding=1)
                    return pt_conv.conv2d_backward(dout, cache)
                return step
            leaves = [t.requires_grad_() for t in (x, w, b)]

            def step():
                for t in leaves:
                    t.grad = None
                F.conv2d(*leaves, padding=1).backward(dout)
            return step
        return build

    label = f"conv2d {C}->{Fo} 3x3, batch {N}"
    return {f"{label} (F.conv2d)": make(False), f"{label} (dlkit.torch)": make(True)}


def max_pool_cases(tiny: bool) -> dict[str, Case]:
    N, C, H = (2, 3, 6) if tiny else (64, 32, 28)

    def make(twin: bool) -> Case:
        def build(device):
            gen = torch.Generator().manual_seed(0)
            x = _randn(gen, device, N, C, H, H).relu_()
            dout = _randn(gen, device, N, C, H // 2, H // 2)
            if twin:
                def step():
                    _, cache = pt_conv.max_pool2d_forward(x, kernel_size=2)
                    return pt_conv.max_pool2d_backward(dout, cache)
                return step
            x.requires_grad_()

            def step():
                x.grad = None
                F.max_pool2d(x, 2).backward(dout)
            return step
        return build

    return {"max_pool2d 2x2 (F.max_pool2d)": make(False),
            "max_pool2d 2x2 (dlkit.torch)": make(True)}


def lstm_cases(tiny: bool) -> dict[str, Case]:
    T, N, D, H = (3, 2, 3, 4) if tiny else (50, 32, 32, 128)

    def make(twin: bool) -> Case:
        def build(device):
            gen = torch.Generator().manual_seed(0)
            x, dhs = _randn(gen, device, T, N, D), _randn(gen, device, T, N, H)
            h0, c0 = _randn(gen, device, N, H), _randn(gen, device, N, H)
            torch.manual_seed(0)
            module = torch.nn.LSTM(D, H).to(device)
            if twin:
                weights = [p.detach() for p in module.parameters()]

                def step():
                    _, _, cache = pt_rec.lstm_forward(x, h0, c0, *weights)
                    return pt_rec.lstm_backward(dhs, cache)
                return step

            def step():
                module.zero_grad()
                hs, _ = module(x, (h0[None], c0[None]))
                hs.backward(dhs)
            return step
        return build

    label = f"lstm T={T} H={H}"
    return {f"{label} (nn.LSTM)": make(False), f"{label} (dlkit.torch)": make(True)}


def cross_entropy_cases(tiny: bool) -> dict[str, Case]:
    N, K = (4, 5) if tiny else (4096, 1000)

    def make(twin: bool) -> Case:
        def build(device):
            gen = torch.Generator().manual_seed(0)
            logits = _randn(gen, device, N, K)
            target = torch.randint(0, K, (N,), generator=gen).to(device)
            if twin:
                return lambda: (pt_losses.cross_entropy(logits, target),
                                pt_losses.cross_entropy_grad(logits, target))
            logits.requires_grad_()

            def step():
                logits.grad = None
                F.cross_entropy(logits, target).backward()
            return step
        return build

    return {f"cross_entropy {N}x{K} (F.cross_entropy)": make(False),
            f"cross_entropy {N}x{K} (dlkit.torch)": make(True)}


# ------------------------------------------------------------------ training loops
def cnn_training(tiny: bool, steps: int) -> Case:
    """Chapter 05's CNN on the digits: `steps` Adam steps on batches of 32, float32."""
    X, y = data.load_digits()
    X = torch.tensor(X.reshape(-1, 1, 8, 8), dtype=torch.float32)
    y = torch.tensor(y)
    width = 2 if tiny else 16

    def build(device):
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, width, 3, padding=1), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(width, 2 * width, 3, padding=1), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(2 * width * 2 * 2, 10)).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(1)
        batches = [torch.randint(0, len(X), (32,), generator=gen) for _ in range(steps)]
        Xd, yd = X.to(device), y.to(device)

        def run():
            for idx in batches:
                idx = idx.to(device)
                loss = F.cross_entropy(model(Xd[idx]), yd[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return run
    return build


def char_lstm_training(tiny: bool, steps: int) -> Case:
    """Chapter 06's character-level LSTM: `steps` chunks of 50 characters in 16
    streams, truncated BPTT, clipping and Adam, float32."""
    text = data.load_text("verse")
    chars = sorted(set(text))
    ids = torch.tensor([chars.index(ch) for ch in text])
    V, streams, chunk = len(chars), 16, 50
    embed, hidden = (4, 8) if tiny else (32, 128)
    usable = (len(ids) - 1) // streams * streams
    inputs = ids[:usable].reshape(streams, -1).T                  # (L, 16)
    targets = ids[1:usable + 1].reshape(streams, -1).T

    def build(device):
        torch.manual_seed(0)
        emb = torch.nn.Embedding(V, embed).to(device)
        lstm = torch.nn.LSTM(embed, hidden).to(device)
        head = torch.nn.Linear(hidden, V).to(device)
        params = [*emb.parameters(), *lstm.parameters(), *head.parameters()]
        optimizer = torch.optim.Adam(params, lr=5e-3)
        xs, ys = inputs.to(device), targets.to(device)
        starts = [(k * chunk) % (len(xs) - chunk) for k in range(steps)]

        def run():
            state = None
            for start in starts:
                hs, state = lstm(emb(xs[start:start + chunk]), state)
                state = tuple(s.detach() for s in state)
                loss = F.cross_entropy(head(hs).reshape(-1, V),
                                       ys[start:start + chunk].reshape(-1))
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
        return run
    return build


# ------------------------------------------------------------------ driver
def run(device: torch.device, *, tiny: bool = False, repeat: int = 20,
        steps: int = 300) -> list[dict[str, Any]]:
    """Time every case on the CPU and on ``device``; return one record per case."""
    cases: dict[str, tuple[Case, int]] = {}
    for group in (conv2d_cases, max_pool_cases, lstm_cases, cross_entropy_cases):
        cases.update({name: (build, repeat) for name, build in group(tiny).items()})
    cases[f"ch. 05 CNN on digits, {steps} steps"] = (cnn_training(tiny, steps), 1)
    cases[f"ch. 06 char LSTM, {steps} steps"] = (char_lstm_training(tiny, steps), 1)
    cpu = torch.device("cpu")
    records = []
    for name, (build, n) in cases.items():
        t_cpu, t_dev = (median_seconds(build(dev), repeat=n, warmup=1,
                                       sync=lambda d=dev: _sync(d))
                        for dev in (cpu, device))
        records.append({"case": name, "device": str(device), "cpu_ms": t_cpu * 1e3,
                        "device_ms": t_dev * 1e3, "speedup": t_cpu / t_dev})
    return records


def format_table(records: Sequence[dict[str, Any]]) -> str:
    device = records[0]["device"] if records else "cuda"
    lines = [f"{'case':44} {'cpu ms':>10} {device + ' ms':>10} {'speed-up':>9}"]
    lines += [f"{r['case'][:44]:44} {r['cpu_ms']:10.2f} {r['device_ms']:10.2f} "
              f"{r['speedup']:8.1f}x" for r in records]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda",
                        help="the device to compare with the CPU (default cuda)")
    parser.add_argument("--steps", type=int, default=300,
                        help="steps of each training loop (default 300)")
    parser.add_argument("--repeat", type=int, default=20, help="runs per op")
    parser.add_argument("--size", choices=("full", "tiny"), default="full")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("CUDA not available: skipped")
        return []
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__} on {where}, {torch.get_num_threads()} CPU "
          f"thread(s); float32, median of {args.repeat} runs per op")
    start = time.perf_counter()
    records = run(device, tiny=args.size == "tiny", repeat=args.repeat,
                  steps=args.steps)
    print(format_table(records))
    print(f"({time.perf_counter() - start:.0f} s)")
    return records


if __name__ == "__main__":
    main()
