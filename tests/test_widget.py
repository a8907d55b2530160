"""Chapter 2's widget, in a real browser, against the engine's own accounting.

The widget (``_static/mlp_widget.js``) shows the shapes and the storage cost of the chapter's
network with L hidden layers of width m,
``F.mse_loss(F.linear(relu(F.linear(... relu(F.linear(X, W1, b1)) ...)), W, b), T)``
(L = 1 is the two-layer MLP). These tests open the built chapter from disk in headless
Chromium, set its sizes the way a reader does (typing into the number fields, pressing arrow
keys on the sliders, picking a dtype), and require every byte count it displays to equal
what ``autodiff.saved_bytes`` measures in this process for the same sizes, depth and dtype.
The size sliders step in powers of two; the depth slider one layer at a time. The chapter
also draws the same numbers as a static figure, for readers without JavaScript and for the
notebook download. Skips (with the reason) where Chromium or Playwright is missing.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

import autodiff
import autodiff.nn.functional as F
from bookbuild import HTML, built_book
from browser import chromium, chromium_missing_reason, open_page  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(
    chromium_missing_reason() is not None, reason=str(chromium_missing_reason())
)

PAGE = HTML / "chapters" / "02_mlp_backprop.html"
NOTEBOOK = HTML / "_sources" / "chapters" / "02_mlp_backprop.ipynb"
DIMS = ("B", "d", "m", "o", "L")
SIZE_DIMS = ("B", "d", "m", "o")  # the powers-of-two sliders
ITEMSIZE = {"float32": 4, "float64": 8}
# What the widget must show for each row (by its data-shape key), from the derivation;
# the rows marked hidden=True exist only when there is more than one hidden layer.
SHAPES = {
    "X": ("B", "d"), "W1": ("m", "d"), "b1": ("m",), "z": ("B", "m"), "h": ("B", "m"),
    "Wout": ("o", "m"), "bout": ("o",), "y": ("B", "o"), "T": ("B", "o"),
    "dy": ("B", "o"), "dWout": ("o", "m"), "dbout": ("o",), "dh": ("B", "m"),
    "dz": ("B", "m"), "dW1": ("m", "d"), "db": ("m",),
}
HIDDEN_SHAPES = {"Wh": ("m", "m"), "bh": ("m",), "dWh": ("m", "m")}


def engine_bytes(B, d, m, o, L, dtype):
    """What the engine itself reports for the widget's network at these sizes."""
    rng = np.random.default_rng(0)

    def leaf(*shape, grad=True):
        return autodiff.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=grad)

    X, T = leaf(B, d, grad=False), leaf(B, o, grad=False)
    layers = [(leaf(m, d), leaf(m))] + [(leaf(m, m), leaf(m)) for _ in range(L - 1)]
    W_out, b_out = leaf(o, m), leaf(o)
    # saved_bytes counts every live tape in the process: measure this one's difference
    before = autodiff.saved_bytes(include_leaves=False), autodiff.saved_bytes(include_leaves=True)
    h = X
    for W, b in layers:
        h = F.relu(F.linear(h, W, b))
    loss = F.mse_loss(F.linear(h, W_out, b_out), T)
    measured = {
        "activations": autodiff.saved_bytes(include_leaves=False) - before[0],
        "tape": autodiff.saved_bytes(include_leaves=True) - before[1],
    }
    loss.backward()
    params = [t for pair in layers for t in pair] + [W_out, b_out]
    measured["params"] = sum(p.data.nbytes for p in params)
    measured["grads"] = sum(p.grad.data.nbytes for p in params)
    return measured


def displayed(page) -> dict:
    """The widget's byte counts (data-value) and their text, by key."""
    rows = page.eval_on_selector_all(
        "#mlp-widget [data-bytes]",
        "els => els.map(e => [e.dataset.bytes, e.dataset.value, e.textContent])",
    )
    return {key: (int(value), text) for key, value, text in rows}


def displayed_shapes(page) -> dict:
    rows = page.eval_on_selector_all(
        "#mlp-widget [data-shape]",
        "els => els.map(e => [e.dataset.shape, e.textContent,"
        " e.parentElement.querySelector('th').textContent])",
    )
    return {key: (text, label) for key, text, label in rows}


def state(page) -> str:
    return page.get_attribute("#mlp-widget", "data-state")


def wait_for_state(page, B, d, m, o, L, dtype):
    page.wait_for_function(
        "s => document.getElementById('mlp-widget').dataset.state === s",
        arg=f"{B},{d},{m},{o},{L},{dtype}",
    )


