"""``actionbench generate`` and ``actionbench export`` end to end on the mini world, and their errors.

One small run (P+, two training steps, one action, one seed, the CLIP metrics) is shared by the
tests; P+ exercises the layer-wise loader, the format no stock diffusers call reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from actionbench.cli import main

METHOD, ACTION = "p_plus", "cheer"
TOLERANCE = 2  # of 255


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def error_line(capsys) -> str:
    return capsys.readouterr().err.strip()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("use") / "run"
    assert main(["run", "--benchmark", "mini", "--methods", METHOD, "--actions", ACTION, "--seeds", "0",
                 "--metrics", "clip", "--set", f"{METHOD}.steps=2", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def protocol_prompt(run_dir) -> tuple[str, str]:
    """The run's first image: (its prompt, its file)."""
    row = json.loads((run_dir / "units" / METHOD / ACTION / "images.jsonl").read_text().splitlines()[0])
    assert row["generator_seed"] == 0
    return row["prompt"], str(run_dir / "units" / METHOD / ACTION / row["file"])


@pytest.mark.slow
def test_generate_draws_the_runs_image_again_and_writes_sidecars_and_a_grid(run_dir, protocol_prompt, tmp_path,
                                                                              capsys):
    prompt, run_image = protocol_prompt
    out = tmp_path / "samples"
    capsys.readouterr()
    assert main(["generate", str(run_dir), "--method", METHOD, "--action", ACTION, "--prompt", prompt,
                 "--seeds", "0,1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    images = sorted(out.glob("*-s[01]-n25-g5.png"))
    assert len(images) == 2 and printed[:2] == [f"image: {p}" for p in images]
    # the run's settings and base model, rebuilt from its manifest: the board's image, drawn again
    assert int(np.abs(pixels(images[0]) - pixels(Path(run_image))).max()) <= TOLERANCE
    assert not np.array_equal(pixels(images[0]), pixels(images[1]))
    sidecar = json.loads(images[0].with_suffix(".json").read_text())
    assert (sidecar["prompt"], sidecar["seed"], sidecar["num_inference_steps"], sidecar["guidance_scale"]) == (
        prompt, 0, 25, 5.0)
    assert sidecar["filled_prompt"] == prompt.replace("{action}", "<action>")
    assert sidecar["method_config"]["steps"] == 2 and sidecar["base_model"]["name"] == "mini"
    assert sidecar["command"].startswith(f"actionbench generate {run_dir} --method {METHOD} --action {ACTION} ")
    grid = next(out.glob("*-grid-s0_1-n25-g5.png"))
    assert printed[2] == f"grid: {grid}"
    with Image.open(grid) as opened:  # 32 px images enlarged 4x, nearest neighbour: 2 cells of 128 px
        assert opened.width == 2 * 128 + 3 * 4
        cell = np.asarray(opened.convert("RGB"))[4:4 + 128, 4:4 + 128]
    assert np.array_equal(cell[::4, ::4], pixels(images[0]).astype(np.uint8))


@pytest.mark.slow
def test_generate_with_other_steps_and_guidance_defaults_into_the_run_but_not_its_units(run_dir, capsys):
    capsys.readouterr()
    assert main(["generate", str(run_dir), "--method", METHOD, "--action", ACTION,
                 "--prompt", "a corgi {action} on the moon", "--steps", "3", "--guidance", "1.5"]) == 0
    written = Path(capsys.readouterr().out.split("image: ")[1].strip())
    assert written == run_dir / "samples" / METHOD / ACTION / "a-corgi-action-on-the-moon-s0-n3-g1p5.png"
    assert json.loads(written.with_suffix(".json").read_text())["num_inference_steps"] == 3


@pytest.mark.slow
def test_generate_never_replaces_an_image_another_draw_made(run_dir, tmp_path, capsys):
    """File names hold the prompt's slug, seed, steps and guidance: a prompt of the same slug (or another
    unit or run) would have replaced the image. The same draw again rewrites it; another is refused."""
    out = tmp_path / "mine"
    command = ["generate", str(run_dir), "--method", METHOD, "--action", ACTION, "--steps", "2", "--out", str(out)]
    assert main(command + ["--prompt", "a corgi {action}"]) == 0
    image = out / "a-corgi-action-s0-n2-g5.png"
    first = image.read_bytes()
    assert main(command + ["--prompt", "a corgi {action}"]) == 0  # the same draw: rewritten, the same
    capsys.readouterr()
    assert main(command + ["--prompt", "A corgi, {action}"]) == 2
    assert error_line(capsys) == (
        f"actionbench: error: --out {out} already holds a-corgi-action-s0-n2-g5.png, drawn by {METHOD} on {ACTION} "
        f"of {run_dir.resolve()} from the prompt 'a corgi {{action}}': choose another --out (or leave --out out: "
        "each unit has its own folder).")
    assert image.read_bytes() == first


@pytest.mark.slow
def test_export_writes_a_model_card_whose_snippet_runs_without_the_suite(run_dir, tmp_path, capsys):
    folder = tmp_path / "hub"
    assert main(["export", str(run_dir), str(folder), "--method", METHOD, "--action", ACTION,
                 "--seeds", "0,1"]) == 0
    card = (folder / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["library_name"] == "diffusers" and front["license"] == "apache-2.0"
    assert {"actionbench", "p-plus"} <= set(front["tags"]) and "base_model" not in front  # mini is on no hub
    assert {"identifiers.safetensors", "identifiers.json", "pipeline.py", "example.py"} <= {
        p.name for p in folder.iterdir()}
    assert (folder / "base" / "tokenizer" / "vocab.json").is_file()
    example = (folder / "example.py").read_text()
    assert f"```python\n{example.rstrip()}\n```" in card
    # the unit's scores with their CIs, as the run's leaderboard has them
    board = [row.split(",") for row in (run_dir / "leaderboard.csv").read_text().splitlines()]
    header = board[0]
    clip_t = next(r for r in board if r[header.index("score")] == "clip_t" and r[header.index("action")] == ACTION)
    mean, low, high = (float(clip_t[header.index(k)]) for k in ("mean", "ci_low", "ci_high"))
    assert f"| CLIP-T (`clip_t`) | {mean:.3f} | [{low:.3f}, {high:.3f}] | 10 | higher is better |" in card
    grid = folder / "samples" / next(p.name for p in (folder / "samples").glob("*-grid-*.png"))
    assert f"![samples](samples/{grid.name})" in card

    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "hf-modules"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    probe = ("import runpy, sys; runpy.run_path('example.py', run_name='__main__'); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'actionbench'))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=folder, capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
    seed0 = next((folder / "samples").glob("*-s0-n25-g5.png"))
    assert int(np.abs(pixels(folder / "sample.png") - pixels(seed0)).max()) <= TOLERANCE


# -- bad input: one line each --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("arguments, message", [
    (["--method", "adi", "--action", ACTION], "method 'adi' is not in run {run}: choose one of p_plus."),
    (["--method", METHOD, "--action", "salute"],
     "method 'p_plus' has no unit for action 'salute' in run {run}: choose one of cheer."),
    (["--method", METHOD, "--action", ACTION, "--prompt", "a corgi on the moon"],
     "the prompt 'a corgi on the moon' has no {{action}} placeholder: write where the action goes, "
     'e.g. "a corgi {{action}} on the moon".'),
    (["--method", METHOD, "--action", ACTION, "--seeds", "0,x"],
     "--seeds '0,x' is not a list of whole numbers: pass comma-separated seeds such as 0,1,2."),
    (["--method", METHOD, "--action", ACTION, "--prompt", "a dog {{action}} \udcff"],  # bytes not UTF-8
     "the prompt holds bytes that are not UTF-8 text: type the prompt again as UTF-8 text."),
    (["--method", METHOD, "--action", ACTION, "--prompt", "very " * 40 + "big dog {{action}}"],  # mini reads 30
     "the prompt has 42 tokens before {{action}} and the text encoder reads 30: the action would be cut off: "
     "shorten the words before {{action}}."),
    (["--method", METHOD, "--action", ACTION, "--steps", "0"],
     "--steps must be a positive number of sampling steps, not 0: pass e.g. --steps 50."),
    (["--method", METHOD, "--action", ACTION, "--out", "{run}/units/p_plus"],
     "--out {run}/units/p_plus is inside the run's units folder, which holds the run's results: "
     "choose a folder outside {run}/units."),
])
def test_generate_refuses_bad_input_in_one_line(run_dir, arguments, message, capsys):
    arguments = [a.format(run=run_dir) for a in arguments]
    if "--prompt" not in arguments:
        arguments += ["--prompt", "a corgi {action}"]
    capsys.readouterr()
    assert main(["generate", str(run_dir), *arguments]) == 2
    assert error_line(capsys) == "actionbench: error: " + message.format(run=run_dir)
    assert not (run_dir / "units" / METHOD / "samples").exists()


@pytest.mark.slow
def test_a_prompt_whose_end_the_encoder_cuts_is_said(run_dir, tmp_path, capsys):
    """The text encoder truncates silently; the action is read, the end of the prompt is not."""
    capsys.readouterr()
    assert main(["generate", str(run_dir), "--method", METHOD, "--action", ACTION, "--seeds", "0",
                 "--prompt", "a dog {action} " + "very " * 40 + "far away", "--out", str(tmp_path / "long")]) == 0
    assert ("actionbench: note: the prompt is at least 45 tokens long and the text encoder reads 30: its end is "
            "cut (the action is read)") in capsys.readouterr().err


def test_generate_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["generate", str(tmp_path), "--method", METHOD, "--action", ACTION, "--prompt", "a {action}"]) == 2
    assert error_line(capsys) == (f"actionbench: error: {tmp_path} is not a run directory (no manifest.json): "
                                  "pass a folder written by 'actionbench run'.")
    assert main(["generate", str(tmp_path / "nowhere"), "--method", METHOD, "--action", ACTION,
                 "--prompt", "a {action}"]) == 2
    assert error_line(capsys) == (f"actionbench: error: run directory {tmp_path / 'nowhere'} does not exist: "
                                  "pass the folder of a run, e.g. runs/latest.")


@pytest.mark.slow
def test_a_unit_whose_training_did_not_finish_is_refused(run_dir, tmp_path, capsys):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("images", "samples"))
    (copy / "units" / METHOD / ACTION / "train.json").unlink()
    assert main(["generate", str(copy), "--method", METHOD, "--action", ACTION, "--prompt", "a {action}"]) == 2
    assert error_line(capsys) == (f"actionbench: error: p_plus/cheer has not finished training in run {copy}: "
                                  "resume the run with the command that started it, or choose a trained unit.")


