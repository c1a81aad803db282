"""docs/benchmarks.md is made of sections, each written by one tool between its own markers."""

from __future__ import annotations

from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of a section (HTML comments: invisible when rendered)."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def write_section(doc: Path, name: str, body: str) -> None:
    """Put `body` into the document between the section's markers (appended the first time);
    every other section is kept as it is."""
    begin, end = markers(name)
    section = f"{begin}\n{body.strip(chr(10))}\n{end}\n"
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end):].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")
