"""What the numbers were measured on."""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from voice_skill.dev.bench.plan import REPO


def describe_machine() -> dict[str, Any]:
    """CPU, cores, memory, OS, Python and library versions, and the date."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        ram_gb = round(kb / 2**20, 1)
    os_name = platform.platform()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))} ({platform.release()})"
    libs: dict[str, str | None] = {}
    for dist in ("vosk", "pocketsphinx", "pyttsx3", "webrtcvad-wheels", "numpy", "sounddevice",
                 "soxr", "transitions"):
        try:
            libs[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            libs[dist] = None
    espeak = shutil.which("espeak-ng")
    if espeak:
        out = subprocess.run([espeak, "--version"], capture_output=True, text=True, check=False)
        libs["espeak-ng"] = " ".join(out.stdout.split()[:4]) or None
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    return {"date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": cpu, "cores": os.cpu_count(), "ram_gb": ram_gb, "os": os_name,
            "python": platform.python_version(), "libraries": libs, "commit": commit or None,
            "load_1min_start": round(os.getloadavg()[0], 2)}
