"""Draw the dialogue machine with the `transitions` diagram extension (Mermaid, or graphviz images)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from voice_skill.dialogue.dialog import Dialog
from voice_skill.errors import VoiceSkillError


def _machine(dialog: Dialog, engine: Literal["graphviz", "mermaid"]) -> Any:
    from transitions.extensions import GraphMachine

    transitions = []
    for s in dialog.states.values():
        for label, target in s.targets().items():
            if target in dialog.states:
                transitions.append({"trigger": label, "source": s.name, "dest": target})
        if s.red_flag and s.red_flag.level == "urgent":  # the @resume edge, drawn as it happens
            transitions.append({"trigger": "continue", "source": s.on["yes"],
                                "dest": s.on["no"]})
    return GraphMachine(states=list(dialog.states), transitions=transitions,
                        initial=dialog.start, auto_transitions=False, graph_engine=engine,
                        title=dialog.path.stem)


def draw(dialog: Dialog, out: Path | None = None) -> str:
    """Mermaid text; with `out` ending .png/.svg/.pdf, also an image drawn by graphviz."""
    if out is None or out.suffix in (".mmd", ".md"):
        text: str = _machine(dialog, "mermaid").get_graph().draw(None)
        if out is not None:
            out.write_text(text, encoding="utf-8")
            return f"wrote {out}\n"
        return text if text.endswith("\n") else text + "\n"
    try:
        import graphviz  # noqa: F401
    except ImportError:
        raise VoiceSkillError(
            "drawing an image needs the graphviz Python package and the graphviz program"
            " (pip install graphviz; apt-get install graphviz); without --out you get Mermaid"
            " text") from None
    try:
        _machine(dialog, "graphviz").get_graph().draw(str(out), format=out.suffix[1:],
                                                       prog="dot")
    except Exception as exc:  # graphviz raises its own types for a missing `dot`
        raise VoiceSkillError(f"could not draw {out}: {exc}") from exc
    return f"wrote {out}\n"
