"""Read YAML keeping the line of every mapping key, so errors can name file, line and field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from voice_skill.errors import VoiceSkillError


class LineDict(dict[str, Any]):
    """A mapping that remembers the (1-based) line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]

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
    result.key_lines = {}
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
        self.path, self.line, self.reason = path, line, message
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


def load_yaml(path: Path) -> Any:
    """Parse one YAML file; every failure becomes a YamlFileError naming the file (and line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise YamlFileError(path, "file not found") from None
    except IsADirectoryError:
        raise YamlFileError(path, "is a folder, not a file") from None
    except UnicodeDecodeError:
        raise YamlFileError(path, "not a text file (not UTF-8)") from None
    except OSError as exc:
        raise YamlFileError(path, f"cannot be read: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "malformed YAML"
        raise YamlFileError(path, f"malformed YAML: {problem}", line) from None
    except yaml.YAMLError as exc:
        raise YamlFileError(path, f"malformed YAML: {exc}") from None
