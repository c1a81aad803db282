"""The systemd unit that starts `voice-skill serve` at boot: what bin/install-service installs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def unit_text() -> str:
    proc = subprocess.run([str(REPO / "bin" / "install-service"), "--print"],
                          capture_output=True, text=True, timeout=30, check=True)
    return proc.stdout


def test_the_unit_starts_this_checkouts_serve_and_restarts_it_on_failure() -> None:
    unit = unit_text()
    assert f"ExecStart={REPO}/.venv/bin/voice-skill serve\n" in unit
    assert "Restart=on-failure" in unit and "StartLimitIntervalSec=0" in unit
    assert "StandardOutput=journal" in unit and "WantedBy=default.target" in unit
    assert "@REPO@" not in unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze not installed (bin/setup dev installs systemd)")
def test_systemd_finds_nothing_wrong_with_the_unit(tmp_path: Path) -> None:
    path = tmp_path / "voice-skill.service"
    path.write_text(unit_text(), encoding="utf-8")
    proc = subprocess.run(["systemd-analyze", "verify", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    # and it would notice: a unit whose program is missing is refused
    path.write_text(unit_text().replace(str(REPO), "/nonexistent"), encoding="utf-8")
    broken = subprocess.run(["systemd-analyze", "verify", str(path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert broken.returncode != 0 and "/nonexistent" in broken.stderr
