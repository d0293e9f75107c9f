"""``actionbench data fetch``: download the official ActionBench, check every file, unpack atomically.

GitHub serves any commit of a repository as a zip (``/archive/<commit>.zip``) whose entries sit
under one top folder (``ActionBench-<commit>/``). Only the published files (checked against the
shipped SHA-256) and the source's README and licence are unpacked, byte for byte, into a staging
folder beside the destination that is renamed into place at the end: an interrupted or failed
fetch leaves nothing half-written, and a zip can never write outside its destination.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from actionbench.data.official import (DATA_ENV, DOCUMENT_FILES, IMAGE_CHECKSUMS, METADATA_CHECKSUMS,
                                       package_text, archive_url, official_checksums)
from actionbench.data.verify import verify_copy
from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_path, atomic_write_text
from actionbench.paths import data_dir

TIMEOUT_S = 60
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024  # the archive is about 2 MB; refuse anything far larger


def manual_fix(url: str, dest: Path) -> str:
    return (f"download {url} by hand, unzip it, check it with 'actionbench data verify FOLDER', "
            f"then move that folder to {dest} (or set {DATA_ENV}=FOLDER)")


def download(url: str, dest: Path, timeout: float = TIMEOUT_S) -> bytes:
    """The archive's bytes, or one clear error naming the manual route."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read(MAX_DOWNLOAD_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise ActionBenchError(f"cannot download the official ActionBench from {url} "
                               f"({' '.join(str(reason).split())})", manual_fix(url, dest)) from error
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise ActionBenchError(f"{url} sent more than {MAX_DOWNLOAD_BYTES // 2**20} MiB", manual_fix(url, dest))
    return data


def _members_by_path(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Archive files keyed by their path below the archive's single top folder (if it has one)."""
    files = [info for info in archive.infolist() if not info.is_dir()]
    tops = {info.filename.split("/", 1)[0] for info in files}
    strip = len(tops) == 1 and all("/" in info.filename for info in files)
    return {(info.filename.split("/", 1)[1] if strip else info.filename): info for info in files}


@dataclass(frozen=True)
class UnpackLimits:
    """Caps that stop a zip bomb before it fills memory or disk; the real archive sits far inside each.

    Members are streamed in ``chunk_bytes`` pieces, so memory stays near one chunk whatever the zip
    declares; the caps bound what reaches the disk. The declared sizes are checked before anything
    is decompressed and the bytes actually produced are counted again while streaming.
    """

    member_bytes: int = 8 * 2**20  # the largest published file is a 25 KB photo
    total_bytes: int = 64 * 2**20  # the 170 files unpacked are 1.9 MB together
    ratio: float = 50.0  # deflate shrinks the photos about 1:1 and the text at most 3.3:1; zeros reach 1000:1
    chunk_bytes: int = 2**20


LIMITS = UnpackLimits()


def _check_declared(members: dict[str, zipfile.ZipInfo], limits: UnpackLimits, url: str, dest: Path) -> None:
    """Refuse a member (or the lot) that would be too large or too compressed, before inflating any."""
    total = 0
    for relative, info in members.items():
        if info.file_size > limits.ratio * max(info.compress_size, 1):
            raise ActionBenchError(f"{relative} in the archive from {url} is compressed "
                                   f"{info.file_size / max(info.compress_size, 1):.0f}:1, more than the {limits.ratio:g}:1 "
                                   f"any published file has (a zip bomb?)", manual_fix(url, dest))
        if info.file_size > limits.member_bytes:
            raise ActionBenchError(f"{relative} in the archive from {url} unpacks to {info.file_size} bytes, more than "
                                   f"the {limits.member_bytes} a published file may have", manual_fix(url, dest))
        total += info.file_size
    if total > limits.total_bytes:
        raise ActionBenchError(f"the archive from {url} unpacks to {total} bytes, more than the {limits.total_bytes} "
                               f"the published files may have", manual_fix(url, dest))


def _stream_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, relative: str, target: Path,
                   budget: int, limits: UnpackLimits, url: str, dest: Path) -> tuple[str, int]:
    """Copy one member to ``target`` chunk by chunk; returns its SHA-256 and size.

    Stops as soon as the bytes produced pass the member cap or what is left of the total ``budget``,
    whatever the zip's header says.
    """
    cap = min(limits.member_bytes, budget)
    digest, size = hashlib.sha256(), 0
    try:
        with archive.open(info) as source, atomic_path(target) as temp, open(temp, "wb") as out:
            for chunk in iter(lambda: source.read(limits.chunk_bytes), b""):
                size += len(chunk)
                if size > cap:
                    raise ActionBenchError(f"{relative} in the archive from {url} unpacks to more than {cap} bytes, "
                                           f"more than its header says or a published file may have",
                                           manual_fix(url, dest))
                digest.update(chunk)
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as error:
        raise ActionBenchError(f"{relative} in the archive from {url} is damaged ({' '.join(str(error).split())})",
                               manual_fix(url, dest)) from error
    except OSError as error:
        raise ActionBenchError(f"cannot write {target} ({error.strerror or error})",
                               f"free some space in {dest.parent} or pass another --dest") from error
    return digest.hexdigest(), size


