"""``actionbench data verify`` and ``data fetch``: every missing, extra or altered file is caught.

No test touches the network: fetch reads a zip built in tmp_path through a file:// URL, and the
no-network path points the URL at a closed local port.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from actionbench.cli import main
from actionbench.data.fetch import fetch_official
from actionbench.data.official import official_checksums
from actionbench.errors import ActionBenchError
from conftest import shared_path

TOP = "ActionBench-42344c8cf4794465ebf15a0f482ea1447a198453/"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ACTIONBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ACTIONBENCH_DATA", raising=False)
    monkeypatch.delenv("ACTIONBENCH_DATA_URL", raising=False)
    return tmp_path / "home"


@pytest.fixture()
def copy(tmp_path) -> Path:
    """A writable copy of the official data inside tmp_path."""
    target = tmp_path / "copy"
    shutil.copytree(shared_path("actionbench"), target)
    for path in target.rglob("*"):
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return target


def github_zip(source: Path, path: Path, alter: str | None = None, drop: str | None = None) -> Path:
    """A zip laid out as GitHub's archive of the commit: one top folder, the source's README and LICENSE."""
    renamed = {"SOURCE_README.md": "README.md", "LICENSE-CC-BY-NC-ND-4.0.md": "LICENSE"}
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(source.rglob("*")):
            relative = file.relative_to(source).as_posix()
            if not file.is_file() or relative in ("README.md", "checksums.sha256", "metadata.sha256") or relative == drop:
                continue
            data = file.read_bytes() + (b"\0" if relative == alter else b"")
            archive.writestr(TOP + renamed.get(relative, relative), data)
    return path


def test_verify_a_clean_copy(capsys):
    data = shared_path("actionbench")
    assert main(["data", "verify", str(data)]) == 0
    out = capsys.readouterr().out
    assert out == f"OK: {data} matches the official ActionBench (168 files checked)\n"


def test_verify_reports_every_missing_extra_and_altered_file(copy, capsys):
    (copy / "cheer" / "01.jpg").unlink()
    (copy / "gesture" / "text.json").unlink()
    (copy / "squat" / "11.jpg").write_bytes((copy / "squat" / "01.jpg").read_bytes())
    (copy / "notes.txt").write_text("mine")
    with open(copy / "pray" / "05.jpg", "ab") as handle:
        handle.write(b"\0")
    with open(copy / "sit" / "02.txt", "a") as handle:
        handle.write(" edited")
    (copy / ".DS_Store").write_bytes(b"\0")  # hidden files are ignored
    assert main(["data", "verify", str(copy)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["missing: cheer/01.jpg", "missing: gesture/text.json", "extra: notes.txt",
                                         "altered: pray/05.jpg", "altered: sit/02.txt", "extra: squat/11.jpg"]
    assert captured.err == (f"actionbench: {copy} differs from the official ActionBench: 2 missing, 2 extra, "
                            f"2 altered: restore the originals, e.g. with 'actionbench data fetch'\n")


@pytest.mark.parametrize("change", ["remove", "add", "alter"])
def test_verify_catches_one_image(copy, capsys, change):
    image = copy / "handstand" / "07.jpg"
    if change == "remove":
        image.unlink()
    elif change == "add":
        (copy / "handstand" / "07 copy.jpg").write_bytes(image.read_bytes())
    else:
        data = bytearray(image.read_bytes())
        data[len(data) // 2] ^= 0xFF
        image.write_bytes(bytes(data))
    assert main(["data", "verify", str(copy)]) == 1
    expected = {"remove": "missing: handstand/07.jpg", "add": "extra: handstand/07 copy.jpg",
                "alter": "altered: handstand/07.jpg"}[change]
    assert capsys.readouterr().out.splitlines() == [expected]


def test_verify_a_missing_folder(tmp_path, capsys):
    assert main(["data", "verify", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == (f"actionbench: error: {tmp_path / 'nowhere'} is not a folder: pass the folder "
                                       f"that holds the action folders (cheer/, gesture/, ...).\n")


def test_fetch_downloads_verifies_and_installs(tmp_path, home, monkeypatch, capsys):
    archive = github_zip(shared_path("actionbench"), tmp_path / "archive.zip")
    monkeypatch.setenv("ACTIONBENCH_DATA_URL", archive.as_uri())
    assert main(["data", "fetch"]) == 0
    dest = home / "data" / "actionbench"
    assert capsys.readouterr().out == (f"fetched the official ActionBench into {dest} (168 files, every one matches "
                                       f"its checksum)\n")
    assert main(["data", "verify", str(dest)]) == 0
    assert capsys.readouterr().out.startswith(f"OK: {dest} matches")
    assert (dest / "LICENSE").is_file() and (dest / "README.md").is_file()
    assert [p.name for p in dest.parent.iterdir()] == ["actionbench"]  # no staging folder left
    assert main(["list", "actions", "--benchmark", "actionbench"]) == 0  # found without any setting
    assert len(capsys.readouterr().out.splitlines()) == 1 + 8
    assert main(["data", "fetch"]) == 0  # a second fetch finds it in place
    assert capsys.readouterr().out == f"the official ActionBench is already in {dest} and matches its checksums\n"


def test_fetch_to_another_folder_says_how_to_use_it(tmp_path, monkeypatch, capsys):
    archive = github_zip(shared_path("actionbench"), tmp_path / "archive.zip")
    monkeypatch.setenv("ACTIONBENCH_DATA_URL", archive.as_uri())
    assert main(["data", "fetch", "--dest", str(tmp_path / "bench")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"to use it: export ACTIONBENCH_DATA={tmp_path / 'bench'}"


def test_fetch_without_network_says_what_to_do_by_hand(home, monkeypatch, capsys):
    url = "http://127.0.0.1:9/ActionBench.zip"  # the discard port: nothing listens there
    monkeypatch.setenv("ACTIONBENCH_DATA_URL", url)
    assert main(["data", "fetch"]) == 2
    err = capsys.readouterr().err
    dest = home / "data" / "actionbench"
    assert err.count("\n") == 1
    assert err.startswith(f"actionbench: error: cannot download the official ActionBench from {url} (")
    assert err.endswith(f"): download {url} by hand, unzip it, check it with 'actionbench data verify FOLDER', "
                        f"then move that folder to {dest} (or set ACTIONBENCH_DATA=FOLDER).\n")
    assert not (home / "data").exists() or not any((home / "data").iterdir())


@pytest.mark.parametrize("problem", ["altered", "missing"])
def test_fetch_refuses_a_bad_archive_and_writes_nothing(tmp_path, home, monkeypatch, problem):
    source = shared_path("actionbench")
    archive = github_zip(source, tmp_path / "archive.zip", alter="meditate/04.jpg" if problem == "altered" else None,
                         drop="meditate/04.jpg" if problem == "missing" else None)
    url = archive.as_uri()
    dest = home / "data" / "actionbench"
    with pytest.raises(ActionBenchError) as error:
        fetch_official(url=url)
    fix = (f"download {url} by hand, unzip it, check it with 'actionbench data verify FOLDER', then move that folder "
           f"to {dest} (or set ACTIONBENCH_DATA=FOLDER).")
    if problem == "altered":
        assert str(error.value) == (f"meditate/04.jpg in the archive from {url} does not match its published SHA-256: "
                                    + fix)
    else:
        assert str(error.value) == (f"the archive from {url} lacks 1 published file(s), e.g. meditate/04.jpg: " + fix)
    assert not dest.exists()


def test_fetch_refuses_a_non_zip(tmp_path, home):
    page = tmp_path / "page.zip"
    page.write_text("<html>rate limited</html>")
    with pytest.raises(ActionBenchError) as error:
        fetch_official(url=page.as_uri())
    assert str(error.value).startswith(f"the download from {page.as_uri()} is not a zip archive: download ")
    assert not (home / "data" / "actionbench").exists()


def test_fetch_never_overwrites_a_folder_that_differs(copy, capsys):
    (copy / "cheer" / "02.jpg").unlink()
    assert main(["data", "fetch", "--dest", str(copy)]) == 2
    assert capsys.readouterr().err == (f"actionbench: error: {copy} already exists and does not hold a clean copy of "
                                       f"the official ActionBench: see 'actionbench data verify {copy}', then remove "
                                       f"it or pass another --dest.\n")
    assert (copy / "cheer" / "01.jpg").is_file()


def test_only_published_files_leave_the_archive(tmp_path):
    """A hostile zip entry (../escape) is never written: only listed paths are unpacked."""
    archive = github_zip(shared_path("actionbench"), tmp_path / "archive.zip")
    with zipfile.ZipFile(archive, "a") as handle:
        handle.writestr(TOP + "../../escape.txt", "gotcha")
        handle.writestr(TOP + "cheer/extra.jpg", "not listed")
    dest = tmp_path / "deep" / "bench"
    fetch_official(dest=dest, url=archive.as_uri())
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "deep" / "escape.txt").exists()
    assert not (dest / "cheer" / "extra.jpg").exists()
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == sorted(
        list(official_checksums()) + ["LICENSE", "README.md", "checksums.sha256", "metadata.sha256"])
