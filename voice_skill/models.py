"""Vosk speech models: the manifest, where a model is found, checked download and install."""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Any, Protocol

import platformdirs
import yaml

from voice_skill import __version__
from voice_skill.errors import ModelError, VoiceSkillError
from voice_skill.settings import APP_NAME, Settings, load_settings

BASE_URL_ENV = "VOICE_SKILL_MODEL_BASE_URL"
"""environment variable that replaces the manifest's download location (folder URL)"""

STAMP_NAME = ".voice-skill-model.json"
"""written into an installed model: what was installed and the size of every file"""

RETRY_FAILED_AFTER_S = 24 * 3600.0
"""`try_download_once` does not retry a failed start-up download sooner than this (seconds)"""

_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_MODELS = _PACKAGE_DIR.parent / "models"
_MANIFEST_FILE = "manifest.yaml"
_MANIFEST_PACKAGE = "voice_skill.models_manifest"
_CHUNK = 1 << 16
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HEX_RE = {"sha256": re.compile(r"[0-9a-f]{64}"), "md5": re.compile(r"[0-9a-f]{32}")}
_UNPACK_RATIO = 10
"""an archive may unpack to at most this many times its size (Vosk zips are ~1.6): a zip-bomb cap"""


@dataclass(frozen=True)
class ModelEntry:
    """One downloadable model of the manifest."""

    name: str
    """folder name of the unpacked model, e.g. vosk-model-small-en-us-0.15"""
    url: str
    """where the .zip archive is published"""
    size_bytes: int | None
    """archive size (bytes); None if unknown"""
    sha256: str | None
    """archive SHA-256 (lowercase hex); None: unverifiable, installed only with --no-verify"""
    lang: str = "en-us"
    notes: str = ""
    md5: str | None = None
    """archive MD5 as the authors publish it; checked as well when known"""

    @property
    def archive_name(self) -> str:
        """File name of the archive (the last part of the URL)."""
        return urllib.parse.urlsplit(self.url).path.rsplit("/", 1)[-1] or f"{self.name}.zip"


class Opener(Protocol):
    """What `download` needs of urllib's OpenerDirector (tests may pass their own)."""

    def open(self, fullurl: urllib.request.Request, data: None = None, timeout: float = ...) -> Any:
        """Open a request; the result is a file-like HTTP response."""


# --------------------------------------------------------------------------- manifest


def _read_manifest_text(path: Path | None) -> tuple[str, str]:
    """The manifest's text and a name for it: the given file, the repo copy, or package data."""
    if path is not None:
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise ModelError(f"{path}: cannot read the model manifest: {exc.strerror}") from None
    repo_copy = _REPO_MODELS / _MANIFEST_FILE
    if repo_copy.is_file():
        return repo_copy.read_text(encoding="utf-8"), str(repo_copy)
    try:
        packaged = resources.files(_MANIFEST_PACKAGE) / _MANIFEST_FILE
        return packaged.read_text(encoding="utf-8"), f"{_MANIFEST_PACKAGE}/{_MANIFEST_FILE}"
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        raise ModelError(
            f"model manifest not found: looked at {repo_copy} and at package data "
            f"{_MANIFEST_PACKAGE}/{_MANIFEST_FILE} (is the package installed completely?)"
        ) from None