def unpack_verified(data: bytes, dest: Path, url: str, limits: UnpackLimits = LIMITS) -> int:
    """Check every published file in the zip ``data`` while unpacking it into ``dest`` atomically."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise ActionBenchError(f"the download from {url} is not a zip archive", manual_fix(url, dest)) from error
    expected = official_checksums()
    members = _members_by_path(archive)
    missing = sorted(set(expected) - set(members))
    if missing:
        raise ActionBenchError(f"the archive from {url} lacks {len(missing)} published file(s), e.g. {missing[0]}",
                               manual_fix(url, dest))
    wanted = {relative: members[relative] for relative in expected}
    wanted.update({name: members[name] for name in DOCUMENT_FILES if name in members})  # README and licence travel too
    _check_declared(wanted, limits, url, dest)

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.partial-"))
    except OSError as error:
        raise ActionBenchError(f"cannot write to {dest.parent} ({error.strerror or error})",
                               "pass a writable folder with --dest") from error
    try:
        budget = limits.total_bytes
        for relative, info in wanted.items():
            digest, size = _stream_member(archive, info, relative, staging / relative, budget, limits, url, dest)
            budget -= size
            if relative in expected and digest != expected[relative]:
                raise ActionBenchError(f"{relative} in the archive from {url} does not match its published SHA-256",
                                       manual_fix(url, dest))
        atomic_write_text(staging / "checksums.sha256", package_text(IMAGE_CHECKSUMS))
        atomic_write_text(staging / "metadata.sha256", package_text(METADATA_CHECKSUMS))
        check = verify_copy(staging)
        if not check.ok:  # the disk lost something between write and read: do not install it
            raise ActionBenchError(f"the unpacked copy in {staging} failed its check ({check.problem_lines()[0]})",
                                   "check the disk and run 'actionbench data fetch' again")
        if dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return len(expected)


def fetch_official(dest: Path | None = None, url: str | None = None, timeout: float = TIMEOUT_S) -> str:
    """Download, verify and install the official ActionBench; returns one line saying what happened."""
    dest = Path(dest).expanduser() if dest else data_dir("actionbench")
    url = url or archive_url()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        if dest.is_dir() and verify_copy(dest).ok:
            return f"the official ActionBench is already in {dest} and matches its checksums"
        raise ActionBenchError(f"{dest} already exists and does not hold a clean copy of the official ActionBench",
                               f"see 'actionbench data verify {dest}', then remove it or pass another --dest")
    count = unpack_verified(download(url, dest, timeout), dest, url)
    return f"fetched the official ActionBench into {dest} ({count} files, every one matches its checksum)"
