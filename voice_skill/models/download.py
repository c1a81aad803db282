"""Downloading a Vosk model: resumable, checksummed, unpacked safely, installed atomically."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import IO

from voice_skill import __version__
from voice_skill.errors import ModelError
from voice_skill.models.manifest import (
    STAMP_NAME,
    ModelEntry,
    Opener,
    default_download_dir,
    find_entry,
    locate_vosk_model,
    user_models_dir,
    verify,
)
from voice_skill.settings import Settings

BASE_URL_ENV = "VOICE_SKILL_MODEL_BASE_URL"
"""environment variable that replaces the manifest's download location (folder URL)"""


RETRY_FAILED_AFTER_S = 24 * 3600.0
"""`try_download_once` does not retry a failed start-up download sooner than this (seconds)"""


_CHUNK = 1 << 16


_UNPACK_RATIO = 10
"""an archive may unpack to at most this many times its size (Vosk zips are ~1.6): a zip-bomb cap"""


class _Interrupted(Exception):
    """The transfer stopped early; the partial file is kept for a resume."""


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def resolve_url(entry: ModelEntry, base_url: str | None = None) -> str:
    """The archive URL: the manifest's, or `<base_url>/<archive>` (parameter, then env)."""
    base = base_url or os.environ.get(BASE_URL_ENV)
    if base:
        return f"{base.rstrip('/')}/{entry.archive_name}"
    return entry.url


def _unreachable(url: str, exc: BaseException) -> ModelError:
    return ModelError(
        f"Could not reach {_host(url)} (no network?): the skill will keep using the bundled "
        f"recognizer. ({exc})"
    )


def _content_range_start(header: str | None) -> int | None:
    match = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", header or "")
    return int(match.group(1)) if match else None


