"""Where a configuration problem is: its key path and line, or the environment variable."""

from __future__ import annotations

import os

from pydantic import ValidationError

from picsync.config.yamlmap import KeyPath, PositionedYaml, format_key

# A discriminated union puts the destination's type tag into error locations.
DESTINATION_TYPE_NAMES = frozenset({"folder", "dropbox", "box"})


def at(doc: PositionedYaml, key: KeyPath, message: str) -> str:
    line = doc.line_of(key)
    where = f" (line {line})" if line is not None and key in doc.lines else ""
    env = env_name(key)
    if env in os.environ:
        where = f" (from environment variable {env})"
    elif line is not None and not where:
        where = f" (missing; its section starts at line {line})"
    return f"{format_key(key)}{where}: {message}"


def env_name(key: KeyPath) -> str:
    return "PICSYNC_" + "__".join(str(part).upper() for part in key)


def describe_validation(exc: ValidationError, doc: PositionedYaml) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = error["loc"]
        # A discriminated union puts the type's tag after the destination's name: drop it.
        if len(loc) > 2 and loc[0] == "destinations" and loc[2] in DESTINATION_TYPE_NAMES:
            loc = (*loc[:2], *loc[3:])
        key = tuple(loc)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling and indentation)"
        elif error["type"] == "missing":
            message = "required key is missing"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        problems.append(at(doc, key, message))
    return problems
