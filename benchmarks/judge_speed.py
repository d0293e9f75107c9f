"""How long ``actionbench validate-judge`` takes on the 80 ActionBench photos, cold and warm.

    python benchmarks/judge_speed.py [--data ../shared/actionbench] [--set scorers.clip_model=tiny-random]

Runs the real command in a fresh process each time, in a fresh ``$ACTIONBENCH_HOME``: *cold* finds
no cache (mediapipe's pose and hand models load once and look at every photo), *warm* is the same
command again (poses and hands read from the disk cache). Wall time includes Python's start and
imports. CLIP is used only for the photo in which no person is found; by default the tiny random
CLIP stands in for ViT-L-14, whose weights cannot be downloaded here (with weights, add ViT-L-14's
load, about 10 s on this CPU, and 0.6 s per such photo). Target (issue 10, 2-core CPU): < 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 60.0
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "actionbench"


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(home: Path, data: Path, settings: list[str], out: Path) -> tuple[float, float, dict]:
    env = {**os.environ, "ACTIONBENCH_HOME": str(home), "ACTIONBENCH_DATA": str(data), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "actionbench", "validate-judge", "--actions", "all", "--benchmark", "actionbench",
               "--json", str(out)] + [a for s in settings for a in ("--set", s)]
    started, cpu = time.perf_counter(), child_cpu_seconds()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - started, child_cpu_seconds() - cpu
    if done.returncode != 0:
        sys.exit(f"validate-judge failed:\n{done.stderr[-2000:]}")
    return seconds, cpu, json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the official ActionBench folder")
    parser.add_argument("--set", dest="settings", action="append", default=None,
                        help="settings passed on to validate-judge (default: scorers.clip_model=tiny-random)")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"{args.data} is absent: point --data at the official ActionBench folder")
    settings = args.settings if args.settings is not None else ["scorers.clip_model=tiny-random"]
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        rows = []
        for label in ("cold (no cache)", "warm (poses and hands cached)"):
            seconds, cpu, figures = run_once(home, args.data, settings, Path(folder) / "figures.json")
            rows.append((label, seconds, cpu, figures))
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"validate-judge on {rows[0][3]['images']} ActionBench photos, {os.cpu_count()} CPU cores (load average "
          f"{load}), settings: {' '.join(settings) or '(none)'}")
    print("wall s is the command's wall-clock time (other jobs inflate it); CPU s is its own CPU time")
    print(f"{'run':<32} {'wall s':>7} {'CPU s':>6} {'ms/photo':>9} {'accuracy':>9} {'target':>8}")
    for label, seconds, cpu, figures in rows:
        verdict = "ok" if seconds < TARGET_SECONDS else "SLOW"
        print(f"{label:<32} {seconds:7.1f} {cpu:6.1f} {1000 * seconds / figures['images']:9.0f} "
              f"{figures['accuracy']:9.3f} {verdict:>8}")


if __name__ == "__main__":
    main()