def set_sizes(page, B, d, m, o, L, dtype):
    """Type the sizes into the number fields and pick the dtype, as a reader would."""
    for name, value in zip(DIMS, (B, d, m, o, L)):
        page.fill(f"#mlp-{name}-value", str(value))
    page.select_option("#mlp-dtype", dtype)
    wait_for_state(page, B, d, m, o, L, dtype)


def slider(page, name) -> dict:
    return page.eval_on_selector(
        f"#mlp-{name}",
        "e => ({min: +e.min, max: +e.max, value: +e.value, scale: e.dataset.scale})",
    )


def assert_matches_engine(page, B, d, m, o, L, dtype):
    shown = displayed(page)
    measured = engine_bytes(B, d, m, o, L, dtype)
    assert set(shown) == set(measured), shown
    for key, value in measured.items():
        got, text = shown[key]
        assert got == value, (
            f"widget shows {key} = {got} B for B={B} d={d} m={m} o={o} L={L} {dtype}; "
            f"the engine measures {value} B"
        )
        assert text.startswith(f"{value:,} B"), f"{key}: displayed text {text!r} != {value:,} B"
    sizes = dict(zip(DIMS, (B, d, m, o, L)))
    shapes = displayed_shapes(page)
    expected_rows = dict(SHAPES, **(HIDDEN_SHAPES if L > 1 else {}))
    assert set(shapes) == set(expected_rows), (L, sorted(shapes))
    for name, dims in expected_rows.items():
        values = [sizes[k] for k in dims]
        expected = "(" + ", ".join(map(str, values)) + ("," if len(values) == 1 else "") + ")"
        assert shapes[name][0] == expected, (
            f"{name}: widget shows {shapes[name][0]}, expected {expected} (L={L})"
        )
    assert shapes["Wout"][1] == f"W{L + 1}", shapes["Wout"]  # the output layer is L + 1


@pytest.fixture(scope="module")
def book():
    return built_book().require_ok()


@contextmanager
def widget_page(chromium):
    with open_page(PAGE, browser=chromium, wait_for_mathjax=False) as visit:
        visit.page.wait_for_selector("#mlp-widget[data-ready='true']")
        yield visit


@pytest.fixture(scope="module")
def shared_visit(book, chromium):
    """One page for the module's tests (each sets every size it relies on)."""
    with widget_page(chromium) as visit:
        yield visit


@pytest.fixture
def widget(shared_visit):
    yield shared_visit
    shared_visit.page.wait_for_timeout(50)  # let anything late report its errors
    assert shared_visit.console_errors == [], "\n".join(shared_visit.console_errors)
    assert shared_visit.external_requests == [], shared_visit.external_requests


def test_starting_sizes_match_the_engine(book, chromium):
    with widget_page(chromium) as visit:  # a fresh page: the sizes the chapter starts with
        page = visit.page
        root = page.locator("#mlp-widget")
        start = [root.get_attribute(f"data-{a}")
                 for a in ("batch", "d", "m", "o", "depth", "dtype")]
        assert None not in start, start
        assert state(page) == ",".join(start)
        B, d, m, o, L = map(int, start[:5])
        assert_matches_engine(page, B, d, m, o, L, start[5])
        for name, value in zip(DIMS, (B, d, m, o, L)):  # the sliders start there too
            s = slider(page, name)
            assert s["value"] == (round(math.log2(value)) if s["scale"] == "log2" else value)
        assert visit.console_errors == [], visit.console_errors


@pytest.mark.parametrize(
    "B, d, m, o, L, dtype",
    [
        (1, 1, 1, 1, 1, "float32"),
        (2, 3, 2, 2, 1, "float64"),
        (2, 3, 2, 2, 2, "float64"),
        (300, 7, 33, 5, 3, "float32"),
        (64, 784, 256, 10, 1, "float64"),
        (2048, 100, 1024, 3, 1, "float32"),
        (16, 64, 128, 10, 16, "float32"),
        (5, 9, 17, 3, 7, "float64"),
    ],
)
def test_displayed_bytes_equal_saved_bytes(widget, B, d, m, o, L, dtype):
    set_sizes(widget.page, B, d, m, o, L, dtype)
    assert_matches_engine(widget.page, B, d, m, o, L, dtype)


