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


def test_verify_one_folder_too_high_names_the_folder_that_holds_the_data(copy, capsys):
    """The parent of the data's folder matched none of it ("168 missing, 174 extra") with no hint."""
    assert main(["data", "verify", str(copy.parent)]) == 1
    assert capsys.readouterr().err.endswith(f": verify {copy}, which holds it\n")


def test_verify_an_empty_path_is_refused(capsys):
    assert main(["data", "verify", ""]) == 2  # Path("") would verify the working folder
    assert capsys.readouterr().err == ("actionbench: error: the folder to verify is empty: give the folder that "
                                       "holds the official data.\n")


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
    monkeypatch.chdir(tmp_path)
    assert main(["data", "fetch", "--dest", "bench"]) == 0  # relative: the line to paste must work from anywhere
    assert capsys.readouterr().out.splitlines()[-1] == \
        f"to use it: export ACTIONBENCH_DATA={(tmp_path / 'bench').resolve()}"


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


# --- zip bombs: members are streamed in chunks under caps, never read whole --------------------------------

MEMORY_PROBE = """
import json, sys
from pathlib import Path
from actionbench.data.fetch import UnpackLimits, unpack_verified
from actionbench.errors import ActionBenchError

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # MiB
data = Path(sys.argv[1]).read_bytes()
before = status("VmRSS")
try:
    unpack_verified(data, Path(sys.argv[2]), sys.argv[3], UnpackLimits(**json.loads(sys.argv[4])))
    error = None
except ActionBenchError as refused:
    error = str(refused)
print(json.dumps({"error": error, "grew_mib": status("VmHWM") - before}))
"""


def bomb_zip(path: Path, mib: int, member: str = "cheer/01.jpg", level: int = 1) -> Path:
    """The real archive with ``member`` swapped for ``mib`` MiB of zeros, written chunk by chunk (never whole)."""
    github_zip(shared_path("actionbench"), path, drop=member)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        with archive.open(TOP + member, "w", force_zip64=True) as handle:
            zeros = bytes(2**20)
            for _ in range(mib):
                handle.write(zeros)
    return path


def unpack_in_subprocess(archive: Path, dest: Path, limits: dict) -> dict:
    """Unpack in a fresh interpreter and measure how far its peak memory rose above where it stood before."""
    import json
    import subprocess
    import sys

    if not Path("/proc/self/status").is_file():
        pytest.skip("peak memory is read from /proc/self/status, which this platform lacks")
    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(archive), str(dest), archive.as_uri(),
                             json.dumps(limits)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def fix_for(url: str, dest: Path) -> str:
    return (f"download {url} by hand, unzip it, check it with 'actionbench data verify FOLDER', then move that folder "
            f"to {dest} (or set ACTIONBENCH_DATA=FOLDER).")


def test_a_real_size_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    """400 MiB of zeros in a 1.8 MB zip: refused on its compression ratio, memory barely moves."""
    archive = bomb_zip(tmp_path / "bomb.zip", 400)
    info = zipfile.ZipFile(archive).getinfo(TOP + "cheer/01.jpg")
    assert info.file_size == 400 * 2**20 and archive.stat().st_size < 4 * 2**20
    dest = tmp_path / "bench"
    outcome = unpack_in_subprocess(archive, dest, {})
    ratio = info.file_size / info.compress_size
    assert outcome["error"] == (f"cheer/01.jpg in the archive from {archive.as_uri()} is compressed {ratio:.0f}:1, "
                                f"more than the 50:1 any published file has (a zip bomb?): "
                                + fix_for(archive.as_uri(), dest))
    assert outcome["grew_mib"] < 16, outcome  # measured 0.1 MiB; reading it whole took 800 MiB
    assert not dest.exists() and [p.name for p in tmp_path.iterdir()] == ["bomb.zip"]


