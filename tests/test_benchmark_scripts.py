"""The speed benchmarks run and print their tables (their shape, not their times)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run_script(name: str, *args: str, env: dict[str, str] | None = None) -> list[str]:
    result = subprocess.run([sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True, check=False,
                            env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.splitlines()


def numbers(line: str, count: int) -> list[float]:
    return [float(value.rstrip("%")) for value in line.split()[-count:]]


def test_mini_budget_quick_prints_seconds_per_stage_and_method(tmp_path):
    lines = run_script("mini_budget.py", "--quick", "--jobs", "main", "--workers", "2", "--keep",
                       str(tmp_path / "runs"), env={"ACTIONBENCH_HOME": str(tmp_path / "unused-home")})
    assert "2 worker(s)" in lines[0]
    header = lines.index("job main: seconds per stage and method (cold cache)") + 1
    assert lines[header].split() == ["method", "train", "generate", "score", "total", "share"]
    rows = lines[header + 1:header + 5]
    # ADI and DreamBooth on one action, and plain: the leakage metric's shared reference unit
    assert [row.split()[0] for row in rows] == ["adi", "dreambooth", "plain", "total"]
    for row in rows:
        train, generate, score, total, _share = numbers(row, 5)
        assert min(train, generate, score) >= 0 and abs(train + generate + score - total) <= 0.15
    assert sum(numbers(row, 1)[0] for row in rows[:-1]) == pytest.approx(100, abs=0.2)
    assert lines[header + 5].startswith("wall time ")
    # cold cache: the job got its own ACTIONBENCH_HOME (exemplars rendered there), not the caller's
    assert list((tmp_path / "runs" / "main" / "home" / "cache" / "mini" / "benchmark").iterdir())
    assert not (tmp_path / "unused-home").exists()
    # the run itself got --workers 2 (its manifest records what ran)
    assert json.loads((tmp_path / "runs" / "main" / "run" / "manifest.json").read_text())["config"]["workers"] == 2


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), BENCHMARKS / name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_gpu_steps_runs_every_step_on_the_tiny_pipeline_on_a_cpu(capsys):
    gpu_steps = load_script("gpu_steps.py")
    assert gpu_steps.main(["--config", "tiny", "--sizes", "64", "--batches", "1", "--device", "cpu",
                           "--warmup", "0", "--repeats", "1", "--window", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("training and denoising steps: tiny weights (random), CPU")
    assert lines[1].split() == ["method", "size", "batch", "loop", "ms/step", "peak", "MiB", "TFLOP/s", "speed-up"]
    rows = [line.split() for line in lines[2:]]
    methods = ["textual_inversion", "dreambooth", "dreambooth_lora", "custom_diffusion", "p_plus", "adi", "cfg"]
    assert [row[:4] for row in rows] == [[m, "64", "1", loop] for m in methods for loop in ("eager", "optimised")]
    for eager, optimised in zip(rows[::2], rows[1::2]):
        assert eager[-1] == "-"
        assert float(optimised[-1].rstrip("x")) == pytest.approx(float(eager[4]) / float(optimised[4]), rel=0.02)
        for row in (eager, optimised):
            assert float(row[4]) > 0 and float(row[5]) > 0 and float(row[6]) > 0  # every step did counted work


def test_gpu_steps_says_oom_for_a_step_that_does_not_fit_and_measures_the_rest(capsys, monkeypatch):
    import torch

    gpu_steps = load_script("gpu_steps.py")

    def out_of_memory(pipe, loop, size, batch, precision):
        def step():
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.38 GiB")
        return step

    monkeypatch.setitem(gpu_steps.STEPS, "textual_inversion", out_of_memory)
    assert gpu_steps.main(["--config", "tiny", "--sizes", "64", "--batches", "1", "--device", "cpu",
                           "--methods", "textual_inversion,cfg", "--warmup", "0", "--repeats", "1", "--window", "1"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [row[:5] for row in rows[:2]] == [["textual_inversion", "64", "1", loop, "OOM"] for loop in ("eager", "optimised")]
    assert rows[0][6:] == ["-", "-"] and rows[1][6:] == ["-", "-"]
    assert [row[3] for row in rows[2:]] == ["eager", "optimised"] and float(rows[3][4]) > 0  # cfg still measured


def test_gpu_steps_refuses_a_size_the_unet_cannot_halve_and_an_unknown_method(capsys):
    gpu_steps = load_script("gpu_steps.py")
    with pytest.raises(SystemExit):
        gpu_steps.main(["--config", "tiny", "--methods", "cfg,teapot", "--device", "cpu"])
    assert "unknown method(s) teapot" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gpu_steps.main(["--config", "tiny", "--sizes", "62", "--methods", "cfg", "--device", "cpu"])
    assert "size(s) 62 are not multiples of 4 for --config tiny" in capsys.readouterr().err


def test_the_sd21_configs_build_stable_diffusion_2_1s_architecture():
    """Parameter counts of stabilityai/stable-diffusion-2-1's UNet, VAE and text encoder (built on the
    meta device: no memory, no weights) and its 16 cross-attention layers."""
    import json

    import torch
    from actionbench.methods.layerwise import cross_attention_layers
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    configs = json.loads((BENCHMARKS / "sd21_configs.json").read_text())
    with torch.device("meta"):
        unet = UNet2DConditionModel(**configs["unet"])
        vae = AutoencoderKL(**configs["vae"])
        text_encoder = CLIPTextModel(CLIPTextConfig(**configs["text_encoder"]))
    counts = [sum(p.numel() for p in module.parameters()) for module in (unet, vae, text_encoder)]
    assert counts == [865_910_724, 83_653_863, 340_387_840]
    assert len(cross_attention_layers(unet)) == 16
    assert DDIMScheduler(**configs["scheduler"]).config.prediction_type == "v_prediction"


def test_fused_training_prints_seconds_per_update_and_the_parameters_difference(capsys):
    fused_training = load_script("fused_training.py")
    assert fused_training.main(["--base", "tiny", "--updates", "1", "--methods", "textual_inversion,p_plus"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("seconds per update, median and fastest of 1 (base tiny, ")
    assert lines[1].split() == ["method", "unfused", "fused", "speed-up", "fastest:", "unfused", "fused", "speed-up",
                                "max", "|diff|", "rel"]
    assert [line.split()[0] for line in lines[2:]] == ["textual_inversion", "p_plus"]
    for line in lines[2:]:
        unfused, fused, _speedup, best_unfused, best_fused, _best_speedup, diff, rel = line.split()[1:]
        assert min(float(unfused), float(fused), float(best_unfused), float(best_fused)) > 0
        assert 0 <= float(rel) <= 1e-4 and float(diff) >= 0  # the same training, float sums reordered
    assert fused_training.main(["--methods", "teapot"]) == 2
    assert capsys.readouterr().err == ("error: unknown method(s) teapot: choose from textual_inversion, p_plus, adi, "
                                       "dreambooth\n")


def test_reproduction_tables_print_the_methods_and_the_claims_in_markdown(tmp_path, capsys):
    from report_helpers import write_run
    from test_report_claims import INFOS, METHODS, known_values

    from actionbench.cli import main as cli

    run = write_run(tmp_path / "run", known_values, methods=METHODS, seeds=range(10), infos=INFOS)
    assert cli(["report", str(run), "--claims", "--no-screenshot"]) == 0
    capsys.readouterr()
    module = load_script("reproduction_tables.py")
    assert module.main([str(run)]) == 0
    printed = capsys.readouterr().out
    assert "| adi | 50.0 [" in printed  # action_correct: seeds 0-4 of 10 judged correct, in points
    assert "| 1 | ADI keeps the subject better than P+ | adi - p_plus | subject_correct | A > B | +50.0 [" in printed
    assert "| within ±5 points |" in printed and "| within ±0.05 |" in printed
    assert "not run (dreambooth)" in printed
    assert "ablation" not in printed  # no ADI variant on this board
    with pytest.raises(SystemExit):
        module.main([str(tmp_path)])  # not reported: says to run report --claims first
    assert "run 'actionbench report" in capsys.readouterr().err


def test_reproduction_tables_pair_adi_with_each_ablation_on_the_board(tmp_path, capsys):
    """ADI keeps every subject, ``adi-no-mask`` half of them (seeds 0, 2, ...); poses are equal."""
    from report_helpers import write_run
    from test_report_claims import INFOS

    from actionbench.cli import main as cli

    def values(method, action, subject, seed):
        kept = 1.0 if method == "adi" else float(seed % 2 == 0)
        return {"subject_correct": kept, "action_correct": 0.0, "pose_oks": 0.5}

    run = write_run(tmp_path / "run", values, methods=("adi", "adi-no-mask", "p_plus"), seeds=range(10), infos=INFOS)
    assert cli(["report", str(run), "--claims", "--no-screenshot"]) == 0
    capsys.readouterr()
    assert load_script("reproduction_tables.py").main([str(run)]) == 0
    table = capsys.readouterr().out.split("\n\n")[-1].strip().splitlines()
    assert table[0] == ("| ablation | ADI - ablation: subject_correct | ADI - ablation: pose_oks | "
                        "ADI - ablation: action_correct |")
    assert len(table) == 3 and table[2].startswith("| `adi-no-mask` | +50.0 [")  # p_plus is no ablation
    assert "+0.000 [+0.000, +0.000], p –" in table[2] or "+0.000 [+0.000, +0.000], p 1.000" in table[2]


def test_held_in_customization_writes_custom_actions_the_mini_benchmark_lists(tmp_path):
    home = tmp_path / "held-in-home"
    lines = run_script("held_in_customization.py", "--actions", "waving", env={"ACTIONBENCH_HOME": str(home)})
    assert lines[0] == f"wrote {home / 'actions' / 'waving'}"
    assert "--actions waving" in lines[-1]
    listed = subprocess.run([sys.executable, "-m", "actionbench", "list", "actions"], capture_output=True, text=True,
                            env={**os.environ, "ACTIONBENCH_HOME": str(home)}, check=True).stdout
    assert any(line.split()[:4] == ["waving", "10", "exemplars", "custom"] for line in listed.splitlines()), listed


def test_held_in_customization_refuses_the_users_own_home_and_unknown_actions(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ACTIONBENCH_HOME"}
    script = str(BENCHMARKS / "held_in_customization.py")
    refused = subprocess.run([sys.executable, script], capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode == 2 and "ACTIONBENCH_HOME is not set" in refused.stderr
    unknown = subprocess.run([sys.executable, script, "--actions", "cheer"], capture_output=True, text=True,
                             env={**env, "ACTIONBENCH_HOME": str(tmp_path)}, timeout=120)
    assert unknown.returncode == 2 and "unknown held-in action(s) cheer" in unknown.stderr
    assert not (tmp_path / "actions").exists()
