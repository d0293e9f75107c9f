"""Where the suite keeps user data and caches: ``$ACTIONBENCH_HOME`` (default ``~/.actionbench``)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """An empty ``ACTIONBENCH_HOME`` counts as unset, as ``ACTIONBENCH_DATA`` does (``data.official``):
    read as a path it would be the working directory, and the suite would write its caches there."""
    return Path(os.environ.get("ACTIONBENCH_HOME") or Path.home() / ".actionbench").expanduser()


def cache_dir(*parts: str) -> Path:
    """A folder under the cache, created on demand (preprocessed exemplars, built models, ...)."""
    folder = home().joinpath("cache", *parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def custom_actions_dir() -> Path:
    """Actions added with ``actionbench data add-action``."""
    return home() / "actions"


def data_dir(*parts: str) -> Path:
    """Downloaded benchmark data (``actionbench data fetch``)."""
    return home().joinpath("data", *parts)
