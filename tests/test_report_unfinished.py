"""A board never averages what the run has not finished, and says what it lacks.

A method's overall row pools its images over the actions it has scores for, so a unit left unscored
(a kill, a failure, a unit not yet reached) would put that method's mean over fewer actions beside
the others' means over all of them; and a unit still holding scores from before the run's last
invocation changed a setting would put old scores beside new ones. Both stay off the board, which is
still written (finished results are never withheld) and says which units are missing, why, and the
command that finishes them; `check` fails such a run.
"""

from __future__ import annotations

import shutil

import pandas as pd
from report_helpers import SUBJECTS, write_run

from actionbench.cli import main
from actionbench.reports.leaderboard import OVERALL, leaderboard
from actionbench.reports.load import Unfinished, load_runs
from actionbench.store import RunStore, Unit

COMMAND = ["/usr/bin/actionbench", "run", "--methods", "adi,text", "--actions", "all", "--out", "runs/x"]
MANIFEST = {"invocations": [{"time": "t", "argv": COMMAND}]}


def values(method, action, subject, seed):
    bonus = 0.4 if action == "salute" else 0.0  # salute is the easy action: leaving it out moves the mean
    return {"clip": 0.2 + bonus + (0.1 if method == "adi" else 0.0), "judge_action": 1.0 if method == "adi" else 0.0}


def overall(data, method, score="clip"):
    board = leaderboard(data)
    return board[(board["method"] == method) & (board["action"] == OVERALL) & (board["score"] == score)].iloc[0]


def unscore(run, method, action):
    """The state a run killed before scoring this unit leaves: images, no score marker, no scores."""
    folder = RunStore(run).unit_dir(Unit(method, action))
    (folder / "score.json").unlink()
    (folder / "scores.jsonl").unlink()


def test_a_complete_run_has_nothing_unfinished(tmp_path):
    data = load_runs([write_run(tmp_path / "run", values, manifest=MANIFEST)])
    assert data.unfinished == [] and data.unfinished_note() == "" and data.incomplete_methods() == {}


def test_an_unscored_unit_is_named_and_its_method_is_flagged(tmp_path):
    run = write_run(tmp_path / "run", values, manifest=MANIFEST)
    unscore(run, "adi", "salute")
    data = load_runs([run])
    assert data.unfinished == [Unfinished(str(run), "adi", "salute", "not finished")]
    assert overall(data, "adi")["n"] == len(SUBJECTS) * 3  # cheer only
    assert data.incomplete_methods() == {"adi": (1, 2)}
    assert data.unfinished_note() == (
        "1 unit(s) not on the board (adi on salute: not finished), so these overall rows are not comparable "
        "with the other methods' rows: adi over 1 of 2 actions; finish them before citing these rows ('actionbench "
        "run' of those methods and actions with the run's settings and --out; the last command that wrote the run "
        f"resumes what it started: actionbench run --methods adi,text --actions all --out {run})")  # not runs/x


def test_stale_scores_stay_off_the_board(tmp_path):
    """The manifest's score key for adi on cheer is not the one its marker holds: the run's last
    invocation changed a setting and was killed before it re-scored that unit."""
    keys = {"adi/cheer": {"score": "after-the-change"}, "adi/salute": {"score": "constructed"},
            "text/cheer": {"score": "constructed"}, "text/salute": {"score": "constructed"}}
    run = write_run(tmp_path / "run", values, manifest={**MANIFEST, "stage_keys": keys})
    data = load_runs([run])
    assert data.unfinished == [Unfinished(str(run), "adi", "cheer", "scored under settings other than the run's "
                                                                     "last 'run' (its scores are stale)")]
    assert set(data.scores[data.scores["method"] == "adi"]["action"]) == {"salute"}
    assert set(data.images[data.images["method"] == "adi"]["action"]) == {"salute"}  # no grid of stale images


def test_a_failed_stage_and_a_unit_never_started_say_so(tmp_path):
    run = write_run(tmp_path / "run", values, manifest={**MANIFEST, "methods": ["adi", "text", "plain"]})
    store = RunStore(run)
    unscore(run, "text", "cheer")
    store.mark_failed(Unit("text", "cheer"), "score", "CUDA out of memory\nTraceback ...", attempt=1)
    reasons = {(u.method, u.action): u.reason for u in load_runs([run]).unfinished}
    assert reasons == {("text", "cheer"): "score failed: CUDA out of memory",
                       ("plain", "cheer"): "not started", ("plain", "salute"): "not started"}


