"""How long the book takes: every chapter executed, then a cold build of the website.

    python -m benchmarks.book [--chapters-only] [--only 03 05] [--json FILE]

Every notebook page listed in ``_toc.yml`` runs top to bottom in a fresh kernel, as
the build runs it, and its time (kernel start included) is compared with the
budget of 60 s on two CPU cores. Then ``jupyter-book build -W -n --keep-going --all``
builds the whole book from cold, with no execution cache, against the budget of
10 minutes. Everything runs in a temporary copy of the repository: the working tree,
its ``_build`` folder and its execution cache are left as they are. The exit status
is 1 when a page fails or misses its budget.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_BUDGET = 60.0      # seconds per chapter, on 2 CPU cores
BUILD_BUDGET = 600.0       # seconds for the cold build of the whole book
#: What the copy leaves out: build output, caches, environments, version control.
SKIP = ("_build", "build", ".git", ".venv*", "venv", "*.egg-info", "__pycache__",
        ".pytest_cache", ".ipynb_checkpoints", "node_modules")


def toc_pages(root: Path = ROOT) -> list[Path]:
    """The pages of ``_toc.yml`` in order (root first), as paths relative to root."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    names = [toc["root"]]

    def walk(entries: Sequence[dict[str, Any]]) -> None:
        for entry in entries:
            if "file" in entry:
                names.append(entry["file"])
            for key in ("chapters", "sections", "parts"):
                walk(entry.get(key, []))

    walk(toc.get("parts", []) + toc.get("chapters", []))
    pages = []
    for name in names:
        found = [root / f"{name}{ext}" for ext in ("", ".ipynb", ".md")
                 if (root / f"{name}{ext}").is_file()]
        if not found:
            raise FileNotFoundError(f"_toc.yml lists {name!r}, which is not in {root}")
        pages.append(found[0].relative_to(root))
    return pages


def copy_repository(dest: Path, root: Path = ROOT) -> Path:
    """A copy of the repository in ``dest``, without build output or caches."""
    target = dest / root.name
    shutil.copytree(root, target, ignore=shutil.ignore_patterns(*SKIP), symlinks=True)
    return target


def execute(path: Path, *, timeout: int) -> tuple[float, str | None]:
    """Run a notebook in a fresh kernel; return (seconds, the error or None)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    error = None
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except Exception as exc:                     # a failing cell, a dead kernel, ...
        error = (f"{type(exc).__name__}: "
                 + (str(exc).strip().splitlines() or [""])[-1])[:200]
    return time.perf_counter() - start, error


def cold_build(book: Path, *, timeout: int) -> tuple[float, str | None]:
    """``jupyter-book build`` of a copy with no _build folder: (seconds, error)."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book) if jupyter_book.exists() else "jupyter-book",
               "build", "-W", "-n", "--keep-going", "--all", str(book)]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=book, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, f"timed out after {timeout} s"
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        return seconds, f"exit status {done.returncode}: " + " | ".join(tail)[:300]
    return seconds, None


def _record(page: str, seconds: float | None, budget: float, error: str | None
            ) -> dict[str, Any]:
    ok = error is None and (seconds is None or seconds <= budget)
    return {"page": page, "seconds": seconds, "budget": budget, "ok": ok,
            "error": error}


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    pages = [p for p in toc_pages(ROOT) if p.suffix == ".ipynb"
             and (not args.only or any(key in p.name for key in args.only))]
    records = []
    with tempfile.TemporaryDirectory(prefix="dlkit-book-") as tmp:
        book = copy_repository(Path(tmp))
        for page in pages:
            seconds, error = execute(book / page, timeout=args.timeout)
            records.append(_record(str(page.with_suffix("")), seconds, args.budget,
                                   error))
            print(_line(records[-1]), flush=True)
        if not args.chapters_only:
            shutil.rmtree(book / "_build", ignore_errors=True)    # cold: no cache
            seconds, error = cold_build(book, timeout=int(2 * args.build_budget))
            records.append(_record("cold build (jupyter-book build --all)", seconds,
                                   args.build_budget, error))
            print(_line(records[-1]), flush=True)
    return records


def _line(r: dict[str, Any]) -> str:
    verdict = "ok" if r["ok"] else ("FAILED" if r["error"] else "OVER BUDGET")
    line = (f"{r['page']:42} {r['seconds']:8.1f} s  (budget {r['budget']:.0f} s)  "
            f"{verdict}")
    return line + (f"\n    {r['error']}" if r["error"] else "")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.book",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--chapters-only", action="store_true",
                        help="execute the chapters, skip the cold build")
    parser.add_argument("--only", nargs="+", metavar="TEXT",
                        help="only the chapters whose file name contains TEXT, e.g. 03")
    parser.add_argument("--budget", type=float, default=CHAPTER_BUDGET,
                        help=f"seconds per chapter (default {CHAPTER_BUDGET:.0f})")
    parser.add_argument("--build-budget", type=float, default=BUILD_BUDGET,
                        help=f"seconds for the cold build (default {BUILD_BUDGET:.0f})")
    parser.add_argument("--timeout", type=int, default=600,
                        help="seconds before one cell is stopped (default 600)")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write the records to FILE")
    args = parser.parse_args(argv)
    if args.budget <= 0 or args.build_budget <= 0 or args.timeout <= 0:
        parser.error("budgets and --timeout must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"the book on {os.cpu_count()} CPU core(s), load {os.getloadavg()[0]:.1f}: "
          f"each chapter in a fresh kernel"
          + ("" if args.chapters_only else ", then a cold build"))
    records = run(args)
    chapters = [r for r in records if r["page"].startswith("chapters/")]
    total = sum(r["seconds"] for r in chapters)
    print(f"{'all chapters, one after the other':42} {total:8.1f} s")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    failed = [r["page"] for r in records if not r["ok"]]
    print("every page within its budget" if not failed else
          f"over budget or failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
