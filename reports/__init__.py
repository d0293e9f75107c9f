"""Leaderboards from run directories: CSV for machines, self-contained HTML for people, LaTeX for papers.

Reports read only the run store (:mod:`actionbench.store`); they never import a method or a metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from actionbench.errors import ActionBenchError, first_few

if TYPE_CHECKING:
    from actionbench.reports.load import RunData


@dataclass
class ReportPaths:
    csv: Path
    html: Path
    grids: dict[str, Path] = field(default_factory=dict)  # action -> grid PNG (methods x subjects)
    tex: Path | None = None
    comparison_csv: Path | None = None
    comparison_table: str = ""  # the paired comparison for the terminal
    claims_csv: Path | None = None  # the paper's claims as paired tests (``claims=True``)
    claims_table: str = ""  # the same for the terminal
    screenshot: Path | None = None
    human_csv: Path | None = None  # human ratings beside the judge (when the run has ratings)
    human_table: str = ""  # the same for the terminal
    timing_csv: Path | None = None  # where the time went (``timing=True``, one run only)
    timing_tables: list[str] = field(default_factory=list)  # the same per run, for the terminal
    notes: list[str] = field(default_factory=list)  # what was skipped, and why


# Every file a report can write into its folder (the grids are kept in step by write_grids): what
# ``remove_stale`` clears when a later report into the same folder does not write it again.
BOARD_FILES = ("leaderboard.csv", "leaderboard.html", "leaderboard.tex", "leaderboard.png", "human.csv",
               "comparison.csv", "claims.csv", "timing.csv")
RUN_OWNED = ("timing.csv",)  # also written by 'actionbench run': a run directory's own, never removed


def remove_stale(out_dir: Path, written: list[Path | None]) -> None:
    """Remove the board files an earlier report left in ``out_dir`` that this one did not write (a
    LaTeX table, a comparison or claims of an older board would sit beside the new one as if they
    were its own). Only the names in BOARD_FILES are touched; in a run directory, not RUN_OWNED."""
    keep = {Path(p).name for p in written if p is not None}
    if (out_dir / "manifest.json").is_file():
        keep |= set(RUN_OWNED)
    for name in BOARD_FILES:
        if name not in keep:
            (out_dir / name).unlink(missing_ok=True)


def check_board_folder(out_dir: Path, run_dirs: list[Path]) -> None:
    """Refuse an output folder the report does not own. A report removes what an older board left
    in its folder (grids of actions no longer on it, BOARD_FILES it does not write again), so it
    writes only into a new or empty folder, one of the reported runs' directories, or a folder
    holding a board it wrote; another run's directory would have its own board replaced."""
    from actionbench.reports.html_report import TITLE

    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ActionBenchError(f"--out {out_dir} is a file, not a folder", "choose a new or empty folder for the board")
    if (out_dir / "manifest.json").is_file():
        if out_dir.resolve() in {Path(r).resolve() for r in run_dirs}:
            return  # a reported run's directory: its board lives beside its units
        raise ActionBenchError(f"--out {out_dir} is the directory of another run, whose own board this one would "
                               "replace", "choose a new or empty folder for the board, or one of the reported runs")
    try:
        with open(out_dir / "leaderboard.html", encoding="utf-8", errors="replace") as handle:
            if f"<title>{TITLE}</title>" in handle.read(4096):
                return  # a board written here before
    except OSError:
        pass
    held = sorted(p.name for p in out_dir.iterdir())
    if held:
        raise ActionBenchError(f"--out {out_dir} is not empty and holds no board written by 'actionbench report' "
                               f"(it holds {first_few(held, 5)})", "choose a new or empty folder for the board")


