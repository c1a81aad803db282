"""One root error and a few specific ones; each message names the file, device, model or state."""


def one_line(text: str, limit: int = 400) -> str:
    """`text` with control characters escaped and its length capped: a file's own key or path
    (a newline in a key, 5,000 characters of one) must not break a one-line message."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class VoiceSkillError(Exception):
    """Root of every error this package raises on purpose."""


class DialogError(VoiceSkillError):
    """A dialogue file is missing, malformed or inconsistent."""

    def __init__(self, path: str, message: str, line: int | None = None, field: str = "") -> None:
        self.path, self.line, self.field = path, line, field
        where = f"{one_line(path)}:{line}" if line else one_line(path)
        what = f" [{one_line(field, 80)}]" if field else ""
        super().__init__(f"{where}{what}: {one_line(message)}")


class AudioError(VoiceSkillError):
    """An audio file or device cannot be used (the message names it)."""


class ModelError(VoiceSkillError):
    """A speech model is missing, incomplete, or cannot be downloaded."""


class SpeechOutputError(VoiceSkillError):
    """The text-to-speech engine failed or hung."""


class ScenarioError(VoiceSkillError):
    """A replay scenario file is malformed or points at missing audio."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message, 600))


class SessionOver(VoiceSkillError):
    """An event arrived for a session that has already ended."""


class TextFileError(VoiceSkillError):
    """A dialogue, scenario or settings file cannot be read as text (`reason` says why)."""

    def __init__(self, path: object, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{one_line(str(path))}: {one_line(reason)}")