def _optional(item: dict[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _HEX_RE[key].fullmatch(value.lower()):
        digits = 64 if key == "sha256" else 32
        raise ModelError(f"{where}: field {key!r} must be {digits} hex digits or null: {value!r}")
    return value.lower()


def _parse_entry(item: Any, where: str) -> ModelEntry:
    if not isinstance(item, dict):
        raise ModelError(f"{where}: each model must be a mapping of fields")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        # The name becomes a folder name: no slashes or dots in front, so it cannot escape.
        raise ModelError(f"{where}: field 'name' must be a plain folder name, got {name!r}")
    where = f"{where} ({name})"
    url = item.get("url")
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ModelError(f"{where}: field 'url' must be an http(s) URL, got {url!r}")
    size = item.get("size_bytes")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
        raise ModelError(f"{where}: field 'size_bytes' must be a positive whole number or null")
    unknown = set(item) - {"name", "url", "size_bytes", "sha256", "md5", "lang", "notes"}
    if unknown:
        raise ModelError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    return ModelEntry(
        name=name,
        url=url,
        size_bytes=size,
        sha256=_optional(item, "sha256", where),
        lang=str(item.get("lang") or "en-us"),
        notes=" ".join(str(item.get("notes") or "").split()),
        md5=_optional(item, "md5", where),
    )


def _load(path: Path | None) -> tuple[tuple[ModelEntry, ...], str]:
    text, source = _read_manifest_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ModelError(f"{source}: malformed YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ModelError(f"{source}: expected a mapping with a 'models' list")
    entries = tuple(
        _parse_entry(item, f"{source}: models[{i}]") for i, item in enumerate(data["models"])
    )
    names = [e.name for e in entries]
    if not entries or len(set(names)) != len(names):
        raise ModelError(f"{source}: model names must be present and unique, got {names}")
    default = data.get("default", names[0])
    if default not in names:
        raise ModelError(f"{source}: default {default!r} is not one of the models {names}")
    return entries, default


def load_manifest(path: Path | None = None) -> tuple[ModelEntry, ...]:
    """Every model of the manifest (the repo's models/manifest.yaml, else the packaged copy)."""
    return _load(path)[0]


def default_model_name(path: Path | None = None) -> str:
    """The manifest's `default` model name."""
    return _load(path)[1]


def find_entry(name: str | None = None, path: Path | None = None) -> ModelEntry:
    """The manifest entry called `name` (the default if None); ModelError lists the known ones."""
    entries, default = _load(path)
    wanted = name or default
    for entry in entries:
        if entry.name == wanted:
            return entry
    known = ", ".join(e.name for e in entries)
    raise ModelError(f"unknown model {wanted!r}; the manifest has: {known}")


# --------------------------------------------------------------------------- where models live


def repo_models_dir() -> Path | None:
    """`<repo>/models` when running from a checkout (it holds the manifest), else None."""
    return _REPO_MODELS if (_REPO_MODELS / _MANIFEST_FILE).is_file() else None


def user_models_dir() -> Path:
    """`<user data dir>/models` (platformdirs, app "voice-skill"); it need not exist."""
    return Path(platformdirs.user_data_dir(APP_NAME)) / "models"


def default_download_dir() -> Path:
    """Where `download` installs by default: the checkout's models/ if writable, else the user's."""
    repo = repo_models_dir()
    if repo is not None and os.access(repo, os.W_OK):
        return repo
    return user_models_dir()


def model_search_paths(settings: Settings, name: str | None = None) -> list[Path]:
    """Folders tried in order: vosk_model_path (itself, then <it>/<name>), repo, user data dir."""
    name = name or default_model_name()
    paths: list[Path] = []
    if settings.vosk_model_path is not None:
        explicit = settings.vosk_model_path.expanduser()
        # VOSK_MODEL_PATH may name the model folder itself or, as the vosk package reads
        # it, a folder holding models by name: accept both.
        paths += [explicit, explicit / name]
    repo = repo_models_dir()
    if repo is not None:
        paths.append(repo / name)
    paths.append(user_models_dir() / name)
    unique: list[Path] = []
    for path in paths:
        if path not in unique:
            unique.append(path)
    return unique


def locate_vosk_model(settings: Settings, name: str | None = None) -> Path:
    """The first complete model folder of `model_search_paths`; ModelError lists every place."""
    name = name or default_model_name()
    looked: list[str] = []
    for i, path in enumerate(model_search_paths(settings, name), start=1):
        problems = verify(path)
        if not problems:
            return path
        origin = " (vosk_model_path / VOSK_MODEL_PATH)" if _is_explicit(settings, path) else ""
        looked.append(f"  {i}. {path}{origin}: {'; '.join(problems)}")
    raise ModelError(
        f"No complete Vosk model {name!r} found. Looked in:\n"
        + "\n".join(looked)
        + "\nGet one with `voice-skill models download`, or set VOSK_MODEL_PATH to a model folder."
    )


def _is_explicit(settings: Settings, path: Path) -> bool:
    if settings.vosk_model_path is None:
        return False
    explicit = settings.vosk_model_path.expanduser()
    return path in (explicit, explicit / path.name)


# --------------------------------------------------------------------------- checking a model


# What libvosk reads (vosk-api src/model.cc, ReadDataFiles): the acoustic model, the MFCC and
# decoder configs, and a decoding graph: either a static HCLG.fst or the lookahead pair
# HCLr.fst + Gr.fst with disambig_tid.int. An i-vector extractor is optional, but once
# final.ie is there every companion file is read too. Layout v2 (folders) is what every
# current model uses; v1 (flat) is still loaded by libvosk, so it is accepted.
@dataclass(frozen=True)
class _Layout:
    required: tuple[str, ...]
    graphs: tuple[tuple[str, ...], ...]
    """either graph makes the model usable: static HCLG, or the lookahead pair"""


_V2 = _Layout(
    required=("am/final.mdl", "conf/model.conf", "conf/mfcc.conf"),
    graphs=(
        ("graph/HCLG.fst",),
        ("graph/HCLr.fst", "graph/Gr.fst", "graph/disambig_tid.int"),
    ),
)
_V1 = _Layout(
    required=("final.mdl", "mfcc.conf"),
    graphs=(("HCLG.fst",), ("HCLr.fst", "Gr.fst", "disambig_tid.int")),
)
_IVECTOR_FILES = (
    "final.ie",
    "final.dubm",
    "final.mat",
    "global_cmvn.stats",
    "online_cmvn.conf",
    "splice.conf",
)


def _file_problem(root: Path, rel: str) -> str | None:
    target = root / rel
    if not target.is_file():
        return f"missing {rel}"
    if target.stat().st_size == 0:
        return f"empty file {rel}"
    return None


def verify(path: Path) -> list[str]:
    """Problems that would stop Vosk loading the model folder `path`; an empty list means good."""
    if not path.exists():
        return ["does not exist"]
    if not path.is_dir():
        return ["is not a folder"]
    layout = _V1 if (path / "final.mdl").is_file() else _V2
    problems = [p for rel in layout.required if (p := _file_problem(path, rel))]
    graph_problems = [[p for rel in g if (p := _file_problem(path, rel))] for g in layout.graphs]
    if all(graph_problems):
        # Neither decoding graph is complete: name the missing part of the one that was
        # started, or both choices when neither is there at all.
        present = [
            len(g) - len(found) for g, found in zip(layout.graphs, graph_problems, strict=True)
        ]
        if max(present) > 0:
            problems += graph_problems[present.index(max(present))]
        else:
            choices = " or ".join(" + ".join(g) for g in layout.graphs)
            problems.append(f"missing a decoding graph ({choices})")
    ivector = path / "ivector"
    if (ivector / "final.ie").exists():
        problems += [p for f in _IVECTOR_FILES if (p := _file_problem(ivector, f))]
    # The stamp adds what the layout check cannot see (truncated files, lost extras).
    problems += [p for p in _stamp_problems(path) if p.split(" (")[0] not in problems]
    return problems


def _stamp_problems(path: Path) -> list[str]:
    """Files whose size changed since install (a truncated copy, a failing SD card ...)."""
    stamp = path / STAMP_NAME
    if not stamp.is_file():
        return []
    try:
        sizes = json.loads(stamp.read_text(encoding="utf-8")).get("files", {})
    except (ValueError, OSError, AttributeError):
        return [f"unreadable {STAMP_NAME}"]
    problems = []
    for rel, size in sizes.items():
        target = path / rel
        if not target.is_file():
            problems.append(f"missing {rel} (present when installed)")
        elif target.stat().st_size != size:
            problems.append(f"{rel} is {target.stat().st_size} bytes, was {size} when installed")
    return problems


def load_check(path: Path) -> str | None:
    """Load the folder with the real Vosk library; None if it loads, else why not."""
    try:
        import vosk
    except ImportError:  # pragma: no cover - vosk is a dependency
        return "the vosk package is not installed"
    vosk.SetLogLevel(-1)
    try:
        vosk.Model(str(path))
    except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
        return f"Vosk could not load it: {exc}"
    return None


# --------------------------------------------------------------------------- download


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


# --------------------------------------------------------------------------- command line


def add_models_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Define `voice-skill models list|download|verify` on an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "models",
        help="speech models: where they are, fetch with checksum and progress, check",
        description="List, download (checked by size and SHA-256, resumable) or verify "
        "the Vosk speech models. Set VOICE_SKILL_MODEL_BASE_URL to download from a mirror.",
    )
    parser.add_argument("action", choices=("list", "download", "verify"))
    parser.add_argument(
        "name",
        nargs="?",
        default=None,
        help="model name (default: the manifest's default); verify: or a folder",
    )
    parser.add_argument(
        "--dest",
        type=Path,
        default=None,
        help="download: folder to install into (default: models/ of a checkout, "
        "else the user data folder)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="download: install even when the manifest has no SHA-256 for it",
    )
    parser.add_argument(
        "--load",
        action="store_true",
        help="verify: also load the model with Vosk (slower, proves it works)",
    )
    parser.set_defaults(func=models_command)
    return parser


def _settings_from(args: argparse.Namespace) -> Settings:
    given = getattr(args, "settings", None)
    if isinstance(given, Settings):
        return given
    config = getattr(args, "config", None)  # the top-level --config of `voice-skill`
    return load_settings(config if isinstance(config, Path) else None)


def _installed_at(settings: Settings, name: str) -> Path | None:
    try:
        return locate_vosk_model(settings, name)
    except ModelError:
        return None


def _list(args: argparse.Namespace, settings: Settings) -> int:
    entries, default = _load(None)
    rows = []
    for e in entries:
        where = _installed_at(settings, e.name)
        rows.append(
            {
                "name": e.name,
                "lang": e.lang,
                "default": e.name == default,
                "installed": where is not None,
                "path": str(where) if where else None,
                "size_bytes": e.size_bytes,
                "sha256": e.sha256,
                "url": e.url,
                "notes": e.notes,
            }
        )
    if getattr(args, "json", False):
        print(json.dumps({"default": default, "models": rows}, indent=1))
        return 0
    for row in rows:
        size = row["size_bytes"]
        size_text = f"{size / 2**20:6.1f} MiB" if isinstance(size, int) else "   ? MiB"
        state = f"installed: {row['path']}" if row["installed"] else "not installed"
        flag = "default" if row["default"] else ""
        print(f"{row['name']:32} {size_text}  {flag:7}  {state}")
    return 0


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    name: str | None = getattr(args, "name", None)
    if name and (os.sep in name or Path(name).is_dir()):
        path = Path(name).expanduser()
    else:
        path = locate_vosk_model(settings, name)
    problems = verify(path)
    if not problems and getattr(args, "load", False):
        problems += [p for p in [load_check(path)] if p]
    if getattr(args, "json", False):
        print(json.dumps({"path": str(path), "ok": not problems, "problems": problems}))
    elif not problems:
        print(f"{path}: OK")
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    return 0 if not problems else 1


def _download(args: argparse.Namespace) -> int:
    entry = find_entry(getattr(args, "name", None))
    dest = getattr(args, "dest", None) or default_download_dir()
    path = download(
        entry,
        Path(dest).expanduser(),
        progress=not getattr(args, "json", False),
        allow_unverified=getattr(args, "no_verify", False),
    )
    with contextlib.suppress(OSError):
        (user_models_dir() / ".last-download-failed").unlink(missing_ok=True)
    if getattr(args, "json", False):
        print(json.dumps({"name": entry.name, "path": str(path)}))
    else:
        print(f"{entry.name} is installed at {path}")
    return 0


def models_command(args: argparse.Namespace) -> int:
    """`voice-skill models list|download|verify`: 0 on success, 1 with a message on stderr."""
    action = getattr(args, "action", "list")
    try:
        if action == "download":
            return _download(args)
        settings = _settings_from(args)
        if action == "list":
            return _list(args, settings)
        if action == "verify":
            return _verify(args, settings)
        raise ModelError(f"unknown action {action!r}: use list, download or verify")
    except VoiceSkillError as exc:
        print(f"voice-skill models {action}: {exc}", file=sys.stderr)
        return 1
