"""The checks of chapter 03: accept the reference, reject every known mistake, never crash."""
import numpy as np
import pytest

from dlkit.autodiff.reverse import Value
from dlkit.grading import autodiff as checks
from test_grading import BROKEN, BROKEN_IDS, define, verdict

NAMES = ["dual_mul", "tanh_jvp", "div_backward", "topo_sort", "unbroadcast", "bp2"]
CHECKS = {"dual_mul": checks.check_dual_mul_div, "tanh_jvp": checks.check_tanh_jvp,
          "div_backward": checks.check_div_backward, "topo_sort": checks.check_topo_sort,
          "unbroadcast": checks.check_unbroadcast, "bp2": checks.check_bp2}


# The reference answers, as a learner would write them (the solutions notebook of
# chapter 03 will hold the same code).
REFERENCE = """
def dual_mul(x, y):
    (a, da), (b, db) = x, y
    return a * b, da * b + a * db

def dual_div(x, y):
    (a, da), (b, db) = x, y
    return a / b, (da * b - a * db) / b**2

def tanh_jvp(x, dx):
    t = np.tanh(x)
    return t, (1 - t**2) * dx

def div_backward(a, b, dout):
    return dout / b, -dout * a / b**2

def topo_sort(root):
    order, visited = [], set()
    def visit(node):
        if node in visited:
            return
        visited.add(node)
        for child in node._prev:
            visit(child)
        order.append(node)
    visit(root)
    return order

def unbroadcast(grad, shape):
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)

def bp2(delta_next, W_next, z):
    s = 1 / (1 + np.exp(-z))
    return (delta_next @ W_next) * s * (1 - s)
"""


def reference_namespace():
    ns = {"np": np}
    exec(REFERENCE, ns)
    return ns


@pytest.fixture(scope="module")
def solution_ns():
    return reference_namespace()


def check_of(name, ns=None):
    """dual_mul's check also needs dual_div: pass the reference one."""
    if name == "dual_mul":
        div = (ns or reference_namespace())["dual_div"]
        return lambda fn: checks.check_dual_mul_div(fn, div)
    return CHECKS[name]


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_passes(capsys, solution_ns, name):
    line = verdict(capsys, check_of(name, solution_ns), solution_ns[name])
    assert line.startswith(f"✓ {name}: all ") and line.endswith(" checks passed")