@pytest.mark.slow
@pytest.mark.parametrize("command", ["generate", "export"])
def test_an_artifact_trained_under_other_settings_than_the_manifest_is_refused(run_dir, tmp_path, capsys, command):
    """A `run --set p_plus.steps=3 --replace` killed before it retrained the unit leaves the new
    settings in the manifest beside the old artifact: drawing or shipping it under them would lie."""
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("images", "samples"))
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["stage_keys"][f"{METHOD}/{ACTION}"]["train"] == json.loads(
        (copy / "units" / METHOD / ACTION / "train.json").read_text())["key"]
    manifest["method_configs"][METHOD]["steps"] = 3
    manifest["stage_keys"][f"{METHOD}/{ACTION}"]["train"] = "the key of the 3-step training"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    arguments = (["generate", str(copy), "--prompt", "a {action}"] if command == "generate"
                 else ["export", str(copy), str(tmp_path / "out")])
    assert main(arguments + ["--method", METHOD, "--action", ACTION]) == 2
    assert error_line(capsys) == (
        f"actionbench: error: p_plus/cheer in run {copy} is not the training its manifest records (a later 'run' "
        "changed the settings and did not redo this unit): finish it ('actionbench run' of this method and action "
        "with the run's settings), then try again.")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_export_refuses_a_folder_that_is_not_empty(run_dir, tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["export", str(run_dir), str(tmp_path), "--method", METHOD, "--action", ACTION]) == 2
    assert error_line(capsys) == f"actionbench: error: {tmp_path} is not empty: export into a new folder."
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_the_card_names_a_hub_base_and_the_official_exemplars_licence(tmp_path):
    """A run on Stable Diffusion and the official ActionBench: base_model metadata, CC BY-NC-ND said plainly."""
    from actionbench.base_models import BaseModel
    from actionbench.export import metadata, model_card
    from actionbench.loading import Snippet, artifact_format
    from actionbench.methods import METHODS
    from actionbench.samples import SampleRequest, TrainedUnit
    from actionbench.store import Unit

    artifact = tmp_path / "run" / "units" / "textual_inversion" / "cheer" / "artifact"
    artifact.mkdir(parents=True)
    (artifact / "learned_embeds.safetensors").write_bytes(b"")
    (artifact / "actionbench.json").write_text(json.dumps({"identifier": "<A>"}))
    trained = TrainedUnit(tmp_path / "run", Unit("textual_inversion", "cheer"),
                          {"benchmark": {"name": "actionbench", "version": "v", "protocol": {"subjects": []}},
                           "action_descriptions": {"cheer": "cheering"}, "seeds": [0, 1]},
                          METHODS.get("textual_inversion").config_cls(), BaseModel("stabilityai/stable-diffusion-2-1", None),
                          "key")
    fmt = artifact_format(artifact)
    front = metadata(trained, fmt)
    assert (front["base_model"], front["license"], front["library_name"]) == (
        "stabilityai/stable-diffusion-2-1", "cc-by-nc-nd-4.0", "diffusers")
    snippet = Snippet("stabilityai/stable-diffusion-2-1", ".", "a cat <A>", 0, 50, 7.5)
    card = model_card(trained, fmt, snippet, SampleRequest("a cat {action}", (0,), 50, 7.5), [], "samples/x.png")
    assert yaml.safe_load(card.split("---\n")[1]) == front
    assert "licensed **CC BY-NC-ND 4.0**: non-commercial use only" in card
    assert "pipe.load_textual_inversion(ARTIFACT)" in card and "`a corgi <A> on the moon`" in card


@pytest.mark.slow
def test_the_reference_method_is_not_exported_and_generate_says_what_it_draws(tmp_path, capsys):
    """``plain`` has one unit shared by every action: its card named the action "_shared" with an empty
    placeholder; generate drew it for `--action cheer` without a word."""
    run = tmp_path / "run"
    assert main(["run", "--methods", "blank", "--actions", "cheer", "--seeds", "0", "--metrics", "leakage",
                 "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["export", str(run), str(tmp_path / "card"), "--method", "plain", "--action", "cheer"]) == 2
    assert error_line(capsys) == ("actionbench: error: plain is the run's reference (the subject alone, one unit for "
                                  "every action): it learned no action to export: export a method trained on the "
                                  "action.")
    assert not (tmp_path / "card").exists()
    assert main(["generate", str(run), "--method", "plain", "--action", "cheer", "--seeds", "0",
                 "--prompt", "a cat {action}", "--out", str(tmp_path / "drawn")]) == 0
    assert ("actionbench: note: plain is the run's reference: it draws the subject alone, the same for every "
            "action (cheer included)") in capsys.readouterr().err
