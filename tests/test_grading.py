"""The graders: accept the reference, reject every known mistake, never crash."""
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest

from dlkit.grading import gradient_descent as checks
from dlkit.grading.notebook import check_id, exercise_id, make_exercise_notebook, strip_solution

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "02_gradient_descent.ipynb"


def solution_namespace(path):
    """The functions of a solution notebook, defined as a learner would define them."""
    ns = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and (exercise_id(cell) or cell.source.startswith("import")):
            exec(cell.source, ns)
    return ns


def verdict(capsys, check, fn):
    assert check(fn) is None
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 1 and out.err == "", out
    return lines[0]


NAMES = ["numerical_gradient", "gradient_descent", "mse_gradient", "minibatch_indices",
         "momentum_step", "rmsprop_step", "adam_step"]


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_passes(capsys, solution_ns, name):
    line = verdict(capsys, getattr(checks, f"check_{name}"), solution_ns[name])
    assert line.startswith(f"✓ {name}: all ") and line.endswith(" checks passed")


# Wrong answers, each with the words its hint must contain. The bodies are what
# learners really write.
WRONG = {
    "numerical_gradient": [
        ("""def f(fn, w, h=1e-5):
                w = np.array(w, float); g = np.zeros_like(w)
                for i in np.ndindex(w.shape):
                    v = w.copy(); v[i] += h; g[i] = (fn(v) - fn(w)) / h
                return g""", "forward difference"),
        ("""def f(fn, w, h=1e-5):
                w = np.array(w, float); g = np.zeros_like(w)
                for i in np.ndindex(w.shape):
                    a = w.copy(); a[i] += h; b = w.copy(); b[i] -= h
                    g[i] = (fn(a) - fn(b)) / h
                return g""", "divides by 2h"),
        ("""def f(fn, w, h=1e-5):
                g = np.zeros_like(w, dtype=float)
                for i in np.ndindex(w.shape):
                    old = w[i]; w[i] = old + h; a = fn(w); w[i] = old - h; b = fn(w)
                    w[i] = old; g[i] = (a - b) / (2 * h)
                return g""", "integer array"),
        ("""def f(fn, w, h=1e-5):
                w = np.array(w, float); g = np.zeros_like(w)
                for i in np.ndindex(w.shape):
                    w[i] += h; a = fn(w); w[i] -= 2 * h; b = fn(w)
                    g[i] = (a - b) / (2 * h)
                return g""", "put it back"),
    ],
    "gradient_descent": [
        ("""def f(grad_fn, w0, lr, n):
                w = np.array(w0, float); path = [w.copy()]
                for _ in range(n):
                    w -= lr * grad_fn(w); path.append(w)
                return np.array(path)""", "same"),
        ("""def f(grad_fn, w0, lr, n):
                w = np.array(w0, float); path = [w]
                for _ in range(n):
                    w = w + lr * grad_fn(w); path.append(w)
                return np.array(path)""", "uphill"),
        ("""def f(grad_fn, w0, lr, n):
                w = np.array(w0, float); path = []
                for _ in range(n):
                    w = w - lr * grad_fn(w); path.append(w)
                return np.array(path)""", "start with w0"),
    ],
    "mse_gradient": [
        ("def f(X, y, w, b):\n r = X @ w + b - y\n return X.T @ r / len(y), r.mean()",
         "half"),
        ("def f(X, y, w, b):\n r = y - X @ w - b\n return 2 * X.T @ r / len(y), 2 * r.mean()",
         "sign"),
        ("def f(X, y, w, b):\n r = X @ w + b - y\n return 2 * X.T @ r, 2 * r.sum()",
         "divide by n"),
    ],
    "minibatch_indices": [
        ("def f(n, bs, rng):\n return [np.arange(i, min(i + bs, n)) for i in range(0, n, bs)]",
         "shuffle"),
        ("def f(n, bs, rng):\n o = rng.permutation(n)\n"
         " return [o[i:i + bs] for i in range(0, n - bs + 1, bs)]", "last, smaller batch"),
        ("def f(n, bs, rng):\n o = np.random.default_rng(0).permutation(n)\n"
         " return [o[i:i + bs] for i in range(0, n, bs)]", "same order"),
        ("def f(n, bs, rng):\n o = np.random.permutation(n)\n"
         " return [o[i:i + bs] for i in range(0, n, bs)]", "from the `rng` argument"),
    ],
    "momentum_step": [
        ("def f(w, dw, s, *, lr, momentum):\n v = (1 - momentum) * dw + (0 if s is None else"
         " momentum * s)\n return w - lr * v, v", "v = βv + g"),
        ("def f(w, dw, s, *, lr, momentum):\n return w - lr * dw, None", "ignore the velocity"),
        ("def f(w, dw, s, *, lr, momentum):\n v = dw if s is None else momentum * s + dw\n"
         " w -= lr * v\n return w, v", "in place"),
    ],
    "rmsprop_step": [
        ("def f(w, dw, s, *, lr, alpha=0.99, eps=1e-8):\n v = (1 - alpha) * dw ** 2 + "
         "(0 if s is None else alpha * s)\n return w - lr * dw / np.sqrt(v + eps), v",
         "after the square root"),
        ("def f(w, dw, s, *, lr, alpha=0.99, eps=1e-8):\n v = (1 - alpha) * dw + "
         "(0 if s is None else alpha * s)\n return w - lr * dw / (np.sqrt(v) + eps), v",
         "SQUARED"),
        ("def f(w, dw, s, *, lr, alpha=0.99, eps=1e-8):\n v = dw ** 2 + "
         "(0 if s is None else alpha * s)\n return w - lr * dw / (np.sqrt(v) + eps), v",
         "(1-α)"),
    ],
    "adam_step": [
        ("""def f(w, dw, s, *, lr, betas=(0.9, 0.999), eps=1e-8):
                m, v = (0, 0) if s is None else s
                m = betas[0] * m + (1 - betas[0]) * dw; v = betas[1] * v + (1 - betas[1]) * dw**2
                return w - lr * m / (np.sqrt(v) + eps), (m, v)""", "bias correction missing"),
        ("""def f(w, dw, s, *, lr, betas=(0.9, 0.999), eps=1e-8):
                t, m, v = (0, 0, 0) if s is None else s
                t += 1
                m = betas[0] * m + (1 - betas[0]) * dw; v = betas[1] * v + (1 - betas[1]) * dw**2
                mh, vh = m / (1 - betas[0]**t), v / (1 - betas[1]**t)
                return w - lr * mh / (np.sqrt(vh) + eps) * dw, (t, m, v)""", "once more"),
        ("""def f(w, dw, s, *, lr, betas=(0.9, 0.999), eps=1e-8):
                t, m, v = (0, 0, 0) if s is None else s
                m = betas[0] * m + (1 - betas[0]) * dw; v = betas[1] * v + (1 - betas[1]) * dw**2
                mh, vh = m / (1 - betas[0]**t), v / (1 - betas[1]**t)
                return w - lr * mh / (np.sqrt(vh) + eps), (t + 1, m, v)""", "t = 1"),
        ("""def f(w, dw, s, *, lr, betas=(0.9, 0.999), eps=1e-8):
                t, m, v = (0, 0, 0) if s is None else s
                t += 1
                m = betas[0] * m + (1 - betas[0]) * dw; v = betas[1] * v + (1 - betas[1]) * dw**2
                m, v = m / (1 - betas[0]**t), v / (1 - betas[1]**t)
                return w - lr * m / (np.sqrt(v) + eps), (t, m, v)""", "raw moments"),
    ],
}
WRONG_CASES = [(name, src, hint) for name, items in WRONG.items() for src, hint in items]