def test_size_sliders_step_in_powers_of_two(widget):
    page = widget.page
    set_sizes(page, 16, 64, 128, 10, 1, "float32")
    for name in SIZE_DIMS:
        s = slider(page, name)
        top = int(page.get_attribute(f"#mlp-{name}-value", "max"))
        assert s["scale"] == "log2" and s["min"] == 0, s
        assert 2 ** s["max"] == top, (name, s, top)  # the last stop is the largest size
    page.focus("#mlp-B")
    seen = []
    for _ in range(3):
        page.keyboard.press("ArrowRight")  # one step of a reader's slider: doubles B
        seen.append(int(page.input_value("#mlp-B-value")))
    assert seen == [32, 64, 128], seen
    wait_for_state(page, 128, 64, 128, 10, 1, "float32")
    assert_matches_engine(page, 128, 64, 128, 10, 1, "float32")
    page.keyboard.press("Home")
    wait_for_state(page, 1, 64, 128, 10, 1, "float32")
    page.keyboard.press("End")
    top = int(page.get_attribute("#mlp-B-value", "max"))
    wait_for_state(page, top, 64, 128, 10, 1, "float32")


def test_a_typed_size_puts_the_slider_at_its_nearest_power_of_two(widget):
    page = widget.page
    set_sizes(page, 300, 64, 128, 10, 1, "float32")
    assert slider(page, "B")["value"] == 8  # 2^8 = 256 is the nearest stop to 300
    page.focus("#mlp-B")
    page.keyboard.press("ArrowRight")
    wait_for_state(page, 512, 64, 128, 10, 1, "float32")


def test_the_interesting_range_spans_the_slider(widget):
    """On a linear slider up to 16384 the start (16) and the crossover (70) would sit in
    the first 0.5 % of the travel; on the powers-of-two slider they are well inside it."""
    page = widget.page
    set_sizes(page, 16, 64, 128, 10, 1, "float32")
    crossover = int(page.get_attribute("[data-crossover]", "data-crossover"))
    for B in (16, crossover):
        set_sizes(page, B, 64, 128, 10, 1, "float32")
        s = slider(page, "B")
        travel = (s["value"] - s["min"]) / (s["max"] - s["min"])
        linear_travel = (B - 1) / (int(page.get_attribute("#mlp-B-value", "max")) - 1)
        assert linear_travel < 0.01 and 0.2 < travel < 0.8, (B, travel, linear_travel)


def test_moving_the_batch_slider_changes_activations_not_parameters(widget):
    page = widget.page
    set_sizes(page, 16, 64, 128, 10, 1, "float32")
    before = displayed(page)
    page.focus("#mlp-B")
    page.keyboard.press("ArrowRight")
    wait_for_state(page, 32, 64, 128, 10, 1, "float32")
    after = displayed(page)
    assert after["activations"][0] == 2 * before["activations"][0]  # B(m + o): doubles
    assert after["tape"][0] > before["tape"][0]
    assert after["params"] == before["params"] and after["grads"] == before["grads"]
    assert_matches_engine(page, 32, 64, 128, 10, 1, "float32")
    # the bar chart follows the numbers
    w_before = float(page.get_attribute("#mlp-widget-chart .mlp-widget-key-activations", "width"))
    page.fill("#mlp-B-value", "200")
    w_after = float(page.get_attribute("#mlp-widget-chart .mlp-widget-key-activations", "width"))
    assert w_after > w_before


def test_each_step_of_the_depth_slider_adds_one_layer(widget):
    page = widget.page
    B, d, m, o = 16, 64, 128, 10
    set_sizes(page, B, d, m, o, 1, "float64")
    s = slider(page, "L")
    assert s["scale"] == "linear" and s["min"] == 1 and s["value"] == 1, s
    page.focus("#mlp-L")
    previous = displayed(page)
    for L in (2, 3, 4):
        page.keyboard.press("ArrowRight")
        wait_for_state(page, B, d, m, o, L, "float64")
        now = displayed(page)
        # one more relu output (B, m) saved; one more (m, m) weight and (m,) bias
        assert now["activations"][0] - previous["activations"][0] == B * m * 8
        assert now["params"][0] - previous["params"][0] == (m * m + m) * 8
        assert now["tape"][0] - previous["tape"][0] == (B * m + m * m) * 8
        assert_matches_engine(page, B, d, m, o, L, "float64")
        previous = now
    assert int(page.get_attribute("[data-crossover]", "data-crossover")) > 70  # rises


