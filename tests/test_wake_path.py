"""The waiting speaker's path (`voice-skill serve`): what it says it waits for, and what it
takes as a start."""

from __future__ import annotations

from pathlib import Path

from voice_skill.dialogue.dialog import load_dialog
from voice_skill.front.serve import WakePhrases, ready_message
from voice_skill.settings import Settings

DIALOG = Path(__file__).resolve().parents[1] / "dialogs" / "back_spasm.yaml"


def test_the_ready_message_names_the_start_phrase_set_in_the_settings() -> None:
    dialog = load_dialog(DIALOG)
    assert "Say first aid when" in ready_message(dialog, Settings())
    mine = Settings(start_phrases=("computer", "hey guide"))
    assert "Say computer when" in ready_message(dialog, mine)
    assert "first aid" not in ready_message(dialog, mine)
    # and it is what the recognizer expects while waiting
    assert WakePhrases.of(dialog, mine).hint == ready_message(dialog, mine)
