"""Box backend: the one place where box_sdk_gen and requests errors become picsync's.

``translate()`` is the Box destination's translating context manager (Maestral's
``convert_api_errors``). The rules, from developer.box.com "Errors" and cloud-apis.md §4-§5:

- 429, and 5xx (Box may add Retry-After to a 503) → TransientError honouring Retry-After;
  connection resets, timeouts and cut responses → TransientError.
- The token endpoint refusing us (invalid_client, invalid_grant, unauthorized_client), a
  developer token past its hour, or a 401 right after a refresh → BlockedError saying what an
  administrator must do.
- 403 storage_limit_exceeded → BlockedError (quota); 403 missing rights → BlockedError.
- 400 item_name_invalid and other 4xx that will not change → PermanentError; a digest Box
  rejected → IntegrityError (retried: the bytes were damaged on the way).

Messages carry Box's error code and request id (for Box support), never a file name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from box_sdk_gen import BoxAPIError, BoxSDKError

from picsync.errors import (
    BlockedError,
    IntegrityError,
    PermanentError,
    TransientError,
    UnansweredError,
)

_TOKEN_PATH = "/oauth2/token"  # noqa: S105 (a URL path, not a secret)
_BLOCKING_GRANT_ERRORS = {
    "invalid_client": "the client id or secret is wrong or was reset: put the app's current "
    "client secret where client_secret_file points",
    "unauthorized_client": "the app is not authorized in this enterprise: a Box admin must "
    "authorize it (Admin Console → Apps → Platform Apps Manager)",
    "invalid_grant": "Box refused the app's grant (wrong enterprise_id/user_id, a revoked "
    "JWT key, or this machine's clock is off): check the subject ids and the key, then "
    "`picsync check --online`",
    "invalid_request": "Box refused the token request (is the app set up for Client "
    "Credentials Grant or JWT, as `auth` says?)",
}
_BLOCKING_403 = {
    "storage_limit_exceeded": "the Box account that owns the destination folder is full: "
    "free space (empty its trash) or raise its storage quota in the Admin Console",
    "access_denied_insufficient_permissions": "the service account may not write here: "
    "make it an Editor (or Uploader) of the destination folder",
    "insufficient_scope": "the app lacks the 'Write all files and folders' scope: enable it "
    "in the Developer Console and have a Box admin re-authorize the app",
    "forbidden_by_policy": "a Box Shield policy blocks the service account: ask the Box admin",
    "access_from_location_blocked": "Box blocks logins from this network: ask the Box admin "
    "to allow it",
}
_TRANSIENT_CONFLICTS = {"name_temporarily_reserved", "operation_blocked_temporary"}


@dataclass(frozen=True, slots=True)
class Conflict:
    """The item behind a 409 item_name_in_use (Box sends an object, older APIs a list)."""

    kind: str
    id: str
    sha1: str | None


def status_of(exc: BaseException) -> int | None:
    return exc.response_info.status_code if isinstance(exc, BoxAPIError) else None


def code_of(exc: BaseException) -> str | None:
    if not isinstance(exc, BoxAPIError):
        return None
    code = exc.response_info.code
    if code is None and isinstance(exc.response_info.body, dict):
        code = exc.response_info.body.get("error")  # the token endpoint's OAuth shape
    return str(code) if code is not None else None


def conflict_of(exc: BaseException) -> Conflict | None:
    """The existing item of a 409 item_name_in_use, or None if this is something else."""
    if status_of(exc) != 409 or code_of(exc) != "item_name_in_use":
        return None
    assert isinstance(exc, BoxAPIError)
    context = exc.response_info.context_info or {}
    conflicts = context.get("conflicts") if isinstance(context, Mapping) else None
    if isinstance(conflicts, list):
        conflicts = conflicts[0] if conflicts else None
    if not isinstance(conflicts, Mapping) or "id" not in conflicts:
        return None
    sha1 = conflicts.get("sha1")
    return Conflict(
        kind=str(conflicts.get("type", "file")),
        id=str(conflicts["id"]),
        sha1=str(sha1).lower() if sha1 else None,
    )


def retry_after_of(headers: Mapping[str, Any] | None) -> float | None:
    """Retry-After in seconds; an HTTP-date or garbage counts as absent."""
    if not headers:
        return None
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


@contextmanager
def translate() -> Iterator[None]:
    """Run Box calls; whatever they raise leaves as a picsync DestinationError."""
    try:
        yield
    except BoxAPIError as exc:
        raise from_api_error(exc) from exc
    except BoxSDKError as exc:
        raise from_sdk_error(exc) from exc
    except requests.RequestException as exc:
        # Raised outside the SDK's own handling, e.g. a response cut while its body is read.
        raise UnansweredError(f"Box: network error ({type(exc).__name__})") from exc


def from_api_error(exc: BoxAPIError) -> Exception:
    info = exc.response_info
    status, code = info.status_code, code_of(exc)
    where = f"Box {status} {code or 'error'} (request {info.request_id or '-'})"
    if exc.request_info.url.endswith(_TOKEN_PATH):
        if status == 429 or status >= 500:
            return TransientError(f"{where} from the token endpoint", retry_after_of(info.headers))
        hint = _BLOCKING_GRANT_ERRORS.get(code or "", "Box refused to issue an access token")
        return BlockedError(f"{where}: {hint}")
    if status == 401:
        return BlockedError(
            f"{where}: Box rejects even a freshly issued access token: check that the app is "
            "still authorized and enabled in the Box Admin Console"
        )
    if status == 429 or status >= 500:
        return TransientError(where, retry_after_of(info.headers))
    if status == 403:
        blocking = _BLOCKING_403.get(code or "")
        if blocking is not None:
            return BlockedError(f"{where}: {blocking}")
        return PermanentError(f"{where}: Box forbids this upload")
    if status == 404:
        return BlockedError(
            f"{where}: a Box folder picsync relies on is gone or no longer shared with the "
            "service account: restore or re-share it (or fix folder_id / folder_path)"
        )
    if status == 409 and code in _TRANSIENT_CONFLICTS:
        return TransientError(where, retry_after_of(info.headers) or 1.0)
    if status == 400 and code == "bad_digest":
        return IntegrityError(f"{where}: Box received different bytes than were sent")
    if status in (408, 410, 412):
        return TransientError(where)
    return PermanentError(f"{where}: {_short(info.body)}")


def from_sdk_error(exc: BoxSDKError) -> Exception:
    cause = exc.error
    message = exc.message or ""
    if "Developer token has expired" in message:
        return BlockedError(
            "Box: the developer token has expired (they last 60 minutes and are for trials "
            "only): configure auth: ccg or jwt"
        )
    if isinstance(cause, requests.RequestException) or cause is None:
        kind = type(cause).__name__ if cause is not None else "no response"
        return UnansweredError(f"Box: network error ({kind})")
    if isinstance(cause, ImportError):
        return BlockedError("Box: JWT auth needs PyJWT and cryptography (install boxsdk[jwt])")
    return TransientError(f"Box: {type(cause).__name__}")


def _short(body: Any) -> str:
    """Box's own short message; never the request (it may hold names)."""
    if isinstance(body, Mapping):
        text = str(body.get("message") or body.get("error_description") or "")
        return text[:200] or "Box refused the request"
    return "Box refused the request"
