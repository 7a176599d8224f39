"""The machinery behind every check cell: run cases, catch everything, print one line.

A check function takes the learner's function (or looks it up by name in the
notebook that called it), runs it on several seeded cases, and prints exactly one
verdict line::

    ✓ adam_step: all 5 checks passed
    ✗ adam_step: 2/5 checks failed: bias correction missing, eq. (2.24)

It returns None, silences warnings and anything the learner's code prints, stops a
case that runs too long, and turns every exception into a ✗ with its reason.
"""
from __future__ import annotations

import contextlib
import io
import signal
import sys
import threading
import traceback
import warnings
from typing import Any, Callable, Sequence

import numpy as np

PASS, FAIL = "✓", "✗"

__all__ = ["CheckFailed", "Case", "run_checks", "close", "match_mistake", "learner_array",
           "shaped_array"]


class CheckFailed(Exception):
    """Raised by a case with the hint that the learner should read."""


class _Timeout(Exception):
    pass


Case = Callable[[Callable], None]


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Interrupt a case after ``seconds`` (main thread on Unix; elsewhere no limit)."""
    usable = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _where(exc: BaseException) -> str:
    """The learner-side line where an exception happened, if it was in their code."""
    def learner(filename: str) -> bool:
        path = filename.replace("\\", "/")
        return "/dlkit/" not in path and "site-packages" not in path

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if learner(f.filename)]
    if frames and frames[-1].line:
        return f" (at `{frames[-1].line.strip()}`)"
    return ""


def _lookup(name: str, depth: int = 3) -> Any:
    """Find ``name`` in the namespace of the notebook cell that called the check."""
    frame = sys._getframe(depth)
    return frame.f_globals.get(name, frame.f_locals.get(name))


def learner_function(fn: Any, name: str) -> Any:
    """``fn`` if the check was given one, else the learner's function ``name`` from the
    namespace of the notebook cell that called the check."""
    return _lookup(name, depth=3) if fn is None else fn


def missing_function(name: str, exercise: str) -> CheckFailed:
    """The verdict reason when a second function of an exercise is not defined."""
    return CheckFailed(f"no function named `{name}` is defined; define it in the cell of "
                       f"Exercise {exercise}, and keep its name.")


def run_checks(
    name: str,
    exercise: str,
    fn: Any,
    cases: Sequence[Case],
    *,
    time_limit: float = 20.0,
) -> bool:
    """Run every case against ``fn``, print one verdict line and return whether all passed.

    The check functions that notebooks call return None; they call this.
    """
    if fn is None:
        print(f"{FAIL} {name}: no function named `{name}` is defined; run the cell that "
              f"defines it (Exercise {exercise}) first, and keep its name.")
        return False
    if not callable(fn):
        print(f"{FAIL} {name}: `{name}` is of type {type(fn).__name__}, not a function; "
              f"did another cell reuse the name?")
        return False
    failures: list[str] = []
    sink = io.StringIO()
    for case in cases:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"), \
                    contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                    _time_limit(time_limit):
                warnings.simplefilter("ignore")
                case(fn)
        except NotImplementedError:
            print(f"{FAIL} {name}: not implemented yet; replace the "
                  f"`raise NotImplementedError(...)` of Exercise {exercise} with your code.")
            return False
        except CheckFailed as exc:
            failures.append(str(exc))
        except _Timeout:
            failures.append(f"a call took more than {time_limit:g} s; is there an endless loop?")
        except RecursionError:
            failures.append("infinite recursion (RecursionError); does the function call itself?")
        except Exception as exc:  # any bug in learner code becomes a verdict
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            failures.append(f"raised {type(exc).__name__}" + (f": {msg}" if msg else "")
                            + _where(exc))
    if not failures:
        print(f"{PASS} {name}: all {len(cases)} checks passed")
        return True
    # The first failure is the most basic one: cases are ordered from simple to subtle.
    print(f"{FAIL} {name}: {len(failures)}/{len(cases)} checks failed: {failures[0]}")
    return False


def close(got: Any, want: np.ndarray, *, rtol: float = 1e-6, atol: float = 1e-9,
          equal_nan: bool = False) -> bool:
    """True when ``got`` (array-like) has the shape of ``want`` and matches its values."""
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    want = np.asarray(want, dtype=np.float64)
    return got.shape == want.shape and bool(
        np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=equal_nan))


def as_array(fn_name: str, what: str, value: Any) -> np.ndarray:
    """Turn a learner's return value into a float array, or fail with a clear hint."""
    if type(value).__module__.startswith("torch"):
        raise CheckFailed(f"{what} is a torch.Tensor; this exercise works with NumPy arrays.")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"{what} should be a NumPy array, got {type(value).__name__}.") from None
    return arr


def learner_array(what: str, value: Any) -> np.ndarray:
    """The learner's value as a float array; None (a forgotten `return`) is named."""
    if value is None:
        raise CheckFailed(f"{what} is None: the function returns nothing; is its `return` "
                          f"missing?")
    return as_array("", what, value)


def shaped_array(value: Any, want: tuple, what: str, hints: dict[tuple, str],
            otherwise: str) -> np.ndarray:
    """The learner's array, or a failure naming the slip that its wrong shape reveals."""
    got = learner_array(what, value)
    if got.shape == tuple(want):
        return got
    hint = hints.get(got.shape, otherwise)
    raise CheckFailed(f"{what} has shape {got.shape}, expected {tuple(want)}: {hint}.")


def expect(got: Any, want: np.ndarray, what: str, mistakes: dict[str, Any] | None = None,
           *, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """Fail unless ``got`` matches ``want``; name a known mistake when ``got`` matches one.

    ``mistakes`` maps a hint to the value a typical wrong implementation returns.
    """
    got_arr = as_array("", what, got)
    want = np.asarray(want, dtype=np.float64)
    if got_arr.shape != want.shape:
        raise CheckFailed(f"{what} has shape {got_arr.shape}, expected {want.shape}.")
    if close(got_arr, want, rtol=rtol, atol=atol):
        return
    hint = match_mistake(got_arr, mistakes or {}, rtol=rtol, atol=atol)
    if hint:
        raise CheckFailed(hint)
    if not np.all(np.isfinite(got_arr)):
        raise CheckFailed(f"{what} contains inf or nan.")
    err = np.max(np.abs(got_arr - want))
    raise CheckFailed(f"{what} is off by up to {err:.3g} from the expected value.")


def match_mistake(got: np.ndarray, mistakes: dict[str, Any], *, rtol: float = 1e-6,
                  atol: float = 1e-9) -> str | None:
    """Return the hint of the first known mistake whose value ``got`` matches."""
    for hint, wrong in mistakes.items():
        # A wrong formula can give nan (the square root of a negative number, 0/0);
        # the learner's nan in the same places is the same mistake.
        if close(got, wrong, rtol=rtol, atol=atol, equal_nan=True):
            return hint
    return None
