"""Pure: picsync's error taxonomy. Imports nothing.

    PicsyncError
    ├── ConfigError              bad YAML, missing secret, residency mismatch → exit 78
    ├── LockedError              another daemon holds the state directory
    ├── SourceError              the source file cannot be taken as it is → retry or quarantine
    │   └── RefusedError         the file will never be acceptable (format, parse) → quarantine
    ├── SpoolError               the station's spool cannot take a file now (disk full) → wait
    └── DestinationError
        ├── TransientError       timeout, reset, 429, 5xx, fingerprint mismatch → retry later
        │   └── UnansweredError  no answer at all (network down) → retry, attempt not counted
        ├── BlockedError         auth revoked, quota full: a human must act → pause destination
        └── PermanentError       a 4xx that will not change → bury the delivery (dead)

Messages never contain a source path or file name: they end up in logs, in the ledger and in
alerts, and clinic file names are patient names.
"""

from __future__ import annotations

EX_CONFIG = 78  # sysexits.h: configuration error


class PicsyncError(Exception):
    """Base of every error picsync raises on purpose."""


class ConfigError(PicsyncError):
    """The configuration cannot be used. ``problems`` lists each one, key path and line first."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class LockedError(PicsyncError):
    """Another picsync process already runs on this state directory."""


class SourceError(PicsyncError):
    """The source file cannot be processed now (vanished, unreadable, changed under us)."""

    retryable: bool = True


class RefusedError(SourceError):
    """The source file will never be processed as it is; it goes to quarantine with this reason."""

    retryable = False


class SpoolError(PicsyncError):
    """The station's own spool cannot be written now (disk full, read-only, over quota).

    Not the file's fault: the file waits and is prepared again later, without using up an
    attempt, and never goes to quarantine for it.
    """


class DestinationError(PicsyncError):
    """Base of the errors a destination may raise; no SDK exception leaves a destination."""


class TransientError(DestinationError):
    """Try again later; ``retry_after`` is the wait in seconds the server asked for, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnansweredError(TransientError):
    """The request got no answer at all: the connection failed, was reset or timed out.

    A network that is down says nothing about the delivery, so such a failure does not use up
    the delivery's attempt budget (an outage of a day must not bury the queue); its retries
    back off with the length of the silence instead (``policy.decide``).
    """


class IntegrityError(TransientError):
    """The destination stored bytes whose fingerprint or size differs from ours."""


class BlockedError(DestinationError):
    """Nothing will succeed at this destination until a person acts (token revoked, quota full)."""


class WindowClosedError(DestinationError):
    """The destination's upload window closed; the upload resumes when it opens again."""

    def __init__(self, opens_at: float) -> None:
        super().__init__("the upload window closed")
        self.opens_at = opens_at


class PermanentError(DestinationError):
    """This delivery will never succeed as it is (path rejected, a 4xx that will not change)."""


def describe_os_error(exc: OSError) -> str:
    """An OSError as text without the file name that ``str(exc)`` would include."""
    if exc.strerror:
        return f"{exc.strerror} (errno {exc.errno})"
    return type(exc).__name__