def test_the_board_tags_the_incomplete_row_and_never_marks_it_best(tmp_path, capsys):
    run = write_run(tmp_path / "run", values, manifest=MANIFEST)
    unscore(run, "text", "cheer")  # text's overall is then salute only: 0.6 > adi's 0.5 over both
    assert main(["report", str(run), "--no-screenshot"]) == 0
    assert "actionbench: note: 1 unit(s) not on the board (text on cheer: not finished)" in capsys.readouterr().err
    html = (run / "leaderboard.html").read_text()
    overall_table = html[html.index('id="board-overall"'):html.index("</table>", html.index('id="board-overall"'))]
    assert '<span class="tag incomplete">1 of 2 actions</span>' in overall_table
    text_row = overall_table[overall_table.index('data-value="text"'):]
    text_row = text_row[:text_row.index("</tr>")]
    assert "best" not in text_row.replace('class=""', "")  # 0.6 is the column's largest mean, but not a best
    assert 'id="unfinished"' in html and "text over 1 of 2 actions" in html
    board = pd.read_csv(run / "leaderboard.csv")  # the CSV, pasted on its own, says so too
    partial = board[~board["complete"]]
    assert set(zip(partial["method"], partial["action"])) == {("text", OVERALL)}
    assert board[board["method"] == "adi"]["complete"].all() and board[board["method"] == "text"]["complete"].any()


def test_check_fails_an_unfinished_run(tmp_path, capsys):
    run = write_run(tmp_path / "run", values, manifest=MANIFEST)
    baseline = tmp_path / "baseline.csv"
    leaderboard(load_runs([run]))[lambda b: b["action"] == OVERALL].to_csv(baseline, index=False)
    assert main(["check", str(run), "--baseline", str(baseline)]) == 0
    capsys.readouterr()
    unscore(run, "adi", "cheer")  # adi's overall (salute only) is now higher than the baseline's
    assert main(["check", str(run), "--baseline", str(baseline)]) == 1
    out = capsys.readouterr().out
    assert "FAIL the run is not finished: 1 unit(s) not on the board (adi on cheer: not finished)" in out
    assert out.rstrip().endswith("1 failed")


def test_a_real_run_left_stale_by_a_kill_reports_only_its_current_scores(fixture_benchmark, tmp_path, capsys):
    """Through the real pipeline: after a run with changed generation settings, one unit is put back
    as it was before (what a kill before the run reached it leaves); the board leaves it off."""
    from test_cli_e2e import PLUGIN

    run = tmp_path / "run"
    args = ["--plugins", PLUGIN, "run", "--benchmark", str(fixture_benchmark), "--methods", "text",
            "--actions", "all", "--metrics", "brightness", "--set", "text.num_inference_steps=4", "--out", str(run)]
    assert main(args) == 0
    store = RunStore(run)
    manifest = store.manifest()
    assert {label: keys["score"] for label, keys in manifest["stage_keys"].items() if "score" in keys} == {
        u.label: store.marker(u, "score")["key"] for u in store.units() if u.action is not None}
    assert {label: keys["train"] for label, keys in manifest["stage_keys"].items()} == {
        u.label: store.marker(u, "train")["key"] for u in store.units()}
    assert load_runs([run]).unfinished == []
    before = tmp_path / "before"
    shutil.copytree(store.unit_dir(Unit("text", "arms_out")), before)
    assert main(args + ["--set", "text.guidance_scale=3.0", "--replace"]) == 0
    shutil.rmtree(store.unit_dir(Unit("text", "arms_out")))
    shutil.copytree(before, store.unit_dir(Unit("text", "arms_out")))
    capsys.readouterr()
    assert main(["report", str(run), "--no-screenshot"]) == 0
    assert "text on arms_out: scored under settings other than the run's last 'run'" in capsys.readouterr().err
    board = pd.read_csv(run / "leaderboard.csv")
    assert set(board["action"]) == {"arms_up", OVERALL}
    assert main(args + ["--set", "text.guidance_scale=3.0", "--replace"]) == 0  # the same command finishes it
    assert load_runs([run]).unfinished == []


def test_methods_the_manifest_no_longer_holds_are_left_off_with_a_note(tmp_path, capsys):
    """A run whose last invocation changed a run-wide setting (the seeds) keeps only its own methods
    in the manifest (actionbench/carry.py); the board says which scored methods it left off."""
    run = write_run(tmp_path / "run", values, manifest=MANIFEST)
    store = RunStore(run)
    store.write_manifest({**store.manifest(), "methods": ["adi"]})
    data = load_runs([run])
    assert set(data.scores["method"]) == {"adi"} and data.not_named == ["text"] and data.unfinished == []
    assert main(["report", str(run), "--no-screenshot"]) == 0
    assert ("actionbench: note: left off the board: text, scored in the run under settings its manifest no longer "
            "holds (a later 'run' changed the run-wide settings: seeds, metrics, scorers; or the run was written by "
            "a suite version that did not record each unit's keys)") in capsys.readouterr().err
