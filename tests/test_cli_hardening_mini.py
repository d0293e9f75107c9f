"""``actionbench mini`` and ``validate-judge`` refuse bad values in one line before any work starts, and
``mini train`` keeps its caches in folders the suite owns and resumes only the training it was given."""

from __future__ import annotations

import dataclasses
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import torch

from actionbench.cli import main
from actionbench.mini.train import judge
from actionbench.mini.train.augment import load_reconstructions, reconstruction_cache, scorer_vae_dir, vae_reconstructions
from actionbench.mini.train.loop import CHECKPOINT, Trainer, check_workdir, read_checkpoint

SEED_RANGE = "give seeds from 0 to 4294967295."


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ACTIONBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def error_of(capsys, *args: str) -> str:
    assert main(list(args)) == 2
    return capsys.readouterr().err


BAD_VALUES = [
    (("render", "--count", "0"), "--count is 0: give a whole number >= 1."),
    (("render", "--count", "-3"), "--count is -3: give a whole number >= 1."),
    (("render", "--seed", "-1"), f"seed -1 in --seed is out of range: {SEED_RANGE}"),
    (("quality", "--images", "0"), "--images is 0: give a whole number >= 1."),
    (("quality", "--images", "-3"), "--images is -3: give a whole number >= 1."),
    (("quality", "--threads", "-2"), "--threads is -2: give a whole number >= 1."),
    (("quality", "--skip", "base,bogus"),
     "--skip names an unknown check 'bogus': choose from scorers, base, held-out, legibility."),
    (("export", "--components", ""), "--components '' names no component: give one or more of vae, unet, clip, "
                                     "keypoints, judge, comma-separated (or leave it out for all)."),
    (("train", "--component", "judge", "--lr", "0"), "--lr is 0.0: give a number > 0."),
    (("train", "--component", "judge", "--lr", "-1"), "--lr is -1.0: give a number > 0."),
    (("train", "--component", "judge", "--lr", "nan"), "--lr is nan, not a finite number: give a number > 0."),
    (("train", "--component", "judge", "--threads", "-1"), "--threads is -1: give a whole number >= 1."),
    (("train", "--component", "judge", "--threads", "0"), "--threads is 0: give a whole number >= 1."),
    (("train", "--component", "judge", "--seed", "-1"), f"seed -1 in --seed is out of range: {SEED_RANGE}"),
    (("train", "--component", "judge", "--minutes", "-1"), "--minutes is -1.0: give a number > 0."),
    (("train", "--component", "judge", "--minutes", "0"), "--minutes is 0.0: give a number > 0."),
]


@pytest.mark.parametrize("args, message", BAD_VALUES, ids=[" ".join(args) for args, _ in BAD_VALUES])
def test_bad_mini_values_are_one_line_before_any_work(capsys, tmp_path, home, args, message):
    out = tmp_path / "sheet.png"
    extra = ("--out", str(out)) if args[0] == "render" else ("--workdir", str(tmp_path / "w")) if args[0] == "train" else ()
    assert error_of(capsys, "mini", *args, *extra) == f"actionbench: error: {message}\n"
    assert not out.exists() and not (tmp_path / "w").exists() and not (home / "cache" / "mini" / "data").exists()


def judge_checkpoint(workdir: Path, **changes) -> Path:
    """A judge work folder's checkpoint, made without training (a stand-in module under the judge's name)."""
    settings = dataclasses.replace(judge.DEFAULTS, steps=10, batch_size=4, **changes)
    Trainer(workdir, {"judge": torch.nn.Linear(2, 2)}, settings).save()
    return workdir / CHECKPOINT


def test_a_work_folder_that_is_a_file_is_refused(capsys, tmp_path):
    (tmp_path / "afile").write_text("")
    for workdir in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        assert error_of(capsys, "mini", "train", "--component", "judge", "--workdir", str(workdir)) == (
            f"actionbench: error: --workdir {workdir}: {tmp_path / 'afile'} is a file, not a folder: "
            "give a new folder or this component's work folder.\n")


def test_another_components_checkpoint_is_refused_by_name(capsys, tmp_path):
    path = judge_checkpoint(tmp_path / "wj")
    assert error_of(capsys, "mini", "train", "--component", "keypoints", "--workdir", str(tmp_path / "wj")) == (
        f"actionbench: error: {path} is a checkpoint of the judge training, not of keypoints: "
        "give --component keypoints a new --workdir.\n")


