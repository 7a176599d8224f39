"""The convolution explorer of chapter 05 (dlkit.widgets.conv): live and static."""
from __future__ import annotations

import contextlib
import io
import re
import time
from itertools import product

import ipywidgets as widgets
import numpy as np
import pytest
from ipywidgets.embed import dependency_state, embed_data, embed_snippet
from ipywidgets.widgets.widget import _instances
from ipywidgets.widgets.widget_link import Link
from PIL import Image
from scipy.signal import correlate2d

from dlkit.numpy.conv import conv_output_size
from dlkit.widgets import conv_explorer, conv_explorer_static
from dlkit.widgets.conv import (
    IMAGES, KERNELS, POSITIONS, ConvFigure, compute_conv, conv_html, load_image,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png(image: widgets.Image) -> bytes:
    """The bytes an Image widget shows (ipywidgets stores them as a memoryview)."""
    return bytes(image.value)


def expected_output(image, kernels, stride: int, padding: int) -> np.ndarray:
    """The explorer's output, independently: scipy's cross-correlation, subsampled."""
    padded = np.pad(np.asarray(image, dtype=float), padding)
    maps = [correlate2d(padded, np.asarray(k, dtype=float), mode="valid")
            [::stride, ::stride] for k in kernels]
    return maps[0] if len(maps) == 1 else np.sqrt(maps[0] ** 2 + maps[1] ** 2)


def shown_matrices(html: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every number matrix of the table (window, kernel, products, ...): the values
    and the rounding error each may have (half a unit of its last decimal)."""
    matrices = []
    for columns, body in re.findall(
            r"<div class='m' style='grid-template-columns:repeat\((\d), auto\)'>"
            r"((?:<div[^>]*>[^<]*</div>)+)</div>", html):
        cells = re.findall(r">([^<]*)</div>", body)
        values = [float(c.replace("−", "-")) for c in cells]
        # "0" stands for any value that rounds to 0 at the table's decimals.
        decimals = max(len(c.partition(".")[2]) for c in cells)
        shape = (-1, int(columns))
        matrices.append((np.array(values).reshape(shape),
                         np.full(len(cells), 0.5 * 10.0 ** -decimals).reshape(shape)))
    return matrices


def shown_sums(html: str) -> list[float]:
    return [float(s.replace("−", "-"))
            for s in re.findall(r"sum = <b>(?:g[xy] = )?([^<]+)</b>", html)]


@contextlib.contextmanager
def closing_new_widgets():
    """Close the widgets made inside. ipywidgets keeps every widget in a registry,
    and embed_data() saves all of them: leftovers would bloat other tests' pages."""
    before = set(_instances)
    try:
        yield
    finally:
        for model_id in set(_instances) - before:
            widget = _instances.get(model_id)
            if widget is not None:
                widget.close()


@pytest.fixture(autouse=True)
def _no_leftover_widgets():
    with closing_new_widgets():
        yield


@pytest.fixture
def live():
    return conv_explorer("shapes", "Sobel x", stride=1, padding=1)


# ------------------------------------------------------------------ the computation
SETTINGS = [
    ("shapes", "Sobel x", 1, 1, "strongest response"),
    ("shapes", "Laplacian", 2, 0, "top-left corner"),
    ("digit", "Gaussian 5x5", 3, 0, "centre"),
    ("digit", "box blur 3x3", 2, "same", "top-left corner"),
    ("china", "edge magnitude", 1, "same", "strongest response"),
    ("flower", "sharpen", 3, 2, (5, 7)),
    ("china", "Sobel y", 2, 1, (0, 31)),
    ("digit", "identity", 1, 2, (9, 0)),
]


@pytest.mark.parametrize("image, kernel, stride, padding, position", SETTINGS)
def test_products_sum_to_the_output_pixel(image, kernel, stride, padding, position):
    result = compute_conv(image, kernel, stride=stride, padding=padding,
                          position=position)
    K = KERNELS[kernel][0].shape[0]
    P = (K - 1) // 2 if padding == "same" else padding
    x = load_image(image)
    want = expected_output(x, KERNELS[kernel], stride, P)
    np.testing.assert_allclose(result.out, want, rtol=1e-12, atol=1e-12)
    i, j = result.position
    # The window, read off the zero-padded input by hand.
    window = np.zeros((K, K))
    for u, v in product(range(K), range(K)):
        r, c = i * stride - P + u, j * stride - P + v
        if 0 <= r < x.shape[0] and 0 <= c < x.shape[1]:
            window[u, v] = x[r, c]
    np.testing.assert_array_equal(result.window, window)
    for kern, products, total, out in zip(KERNELS[kernel], result.products,
                                          result.sums, result.maps):
        np.testing.assert_allclose(products, window * kern, rtol=1e-15)
        assert total == pytest.approx(out[i, j], abs=1e-12)
    assert result.value == pytest.approx(want[i, j], abs=1e-12)

    # What the table shows: window ⊙ kernel = products, whose sum is the pixel.
    html = conv_html(result)
    matrices, sums = shown_matrices(html), shown_sums(html)
    assert len(matrices) == 3 * len(KERNELS[kernel]) and len(sums) == len(matrices) // 3
    for k, kern in enumerate(KERNELS[kernel]):
        for (shown, error), exact in zip(matrices[3 * k:3 * k + 3],
                                         (window, kern, window * kern)):
            assert (np.abs(shown - exact) <= error + 1e-12).all(), (shown, exact)
        # The shown products add up to the shown sum, up to their rounding.
        products, error = matrices[3 * k + 2]
        assert abs(products.sum() - sums[k]) <= error.sum() + 5e-4
        assert sums[k] == pytest.approx(result.sums[k], rel=5e-4, abs=5e-5)
    if len(KERNELS[kernel]) == 1:
        assert f"= output[{i}, {j}]" in html
        assert sums[0] == pytest.approx(want[i, j], rel=5e-4, abs=5e-5)
    else:
        assert "√(gx² + gy²)" in html
        shown = float(re.search(r"= <b>([^<]+)</b></p>", html).group(1))
        assert shown == pytest.approx(want[i, j], rel=5e-4)


@pytest.mark.parametrize("image, kernel, stride, padding", [
    ("shapes", "Sobel x", 1, 0), ("shapes", "Gaussian 5x5", 2, "same"),
    ("digit", "Gaussian 5x5", 3, 0), ("digit", "sharpen", 3, 2),
    ("china", "Laplacian", 2, 1), ("flower", "Gaussian 5x5", 3, 1),
])
def test_output_size_text_is_right(image, kernel, stride, padding):
    result = compute_conv(image, kernel, stride=stride, padding=padding)
    H = load_image(image).shape[0]
    K = KERNELS[kernel][0].shape[0]
    P = (K - 1) // 2 if padding == "same" else padding
    size = conv_output_size(H, K, stride=stride, padding=P)
    assert size == (H + 2 * P - K) // stride + 1
    assert result.out.shape == (size, size)
    html = conv_html(result)
    assert (f"⌊({H} + 2·{P} − {K}) / {stride}⌋ + 1 = "
            f"⌊{H + 2 * P - K} / {stride}⌋ + 1 = <b>{size}</b>") in html
    assert f"the output is {size} × {size}" in html
    assert ("“same”" in html) == (padding == "same")


def test_strongest_response_lies_inside_the_image_and_is_the_largest():
    # Zero padding makes a strong edge at china's bright border; the "strongest
    # response" looks at the windows that do not overlap the padding.
    result = compute_conv("china", "Sobel x", padding=1)
    i, j = result.position
    r0, c0 = result.window_origin
    assert r0 >= 0 and c0 >= 0 and r0 + 3 <= 64 and c0 + 3 <= 64
    inside = np.abs(result.out[1:-1, 1:-1])
    assert abs(result.value) == pytest.approx(inside.max())
    corner = compute_conv("china", "Sobel x", padding=1, position="top-left corner")
    assert corner.position == (0, 0) and corner.window_origin == (-1, -1)
    assert (corner.window[0] == 0).all() and (corner.window[:, 0] == 0).all()


def test_images_ship_offline_and_match_scikit_learn():
    from sklearn.datasets import load_digits, load_sample_image

    for name in IMAGES:
        x = load_image(name)
        assert x.dtype == np.float64 and 0 <= x.min() and x.max() <= 1
        assert not x.flags.writeable
    assert load_image("shapes").shape == (40, 40)
    np.testing.assert_array_equal(load_image("digit"), load_digits().images[4] / 16)
    photo = Image.fromarray(load_sample_image("china.jpg")).convert("L")
    assert load_image("china").shape == (64, 64)
    # The 64 x 64 photo is the mean of its 427-pixel-square crop (LANCZOS ~ area).
    assert abs(load_image("china").mean() - np.asarray(photo)[:, :427].mean() / 255
               ) < 0.1


# ---------------------------------------------------------------- the live explorer
def test_live_explorer_builds_fast_and_shows_the_default(live):
    assert isinstance(live, widgets.VBox)
    assert png(live.image).startswith(PNG_MAGIC)
    r = live.result
    assert (r.image_name, r.kernel_name) == ("shapes", "Sobel x")
    assert (r.stride, r.padding) == (1, 1)
    assert r.out.shape == (40, 40) and abs(r.value) == 4  # on the edge of a shape
    assert live.last_update_seconds < 1.0
    tic = time.perf_counter()
    conv_explorer("china", "edge magnitude")
    assert time.perf_counter() - tic < 1.0
    c = live.controls
    assert (c["row"].value, c["col"].value) == r.position
    assert (c["row"].max, c["col"].max) == (39, 39)
    # The grid holds the kernel.
    grid = [[live.cells[u][v].value for v in range(3)] for u in range(3)]
    np.testing.assert_array_equal(grid, KERNELS["Sobel x"][0])
    assert len(live.grid.children) == 9


def test_live_controls_redraw(live):
    c = live.controls
    before_png, before_html = png(live.image), live.table.value
    c["kernel"].value = "Gaussian 5x5"
    assert png(live.image) != before_png and live.table.value != before_html
    assert live.result.kernel_name == "Gaussian 5x5" and live.result.kernel_size == 5
    assert c["size"].value == "5x5" and len(live.grid.children) == 25
    # The grid shows 4 decimals (1/256 as 0.0039); the weights stay exact.
    gaussian = KERNELS["Gaussian 5x5"][0]
    np.testing.assert_array_equal(live.weights, gaussian)
    np.testing.assert_array_equal(
        [[live.cells[u][v].value for v in range(5)] for u in range(5)],
        np.round(gaussian, 4))

    before_png, before_html = png(live.image), live.table.value
    c["stride"].value = 3
    assert png(live.image) != before_png and live.table.value != before_html
    size = conv_output_size(40, 5, stride=3, padding=1)
    assert live.result.out.shape == (size, size) == (13, 13)
    assert c["row"].max == c["col"].max == 12
    formula = "⌊(40 + 2·1 − 5) / 3⌋ + 1 = ⌊37 / 3⌋ + 1 = <b>13</b>"
    assert formula in live.table.value

    before_png = png(live.image)
    c["padding"].value = "same"
    assert png(live.image) != before_png and live.result.padding == 2
    assert "“same”" in live.table.value

    before_png, before_html = png(live.image), live.table.value
    c["row"].value, c["col"].value = 0, 0
    assert live.result.position == (0, 0) and live.result.window_origin == (-2, -2)
    assert png(live.image) != before_png and live.table.value != before_html
    assert "Output pixel (0, 0)" in live.table.value

    c["strongest"].click()
    assert live.result.position != (0, 0)
    assert (c["row"].value, c["col"].value) == live.result.position

    # A new image keeps the window at the same place, relative to the output.
    c["image"].value = "digit"
    assert live.result.out.shape == (3, 3)   # (8 + 4 - 5) // 3 + 1
    assert 0 <= c["row"].value <= 2 and c["row"].max == 2


def test_editing_a_grid_cell_changes_the_output(live):
    c = live.controls
    before_png, before_out = png(live.image), live.result.out.copy()
    live.cells[1][1].value = 3.0           # Sobel x with a 3 in the centre
    assert c["kernel"].value == "custom" and live.result.kernel_name == "custom"
    kernel = KERNELS["Sobel x"][0].copy()
    kernel[1, 1] = 3.0
    np.testing.assert_array_equal(live.result.kernels[0], kernel)
    assert png(live.image) != before_png
    want = expected_output(load_image("shapes"), [kernel], 1, 1)
    np.testing.assert_allclose(live.result.out, want, atol=1e-12)
    assert not np.allclose(live.result.out, before_out)

    # Editing a rounded kernel changes only the edited weight.
    c["kernel"].value = "Gaussian 5x5"
    live.cells[0][0].value = 0.5
    want = KERNELS["Gaussian 5x5"][0].copy()
    want[0, 0] = 0.5
    np.testing.assert_array_equal(live.result.kernels[0], want)
    c["kernel"].value = "Sobel x"
    live.cells[1][1].value = 3.0

    # 5x5 embeds the kernel in zeros; back to 3x3 keeps its centre.
    c["size"].value = "5x5"
    np.testing.assert_array_equal(live.result.kernels[0], np.pad(kernel, 1))
    assert live.result.padding == 1 and live.result.out.shape == (38, 38)
    c["size"].value = "3x3"
    np.testing.assert_array_equal(live.result.kernels[0], kernel)

    # A preset fills the grid again; the edge magnitude hides it (two kernels).
    c["kernel"].value = "Laplacian"
    assert live.cells[1][1].value == -4.0 and live.grid.layout.display is None
    c["kernel"].value = "edge magnitude"
    assert live.grid.layout.display == "none" and len(live.result.kernels) == 2


def test_explorer_accepts_a_kernel_array():
    emboss = np.array([[-2.0, -1, 0], [-1, 1, 1], [0, 1, 2]])
    explorer = conv_explorer("digit", emboss, padding=0, position=(2, 3))
    assert explorer.controls["kernel"].value == "custom"
    assert explorer.result.position == (2, 3)
    want = expected_output(load_image("digit"), [emboss], 1, 0)
    np.testing.assert_allclose(explorer.result.out, want, atol=1e-12)


def test_frames_are_clean():
    """Pure white background; a grey photo keeps its grey levels (no palette bands)."""
    figure = ConvFigure()
    frame = Image.open(io.BytesIO(figure.draw(compute_conv("china", "identity"))))
    rgb = np.asarray(frame.convert("RGB"))
    assert frame.mode == "P" and rgb.shape == (figure.height, figure.width, 3)
    assert (rgb[2, 2] == 255).all() and (rgb[-2, -2] == 255).all()
    greys = rgb[(rgb[..., 0] == rgb[..., 1]) & (rgb[..., 1] == rgb[..., 2])][:, 0]
    assert len(np.unique(greys)) >= 48


# -------------------------------------------------------------- the static explorer
@pytest.fixture(scope="module")
def static():
    with closing_new_widgets():
        yield conv_explorer_static()


def walk(stack, levels, settings, combo):
    """The leaf that the controls' indices for ``combo`` select in the stacks."""
    names = ("image", "kernel", "stride", "padding", "position")
    node = stack
    for level in levels:
        node = node.children[settings[level].index(combo[names.index(level)])]
    return node


def test_static_explorer_has_one_distinct_frame_per_setting(static):
    settings = static.settings
    counts = [len(settings[n]) for n in ("image", "kernel", "stride", "padding",
                                         "position")]
    assert counts == [3, 9, 2, 2, 2]
    assert len(static.frames) == len(static.tables) == int(np.prod(counts)) == 216
    pngs = [png(img) for img in static.frames.values()]
    assert all(p.startswith(PNG_MAGIC) for p in pngs)
    assert len(set(pngs)) == len(pngs), "some frames are identical"
    assert len({t.value for t in static.tables.values()}) == len(pngs)
    assert static.payload_bytes < 3_000_000
    assert static.render_seconds < 10
    for combo, leaf in static.leaves.items():
        assert walk(static.stack, static.levels, settings, combo) is leaf
        assert leaf.children == (static.frames[combo], static.tables[combo])
    # Each frame shows its own setting.
    combo = ("digit", "Laplacian", 2, "same", "top-left corner")
    result = compute_conv("digit", "Laplacian", stride=2, padding="same",
                          position="top-left corner")
    assert static.tables[combo].value == conv_html(result)


def test_static_controls_are_jslinked_to_every_stack_of_their_level(static):
    by_control: dict[str, list] = {}
    for link in static.links:
        assert isinstance(link, Link)
        (source, trait), (stack, stack_trait) = link.source, link.target
        assert (trait, stack_trait) == ("index", "selected_index")
        assert isinstance(stack, widgets.Stack)
        assert stack.selected_index == source.index  # in sync from the start
        name = next(k for k, c in static.controls.items() if c is source)
        by_control.setdefault(name, []).append(stack)
    assert set(by_control) == set(static.controls)
    level = [static.stack]
    for name in static.levels:
        assert by_control[name] == level, name
        assert len(static.controls[name].options) == len(static.settings[name])
        level = [child for stack in level for child in stack.children]
    # The defaults: Sobel x on the shapes, stride 1, "same" padding.
    c = static.controls
    assert (c["image"].value, c["kernel"].value) == ("shapes", "Sobel x")
    assert (c["stride"].value, c["padding"].value) == (1, "same")


def test_static_explorer_state_is_embeddable(static):
    # Only this explorer's models (other tests' widgets may still be alive).
    own = dependency_state([static])
    data = embed_data(views=[static], state=own)
    state = data["manager_state"]["state"]
    for link in static.links:
        assert state[link.model_id]["model_name"] == "LinkModel"
    image = static.frames["china", "edge magnitude", 2, 0, "top-left corner"]
    assert state[image.model_id]["buffers"], "the PNG bytes must travel with the state"
    assert data["view_specs"][0]["model_id"] == static.model_id
    html = embed_snippet(views=[static], state=own)
    assert static.model_id in html and len(html) < 3_500_000


def test_static_explorer_says_that_editing_needs_the_live_one(static):
    caption = static.caption.value
    assert "Edit the kernel" in caption and "conv_explorer()" in caption
    assert "Colab or Jupyter" in caption and "216 frames" in caption


# --------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("call, words", [
    (lambda: conv_explorer("cat"), ["conv_explorer", "'cat'", "'shapes'", "'china'"]),
    (lambda: conv_explorer(kernel="emboss"),
     ["conv_explorer", "'emboss'", "'Sobel x'", "'edge magnitude'"]),
    (lambda: conv_explorer(kernel=np.ones((3, 4))),
     ["conv_explorer", "3x3 or 5x5", "(3, 4)", "'identity'"]),
    (lambda: conv_explorer(kernel=np.ones((4, 4))), ["conv_explorer", "(4, 4)"]),
    (lambda: conv_explorer(kernel=[[1, 2], [3]]), ["conv_explorer", "3x3 or 5x5"]),
    (lambda: conv_explorer(stride=0), ["conv_explorer", "`stride`", "0", "1, 2, 3"]),
    (lambda: conv_explorer(padding=3), ["conv_explorer", "`padding`", "3", "'same'"]),
    (lambda: conv_explorer(position="middle"),
     ["conv_explorer", "'middle'", "'strongest response'"]),
    (lambda: conv_explorer("digit", position=(8, 0)),
     ["conv_explorer", "(8, 0)", "8 x 8"]),
    (lambda: conv_explorer(position=(1, 2, 3)), ["conv_explorer", "(1, 2, 3)"]),
    (lambda: compute_conv("shapes", "Sobel x", stride=0),
     ["compute_conv", "`stride`", "0", ">= 1"]),
    (lambda: compute_conv("shapes", np.full((3, 3), np.nan)),
     ["compute_conv", "non-finite"]),
    (lambda: compute_conv("digit", "Gaussian 5x5", position=(4, 0)),
     ["compute_conv", "(4, 0)", "4 x 4"]),
    (lambda: compute_conv(np.ones((3, 3)), "Gaussian 5x5"),
     ["compute_conv", "5x5", "3x3"]),
    (lambda: conv_explorer_static(images=("shapes", "cat")),
     ["conv_explorer_static", "'cat'", "'digit'"]),
    (lambda: conv_explorer_static(kernels="Sobel x"),
     ["conv_explorer_static", "`kernels`", "'Sobel x'"]),
    (lambda: conv_explorer_static(strides=(1, 4)),
     ["conv_explorer_static", "4", "1, 2, 3"]),
    (lambda: conv_explorer_static(strides=(1.0,)),
     ["conv_explorer_static", "1.0", "`strides`"]),
    (lambda: conv_explorer_static(positions=()),
     ["conv_explorer_static", "`positions`", "'top-left corner'"]),
])
def test_bad_arguments_name_the_function_the_value_and_the_choices(call, words):
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_positions_are_the_documented_ones():
    assert POSITIONS == ("strongest response", "top-left corner", "centre")


def test_blitter_with_a_fixed_palette_saves_that_palette_with_exact_black_and_white():
    import io

    from matplotlib.figure import Figure
    from PIL import Image

    from dlkit.widgets._render import Blitter
    from dlkit.widgets.conv import _palette

    fig = Figure(figsize=(2, 1), dpi=50)
    ax = fig.add_axes((0, 0, 1, 1))
    img = ax.imshow(np.linspace(0, 1, 64)[None], cmap="gray", aspect="auto")
    lookup, saved = _palette()
    frame = Image.open(io.BytesIO(Blitter(fig, [img], palette=(lookup, saved)).png([img])))
    assert frame.mode == "P" and frame.getpalette()[:len(saved)] == saved
    colours = {c for _, c in frame.convert("RGB").getcolors()}
    assert (0, 0, 0) in colours and (255, 255, 255) in colours and len(colours) > 30
