"""The board in a real browser: Debian's chromium driven by Playwright, on a board made by a real
``actionbench run`` + ``actionbench report`` of the tiny pipeline.

The benchmark is the fixture one with hostile text in an action description and a subject (so in the
prompts): the page must show it as text and run none of it. Locally without chromium or Playwright
these tests skip with the reason; CI installs chromium and sets ACTIONBENCH_REQUIRE_BROWSER=1, which
turns the skip into a failure.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
import tomli_w
from PIL import Image

from actionbench.cli import main
from actionbench.reports import browser as report_browser
from actionbench.reports.leaderboard import OVERALL, leaderboard
from actionbench.reports.load import load_runs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
DESCRIPTION = f"raising both arms {SCRIPT} {IMG}"
CAT = f"a cat {SCRIPT} {IMG}"
PLUGIN = Path(__file__).parent / "plugins" / "dummy_metric.py"
SORT_SCORE = "brightness"


def require_browser() -> None:
    reason = report_browser.unavailable_reason()
    if reason is None:
        return
    if os.environ.get("ACTIONBENCH_REQUIRE_BROWSER"):
        pytest.fail(f"ACTIONBENCH_REQUIRE_BROWSER is set but no browser can be driven: {reason}")
    pytest.skip(f"no real browser here: {reason}")


def hostile_benchmark(fixture_benchmark: Path, folder: Path) -> Path:
    """The fixture benchmark with script and markup in an action description and a subject's text."""
    from fixtures import write_benchmark

    write_benchmark(folder)
    action_file = folder / "arms_up" / "action.toml"
    action = tomllib.loads(action_file.read_text())
    action["description"] = DESCRIPTION
    action_file.write_text(tomli_w.dumps(action))
    benchmark_file = folder / "benchmark.toml"
    benchmark = tomllib.loads(benchmark_file.read_text())
    for subject in benchmark["protocol"]["subjects"]:
        if subject["name"] == "cat":
            subject["text"] = CAT
    benchmark_file.write_text(tomli_w.dumps(benchmark))
    return folder


@pytest.fixture(scope="module")
def board(fixture_benchmark, tiny_pipeline_path, tmp_path_factory) -> Path:
    """A run of text and plain on both actions, then ``report --latex --compare text plain``."""
    require_browser()
    root = tmp_path_factory.mktemp("browser")
    benchmark = hostile_benchmark(fixture_benchmark, root / "benchmark")
    run = root / "run"
    assert main(["--plugins", str(PLUGIN), "run", "--benchmark", str(benchmark), "--methods", "text,plain",
                 "--actions", "all", "--metrics", "brightness", "--out", str(run), "--no-report"]) == 0
    assert main(["report", str(run), "--latex", "--compare", "text", "plain"]) == 0
    return run


@pytest.fixture(scope="module")
def browser(board):
    with report_browser.launch() as launched:
        yield launched


class Page:
    """A page of the board with everything it did recorded: console errors, dialogs, requests."""

    def __init__(self, browser, html: Path):
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.goto(html.resolve().as_uri(), wait_until="load")


@pytest.fixture()
def page(browser, board):
    opened = Page(browser, board / "leaderboard.html")
    yield opened
    opened.page.close()


def test_board_loads_without_errors_dialogs_or_network(page):
    for header in page.page.locator("#board-overall th").all():  # exercise the page's script
        header.click()
    page.page.wait_for_timeout(200)
    assert page.errors == []
    assert page.dialogs == []
    assert page.requests and all(url.startswith(("file://", "data:")) for url in page.requests), page.requests


def test_clicking_a_score_header_sorts_rows_both_ways(page, board):
    overall = leaderboard(load_runs([board]))
    overall = overall[(overall["action"] == OVERALL) & (overall["score"] == SORT_SCORE)].set_index("method")["mean"]
    assert overall.nunique() == len(overall) == 2  # distinct values, or the order would prove nothing
    ascending = list(overall.sort_values().index)

    header = page.page.locator(f'#board-overall th[data-score="{SORT_SCORE}"]')
    methods = page.page.locator("#board-overall tbody tr td:first-child")
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert methods.all_inner_texts() == ascending
    header.click()
    assert header.get_attribute("aria-sort") == "descending"
    assert methods.all_inner_texts() == ascending[::-1]


