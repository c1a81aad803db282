"""bin/pi-check: its own help and options (the check itself runs for 20 minutes, by hand)."""

from __future__ import annotations

import subprocess
from pathlib import Path

PI_CHECK = Path(__file__).resolve().parents[1] / "bin" / "pi-check"


def test_help_says_what_it_proves_and_what_not_without_building_anything(tmp_path: Path) -> None:
    done = subprocess.run([str(PI_CHECK), "--help"], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "PI_CHECK_CACHE": str(tmp_path / "c")},
                          check=False)
    assert done.returncode == 0
    assert "qemu-user-static" in done.stdout and "cannot tell how fast" in done.stdout
    assert "--reuse" in done.stdout and "--clean" in done.stdout
    assert not (tmp_path / "c").exists()


def test_an_unknown_option_is_refused() -> None:
    done = subprocess.run([str(PI_CHECK), "--fast"], capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 2 and "unknown option --fast" in done.stderr
