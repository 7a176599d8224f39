r"""Reverse-mode automatic differentiation with a tape (chapter 03).

Every operation records its inputs and a rule that maps the gradient of its output
(the *adjoint* :math:`\bar v = \partial f/\partial v`) to the gradients of its inputs.
``backward()`` seeds :math:`\bar f = 1` and runs the rules in reverse topological
order: one sweep gives the derivative of ``f`` with respect to every input.

Two engines share the idea: :class:`Value` for scalars (small enough to read on one
screen) and :class:`Tensor` for NumPy arrays, with broadcasting. Gradients follow
PyTorch's semantics: every backward sweep recomputes the intermediate gradients and
*accumulates* into the leaves, as ``loss.backward(retain_graph=True)`` does; use
:func:`zero_grad` between sweeps. Matches ``torch.autograd.grad``, ``torch.func.grad``
and ``torch.func.vjp``.
"""
from __future__ import annotations

import math
from numbers import Number
from typing import Any, Callable, Iterable, Sequence

import numpy as np

__all__ = ["Value", "Tensor", "topological_order", "zero_grad", "unbroadcast",
           "softmax_cross_entropy", "grad", "vjp", "jacobian"]


def topological_order(root: Any) -> list:
    """Every node that ``root`` depends on, each once, inputs before the nodes using them."""
    order, seen = [], set()
    stack = [(root, False)]
    while stack:                        # iterative depth-first search: no recursion limit
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in node._prev if id(child) not in seen)
    return order


def _backward(root: Any, seed: Any) -> None:
    """The reverse sweep shared by both engines."""
    order = topological_order(root)
    for node in order:
        if node._prev:                  # intermediate: recomputed from scratch each sweep
            node.grad = node._zero()
        elif node.grad is None:
            node.grad = node._zero()
    root.grad = seed if root._prev or root.grad is None else root.grad + seed
    for node in reversed(order):
        node._backward()


def zero_grad(root: Any) -> None:
    """Set the gradient of every node of ``root``'s graph to zero.

    A ``Value`` gets 0.0; a ``Tensor`` gets None, which the engine reads as zero (as
    torch's ``zero_grad()`` does), so that no array of zeros is allocated."""
    for node in topological_order(root):
        node.grad = node._zero()


# ====================================================================== scalars
class Value:
    r"""A scalar node of the tape. Chapter 03, §Reverse mode.

    ``Value(2.0) * Value(3.0)`` records a product; ``.backward()`` fills ``.grad`` of
    every node with :math:`\partial\,\mathrm{out}/\partial\,\mathrm{node}`.
    """

    __slots__ = ("data", "grad", "_prev", "_op", "_backward")

    def __init__(self, data: float, _prev: tuple = (), _op: str = "") -> None:
        if isinstance(data, Value):
            raise TypeError("Value: `data` is already a Value; use it directly.")
        if not isinstance(data, Number) or isinstance(data, bool):
            raise TypeError(f"Value: `data` must be a number, got {type(data).__name__}; "
                            f"for arrays use dlkit.autodiff.reverse.Tensor.")
        self.data = float(data)
        self.grad = 0.0
        self._prev = _prev
        self._op = _op
        self._backward = lambda: None

    def __repr__(self) -> str:
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    @staticmethod
    def _zero() -> float:
        return 0.0

    @staticmethod
    def _lift(other: Any) -> Value:
        return other if isinstance(other, Value) else Value(other)

    # Each op: the value, and the local rule  input.grad += out.grad * d out / d input.
    # "+=" and not "=": a node used twice receives both contributions.
    def __add__(self, other: Any) -> Value:
        other = self._lift(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other: Any) -> Value:
        other = self._lift(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += out.grad * other.data
            other.grad += out.grad * self.data
        out._backward = _backward
        return out

    def __truediv__(self, other: Any) -> Value:
        other = self._lift(other)
        out = Value(self.data / other.data, (self, other), "/")

        def _backward():                # c = a / b:  ā += c̄ / b,  b̄ += -c̄ a / b²
            self.grad += out.grad / other.data
            other.grad += -out.grad * self.data / other.data**2
        out._backward = _backward
        return out

    def __pow__(self, exponent: float) -> Value:
        if not isinstance(exponent, Number) or isinstance(exponent, bool):
            raise TypeError("Value ** n: the exponent must be a number; for x ** y with "
                            "a Value y, write (y * x.log()).exp().")
        out = Value(self.data**exponent, (self,), f"**{exponent:g}")

        def _backward():
            self.grad += out.grad * exponent * self.data ** (exponent - 1)
        out._backward = _backward
        return out

    def _unary(self, value: float, local: float, op: str) -> Value:
        out = Value(value, (self,), op)

        def _backward():
            self.grad += out.grad * local
        out._backward = _backward
        return out

    def exp(self) -> Value:
        e = math.exp(self.data)
        return self._unary(e, e, "exp")

    def log(self) -> Value:
        return self._unary(math.log(self.data), 1.0 / self.data, "log")

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return self._unary(t, 1.0 - t * t, "tanh")

    def sigmoid(self) -> Value:
        s = 0.5 * (1.0 + math.tanh(0.5 * self.data))       # = 1/(1+e^-x), no overflow
        return self._unary(s, s * (1.0 - s), "sigmoid")

    def relu(self) -> Value:
        return self._unary(max(self.data, 0.0), float(self.data > 0), "relu")

    def sin(self) -> Value:
        return self._unary(math.sin(self.data), math.cos(self.data), "sin")

    def cos(self) -> Value:
        return self._unary(math.cos(self.data), -math.sin(self.data), "cos")

    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other: Any) -> Value:
        return self + (-self._lift(other))

    def __radd__(self, other: Any) -> Value:
        return self + other

    def __rsub__(self, other: Any) -> Value:
        return self._lift(other) - self

    def __rmul__(self, other: Any) -> Value:
        return self * other

    def __rtruediv__(self, other: Any) -> Value:
        return self._lift(other) / self

    def backward(self) -> None:
        """One reverse sweep from this node: seed 1, apply the rules in reverse order."""
        _backward(self, 1.0)


