"""CLIP-T / CLIP-I: the formula against torchmetrics' CLIPScore, the offline model paths, real weights when given."""

from __future__ import annotations


from typing import get_args, get_type_hints

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from skimage import data

from actionbench.data import fill_action
from actionbench.errors import ActionBenchError
from actionbench.metrics import METRICS
from actionbench.metrics.clip_score import REDUCTIONS, ClipSettings, clip_i_score, clip_t_score
from actionbench.metrics.features import encode_images, encode_texts
from actionbench.perception.clip_models import WEIGHTS_ENV, load_clip
from actionbench.perception.settings import ScorerConfig
from actionbench.plan import metric_config
from clip_fixtures import save_tiny_hf_clip
from metric_helpers import CAT, MAN, action_from_files, benchmark_of, context_for, real_clip_scorers, records_for, save

PHOTOS = {"astronaut": data.astronaut, "coffee": data.coffee, "cat": data.chelsea, "rocket": data.rocket}
CAPTIONS = {"astronaut": "a photo of an astronaut", "coffee": "a photo of a cup of coffee",
            "cat": "a photo of a cat", "rocket": "a photo of a rocket"}


class TensorFeatures(torch.nn.Module):
    """transformers >= 5 returns a ModelOutput from get_*_features; torchmetrics 1.9 expects the tensor
    (Lightning-AI/torchmetrics#3407, fixed after 1.9.0 by #3408). This unwraps it, nothing else."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.config = model.config

    def get_image_features(self, *args, **kwargs):
        return self.model.get_image_features(*args, **kwargs).pooler_output

    def get_text_features(self, *args, **kwargs):
        return self.model.get_text_features(*args, **kwargs).pooler_output


def test_clip_t_equals_torchmetrics_clipscore_on_the_same_model(tmp_path):
    from torchmetrics.multimodal.clip_score import CLIPScore
    from transformers import CLIPModel, CLIPProcessor

    folder = save_tiny_hf_clip(tmp_path / "clip")
    arrays = {name: make() for name, make in PHOTOS.items()}
    # Through the metric class, as the runner calls it: the prompt's {action} gets the description.
    paths = [save(array, tmp_path / f"{name}.png") for name, array in arrays.items()]
    action = action_from_files("raise", paths[:1], description="raising an arm")
    context = context_for(benchmark_of([action]), action, clip_model=str(folder))
    records = records_for(paths, action)
    results = METRICS.get("clip")().score(records, context)
    ours = [r.values["clip_t"] for r in results]

    model, processor = CLIPModel.from_pretrained(str(folder)).eval(), CLIPProcessor.from_pretrained(str(folder))
    reference = CLIPScore(model_name_or_path=lambda: (TensorFeatures(model), processor))
    positive = 0
    for array, record, value, result in zip(arrays.values(), records, ours, results):
        reference.reset()
        prompt = fill_action(record.prompt, "raising an arm")
        with torch.no_grad():
            expected = float(reference(torch.from_numpy(array).permute(2, 0, 1), prompt))
        assert max(value, 0.0) == pytest.approx(expected / 100.0, abs=1e-5)
        assert result.values["clip_score"] == pytest.approx(expected, abs=1e-3)  # CLIPScore's own scale
        positive += value > 0.01
    assert positive >= 2  # the comparison is not all clipped zeros


def test_tiny_random_clip_is_offline_deterministic_and_uses_clip_tokens():
    first = load_clip(ScorerConfig(clip_model="tiny-random"))
    second = load_clip(ScorerConfig(clip_model="tiny-random"))
    image = Image.fromarray(data.astronaut())
    assert np.array_equal(encode_images(first, [image]), encode_images(second, [image]))
    tokens = first.tokenizer(["a photo of a cat"])[0]
    assert tokens[:7].tolist() == [49406, 320, 1125, 539, 320, 2368, 49407]
    features = encode_texts(first, ["a photo of a cat", "a dog"])
    assert features.shape == (2, 32) and np.allclose(np.linalg.norm(features, axis=1), 1.0)


def test_clip_metric_scores_are_the_documented_cosines(tmp_path):
    paths = [save(make(), tmp_path / f"{name}.png") for name, make in PHOTOS.items()]
    action = action_from_files("wave", paths[:2], description="waving a hand")
    context = context_for(benchmark_of([action]), action)
    records = records_for(paths, action, subjects=[MAN, CAT, MAN, CAT])
    results = METRICS.get("clip")().score(records, context)
    bundle = load_clip(ScorerConfig(clip_model="tiny-random"))
    images = [Image.open(p).convert("RGB") for p in paths]
    features = encode_images(bundle, images)
    texts = encode_texts(bundle, ["a man waving a hand", "a cat waving a hand"] * 2)
    exemplars = features[:2]
    for i, result in enumerate(results):
        assert result.failure is None
        assert result.values["clip_t"] == pytest.approx(float(features[i] @ texts[i]), abs=1e-6)
        assert result.values["clip_i"] == pytest.approx(float(np.mean(exemplars @ features[i])), abs=1e-6)
        assert result.values["clip_score"] == pytest.approx(100 * max(float(features[i] @ texts[i]), 0.0), abs=1e-4)
    # an image that is an exemplar has CLIP-I max of 1 against it
    nearest = METRICS.get("clip")().score(records[:1], context_for(benchmark_of([action]), action,
                                                                   settings=ClipSettings(reduction="max")))
    assert nearest[0].values["clip_i"] == pytest.approx(1.0, abs=1e-6)


def test_long_prompts_and_unreadable_exemplars_are_said(tmp_path, capsys):
    paths = [save(make(), tmp_path / f"{name}.png") for name, make in PHOTOS.items()]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    long_description = " ".join(["raising both arms high above the head in celebration"] * 10)
    action = action_from_files("wave", [paths[0], broken], description=long_description)
    shared: dict = {}
    results = METRICS.get("clip")().score(records_for(paths[2:], action),
                                          context_for(benchmark_of([action]), action, shared=shared))
    assert all(r.failure is None and np.isfinite(r.values["clip_i"]) for r in results)
    notes = capsys.readouterr().err.splitlines()
    long = [n for n in notes if "are longer than" in n]
    assert len(long) == 1 and long[0].startswith(
        "actionbench: note: clip: 1 prompt(s) of action wave are longer than the CLIP text encoder's 77 tokens "
        "(up to 94); clip_t and clip_score read only their first 77 tokens, e.g. 'a man raising both arms")
    unreadable = [n for n in notes if "cannot be read" in n]
    assert unreadable == [f"actionbench: note: clip: 1 of action wave's 2 exemplars cannot be read and are left out "
                          f"(CLIP-I is the mean over the others): {broken} is not an image file: remove it or "
                          f"convert it to JPEG or PNG"]
    # said once per process, not once per batch
    METRICS.get("clip")().score(records_for(paths[2:], action), context_for(benchmark_of([action]), action,
                                                                           shared=shared))
    assert capsys.readouterr().err == ""


def test_clip_i_functional_mean_max_and_nan_exemplars():
    images = np.array([[1.0, 0.0], [0.0, 2.0]])
    exemplars = np.array([[1.0, 0.0], [1.0, 1.0], [np.nan, np.nan]])
    root = np.sqrt(0.5)
    assert clip_i_score(images, exemplars, "mean") == pytest.approx([(1 + root) / 2, root / 2])
    assert clip_i_score(images, exemplars, "max") == pytest.approx([1.0, root])
    assert np.isnan(clip_i_score(images, exemplars[2:], "mean")).all()
    assert clip_t_score(np.array([[3.0, 4.0]]), np.array([[4.0, 3.0]])) == pytest.approx([24 / 25])
    with pytest.raises(ActionBenchError, match="reduction 'median' is unknown"):
        clip_i_score(images, exemplars, "median")


def test_bad_clip_settings_are_one_line_errors_at_plan_time(tmp_path):
    path = save(data.astronaut(), tmp_path / "a.png")
    benchmark = benchmark_of([action_from_files("wave", [path])])
    assert metric_config("clip", benchmark, {"reduction": "max"}) == ClipSettings(reduction="max")
    assert get_args(get_type_hints(ClipSettings)["reduction"]) == REDUCTIONS  # the setting offers what CLIP-I does
    for settings, message in [
        ({"reduction": "median"}, "settings for metric clip.reduction is 'median': it must be one of mean, max."),
        ({"reductoin": "max"}, "unknown setting 'reductoin' for metric clip: valid settings are reduction."),
    ]:
        with pytest.raises(ActionBenchError) as error:
            metric_config("clip", benchmark, settings)
        assert str(error.value) == message


def test_missing_weights_offline_is_one_line_naming_the_fix(monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    with pytest.raises(ActionBenchError) as error:
        load_clip(ScorerConfig(clip_model="ViT-B-32", clip_pretrained="openai"))
    assert str(error.value) == (
        "CLIP weights 'openai' for ViT-B-32 are not on this machine and cannot be downloaded: "
        "set ACTIONBENCH_CLIP_WEIGHTS=<local weights file> or --set scorers.clip_pretrained=<local file>, "
        "or choose another scorers.clip_model.")
    with pytest.raises(ActionBenchError) as error:
        load_clip(ScorerConfig(clip_model="ViT-B-32", clip_pretrained="/no/such/weights.pt"))
    assert str(error.value) == ("CLIP weights file /no/such/weights.pt does not exist: point ACTIONBENCH_CLIP_WEIGHTS "
                                "or scorers.clip_pretrained at a local weights file for ViT-B-32.")
    with pytest.raises(ActionBenchError, match="^unknown CLIP model 'ViT-Q-99': use an open_clip model name"):
        load_clip(ScorerConfig(clip_model="ViT-Q-99"))


def test_local_weights_file_via_environment_and_a_file_that_does_not_fit(tmp_path, monkeypatch):
    from actionbench.perception.clip_tiny import OPEN_CLIP_NAME

    tiny = load_clip(ScorerConfig(clip_model="tiny-random"))
    weights = tmp_path / "tiny.pt"
    torch.save(tiny.model.state_dict(), weights)
    monkeypatch.setenv(WEIGHTS_ENV, str(weights))
    loaded = load_clip(ScorerConfig(clip_model=OPEN_CLIP_NAME))  # an open_clip name: weights from the env
    image = Image.fromarray(data.coffee())
    assert np.allclose(encode_images(loaded, [image]), encode_images(tiny, [image]), atol=1e-6)
    wrong = tmp_path / "wrong.pt"
    torch.save({"visual.proj": torch.zeros(3)}, wrong)
    with pytest.raises(ActionBenchError, match=f"^CLIP weights file {wrong} does not fit {OPEN_CLIP_NAME} "):
        load_clip(ScorerConfig(clip_model=OPEN_CLIP_NAME, clip_pretrained=str(wrong)))


def test_hf_folder_without_config_is_one_line(tmp_path):
    with pytest.raises(ActionBenchError) as error:
        load_clip(ScorerConfig(clip_model=str(tmp_path)))
    assert str(error.value) == (f"CLIP model folder {tmp_path} has no config.json: point scorers.clip_model at a "
                                "Hugging Face CLIPModel saved with save_pretrained.")


def test_real_weights_clip_t_and_clip_i_separate_right_from_wrong(tmp_path):
    scorers = real_clip_scorers()
    bundle = load_clip(scorers)
    names = list(PHOTOS)
    images = [Image.fromarray(PHOTOS[n]()) for n in names]
    similarity = encode_images(bundle, images) @ encode_texts(bundle, [CAPTIONS[n] for n in names]).T
    print("CLIP-T, photos x captions:\n", np.round(similarity, 3))
    assert (similarity.argmax(axis=1) == np.arange(len(names))).all()
    # CLIP-I: a flipped, cropped astronaut is nearer the astronaut than the other photos are
    astronaut = images[0]
    variant = ImageOps.mirror(astronaut).crop((30, 30, 480, 500))
    features = encode_images(bundle, [variant] + images[1:])
    exemplar = encode_images(bundle, [astronaut])
    clip_i = clip_i_score(features, exemplar)
    print("CLIP-I to the astronaut: variant", round(clip_i[0], 3), "others", np.round(clip_i[1:], 3))
    assert clip_i[0] > clip_i[1:].max()


def test_clip_model_version_names_the_weights_a_run_scores_with(monkeypatch):
    """Score keys hold it (perception/settings.py: scorer_versions): other weights, another key."""
    import actionbench.mini  # noqa: F401  (registers the mini CLIP)
    from actionbench.fileio import file_sha256
    from actionbench.mini.clip import WEIGHTS_FILE
    from actionbench.perception.clip_models import clip_model_version

    monkeypatch.setenv(WEIGHTS_ENV, "/models/vit-l-14.bin")
    assert clip_model_version(ScorerConfig(clip_model="ViT-L-14")) == f"{WEIGHTS_ENV}=/models/vit-l-14.bin"
    assert clip_model_version(ScorerConfig(clip_model="ViT-L-14", clip_pretrained="openai")) is None  # in the config
    assert clip_model_version(ScorerConfig(clip_model="mini")) == f"mini-{file_sha256(WEIGHTS_FILE)[:12]}"
    assert clip_model_version(ScorerConfig(clip_model="tiny-random")) is None  # random weights from a fixed config
