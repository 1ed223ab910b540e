"""Dropbox errors → picsync's: the one place that judges what an SDK failure means.

``translate(destination)`` is the context manager every SDK call runs in (like Maestral's
``convert_api_errors``): nothing from ``dropbox`` or ``requests`` leaves it. Route errors are
judged by their chain of union tags (``error_tags``), so the same table serves every route:
``("path", "conflict", "file")`` from an upload, ``("lookup_failed", "not_found")`` from a
session finish. Messages say what happened and what to do; they never carry a local path or a
file name, nor the remote path (a random id, but kept out anyway) or the server's free text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from dropbox import exceptions as dbx_exceptions
from dropbox.dropbox_client import BadInputException
from dropbox.stone_validators import ValidationError

from picsync.errors import (
    BlockedError,
    DestinationError,
    IntegrityError,
    PermanentError,
    TransientError,
    UnansweredError,
)

__all__ = ["CONTENTION_WAIT_S", "error_for", "error_tags", "is_contention", "translate"]

# A 409 too_many_write_operations carries no Retry-After; Dropbox asks for "a short delay".
CONTENTION_WAIT_S = 1.0

_TRANSIENT_TAGS = {
    "too_many_write_operations": "Dropbox is busy with other writes to this account",
    "too_many_requests": "Dropbox asked picsync to slow down",
    "internal_error": "Dropbox had an internal error",
    "locked": "the remote path is locked by another operation",
}
# Nothing succeeds until a person acts: pause the destination, keep the queue.
_BLOCKED_TAGS = {
    "insufficient_space": (
        "the Dropbox account is full (insufficient_space): free space or upgrade the plan; "
        "uploads resume by themselves afterwards"
    ),
    "team_folder_insufficient_space": (
        "the Dropbox team folder reached its storage limit: ask the team admin to raise it"
    ),
    "member_folder_insufficient_space": (
        "the Dropbox member folder reached the storage limit the team admin set: ask the "
        "admin to raise it"
    ),
    "upload_traffic_limit_reached": (
        "the Dropbox account reached its monthly upload traffic limit: ask the team admin"
    ),
    # Both hit every upload alike, so burying each delivery would only hide one cause.
    "no_write_permission": (
        "the Dropbox account may not write to the root folder (no_write_permission): give it "
        "edit access, or change root"
    ),
    "access_restricted": (
        "a Dropbox team admin restricts this account (access_restricted): ask the admin"
    ),
}
# This delivery will never succeed as it is.
_PERMANENT_TAGS = {
    "conflict": "something else is already stored at this remote path; refusing to overwrite",
    "malformed_path": "Dropbox refused the remote path as malformed",
    "disallowed_name": "Dropbox refuses to store a file under this name",
    "payload_too_large": "a request was larger than Dropbox accepts (150 MiB)",
    "too_large": "the file is larger than a Dropbox upload session accepts",
    "encryption_not_supported": "Dropbox refused the upload for this account's encryption",
    "operation_suppressed": "Dropbox does not allow this operation at this path",
    "team_folder": "Dropbox does not allow this operation on a team folder",
    "restricted_content": "Dropbox restricts the content at this path",
    "not_file": "a folder is in the way at this remote path",
}


def error_tags(error: Any) -> tuple[str, ...]:
    """The chain of union tags of a stone error value, outermost first.

    Reads stone's ``_tag``/``_value`` slots (stable across SDK releases), and follows the
    ``reason`` of ``UploadWriteFailed``, the struct that /upload wraps around its WriteError.
    """
    tags: list[str] = []
    node = error
    for _ in range(8):  # unions nest at most a few levels deep
        tag = getattr(node, "_tag", None)
        if not isinstance(tag, str):
            break
        tags.append(tag)
        value = getattr(node, "_value", None)
        reason = getattr(value, "reason", None)
        node = reason if getattr(reason, "_tag", None) is not None else value
    return tuple(tags)


def is_contention(tags: tuple[str, ...]) -> bool:
    return "too_many_write_operations" in tags


def error_for(tags: tuple[str, ...]) -> DestinationError:
    """The picsync error for a route error with these union tags."""
    shown = "/".join(tags) or "unknown"
    if "content_hash_mismatch" in tags:
        return IntegrityError("Dropbox received bytes that differ from those sent; retrying")
    for tag in tags:
        if tag in _TRANSIENT_TAGS:
            wait = CONTENTION_WAIT_S if tag == "too_many_write_operations" else None
            return TransientError(f"{_TRANSIENT_TAGS[tag]} ({shown})", retry_after=wait)
        if tag in _BLOCKED_TAGS:
            return BlockedError(_BLOCKED_TAGS[tag])
        if tag in _PERMANENT_TAGS:
            return PermanentError(f"{_PERMANENT_TAGS[tag]} ({shown})")
    # An unknown or session-level error: retry; the delivery's attempt limit bounds it.
    return TransientError(f"Dropbox refused the request ({shown})")


def _revoked(destination: str) -> BlockedError:
    return BlockedError(
        "Dropbox refused the refresh token (revoked?); run "
        f"`picsync auth dropbox -c CONFIG --destination {destination}`"
    )


def _auth_error(exc: Any, destination: str) -> DestinationError:
    tags = error_tags(exc.error)
    if not tags or "invalid_access_token" in tags:
        return _revoked(destination)  # also what the SDK raises for invalid_grant
    if "expired_access_token" in tags:
        # The SDK refreshed once and the new token was refused too: odd, but not yet a person's
        # problem (clock skew, a token service hiccup).
        return TransientError("Dropbox refused a freshly refreshed access token")
    if "user_suspended" in tags:
        return BlockedError("the Dropbox account is suspended: ask the account's admin")
    if "missing_scope" in tags:
        return BlockedError(
            "the Dropbox app lacks a permission picsync needs (missing_scope): enable "
            "files.content.write, files.metadata.read and account_info.read in the app "
            f"console, then run `picsync auth dropbox -c CONFIG --destination {destination}`"
        )
    return BlockedError(f"Dropbox refused the credentials ({'/'.join(tags)})")


def _bad_input(exc: Any, destination: str) -> DestinationError:
    """400: from /oauth2/token a JSON OAuth error (bad app key or secret), else our bug."""
    try:
        oauth_error = json.loads(exc.message).get("error")
    except (ValueError, AttributeError, TypeError):
        oauth_error = None
    if isinstance(oauth_error, str):
        return BlockedError(
            f"Dropbox refused the app credentials ({oauth_error}): check app_key and "
            "app_secret_file (a token from `picsync auth dropbox` needs no secret), or run "
            f"`picsync auth dropbox -c CONFIG --destination {destination}`"
        )
    return PermanentError("Dropbox rejected a request as malformed (HTTP 400)")


def _path_root_error(exc: Any, on_path_root: Callable[[], None] | None) -> DestinationError:
    if on_path_root is not None:
        on_path_root()  # look the team root up again on the next call
    if "no_permission" in error_tags(exc.error):
        return BlockedError("the Dropbox account has no access to the team space root")
    return TransientError("the Dropbox team space root changed; looking it up again")


def _sdk_error(
    exc: Exception, destination: str, on_path_root: Callable[[], None] | None
) -> DestinationError:
    """Errors of the SDK's own hierarchy, most specific first."""
    if isinstance(exc, dbx_exceptions.ApiError):
        return error_for(error_tags(exc.error))
    if isinstance(exc, dbx_exceptions.RateLimitError):
        reason = error_tags(getattr(exc.error, "reason", None))
        backoff = float(exc.backoff) if exc.backoff is not None else None
        what = "/".join(reason) or "rate limited"
        return TransientError(f"Dropbox asked picsync to wait ({what})", retry_after=backoff)
    if isinstance(exc, dbx_exceptions.AuthError):
        return _auth_error(exc, destination)
    if isinstance(exc, dbx_exceptions.PathRootError):
        return _path_root_error(exc, on_path_root)
    if isinstance(exc, dbx_exceptions.BadInputError):
        return _bad_input(exc, destination)
    if isinstance(exc, dbx_exceptions.InternalServerError):
        return TransientError(f"Dropbox had a server error (HTTP {exc.status_code})")
    if isinstance(exc, dbx_exceptions.HttpError):
        status = exc.status_code
        if status in (408, 425) or status >= 500:
            return TransientError(f"Dropbox answered HTTP {status}")
        return PermanentError(f"Dropbox answered HTTP {status}")
    return TransientError(f"Dropbox client error ({type(exc).__name__})")


