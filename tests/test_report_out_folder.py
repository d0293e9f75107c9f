"""`report --out DIR` writes a board into DIR and removes what an older board left there (a grid of an
action no longer on it, an older screenshot or human table). So it writes only into a folder that is
new, empty, a run directory, or a board folder it wrote before; a folder of someone's own files is
refused with one line, and nothing in it is touched."""

from __future__ import annotations

from report_helpers import write_run

from actionbench.cli import main


def values(method, action, subject, seed):
    return {"clip": 0.2 + 0.1 * seed, "judge_action": 1.0 if method == "adi" else 0.0}


def test_a_folder_of_other_files_is_refused_and_left_untouched(tmp_path, capsys):
    run = write_run(tmp_path / "run", values)
    paper = tmp_path / "paper"
    (paper / "grids").mkdir(parents=True)
    own = {paper / "human.csv": b"rater,score\n", paper / "grids" / "figure1.png": b"\x89PNG own figure",
           paper / "notes.txt": b"draft"}
    for path, content in own.items():
        path.write_bytes(content)
    assert main(["report", str(run), "--out", str(paper), "--no-screenshot"]) == 2
    assert capsys.readouterr().err == (
        f"actionbench: error: --out {paper} is not empty and holds no board written by 'actionbench report' "
        "(it holds grids, human.csv, notes.txt): choose a new or empty folder for the board.\n")
    assert {path: path.read_bytes() for path in own} == own
    assert sorted(p.name for p in paper.rglob("*")) == ["figure1.png", "grids", "human.csv", "notes.txt"]


def test_a_new_folder_then_the_same_board_folder_again(tmp_path):
    run = write_run(tmp_path / "run", values)
    board = tmp_path / "board"
    assert main(["report", str(run), "--out", str(board), "--no-screenshot"]) == 0
    grids = sorted(p.name for p in (board / "grids").iterdir())
    assert main(["report", str(run), "--out", str(board), "--no-screenshot"]) == 0  # its own board folder
    assert sorted(p.name for p in (board / "grids").iterdir()) == grids
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(run), "--out", str(empty), "--no-screenshot"]) == 0
    assert main(["report", str(run), "--no-screenshot"]) == 0  # the run directory itself


def test_a_file_as_out_is_refused(tmp_path, capsys):
    run = write_run(tmp_path / "run", values)
    target = tmp_path / "board.html"
    target.write_text("mine")
    assert main(["report", str(run), "--out", str(target), "--no-screenshot"]) == 2
    assert capsys.readouterr().err == (f"actionbench: error: --out {target} is a file, not a folder: "
                                       "choose a new or empty folder for the board.\n")
    assert target.read_text() == "mine"


def test_another_runs_directory_is_refused(tmp_path, capsys):
    run = write_run(tmp_path / "run", values, actions=("cheer",))
    other = write_run(tmp_path / "other", values, actions=("salute",))
    board = other / "leaderboard.html"
    board.write_text("<title>ActionBench leaderboard</title> the other run's own board")
    assert main(["report", str(run), "--out", str(other), "--no-screenshot"]) == 2
    assert capsys.readouterr().err == (
        f"actionbench: error: --out {other} is the directory of another run, whose own board this one would "
        "replace: choose a new or empty folder for the board, or one of the reported runs.\n")
    assert board.read_text().endswith("the other run's own board")
    assert main(["report", str(run), str(other), "--out", str(other), "--no-screenshot"]) == 0  # one of them


def test_an_empty_out_is_refused_not_taken_as_the_default(tmp_path, capsys):
    run = write_run(tmp_path / "run", values)
    assert main(["report", str(run), "--out", "", "--no-screenshot"]) == 2
    assert capsys.readouterr().err == ("actionbench: error: --out is empty: give the folder to write the board "
                                       "into, or leave --out out.\n")
    assert not (run / "leaderboard.csv").exists()
