"""Grade submitted exercise notebooks by running them against the course's own checks.

The grade never trusts what a submission stores: the outputs are thrown away, and
every check cell is replaced by the course's check cell (taken from
``solutions/``) before the notebook runs in a fresh kernel. Only the learner's
other code cells come from the submission. (This defeats edited outputs and edited
check cells; like any autograder it runs the submitted code, so grade untrusted
submissions inside a container or a throw-away account.)
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .notebook import check_id

PASS, FAIL = "✓", "✗"


@dataclass
class Grade:
    """The result of one submission: one verdict per exercise."""

    submission: str
    assignment: str
    verdicts: dict[str, str] = field(default_factory=dict)  # exercise -> verdict line

    def passed(self, exercise: str) -> bool:
        return self.verdicts.get(exercise, "").startswith(PASS)

    @property
    def score(self) -> int:
        return sum(self.passed(ex) for ex in self.verdicts)


def _course_checks(solution: Any) -> dict[str, Any]:
    checks = {}
    for cell in solution.cells:
        ex = check_id(cell)
        if cell.cell_type == "code" and ex is not None:
            checks[ex] = cell
    if not checks:
        raise ValueError("the solution notebook has no check cells (metadata dlkit.check).")
    return checks


def build_grading_notebook(submission: Any, solution: Any) -> tuple[Any, dict[int, str]]:
    """Return the notebook to run and a map {cell index: exercise} of its check cells.

    Learner code cells are kept in order without outputs; each check cell is
    replaced by the course's; checks missing from the submission are appended.
    """
    import nbformat

    checks = _course_checks(solution)
    cells, where = [], {}
    for cell in submission.cells:
        if cell.cell_type != "code":
            continue
        ex = check_id(cell)
        if ex is not None:
            if ex in checks and ex not in where.values():
                where[len(cells)] = ex
                cells.append(nbformat.v4.new_code_cell(checks[ex].source))
            continue  # unknown or duplicated check cells are dropped
        cells.append(nbformat.v4.new_code_cell(cell.source))
    for ex, cell in checks.items():
        if ex not in where.values():
            where[len(cells)] = ex
            cells.append(nbformat.v4.new_code_cell(cell.source))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb, where


def _verdict(cell: Any, exercise: str) -> str:
    """The one verdict line printed by a check cell, or a ✗ saying what went wrong."""
    lines = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            lines += [ln for ln in out.get("text", "").splitlines() if ln.strip()]
        if out.get("output_type") == "error":
            return f"{FAIL} exercise {exercise}: the check cell failed ({out.get('ename')})"
    verdicts = [ln for ln in lines if ln.startswith((PASS, FAIL))]
    if len(verdicts) != 1:
        return f"{FAIL} exercise {exercise}: the check printed no verdict"
    return verdicts[0]


def grade_notebook(path: Path, solution_path: Path, *, timeout: int = 120) -> Grade:
    """Run one submission with the course's checks and return its grade."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    solution = nbformat.read(solution_path, as_version=4)
    grade = Grade(str(path), Path(solution_path).stem)
    try:
        submission = nbformat.read(path, as_version=4)
    except Exception as exc:  # not a notebook, truncated JSON, ...
        for ex in _course_checks(solution):
            grade.verdicts[ex] = f"{FAIL} exercise {ex}: unreadable notebook ({type(exc).__name__})"
        return grade
    nb, where = build_grading_notebook(submission, solution)
    env_before = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"  # the kernel inherits it: no plot windows
    client = NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).parent)}})
    dead = None
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if dead:
                    break
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    cell.outputs = [{"output_type": "error", "ename": "timeout",
                                     "evalue": "", "traceback": []}]
                except DeadKernelError:
                    dead = "the kernel died (did the code exit or run out of memory?)"
    except Exception as exc:  # kernel failed to start, ...
        dead = f"could not run the notebook ({type(exc).__name__}: {exc})"
    finally:
        if env_before is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = env_before
    for index, ex in where.items():
        cell = nb.cells[index]
        if cell.get("outputs") or not dead:
            grade.verdicts[ex] = _verdict(cell, ex)
        else:
            grade.verdicts[ex] = f"{FAIL} exercise {ex}: not graded, {dead}"
    grade.verdicts = dict(sorted(grade.verdicts.items(), key=lambda kv: _key(kv[0])))
    return grade


def _key(exercise: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in exercise.split("."))


def find_solution(path: Path, solutions: Path) -> Path:
    """Pick the course notebook a submission answers: by its check cells, else its name."""
    import nbformat

    candidates = sorted(Path(solutions).glob("*.ipynb"))
    if not candidates:
        raise FileNotFoundError(f"no solution notebooks in {solutions}")
    try:
        ids = {check_id(c) for c in nbformat.read(path, as_version=4).cells} - {None}
    except Exception:
        ids = set()
    best, overlap = None, 0
    for cand in candidates:
        cand_ids = {check_id(c) for c in nbformat.read(cand, as_version=4).cells} - {None}
        if len(ids & cand_ids) > overlap:
            best, overlap = cand, len(ids & cand_ids)
    if best is None:
        by_name = [c for c in candidates if c.stem in Path(path).name]
        if len(by_name) == 1:
            return by_name[0]
        raise ValueError(
            f"cannot tell which exercise notebook {path} answers (no check cells of the "
            f"course found); pass --assignment NAME, e.g. --assignment {candidates[0].stem}")
    return best


def submissions_in(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into the notebooks they contain (recursively), sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        elif p.suffix == ".ipynb" and p.exists():
            found.append(p)
        else:
            raise FileNotFoundError(f"{p} is neither a folder nor a .ipynb notebook")
    return found


def format_table(grades: list[Grade]) -> str:
    """A plain-text score table: one row per submission, one column per exercise."""
    exercises = sorted({ex for g in grades for ex in g.verdicts}, key=_key)
    header = ["submission"] + exercises + ["score"]
    rows = [[g.submission] + [PASS if g.passed(ex) else FAIL for ex in exercises]
            + [f"{g.score}/{len(g.verdicts)}"] for g in grades]
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
             for r in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_csv(grades: list[Grade], path: Path) -> None:
    """One row per submission and exercise: points (0/1) and the verdict line."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["submission", "assignment", "exercise", "points", "verdict"])
        for g in grades:
            for ex, verdict in g.verdicts.items():
                writer.writerow([g.submission, g.assignment, ex, int(g.passed(ex)), verdict])