def _fetch(
    url: str, part: Path, entry: ModelEntry, opener: Opener, timeout_s: float, progress: bool
) -> None:
    """One HTTP request that fills `part` (resuming it if it has bytes); raises _Interrupted."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"voice-skill/{__version__}", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = opener.open(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # The server will not serve from our offset (the part is bigger than the file,
            # or the file changed): start again from nothing.
            part.unlink()
            raise _Interrupted("server refused to resume; restarting") from None
        raise ModelError(f"{url}: the server answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise _unreachable(url, reason if isinstance(reason, BaseException) else exc) from None
    with response:
        status = getattr(response, "status", 200)
        if status == 206:
            if not have or _content_range_start(response.headers.get("Content-Range")) != have:
                # A range we did not ask for: its bytes cannot be placed; start afresh.
                part.unlink(missing_ok=True)
                raise _Interrupted("the server sent an unexpected byte range; restarting")
            mode = "ab"
        else:
            # 200 to a Range request: the server ignores Range and sends the whole file,
            # so restart cleanly from byte 0.
            mode, have = "wb", 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else entry.size_bytes
        if entry.size_bytes is not None and total is not None and total != entry.size_bytes:
            part.unlink(missing_ok=True)
            raise ModelError(
                f"{url}: the server offers {total} bytes but the manifest expects "
                f"{entry.size_bytes} for {entry.name}; not downloading a different file"
            )
        _stream(response, part, mode, have, total, entry.name, progress)


def _stream(
    response: IO[bytes],
    part: Path,
    mode: str,
    have: int,
    total: int | None,
    label: str,
    progress: bool,
) -> None:
    from tqdm import tqdm

    with (
        open(part, mode) as out,
        tqdm(
            total=total,
            initial=have,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=label,
            disable=not progress,
            file=sys.stderr,
            leave=False,
        ) as bar,
    ):
        while True:
            try:
                chunk = response.read(_CHUNK)
            except (http.client.HTTPException, OSError) as exc:
                raise _Interrupted(f"connection lost after {have} bytes ({exc!r})") from None
            if not chunk:
                break
            try:
                out.write(chunk)
            except OSError as exc:
                raise ModelError(f"{part}: cannot write the download: {exc.strerror}") from None
            have += len(chunk)
            bar.update(len(chunk))
            if total is not None and have > total:
                break  # more than announced: stop filling the disk; the size check fails it
    if total is not None and have < total:
        # urllib returns b"" when the peer closes early instead of raising: count ourselves.
        raise _Interrupted(f"connection closed after {have} of {total} bytes")


def _digests(path: Path) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def _check_archive(part: Path, entry: ModelEntry) -> str:
    """Size, SHA-256 and MD5 of the downloaded archive; a bad one is deleted. Returns SHA-256."""
    size = part.stat().st_size
    if entry.size_bytes is not None and size != entry.size_bytes:
        part.unlink()
        raise ModelError(
            f"{part}: size mismatch for {entry.name}: expected {entry.size_bytes} bytes, "
            f"got {size}; the file was deleted. Run the download again."
        )
    sha, md5 = _digests(part)
    for label, expected, got in (("SHA-256", entry.sha256, sha), ("MD5", entry.md5, md5)):
        if expected is not None and got != expected:
            part.unlink()
            raise ModelError(
                f"{part}: {label} mismatch for {entry.name}: expected {expected}, got {got}; "
                "the file was deleted (corrupt or tampered download). Run the download again."
            )
    return sha


def _safe_extract(archive: Path, into: Path) -> Path:
    """Unpack into `into` refusing paths that escape it and links; returns the model root."""
    root = into.resolve()
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            limit = max(archive.stat().st_size * _UNPACK_RATIO, 1 << 20)
            if sum(m.file_size for m in members) > limit:
                raise ModelError(f"{archive}: unpacks to more than {limit} bytes; refusing")
            for member in members:
                target = (root / member.filename).resolve()
                if "\\" in member.filename or not target.is_relative_to(root):
                    # Zip-slip: "../x", "/etc/x" or a Windows path would land outside.
                    raise ModelError(
                        f"{archive}: entry {member.filename!r} would be written outside the model "
                        "folder; refusing the archive"
                    )
                if target == root:
                    continue
                if stat.S_ISLNK(member.external_attr >> 16):
                    raise ModelError(f"{archive}: entry {member.filename!r} is a link; refusing")
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise ModelError(f"{archive}: not a valid zip archive ({exc})") from None
    tops = list(root.iterdir())
    # The published archives hold one folder named after the model; accept a flat zip too.
    return tops[0] if len(tops) == 1 and tops[0].is_dir() else root


def _write_stamp(model_root: Path, entry: ModelEntry, sha256: str, url: str) -> None:
    files = {
        p.relative_to(model_root).as_posix(): p.stat().st_size
        for p in sorted(model_root.rglob("*"))
        if p.is_file()
    }
    stamp = {
        "name": entry.name,
        "url": url,
        "archive_sha256": sha256,
        "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "files": files,
    }
    (model_root / STAMP_NAME).write_text(json.dumps(stamp, indent=1), encoding="utf-8")


def _install(part: Path, entry: ModelEntry, dest_dir: Path, sha256: str, url: str) -> Path:
    """Unpack beside the destination, check it, then rename it into place."""
    final = dest_dir / entry.name
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.unpack-", dir=dest_dir))
    try:
        try:
            model_root = _safe_extract(part, staging)
        except ModelError:
            part.unlink(missing_ok=True)
            raise
        problems = verify(model_root)
        if problems:
            part.unlink(missing_ok=True)
            raise ModelError(
                f"{part}: the archive does not hold a complete Vosk model: {'; '.join(problems)}"
            )
        _write_stamp(model_root, entry, sha256, url)
        if final.exists():
            # Directories cannot be swapped atomically everywhere: move the old one aside,
            # move the new one in, then remove the old one.
            old = dest_dir / f".{entry.name}.old-{os.getpid()}"
            os.replace(final, old)
            os.replace(model_root, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(model_root, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    part.unlink(missing_ok=True)
    return final


def download(
    entry: ModelEntry,
    dest_dir: Path,
    progress: bool = True,
    opener: Opener | None = None,
    *,
    base_url: str | None = None,
    allow_unverified: bool = False,
    retries: int = 3,
    timeout_s: float = 30.0,
) -> Path:
    """Fetch, check and unpack `entry` into `dest_dir/<name>`; resumes `<name>.zip.part`."""
    final = dest_dir / entry.name
    if not verify(final):
        return final
    if entry.sha256 is None and not allow_unverified:
        raise ModelError(
            f"{entry.name}: the manifest has no SHA-256 for this archive, so it cannot be "
            "verified; refusing to install it (use --no-verify to install it anyway)"
        )
    url = resolve_url(entry, base_url)
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"{dest_dir}: cannot create the model folder: {exc.strerror}") from None
    part = dest_dir / f"{entry.name}.zip.part"
    if entry.size_bytes is not None:
        needed = 3 * entry.size_bytes  # archive + unpacked copy (~1.6x) with some room
        free = shutil.disk_usage(dest_dir).free
        if free + (part.stat().st_size if part.exists() else 0) < needed:
            raise ModelError(
                f"{dest_dir}: {free // 2**20} MiB free, {entry.name} needs about "
                f"{needed // 2**20} MiB; free some space or pass another folder (--dest)"
            )
    opener = opener or urllib.request.build_opener()
    for attempt in range(retries + 1):
        have = part.stat().st_size if part.exists() else 0
        if entry.size_bytes is not None and have == entry.size_bytes:
            break  # already complete from an earlier run
        try:
            _fetch(url, part, entry, opener, timeout_s, progress)
            break
        except _Interrupted as why:
            if attempt == retries:
                have = part.stat().st_size if part.exists() else 0
                raise ModelError(
                    f"Download of {entry.name} from {_host(url)} stopped ({why}); {have} bytes "
                    f"are kept in {part}. Run `voice-skill models download` again to resume."
                ) from None
            if progress:
                print(f"{entry.name}: {why}; resuming", file=sys.stderr)
    if entry.sha256 is None:
        print(
            f"{entry.name}: WARNING: installing without a SHA-256 check (--no-verify)",
            file=sys.stderr,
        )
    sha = _check_archive(part, entry)
    return _install(part, entry, dest_dir, sha, url)


def try_download_once(
    settings: Settings,
    *,
    progress: bool = True,
    opener: Opener | None = None,
    base_url: str | None = None,
) -> Path | None:
    """The default model, fetched if missing; on failure: one line, None, no retry for a day."""
    with contextlib.suppress(ModelError):
        return locate_vosk_model(settings)
    marker = user_models_dir() / ".last-download-failed"
    if marker.is_file() and time.time() - marker.stat().st_mtime < RETRY_FAILED_AFTER_S:
        return None
    try:
        path = download(
            find_entry(),
            default_download_dir(),
            progress=progress,
            opener=opener,
            base_url=base_url,
            retries=1,
            timeout_s=10.0,
        )
    except ModelError as exc:
        with contextlib.suppress(OSError):
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(str(exc), encoding="utf-8")
        print(f"voice-skill: no Vosk model: {str(exc).splitlines()[0]}", file=sys.stderr)
        return None
    marker.unlink(missing_ok=True)
    return path
