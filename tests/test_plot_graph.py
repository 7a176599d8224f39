"""plotting.plot_graph: the computational graphs of chapter 03."""
from collections import Counter

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path

from dlkit import plotting
from dlkit.autodiff.reverse import Tensor, Value, topological_order

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def neuron():
    x, w, b = Value(0.5), Value(-1.2), Value(0.3)
    f = (w * x + b).sigmoid()
    return f, {x: "x", w: "w", b: "b", f: "f"}


def used_twice():
    x = Value(0.7)
    y = x * x + x.tanh()
    return y, {x: "x", y: "y"}


def small_mlp():
    """A 2-2-1 network with a squared error: 30 nodes, constants included."""
    x1, x2, t = Value(0.5), Value(-1.0), Value(1.0)
    w = [[Value(0.3), Value(-0.5)], [Value(0.8), Value(0.1)]]
    h = [(wj[0] * x1 + wj[1] * x2 + 0.1).tanh() for wj in w]
    loss = (Value(0.7) * h[0] - Value(0.4) * h[1] - t) ** 2
    return loss, {x1: "x1", x2: "x2", t: "t", loss: "L"}


def nodes(ax):
    """(label, detail or None, box extents (x0, y0, x1, y1)) of every node drawn."""
    boxes = [p.get_bbox().extents for p in ax.patches if isinstance(p, FancyBboxPatch)]

    def box_of(text):
        x, y = text.get_position()
        inside = [b for b in boxes if b[0] < x < b[2] and b[1] < y < b[3]]
        assert len(inside) == 1, f"text {text.get_text()!r} is in {len(inside)} boxes"
        return tuple(inside[0])

    details = {box_of(t): t.get_text() for t in ax.texts
               if (t.get_gid() or "").endswith("-detail")}
    out = [(t.get_text(), details.get(box_of(t)), box_of(t)) for t in ax.texts
           if (t.get_gid() or "").endswith("-label")]
    assert len(out) == len(boxes), "one label per box"
    return out


def arrows(ax):
    return [p for p in ax.patches if isinstance(p, FancyArrowPatch)]


def points(arrow):
    """The points of an arrow in data coordinates, its head included."""
    path = arrow.get_path()
    if path.codes is None:
        return path.vertices
    return path.vertices[path.codes != Path.CLOSEPOLY]   # its vertex means nothing


def drawn_edges(ax, with_boxes=False):
    """(input, user) labels of every arrow, found from where it starts and ends."""
    drawn = nodes(ax)

    def at(x, y, side):
        # 0.03 inch: a head stops short of the box by its outline (line width).
        hits = [(label, b) for label, _, b in drawn
                if abs(b[side] - x) < 0.03 and b[1] < y < b[3]]
        assert len(hits) == 1, f"an arrow end at ({x:.3f}, {y:.3f}) touches {hits}"
        return hits[0] if with_boxes else hits[0][0]

    edges = []
    for arrow in arrows(ax):
        v = points(arrow)
        tip = v[np.argmax(v[:, 0])]
        edges.append((at(*v[0], side=2), at(*tip, side=0)))   # right side -> left side
    return edges


def test_every_node_has_one_label_with_its_name_or_op():
    f, names = neuron()
    ax = plotting.plot_graph(f, names=names)
    labels = [label for label, _, _ in nodes(ax)]
    assert len(labels) == len(topological_order(f))
    assert sorted(labels) == sorted(["w", "x", "b", "×", "+", "f = σ"])


def test_unnamed_constants_show_their_value():
    x = Value(2.0)
    y = (x - 2) * 3                               # (x + 2 * -1) * 3
    ax = plotting.plot_graph(y, names={x: "x"})
    labels = Counter(label for label, _, _ in nodes(ax))
    assert labels == Counter(["x", "2", "-1", "×", "+", "3", "×"])


@pytest.mark.parametrize("graph, expected", [
    (neuron, [("w", "×"), ("x", "×"), ("×", "+"), ("b", "+"), ("+", "f = σ")]),
    (used_twice, [("x", "×"), ("x", "×"), ("x", "tanh"), ("×", "y = +"),
                  ("tanh", "y = +")]),
])
def test_one_arrow_per_edge_from_the_input_to_its_user(graph, expected):
    root, names = graph()
    ax = plotting.plot_graph(root, names=names)
    assert len(arrows(ax)) == sum(len(n._prev) for n in topological_order(root))
    assert Counter(drawn_edges(ax)) == Counter(expected)


def test_a_node_used_twice_gets_two_visibly_different_arrows():
    y, names = used_twice()
    ax = plotting.plot_graph(y, names=names)
    twice = [points(a) for a, edge in zip(arrows(ax), drawn_edges(ax))
             if edge == ("x", "×")]
    assert len(twice) == 2
    (a, b) = twice
    tip = [v[np.argmax(v[:, 0])] for v in twice]
    # They leave x and reach the product at different points: two heads are seen.
    assert np.hypot(*(a[0] - b[0])) > 0.05
    assert np.hypot(*(tip[0] - tip[1])) > 0.05


def test_the_root_is_right_of_every_other_node_and_edges_go_right():
    loss, names = small_mlp()
    ax = plotting.plot_graph(loss, names=names, show="both")
    drawn = nodes(ax)
    assert len(drawn) == len(topological_order(loss)) == 30
    root_box = next(b for label, _, b in drawn if label.startswith("L = "))
    assert all(root_box[0] > b[2] for _, _, b in drawn if b != root_box)
    edges = drawn_edges(ax, with_boxes=True)      # from a right side to a left side
    assert len(edges) == sum(len(n._prev) for n in topological_order(loss))
    assert all(a_box[2] < b_box[0] for (_, a_box), (_, b_box) in edges)


