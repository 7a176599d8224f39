"""The benchmarks keep working: each runs once at a tiny size (nothing is timed)."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))          # `benchmarks` is a folder of the repository

from benchmarks import book, gpu, layers, ops, optim  # noqa: E402

KEYS = {"op", "threads", "dtype", "numpy_ms", "torch_ms", "ratio", "target"}


def test_python_m_benchmarks_prints_the_table_and_writes_the_records(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--size", "tiny", "--suite", "all",
         "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    records = json.loads(out.read_text())
    cases = [*ops.CASES, *layers.CASES, *optim.CASES]
    # every case at 1 and 2 threads, in float32 and float64 (the tensor engine of
    # chapter 03 computes in float64 only)
    assert len(records) == 4 * len(cases) - 2
    assert {(r["threads"], r["dtype"]) for r in records} == {
        (t, d) for t in (1, 2) for d in ("float32", "float64")}
    for r in records:
        assert KEYS <= set(r), r
        for key in ("numpy_ms", "torch_ms", "ratio"):
            assert math.isfinite(r[key]) and r[key] > 0, (key, r)
        assert r["target"] is None or r["met"] == (r["ratio"] <= r["target"])
    targets = {r["op"]: r["target"] for r in records if r["target"] is not None}
    assert sorted(targets.values()) == [1.0, 1.0, 1.0, 1.2, 1.2, 2.0, 2.0]
    table = done.stdout
    assert "numpy ms" in table and "torch ms" in table and "ratio" in table
    assert all(r["op"][:38] in table for r in records)


def test_the_two_sides_of_every_case_are_checked_to_agree():
    case = ops.conv2d("tiny", np.dtype("float64"), np.random.default_rng(0))
    ops.check_agree(case, np.dtype("float64"))
    wrong = ops.Case("wrong", case.numpy, lambda: [2 * a for a in
                                                    ops._flatten(case.torch())],
                     None, None)
    with pytest.raises(AssertionError, match="differs from torch"):
        ops.check_agree(wrong, np.dtype("float64"))


def test_gpu_benchmark_skips_without_cuda_and_runs_its_code_on_the_cpu(capsys):
    if not gpu.torch.cuda.is_available():
        assert gpu.main([]) == []
        assert capsys.readouterr().out.strip() == "CUDA not available: skipped"
    records = gpu.main(["--device", "cpu", "--size", "tiny", "--steps", "2",
                        "--repeat", "1"])
    assert len(records) == 10 and {r["device"] for r in records} == {"cpu"}
    assert all(r["cpu_ms"] > 0 and r["device_ms"] > 0 for r in records)
    out = capsys.readouterr().out
    assert "speed-up" in out and "char LSTM" in out and "CNN on digits" in out


def test_book_command_parses_its_arguments_and_finds_every_chapter():
    args = book.parse_args(["--chapters-only", "--only", "03", "05", "--budget", "30"])
    assert args.chapters_only and args.only == ["03", "05"] and args.budget == 30
    default = book.parse_args([])
    assert not default.chapters_only and default.budget == 60
    assert default.build_budget == 600
    with pytest.raises(SystemExit):
        book.parse_args(["--budget", "0"])
    pages = book.toc_pages()
    chapters = sorted(p for p in (ROOT / "chapters").glob("*.ipynb"))
    listed = [ROOT / p for p in pages if p.suffix == ".ipynb"]
    assert listed and set(listed) <= set(chapters)
    assert pages[0].stem == "intro"


def test_at_the_benchmarked_sizes_numpy_and_torch_agree_in_float64():
    for build in ops.CASES.values():
        case = build("full", np.dtype("float64"), np.random.default_rng(1))
        ops.check_agree(case, np.dtype("float64"))

