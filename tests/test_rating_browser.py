"""The rating page in a real browser (Debian's chromium through Playwright), on a real run.

A rater with a hostile name rates with the keyboard only: ten images answered (one answer changed
with Backspace), a reload mid-way, the rest skipped, until the page says it is done. The JSON lines
must match the keys pressed, and nothing the page shows, holds in its DOM or requests may name a
method, an image file, an image id of the run store or a score. Without chromium or Playwright this
module skips with the reason; with ACTIONBENCH_REQUIRE_BROWSER=1 (CI) that is a failure.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest

from actionbench.rating.server import RatingServer
from actionbench.rating.store import RatingsStore
from actionbench.reports import browser as report_browser
from rating_helpers import CAT, DESCRIPTION, METHODS, N_IMAGES, copy_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RATER = "Ana <script>alert(3)</script> <img src=x onerror=alert(4)>"
ANSWERED = 10
RELOAD_AFTER = 4
KEY = {"yes": "y", "no": "n"}


def require_browser() -> None:
    reason = report_browser.unavailable_reason()
    if reason is None:
        return
    if os.environ.get("ACTIONBENCH_REQUIRE_BROWSER"):
        pytest.fail(f"ACTIONBENCH_REQUIRE_BROWSER is set but no browser can be driven: {reason}")
    pytest.skip(f"no real browser here: {reason}")


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_pipeline_path):
    require_browser()
    return copy_run(tmp_path_factory, "rating-browser")


@pytest.fixture(scope="module")
def server(run):
    with RatingServer(run) as started:
        yield started


@pytest.fixture(scope="module")
def browser(server):
    with report_browser.launch() as launched:
        yield launched


def unblinding_pattern(run: Path) -> re.Pattern:
    """Method names (as words), image file names and ids, run-store paths, score names."""
    names = set(METHODS) | set(json.loads((run / "scores.json").read_text()))
    for rows in run.glob("units/*/*/images.jsonl"):
        for line in rows.read_text().splitlines():
            row = json.loads(line)
            names.update({row["image_id"], Path(row["file"]).name})
    return re.compile(r"\b(%s)\b|units/|\.png|\.jpe?g" % "|".join(re.escape(n) for n in sorted(names)), re.I)


class RatingPage:
    """A page with everything it did recorded: console errors, dialogs, requests, API responses."""

    def __init__(self, browser, url: str):
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.responses = []  # API responses not read yet
        self.bodies: list[str] = []  # ... and those read (a body must be read before the page navigates)
        self.page = browser.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("response", lambda response: self.responses.append(response) if "/api/" in response.url else None)
        self.page.goto(url, wait_until="load")

    def read_bodies(self) -> None:
        while self.responses:
            self.bodies.append(self.responses.pop(0).text())

    def wait_for_progress(self, done: int) -> None:
        # functions, not expressions: the page's Content-Security-Policy forbids eval (Playwright's expressions)
        self.page.wait_for_function("done => document.getElementById('progress').value === done", arg=done,
                                    timeout=10_000)

    def shown_image(self) -> str:
        self.page.wait_for_function("() => document.getElementById('image').complete "
                                    "&& document.getElementById('image').naturalWidth > 0", timeout=10_000)
        return self.page.get_attribute("#image", "src").rsplit("/", 1)[1]

    def everything_it_holds(self) -> list[str]:
        """The DOM as HTML, its visible text, and every attribute value of every element."""
        attributes = self.page.evaluate(
            "() => Array.from(document.querySelectorAll('*')).flatMap(e => Array.from(e.attributes).map(a => a.value))")
        return [self.page.content(), self.page.inner_text("body"), *attributes]


def test_rating_with_the_keyboard_across_a_reload_saves_what_was_pressed(browser, server, run):
    unblinding = unblinding_pattern(run)
    page = RatingPage(browser, server.url(RATER))
    pressed: dict[str, tuple[str, str]] = {}
    shown_text = set()
    for step in range(N_IMAGES):
        page.wait_for_progress(step)
        page.read_bodies()
        if step == RELOAD_AFTER:  # the rater leaves and comes back: the page goes on where they stopped
            page.page.reload(wait_until="load")
            page.wait_for_progress(step)
            page.read_bodies()
        image = page.shown_image()
        assert image not in pressed, "an image already rated came back"
        assert page.page.inner_text("#count") == f"{step} of {N_IMAGES} rated, {N_IMAGES - step} left"
        for value in page.everything_it_holds():
            found = unblinding.search(value)
            assert found is None, f"the page reveals {found.group(0)!r}"
        shown_text.add(page.page.inner_text("#subject"))
        shown_text.add(page.page.inner_text("#description"))
        assert page.page.locator("img.exemplar").count() == 3
        if step < ANSWERED:
            action = "yes" if step % 2 == 0 else "no"
            subject = "yes" if step % 3 == 0 else "no"
            if step == 2:  # a change of mind: answer, go back, answer again
                page.page.keyboard.press("n" if action == "yes" else "y")
                page.page.keyboard.press("Backspace")
            page.page.keyboard.press(KEY[action])
            assert page.page.locator("#q-subject").get_attribute("class") == "question current"
            page.page.keyboard.press(KEY[subject])
            pressed[image] = (action, subject)
        else:
            page.page.keyboard.press("s")
            pressed[image] = ("skip", "skip")
    page.wait_for_progress(N_IMAGES)
    assert page.page.is_visible("#finished") and not page.page.is_visible("#rating")
    assert page.page.inner_text("#count") == f"{N_IMAGES} of {N_IMAGES} rated, 0 left"

    saved = RatingsStore(run).judgements(RATER)
    assert [(j.image, (j.action, j.subject)) for j in saved] == list(pressed.items())  # in the order pressed
    assert all(j.source == "page" for j in saved)
    assert len(RatingsStore(run).path(RATER).read_text().splitlines()) == N_IMAGES

    # nothing the page fetched names the method, a file or a score either
    for url in page.requests:
        parsed = urlparse(url)
        assert (parsed.hostname, parsed.port) == ("127.0.0.1", server.port)
        assert parsed.path.startswith(f"/{server.token}/")
        assert unblinding.search(parsed.path) is None, url
    page.read_bodies()
    assert len(page.bodies) == N_IMAGES + 2  # two states (first load, reload) and one answer per image
    for body in page.bodies:
        assert unblinding.search(body) is None, body

    # hostile text from the run and from the rater shows as text and runs nothing
    assert CAT in shown_text and DESCRIPTION in shown_text
    assert page.page.inner_text("#rater") == RATER
    assert page.dialogs == [] and page.errors == []
    assert page.page.evaluate("() => document.scripts.length") == 1
    assert page.page.evaluate("() => Array.from(document.images).filter(i => i.getAttribute('src') === 'x').length") == 0
    page.page.close()


def test_the_page_asks_for_a_name_and_refuses_a_wrong_token(browser, server, run):
    page = RatingPage(browser, server.url())
    assert page.page.is_visible("#name-input") and not page.page.is_visible("#rating")
    page.page.fill("#name-input", "Bea")
    page.page.keyboard.press("Enter")
    page.page.wait_for_url(re.compile(r"\?rater=Bea$"))
    page.wait_for_progress(0)
    assert page.page.inner_text("#rater") == "Bea"
    page.page.keyboard.press("y")
    page.page.keyboard.press("y")
    page.wait_for_progress(1)
    assert [(j.action, j.subject) for j in RatingsStore(run).judgements("Bea")] == [("yes", "yes")]
    response = page.page.goto(server.url("Bea").replace(server.token, "0" * len(server.token)))
    assert response.status == 403
    assert page.errors == [] or all("403" in e for e in page.errors)
    page.page.close()


def test_the_rater_name_in_the_address_is_encoded(server):
    assert server.url(RATER).endswith("?rater=" + quote(RATER, safe=""))