def test_a_member_past_the_caps_is_streamed_in_chunks_not_read_whole(tmp_path):
    """With the ratio and size caps lifted, 96 MiB of zeros passes through in 1 MiB chunks: memory stays
    far below the member's size (reading it whole took twice its size), and its hash refuses it."""
    archive = bomb_zip(tmp_path / "bomb.zip", 96)
    dest = tmp_path / "bench"
    outcome = unpack_in_subprocess(archive, dest, {"ratio": 1e9, "member_bytes": 2**30, "total_bytes": 2**31})
    assert outcome["error"] == (f"cheer/01.jpg in the archive from {archive.as_uri()} does not match its published "
                                f"SHA-256: " + fix_for(archive.as_uri(), dest))
    assert outcome["grew_mib"] < 16, outcome  # measured 3.8 MiB
    assert not dest.exists() and [p.name for p in tmp_path.iterdir()] == ["bomb.zip"]


@pytest.mark.parametrize("cap", ["member", "total"])
def test_the_size_caps_are_checked_before_inflating(tmp_path, cap):
    from actionbench.data.fetch import UnpackLimits, unpack_verified

    archive = github_zip(shared_path("actionbench"), tmp_path / "archive.zip")
    url, dest = archive.as_uri(), tmp_path / "bench"
    limits = UnpackLimits(member_bytes=20_000) if cap == "member" else UnpackLimits(total_bytes=1_000_000)
    with pytest.raises(ActionBenchError) as error:
        unpack_verified(archive.read_bytes(), dest, url, limits)
    if cap == "member":  # the first published file over 20 KB, in the published order
        sizes = {info.filename[len(TOP):]: info.file_size for info in zipfile.ZipFile(archive).infolist()}
        name = next(relative for relative in official_checksums() if sizes[relative] > 20_000)
        assert str(error.value) == (f"{name} in the archive from {url} unpacks to {sizes[name]} bytes, more than "
                                    f"the 20000 a published file may have: " + fix_for(url, dest))
    else:
        assert str(error.value).startswith(f"the archive from {url} unpacks to 18")  # 1.9 MB
        assert str(error.value).endswith(" bytes, more than the 1000000 the published files may have: "
                                         + fix_for(url, dest))
    assert not dest.exists()


def test_a_member_longer_than_its_header_says_is_refused_as_damaged(tmp_path):
    """A header that understates the size: the bytes produced are bounded and the CRC check refuses it."""
    archive = github_zip(shared_path("actionbench"), tmp_path / "archive.zip", drop="cheer/01.jpg")
    with zipfile.ZipFile(archive, "a", zipfile.ZIP_DEFLATED) as handle:
        handle.writestr(TOP + "cheer/01.jpg", bytes(3 * 2**20))
    raw = bytearray(archive.read_bytes())
    info = zipfile.ZipFile(archive).getinfo(TOP + "cheer/01.jpg")
    size = (3 * 2**20).to_bytes(4, "little")
    assert raw.count(size) == 2  # the local header and the central directory
    archive.write_bytes(bytes(raw).replace(size, (1000).to_bytes(4, "little")))
    url, dest = archive.as_uri(), tmp_path / "bench"
    with pytest.raises(ActionBenchError) as error:
        fetch_official(dest=dest, url=url)
    assert str(error.value) == (f"cheer/01.jpg in the archive from {url} is damaged (Bad CRC-32 for file "
                                f"'{info.filename}'): " + fix_for(url, dest))
    assert not dest.exists() and [p.name for p in tmp_path.iterdir()] == ["archive.zip"]


def test_streaming_stops_at_the_cap_whatever_the_header_says(tmp_path):
    """The byte count while streaming is its own guard, independent of the declared sizes."""
    from actionbench.data.fetch import UnpackLimits, _stream_member

    archive = zipfile.ZipFile(bomb_zip(tmp_path / "bomb.zip", 3))
    info = archive.getinfo(TOP + "cheer/01.jpg")
    limits = UnpackLimits(member_bytes=2**20 + 5, chunk_bytes=2**16)
    with pytest.raises(ActionBenchError) as error:
        _stream_member(archive, info, "cheer/01.jpg", tmp_path / "out" / "01.jpg", 2**30, limits, "file:bomb",
                       tmp_path / "bench")
    assert str(error.value).startswith("cheer/01.jpg in the archive from file:bomb unpacks to more than 1048581 "
                                       "bytes, more than its header says or a published file may have: download ")
    assert list((tmp_path / "out").iterdir()) == []  # the partial file is gone
