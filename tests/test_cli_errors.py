"""Bad input: one clear line on stderr, exit code 2, no traceback, finished results intact."""

import json
import shutil
from pathlib import Path

import pytest

from actionbench.cli import main

PLUGIN = str(Path(__file__).parent / "plugins" / "dummy_metric.py")


def run_cli(capsys, *args):
    code = main(["--plugins", PLUGIN, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def base_args(benchmark, out):
    return ["run", "--benchmark", str(benchmark), "--methods", "text", "--actions", "arms_up",
            "--metrics", "brightness", "--out", str(out)]


@pytest.mark.parametrize("flag, value, message", [
    ("--methods", "text,nope", "unknown method 'nope': choose one of "),
    ("--actions", "jump", "unknown action 'jump' in benchmark fixture: choose one of arms_out, arms_up, or 'all'."),
    ("--metrics", "fid", "unknown metric 'fid': choose one of "),
    ("--base-model", "/no/such/model", "base model '/no/such/model' not found: use "),
    ("--benchmark", "nonexistent", "unknown benchmark 'nonexistent': choose one of "),
])
def test_unknown_names_are_one_line(capsys, fixture_benchmark, tmp_path, flag, value, message):
    args = base_args(fixture_benchmark, tmp_path / "run")
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    code, out, err = run_cli(capsys, *args)
    assert code == 2
    assert err.startswith(f"actionbench: error: {message}")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing was started


def test_unknown_method_lists_the_valid_names(capsys, fixture_benchmark, tmp_path):
    args = base_args(fixture_benchmark, tmp_path / "run")
    args[args.index("--methods") + 1] = "nope"
    _, _, err = run_cli(capsys, *args)
    assert "text" in err and "plain" in err


def test_bad_config_file_and_setting(capsys, fixture_benchmark, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[method_settings.text]\nsteps = 3\n")
    code, _, err = run_cli(capsys, *base_args(fixture_benchmark, tmp_path / "run"), "--config", str(config))
    assert code == 2
    assert err == ("actionbench: error: unknown setting 'steps' in settings for method text: valid settings are "
                   "attention, fuse_micro_steps, generation_batch_size, gradient_accumulation_steps, gradient_checkpointing, "
                   "guidance_scale, mixed_precision, num_inference_steps, resolution, seed, train_batch_size, "
                   "use_8bit_adam.\n")
    code, _, err = run_cli(capsys, *base_args(fixture_benchmark, tmp_path / "run"), "--set", "text.seed=many")
    assert code == 2 and err == "actionbench: error: settings for method text.seed is 'many': it must be a number (int).\n"


def test_bad_metric_settings_are_one_line_before_any_work(capsys, fixture_benchmark, tmp_path):
    run = tmp_path / "run"
    for extra, message in [
        (["--set", "subject.typo=1"], "unknown setting 'typo' for metric subject: metric subject takes no settings."),
        (["--set", "pose.sacle=torso"], "unknown setting 'sacle' for metric pose: valid settings are area, mirror, "
                                        "scale, visible."),
        (["--set", "pose.scale=box"], "settings for metric pose.scale is 'box': it must be one of torso, coco_area."),
    ]:
        code, _, err = run_cli(capsys, *base_args(fixture_benchmark, run), *extra)
        assert (code, err) == (2, f"actionbench: error: {message}\n")
    config = tmp_path / "unknown-metric.toml"
    config.write_text("[metric_settings.judgee]\npose_threshold = 0.5\n")
    code, _, err = run_cli(capsys, *base_args(fixture_benchmark, run), "--config", str(config))
    assert code == 2 and err.startswith("actionbench: error: settings given for unknown metric 'judgee': choose one "
                                        "of brightness, clip, ")  # then every registered metric, sorted
    assert ", judge, leakage, pose, subject" in err and err.count("\n") == 1
    assert not run.exists()  # refused before the run directory was made


@pytest.mark.parametrize("extra, message", [
    (["--set", "text.train_batch_size=0"], "settings for method text.train_batch_size is 0: it must be a whole number "
                                           ">= 1."),
    (["--set", "text.guidance_scale=-2.0"], "settings for method text.guidance_scale is -2.0: it must be a number >= 0."),
    (["--set", "text.num_inference_steps=0"], "settings for method text.num_inference_steps is 0: it must be a whole "
                                              "number >= 1."),
    (["--set", "text.seed=-3"], "settings for method text.seed is -3: it must be a whole number from 0 to 4294967295."),
    (["--seeds", "3,-1"], "seed -1 in the run's seeds is out of range: give seeds from 0 to 4294967295."),
    (["--set", "pose.area=0"], "settings for metric pose.area is 0.0: it must be a number > 0."),
    (["--set", "pose.visible=1.5"], "settings for metric pose.visible is 1.5: it must be a number from 0 to 1."),
])
def test_values_out_of_range_are_one_line_before_any_work(capsys, fixture_benchmark, tmp_path, extra, message):
    """Of the right type but meaningless: refused when the run is planned, not as a failed unit later."""
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, *base_args(fixture_benchmark, run), *extra)
    assert (code, err) == (2, f"actionbench: error: {message}\n")
    assert not run.exists()


def test_a_misspelt_method_in_set_is_named(capsys, fixture_benchmark, tmp_path):
    code, _, err = run_cli(capsys, *base_args(fixture_benchmark, tmp_path / "run"), "--set", "txet.seed=1")
    assert code == 2 and err.startswith("actionbench: error: --set txet.seed=1: 'txet' is not a method, a metric or a "
                                        "run setting: methods: ")
    assert "text" in err and "metrics: " in err and err.endswith("run settings such as scorers.clip_model.\n")


@pytest.mark.parametrize("device, message", [
    ("tpu", "--device 'tpu' is not a device: give auto, cpu, cuda, cuda:N or mps."),
    ("cuda:x", "--device 'cuda:x' is not a device: give auto, cpu, cuda, cuda:N or mps."),
    ("cuda:64", "--device 'cuda:64' is not available on this machine (it has "),
])
def test_a_device_this_machine_cannot_use_is_one_line_before_any_work(capsys, fixture_benchmark, tmp_path, device,
                                                                       message):
    """Before, 'cuda' on a machine without one was a traceback from the manifest's device name."""
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, *base_args(fixture_benchmark, run), "--device", device)
    assert code == 2 and err.startswith(f"actionbench: error: {message}") and err.count("\n") == 1
    assert not run.exists()


def test_a_seed_given_twice_is_drawn_and_counted_once(capsys, fixture_benchmark, tmp_path):
    """Twice, its images would be scored twice: the same images, an interval too narrow."""
    run = tmp_path / "run"
    code, _, _ = run_cli(capsys, *base_args(fixture_benchmark, run), "--seeds", "4,4,5")
    assert code == 0
    assert json.loads((run / "manifest.json").read_text())["seeds"] == [4, 5]
    rows = [json.loads(line) for line in (run / "units" / "text" / "arms_up" / "scores.jsonl").read_text().splitlines()]
    assert len({(row["image_id"], row["score"]) for row in rows}) == len(rows) == 2 * 2 * 2  # 2 subjects, 2 scores


def test_a_protocol_with_a_seed_twice_is_refused(capsys, tmp_path):
    from fixtures import write_benchmark

    broken = write_benchmark(tmp_path / "bench", seeds=(0, 0))
    code, _, err = run_cli(capsys, *base_args(broken, tmp_path / "run"))
    assert (code, err) == (2, "actionbench: error: the seed '0' is listed twice in the protocol: remove one of them.\n")


def test_corrupt_exemplar_is_named_before_any_work(capsys, fixture_benchmark, tmp_path):
    import tomli_w
    import tomllib

    from actionbench.fileio import file_sha256

    broken = tmp_path / "bench"
    shutil.copytree(fixture_benchmark, broken)
    image = broken / "arms_up" / "01.png"
    data = image.read_bytes()
    image.write_bytes(data[:len(data) // 2])  # truncated
    code, _, err = run_cli(capsys, *base_args(broken, tmp_path / "run"))
    assert code == 2
    assert err == (f"actionbench: error: exemplar {image} of action 'arms_up' does not match the sha256 in "
                   "action.toml: restore the original photo, or add the action again (--force) to take the new one.\n")

    spec = tomllib.loads((broken / "arms_up" / "action.toml").read_text())
    spec["exemplars"][1]["sha256"] = file_sha256(image)  # a photo that was already broken when it was added
    (broken / "arms_up" / "action.toml").write_text(tomli_w.dumps(spec))
    code, _, err = run_cli(capsys, *base_args(broken, tmp_path / "run"))
    assert code == 2
    assert err == (f"actionbench: error: image {image} cannot be read (image file is truncated): the file is "
                   "truncated or corrupt; replace it.\n")
    assert not (tmp_path / "run").exists()


def test_unwritable_output_folder(capsys, fixture_benchmark, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = run_cli(capsys, *base_args(fixture_benchmark, blocker / "run"))
    assert code == 2
    assert err.startswith(f"actionbench: error: cannot write to {blocker / 'run'} (")
    assert err.endswith("): choose a writable output folder with --out.\n")


def test_run_dir_from_an_incompatible_version_is_refused_and_kept(capsys, fixture_benchmark, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    manifest = {"format_version": 999, "benchmark": {"name": "fixture"}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = run_cli(capsys, *base_args(fixture_benchmark, run))
    assert code == 2
    assert err == (f"actionbench: error: {run} was written by an incompatible version of actionbench (run format "
                   "999, this version reads 1): re-run into a new --out folder.\n")
    assert json.loads((run / "manifest.json").read_text()) == manifest  # untouched
    code, _, err = run_cli(capsys, "report", str(run))
    assert code == 2 and "incompatible version" in err


@pytest.mark.parametrize("rows, extra, message", [
    ("adi,overall,pose_oks,abc,0.1", [], "baseline {path}: mean 'abc' of adi on overall (pose_oks) is not a number: "
                                         "write a number there."),
    ("adi,overall,pose_oks,0.4,-1", [], "baseline {path}: tolerance -1 of adi on overall (pose_oks) is not a number "
                                        ">= 0: write a number >= 0 there."),
    ("adi,overall,pose_oks,0.4,", ["--tolerance", "-0.1"], "--tolerance is -0.1: give a shortfall >= 0, e.g. "
                                                            "--tolerance 0.02."),
])
def test_a_baseline_that_cannot_be_checked_is_one_line(capsys, tmp_path, rows, extra, message):
    """A text mean was a TypeError traceback mid-check; a negative tolerance failed every run."""
    path = tmp_path / "baseline.csv"
    path.write_text(f"method,action,score,mean,tolerance\n{rows}\n")
    code, _, err = run_cli(capsys, "check", str(tmp_path), "--baseline", str(path), *extra)
    assert (code, err) == (2, f"actionbench: error: {message.format(path=path)}\n")


def test_report_and_check_on_a_folder_that_is_not_a_run(capsys, tmp_path):
    code, _, err = run_cli(capsys, "report", str(tmp_path))
    assert code == 2
    assert err == (f"actionbench: error: {tmp_path} is not a run directory (no manifest.json): pass a folder written "
                   "by 'actionbench run'.\n")
    baseline = tmp_path / "baseline.csv"
    baseline.write_text("method,score\nx,y\n")
    code, _, err = run_cli(capsys, "check", str(tmp_path), "--baseline", str(baseline))
    assert code == 2
    assert err == (f"actionbench: error: baseline {baseline} lacks column(s) action, mean: pass a leaderboard.csv "
                   "written by 'actionbench report'.\n")


def test_list_says_benchmark_is_for_actions_only(capsys):
    """``list methods --benchmark x`` ignored the flag; every benchmark lists the same methods."""
    code, _, err = run_cli(capsys, "list", "methods", "--benchmark", "x")
    assert code == 2
    assert err == ("actionbench: error: --benchmark applies to 'list actions', not to 'list methods': "
                   "leave --benchmark out.\n")
    assert run_cli(capsys, "list", "actions")[0] == 0  # the default benchmark still
