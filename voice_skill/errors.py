"""One root error and a few specific ones; each message names the file, device, model or state."""


class VoiceSkillError(Exception):
    """Root of every error this package raises on purpose."""


class DialogError(VoiceSkillError):
    """A dialogue file is missing, malformed or inconsistent."""

    def __init__(self, path: str, message: str, line: int | None = None, field: str = "") -> None:
        self.path, self.line, self.field = path, line, field
        where = f"{path}:{line}" if line else path
        what = f" [{field}]" if field else ""
        super().__init__(f"{where}{what}: {message}")


class AudioError(VoiceSkillError):
    """An audio file or device cannot be used (the message names it)."""


class ModelError(VoiceSkillError):
    """A speech model is missing, incomplete, or cannot be downloaded."""


class SpeechOutputError(VoiceSkillError):
    """The text-to-speech engine failed or hung."""


class ScenarioError(VoiceSkillError):
    """A replay scenario file is malformed or points at missing audio."""


class SessionOver(VoiceSkillError):
    """An event arrived for a session that has already ended."""


class TextFileError(VoiceSkillError):
    """A dialogue, scenario or settings file cannot be read as text (`reason` says why)."""

    def __init__(self, path: object, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")
