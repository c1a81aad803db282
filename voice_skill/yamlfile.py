"""Read YAML keeping the line of every mapping key, so errors can name file, line and field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from voice_skill.errors import TextFileError, VoiceSkillError, one_line
from voice_skill.textfile import read_text

MAX_BYTES = 1 << 20
"""a dialogue is about 30 kB; a scenario far less"""
MAX_DEPTH = 40
"""mappings and lists nested deeper than this are refused (a dialogue needs 5); the
constructor recurses on nesting"""


class LineDict(dict[str, Any]):
    """A mapping that remembers the (1-based) line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}  # an empty one stands in for a section left out

    def line_of(self, key: str) -> int:
        """The line of `key`, or of the mapping when the key is not there."""
        return self.key_lines.get(key, self.line)


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10 times faster


class _Loader(_Base):  # type: ignore[misc]
    """SafeLoader whose mappings are LineDicts and which rejects duplicate keys.

    Only true/false are booleans: YAML 1.1 would turn the answers yes, no, on and off (the very
    words a dialogue is made of) into booleans.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool):
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be plain text, not {type(key).__name__}", key_node.start_mark
            )
        key = str(key)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class YamlFileError(VoiceSkillError):
    """The file is missing, unreadable or not YAML; `line` is set where known."""

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        self.path, self.line, self.reason = path, line, one_line(message)
        where = one_line(str(path))
        super().__init__(f"{where}:{line}: {self.reason}" if line else f"{where}: {self.reason}")


def load_yaml(path: Path, max_bytes: int = MAX_BYTES) -> Any:
    """Parse one YAML file; every failure becomes a YamlFileError naming the file (and line).

    Aliases (*name) are refused: a few lines of them expand to billions of nodes ("billion
    laughs"), and a dialogue or scenario has no need of them.
    """
    try:
        text = read_text(path, max_bytes)
    except TextFileError as exc:
        raise YamlFileError(path, exc.reason) from None
    try:
        _check_tokens(text)
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "malformed YAML"
        raise YamlFileError(path, f"malformed YAML: {problem}", line) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (a NUL, say)
        line = text.count("\n", 0, exc.position) + 1
        code = ord(exc.character) if isinstance(exc.character, str) else int(exc.character)
        raise YamlFileError(path, f"malformed YAML: character #x{code:04x}: {exc.reason}",
                            line) from None
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise YamlFileError(path, f"malformed YAML: {first}") from None
    except _Refused as exc:
        raise YamlFileError(path, exc.message, exc.line) from None


class _Refused(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message, self.line = message, line


_OPEN = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
         yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
_CLOSE = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def _check_tokens(text: str) -> None:
    """Refuse aliases and deep nesting before anything is built (one pass of libyaml's scanner)."""
    depth = 0
    for token in yaml.scan(text, Loader=_Loader):
        if isinstance(token, yaml.AliasToken):
            raise _Refused(f"alias *{token.value}: aliases are not allowed here"
                           " (write the value out)", token.start_mark.line + 1)
        if isinstance(token, _OPEN):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep",
                               token.start_mark.line + 1)
        elif isinstance(token, _CLOSE):
            depth -= 1
