"""Box API wire format for the emulator: ids, times, error bodies, multipart bodies, digests.

Error bodies follow Box's client-error object (developer.box.com, "Client error"):
`{"type": "error", "status", "code", "message", "help_url", "request_id"[, "context_info"]}`.
A 401 is different: an empty body and a `WWW-Authenticate` header (cloud-apis.md §5.2).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .faults import Fault
from .messages import Response

JsonObject = dict[str, Any]

HELP_URL = "https://developer.box.com/guides/api-calls/permissions-and-errors/common-errors/"
INVALID_TOKEN = (
    'Bearer realm="Service", error="invalid_token", '
    'error_description="The access token provided is invalid."'
)
NO_TOKEN = 'Bearer realm="Service"'


class BoxFailure(Exception):
    """An error the emulator answers with Box's client-error JSON."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        context_info: JsonObject | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.context_info = context_info
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return error_response(self.status, self.code, self.message, self.context_info, self.headers)


def request_id() -> str:
    return secrets.token_hex(8)


def error_body(
    status: int, code: str, message: str, context_info: JsonObject | None = None
) -> JsonObject:
    body: JsonObject = {
        "type": "error",
        "status": status,
        "code": code,
        "help_url": HELP_URL,
        "message": message,
        "request_id": request_id(),
    }
    if context_info is not None:
        body["context_info"] = context_info
    return body


def error_response(
    status: int,
    code: str,
    message: str,
    context_info: JsonObject | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response.json(status, error_body(status, code, message, context_info), headers)


def unauthorized(*, token_given: bool = True) -> Response:
    """401: Box sends no body, only the challenge (the SDK then refreshes and retries)."""
    challenge = INVALID_TOKEN if token_given else NO_TOKEN
    return Response(401, b"", None, {"WWW-Authenticate": challenge})


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    """An /oauth2/token failure: `{"error", "error_description"}` (no Box client-error shape)."""
    return Response.json(status, {"error": error, "error_description": description})


def box_time(epoch: float) -> str:
    """ISO 8601 with an offset, as Box writes it (Box uses Pacific time; UTC is as valid)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(int(epoch)))


def sha1_hex(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def digest_sha1(header: str | None) -> str | None:
    """The hex SHA-1 in an RFC 3230 `digest: sha=<base64>` header, or None if absent/other."""
    if header is None:
        return None
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name.strip().lower() == "sha" and value:
            try:
                return base64.b64decode(value.strip(), validate=True).hex()
            except (binascii.Error, ValueError):
                return ""
    return None


# ---- multipart/form-data ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FormPart:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def boundary_of(content_type: str | None) -> str | None:
    if content_type is None or not content_type.lower().startswith("multipart/form-data"):
        return None
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            return value.strip().strip('"')
    return None


def parse_form(body: bytes, boundary: str) -> list[FormPart]:
    """Split a multipart/form-data body (RFC 7578) into its parts, in order."""
    delimiter = b"--" + boundary.encode("latin-1")
    if not body.startswith(delimiter):
        raise BoxFailure(400, "bad_request", "Malformed multipart body")
    parts: list[FormPart] = []
    position = len(delimiter)
    while True:
        if body.startswith(b"--", position):
            return parts
        if not body.startswith(b"\r\n", position):
            raise BoxFailure(400, "bad_request", "Malformed multipart body")
        head_end = body.find(b"\r\n\r\n", position + 2)
        end = body.find(b"\r\n" + delimiter, head_end + 4) if head_end >= 0 else -1
        if head_end < 0 or end < 0:
            raise BoxFailure(400, "bad_request", "Malformed multipart body")
        headers = _part_headers(body[position + 2 : head_end])
        disposition = _disposition(headers.get("content-disposition", ""))
        parts.append(
            FormPart(
                name=disposition.get("name", ""),
                filename=disposition.get("filename"),
                content_type=headers.get("content-type"),
                data=body[head_end + 4 : end],
            )
        )
        position = end + 2 + len(delimiter)


def _part_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("utf-8", "replace").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def _disposition(value: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in value.split(";")[1:]:
        key, _, raw = item.strip().partition("=")
        params[key.strip().lower()] = raw.strip().strip('"')
    return params


# ---- ready-made faults with Box-shaped bodies ------------------------------------------------


def rate_limit_fault(path: str, *, retry_after: int = 1, times: int | None = 1) -> Fault:
    body = error_body(
        429, "rate_limit_exceeded", "Request rate limit exceeded, please try again later"
    )
    return Fault(
        path=path, times=times, status=429, headers={"Retry-After": str(retry_after)}, body=body
    )


def unavailable_fault(
    path: str,
    *,
    status: int = 503,
    retry_after: int | None = None,
    times: int | None = 1,
    commit: bool = False,
    method: str = "*",
) -> Fault:
    """5xx with Box's JSON body (503 "unavailable", others "internal_server_error")."""
    code = "unavailable" if status == 503 else "internal_server_error"
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return Fault(
        path=path,
        method=method,
        times=times,
        status=status,
        headers=headers,
        body=error_body(status, code, "Unavailable" if status == 503 else "Internal Server Error"),
        commit=commit,
    )


def gateway_fault(path: str, *, status: int = 502, times: int | None = 1) -> Fault:
    """A gateway's HTML page instead of JSON (the SDK copes: `code` is None)."""
    body = f"<html><body><h1>{status} Bad Gateway</h1></body></html>"
    return Fault(path=path, times=times, status=status, body=body, content_type="text/html")