# ====================================================================== arrays
def unbroadcast(grad: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    r"""Sum ``grad`` over the axes that broadcasting added or stretched, back to ``shape``.

    If ``x`` of shape ``shape`` was broadcast to ``grad.shape``, every copy of an entry
    contributed to the output, so its gradient is the sum over the copies (eq. 3.15).
    """
    shape = tuple(shape)
    grad = np.asarray(grad)
    extra = grad.ndim - len(shape)
    if extra < 0 or any(s not in (1, g) for s, g in zip(shape, grad.shape[extra:])):
        raise ValueError(f"unbroadcast: an array of shape {shape} cannot have been "
                         f"broadcast to {grad.shape}.")
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))           # added leading axes
    stretched = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)      # size-1 axes that were copied
    return grad.reshape(shape)


class Tensor:
    r"""An array node of the tape (float64 NumPy arrays). Chapter 03, §A tensor engine.

    Shapes follow NumPy's broadcasting; every backward rule un-broadcasts its result
    to the shape of its input. It is fast enough to train with: an operation's result
    is wrapped without a copy, the rules are stored on the node (no reference cycle,
    so a step's graph is freed as soon as it is dropped), and a gradient that is still
    zero is None rather than an array of zeros.
    """

    __array_priority__ = 1000  # NumPy defers to Tensor in mixed expressions

    def __init__(self, data: Any, requires_grad: bool = False, _prev: tuple = (),
                 _op: str = "") -> None:
        if isinstance(data, Tensor):
            raise TypeError("Tensor: `data` is already a Tensor; use it directly.")
        if type(data).__module__.startswith("torch"):
            raise TypeError("Tensor: `data` is a torch.Tensor; pass dlkit.to_numpy(data).")
        arr = np.asarray(data)
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"Tensor: `data` must hold numbers, got dtype {arr.dtype}.")
        self.data = arr.astype(np.float64)     # a copy: the caller's array stays theirs
        self.requires_grad = requires_grad
        self.grad: np.ndarray | None = None
        self._prev = _prev
        self._op = _op
        self._rules: tuple[Callable[[np.ndarray], np.ndarray], ...] = ()

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)

    def __repr__(self) -> str:
        return f"Tensor({self.data!r}" + (f", op={self._op!r})" if self._op else ")")

    def _zero(self) -> None:
        # None stands for an all-zero gradient that is not stored (torch's zero_grad
        # sets .grad to None too): no array of zeros to allocate, fill and add to.
        return None

    @staticmethod
    def _lift(other: Any) -> Tensor:
        return other if isinstance(other, Tensor) else Tensor(other)

    def _make(self, data: np.ndarray, prev: tuple, op: str,
              rules: Iterable[Callable[[np.ndarray], np.ndarray]]) -> Tensor:
        """A new node; ``rules[i]`` maps the output gradient to input i's gradient."""
        # The result of an operation is a fresh array: wrap it, do not copy it again.
        out = Tensor.__new__(Tensor)
        out.data = np.asarray(data, dtype=np.float64)
        out.requires_grad, out.grad = False, None
        out._prev, out._op, out._rules = prev, op, tuple(rules)
        return out

    def _backward(self) -> None:
        """Pass this node's gradient on: ``input.grad += rule(self.grad)`` per input."""
        # The rules live on the node, not in a closure over it: a closure that refers
        # to its own node is a reference cycle, which only the garbage collector can
        # free, so the arrays of every graph would outlive their training step.
        for node, rule in zip(self._prev, self._rules):
            g = unbroadcast(rule(self.grad), node.shape)
            if node.grad is not None:
                node.grad = node.grad + g
            elif node._prev:             # an intermediate's first contribution: as is
                node.grad = g            # (rules may return views; nothing edits them)
            else:                        # a leaf's gradient is the caller's to change
                node.grad = np.array(g)  # in place: give it an array of its own

    # ---------------------------------------------------------------- arithmetic
    def __add__(self, other: Any) -> Tensor:
        other = self._lift(other)
        return self._make(self.data + other.data, (self, other), "+",
                          (lambda g: g, lambda g: g))

    def __mul__(self, other: Any) -> Tensor:
        other = self._lift(other)
        return self._make(self.data * other.data, (self, other), "*",
                          (lambda g: g * other.data, lambda g: g * self.data))

    def __truediv__(self, other: Any) -> Tensor:
        other = self._lift(other)
        return self._make(self.data / other.data, (self, other), "/",
                          (lambda g: g / other.data,
                           lambda g: -g * self.data / other.data**2))

    def __pow__(self, exponent: float) -> Tensor:
        if not isinstance(exponent, Number) or isinstance(exponent, bool):
            raise TypeError("Tensor ** n: the exponent must be a number.")
        return self._make(self.data**exponent, (self,), f"**{exponent:g}",
                          (lambda g: g * exponent * self.data ** (exponent - 1),))

    def __matmul__(self, other: Any) -> Tensor:
        other = self._lift(other)
        if self.ndim != 2 or other.ndim != 2 or self.shape[1] != other.shape[0]:
            raise ValueError(f"Tensor @: expected matrices (n, k) @ (k, m), got "
                             f"{self.shape} @ {other.shape}.")
        return self._make(self.data @ other.data, (self, other), "@",
                          (lambda g: g @ other.data.T,       # (n, m) @ (m, k)
                           lambda g: self.data.T @ g))       # (k, n) @ (n, m)

    def __neg__(self) -> Tensor:
        return self * -1.0

    def __sub__(self, other: Any) -> Tensor:
        return self + (-self._lift(other))

    def __radd__(self, other: Any) -> Tensor:
        return self + other

    def __rsub__(self, other: Any) -> Tensor:
        return self._lift(other) - self

    def __rmul__(self, other: Any) -> Tensor:
        return self * other

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._lift(other) / self

    def __rmatmul__(self, other: Any) -> Tensor:
        return self._lift(other) @ self

    # ---------------------------------------------------------------- reductions
    def sum(self, axis: int | tuple | None = None, keepdims: bool = False) -> Tensor:
        def rule(g):                     # every summed entry gets the output's gradient
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            return np.broadcast_to(g, self.shape)
        return self._make(self.data.sum(axis=axis, keepdims=keepdims), (self,), "sum",
                          (rule,))

    def mean(self, axis: int | tuple | None = None, keepdims: bool = False) -> Tensor:
        count = self.data.size / np.asarray(self.data.sum(axis=axis, keepdims=True)).size
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / count)

    # ---------------------------------------------------------------- elementwise
    def exp(self) -> Tensor:
        e = np.exp(self.data)
        return self._make(e, (self,), "exp", (lambda g: g * e,))

    def log(self) -> Tensor:
        return self._make(np.log(self.data), (self,), "log", (lambda g: g / self.data,))

    def tanh(self) -> Tensor:
        t = np.tanh(self.data)
        return self._make(t, (self,), "tanh", (lambda g: g * (1.0 - t * t),))

    def sigmoid(self) -> Tensor:
        s = 0.5 * (1.0 + np.tanh(0.5 * self.data))          # no overflow
        return self._make(s, (self,), "sigmoid", (lambda g: g * s * (1.0 - s),))

    def relu(self) -> Tensor:
        return self._make(np.maximum(self.data, 0.0), (self,), "relu",
                          (lambda g: g * (self.data > 0),))

    # ---------------------------------------------------------------- shapes
    def reshape(self, *shape: int) -> Tensor:
        return self._make(self.data.reshape(*shape), (self,), "reshape",
                          (lambda g: g.reshape(self.shape),))

    @property
    def T(self) -> Tensor:
        return self._make(self.data.T, (self,), "T", (lambda g: g.T,))

    def backward(self, grad: Any = None) -> None:
        """One reverse sweep; ``grad`` (default 1 for a scalar) seeds this node."""
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"backward: the output has shape {self.shape}; pass "
                                 f"`grad` of that shape (a vector for a vector-Jacobian "
                                 f"product), or reduce it to a scalar first (.sum()).")
            grad = np.ones_like(self.data)
        grad = np.asarray(grad, dtype=np.float64)
        if grad.shape != self.shape:
            raise ValueError(f"backward: `grad` has shape {grad.shape}, expected the "
                             f"output's shape {self.shape}.")
        _backward(self, grad)