def _network_error(exc: requests.exceptions.RequestException) -> DestinationError:
    if isinstance(exc, requests.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        # Retrying cannot fix this, and it may be someone reading the traffic.
        return BlockedError(
            "the Dropbox server's TLS certificate could not be verified (a proxy intercepting "
            "TLS, or an outdated CA bundle?)"
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return UnansweredError("Dropbox did not answer in time")
    return UnansweredError(f"the connection to Dropbox failed ({type(exc).__name__})")


@contextmanager
def translate(destination: str, on_path_root: Callable[[], None] | None = None) -> Iterator[None]:
    """Run SDK calls; re-raise any failure as a picsync ``DestinationError``."""
    try:
        yield
    except DestinationError:
        raise
    except dbx_exceptions.DropboxException as exc:
        raise _sdk_error(exc, destination, on_path_root) from exc
    except BadInputException as exc:
        raise BlockedError(
            "the Dropbox client could not be set up; check app_key and the refresh token"
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise _network_error(exc) from exc
    except ValidationError as exc:
        raise PermanentError("the request failed the Dropbox SDK's validation") from exc
    except AssertionError as exc:
        # The SDK asserts the response's Content-Type; anything else is our own bug.
        if "content-type" not in str(exc):
            raise
        raise TransientError("Dropbox answered in an unexpected format (a proxy?)") from exc