def test_every_width_and_the_dtype_move_the_numbers(widget):
    page = widget.page
    set_sizes(page, 8, 8, 8, 8, 2, "float32")
    base = displayed(page)
    for name in ("d", "m", "o", "L"):
        page.fill(f"#mlp-{name}-value", "9" if name != "L" else "3")
        assert displayed(page) != base, f"changing {name} did not change the numbers"
        page.fill(f"#mlp-{name}-value", "8" if name != "L" else "2")
        assert displayed(page) == base
    page.select_option("#mlp-dtype", "float64")
    doubled = displayed(page)
    assert all(doubled[k][0] == 2 * base[k][0] for k in base), (base, doubled)


@pytest.mark.parametrize("L", [1, 3, 16])
def test_crossover_is_where_activations_overtake_parameters(widget, L):
    page = widget.page
    set_sizes(page, 16, 64, 128, 10, L, "float32")
    crossover = int(page.get_attribute("[data-crossover]", "data-crossover"))
    for B, overtaken in ((crossover - 1, False), (crossover, True)):
        set_sizes(page, B, 64, 128, 10, L, "float32")
        measured = engine_bytes(B, 64, 128, 10, L, "float32")
        assert (measured["activations"] > measured["params"]) is overtaken, (B, L, measured)
        assert_matches_engine(page, B, 64, 128, 10, L, "float32")


def test_out_of_range_input_is_clamped_not_broken(widget):
    page = widget.page
    set_sizes(page, 4, 4, 4, 4, 1, "float64")
    page.fill("#mlp-B-value", "")  # mid-edit: keeps the last valid size
    assert state(page) == "4,4,4,4,1,float64"
    page.fill("#mlp-B-value", "99999")
    top = int(page.get_attribute("#mlp-B-value", "max"))
    assert state(page) == f"{top},4,4,4,1,float64"
    assert slider(page, "B")["value"] == slider(page, "B")["max"]
    assert_matches_engine(page, top, 4, 4, 4, 1, "float64")
    page.fill("#mlp-L-value", "999")
    deepest = int(page.get_attribute("#mlp-L-value", "max"))
    assert state(page) == f"{top},4,4,4,{deepest},float64"


def test_without_javascript_the_page_offers_the_static_figure(book, chromium):
    context = chromium.new_context(java_script_enabled=False, offline=True)
    try:
        page = context.new_page()
        page.goto(PAGE.as_uri(), wait_until="load")
        assert "needs JavaScript" in page.locator("#mlp-widget").inner_text()
        # the first figure after the widget is the static version of its numbers
        src = page.evaluate(
            "() => { const w = document.getElementById('mlp-widget');"
            " const after = Array.from(document.querySelectorAll('div.cell_output img'))"
            "   .filter(i => w.compareDocumentPosition(i) & Node.DOCUMENT_POSITION_FOLLOWING);"
            " return after.length ? after[0].src : null; }"
        )
        assert src is not None, "no figure follows the widget"
        image = Path(unquote(urlparse(src).path))
        assert image.suffix == ".png" and image.is_file(), src
        assert image.resolve().is_relative_to(HTML.resolve()), src
    finally:
        context.close()


def test_the_notebook_download_draws_the_figure(book):
    """The .ipynb download has no widget (its raw HTML cell runs no script in Jupyter), and
    the book's download carries no outputs: the cell that draws the figure from the
    engine's measurements must be in it, so that running the notebook shows the numbers."""
    notebook = json.loads(NOTEBOOK.read_text())
    sources = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    drawing = [src for src in sources if "by_batch" in src and "plt.show()" in src]
    assert len(drawing) == 1, "the cell that draws the widget's numbers is missing"
    assert "measured_bytes(" in drawing[0], "the figure must plot the engine's measurements"
    assert any("def measured_bytes(" in src for src in sources)


def test_the_script_does_nothing_on_pages_without_the_widget(book, chromium):
    with open_page(HTML / "intro.html", browser=chromium, wait_for_mathjax=False) as visit:
        page = visit.page
        scripts = page.eval_on_selector_all("script[src]", "els => els.map(e => e.src)")
        assert any(urlparse(s).path.endswith("/mlp_widget.js") for s in scripts), (
            "Jupyter Book adds every _static/*.js to every page; if that changed, this test "
            "no longer covers the case it was written for"
        )
        assert page.locator("#mlp-widget, .mlp-widget, #mlp-widget-chart").count() == 0
        page.wait_for_timeout(100)
        assert visit.console_errors == [], visit.console_errors
