"""Appearance leakage: colour-histogram maths, and on real photos copies leak, new scenes do not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image, ImageOps
from skimage import data

from actionbench.data import Protocol
from actionbench.imageio import open_rgb
from actionbench.metrics import METRICS
from actionbench.metrics.leakage import (NO_BACKGROUND, NO_REFERENCE, ONLY_ASKED_FOR, background_histogram,
                                         comparable_exemplars, context_similarity, histogram_intersection)
from actionbench.metrics.segmentation import PersonSegmenter
from conftest import shared_path
from metric_helpers import CAT, MAN, action_from_files, benchmark_of, context_for, records_for, save, solid


def test_histogram_intersection_and_background_weighting():
    red, blue = solid((220, 20, 20)), solid((20, 20, 220))
    h_red, h_blue = background_histogram(red), background_histogram(blue)
    assert h_red.sum() == pytest.approx(1.0) and histogram_intersection(h_red, h_red) == pytest.approx(1.0)
    assert histogram_intersection(h_red, h_blue) == 0.0
    # Left half red, right half blue; with the right half marked "person", only red is background.
    half = np.concatenate([np.asarray(red)[:, :32], np.asarray(blue)[:, 32:]], axis=1)
    person = np.zeros((64, 64))
    person[:, 32:] = 1.0
    assert histogram_intersection(background_histogram(Image.fromarray(half)), h_red) == pytest.approx(0.5)
    assert histogram_intersection(background_histogram(Image.fromarray(half), person), h_red) == pytest.approx(1.0)
    assert background_histogram(red, np.ones((64, 64))) is None  # all person: nothing to compare
    assert context_similarity(h_red, [None, h_blue, h_red]) == pytest.approx(1.0)
    assert np.isnan(context_similarity(None, [h_red]))


def test_leakage_is_relative_to_the_plain_prompt_image(tmp_path):
    exemplar = save(solid((220, 20, 20)), tmp_path / "red.png")
    action = action_from_files("wave", [exemplar])
    copy = save(solid((220, 20, 20), (80, 60)), tmp_path / "copy.png")
    other = save(solid((20, 220, 20)), tmp_path / "green.png")
    half = np.asarray(solid((220, 20, 20))).copy()
    half[:, 32:] = (20, 220, 20)
    plain = save(half, tmp_path / "plain.png")
    metric = METRICS.get("leakage")()
    assert metric.reference_method == "plain"
    results = metric.score(records_for([copy, other, copy], action, references=[plain, plain, None]),
                           context_for(benchmark_of([action]), action))
    assert results[0].values == pytest.approx({"leakage": 0.5, "context_similarity": 1.0})
    assert results[1].values == pytest.approx({"leakage": -0.5, "context_similarity": 0.0})
    assert results[2].failure == NO_REFERENCE and np.isnan(results[2].values["leakage"])
    assert results[2].values["context_similarity"] == pytest.approx(1.0)


def test_on_real_photos_copied_scenes_leak_and_the_exemplar_person_in_a_new_scene_does_not(tmp_path):
    """Generated stand-ins built from real photos: copies of exemplars (flipped, cropped), the exemplar's
    person cut out and put in a new scene, and photos of other people elsewhere."""
    photos = sorted(shared_path("photos").glob("*.jpg"))
    segmenter = PersonSegmenter()
    plain = save(data.astronaut(), tmp_path / "plain.png")
    groups: dict[str, list[float]] = {"copies": [], "exemplar person, new scene": [], "other photos": []}
    for name in ("cheer", "salute", "sit"):
        exemplars = sorted(shared_path("actionbench", name).glob("*.jpg"))
        action = action_from_files(name, exemplars)
        made = {key: [] for key in groups}
        for i in (1, 4, 7):
            photo = open_rgb(exemplars[i])
            width, height = photo.size
            made["copies"].append(save(ImageOps.mirror(photo).crop((width // 10, height // 10, width, height)),
                                       tmp_path / f"{name}-copy{i}.png"))
            person = segmenter.mask(photo)[..., None]
            scene = np.asarray(open_rgb(photos[i]).resize(photo.size))
            composite = (scene * (1 - person) + np.asarray(photo) * person).astype(np.uint8)
            made["exemplar person, new scene"].append(save(composite, tmp_path / f"{name}-new{i}.png"))
            made["other photos"].append(photos[i + 1])
        context = context_for(benchmark_of([action]), action)
        for key, paths in made.items():
            results = METRICS.get("leakage")().score(records_for(paths, action, references=[plain] * 3), context)
            assert all(r.failure is None for r in results)
            groups[key] += [r.values["leakage"] for r in results]
    means = {key: float(np.mean(values)) for key, values in groups.items()}
    print("mean leakage vs a plain-prompt stand-in:", {k: round(v, 3) for k, v in means.items()})
    assert means["copies"] > means["exemplar person, new scene"] + 0.3
    assert means["copies"] > means["other photos"] + 0.3
    assert min(groups["copies"]) > max(groups["exemplar person, new scene"])


def test_images_that_are_all_person_are_recorded_failures(tmp_path, monkeypatch):
    from actionbench.metrics import leakage

    exemplar = save(solid((220, 20, 20)), tmp_path / "red.png")
    photo = save(data.astronaut(), tmp_path / "a.png")
    # the segmentation says "all person" for the photo (256 px after downscaling), "no person" elsewhere
    monkeypatch.setattr(leakage, "person_weight",
                        lambda context, image, pose: np.full(image.size[::-1], float(image.size[0] > 100)))
    action = action_from_files("wave", [exemplar])
    result = METRICS.get("leakage")().score(records_for([photo], action), context_for(benchmark_of([action]), action))
    assert result[0].failure == NO_BACKGROUND and np.isnan(result[0].values["context_similarity"])
    action = action_from_files("wave", [photo])
    context = context_for(benchmark_of([action]), action)
    result = METRICS.get("leakage")().score(records_for([exemplar], action), context)
    assert result[0].failure == "no exemplar of action wave could be read or shows any background"


def test_a_scene_the_prompt_asks_for_is_not_counted_as_copied(tmp_path):
    """Exemplars on a beach (yellow) and in the snow (white); "a cat on a beach" drawn on a beach is
    fidelity to its prompt, not leakage: only the snow exemplar may have been copied. A subject whose
    prompt names no scene, or exemplars without labels, compare with every exemplar as before."""
    beach = save(solid((230, 200, 90)), tmp_path / "beach.png")
    snow = save(solid((245, 245, 250)), tmp_path / "snow.png")
    action = action_from_files("wave", [beach, snow])
    action = dataclasses.replace(action, exemplars=tuple(
        dataclasses.replace(e, scene=scene) for e, scene in zip(action.exemplars, ("beach", "snow"))))
    assert comparable_exemplars(action, "beach") == [False, True]
    assert comparable_exemplars(action, "") == [True, True]
    plain = save(solid((120, 120, 120)), tmp_path / "plain.png")
    drawn_on_beach = save(solid((230, 200, 90)), tmp_path / "made.png")
    benchmark = dataclasses.replace(benchmark_of([action]), protocol=Protocol(subjects=(MAN, CAT),
                                                                             subject_scenes={"cat": "beach"}))
    results = METRICS.get("leakage")().score(
        records_for([drawn_on_beach, drawn_on_beach], action, subjects=[CAT, MAN], references=[plain, plain]),
        context_for(benchmark, action))
    assert results[0].values == pytest.approx({"leakage": 0.0, "context_similarity": 0.0})  # the cat on its beach
    assert results[1].values == pytest.approx({"leakage": 1.0, "context_similarity": 1.0})  # the man asked for none
    only_beach = dataclasses.replace(action, exemplars=action.exemplars[:1])
    results = METRICS.get("leakage")().score(records_for([drawn_on_beach], only_beach, subjects=[CAT],
                                                         references=[plain]), context_for(benchmark, only_beach))
    assert results[0].failure == ONLY_ASKED_FOR.format(scene="beach") == (
        "every exemplar shows the scene the prompt asks for (beach): none left to have copied")
    assert np.isnan(results[0].values["leakage"])