def verdict_of_table(capsys, table, name, ns, **replace):
    """The verdict of check `name` of `table` ({name: (check, its functions in order)})
    on the learner functions of `ns`, some of them replaced by keyword."""
    check, fns = table[name]
    args = [replace[f] if f in replace else ns[f] for f in fns]
    return verdict(capsys, lambda first: check(first, *args[1:]), args[0])


def define(source):
    """The function `f` of a wrong answer written as a learner would (first line, body)."""
    first, *rest = source.split("\n")
    ns = {"np": np}
    exec(first + "\n" + textwrap.indent(textwrap.dedent("\n".join(rest)), "    "), ns)
    return ns["f"]


class TableOfChecks:
    """The tests that every chapter's table of checks shares.

    A grader test module subclasses it as ``TestTableOfChecks`` and sets ``CHECKS``
    ({verdict name: (check, the learner functions it takes, in order)}), ``ALSO_RIGHT``
    ({function: [other correct sources]}) and ``WRONG`` ({function: [(source, hint)]});
    the ``solution_ns`` fixture (tests/conftest.py) reads the module's ``SOLUTION``.
    ``learner`` turns a source into the learner's function (override it when sources
    need more than NumPy).
    """

    CHECKS: dict = {}
    ALSO_RIGHT: dict = {}
    WRONG: dict = {}

    def learner(self, source, ns):
        return define(source)

    @property
    def owner(self):
        """learner function -> the verdict name of the check that grades it"""
        return {f: name for name, (_, fns) in self.CHECKS.items() for f in fns}

    def run(self, capsys, name, ns, **replace):
        return verdict_of_table(capsys, self.CHECKS, name, ns, **replace)

    def pytest_generate_tests(self, metafunc):
        test = metafunc.function.__name__
        if "name" in metafunc.fixturenames:
            metafunc.parametrize("name", list(self.CHECKS))
        if test == "test_other_correct_answers_pass":
            cases = [(fn, src) for fn, items in self.ALSO_RIGHT.items() for src in items]
            metafunc.parametrize("fn, source", cases,
                                 ids=[f"{fn}-{i}" for i, (fn, _) in enumerate(cases)])
        elif test == "test_common_mistake_is_rejected_with_its_hint":
            cases = [(fn, src, hint) for fn, items in self.WRONG.items()
                     for src, hint in items]
            metafunc.parametrize("fn, source, hint", cases,
                                 ids=[f"{fn}-{hint}" for fn, _, hint in cases])
        elif test == "test_broken_code_gets_a_verdict_not_a_crash":
            metafunc.parametrize("fn", list(self.owner))
        if "bad" in metafunc.fixturenames:
            metafunc.parametrize("bad", BROKEN, ids=BROKEN_IDS)

    def test_reference_solution_passes(self, capsys, solution_ns, name):
        line = self.run(capsys, name, solution_ns)
        assert line.startswith(f"✓ {name}: all ") and line.endswith(" checks passed"), line

    def test_check_finds_the_functions_in_the_calling_namespace(self, capsys, solution_ns,
                                                                name):
        check, fns = self.CHECKS[name]
        exec("check()", {"check": check, **{f: solution_ns[f] for f in fns}})
        assert capsys.readouterr().out.startswith(f"✓ {name}: all ")

    def test_other_correct_answers_pass(self, capsys, solution_ns, fn, source):
        name = self.owner[fn]
        line = self.run(capsys, name, solution_ns, **{fn: self.learner(source, solution_ns)})
        assert line.startswith(f"✓ {name}: all "), line

    def test_common_mistake_is_rejected_with_its_hint(self, capsys, solution_ns, fn, source,
                                                      hint):
        name = self.owner[fn]
        line = self.run(capsys, name, solution_ns, **{fn: self.learner(source, solution_ns)})
        assert line.startswith(f"✗ {name}: ") and "checks failed" in line, line
        assert hint in line, line

    def test_broken_code_gets_a_verdict_not_a_crash(self, capsys, solution_ns, fn, bad):
        name = self.owner[fn]
        line = self.run(capsys, name, solution_ns, **{fn: bad})
        assert line.startswith(f"✗ {name}: "), line

    def test_broken_code_alone_gets_a_verdict_not_a_crash(self, capsys, name, bad):
        line = verdict(capsys, self.CHECKS[name][0], bad)
        assert line.startswith(f"✗ {name}: "), line


