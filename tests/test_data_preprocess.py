"""Exemplar preprocessing: the pad-to-square policy, computed once per photo and size, then cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import actionbench.data.preprocess as preprocess
from actionbench.data.model import Action, Exemplar
from actionbench.data.preprocess import POLICY, cache_path, exemplar_image, preprocess_action, square_image
from actionbench.fileio import file_sha256
from actionbench.imageio import open_rgb


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ACTIONBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def portrait(path: Path, colour=(200, 40, 40)) -> Exemplar:
    """A 40 x 80 portrait photo: a red bar on a grey background."""
    image = Image.new("RGB", (40, 80), (120, 120, 120))
    image.paste(Image.new("RGB", (10, 60), colour), (15, 10))
    image.save(path)
    return Exemplar(image_path=path, sha256=file_sha256(path))


def test_pad_policy_keeps_the_whole_photo(tmp_path):
    square = np.asarray(exemplar_image(portrait(tmp_path / "p.png"), 80))
    assert square.shape == (80, 80, 3)
    assert (square[:, :15] == 120).all() and (square[:, -15:] == 120).all()  # padded with the border colour
    assert (square[20:60, 37:43] == (200, 40, 40)).all()  # the bar, centred and whole


def test_the_result_is_cached_once_and_read_back_identically(tmp_path, home, monkeypatch):
    exemplar = portrait(tmp_path / "p.png")
    first = exemplar_image(exemplar, 64)
    path = cache_path(exemplar, 64)
    assert path.is_file() and path.parent.parent == home / "cache" / "exemplars"
    assert path.name == f"{file_sha256(exemplar.image_path)}-64.png"
    assert POLICY.replace("+", "_") in str(path)

    def not_again(*args, **kwargs):
        raise AssertionError("recomputed instead of read from the cache")

    monkeypatch.setattr(preprocess, "square_image", not_again)
    monkeypatch.setattr(preprocess, "open_rgb", not_again)
    second = exemplar_image(exemplar, 64)
    assert second.mode == "RGB" and np.array_equal(np.asarray(first), np.asarray(second))
    assert np.array_equal(np.asarray(second), np.asarray(square_image(open_rgb(exemplar.image_path), 64)))


def test_size_and_content_are_part_of_the_key(tmp_path):
    exemplar = portrait(tmp_path / "p.png")
    small, large = exemplar_image(exemplar, 32), exemplar_image(exemplar, 48)
    assert small.size == (32, 32) and large.size == (48, 48)
    assert cache_path(exemplar, 32) != cache_path(exemplar, 48)
    before = np.asarray(exemplar_image(exemplar, 32))
    portrait(tmp_path / "p.png", colour=(40, 40, 200))  # the photo is replaced in place
    after = np.asarray(exemplar_image(exemplar, 32))  # a stale Exemplar.sha256 never hits the old entry
    assert not np.array_equal(before, after)
    assert after[16, 16, 2] > after[16, 16, 0]


def test_a_damaged_cache_entry_is_recomputed(tmp_path):
    exemplar = portrait(tmp_path / "p.png")
    expected = np.asarray(exemplar_image(exemplar, 32))
    cache_path(exemplar, 32).write_bytes(b"garbage")
    assert np.array_equal(np.asarray(exemplar_image(exemplar, 32)), expected)


def test_preprocess_action_fills_the_cache_for_every_exemplar(tmp_path):
    exemplars = tuple(portrait(tmp_path / f"{i}.png", colour=(200, 40 * i, 40)) for i in range(3))
    action = Action(name="bar", description="standing straight", exemplars=exemplars)
    images = preprocess_action(action, 24)
    assert [im.size for im in images] == [(24, 24)] * 3
    assert all(cache_path(e, 24).is_file() for e in exemplars)


def test_an_official_portrait_photo_is_padded_not_cropped(home, monkeypatch):
    from conftest import shared_path

    data = shared_path("actionbench")
    monkeypatch.setenv("ACTIONBENCH_DATA", str(data))
    from actionbench.data.official import load_official_benchmark

    exemplar = load_official_benchmark().actions["handstand"].exemplars[3]  # 04.jpg, a portrait photo
    original = open_rgb(exemplar.image_path)
    assert original.width < original.height
    square = exemplar_image(exemplar, 512)
    assert square.size == (512, 512)
    pad = (512 - round(original.width * 512 / original.height)) // 2
    columns = np.asarray(square)[:, : pad - 8].reshape(-1, 3)  # clear of the resampling filter's reach
    assert np.ptp(columns, axis=0).max() <= 2  # one flat fill colour: nothing of the photo was cut away
    assert cache_path(exemplar, 512).is_relative_to(home)  # cached in the user's home, never beside the data
    assert sorted(p.name for p in (data / "handstand").iterdir()) == sorted(
        [f"{i:02d}.{ext}" for i in range(1, 11) for ext in ("jpg", "txt")] + ["text.json"])


def test_a_missing_photo_is_one_clear_error(tmp_path):
    from actionbench.errors import ActionBenchError

    with pytest.raises(ActionBenchError) as error:
        exemplar_image(Exemplar(image_path=tmp_path / "gone.png", sha256="0" * 64), 32)
    assert str(error.value) == f"image {tmp_path / 'gone.png'} does not exist: check the path."