def softmax_cross_entropy(logits: Tensor, targets: Any) -> Tensor:
    r"""Mean cross-entropy of ``softmax(logits)`` against integer ``targets``; = ``F.cross_entropy``.

    One node with the fused gradient :math:`(\mathrm{softmax}(z) - \mathrm{onehot}(y))/N`.
    Shapes: logits (N, K), targets (N,) integers in 0..K-1 -> scalar.
    """
    fn = "softmax_cross_entropy"
    if not isinstance(logits, Tensor) or logits.ndim != 2:
        raise TypeError(f"{fn}: `logits` must be a Tensor of shape (N, K).")
    targets = np.asarray(targets)
    n, k = logits.shape
    if targets.shape != (n,) or not np.issubdtype(targets.dtype, np.integer) \
            or targets.min(initial=0) < 0 or targets.max(initial=0) >= k:
        raise ValueError(f"{fn}: `targets` must be {n} integer classes in 0..{k - 1}, got "
                         f"shape {targets.shape} and dtype {targets.dtype}.")
    shifted = logits.data - logits.data.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(n)

    def rule(g):
        dz = np.exp(logp)
        dz[rows, targets] -= 1.0
        return g * dz / n
    return logits._make(np.array(-logp[rows, targets].mean()), (logits,), "cross_entropy",
                        (rule,))


