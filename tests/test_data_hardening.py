"""``data add-action``, ``data verify`` and ``$ACTIONBENCH_HOME``: odd files and values are one line or a
normal report, never a traceback, and nothing is written outside the suite's home."""

from __future__ import annotations

from pathlib import Path

import actionbench.data.verify as verify
from actionbench.cli import main
from actionbench.fileio import file_sha256
from actionbench.paths import custom_actions_dir, home
from fixtures import COLOURS, POSES, draw_figure


def photos(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        draw_figure(POSES["arms_up"], COLOURS[i], 230 - 20 * i).save(folder / f"{i:02d}.png")
    return folder


def add_wave(folder: Path) -> list[str]:
    return ["data", "add-action", "wave", "--images", str(folder), "--description", "waving one hand"]


def test_an_empty_home_variable_means_the_default_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("ACTIONBENCH_HOME", "")
    assert home() == tmp_path / "user" / ".actionbench"
    assert custom_actions_dir() == tmp_path / "user" / ".actionbench" / "actions"  # not ./actions


def test_an_actions_path_that_is_a_file_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACTIONBENCH_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "actions").write_text("")
    assert main(add_wave(photos(tmp_path / "photos"))) == 2
    actions = tmp_path / "home" / "actions"
    assert capsys.readouterr().err == (f"actionbench: error: {actions} is a file, not a folder: move or remove it; "
                                       f"added actions are kept in the folder {actions}.\n")


def test_a_text_json_that_is_a_folder_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACTIONBENCH_HOME", str(tmp_path / "home"))
    folder = photos(tmp_path / "photos")
    (folder / "text.json").mkdir()
    assert main(add_wave(folder)) == 2
    assert capsys.readouterr().err == (
        f"actionbench: error: {folder / 'text.json'} is a folder, not a file: remove or rename it; text.json is a "
        "file mapping photos to captions (docs/data-format.md).\n")
    assert not (tmp_path / "home").exists()


def test_verify_reports_a_dangling_link_as_missing(tmp_path, monkeypatch, capsys):
    folder = photos(tmp_path / "copy" / "cheer")
    expected = {f"cheer/{p.name}": file_sha256(p) for p in sorted(folder.iterdir())}
    monkeypatch.setattr(verify, "official_checksums", lambda: expected)
    (folder / "01.png").unlink()
    (folder / "01.png").symlink_to(tmp_path / "nonexistent")
    assert main(["data", "verify", str(tmp_path / "copy")]) == 1
    captured = capsys.readouterr()
    assert captured.out == "missing: cheer/01.png\n"
    assert captured.err == (f"actionbench: {tmp_path / 'copy'} differs from the official ActionBench: 1 missing, "
                            "0 extra, 0 altered: restore the originals, e.g. with 'actionbench data fetch'\n")
