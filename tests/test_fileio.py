import os
import signal
import subprocess
import sys
import time

import pytest

from actionbench.errors import ActionBenchError
from actionbench.fileio import DirectoryLock, atomic_path, atomic_write_json, read_json, stable_hash


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "result.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temp:
            temp.write_text("half-written")
            raise RuntimeError("killed mid-write")
    assert read_json(target) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temporary left behind


def test_stable_hash_is_order_independent_for_dicts():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})


def test_lock_refuses_a_second_writer_and_dies_with_its_holder(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from actionbench.fileio import DirectoryLock; "
        f"lock = DirectoryLock({str(tmp_path)!r}).acquire(); print('locked', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ActionBenchError) as error:
            DirectoryLock(tmp_path).acquire()
        assert str(error.value) == (f"{tmp_path} is in use by pid {holder.pid}: wait for it to finish, "
                                    "or choose another --out folder.")
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    deadline = time.time() + 5
    while True:  # the kernel drops a flock when its holder dies: no stale lock after SIGKILL
        try:
            DirectoryLock(tmp_path).acquire().release()
            break
        except ActionBenchError:
            assert time.time() < deadline
            time.sleep(0.05)


def test_unwritable_folder_is_one_clear_error(tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    with pytest.raises(ActionBenchError, match="cannot write to .*choose a writable output folder"):
        DirectoryLock(blocked / "run").acquire()


def test_atomic_writes_get_the_umask_mode_not_private_temporaries(tmp_path):
    """On a shared filesystem a run's files are as readable as any file its user writes (mkstemp's 0600
    would hide results from colleagues)."""
    import os
    import stat

    from actionbench import fileio

    mask = os.umask(0o022)
    os.umask(mask)
    fileio.atomic_write_text(tmp_path / "board.csv", "a,b\n")
    assert stat.S_IMODE((tmp_path / "board.csv").stat().st_mode) == 0o666 & ~mask
    with fileio.atomic_path(tmp_path / "image.png") as temp:
        temp.write_bytes(b"png")
    assert stat.S_IMODE((tmp_path / "image.png").stat().st_mode) == 0o666 & ~mask