# ====================================================================== functional
def _input(fn: str, x: Any) -> np.ndarray:
    if type(x).__module__.startswith("torch"):
        raise TypeError(f"{fn}: `x` is a torch.Tensor; pass a NumPy array "
                        f"(dlkit.to_numpy(x)), or use torch.func.")
    return np.asarray(x, dtype=np.float64)


def grad(f: Callable[[Tensor], Tensor]) -> Callable[[Any], np.ndarray]:
    r"""Return ``x -> ∇f(x)`` for a scalar ``f`` written with Tensor ops; = ``torch.func.grad``."""
    def gradient(x: Any) -> np.ndarray:
        leaf = Tensor(_input("grad", x), requires_grad=True)
        out = f(leaf)
        if not isinstance(out, Tensor) or out.data.size != 1:
            raise ValueError("grad: `f` must return a scalar Tensor, got "
                             f"{type(out).__name__} of shape {np.shape(getattr(out, 'data', out))}.")
        out.backward()
        # f may ignore x: then the sweep never reaches the leaf and its gradient is 0.
        return leaf.grad if leaf.grad is not None else np.zeros_like(leaf.data)
    return gradient


def vjp(f: Callable[[Tensor], Tensor], x: Any) -> tuple[np.ndarray, Callable]:
    r"""Return ``(f(x), v -> (vᵀ J_f(x),))``, like ``torch.func.vjp``; each call is one sweep."""
    leaf = Tensor(_input("vjp", x), requires_grad=True)
    out = f(leaf)
    if not isinstance(out, Tensor):
        raise TypeError(f"vjp: `f` must return a Tensor, got {type(out).__name__}.")

    def vjp_fn(v: Any) -> tuple[np.ndarray]:
        leaf.grad = None                  # a fresh product, not an accumulation
        out.backward(v)
        return (leaf.grad,)
    return out.data, vjp_fn


def jacobian(f: Callable[[Tensor], Tensor], x: Any) -> np.ndarray:
    r"""The Jacobian of ``f: R^n -> R^m`` at ``x``, by m reverse sweeps (one per output row)."""
    out, vjp_fn = vjp(f, x)
    m = out.size
    rows = []
    for i in range(m):
        e_i = np.zeros(m)
        e_i[i] = 1.0
        rows.append(vjp_fn(e_i.reshape(out.shape))[0].ravel())
    return np.stack(rows).reshape(out.shape + np.shape(x))
