"""Leaderboards from run directories: CSV for machines, self-contained HTML for people.

Reports read only the run store (:mod:`actionbench.store`); they never import a method or a metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from actionbench.errors import ActionBenchError


@dataclass
class ReportPaths:
    csv: Path
    html: Path


def make_report(run_dirs: list[Path], out_dir: Path) -> ReportPaths:
    from actionbench.reports.csv_report import write_csv
    from actionbench.reports.html_report import write_html
    from actionbench.reports.leaderboard import leaderboard
    from actionbench.reports.load import load_runs

    data = load_runs(run_dirs)
    if data.scores.empty:
        raise ActionBenchError(f"no scores found in {', '.join(map(str, run_dirs))}",
                               "run 'actionbench run' until at least one unit is scored")
    board = leaderboard(data)
    out_dir = Path(out_dir)
    return ReportPaths(csv=write_csv(board, out_dir / "leaderboard.csv", data.benchmark_label),
                       html=write_html(board, data, out_dir / "leaderboard.html"))
