"""YAML to plain data, remembering the line of every key so errors can name it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from picsync.errors import ConfigError

KeyPath = tuple[str | int, ...]


@dataclass(slots=True)
class PositionedYaml:
    """The parsed document and the 1-based line where each key path starts."""

    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor that the file spells out."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def format_key(path: KeyPath) -> str:
    """``("sources", "camera", "settle")`` → ``sources.camera.settle``; indexes as ``[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def load_positioned(text: str, filename: str) -> PositionedYaml:
    """Parse one YAML document; refuse duplicate keys, which PyYAML would silently overwrite."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{filename}{where}: {problem}") from None
    finally:
        loader.dispose()
    result = PositionedYaml(data={})
    if node is None:
        return result
    result.data = _convert(node, (), result, filename)
    return result


def _convert(node: yaml.Node, path: KeyPath, out: PositionedYaml, filename: str) -> Any:
    out.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if not isinstance(key, str):
                key = str(key)
            line = key_node.start_mark.line + 1
            if key in mapping:
                shown = format_key((*path, key))
                raise ConfigError(f"{shown} (line {line}): this key appears twice; keep one")
            out.lines[(*path, key)] = line
            mapping[key] = _convert(value_node, (*path, key), out, filename)
        return mapping
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), out, filename) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    constructor = yaml.constructor.SafeConstructor()
    if isinstance(node, yaml.ScalarNode):
        return constructor.construct_object(node, deep=True)
    return constructor.construct_object(node, deep=True)
