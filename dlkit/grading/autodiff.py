"""Checks for the exercises of chapter 03, automatic differentiation.

Each ``check_*`` function is called from a check cell, without arguments (it finds
the learner's function by name in the notebook) or with the function to check. It
prints one verdict line and returns None.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autodiff import reverse
from ._core import (as_array, CheckFailed, expect, learner_function, run_checks)

__all__ = ["check_dual_mul_div", "check_tanh_jvp", "check_div_backward", "check_topo_sort",
           "check_unbroadcast", "check_bp2"]

#: Where chapter 03 states what each exercise implements.
EQ = {"dual_mul": "(3.5)", "dual_div": "(3.6)", "tanh_jvp": "(3.8)",
      "div_backward": "(3.12)", "unbroadcast": "(3.15)", "bp2": "(3.19)"}


def _pair(out: Any, what: str) -> tuple[Any, Any]:
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise CheckFailed(f"return a pair {what}, got {type(out).__name__}.")
    return out[0], out[1]


def _expect_pair(out: Any, want: tuple, names: tuple[str, str], what: str,
                 mistakes: dict[str, tuple]) -> None:
    """Compare a returned pair; name a known mistake when the pair matches one."""
    got = _pair(out, what)
    arrays = [as_array("", n, g) for n, g in zip(names, got)]
    for hint, wrong in mistakes.items():
        if all(a.shape == np.shape(w) and np.allclose(a, w, rtol=1e-7, atol=1e-12)
               for a, w in zip(arrays, wrong)) and not all(
                np.allclose(w, r) for w, r in zip(wrong, want)):
            raise CheckFailed(hint)
    for name, a, w in zip(names, arrays, want):
        expect(a, w, name, rtol=1e-7, atol=1e-12)


# ------------------------------------------------------------------ 3.1 dual numbers
def check_dual_mul_div(dual_mul: Any = None, dual_div: Any = None) -> None:
    """Exercise 3.1: ``dual_mul(x, y)`` and ``dual_div(x, y)`` on pairs (value, tangent)."""
    mul = learner_function(dual_mul, "dual_mul")
    div = learner_function(dual_div, "dual_div")
    rng = np.random.default_rng(31)

    def pairs(shape=()):
        a, da, b, db = (rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape)
                        for _ in range(4))
        return a, da, b, db

    def products(fn):
        for shape in ((), (4,)):
            a, da, b, db = pairs(shape)
            _expect_pair(fn((a, da), (b, db)), (a * b, da * b + a * db),
                         ("the value", "the tangent"), "(value, tangent)", {
                f"the tangent of a product is a'b + ab' (product rule, eq. {EQ['dual_mul']}), "
                "not a'b'": (a * b, da * db),
                f"the tangent needs both terms of the product rule: a'b + ab', eq. "
                f"{EQ['dual_mul']}": (a * b, da * b),
                "the value of (a + a'ε)(b + b'ε) is ab; the ε² term vanishes, it does not "
                "add a'b' to the value": (a * b + da * db, da * b + a * db),
            })

    def quotients(fn_unused):
        if div is None:
            raise CheckFailed("no function named `dual_div` is defined; define it in the "
                              "cell of Exercise 3.1, and keep its name.")
        for shape in ((), (3,)):
            a, da, b, db = pairs(shape)
            want = (a / b, (da * b - a * db) / b**2)
            _expect_pair(div((a, da), (b, db)), want, ("the value", "the tangent"),
                         "(value, tangent)", {
                f"the quotient rule divides by b², eq. {EQ['dual_div']}: "
                "(a'b - ab')/b²": (a / b, (da * b - a * db) / b),
                f"the sign is reversed: the tangent of a/b is (a'b - ab')/b², eq. "
                f"{EQ['dual_div']}": (a / b, (a * db - da * b) / b**2),
                "the quotient rule has a minus: (a'b - ab')/b², not (a'b + ab')/b²":
                    (a / b, (da * b + a * db) / b**2),
                "a'/b' is not the derivative of a quotient; use (a'b - ab')/b²":
                    (a / b, da / db),
            })

    def against_chain_rule(fn_unused):
        # d/dx [x (x + 1) / (x² + 1)] at x = 0.7 by the pairs, against the formula.
        if div is None:
            return
        x = (0.7, 1.0)
        num = mul(x, (x[0] + 1.0, 1.0))
        den = (x[0] ** 2 + 1.0, 2 * x[0])
        value, tangent = _pair(div(num, den), "(value, tangent)")
        f = lambda t: t * (t + 1) / (t * t + 1)  # noqa: E731
        h = 1e-6
        expect(tangent, (f(0.7 + h) - f(0.7 - h)) / (2 * h),
               "the derivative of x(x+1)/(x²+1) at 0.7 through your two rules", rtol=1e-6)

    run_checks("dual_mul", "3.1", mul, [products, quotients, against_chain_rule])


# ------------------------------------------------------------------ 3.2 tanh jvp
def check_tanh_jvp(fn: Any = None) -> None:
    """Exercise 3.2: ``tanh_jvp(x, dx)`` returns ``(tanh x, (1 - tanh² x) dx)``."""
    fn = learner_function(fn, "tanh_jvp")
    rng = np.random.default_rng(32)
    eq = EQ["tanh_jvp"]

    def case(shape):
        def run(fn):
            x, dx = rng.standard_normal(shape) * 1.5, rng.standard_normal(shape)
            t = np.tanh(x)
            _expect_pair(fn(x.copy(), dx.copy()), (t, (1 - t**2) * dx),
                         ("tanh(x)", "the tangent"), "(tanh(x), tangent)", {
                f"multiply the local derivative by the incoming tangent dx (chain rule, eq. "
                f"{eq})": (t, 1 - t**2),
                f"the derivative of tanh is 1 - tanh²(x), eq. {eq}, not 1 - x²":
                    (t, (1 - x**2) * dx),
                "the derivative of tanh is 1 - tanh²(x); the square is missing":
                    (t, (1 - t) * dx),
                "cosh² is the reciprocal of the derivative: tanh' = 1/cosh² = 1 - tanh²":
                    (t, np.cosh(x) ** 2 * dx),
            })
        return run

    run_checks("tanh_jvp", "3.2", fn, [case(()), case((5,)), case((2, 3))])


# ------------------------------------------------------------------ 3.3 div backward
def check_div_backward(fn: Any = None) -> None:
    """Exercise 3.3: ``div_backward(a, b, dout)`` returns ``(da, db)`` for ``out = a / b``."""
    fn = learner_function(fn, "div_backward")
    rng = np.random.default_rng(33)
    eq = EQ["div_backward"]

    def case(shape):
        def run(fn):
            # b of both signs: a rule that gets the sign of b wrong only where b > 0
            # (dout * a / (b * |b|), say) must not pass.
            a = rng.uniform(0.5, 2, shape)
            b = rng.uniform(0.5, 2, shape) * rng.choice([-1.0, 1.0], shape)
            dout = rng.standard_normal(shape)
            want = (dout / b, -dout * a / b**2)
            _expect_pair(fn(a, b, dout), want, ("da", "db"), "(da, db)", {
                f"multiply the local derivatives by the upstream gradient dout, eq. {eq}":
                    (1 / b, -a / b**2),
                f"∂(a/b)/∂b = -a/b²: the minus sign is missing, eq. {eq}":
                    (dout / b, dout * a / b**2),
                f"∂(a/b)/∂b = -a/b², with a in the numerator, eq. {eq}":
                    (dout / b, -dout / b**2),
                "∂(a/b)/∂a = 1/b, so da = dout / b, not dout * b":
                    (dout * b, -dout * a / b**2),
            })
        return run

    def against_the_engine(fn):
        a, b = reverse.Value(1.3), reverse.Value(-0.4)
        out = (a / b).tanh()
        out.backward()
        dout = 1 - out.data**2
        da, db = _pair(fn(1.3, -0.4, dout), "(da, db)")
        expect([da, db], [a.grad, b.grad], "(da, db) inside tanh(a/b)", rtol=1e-9)

    run_checks("div_backward", "3.3", fn, [case(()), case((4,)), against_the_engine])


# ------------------------------------------------------------------ 3.4 topological sort
def check_topo_sort(fn: Any = None) -> None:
    """Exercise 3.4: ``topo_sort(root)`` lists every node once, inputs first, root last."""
    fn = learner_function(fn, "topo_sort")
    V = reverse.Value

    def graphs():
        x, y = V(0.5), V(-1.5)
        chain = ((x * 2.0).tanh() + 1.0).exp()
        shared = x * y
        diamond = shared * shared + shared.tanh()       # `shared` feeds three users
        deep = x
        for _ in range(5):
            deep = deep * y + x                          # x and y reused at every level
        return {"a chain": chain, "a diamond (a node used twice)": diamond,
                "a graph reusing x and y at every level": deep, "a single leaf": V(3.0)}

    def run(fn):
        for label, root in graphs().items():
            order = fn(root)
            try:
                order = list(order)
            except TypeError:
                raise CheckFailed(f"return a list of nodes, got {type(order).__name__}.")
            want = reverse.topological_order(root)
            ids = [id(n) for n in order]
            if len(ids) != len(set(ids)):
                raise CheckFailed(f"for {label}, some nodes appear more than once: keep a "
                                  f"set of visited nodes and skip a node already in it.")
            if set(ids) != {id(n) for n in want}:
                missing = len({id(n) for n in want} - set(ids))
                raise CheckFailed(f"for {label}, {missing} of the {len(want)} nodes are "
                                  f"missing (or foreign nodes were added): visit every input "
                                  f"in node._prev, recursively, leaves included.")
            if order and order[0] is root and len(order) > 1:
                raise CheckFailed(f"for {label}, the root comes first: append a node after "
                                  f"its inputs (post-order), so that the root comes last "
                                  f"and the backward pass can walk the list reversed.")
            position = {id(n): i for i, n in enumerate(order)}
            for node in order:
                if any(position[id(p)] > position[id(node)] for p in node._prev):
                    raise CheckFailed(f"for {label}, a node comes before one of its inputs: "
                                      f"add a node only after all of its inputs.")

    def long_chain(fn):
        x = V(1.0)
        y = x
        for _ in range(400):
            y = y + 1.0
        if len(list(fn(y))) != 801:
            raise CheckFailed("a chain of 400 additions has 801 nodes (400 sums, 400 "
                              "constants, 1 leaf); some were lost.")

    run_checks("topo_sort", "3.4", fn, [run, long_chain])


# ------------------------------------------------------------------ 3.5 unbroadcast
def check_unbroadcast(fn: Any = None) -> None:
    """Exercise 3.5: ``unbroadcast(grad, shape)`` sums over the broadcast axes."""
    fn = learner_function(fn, "unbroadcast")
    rng = np.random.default_rng(35)
    eq = EQ["unbroadcast"]

    def case(grad_shape, shape):
        def run(fn):
            grad = rng.standard_normal(grad_shape)
            want = reverse.unbroadcast(grad, shape)
            extra = len(grad_shape) - len(shape)
            lead = grad.sum(axis=tuple(range(extra))) if extra else grad
            mistakes = {
                f"sum the copies, do not average them: every copy of an entry added to the "
                f"output, eq. {eq}": want * (np.prod(shape) / grad.size) if shape else
                grad.mean(),
            }
            if lead.shape != tuple(shape):
                mistakes[f"summing the added leading axes is not enough: also sum (with "
                          f"keepdims=True) the axes where `shape` has size 1, eq. {eq}"] = lead
            got = as_array("", "the result", fn(grad.copy(), tuple(shape)))
            if got.shape == lead.shape and lead.shape != tuple(shape):
                raise CheckFailed(list(mistakes)[-1])
            if got.shape != tuple(shape):
                raise CheckFailed(f"for grad of shape {grad_shape} and shape {shape} the "
                                  f"result has shape {got.shape}; it must have `shape`.")
            expect(got, want, f"unbroadcast to {shape}", mistakes)
        return run

    run_checks("unbroadcast", "3.5", fn,
               [case((4, 3), (3,)), case((4, 3), (4, 3)), case((5, 4, 3), (4, 1)),
                case((2, 3), (1, 3)), case((3, 4), ())])


# ------------------------------------------------------------------ 3.6 BP2
def check_bp2(fn: Any = None) -> None:
    """Exercise 3.6: ``bp2(delta_next, W_next, z)`` = (δ^{l+1} W^{l+1}) ⊙ σ'(z^l), rows = examples."""
    fn = learner_function(fn, "bp2")
    rng = np.random.default_rng(36)
    eq = EQ["bp2"]

    def sig(z):
        return 0.5 * (1 + np.tanh(0.5 * z))

    def case(n, n_l, n_next):
        def run(fn):
            delta = rng.standard_normal((n, n_next))
            W = rng.standard_normal((n_next, n_l))
            z = rng.standard_normal((n, n_l))
            s = sig(z)
            want = (delta @ W) * s * (1 - s)
            mistakes = {
                f"multiply by σ'(z) elementwise: δ^l = ((W^(l+1))ᵀ δ^(l+1)) ⊙ σ'(z^l), eq. "
                f"{eq}": delta @ W,
                "σ'(z) = σ(z)(1 - σ(z)): apply the formula to σ(z), not to z":
                    (delta @ W) * z * (1 - z),
                "use the derivative σ'(z) = σ(z)(1 - σ(z)), not σ(z) itself":
                    (delta @ W) * s,
            }
            if n_next == n_l:
                mistakes[f"with examples as rows, (W^(l+1))ᵀ δ becomes delta_next @ W_next "
                          f"(shape (N, n_l)), not delta_next @ W_next.T, eq. {eq}"] = \
                    (delta @ W.T) * s * (1 - s)
            got = as_array("", "δ^l", fn(delta.copy(), W.copy(), z.copy()))
            expect(got, want, f"δ^l for a batch of {n}", mistakes)
        return run

    def against_autograd_of_a_layer(fn):
        # C = sum(tanh(W2 σ(z))) for a batch: its δ at z must be BP2 of its δ at the next z.
        z = rng.standard_normal((3, 4))
        W2 = rng.standard_normal((2, 4))
        z_t = reverse.Tensor(z)
        z_next = z_t.sigmoid() @ reverse.Tensor(W2).T
        z_next.tanh().sum().backward()
        delta_next = 1 - np.tanh(z_next.data) ** 2
        expect(fn(delta_next, W2, z), z_t.grad, "δ^l against the tensor engine's gradient")

    run_checks("bp2", "3.6", fn,
               [case(5, 4, 4), case(3, 6, 2), case(1, 3, 5), against_autograd_of_a_layer])
