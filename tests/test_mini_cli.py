"""``actionbench mini`` and a CLI run on the mini world (the CI configuration, against its baseline)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from actionbench.cli import main

CI_CONFIG = Path(__file__).parent / "data" / "mini-ci.toml"
CI_BASELINE = Path(__file__).parent / "data" / "mini-ci-baseline.csv"


def test_render_writes_a_contact_sheet(tmp_path, capsys):
    out = tmp_path / "sheet.png"
    assert main(["mini", "render", "--count", "3", "--out", str(out)]) == 0
    with Image.open(out) as sheet:
        assert sheet.size == (3 * 32 * 3, 19 * 32 * 3)  # 10 held-in + 8 held-out actions + random poses
    assert "contact sheet:" in capsys.readouterr().out


def test_train_refuses_a_non_positive_step_count(capsys):
    assert main(["mini", "train", "--component", "judge", "--steps", "0"]) == 2
    assert capsys.readouterr().err.strip() == "actionbench: error: --steps is 0: give a whole number >= 1."


def test_train_starts_from_exported_weights_for_keypoints_and_unet_only(tmp_path, capsys):
    assert main(["mini", "train", "--component", "judge", "--init", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        "actionbench: error: --init is not supported for --component judge: "
        "leave --init out (only keypoints and unet start from exported weights).")
    assert main(["mini", "train", "--component", "keypoints", "--init", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"actionbench: error: --init {tmp_path} holds no exported weights (no config.json): "
        "give a folder written by export, e.g. actionbench/mini/weights/keypoints.")
    assert main(["mini", "train", "--component", "unet", "--init", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"actionbench: error: --init {tmp_path} holds no exported weights (no model_index.json): "
        "give a folder written by export, e.g. actionbench/mini/weights/pipeline.")
    (tmp_path / "config.json").write_text("{}")  # a config without its weights: named, not "reinstall the package"
    assert main(["mini", "train", "--component", "keypoints", "--init", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"actionbench: error: --init {tmp_path} holds no exported weights (no model.safetensors): "
        "give a folder written by export, e.g. actionbench/mini/weights/keypoints.")


def test_train_moves_only_the_unet_to_another_device_and_only_one_that_exists(capsys):
    assert main(["mini", "train", "--component", "vae", "--device", "cpu"]) == 2
    assert capsys.readouterr().err.strip() == ("actionbench: error: --device is not supported for --component vae: "
                                               "leave --device out (only unet trains on another device).")
    assert main(["mini", "train", "--component", "unet", "--device", "teapot"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("actionbench: error: --device teapot cannot be used here (") and "\n" not in error
    assert error.endswith("give a device this machine has (cpu, or cuda on a GPU machine).")


def test_train_refuses_an_unknown_component(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["mini", "train", "--component", "teapot"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'teapot'" in capsys.readouterr().err


def test_export_refuses_a_training_that_has_not_run(tmp_path, capsys):
    assert main(["mini", "export", "--components", "judge", "--train-root", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"actionbench: error: judge has no finished training in {tmp_path / 'judge'}: "
        "run: actionbench mini train --component judge.")


@pytest.mark.slow
def test_the_ci_configuration_runs_and_meets_its_baseline(tmp_path, capsys):
    """The mini world end to end: train, generate and score two actions, then check the board."""
    out = tmp_path / "run"
    assert main(["run", "--config", str(CI_CONFIG), "--out", str(out)]) == 0
    assert (out / "leaderboard.csv").is_file()
    assert main(["check", str(out), "--baseline", str(CI_BASELINE)]) == 0, capsys.readouterr().out
