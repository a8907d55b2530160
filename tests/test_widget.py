"""Chapter 2's widget, in a real browser, against the engine's own accounting.

The widget (``_static/mlp_widget.js``) shows the shapes and the storage cost of the chapter's
network ``F.mse_loss(F.linear(F.relu(F.linear(X, W1, b1)), W2, b2), T)``. These tests open
the built chapter from disk in headless Chromium, set its sizes the way a reader does (typing
into the number fields, pressing arrow keys on the sliders, picking a dtype), and require
every byte count it displays to equal what ``autodiff.saved_bytes`` measures in this process
for the same sizes and dtype. Skips (with the reason) where Chromium or Playwright is missing.
"""

from __future__ import annotations

from contextlib import contextmanager
from urllib.parse import urlparse

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
DIMS = ("B", "d", "m", "o")
SHAPES = {  # what the widget must show for each name, from the chapter's derivation
    "X": ("B", "d"), "W1": ("m", "d"), "b1": ("m",), "z1": ("B", "m"), "h": ("B", "m"),
    "W2": ("o", "m"), "b2": ("o",), "y": ("B", "o"), "T": ("B", "o"),
    "dL/dy": ("B", "o"), "dW2": ("o", "m"), "db2": ("o",), "dL/dh": ("B", "m"),
    "dL/dz1": ("B", "m"), "dW1": ("m", "d"), "db1": ("m",),
}


def engine_bytes(B, d, m, o, dtype):
    """What the engine itself reports for the widget's network at these sizes."""
    rng = np.random.default_rng(0)

    def leaf(*shape, grad=False):
        return autodiff.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=grad)

    X, T = leaf(B, d), leaf(B, o)
    W1, b1, W2, b2 = leaf(m, d, grad=True), leaf(m, grad=True), leaf(o, m, grad=True), \
        leaf(o, grad=True)
    # saved_bytes counts every live tape in the process: measure this one's difference
    before = autodiff.saved_bytes(include_leaves=False), autodiff.saved_bytes(include_leaves=True)
    loss = F.mse_loss(F.linear(F.relu(F.linear(X, W1, b1)), W2, b2), T)
    measured = {
        "activations": autodiff.saved_bytes(include_leaves=False) - before[0],
        "tape": autodiff.saved_bytes(include_leaves=True) - before[1],
    }
    loss.backward()
    measured["params"] = sum(p.data.nbytes for p in (W1, b1, W2, b2))
    measured["grads"] = sum(p.grad.data.nbytes for p in (W1, b1, W2, b2))
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
        "#mlp-widget [data-shape]", "els => els.map(e => [e.dataset.shape, e.textContent])"
    )
    return dict(rows)


def set_sizes(page, B, d, m, o, dtype):
    """Type the sizes into the number fields and pick the dtype, as a reader would."""
    for name, value in zip(DIMS, (B, d, m, o)):
        page.fill(f"#mlp-{name}-value", str(value))
    page.select_option("#mlp-dtype", dtype)
    page.wait_for_function(
        "s => document.getElementById('mlp-widget').dataset.state === s",
        arg=f"{B},{d},{m},{o},{dtype}",
    )


def assert_matches_engine(page, B, d, m, o, dtype):
    shown = displayed(page)
    measured = engine_bytes(B, d, m, o, dtype)
    assert set(shown) == set(measured), shown
    for key, value in measured.items():
        got, text = shown[key]
        assert got == value, (
            f"widget shows {key} = {got} B for B={B} d={d} m={m} o={o} {dtype}; "
            f"the engine measures {value} B"
        )
        assert text.startswith(f"{value:,} B"), f"{key}: displayed text {text!r} != {value:,} B"
    sizes = dict(zip(DIMS, (B, d, m, o)))
    shapes = displayed_shapes(page)
    for name, dims in SHAPES.items():
        values = [sizes[k] for k in dims]
        expected = "(" + ", ".join(map(str, values)) + ("," if len(values) == 1 else "") + ")"
        assert shapes[name] == expected, f"{name}: widget shows {shapes[name]}, expected {expected}"


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
        start = [root.get_attribute(f"data-{a}") for a in ("batch", "d", "m", "o", "dtype")]
        assert root.get_attribute("data-state") == ",".join(start)
        B, d, m, o = map(int, start[:4])
        assert_matches_engine(page, B, d, m, o, start[4])
        assert visit.console_errors == [], visit.console_errors


