"""The network playground of chapter 01 (dlkit.widgets.playground): live and static."""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import pytest
from ipywidgets.embed import embed_data
from ipywidgets.widgets.widget_link import Link

from dlkit.numpy import layers, optim
from dlkit.widgets import playground, playground_static
from dlkit.widgets.playground import ARCHITECTURES, DATASETS, train_mlp

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cross_entropy(scores, y):
    logp = layers.log_softmax(scores)
    return -logp[np.arange(len(y)), y].mean()


def test_flat_adam_equals_one_adam_per_array_and_autodiff():
    """train_mlp steps Adam on one flat vector: the same as one step per array."""
    X, y = DATASETS["spiral"]()
    run = train_mlp(X, y, (5, 4), lr=0.02, steps=(0, 1, 2, 3), seed=3)
    params = layers.mlp_init([2, 5, 4, 3], rng=np.random.default_rng(3))
    states = [[None, None] for _ in params]
    for t in range(4):
        for (w, b), (w_run, b_run) in zip(params, run.params[t]):
            np.testing.assert_allclose(w_run, w, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(b_run, b, rtol=1e-12, atol=1e-15)
        scores, cache = layers.mlp_forward(X, params, activation="tanh")
        assert run.losses[t] == pytest.approx(cross_entropy(scores, y), rel=1e-12)
        p = np.exp(layers.log_softmax(scores))
        p[np.arange(len(y)), y] -= 1
        grads = layers.mlp_backward(p / len(y), cache)
        for l, ((w, b), (dw, db)) in enumerate(zip(params, grads)):
            w, states[l][0] = optim.adam_step(w, dw, states[l][0], lr=0.02)
            b, states[l][1] = optim.adam_step(b, db, states[l][1], lr=0.02)
            params[l] = (w, b)


def test_hidden_layers_solve_xor_and_none_cannot():
    X, y = DATASETS["XOR"]()
    linear = train_mlp(X, y, (), steps=(400,))
    mlp = train_mlp(X, y, (4,), steps=(400,))
    assert linear.accuracies[-1] < 0.7 and mlp.accuracies[-1] > 0.97
    assert mlp.losses[-1] < 0.1 < linear.losses[-1]


@pytest.fixture(scope="module")
def static():
    return playground_static(steps=(0, 30, 300))


def test_static_playground_has_one_distinct_frame_per_setting(static):
    n_data, n_arch = len(DATASETS), len(ARCHITECTURES)
    assert len(static.frames) == n_data * n_arch * 3
    pngs = [bytes(img.value) for img in static.frames.values()]
    assert all(p.startswith(PNG_MAGIC) for p in pngs)
    assert len(set(pngs)) == len(pngs), "some frames are identical"
    assert static.payload_bytes < 1_000_000
    stack = static.stack
    for i in range(n_data):
        for j in range(n_arch):
            for k in range(3):
                assert stack.children[i].children[j].children[k] is static.frames[i, j, k]


def test_static_controls_are_jslinked_to_every_stack_of_their_level(static):
    by_control: dict[str, list] = {}
    for link in static.links:
        assert isinstance(link, Link)
        (source, trait), (stack, stack_trait) = link.source, link.target
        assert (trait, stack_trait) == ("index", "selected_index")
        name = next(k for k, c in static.controls.items() if c is source)
        by_control.setdefault(name, []).append(stack)
        assert stack.selected_index == source.index
    outer = static.stack
    assert by_control["dataset"] == [outer]
    assert by_control["architecture"] == list(outer.children)
    assert by_control["step"] == [s for middle in outer.children for s in middle.children]
    state = embed_data(views=[static])["manager_state"]["state"]
    assert all(state[link.model_id]["model_name"] == "LinkModel" for link in static.links)


def test_live_playground_retrains_on_every_control():
    live = playground("XOR", "no hidden layer", num_steps=200)
    first = bytes(live.image.value)
    assert first.startswith(PNG_MAGIC) and live.run.accuracies[-1] < 0.7
    live.controls["architecture"].value = "1 layer × 4"
    assert live.run.accuracies[-1] > 0.97 and bytes(live.image.value) != first
    live.controls["activation"].value = "relu"
    assert live.run.activation == "relu"
    live.controls["num_steps"].value = 0
    assert live.run.steps == [0]


@pytest.mark.parametrize("call, words", [
    (lambda: playground("moons"), "unknown `dataset`='moons'; choose one of"),
    (lambda: playground(activation="softmax"), "unknown `activation`"),
    (lambda: playground(lr=0), "invalid `lr`"),
    (lambda: playground_static(datasets="XOR"), "`datasets` must be a non-empty list"),
    (lambda: playground_static(steps=5), "`steps` must list 1 to 12 step counts"),
])
def test_bad_arguments_are_explained(call, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()
