"""pytest plugin: every `scenario.yaml` under a tests folder becomes a test case of its own.

A failure shows which expectation broke, what was heard, and the whole transcript.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SCENARIO_FILE = "scenario.yaml"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect tests/scenarios/*/scenario.yaml as test items."""
    if file_path.name == SCENARIO_FILE and "scenarios" in file_path.parts:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """One scenario file: one test, named after its folder."""

    def collect(self) -> Iterator[pytest.Item]:
        """One test item per scenario file."""
        yield ScenarioItem.from_parent(self, name=self.path.parent.name)


class ScenarioFailed(Exception):
    """The replay ran; some expectations did not hold."""


class ScenarioItem(pytest.Item):
    """Replays the scenario through the whole pipeline (WAV → ... → dialogue → speaker)."""

    def runtest(self) -> None:
        """Replay the scenario; fail with every expectation that did not hold."""
        from voice_skill.dialogue.dialog import load_dialog
        from voice_skill.errors import ModelError
        from voice_skill.front.replay import run_scenario
        from voice_skill.front.scenario import load_scenario
        from voice_skill.settings import Settings

        settings = Settings()
        dialog = load_dialog()
        scenario = load_scenario(self.path, dialog, settings.no_input_timeout_s)
        try:
            result = run_scenario(scenario, settings, dialog)
        except ModelError as exc:
            if scenario.engine == "vosk":
                pytest.skip(f"needs an English Vosk model: {str(exc).splitlines()[0]}")
            raise
        if not result.passed:
            raise ScenarioFailed("\n".join(result.failures) + "\n\ntranscript:\n"
                                 + result.transcript())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        """The failed expectations and the transcript, not a traceback."""
        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the scenario is, for pytest's report."""
        return self.path, 0, f"scenario {self.name}"
