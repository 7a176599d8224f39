"""The notebooks: one setup cell everywhere, solutions pass, exercises fail, chapters run fast."""
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from dlkit.grading.notebook import SETUP_CELL, check_id

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))
ALL = CHAPTERS + SOLUTIONS + EXERCISES
BUDGET_SECONDS = 60


def rel(path):
    return str(path.relative_to(ROOT))


def test_every_chapter_has_solutions_and_exercises_with_matching_names():
    assert CHAPTERS, "no chapters found"
    assert [p.name for p in SOLUTIONS] == [p.name for p in EXERCISES]
    for sol in SOLUTIONS:
        assert (ROOT / "chapters" / sol.name).exists(), f"{sol.name} has no chapter"


@pytest.mark.parametrize("path", ALL, ids=rel)
def test_notebook_starts_with_title_and_the_canonical_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and re.match(r"# \S", nb.cells[0].source)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.source == SETUP_CELL


@pytest.mark.parametrize("path", ALL, ids=rel)
def test_headings_do_not_skip_levels(path):
    level = 0
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "markdown":
            continue
        in_code = False
        for line in cell.source.splitlines():
            in_code ^= line.startswith("```")
            m = re.match(r"(#+) ", line)
            if m and not in_code:
                assert len(m[1]) <= level + 1, f"{rel(path)}: '{line}' skips a level"
                level = len(m[1])


@pytest.mark.parametrize("path", CHAPTERS, ids=rel)
def test_chapters_are_stored_without_outputs(path):
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("path", CHAPTERS, ids=rel)
def test_chapter_executes_without_error_within_budget(path):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=BUDGET_SECONDS, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    assert seconds <= BUDGET_SECONDS, f"{path.name} took {seconds:.0f} s"
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            # A warning on stderr is a defect a reader would see on the page.
            assert not (out.get("output_type") == "stream" and out.get("name") == "stderr"
                        and "Warning" in out.get("text", "")), out["text"]


def run_nbval(path):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "-p", "no:cacheprovider", "-rf", "-q",
         str(path)], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("path", SOLUTIONS, ids=rel)
def test_solutions_pass_nbval(path):
    done = run_nbval(path)
    assert done.returncode == 0, done.stdout[-3000:]


@pytest.mark.parametrize("path", EXERCISES, ids=rel)
def test_unsolved_exercises_fail_every_check_cell_and_nothing_else(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    check_cells = {i for i, c in enumerate(code) if check_id(c)}
    assert len(check_cells) >= 6
    done = run_nbval(path)
    failed = {int(m) for m in re.findall(r"^FAILED .*::Cell (\d+)", done.stdout, re.M)}
    assert failed == check_cells, done.stdout[-3000:]
