"""A real browser for the board: Debian's chromium driven by Playwright (optional).

Playwright cannot download its own browser on machines without internet, so it drives the system's
chromium through ``executable_path``. Used for ``leaderboard.png`` and by the browser tests; when
either piece is missing, callers get a reason instead of an error.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

CHROMIUM_ENV = "ACTIONBENCH_CHROMIUM"  # a path to a chromium binary, to use instead of the system one
CHROMIUM_NAMES = ("chromium", "chromium-browser")
# Offline and headless: no GPU, no sandbox (containers and root), no update or sync traffic.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
                 "--disable-component-update", "--disable-default-apps", "--disable-extensions", "--disable-sync",
                 "--no-first-run", "--mute-audio", "--hide-scrollbars"]
VIEWPORT = {"width": 1280, "height": 900}
MAX_SCREENSHOT_PX = 4000  # a long board is cut here: the screenshot is for READMEs and slides


def find_chromium() -> str | None:
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return configured if Path(configured).is_file() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def unavailable_reason() -> str | None:
    """Why no browser can be driven here, or None when one can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install 'actionbench[browser]')"
    if find_chromium() is None:
        where = os.environ.get(CHROMIUM_ENV) or "/usr/bin/chromium"
        return f"no chromium at {where} (Debian: apt-get install chromium, as root)"
    return None


@contextlib.contextmanager
def launch() -> Iterator[object]:
    """A headless chromium ``Browser`` (Playwright sync API), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(html: Path, png: Path) -> str | None:
    """Write a screenshot of ``html`` to ``png``; returns None, or why no screenshot was taken."""
    reason = unavailable_reason()
    if reason is not None:
        return reason
    from actionbench.fileio import atomic_write_bytes

    try:
        with launch() as browser:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(Path(html).resolve().as_uri(), wait_until="load")
            height = min(int(page.evaluate("document.documentElement.scrollHeight")), MAX_SCREENSHOT_PX)
            image = page.screenshot(full_page=True, clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height})
    except Exception as error:  # a broken browser must not cost the user the board itself
        return f"the browser failed ({' '.join(str(error).split())[:160]})"
    atomic_write_bytes(png, image)
    return None