def make_report(run_dirs: list[Path], out_dir: Path, *, latex: bool = False, compare: tuple[str, str] | None = None,
                screenshot: bool = False, raw_csv: bool = False, claims: bool = False,
                timing: bool = False) -> ReportPaths:
    """Write the board (CSV, HTML, per-action grids) into ``out_dir``; optionally the LaTeX table, a
    paired comparison of two methods, the paper's claims checked as paired tests
    (:mod:`actionbench.reports.claims`) and a screenshot of the board (needs chromium + Playwright).
    ``raw_csv`` writes CSV cells as they are, without the apostrophe that keeps formulas inert.
    ``timing``: where each run's time went, as text; for one run also ``timing.csv`` in ``out_dir``
    (several runs' tables are only printed: nothing is written into the runs reported).
    Files an earlier report left in ``out_dir`` that this one does not write are removed."""
    from actionbench.reports.compare import compare_methods, format_table, write_comparison_csv
    from actionbench.reports.csv_report import write_csv
    from actionbench.reports.grids import write_grids
    from actionbench.reports.html_report import write_html
    from actionbench.reports.latex_report import write_latex
    from actionbench.reports.leaderboard import leaderboard
    from actionbench.reports.load import load_runs

    data = load_runs(run_dirs)  # reads only: a folder that is not a run is named as such, not as --out
    check_board_folder(Path(out_dir), run_dirs)  # before anything is written or removed there
    if data.scores.empty:
        raise ActionBenchError(f"no scores found in {', '.join(map(str, run_dirs))}",
                               "run 'actionbench run' until at least one unit is scored")
    comparison = compare_methods(data, *compare) if compare else None  # bad names fail before any write
    board = leaderboard(data)
    out_dir = Path(out_dir)
    paths = ReportPaths(csv=write_csv(board, out_dir / "leaderboard.csv", data.benchmark_label, raw_csv,
                                          data.incomplete_methods()),
                        html=out_dir / "leaderboard.html")
    paths.notes += board_notes(data)
    paths.grids = write_grids(data, out_dir)
    if latex:
        paths.tex = write_latex(board, data, out_dir / "leaderboard.tex")
    if comparison is not None:
        paths.comparison_csv = write_comparison_csv(comparison, out_dir / "comparison.csv", raw_csv)
        paths.comparison_table = format_table(comparison)
    if claims:
        from actionbench.reports.claims import check_claims, format_claims, write_claims_csv

        claim_table = check_claims(data)
        paths.claims_csv = write_claims_csv(claim_table, out_dir / "claims.csv", raw_csv)
        paths.claims_table = format_claims(claim_table, data.infos)
    human = add_human(paths, run_dirs, data, out_dir, raw_csv)
    files = [(p.name, p.name) for p in (paths.csv, paths.human_csv, paths.tex, paths.comparison_csv, paths.claims_csv)
             if p is not None]
    write_html(board, data, paths.html, comparison=comparison,
               grid_links={a: p.relative_to(out_dir).as_posix() for a, p in paths.grids.items()}, files=files,
               human=human)
    if screenshot:
        add_screenshot(paths, out_dir / "leaderboard.png")
    if timing:
        add_timing(paths, run_dirs, out_dir)
    remove_stale(out_dir, [paths.csv, paths.html, paths.tex, paths.screenshot, paths.human_csv,
                           paths.comparison_csv, paths.claims_csv, paths.timing_csv])
    return paths


def board_notes(data: RunData) -> list[str]:
    """What a reader must know about the board's rows (the board is written: finished results are
    never withheld): units left off, methods not run on every action, methods on other seeds, and
    methods the manifest no longer holds."""
    notes = [note for note in (data.unfinished_note(), data.not_run_note(), data.seeds_note()) if note]
    if data.not_named:
        notes.append(f"left off the board: {', '.join(data.not_named)}, scored in the run under settings its "
                     "manifest no longer holds (a later 'run' changed the run-wide settings: seeds, metrics, "
                     "scorers; or the run was written by a suite version that did not record each unit's "
                     "keys); run them again with the run's settings to bring them back, or use one --out "
                     "per set of settings")
    return notes


def add_human(paths: ReportPaths, run_dirs: list[Path], data: RunData, out_dir: Path, raw_csv: bool) -> dict | None:
    """human.csv and the board's human section, when the runs have ratings (None otherwise)."""
    from actionbench.reports import human as human_report

    try:
        ratings = human_report.load_ratings(run_dirs)
    except ActionBenchError as error:  # a damaged ratings file must not cost the user the board
        paths.notes.append(f"human ratings left out: {error}")
        return None
    if ratings is not None and ratings.stale:
        paths.notes.append(f"{ratings.stale} human judgement(s) of images no longer in the run "
                           "(regenerated since, or their method left the run) were left out")
    if ratings is None or ratings.empty:
        return None
    summary = human_report.human_summary(ratings, data)
    paths.human_csv = human_report.write_human_csv(summary, out_dir / "human.csv", data.benchmark_label, raw_csv)
    paths.human_table = human_report.format_table(summary)
    return human_report.display(summary, ratings)


def add_screenshot(paths: ReportPaths, png: Path) -> None:
    """leaderboard.png of the board, or a note saying why not."""
    from actionbench.reports.browser import screenshot as take_screenshot

    reason = take_screenshot(paths.html, png)
    if reason is None:
        paths.screenshot = png
    else:
        paths.notes.append(f"no screenshot (leaderboard.png): {reason}")


def add_timing(paths: ReportPaths, run_dirs: list[Path], out_dir: Path) -> None:
    """Each run's timing table; ``timing.csv`` beside the board of a single run only (one CSV cannot
    hold several runs' tables, and the runs reported are read, never written)."""
    from actionbench.reports.load import distinct_runs
    from actionbench.reports.timing import CSV_FILE, report_timing

    runs = distinct_runs(run_dirs)
    single = len(runs) == 1
    for run_dir in runs:
        table = report_timing(run_dir, out_dir=out_dir if single else None, write=single)
        if table:  # empty when no stage has finished
            paths.timing_tables.append(table)
    if single:
        paths.timing_csv = out_dir / CSV_FILE
