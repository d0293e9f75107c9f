"""One real run for every rating test, made once per test session and copied for each module.

A real ``actionbench run`` of the tiny pipeline: methods text and plain, both fixture actions, two
subjects, seeds 0 and 1 (16 images), scored by the dummy brightness metric and a stand-in judge with
known binary decisions (tests/plugins/judge_metric.py). The benchmark carries hostile text in an
action description and in the cat's subject text, which the rating page must show as text.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import tomli_w

from actionbench.cli import main

PLUGINS = ",".join(str(Path(__file__).parent / "plugins" / name) for name in ("dummy_metric.py", "judge_metric.py"))
METHODS = ("text", "plain")
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
DESCRIPTION = f"raising both arms {SCRIPT} {IMG}"
CAT = f"a cat {SCRIPT} {IMG}"
N_IMAGES = 16  # 2 methods x 2 actions x 2 subjects x 2 seeds

_built: dict[str, Path] = {}


def hostile_benchmark(folder: Path) -> Path:
    from fixtures import write_benchmark

    write_benchmark(folder, seeds=(0, 1))
    action_file = folder / "arms_up" / "action.toml"
    action = tomllib.loads(action_file.read_text())
    action["description"] = DESCRIPTION
    action_file.write_text(tomli_w.dumps(action))
    benchmark_file = folder / "benchmark.toml"
    benchmark = tomllib.loads(benchmark_file.read_text())
    for subject in benchmark["protocol"]["subjects"]:
        if subject["name"] == "cat":
            subject["text"] = CAT
    benchmark_file.write_text(tomli_w.dumps(benchmark))
    return folder


def base_run(tmp_path_factory) -> Path:
    """The session's run (built on first use; ``tiny_pipeline_path`` must have been requested)."""
    if "run" not in _built:
        root = tmp_path_factory.mktemp("rating-run")
        benchmark = hostile_benchmark(root / "benchmark")
        run = root / "run"
        assert main(["--plugins", PLUGINS, "run", "--benchmark", str(benchmark), "--methods", ",".join(METHODS),
                     "--actions", "all", "--metrics", "brightness,fixed_judge", "--out", str(run),
                     "--no-report"]) == 0
        _built["run"] = run
    return _built["run"]


def copy_run(tmp_path_factory, name: str) -> Path:
    """A private copy of the session's run, so one module's ratings never reach another's."""
    target = tmp_path_factory.mktemp(name) / "run"
    shutil.copytree(base_run(tmp_path_factory), target)
    return target
