"""Is the Hugging Face hub reachable? Asked once, quickly, instead of the hub client's half-minute of retries."""

from __future__ import annotations

import contextlib
import functools
import os
import socket
from typing import Iterator
from urllib.parse import urlparse


@functools.lru_cache(maxsize=None)
def hub_reachable(timeout: float = 3.0) -> bool:
    """False when HF_HUB_OFFLINE=1 or one TCP connection to the hub fails."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def offline_unless_reachable() -> Iterator[None]:
    """Inside this block the hub client uses only its local cache when the hub cannot be reached,
    so a missing download fails at once with the client's own error."""
    import huggingface_hub.constants as constants

    previous = constants.HF_HUB_OFFLINE
    if not hub_reachable():
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous
