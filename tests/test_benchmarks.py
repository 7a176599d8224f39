"""The benchmarks keep working: each runs once at a tiny size (they are not timed here)."""
import importlib.util
from pathlib import Path

import numpy as np

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_layer_benchmark_runs_and_reports_every_op(capsys):
    ratios = load("bench_layers").main(["--batch", "16", "--width", "8", "--repeat", "1"])
    assert set(ratios) == {"linear", "relu", "sigmoid", "tanh", "softmax (fwd)",
                           "mlp 3 layers"}
    assert all(np.isfinite(r) and r > 0 for r in ratios.values())
    out = capsys.readouterr().out
    assert "ratio" in out and "mlp 3 layers" in out