@pytest.mark.parametrize("name, source, hint", WRONG_CASES,
                         ids=[f"{n}-{h}" for n, _, h in WRONG_CASES])
def test_common_mistake_is_rejected_with_its_hint(capsys, name, source, hint):
    line = verdict(capsys, getattr(checks, f"check_{name}"), define(source))
    assert line.startswith(f"✗ {name}: ") and "checks failed" in line, line
    assert hint in line, line


#: What a learner may hand in instead of a working function: each must get a ✗ verdict.
BROKEN = [
    None, 42, lambda *a, **k: None, lambda *a, **k: "text", lambda *a, **k: 1 / 0,
    lambda *a, **k: (_ for _ in ()).throw(NotImplementedError("Exercise")),
    lambda *a, **k: print("debugging output") or np.full(7, np.nan),
]
BROKEN_IDS = ["None", "int", "returns-None", "returns-str", "ZeroDivision", "stub",
              "prints-nan"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", BROKEN, ids=BROKEN_IDS)
def test_broken_code_gets_a_verdict_not_a_crash(capsys, name, bad):
    line = verdict(capsys, getattr(checks, f"check_{name}"), bad)
    assert line.startswith(f"✗ {name}: "), line


def test_check_finds_the_function_in_the_calling_namespace(capsys, solution_ns):
    ns = {"check": checks.check_adam_step, "adam_step": solution_ns["adam_step"]}
    exec("check()", ns)
    assert capsys.readouterr().out.startswith("✓ adam_step")
    exec("check()", {"check": checks.check_adam_step})
    assert "no function named `adam_step`" in capsys.readouterr().out


def test_endless_loop_is_stopped(capsys):
    from dlkit.grading._core import run_checks

    def forever(*args):
        while True:
            pass

    run_checks("spin", "0.0", forever, [lambda f: f()], time_limit=0.2)
    assert "took more than 0.2 s" in capsys.readouterr().out


def test_strip_solution_keeps_indentation_and_rejects_bad_markers():
    src = "def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION\ny = 1"
    out = strip_solution(src, "2.9")
    assert out == ('def f(x):\n    raise NotImplementedError("Exercise 2.9: replace this '
                   'line with your code")\ny = 1')
    with pytest.raises(ValueError, match="without END"):
        strip_solution("# BEGIN SOLUTION\nx = 1", "2.9")
    with pytest.raises(ValueError, match="without BEGIN"):
        strip_solution("x = 1\n# END SOLUTION", "2.9")


def test_generated_exercises_keep_checks_and_expected_verdicts_only():
    solution = nbformat.read(SOLUTION, as_version=4)
    exercise = make_exercise_notebook(solution)
    code = [c for c in exercise.cells if c.cell_type == "code"]
    stubs = [c for c in code if exercise_id(c)]
    checks_ = [c for c in code if check_id(c)]
    assert len(stubs) == len(checks_) >= 6
    for cell in stubs:
        assert "BEGIN SOLUTION" not in cell.source and "NotImplementedError" in cell.source
        assert cell.outputs == []
    for cell in checks_:
        assert "nbval-check-output" in cell.metadata["tags"]
        assert cell.outputs[0]["text"].startswith("✓ ")


def test_committed_exercises_equal_a_fresh_generation():
    done = subprocess.run([sys.executable, "-m", "dlkit.grading", "generate", "--check"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_generate_check_notices_a_stale_exercise(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "exercises").mkdir()
    (tmp_path / "solutions" / SOLUTION.name).write_bytes(SOLUTION.read_bytes())
    exercise = ROOT / "exercises" / SOLUTION.name
    stale = nbformat.read(exercise, as_version=4)
    stale.cells[-1].source += "\nedited by hand"
    nbformat.write(stale, tmp_path / "exercises" / SOLUTION.name)
    done = subprocess.run([sys.executable, "-m", "dlkit.grading", "generate", "--check"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1 and "out of date" in done.stdout


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade four submissions with the command an instructor runs."""
    folder = tmp_path_factory.mktemp("submissions")
    solution = nbformat.read(SOLUTION, as_version=4)
    exercise = nbformat.read(ROOT / "exercises" / SOLUTION.name, as_version=4)
    nbformat.write(solution, folder / "alice.ipynb")             # everything right
    one_wrong = nbformat.read(SOLUTION, as_version=4)              # Adam without correction
    for cell in one_wrong.cells:
        if exercise_id(cell) == "2.7":
            cell.source = cell.source.replace("m / (1 - beta1**t)", "m").replace(
                "v / (1 - beta2**t)", "v")
            assert "m_hat = m  " in cell.source and "v_hat = v\n" in cell.source
    nbformat.write(one_wrong, folder / "bob.ipynb")
    faked = nbformat.read(ROOT / "exercises" / SOLUTION.name, as_version=4)
    for cell in faked.cells:                                       # unsolved, outputs faked
        if check_id(cell):
            cell.outputs = solution.cells[solution.cells.index(
                next(c for c in solution.cells if check_id(c) == check_id(cell)))].outputs
            cell.source = 'print("✓ all checks passed")'
    nbformat.write(faked, folder / "carol.ipynb")
    nbformat.write(exercise, folder / "dave.ipynb")               # handed in unsolved
    csv_path = folder / "grades.csv"
    done = subprocess.run([sys.executable, "-m", "dlkit.grading", "grade", str(folder),
                           "--csv", str(csv_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    import csv
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    table = {}
    for row in rows:
        table.setdefault(row["submission"], {})[row["exercise"]] = int(row["points"])
    return done.stdout, table


def test_grading_gives_full_marks_to_a_correct_submission(graded):
    stdout, table = graded
    assert set(table["alice.ipynb"].values()) == {1} and len(table["alice.ipynb"]) == 7
    assert "7/7" in stdout


def test_grading_takes_off_exactly_the_wrong_exercise(graded):
    _, table = graded
    assert table["bob.ipynb"] == {**table["alice.ipynb"], "2.7": 0}


def test_grading_is_not_fooled_by_edited_outputs_or_check_cells(graded):
    _, table = graded
    assert set(table["carol.ipynb"].values()) == {0}
    assert set(table["dave.ipynb"].values()) == {0}


# The equation numbers that the hints of each chapter's checks cite, against the chapter.
CHAPTER_OF_CHECKS = {"neural_networks": "01_neural_networks", "autodiff": "03_autodiff",
                     "losses": "04_losses", "conv": "05_convolutional_networks",
                     "recurrent": "06_recurrent_networks",
                     "regularization": "07_regularization",
                     "autoencoders": "08_autoencoders"}


@pytest.mark.parametrize("module", list(CHAPTER_OF_CHECKS))
def test_every_equation_a_check_cites_is_tagged_in_its_chapter(module):
    import importlib

    eq = importlib.import_module(f"dlkit.grading.{module}").EQ
    path = ROOT / "chapters" / f"{CHAPTER_OF_CHECKS[module]}.ipynb"
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells
                     if c.cell_type == "markdown")
    missing = {what: tag for what, tag in eq.items()
               if f"\\tag{{{tag.strip('()')}}}" not in text}
    assert not missing, f"{path.name} has no \\tag for {missing}"
