"""The speed benchmarks run and print their tables (their shape, not their times)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run_script(name: str, *args: str, env: dict[str, str] | None = None) -> list[str]:
    result = subprocess.run([sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.splitlines()


def numbers(line: str, count: int) -> list[float]:
    return [float(value.rstrip("%")) for value in line.split()[-count:]]


def test_mini_budget_quick_prints_seconds_per_stage_and_method(tmp_path):
    lines = run_script("mini_budget.py", "--quick", "--jobs", "main", "--keep", str(tmp_path / "runs"),
                       env={"ACTIONBENCH_HOME": str(tmp_path / "unused-home")})
    header = lines.index("job main: seconds per stage and method (cold cache)") + 1
    assert lines[header].split() == ["method", "train", "generate", "score", "total", "share"]
    rows = lines[header + 1:header + 5]
    # ADI and DreamBooth on one action, and plain: the leakage metric's shared reference unit
    assert [row.split()[0] for row in rows] == ["adi", "dreambooth", "plain", "total"]
    for row in rows:
        train, generate, score, total, share = numbers(row, 5)
        assert min(train, generate, score) >= 0 and abs(train + generate + score - total) <= 0.15
    assert sum(numbers(row, 1)[0] for row in rows[:-1]) == pytest.approx(100, abs=0.2)
    assert lines[header + 5].startswith("wall time ")
    # cold cache: the job got its own ACTIONBENCH_HOME (exemplars rendered there), not the caller's
    assert list((tmp_path / "runs" / "main" / "home" / "cache" / "mini" / "benchmark").iterdir())
    assert not (tmp_path / "unused-home").exists()
