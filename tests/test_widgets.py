"""The optimizer explorer of chapter 02: live and static versions (dlkit.widgets)."""
from __future__ import annotations

import warnings

import ipywidgets as widgets
import numpy as np
import pytest
from ipywidgets.embed import embed_data, embed_snippet
from ipywidgets.widgets.widget_link import Link

from dlkit.data import SURFACES
from dlkit.numpy import optim
from dlkit.widgets import optimizer_explorer, optimizer_explorer_static
from dlkit.widgets.optimizer import (
    DEFAULT_RACE, OPTIMIZERS, _STARTS, _compute_races, compute_race, default_hypers,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png(image: widgets.Image) -> bytes:
    """The bytes an Image widget shows (ipywidgets stores them as a memoryview)."""
    return bytes(image.value)


def expected_path(surface: str, start, name: str, hyper: dict, num_steps: int):
    """The trajectory written out by hand with dlkit.numpy.optim, for comparison."""
    lr = hyper["lr"]
    if name in ("SGD", "momentum"):
        step_fn, kwargs = optim.sgd_step, {"lr": lr, "momentum": hyper["momentum"]}
    elif name == "Nesterov":
        step_fn, kwargs = optim.sgd_step, {"lr": lr, "momentum": hyper["momentum"],
                                           "nesterov": True}
    elif name == "AdaGrad":
        step_fn, kwargs = optim.adagrad_step, {"lr": lr, "eps": hyper["eps"]}
    elif name == "RMSProp":
        step_fn, kwargs = optim.rmsprop_step, {"lr": lr, "alpha": hyper["alpha"],
                                               "momentum": hyper["momentum"],
                                               "eps": hyper["eps"]}
    else:
        step_fn, kwargs = optim.adam_step, {"lr": lr, "eps": hyper["eps"],
                                            "betas": (hyper["beta1"], hyper["beta2"])}
    grad = SURFACES[surface]().grad
    return optim.optimize(grad, np.array(start), step_fn, num_steps=num_steps, **kwargs)


def check_race_matches_optimize(explorer) -> None:
    race = explorer.race
    assert race.paths, "the explorer shows no trajectory at all"
    for name, path in race.paths.items():
        want = expected_path(race.surface_name, race.start, name, race.hypers[name],
                             race.num_steps)
        np.testing.assert_array_equal(path, want,
                                      err_msg=f"{name} on {race.surface_name}")


@pytest.fixture
def live():
    return optimizer_explorer("Rosenbrock", num_steps=80)


# ------------------------------------------------------------------ live explorer
def test_live_explorer_builds_and_shows_the_default_race(live):
    assert isinstance(live, widgets.VBox)
    assert png(live.image).startswith(PNG_MAGIC)
    race = live.race
    assert race.surface_name == "Rosenbrock" and race.num_steps == 80
    assert race.start == SURFACES["Rosenbrock"]().start
    assert tuple(race.paths) == DEFAULT_RACE
    assert all(stop is None for stop in race.diverged.values())
    check_race_matches_optimize(live)
    lrs = [race.hypers[n]["lr"] for n in DEFAULT_RACE]
    assert live.figure.labels == [f"{n} {lr:.2g}" for n, lr in zip(DEFAULT_RACE, lrs)]


def test_live_learning_rate_and_momentum_sliders_redraw(live):
    c = live.controls
    c["edit"].value = "Adam"
    assert c["beta2"].layout.display is None and c["momentum"].layout.display == "none"
    before = png(live.image)
    c["lr"].value = 0.02
    assert png(live.image) != before
    assert live.race.hypers["Adam"]["lr"] == 0.02
    check_race_matches_optimize(live)

    c["eps"].value = 1e-3
    assert live.race.hypers["Adam"]["eps"] == 1e-3
    check_race_matches_optimize(live)

    c["edit"].value = "momentum"
    assert c["eps"].layout.display == "none"
    assert c["lr"].value == default_hypers("Rosenbrock")["momentum"]["lr"]
    before = png(live.image)
    c["momentum"].value = 0.5
    assert png(live.image) != before
    assert live.race.hypers["momentum"]["momentum"] == 0.5
    check_race_matches_optimize(live)


def test_tuning_an_optimizer_that_is_not_racing_adds_it(live):
    assert "AdaGrad" not in live.race.paths
    live.controls["edit"].value = "AdaGrad"
    live.controls["lr"].value = 0.3
    assert live.race_boxes["AdaGrad"].value and "AdaGrad" in live.race.paths
    check_race_matches_optimize(live)
    live.race_boxes["SGD"].value = False
    assert "SGD" not in live.race.paths


def test_live_surface_dropdown_and_start_sliders_redraw(live):
    c = live.controls
    before = png(live.image)
    c["surface"].value = "saddle"
    assert png(live.image) != before
    saddle = SURFACES["saddle"]()
    assert live.race.surface_name == "saddle" and live.race.start == saddle.start
    assert (c["x0"].min, c["x0"].max) == saddle.bounds[0]
    assert (c["y0"].min, c["y0"].max) == saddle.bounds[1]
    check_race_matches_optimize(live)

    before = png(live.image)
    c["x0"].value, c["y0"].value = 1.0, -0.5
    assert png(live.image) != before
    assert live.race.start == (1.0, -0.5)
    np.testing.assert_array_equal(live.race.paths["Adam"][0], [1.0, -0.5])
    check_race_matches_optimize(live)

    # Each surface keeps its own settings; "reset" restores the defaults.
    c["surface"].value = "Rosenbrock"
    assert live.race.start == SURFACES["Rosenbrock"]().start
    c["surface"].value = "saddle"
    assert live.race.start == (1.0, -0.5)
    c["reset"].click()
    assert live.race.start == saddle.start


def test_diverging_learning_rate_is_marked_without_errors_or_warnings(live):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        live.controls["edit"].value = "SGD"
        live.controls["lr"].value = 5.0
    race = live.race
    assert race.diverged["SGD"] is not None
    assert not np.isfinite(race.paths["SGD"][-1]).all()  # it really blew up
    assert "SGD 5 diverged" in live.figure.labels
    assert race.diverged["Adam"] is None
    assert png(live.image).startswith(PNG_MAGIC)


def test_default_settings_never_diverge_and_teach_the_lessons():
    for surface, starts in _STARTS.items():
        hypers = default_hypers(surface)
        for start in starts:
            race = compute_race(surface, start, hypers, num_steps=300)
            assert set(race.diverged.values()) == {None}, (surface, start)
    # Rosenbrock: plain GD crawls along the valley, momentum and Adam get much closer.
    hypers = default_hypers("Rosenbrock")
    race = compute_race("Rosenbrock", (-1.5, 2.5), hypers, num_steps=500)
    assert race.gaps["SGD"][-1] > 1.0
    assert race.gaps["momentum"][-1] < 0.1 and race.gaps["Adam"][-1] < 0.1
    # Saddle: GD lingers near the saddle point (gap 0.25), Adam has left it.
    race = compute_race("saddle", (-1.8, 0.01), default_hypers("saddle"), num_steps=60)
    assert abs(race.gaps["SGD"][60] - 0.25) < 0.05 and race.gaps["Adam"][60] < 0.05


@pytest.mark.parametrize("call, words", [
    (lambda: optimizer_explorer("Banana"),
     ["optimizer_explorer", "'Banana'", "'Rosenbrock'", "'Himmelblau'"]),
    (lambda: optimizer_explorer(num_steps=0), ["optimizer_explorer", "num_steps", "0"]),
    (lambda: optimizer_explorer(optimizers=("SGD", "Adamax")),
     ["optimizer_explorer", "'Adamax'", "'RMSProp'"]),
    (lambda: optimizer_explorer_static(surfaces=("saddle", "bowl")),
     ["optimizer_explorer_static", "'bowl'", "'ill-conditioned bowl'"]),
    (lambda: optimizer_explorer_static(lr_scales=(1.0, 0.0)),
     ["optimizer_explorer_static", "lr_scales", "0.0"]),
    (lambda: optimizer_explorer_static(num_steps=2.5),
     ["optimizer_explorer_static", "num_steps", "2.5"]),
    (lambda: compute_race("saddle", (0, 1), {"SGD": {"lr": 0.1, "beta1": 0.9}},
                          num_steps=5),
     ["compute_race", "'SGD'", "beta1", "momentum"]),
])
def test_bad_arguments_name_the_function_the_value_and_the_choices(call, words):
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


# ------------------------------------------------------------------ static explorer
@pytest.fixture(scope="module")
def static():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the "x 2" frames diverge, silently
        return optimizer_explorer_static()


def test_static_explorer_has_one_distinct_frame_per_setting(static):
    surfaces = list(SURFACES)
    assert len(static.frames) == 4 * 3 * 4 == 48
    pngs = [png(img) for img in static.frames.values()]
    assert all(p.startswith(PNG_MAGIC) for p in pngs)
    assert len(set(pngs)) == 48, "some frames are identical"
    assert static.payload_bytes == sum(map(len, pngs)) < 2_500_000
    # The nested stacks hold the frames in the order of the controls' options.
    outer = static.stacks
    assert len(outer.children) == len(static.controls["surface"].options) == 4
    for i, surface in enumerate(surfaces):
        middle = outer.children[i]
        assert len(middle.children) == len(static.controls["start"].options) == 3
        for j, inner in enumerate(middle.children):
            assert len(inner.children) == len(static.controls["lr_scale"].options) == 4
            for k, image in enumerate(inner.children):
                assert image is static.frames[surface, j, k]


def test_static_controls_are_jslinked_to_every_stack_of_their_level(static):
    links = static.links
    assert all(isinstance(link, Link) for link in links)
    targets: dict[str, list] = {}
    for link in links:
        (source, source_trait), (stack, stack_trait) = link.source, link.target
        assert (source_trait, stack_trait) == ("index", "selected_index")
        assert isinstance(stack, widgets.Stack)
        name = next(k for k, c in static.controls.items() if c is source)
        targets.setdefault(name, []).append(stack)
        assert stack.selected_index == source.index  # in sync from the start
    outer = static.stacks
    middles = list(outer.children)
    inners = [inner for middle in middles for inner in middle.children]
    assert targets["surface"] == [outer]
    assert targets["start"] == middles
    assert targets["lr_scale"] == inners
    assert static.controls["lr_scale"].value == "× 1"


def test_static_explorer_state_is_embeddable(static):
    data = embed_data(views=[static])
    state = data["manager_state"]["state"]
    for link in static.links:
        assert state[link.model_id]["model_name"] == "LinkModel"
    image = static.frames["saddle", 2, 3]
    assert state[image.model_id]["buffers"], "the PNG bytes must travel with the state"
    assert data["view_specs"][0]["model_id"] == static.model_id
    html = embed_snippet(views=[static])
    assert static.model_id in html and len(html) < 4_000_000


def test_static_frames_match_the_batched_and_single_races():
    surface, start = "saddle", _STARTS["saddle"][1]
    hypers = {n: {**h, "lr": 2 * h["lr"]} for n, h in default_hypers("saddle").items()}
    batched = _compute_races("test", surface, _STARTS[surface], hypers, 120)[1]
    single = compute_race(surface, start, hypers, num_steps=120)
    for name in OPTIMIZERS:
        np.testing.assert_array_equal(batched.paths[name], single.paths[name])
        assert batched.diverged[name] == single.diverged[name]
