"""Notebook conventions shared by chapters, solutions and exercises."""
from __future__ import annotations

#: The first code cell of every notebook, character for character (a test checks it).
SETUP_CELL = '''\
# Setup, the same in every notebook: install dlkit if it is missing (e.g. on Colab),
# without touching the numpy/torch already there, and pick the device (GPU if any).
import importlib.util, subprocess, sys
if importlib.util.find_spec("dlkit") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "git+https://github.com/dlkit-course/deep-learning-course"], check=True)
import dlkit
DEVICE = dlkit.device()'''

import copy
import re
from pathlib import Path
from typing import Any

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
CHECK_TAG = "nbval-check-output"
_MARKER = re.compile(r"^(?P<indent>[ \t]*)# (?P<kind>BEGIN|END) SOLUTION[ \t]*$")


def exercise_id(cell: Any) -> str | None:
    """The exercise number ("2.7") of a stub cell, from its ``dlkit`` metadata."""
    return cell.get("metadata", {}).get("dlkit", {}).get("exercise")


def check_id(cell: Any) -> str | None:
    """The exercise number that a check cell grades, from its ``dlkit`` metadata."""
    return cell.get("metadata", {}).get("dlkit", {}).get("check")


def strip_solution(source: str, exercise: str, where: str = "") -> str:
    """Replace every BEGIN/END SOLUTION block by a ``raise NotImplementedError``.

    The raise keeps the indentation of the BEGIN marker, so it can sit inside a
    function body. Unbalanced markers are an error in the solution notebook.
    """
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), 1):
        m = _MARKER.match(line)
        if m and m["kind"] == "BEGIN":
            if inside:
                raise ValueError(f"{where} line {number}: BEGIN SOLUTION inside another one.")
            inside = True
            out.append(f'{m["indent"]}raise NotImplementedError('
                       f'"Exercise {exercise}: replace this line with your code")')
        elif m:
            if not inside:
                raise ValueError(f"{where} line {number}: END SOLUTION without BEGIN.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: BEGIN SOLUTION without END SOLUTION.")
    return "\n".join(out)


def make_exercise_notebook(solution: Any, name: str = "") -> Any:
    """Return the exercise notebook generated from a solution notebook (nbformat node).

    Solutions are replaced by stubs; every output is dropped except those of check
    cells (the expected ✓ lines that ``pytest --nbval`` compares against) and of the
    setup cell, so the solution notebooks must be stored executed. Cells tagged ``solution-only`` are removed.
    """
    nb = copy.deepcopy(solution)
    cells = []
    for index, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if "solution-only" in tags:
            continue
        if cell.cell_type == "code":
            where = f"{name} cell {index}"
            if BEGIN in cell.source or END in cell.source:
                ex = exercise_id(cell)
                if ex is None:
                    raise ValueError(f"{where}: a solution cell needs metadata "
                                     f'{{"dlkit": {{"exercise": "N.k"}}}}.')
                cell.source = strip_solution(cell.source, ex, where)
            # Execution counts stay: nbval only compares cells that have been run.
            if check_id(cell) is None and cell.source != SETUP_CELL:
                cell.outputs = []
        cells.append(cell)
    nb.cells = cells
    return nb


def generate(solutions: Path, exercises: Path) -> list[Path]:
    """Write ``exercises/NAME.ipynb`` for every ``solutions/NAME.ipynb``; return the paths."""
    import nbformat

    written = []
    exercises.mkdir(parents=True, exist_ok=True)
    for src in sorted(Path(solutions).glob("*.ipynb")):
        nb = nbformat.read(src, as_version=4)
        out = Path(exercises) / src.name
        nbformat.write(make_exercise_notebook(nb, src.name), out)
        written.append(out)
    return written


def execute_in_place(path: Path, *, timeout: int = 300) -> None:
    """Run a notebook top to bottom in a fresh kernel and store its outputs in the file.

    Authors run this on ``solutions/`` after editing them, so that the stored ✓ lines
    that the exercises are compared against are fresh.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    for cell in nb.cells:  # keep the stored notebook free of run-specific metadata
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