def test_a_damaged_checkpoint_is_one_line_naming_it(capsys, tmp_path):
    path = judge_checkpoint(tmp_path / "wj")
    data = path.read_bytes()
    path.write_bytes(b"")
    fix = "delete it to start this training afresh, or give a new --workdir."
    assert error_of(capsys, "mini", "train", "--component", "judge", "--workdir", str(tmp_path / "wj")) == (
        f"actionbench: error: {path} cannot be read (Ran out of input): {fix}\n")
    path.write_bytes(data[:len(data) // 2])
    err = error_of(capsys, "mini", "train", "--component", "judge", "--workdir", str(tmp_path / "wj"))
    assert err.startswith(f"actionbench: error: {path} cannot be read (") and err.endswith(f"): {fix}\n")
    assert err.count("\n") == 1


@pytest.mark.parametrize("args, changed", [
    (("--steps", "10", "--batch-size", "8"), "--batch-size 4 -> 8"),
    (("--steps", "5", "--batch-size", "4"), "--steps 10 -> 5"),
    (("--steps", "10", "--batch-size", "4", "--lr", "0.001", "--seed", "3"), "--lr 0.002 -> 0.001, --seed 0 -> 3"),
])
def test_resuming_with_other_settings_is_refused_naming_them(capsys, tmp_path, args, changed):
    path = judge_checkpoint(tmp_path / "wj")
    assert error_of(capsys, "mini", "train", "--component", "judge", "--workdir", str(tmp_path / "wj"), *args) == (
        f"actionbench: error: {path} was trained with other settings ({changed}): "
        "re-run with its settings to resume it, or give a new --workdir.\n")


def test_more_steps_or_a_time_limit_extend_a_training(tmp_path):
    path = judge_checkpoint(tmp_path / "wj")
    assert read_checkpoint(path)["settings"] == {"steps": 10, "batch_size": 4, "lr": 2e-3, "seed": 0, "init": None}
    longer = dataclasses.replace(judge.DEFAULTS, steps=20, batch_size=4, minutes=1.0, threads=1)
    check_workdir(tmp_path / "wj", "judge", longer)  # allowed: no error


def test_reconstructions_are_cached_under_the_suites_cache_and_a_bad_cache_is_recomputed(tmp_path, home):
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    vae_dir = scorer_vae_dir()
    assert vae_dir is not None  # the shipped autoencoder
    cache = reconstruction_cache("test-4", vae_dir)
    assert cache.parent == home / "cache" / "mini" / "recon"
    for garbage in (b"not an array", np.zeros((3, 32, 32, 3), np.uint8), np.zeros((4, 32, 32, 3), np.float32),
                    np.array([{"pickled": 1}], dtype=object)):
        if isinstance(garbage, bytes):
            cache.write_bytes(garbage)
        else:
            with open(cache, "wb") as handle:
                np.save(handle, garbage)
        assert load_reconstructions(cache, images) is None
    recon = vae_reconstructions(images, "test-4")
    assert recon is not None and recon.shape == images.shape and recon.dtype == np.uint8
    assert np.array_equal(load_reconstructions(cache, images), recon)
    assert sorted(p.name for p in cache.parent.iterdir()) == [cache.name]  # written atomically: no temporary left


@pytest.fixture()
def benchmark_copy(fixture_benchmark, tmp_path) -> Path:
    return Path(shutil.copytree(fixture_benchmark, tmp_path / "bench"))


def test_validate_judge_refuses_a_damaged_exemplar(capsys, benchmark_copy):
    """An action that lists no checksums (a hand-written folder) is opened as `run` opens it at plan time."""
    toml = benchmark_copy / "arms_up" / "action.toml"
    action = tomllib.loads(toml.read_text())
    toml.write_text(tomli_w.dumps({**action, "exemplars": [{"file": e["file"]} for e in action["exemplars"]]}))
    image = benchmark_copy / "arms_up" / "01.png"
    image.write_bytes(b"")
    assert error_of(capsys, "validate-judge", "--actions", "all", "--benchmark", str(benchmark_copy)).splitlines()[-1] == (
        f"actionbench: error: image {image} is empty (0 bytes): replace it with a valid image.")


def test_validate_judge_checks_its_json_path_first(capsys, tmp_path, benchmark_copy):
    (tmp_path / "afile").write_text("")
    validate = ("validate-judge", "--actions", "all", "--benchmark", str(benchmark_copy), "--json")
    assert error_of(capsys, *validate, "") == (
        "actionbench: error: --json is empty: give a file to write the figures to, e.g. --json judge.json.\n")
    assert error_of(capsys, *validate, str(tmp_path)) == (
        f"actionbench: error: --json {tmp_path} is a folder: give a file, e.g. --json {tmp_path / 'judge.json'}.\n")
    assert error_of(capsys, *validate, str(tmp_path / "afile" / "x.json")) == (
        f"actionbench: error: --json {tmp_path / 'afile' / 'x.json'} is inside {tmp_path / 'afile'}, which is a file, "
        "not a folder: give a path in a folder.\n")


@pytest.mark.parametrize("out", ["", "sheet.jpg", "."])
def test_render_writes_only_a_png_file(capsys, out):
    """``--out sheet.jpg`` wrote PNG bytes under a .jpg name; ``--out ""`` tried to write the working folder."""
    assert error_of(capsys, "mini", "render", "--out", out) == (
        f"actionbench: error: --out {out!r} is not a .png file to write: give a file name ending in .png.\n")


class _Posterior:
    def __init__(self, pixels):
        self.mean = pixels[:, :1, ::4, ::4]
        self.std = torch.ones_like(self.mean)


class _Vae:
    """Stands in for the autoencoder: encode() returns something with ``latent_dist``."""

    config = type("Config", (), {"scaling_factor": 0.5})
    encodes = 0

    def encode(self, pixels):
        self.encodes += 1
        return type("Output", (), {"latent_dist": _Posterior(pixels)})


def test_the_latent_cache_is_written_whole_and_a_damaged_one_is_recomputed(tmp_path):
    from actionbench.mini.train.diffusion import encode_latents, read_latents

    images = np.random.default_rng(0).integers(0, 255, (6, 8, 8, 3), dtype=np.uint8)
    cache, vae = tmp_path / "latents.pt", _Vae()
    mean, std = encode_latents(vae, images, cache)
    assert read_latents(cache, len(images)) is not None and not list(tmp_path.glob(".*"))  # no temporary left
    again, _ = encode_latents(vae, images, cache)
    assert vae.encodes == 1 and torch.equal(again, mean)  # read back, not recomputed
    assert read_latents(cache, len(images) + 1) is None  # another dataset's size: not trusted
    cache.write_bytes(cache.read_bytes()[:50])  # cut short (a kill before the atomic write existed)
    assert read_latents(cache, len(images)) is None
    recomputed, _ = encode_latents(vae, images, cache)
    assert vae.encodes == 2 and torch.equal(recomputed, mean)
