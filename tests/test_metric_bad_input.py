"""Bad input never crashes a metric: odd images are converted, unreadable ones are recorded failures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from skimage import data

from actionbench.metrics import METRICS
from metric_helpers import (FakeClipModel, action_from_files, benchmark_of, context_for, fake_clip_context, records_for,
                            save, textured)

METRIC_NAMES = ("pose", "clip", "subject", "leakage", "judge")


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    """(path, expected failure or None when the image must be converted and scored)."""
    folder = tmp_path_factory.mktemp("bad")
    photo = Image.fromarray(data.astronaut())
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(photo.size))
    cases = {
        "grayscale": (save(photo.convert("L"), folder / "gray.png"), None),
        "rgba": (save(rgba, folder / "rgba.png"), None),
        "tiny": (save(photo.resize((8, 8)), folder / "tiny.png"), None),
        "large": (save(photo.resize((2400, 2400)), folder / "large.jpg"), None),
        "no person": (save(data.coffee(), folder / "coffee.png"), None),
    }
    truncated = folder / "truncated.png"
    truncated.write_bytes(cases["grayscale"][0].read_bytes()[:3000])
    empty = folder / "empty.png"
    empty.write_bytes(b"")
    text = folder / "notes.png"
    text.write_text("not an image")
    bomb = save(Image.new("L", (9000, 8000)), folder / "bomb.png")
    cases.update({
        "truncated": (truncated, f"image {truncated} cannot be read (image file is truncated): "
                                 "the file is truncated or corrupt; replace it."),
        "empty": (empty, f"image {empty} is empty (0 bytes): replace it with a valid image."),
        "not an image": (text, f"{text} is not an image file: remove it or convert it to JPEG or PNG."),
        "missing": (folder / "missing.png", f"image {folder / 'missing.png'} does not exist: check the path."),
        "too large": (bomb, f"image {bomb} has more than 64,000,000 pixels (refused as a possible decompression "
                            "bomb): downscale it below 64,000,000 pixels."),
    })
    return cases


@pytest.mark.parametrize("metric_name", METRIC_NAMES)
def test_every_metric_converts_odd_images_and_records_unreadable_ones(metric_name, bad_inputs, tmp_path):
    exemplar = save(data.astronaut(), tmp_path / "exemplar.png")
    action = action_from_files("pose_of_astronaut", [exemplar])
    paths = [path for path, _ in bad_inputs.values()]
    records = records_for(paths, action, references=[exemplar] * len(paths))
    metric = METRICS.get(metric_name)()
    results = metric.score(records, context_for(benchmark_of([action]), action))
    assert len(results) == len(records)
    for (case, (path, expected)), result in zip(bad_inputs.items(), results):
        assert set(result.values) == {info.name for info in metric.scores}
        if expected is not None:
            assert result.failure == expected, case
            assert all(math.isnan(v) for v in result.values.values()), case
        elif metric_name == "pose" and case in ("tiny", "no person"):
            assert result.values["pose_detected"] == 0.0 and result.failure == "no person found", case
        else:
            assert result.failure is None, (case, result.failure)
            assert all(math.isfinite(v) for v in result.values.values()), case


def test_grayscale_rgba_and_large_photos_keep_their_pose(bad_inputs, tmp_path):
    exemplar = save(data.astronaut(), tmp_path / "exemplar.png")
    action = action_from_files("pose_of_astronaut", [exemplar])
    paths = [bad_inputs[case][0] for case in ("grayscale", "rgba", "large")]
    results = METRICS.get("pose")().score(records_for(paths, action), context_for(benchmark_of([action]), action))
    assert [r.values["pose_detected"] for r in results] == [1.0, 1.0, 1.0]
    oks = [r.values["pose_oks"] for r in results]
    assert oks[0] > 0.85 and oks[2] > 0.85 and oks[1] > 0.75, oks  # RGBA: half the photo fades to white


@pytest.mark.parametrize("metric_name", ("clip", "subject", "judge"))
def test_nan_embeddings_are_recorded_failures(metric_name, tmp_path):
    # Not flat, so the judge asks CLIP (a flat image shows nothing, whatever its embedding: metrics/flat.py).
    red, green = (save(textured(colour, (32, 32)), tmp_path / f"{i}.png")
                  for i, colour in enumerate([(200, 0, 0), (0, 200, 0)]))
    model = FakeClipModel({(200, 0, 0): [1.0, 0.0]}, {"cat": [1.0, 0.0], "man": [0.0, 1.0], "doing": [0.5, 0.5]})
    action = action_from_files("wave", [red])
    context = fake_clip_context(context_for(benchmark_of([action]), action), model)
    results = METRICS.get(metric_name)().score(records_for([red, green], action), context)
    assert results[0].failure is None and all(np.isfinite(list(results[0].values.values())))
    assert results[1].failure == "the CLIP image embedding is not finite (NaN or infinite)"
    assert all(math.isnan(v) for v in results[1].values.values())


def test_builtin_metrics_declare_unique_score_names():
    """The board groups rows by score name: two metrics sharing one would count each image twice."""
    from actionbench.metrics import _BUILTIN

    names = [info.name for name, _, _ in _BUILTIN for info in METRICS.get(name).scores]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_a_metric_that_raises_costs_only_the_bad_images_result(tmp_path):
    """The framework's guard: a metric that raises on one image of a batch is retried image by image."""
    from PIL import Image

    from actionbench.imageio import open_rgb
    from actionbench.metrics.base import Metric, MetricResult, ScoreInfo, score_safely

    class Fragile(Metric):
        name = "fragile"
        scores = (ScoreInfo("width", "image width"),)

        def score(self, records, context):
            return [MetricResult({"width": float(open_rgb(r.path).width)}) for r in records]

    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    Image.new("RGB", (7, 5)).save(good)
    bad.write_bytes(b"not an image")
    from actionbench.data import Action, Exemplar

    action = Action("wave", "waving", (Exemplar(good, "0"),))
    records = records_for([good, bad, good], action)
    results = score_safely(Fragile(), records, None)
    assert [r.values["width"] for r in results][::2] == [7.0, 7.0]
    assert results[1].failure == f"{bad} is not an image file: remove it or convert it to JPEG or PNG."

    class Broken(Fragile):
        def score(self, records, context):
            raise ZeroDivisionError("a bug, not bad input")

    with pytest.raises(ZeroDivisionError):  # every image fails the same way: the metric is broken, say so
        score_safely(Broken(), records, None)
