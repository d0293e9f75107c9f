"""Where a run's time went: seconds and share per stage and method, from the stage markers.

Each finished stage's marker (``units/<method>/<action>/<stage>.json``, :mod:`actionbench.store`)
records the seconds the stage took when it ran and the wall-clock time it finished. The table sums
them per (stage, method), so it shows what the results *cost*, whichever invocation made them: a
user planning a cluster run needs the cost of the work, not of the last resume. A stage finished
before the invocation that prints the table (``since``) counts as *resumed*: this invocation spent
0 s on it, and the table says how many units that holds for and how many seconds this invocation
itself spent. With several workers the summed seconds exceed the wall-clock time; shares are of
the summed stage time. Reads only the run store, like every report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from actionbench.csvcells import rows_csv
from actionbench.fileio import atomic_write_text
from actionbench.store import SHARED_ACTION, STAGES, RunStore

CSV_FILE = "timing.csv"
COLUMNS = ("stage", "method", "units", "resumed", "seconds", "this_invocation_seconds", "share")


@dataclass(frozen=True)
class StageTime:
    """One finished stage of one unit, as its marker recorded it."""

    method: str
    action: str
    stage: str
    seconds: float
    finished: float  # time.time() when the stage was marked done


@dataclass(frozen=True)
class TimingRow:
    """The summed time of one stage over every unit of one method."""

    stage: str
    method: str
    units: int  # units whose stage is finished
    resumed: int  # of those, finished before this invocation (0 s spent on them now)
    seconds: float  # recorded seconds, summed over the units
    this_invocation_seconds: float  # the part of ``seconds`` spent by this invocation
    share: float  # of the summed stage time of the run, in [0, 1]


def stage_times(run_dir: str | Path) -> list[StageTime]:
    """Every finished stage in ``run_dir`` (reference units under the action ``_shared``)."""
    store = RunStore(run_dir)
    store.manifest()  # a clear error for a folder that is not a run
    times = []
    for unit in store.units():
        for stage in STAGES:
            marker = store.marker(unit, stage)
            if marker is None or not isinstance(marker.get("seconds"), (int, float)):
                continue  # not finished (or written by a version without timings)
            times.append(StageTime(unit.method, unit.action or SHARED_ACTION, stage, float(marker["seconds"]),
                                   float(marker.get("finished", 0.0))))
    return times


def timing_table(times: list[StageTime], since: float | None = None) -> list[TimingRow]:
    """Rows per (stage, method) in stage order, then method name. ``since``: when this invocation
    started (``time.time()``); stages finished before it are resumed. None: nothing counts as
    resumed (``actionbench report`` looks at the run as a whole)."""
    total = sum(t.seconds for t in times)
    groups: dict[tuple[str, str], list[StageTime]] = {}
    for t in times:
        groups.setdefault((t.stage, t.method), []).append(t)
    rows = []
    for (stage, method), members in sorted(groups.items(), key=lambda item: (STAGES.index(item[0][0]), item[0][1])):
        resumed = [t for t in members if since is not None and t.finished < since]
        seconds = sum(t.seconds for t in members)
        rows.append(TimingRow(stage=stage, method=method, units=len(members), resumed=len(resumed),
                              seconds=seconds, this_invocation_seconds=seconds - sum(t.seconds for t in resumed),
                              share=seconds / total if total > 0 else 0.0))
    return rows


def format_table(rows: list[TimingRow], title: str = "where the time went", *, resumed: bool = False) -> str:
    """The table for the terminal, with a total line; empty when no stage has finished.
    ``resumed``: add the resumed column and this invocation's own seconds (``actionbench run``)."""
    if not rows:
        return ""
    note = "; resumed: units finished by an earlier invocation, 0 s in this one" if resumed else ""
    extra = f" {'resumed':>7}" if resumed else ""
    lines = [f"{title} (seconds recorded by each stage{note}):",
             f"{'stage':<9} {'method':<24} {'units':>5}{extra} {'seconds':>9} {'share':>6}"]
    for row in rows:
        extra = f" {row.resumed:>7}" if resumed else ""
        lines.append(f"{row.stage:<9} {row.method:<24} {row.units:>5}{extra} {row.seconds:>9.1f} "
                     f"{100 * row.share:>5.1f}%")
    seconds = sum(r.seconds for r in rows)
    extra = f" {sum(r.resumed for r in rows):>7}" if resumed else ""
    lines.append(f"{'total':<9} {'':<24} {sum(r.units for r in rows):>5}{extra} {seconds:>9.1f} "
                 f"{100.0 if seconds > 0 else 0.0:>5.1f}%")
    if resumed:
        lines.append(f"this invocation: {sum(r.this_invocation_seconds for r in rows):.1f} s of stage time")
    return "\n".join(lines)


def write_csv(rows: list[TimingRow], path: Path) -> Path:
    """``timing.csv``: one row per (stage, method), seconds at full precision, no total row; cells as
    every CSV of the suite writes them (:mod:`actionbench.csvcells`)."""
    values = [[row.stage, row.method, row.units, row.resumed, f"{row.seconds:.3f}",
               f"{row.this_invocation_seconds:.3f}", f"{row.share:.6f}"] for row in rows]
    atomic_write_text(path, rows_csv(list(COLUMNS), [dict(zip(COLUMNS, row)) for row in values]))
    return path


def last_invocation_start(run_dir: str | Path) -> float | None:
    """When the latest ``actionbench run`` on ``run_dir`` started: the manifest's ``updated`` time,
    written before any stage runs (to the second, floored, so no stage of it is counted as resumed)."""
    updated = RunStore(run_dir).manifest().get("updated")
    try:
        return datetime.strptime(updated, "%Y-%m-%dT%H:%M:%S%z").timestamp() if updated else None
    except ValueError:
        return None


def report_timing(run_dir: str | Path, *, this_invocation: bool = False, out_dir: str | Path | None = None,
                  write: bool = True) -> str:
    """Write ``timing.csv`` into ``out_dir`` (default: the run directory) and return the table's text.
    ``this_invocation``: count stages finished before the latest ``run`` invocation as resumed.
    ``write=False``: the text only (a report of several runs writes nothing into them)."""
    since = last_invocation_start(run_dir) if this_invocation else None
    rows = timing_table(stage_times(run_dir), since)
    if write:
        write_csv(rows, Path(out_dir if out_dir is not None else run_dir) / CSV_FILE)
    return format_table(rows, f"where the time went in {run_dir}", resumed=this_invocation)
