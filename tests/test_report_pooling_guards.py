"""Runs pooled on one board: what else must agree, what an uneven pool says, and what a report writes.

Runs of different base models are refused; a method run on fewer of the board's actions than the
others is treated like an unfinished one (tagged, ``complete`` False, never best, named); methods on
other seeds are named; a report of several runs writes nothing into them; and a report into a board
folder leaves nothing of an earlier report there.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from report_helpers import write_run

from actionbench.cli import main
from actionbench.reports.claims import check_claims
from actionbench.reports.latex_report import latex_table
from actionbench.reports.leaderboard import OVERALL, leaderboard
from actionbench.reports.load import load_runs


def values(method, action, subject, seed):
    """adi is best everywhere and cheer is the easy action: adi over cheer alone would look better still."""
    return {"clip": 0.2 + (0.3 if action == "cheer" else 0.0) + (0.1 if method == "adi" else 0.0),
            "judge_action": 1.0 if method == "adi" else 0.0}


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and its modification time."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file()}


def overall_table(html: str) -> str:
    start = html.index('id="board-overall"')
    return html[start:html.index("</table>", start)]


def test_runs_of_different_base_models_are_refused_in_one_line(tmp_path, capsys):
    mini = write_run(tmp_path / "mini", values, methods=("text",), actions=("cheer",),
                     manifest={"base_model": {"name": "mini", "index": "b933"}})
    tiny = write_run(tmp_path / "tiny", values, methods=("text",), actions=("salute",),
                     manifest={"base_model": {"name": "tiny", "index": "b933"}})
    out = tmp_path / "board"
    assert main(["report", str(mini), str(tiny), "--out", str(out), "--no-screenshot"]) == 2
    assert capsys.readouterr().err == (
        f"actionbench: error: {mini} and {tiny} were made with different base models ('mini' and 'tiny'): "
        "report them separately; images of different models are not comparable.\n")
    assert not out.exists()
    retrained = write_run(tmp_path / "retrained", values, methods=("text",), actions=("salute",),
                          manifest={"base_model": {"name": "mini", "index": "c044"}})
    assert main(["report", str(mini), str(retrained), "--out", str(out), "--no-screenshot"]) == 2
    assert capsys.readouterr().err == (
        f"actionbench: error: {mini} and {retrained} were made with different base models ('mini' (model index "
        "b933) and 'mini' (model index c044)): report them separately; images of different models are not "
        "comparable.\n")


def test_a_method_not_run_on_every_action_is_incomplete_and_never_best(tmp_path, capsys):
    """adi ran on cheer (the easy action) only; text on cheer and salute. adi's overall mean is over
    an easier set of actions than text's: tagged, complete False, never bold, named with the reason."""
    both = write_run(tmp_path / "both", values, methods=("adi", "text"), actions=("cheer",))
    more = write_run(tmp_path / "more", values, methods=("text",), actions=("salute",))
    data = load_runs([both, more])
    assert data.unfinished == [] and data.not_run() == {"adi": ["salute"]}
    assert data.incomplete_methods() == {"adi": (1, 2)}
    out = tmp_path / "board"
    assert main(["report", str(both), str(more), "--out", str(out), "--latex", "--no-screenshot"]) == 0
    note = ("overall rows over fewer actions than the board's: adi over 1 of 2 actions (not run on salute in these "
            "runs); they are not comparable with the other methods' rows and never marked best: run those methods "
            "on those actions and report that run with these, or compare the per-action tables")
    assert f"actionbench: note: {note}\n" in capsys.readouterr().err
    board = pd.read_csv(out / "leaderboard.csv")
    partial = board[~board["complete"]]
    assert set(zip(partial["method"], partial["action"])) == {("adi", OVERALL)}
    html = (out / "leaderboard.html").read_text()
    table = overall_table(html)
    assert '<span class="tag incomplete">1 of 2 actions</span>' in table
    adi_row = table[table.index('data-value="adi"'):]
    assert "best" not in adi_row[:adi_row.index("</tr>")].replace('class=""', "")
    assert 'id="not-run"' in html and "adi over 1 of 2 actions (not run on salute in these runs)" in html
    tex = (out / "leaderboard.tex").read_text()
    assert r"adi$^\dagger$ & 100.0" in tex  # never bold
    assert (r"$^\dagger$Not run on every action: adi over 1 of 2 actions (not run on salute); not comparable "
            "with the other rows, never marked best.") in tex


def test_methods_on_other_seeds_are_named_but_not_kept_from_best(tmp_path, capsys):
    """A mean over other seeds estimates the same quantity (each seed is an independent noise draw),
    so the rows stay comparable for "best" but the board says which method was scored on which seeds."""
    three = write_run(tmp_path / "three", values, methods=("text",), actions=("cheer",))
    seven = write_run(tmp_path / "seven", values, methods=("adi",), actions=("cheer",), seeds=(7,))
    data = load_runs([three, seven])
    assert data.incomplete_methods() == {}
    note = ("methods were scored on different seeds: adi on seed 7; text on seeds 0, 1, 2; their means are over "
            "different images (each interval from its own n), so the rows compare unpaired, and --compare and "
            "--claims pair only images of the same seed")
    assert data.seeds_note() == note
    out = tmp_path / "board"
    assert main(["report", str(three), str(seven), "--out", str(out), "--latex", "--no-screenshot"]) == 0
    assert f"actionbench: note: {note}\n" in capsys.readouterr().err
    html = (out / "leaderboard.html").read_text()
    assert f'<p class="unfinished" id="seeds"><strong>Other seeds:</strong> {note}.</p>' in html
    assert 'class="best"' in overall_table(html)
    assert ("Methods on different seeds: adi on seed 7; text on seeds 0, 1, 2." in (out / "leaderboard.tex").read_text())
    assert r"adi & \textbf{100.0}" in latex_table(leaderboard(data), data)


