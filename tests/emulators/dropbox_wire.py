"""Dropbox API v2 wire format for the emulator: content hash, times, ids, error responses.

Error bodies follow the SDK's own serializer (unions as {".tag": ...}, struct members of a
union flattened into it); `error_summary` is informational, clients branch on `error`.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Mapping
from typing import Any

from .faults import Fault
from .messages import JSON, Response

BLOCK_SIZE = 4 * 1024 * 1024
TOKEN_ENDPOINT = "/oauth2/token"
API_PREFIX = "/2/"

JsonObject = dict[str, Any]


class BadInput(Exception):
    """The request itself is malformed: Dropbox answers 400 text/plain."""


def content_hash(data: bytes) -> str:
    """Dropbox content_hash: SHA-256 over the SHA-256 digests of each 4 MiB block."""
    overall = hashlib.sha256()
    for start in range(0, len(data), BLOCK_SIZE):
        overall.update(hashlib.sha256(data[start : start + BLOCK_SIZE]).digest())
    return overall.hexdigest()


def dropbox_time(epoch: float) -> str:
    """UTC, whole seconds: the SDK's validator rejects fractional seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


def new_id(prefix: str, length: int = 22) -> str:
    return prefix + secrets.token_urlsafe(length)[:length]


def request_id_header() -> dict[str, str]:
    return {"X-Dropbox-Request-Id": secrets.token_hex(16)}


def union_tag(value: Any, field: str = "value") -> str:
    """Accept a void union member both as "add" and as {".tag": "add"}."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get(".tag"), str):
        return str(value[".tag"])
    raise BadInput(f"{field}: expected a union tag, got {value!r}")


def error_summary(error: Mapping[str, Any]) -> str:
    """ "path/conflict/file/.." from nested union tags (flattened members included)."""
    tags: list[str] = []
    node: Any = error
    while isinstance(node, Mapping) and isinstance(node.get(".tag"), str):
        tag = node[".tag"]
        tags.append(tag)
        node = node.get(tag, node.get("reason"))
    return "/".join(tags) + "/.."


def ok(payload: Any) -> Response:
    return Response.json(200, payload, request_id_header())


def route_error(error: JsonObject) -> Response:
    """409: a route-specific error, decoded by the SDK into ApiError.error."""
    body = {"error_summary": error_summary(error), "error": error}
    return Response.json(409, body, request_id_header())


def auth_error(tag: str) -> Response:
    """401 with an AuthError union; Content-Type must be exactly application/json."""
    body = {"error_summary": f"{tag}/..", "error": {".tag": tag}}
    return Response.json(401, body, request_id_header())


def bad_input(route: str, message: str) -> Response:
    text = f'Error in call to API function "{route}": {message}'
    return Response.text(400, text, request_id_header())


def rate_limited(retry_after: int, reason: str = "too_many_requests") -> Response:
    """429 JSON: the SDK reads the backoff from the body (the header is for other clients)."""
    body = {
        "error_summary": f"{reason}/..",
        "error": {"reason": {".tag": reason}, "retry_after": retry_after},
    }
    headers = {"Retry-After": str(retry_after), **request_id_header()}
    return Response.json(429, body, headers)


def path_root_error(error: JsonObject) -> Response:
    """422: a PathRootError for a bad Dropbox-API-Path-Root header."""
    body = {"error_summary": error_summary(error), "error": error}
    return Response.json(422, body, request_id_header())


def oauth_error(error: str, description: str) -> Response:
    """400 from /oauth2/token; "invalid_grant" makes the SDK raise AuthError."""
    return Response.json(400, {"error": error, "error_description": description})


# ---- ready-made faults with Dropbox-shaped bodies -------------------------------------------


def rate_limit_fault(
    path: str,
    *,
    retry_after: int = 1,
    reason: str = "too_many_requests",
    json_body: bool = True,
    times: int | None = 1,
) -> Fault:
    """429 with Retry-After; `json_body=False` sends the text/plain form some endpoints use."""
    headers = {"Retry-After": str(retry_after)}
    if json_body:
        body: Any = {
            "error_summary": f"{reason}/..",
            "error": {"reason": {".tag": reason}, "retry_after": retry_after},
        }
        return Fault(path=path, times=times, status=429, headers=headers, body=body)
    return Fault(path=path, times=times, status=429, headers=headers, body="Too Many Requests")


def server_error_fault(
    path: str, *, status: int = 500, times: int | None = 1, commit: bool = False
) -> Fault:
    """5xx with an HTML body, as a gateway would send; `commit=True` applies the request first."""
    body = f"<html><body><h1>{status} Server Error</h1></body></html>"
    return Fault(
        path=path,
        times=times,
        status=status,
        body=body,
        content_type="text/html",
        commit=commit,
    )


def expired_token_fault(path: str, *, times: int | None = 1) -> Fault:
    body = {"error_summary": "expired_access_token/..", "error": {".tag": "expired_access_token"}}
    return Fault(path=path, times=times, status=401, body=body, content_type=JSON)
