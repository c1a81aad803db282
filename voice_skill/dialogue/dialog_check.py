"""What `voice-skill dialog check` reports. The checks live beside the loader
(`voice_skill.dialogue.dialog`), which refuses any dialogue that fails one: a dialogue that `run`
loads is one that `dialog check` passes, always."""

from __future__ import annotations

from voice_skill.dialogue.dialog import (
    MAX_WORDS_PER_SENTENCE,
    DialogProblems,
    Problem,
    check,
    edges,
)

__all__ = ["MAX_WORDS_PER_SENTENCE", "DialogProblems", "Problem", "check", "edges"]