def test_seeds_that_differ_by_action_alike_for_every_method_are_not_named(tmp_path):
    """Runs split by action with other seeds each: every method has the same seeds on each action."""
    first = write_run(tmp_path / "first", values, actions=("cheer",))
    second = write_run(tmp_path / "second", values, actions=("salute",), seeds=(5, 6))
    data = load_runs([first, second])
    assert data.seeds_note() == "" and not data.mixed_seeds()
    assert data.seed_groups() == "adi, text on seeds 0, 1, 2 on cheer and 5, 6 on salute"


def test_a_report_of_several_runs_writes_nothing_into_them(tmp_path, capsys):
    first = write_run(tmp_path / "first", values, actions=("cheer",))
    second = write_run(tmp_path / "second", values, actions=("salute",))
    before = {run: snapshot(run) for run in (first, second)}
    out = tmp_path / "board"
    assert main(["report", str(first), str(second), "--out", str(out), "--no-screenshot"]) == 0
    printed = capsys.readouterr().out
    assert {run: snapshot(run) for run in (first, second)} == before
    assert f"where the time went in {first}" in printed and f"where the time went in {second}" in printed
    assert not (out / "timing.csv").exists()  # several runs' tables are printed, not written
    single = tmp_path / "single"
    assert main(["report", str(first), "--out", str(single), "--no-screenshot"]) == 0
    assert (single / "timing.csv").is_file() and f"timing (CSV): {single / 'timing.csv'}" in capsys.readouterr().out
    assert snapshot(first) == before[first]


def test_a_report_into_a_board_folder_leaves_nothing_of_an_earlier_report(tmp_path):
    full = write_run(tmp_path / "full", values, actions=("cheer",))
    other = write_run(tmp_path / "other", values, methods=("text",), actions=("salute",))
    board = tmp_path / "board"
    assert main(["report", str(full), "--out", str(board), "--latex", "--claims", "--compare", "adi", "text",
                 "--no-screenshot"]) == 0
    assert {p.name for p in board.iterdir()} == {"claims.csv", "comparison.csv", "grids", "leaderboard.csv",
                                                 "leaderboard.html", "leaderboard.tex", "timing.csv"}
    (board / "leaderboard.png").write_bytes(b"an older screenshot")
    (board / "human.csv").write_text("an older human table")
    assert main(["report", str(other), "--out", str(board), "--no-screenshot"]) == 0
    assert sorted(p.relative_to(board).as_posix() for p in board.rglob("*")) == [
        "grids", "grids/salute.png", "leaderboard.csv", "leaderboard.html", "timing.csv"]
    assert main(["report", str(full), str(other), "--out", str(board), "--no-screenshot"]) == 0
    assert not (board / "timing.csv").exists()  # the single run's table would pass for the pooled board's


def test_a_run_directory_keeps_its_own_files_and_loses_only_stale_board_files(tmp_path):
    run = write_run(tmp_path / "run", values, actions=("cheer",))
    other = write_run(tmp_path / "other", values, methods=("text",), actions=("salute",))
    assert main(["report", str(run), "--latex", "--no-screenshot"]) == 0
    timing = (run / "timing.csv").read_bytes()
    (run / "notes.txt").write_text("mine")
    assert main(["report", str(run), str(other), "--out", str(run), "--no-screenshot"]) == 0
    assert not (run / "leaderboard.tex").exists()  # the older board's table
    assert (run / "timing.csv").read_bytes() == timing  # the run's own, not this board's
    assert (run / "notes.txt").read_text() == "mine" and (run / "manifest.json").is_file()


def test_a_folder_that_is_not_a_run_is_named_as_such(tmp_path, capsys):
    """An export folder (files, no manifest) reported with no --out blamed --out."""
    export = tmp_path / "export"
    export.mkdir()
    (export / "README.md").write_text("an exported artifact")
    assert main(["report", str(export), "--no-screenshot"]) == 2
    assert capsys.readouterr().err == (f"actionbench: error: {export} is not a run directory (no manifest.json): "
                                       "pass a folder written by 'actionbench run'.\n")
    assert [p.name for p in export.iterdir()] == ["README.md"]


def test_a_claim_whose_method_ran_only_as_a_reference_says_so(tmp_path):
    run = write_run(tmp_path / "run", values, methods=("textual_inversion",), actions=("cheer",),
                    manifest={"references": {"leakage": "plain"}})
    table = check_claims(load_runs([run])).set_index(["method_a", "method_b", "score"])
    assert table.loc[("textual_inversion", "plain", "leakage"), "outcome"] == (
        "not run (plain ran only as the reference of leakage)")
    assert table.loc[("adi", "textual_inversion", "pose_oks"), "outcome"] == "not run (adi)"
