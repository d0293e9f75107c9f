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
from pathlib import Path

from actionbench.data.official import (DATA_ENV, DOCUMENT_FILES, IMAGE_CHECKSUMS, METADATA_CHECKSUMS,
                                       package_text, archive_url, official_checksums)
from actionbench.data.verify import verify_copy
from actionbench.errors import ActionBenchError
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


def unpack_verified(data: bytes, dest: Path, url: str) -> int:
    """Check every published file in the zip ``data``, then unpack them into ``dest`` atomically."""
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
    contents = {}
    for relative, digest in expected.items():
        content = archive.read(members[relative])
        if hashlib.sha256(content).hexdigest() != digest:
            raise ActionBenchError(f"{relative} in the archive from {url} does not match its published SHA-256",
                                   manual_fix(url, dest))
        contents[relative] = content
    for name in DOCUMENT_FILES:  # the source's README and licence travel with the data
        if name in members:
            contents[name] = archive.read(members[name])
    contents["checksums.sha256"] = package_text(IMAGE_CHECKSUMS).encode()
    contents["metadata.sha256"] = package_text(METADATA_CHECKSUMS).encode()

    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.partial-"))
    try:
        for relative, content in contents.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
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