def test_every_thumbnail_has_loaded(page, board):
    thumbnails = page.page.locator("img.thumb")
    assert thumbnails.count() == 2 * 2 * 2  # methods x actions x subjects (one seed)
    widths = page.page.eval_on_selector_all("img.thumb", "images => images.map(i => i.complete ? i.naturalWidth : 0)")
    assert all(width > 0 for width in widths), widths


def test_tradeoff_plot_is_shown(page):
    plot = page.page.locator("#tradeoff")
    assert plot.is_visible()
    assert plot.evaluate("image => image.naturalWidth") > 0
    assert plot.bounding_box()["width"] > 300


def test_hostile_description_and_prompt_show_as_text(page):
    text = page.page.inner_text("body")
    assert DESCRIPTION in text
    assert f"{CAT} {{action}}" in text  # the prompt, as written in the per-action prompt list
    assert page.dialogs == []
    assert page.page.evaluate("document.scripts.length") == 1  # the board's own sorting script only
    assert page.page.evaluate("Array.from(document.images).filter(i => i.getAttribute('src') === 'x').length") == 0
    titles = page.page.eval_on_selector_all("img.thumb", "images => images.map(i => i.title)")
    assert f"{CAT} {{action}}" in titles  # attributes hold the raw text too


def test_comparison_section_is_shown(page):
    section = page.page.locator("#board-comparison")
    assert section.is_visible()
    rows = section.locator("tbody tr").all_inner_texts()
    assert len(rows) == 2 * 3 and rows[0].startswith("overall")  # two scores x (overall + two actions)


def test_grid_links_open_the_grids(page, board):
    hrefs = page.page.eval_on_selector_all('a[href^="grids/"]', "links => links.map(a => a.href)")
    assert len(hrefs) == 2
    for href in hrefs:
        path = Path(unquote(urlparse(href).path))
        assert path.parent == board / "grids" and path.is_file()
        page.page.goto(href)
        assert page.page.evaluate("document.images[0].naturalWidth") == Image.open(path).width


def test_report_writes_a_screenshot_of_the_board(board):
    with Image.open(board / "leaderboard.png") as screenshot:
        assert screenshot.width == report_browser.VIEWPORT["width"] and screenshot.height > 600
        pixels = np.asarray(screenshot.convert("L"), dtype=np.float64)
    assert pixels.std() > 10  # a rendered page, not a blank one


# -- the board at a laptop's size (issue 17) ------------------------------------------------------

LAPTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def wide_board(tmp_path_factory) -> Path:
    """A board with every built-in score, four real methods and two controls (test_report_board)."""
    require_browser()
    from actionbench.reports import make_report
    from test_report_board import write_board_run

    root = tmp_path_factory.mktemp("wide")
    make_report([write_board_run(root / "run")], root / "out")
    return root / "out" / "leaderboard.html"


def test_the_headline_table_fits_a_laptop_screen_without_scrolling(browser, wide_board):
    page = browser.new_page(viewport=LAPTOP)
    try:
        page.goto(wide_board.resolve().as_uri(), wait_until="load")
        shot = wide_board.parent / "laptop.png"
        page.screenshot(path=str(shot))  # what a reader sees first (look at it when the layout changes)
        print(f"screenshot at 1280x800: {shot}")
        wrap = page.locator("#board-overall-wrap")
        widths = wrap.evaluate("e => [e.scrollWidth, e.clientWidth]")
        assert widths[0] <= widths[1], widths  # no horizontal scrolling inside the table's box...
        assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]  # ...nor of the page
        box = page.locator("#board-overall").bounding_box()
        assert box["x"] + box["width"] <= LAPTOP["width"]
        # every cell is one line of mean with its CI beneath: no number wraps onto a third line
        heights = page.eval_on_selector_all("#board-overall tbody td:not(:first-child)",
                                            "cells => cells.map(c => c.getBoundingClientRect().height)")
        assert max(heights) < 1.5 * min(heights), heights
        assert page.locator("#board-overall tr.control").count() == 2
        assert not page.locator("#board-diagnostics").is_visible()  # folded away until asked for
        page.locator("#diagnostics summary").click()
        assert page.locator("#board-diagnostics").is_visible()
    finally:
        page.close()
