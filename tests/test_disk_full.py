"""A full disk is one line naming the path and the free space, the original failure is still what is
reported (even when recording it fails too), and nothing half-written is left behind."""

import errno
import json
import os
import re
import shutil
import subprocess
from collections import namedtuple
from pathlib import Path

import pytest

from actionbench.cli import main
from actionbench.errors import ActionBenchError
from actionbench.executors.base import StageTask, run_with_retries
from actionbench.fileio import atomic_write_bytes
from actionbench.store import RunStore, Unit

PLUGIN = str(Path(__file__).parent / "plugins" / "dummy_metric.py")
Usage = namedtuple("Usage", "total used free")
FIX = "free space on that filesystem or choose another --out, then re-run the same command to resume"


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture()
def one_mib_free(monkeypatch):
    monkeypatch.setattr("actionbench.fileio.shutil.disk_usage", lambda path: Usage(1 << 30, 1 << 30, 1 << 20))


def leftovers(folder: Path) -> list[str]:
    """Temporary files of interrupted atomic writes and trainings."""
    return sorted(str(p) for p in folder.rglob("*") if p.name.endswith(".tmp") or ".partial-" in p.name)


def test_an_atomic_write_on_a_full_disk_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch, one_mib_free):
    target = tmp_path / "scores.jsonl"
    target.write_text("old\n")
    monkeypatch.setattr("actionbench.fileio.os.fsync", no_space)
    with pytest.raises(ActionBenchError) as caught:
        atomic_write_bytes(target, b"x" * 3000)
    assert str(caught.value) == (f"out of space writing {target} (No space left on device; 1.0 MiB free, "
                                 f"2.9 KiB needed): {FIX}.")
    assert target.read_text() == "old\n" and leftovers(tmp_path) == []


def test_recording_a_failure_on_a_full_disk_never_raises(tmp_path, monkeypatch, one_mib_free):
    store = RunStore(tmp_path / "run")
    unit = Unit("text", "arms_up")
    monkeypatch.setattr("actionbench.fileio.os.fsync", no_space)
    note = store.mark_failed(unit, "train", "ValueError: the real problem", 1)
    assert re.fullmatch(re.escape(f"the failure could not be recorded: out of space writing "
                                  f"{store.unit_dir(unit)}/train.failed.json (No space left on device; 1.0 MiB free, ")
                        + r"\d+ bytes needed\)", note)
    assert leftovers(tmp_path) == [] and not (store.unit_dir(unit) / "train.failed.json").exists()


def test_the_original_failure_is_reported_when_it_cannot_be_recorded(tmp_path, monkeypatch, one_mib_free):
    """A method saving its weights on a full disk raises a bare OSError; recording that fails too."""
    store = RunStore(tmp_path / "run")
    unit = Unit("text", "arms_up")
    weights = store.unit_dir(unit) / "artifact.partial-1" / "unet.safetensors"

    class FullDiskTask(StageTask):
        def __call__(self, stage, unit):
            raise OSError(errno.ENOSPC, "No space left on device", str(weights))

    monkeypatch.setattr("actionbench.fileio.os.fsync", no_space)
    error = run_with_retries(FullDiskTask(str(store.root), config=None), "train", unit, retries=0)
    assert error.startswith(
        f"OSError: out of space writing {weights} (No space left on device; 1.0 MiB free) (and the failure could "
        f"not be recorded: out of space writing {store.unit_dir(unit)}/train.failed.json (No space left on device; "
        "1.0 MiB free, ")
    assert error.endswith(" bytes needed))")
    assert "\n" not in error


def test_a_run_that_fills_the_disk_reports_each_unit_on_one_line(fixture_benchmark, tmp_path, monkeypatch,
                                                                   one_mib_free, capsys):
    """Saving an image fails with ENOSPC: the unit fails with the path and the free space, the others
    finish, nothing half-written is left, and the same command resumes once there is space."""
    from PIL import Image

    run = tmp_path / "run"
    args = ["--plugins", PLUGIN, "run", "--benchmark", str(fixture_benchmark), "--methods", "text,plain",
            "--actions", "arms_up", "--metrics", "brightness", "--out", str(run), "--no-report"]
    real_save = Image.Image.save

    def save(image, fp, *a, **k):
        if "/text/" in str(fp):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(image, fp, *a, **k)

    monkeypatch.setattr(Image.Image, "save", save)
    assert main(args) == 1
    err = capsys.readouterr().err
    failed = f"{run}/units/text/arms_up"
    assert (f"actionbench: unit text/arms_up failed in generate: out of space writing {failed}/images/man-s0-0.png "
            f"(No space left on device; 1.0 MiB free): {FIX}.\n") in err
    assert "Traceback" not in err and "plain/arms_up failed" not in err
    assert json.loads(Path(failed, "generate.failed.json").read_text())["error"].startswith(
        f"out of space writing {failed}/images/man-s0-0.png")
    assert leftovers(run) == []

    monkeypatch.setattr(Image.Image, "save", real_save)  # space was freed
    assert main(args) == 0
    assert not Path(failed, "generate.failed.json").exists()

    monkeypatch.setattr(Image.Image, "save", no_space)  # the disk fills again while the board's grids are drawn
    capsys.readouterr()
    assert main(["report", str(run), "--no-screenshot"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"actionbench: error: out of space writing {run}") and err.count("\n") == 1
    assert f"(No space left on device; 1.0 MiB free): {FIX}.\n" in err
    assert leftovers(run) == []


def can_mount_tmpfs(folder: Path) -> str | None:
    """None when this process may mount a small tmpfs, else why not."""
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root"
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return "no mount/umount command"
    folder.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True,
                           check=False)
    if probe.returncode != 0:
        return f"cannot mount a tmpfs here ({probe.stderr.decode().strip() or probe.returncode})"
    subprocess.run(["umount", str(folder)], check=True)
    return None


@pytest.fixture()
def small_disk(tmp_path):
    """A 96 KiB tmpfs: room for the manifest and a few images, not for a whole run."""
    disk = tmp_path / "small"
    reason = can_mount_tmpfs(disk)
    if reason:
        pytest.skip(reason)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_real_small_disk(fixture_benchmark, small_disk, capsys):
    run = small_disk / "run"
    args = ["--plugins", PLUGIN, "run", "--benchmark", str(fixture_benchmark), "--methods", "text,plain",
            "--actions", "all", "--metrics", "brightness", "--out", str(run), "--no-report"]
    assert main(args) == 1
    err = capsys.readouterr().err
    failures = [line for line in err.splitlines() if line.startswith("actionbench: unit ")]
    assert failures, err
    for line in failures:
        assert f"out of space writing {run}/units/" in line and "(No space left on device; " in line, line
    assert "Traceback" not in err
    assert leftovers(run) == []
    for path in run.rglob("*.json*"):  # every file there is whole: it parses
        text = path.read_text()
        [json.loads(row) for row in text.splitlines() if row.strip()] if path.suffix == ".jsonl" else json.loads(text)

    subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], check=True)  # space was freed
    assert main(args) == 0
    assert main(["report", str(run), "--no-screenshot"]) == 0