@pytest.mark.parametrize(
    "B, d, m, o, dtype",
    [
        (1, 1, 1, 1, "float32"),
        (2, 3, 2, 2, "float64"),
        (300, 7, 33, 5, "float32"),
        (64, 784, 256, 10, "float64"),
        (2048, 100, 1024, 3, "float32"),
    ],
)
def test_displayed_bytes_equal_saved_bytes(widget, B, d, m, o, dtype):
    set_sizes(widget.page, B, d, m, o, dtype)
    assert_matches_engine(widget.page, B, d, m, o, dtype)


def test_moving_the_batch_slider_changes_activations_not_parameters(widget):
    page = widget.page
    set_sizes(page, 16, 64, 128, 10, "float32")
    before = displayed(page)
    page.focus("#mlp-B")
    for _ in range(5):
        page.keyboard.press("ArrowRight")  # a reader's slider move, one step at a time
    page.wait_for_function("() => document.getElementById('mlp-widget').dataset.state"
                           ".startsWith('21,')")
    assert page.input_value("#mlp-B-value") == "21"
    after = displayed(page)
    assert after["activations"][0] > before["activations"][0]
    assert after["tape"][0] > before["tape"][0]
    assert after["params"] == before["params"] and after["grads"] == before["grads"]
    assert_matches_engine(page, 21, 64, 128, 10, "float32")
    # the bar chart follows the numbers
    w_before = float(page.get_attribute("#mlp-widget-chart .mlp-widget-key-activations", "width"))
    page.fill("#mlp-B-value", "200")
    w_after = float(page.get_attribute("#mlp-widget-chart .mlp-widget-key-activations", "width"))
    assert w_after > w_before


def test_every_width_and_the_dtype_move_the_numbers(widget):
    page = widget.page
    set_sizes(page, 8, 8, 8, 8, "float32")
    base = displayed(page)
    for name in ("d", "m", "o"):
        page.fill(f"#mlp-{name}-value", "9")
        assert displayed(page) != base, f"changing {name} did not change the numbers"
        page.fill(f"#mlp-{name}-value", "8")
        assert displayed(page) == base
    page.select_option("#mlp-dtype", "float64")
    doubled = displayed(page)
    assert all(doubled[k][0] == 2 * base[k][0] for k in base), (base, doubled)


def test_crossover_is_where_activations_overtake_parameters(widget):
    page = widget.page
    set_sizes(page, 16, 64, 128, 10, "float32")
    crossover = int(page.get_attribute("[data-crossover]", "data-crossover"))
    for B, overtaken in ((crossover - 1, False), (crossover, True)):
        set_sizes(page, B, 64, 128, 10, "float32")
        measured = engine_bytes(B, 64, 128, 10, "float32")
        assert (measured["activations"] > measured["params"]) is overtaken, (B, measured)
        assert_matches_engine(page, B, 64, 128, 10, "float32")


def test_out_of_range_input_is_clamped_not_broken(widget):
    page = widget.page
    set_sizes(page, 4, 4, 4, 4, "float64")
    page.fill("#mlp-B-value", "")  # mid-edit: keeps the last valid size
    assert page.get_attribute("#mlp-widget", "data-state") == "4,4,4,4,float64"
    page.fill("#mlp-B-value", "99999")
    top = int(page.get_attribute("#mlp-B", "max"))
    assert page.get_attribute("#mlp-widget", "data-state") == f"{top},4,4,4,float64"
    assert_matches_engine(page, top, 4, 4, 4, "float64")


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