@pytest.mark.parametrize("given_axes", [False, True])
def test_boxes_do_not_overlap_and_everything_fits(given_axes):
    loss, names = small_mlp()
    loss.backward()
    ax = plt.subplots(figsize=(6, 4))[1] if given_axes else None
    ax = plotting.plot_graph(loss, ax, names=names, show="both", title="loss")
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    ext = [p.get_bbox().extents for p in boxes]
    (x_lo, x_hi), (y_lo, y_hi) = ax.get_xlim(), ax.get_ylim()
    for i, (x0, y0, x1, y1) in enumerate(ext):
        assert x_lo < x0 and x1 < x_hi and y_lo < y0 and y1 < y_hi
        for u0, v0, u1, v1 in ext[i + 1:]:
            assert x1 <= u0 or u1 <= x0 or y1 <= v0 or v1 <= y0, "boxes overlap"
    for arrow in arrows(ax):
        v = points(arrow)
        assert v[:, 0].min() > x_lo and v[:, 0].max() < x_hi
        assert v[:, 1].min() > y_lo and v[:, 1].max() < y_hi
    # Every text inside its box: the fonts fit the boxes at any axes size.
    window = {id(p): p.get_window_extent(renderer) for p in boxes}
    for text in ax.texts:
        tb = text.get_window_extent(renderer)
        box = next(window[id(p)] for p in boxes
                   if p.get_bbox().contains(*text.get_position()))
        inside = box.x0 < tb.x0 and tb.x1 < box.x1 and box.y0 < tb.y0 and tb.y1 < box.y1
        assert inside, f"{text.get_text()!r} overflows its box"
    assert not ax.axison
    assert ax.get_aspect() == 1.0


def test_show_data_grad_both_none():
    f, names = neuron()
    w = next(node for node, name in names.items() if name == "w")
    f.backward()
    detail = {show: dict((label, d) for label, d, _ in
                         nodes(plotting.plot_graph(f, names=names, show=show)))
              for show in ("data", "grad", "both", "none")}
    assert detail["data"]["w"] == "data -1.2"
    assert detail["grad"]["w"] == f"grad {w.grad:.3g}" == "grad 0.122"
    assert detail["both"]["w"] == "data -1.2\ngrad 0.122"
    assert detail["both"]["f = σ"] == f"data {f.data:.3g}\ngrad 1"
    assert set(detail["none"].values()) == {None}


def test_show_grad_before_backward_and_unnamed_constants():
    x = Value(1.5)
    y = x * 3
    drawn = dict((label, d) for label, d, _ in
                 nodes(plotting.plot_graph(y, names={x: "x"}, show="both")))
    assert drawn == {"x": "data 1.5\ngrad 0", "3": "grad 0", "×": "data 4.5\ngrad 0"}


def test_tensor_graph_shows_shapes(rng):
    X, W = Tensor(rng.standard_normal((4, 3))), Tensor(rng.standard_normal((3, 2)))
    s = (X @ W).tanh().sum()
    names = {X: "X", W: "W"}
    before = dict((label, d) for label, d, _ in
                  nodes(plotting.plot_graph(s, names=names, show="both")))
    assert before == {"X": "data (4, 3)\nno grad", "W": "data (3, 2)\nno grad",
                      "@": "data (4, 2)\nno grad", "tanh": "data (4, 2)\nno grad",
                      "Σ": f"data {s.data:.3g}\nno grad"}
    s.backward()
    ax = plotting.plot_graph(s, names=names, show="grad")
    after = dict((label, d) for label, d, _ in nodes(ax))
    assert after["X"] == "grad (4, 3)" and after["Σ"] == "grad 1"
    assert len(arrows(ax)) == 4


def test_the_given_axes_is_drawn_on_and_returned():
    f, names = neuron()
    _, ax = plt.subplots()
    assert plotting.plot_graph(f, ax, names=names) is ax
    assert len(ax.figure.axes) == 1 and len(arrows(ax)) == 5


def test_a_single_leaf_is_a_graph_too():
    ax = plotting.plot_graph(Value(3.0), show="grad")
    assert [(label, d) for label, d, _ in nodes(ax)] == [("3", "grad 0")]
    assert arrows(ax) == []


def too_large():
    s = Value(0.0)
    for i in range(101):
        s = s + Value(float(i))                   # 203 nodes
    return s


@pytest.mark.parametrize("call, error, match", [
    (lambda: plotting.plot_graph(1.5), TypeError,
     r"plot_graph: `root` must be a Value or a Tensor .* got float"),
    (lambda: plotting.plot_graph(neuron()[0], show="value"), ValueError,
     r"plot_graph: `show` must be one of 'data', 'grad', 'both', 'none', got 'value'"),
    (lambda: plotting.plot_graph(neuron()[0], names={Value(1.0): 1}), TypeError,
     r"plot_graph: `names` must map nodes to str labels"),
    (lambda: plotting.plot_graph(too_large()), ValueError,
     r"plot_graph: the graph has 203 nodes, too large to draw .* smaller expression"),
])
def test_errors_name_the_function_and_the_fix(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_constants_sit_next_to_their_user_and_inputs_on_the_left():
    x, w = Value(0.5), Value(-1.2)
    f = ((w * x).exp() + 1.0).tanh()           # the constant 1 is used four ops in
    ax = plotting.plot_graph(f, names={x: "x", w: "w"})
    left = {label: box[0] for label, _, box in nodes(ax)}
    right = {label: box[2] for label, _, box in nodes(ax)}
    centre = {label: (left[label] + right[label]) / 2 for label in left}
    assert centre["x"] == pytest.approx(centre["w"])
    assert centre["x"] == min(centre.values())
    # the constant is in the column just before its user "+", the column of exp
    assert centre["1"] == pytest.approx(centre["exp"])
    assert right["1"] < left["+"]
