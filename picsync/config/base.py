"""Shared pieces of the configuration models: strictness and remote-name templates."""

from __future__ import annotations

import string

from pydantic import BaseModel, ConfigDict

TEMPLATE_FIELDS = frozenset({"station", "source", "patient", "yyyy", "mm", "dd", "id"})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_template(value: str) -> str:
    """A remote-name template may use only the fields DESIGN.md allows and must contain {id}."""
    fields = set()
    for _, field_name, spec, conv in string.Formatter().parse(value):
        if field_name is None:
            continue
        if spec or conv:
            raise ValueError(f"template field {{{field_name}}} takes no format spec")
        fields.add(field_name)
    unknown = fields - TEMPLATE_FIELDS
    if unknown:
        allowed = ", ".join("{" + f + "}" for f in sorted(TEMPLATE_FIELDS))
        raise ValueError(f"unknown template field {{{sorted(unknown)[0]}}}; allowed: {allowed}")
    if "id" not in fields:
        raise ValueError("template must contain {id}, or different files would share a name")
    parts = value.split("/")
    if value.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError("template must be a relative path without empty, '.' or '..' parts")
    return value
