"""Command line: ``python -m dlkit.grading {generate,grade} ...``.

    python -m dlkit.grading generate            # exercises/ from solutions/
    python -m dlkit.grading generate --execute  # rerun solutions/ first, then generate
    python -m dlkit.grading generate --check    # fail if exercises/ is out of date
    python -m dlkit.grading grade submissions/ --csv grades.csv
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def _generate(args: argparse.Namespace) -> int:
    import nbformat

    from .notebook import execute_in_place, generate

    if args.execute:
        for path in sorted(Path(args.solutions).glob("*.ipynb")):
            print(f"running {path}")
            execute_in_place(path)
    if not args.check:
        for path in generate(args.solutions, args.exercises):
            print(f"wrote {path}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        stale = []
        for fresh in generate(args.solutions, Path(tmp)):
            committed = Path(args.exercises) / fresh.name
            if not committed.exists() or nbformat.read(committed, as_version=4) != \
                    nbformat.read(fresh, as_version=4):
                stale.append(str(committed))
    if stale:
        print("out of date (run `python -m dlkit.grading generate`): " + ", ".join(stale))
        return 1
    print("exercises/ is up to date")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .grader import find_solution, format_table, grade_notebook, submissions_in, write_csv

    paths = submissions_in(args.submissions)
    if not paths:
        print("no notebooks found in " + ", ".join(map(str, args.submissions)))
        return 1
    grades = []
    for path in tqdm(paths, desc="grading", unit="notebook", disable=len(paths) < 2):
        solution = (Path(args.solutions) / f"{args.assignment}.ipynb" if args.assignment
                    else find_solution(path, args.solutions))
        grade = grade_notebook(path, solution, timeout=args.timeout)
        if len(args.submissions) == 1 and args.submissions[0].is_dir():
            grade.submission = str(path.relative_to(args.submissions[0]))
        grades.append(grade)
    print(format_table(grades))
    if args.verbose:
        for g in grades:
            print(f"\n{g.submission}:")
            for verdict in g.verdicts.values():
                print(f"  {verdict}")
    if args.csv:
        write_csv(grades, args.csv)
        print(f"wrote {args.csv}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlkit.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="generate exercises/ from solutions/")
    gen.add_argument("--solutions", type=Path, default=Path("solutions"))
    gen.add_argument("--exercises", type=Path, default=Path("exercises"))
    gen.add_argument("--check", action="store_true",
                     help="write nothing; exit 1 if exercises/ differs from a fresh generation")
    gen.add_argument("--execute", action="store_true",
                     help="first rerun every solution notebook and store its outputs")
    gen.set_defaults(run=_generate)
    grd = sub.add_parser("grade", help="grade notebooks or folders of notebooks")
    grd.add_argument("submissions", nargs="+", type=Path)
    grd.add_argument("--solutions", type=Path, default=Path("solutions"),
                     help="folder of the course's solution notebooks (source of the checks)")
    grd.add_argument("--assignment", help="solution notebook name, e.g. 02_gradient_descent")
    grd.add_argument("--csv", type=Path, help="also write the grades to this CSV file")
    grd.add_argument("--timeout", type=int, default=120, help="seconds per cell (default 120)")
    grd.add_argument("-v", "--verbose", action="store_true", help="print every verdict line")
    grd.set_defaults(run=_grade)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