WRONG = {
    "dual_mul": [
        ("def f(x, y): return x[0] * y[0], x[1] * y[1]", "not a'b'"),
        ("def f(x, y): return x[0] * y[0], x[1] * y[0]", "both terms"),
        ("def f(x, y): return x[0] * y[0] + x[1] * y[1], x[1] * y[0] + x[0] * y[1]",
         "ε² term vanishes"),
    ],
    "tanh_jvp": [
        ("def f(x, dx): return np.tanh(x), 1 - np.tanh(x) ** 2", "incoming tangent"),
        ("def f(x, dx): return np.tanh(x), (1 - x ** 2) * dx", "not 1 - x²"),
        ("def f(x, dx): return np.tanh(x), (1 - np.tanh(x)) * dx", "square is missing"),
        ("def f(x, dx): return np.tanh(x), np.cosh(x) ** 2 * dx", "reciprocal"),
        ("def f(x, dx): return np.tanh(x)", "return a pair"),
    ],
    "div_backward": [
        ("def f(a, b, dout): return 1 / b, -a / b**2", "upstream gradient"),
        ("def f(a, b, dout): return dout / b, dout * a / b**2", "minus sign"),
        ("def f(a, b, dout): return dout / b, -dout / b**2", "a in the numerator"),
        ("def f(a, b, dout): return dout * b, -dout * a / b**2", "not dout * b"),
        # right only where b < 0: caught because the cases draw b of both signs
        ("def f(a, b, dout): return dout / b, -dout * a / (b * np.abs(b))", "off by"),
    ],
    "topo_sort": [
        ("""def f(root):
                out = []
                def visit(n):
                    for c in n._prev: visit(c)
                    out.append(n)
                visit(root); return out""", "more than once"),
        ("""def f(root):
                out, seen = [], set()
                def visit(n):
                    if n in seen: return
                    seen.add(n); out.append(n)
                    for c in n._prev: visit(c)
                visit(root); return out""", "root comes first"),
        ("""def f(root):
                return [root] if not root._prev else list(root._prev) + [root]""",
         "are missing"),
        ("""def f(root):
                out, seen = [], set()
                def visit(n):
                    if n in seen: return
                    seen.add(n)
                    for c in n._prev:
                        if c._prev: visit(c)
                    out.append(n)
                visit(root); return out""", "are missing"),
    ],
    "unbroadcast": [
        ("""def f(grad, shape):
                extra = grad.ndim - len(shape)
                return grad.sum(axis=tuple(range(extra)))""", "keepdims=True"),
        ("""def f(grad, shape):
                extra = grad.ndim - len(shape)
                g = grad.mean(axis=tuple(range(extra)))
                axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
                return g.mean(axis=axes, keepdims=True).reshape(shape)""", "do not average"),
        ("def f(grad, shape): return grad.sum(axis=0)", "has shape"),
    ],
    "bp2": [
        ("def f(d, W, z): return d @ W", "multiply by σ'(z)"),
        ("def f(d, W, z): return (d @ W) * z * (1 - z)", "not to z"),
        ("def f(d, W, z): return (d @ W) / (1 + np.exp(-z))", "not σ(z) itself"),
        ("""def f(d, W, z):
                s = 1 / (1 + np.exp(-z)); return (d @ W.T) * s * (1 - s)""",
         "not delta_next @ W_next.T"),
    ],
}
WRONG_CASES = [(name, src, hint) for name, items in WRONG.items() for src, hint in items]


@pytest.mark.parametrize("name, source, hint", WRONG_CASES,
                         ids=[f"{n}-{h}" for n, _, h in WRONG_CASES])
def test_common_mistake_is_rejected_with_its_hint(capsys, name, source, hint):
    line = verdict(capsys, check_of(name), define(source))
    assert line.startswith(f"✗ {name}: ") and "checks failed" in line, line
    assert hint in line, line


@pytest.mark.parametrize("source, hint", [
    ("lambda x, y: (x[0] / y[0], (x[1] * y[0] - x[0] * y[1]) / y[0])", "divides by b²"),
    ("lambda x, y: (x[0] / y[0], (x[0] * y[1] - x[1] * y[0]) / y[0] ** 2)",
     "sign is reversed"),
    ("lambda x, y: (x[0] / y[0], (x[1] * y[0] + x[0] * y[1]) / y[0] ** 2)", "has a minus"),
    ("lambda x, y: (x[0] / y[0], x[1] / y[1])", "not the derivative of a quotient"),
])
def test_wrong_dual_div_is_rejected_with_its_hint(capsys, solution_ns, source, hint):
    wrong = eval(source, {"np": np})
    line = verdict(capsys, lambda fn: checks.check_dual_mul_div(fn, wrong),
                   solution_ns["dual_mul"])
    assert line.startswith("✗ dual_mul: ") and hint in line, line


def test_missing_dual_div_is_named(capsys, solution_ns):
    ns = {"check": checks.check_dual_mul_div, "dual_mul": solution_ns["dual_mul"]}
    exec("check()", ns)
    assert "no function named `dual_div`" in capsys.readouterr().out


def test_topo_sort_check_uses_real_graph_nodes(solution_ns):
    x = Value(2.0)
    root = (x * x + x).tanh()
    order = solution_ns["topo_sort"](root)
    assert order[0] is x and order[-1] is root and len(order) == 4


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", BROKEN, ids=BROKEN_IDS)
def test_broken_code_gets_a_verdict_not_a_crash(capsys, name, bad):
    line = verdict(capsys, check_of(name), bad)
    assert line.startswith(f"✗ {name}: "), line
