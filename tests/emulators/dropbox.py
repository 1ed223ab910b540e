"""Dropbox API v2 emulator on a loopback HTTPS server, faithful enough for the real SDK.

One TLS port serves the `api` and `content` hosts (their routes do not collide):
/oauth2/token, users/get_current_account, files/get_metadata, create_folder_v2, list_folder
(+continue), upload, upload_session/start|append_v2|append|finish|finish_batch_v2|finish_batch
(+check). Semantics and error shapes follow the shared spec (cloud-apis.md §2-§3): write modes
and the identical-content rule, autorename, strict_conflict, case-insensitive paths, implicit
parents, session offsets, per-request content_hash, payload limit, quota, namespace write-lock
contention, team path roots, expiring and revocable tokens. File bytes live in memory.

Pointing the real SDK at it
---------------------------
The SDK builds `https://{host}/2/{route}` and `https://{host}/oauth2/token` from
DROPBOX_API_HOST / DROPBOX_API_CONTENT_HOST, read ONCE when `dropbox.session` is first
imported, and speaks HTTPS only. Two seams, both tested:

* In-process: `dropbox_seam.loopback_dropbox(emu.netloc, ca_path, **kwargs)` builds a
  `dropbox.Dropbox` subclass that points its (private) `_host_map` and `refresh_access_token`
  at the emulator, so import order does not matter and `clone()` / `with_path_root()` keep it;
  its requests session has `verify=<test CA>` and `trust_env=False`, because
  REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment silently override `verify=`.
  Adapters that take an SDK client in their constructor can be handed this client.
* Subprocess (the daemon): `emu.client_environment(ca_path)` returns an environment with the
  DROPBOX_*_HOST variables set to the emulator, REQUESTS_CA_BUNDLE set to the test CA and
  CURL_CA_BUNDLE removed; an unmodified `dropbox.Dropbox(...)` in the child then talks to us.

Controlling it: the Python methods below, or the JSON routes under `/__emu/` (see
`dropbox_control.py`) for a process that only has the URL. Both bypass faults and the log.
"""

from __future__ import annotations

import json
import ssl
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .dropbox_account import add_team_folder, enable_team, namespace_for, new_account
from .dropbox_auth import TokenAuthority
from .dropbox_contention import ContentionForm, WriteLocks
from .dropbox_control import CONTROL_PREFIX, handle_control
from .dropbox_nodes import Namespace
from .dropbox_routes import Call, FilesRoutes
from .dropbox_sessions import SessionStore
from .dropbox_store import Commit, Store
from .dropbox_wire import (
    API_PREFIX,
    TOKEN_ENDPOINT,
    BadInput,
    bad_input,
    content_hash,
    ok,
    route_error,
)
from .faults import Fault
from .messages import Request, Response
from .request_log import RequestRecord
from .server import LoopbackServer
from .tls import client_environment

DEFAULT_PAYLOAD_LIMIT = 150 * 1024 * 1024  # "The request payload must be at most 150 MB"

# Upload-style routes: arg in Dropbox-API-Arg, raw bytes in the body (content host).
UPLOAD_ROUTES = frozenset(
    {
        "files/upload",
        "files/upload_session/start",
        "files/upload_session/append_v2",
        "files/upload_session/append",
        "files/upload_session/finish",
    }
)
UPLOAD_CONTENT_TYPES = ("application/octet-stream", "text/plain; charset=dropbox-cors-hack")


class DropboxEmulator:
    """One Dropbox account with one app, served over TLS on 127.0.0.1."""

    def __init__(
        self,
        *,
        tls: ssl.SSLContext,
        app_key: str = "emulator-app-key",
        app_secret: str = "emulator-app-secret",
    ) -> None:
        self.server = LoopbackServer(
            self.handle,
            tls=tls,
            annotate=self.annotate,
            control_prefix=CONTROL_PREFIX,
            name="dropbox",
        )
        self.store = Store()
        self.sessions = SessionStore()
        self.locks = WriteLocks(self.server.stopping)
        self.files_routes = FilesRoutes(self.store, self.sessions, self.locks)
        self.auth = TokenAuthority()
        self.auth.add_app(app_key, app_secret)
        self.app_key, self.app_secret = app_key, app_secret
        self.refresh_token = self.auth.issue_refresh_token(app_key)
        self.pkce_refresh_token = self.auth.issue_refresh_token(app_key, pkce=True)
        self.account = new_account(self.store)
        self.payload_limit = DEFAULT_PAYLOAD_LIMIT
        self._routes: dict[str, Callable[[Call], Response]] = {
            **self.files_routes.table(),
            "users/get_current_account": lambda call: ok(self.account.full_account()),
        }

    # ---- lifecycle and addresses -------------------------------------------------------

    def start(self) -> DropboxEmulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.locks.release()
        self.server.stop()

    def __enter__(self) -> DropboxEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def netloc(self) -> str:
        """host:port, the value for DROPBOX_API_HOST and DROPBOX_API_CONTENT_HOST."""
        return self.server.netloc

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised inside the emulator (each also answered 500); should be empty."""
        return self.server.errors

    def client_environment(
        self, ca_path: Path, base: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Environment for a subprocess whose unmodified Dropbox SDK must talk to us."""
        env = client_environment(ca_path, base)
        for name in ("DROPBOX_API_HOST", "DROPBOX_API_CONTENT_HOST", "DROPBOX_API_NOTIFY_HOST"):
            env[name] = self.netloc
        return env

    # ---- the wire ----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.path.startswith(CONTROL_PREFIX):
            return handle_control(self, request)
        if request.path == TOKEN_ENDPOINT:
            return self.auth.token_endpoint(request)
        if not request.path.startswith(API_PREFIX):
            return Response.text(404, "Not Found")
        route = request.path[len(API_PREFIX) :]
        handler = self._routes.get(route)
        if handler is None:
            return Response.text(404, f'Unknown API function: "{route}"')
        try:
            return self._dispatch(route, handler, request)
        except BadInput as exc:
            return bad_input(route, str(exc))

    def _dispatch(
        self, route: str, handler: Callable[[Call], Response], request: Request
    ) -> Response:
        if request.method != "POST":
            raise BadInput(f"Bad HTTP method {request.method!r}; expecting POST.")
        upload_style = route in UPLOAD_ROUTES
        content_type = (request.header("content-type") or "").strip()
        if upload_style and content_type not in UPLOAD_CONTENT_TYPES:
            raise BadInput(f'Bad HTTP "Content-Type" header: {content_type!r}.')
        if not upload_style and content_type.split(";")[0].strip() != "application/json":
            raise BadInput(f'Bad HTTP "Content-Type" header: {content_type!r}.')
        denied = self.auth.check_bearer(request, route)
        if denied is not None:
            return denied
        arg = _parse_arg(request, upload_style)
        namespace = namespace_for(self.store, self.account, request.header("dropbox-api-path-root"))
        if isinstance(namespace, Response):
            return namespace
        if upload_style:
            if len(request.body) > self.payload_limit:
                return route_error({".tag": "payload_too_large"})
            claimed = arg.get("content_hash")
            if claimed is not None and claimed != content_hash(request.body):
                return route_error({".tag": "content_hash_mismatch"})
        return handler(Call(route, arg, request.body, namespace))

    def annotate(self, request: Request) -> dict[str, Any]:
        """Request-log extras: the route name and the decoded argument."""
        if request.path == TOKEN_ENDPOINT:
            form = urllib.parse.parse_qsl(request.body.decode("utf-8", "replace"))
            return {"route": "oauth2/token", "arg": dict(form)}
        if not request.path.startswith(API_PREFIX):
            return {}
        extras: dict[str, Any] = {"route": request.path[len(API_PREFIX) :]}
        raw = request.header("dropbox-api-arg")
        try:
            if raw is not None:
                extras["arg"] = json.loads(raw)
            elif request.complete and request.body:
                extras["arg"] = json.loads(request.body)
        except ValueError:
            extras["arg_error"] = "undecodable"
        return extras

    # ---- control: faults and switches -------------------------------------------------

    def add_fault(self, fault: Fault | None = None, **fields: Any) -> Fault:
        """Script a fault: `add_fault(Fault(...))` or `add_fault(path=..., status=...)`."""
        return self.server.add_fault(fault if fault is not None else Fault(**fields))

    def clear_faults(self) -> None:
        self.server.faults.clear()

    def set_offline(self, offline: bool = True) -> None:
        self.server.faults.offline = offline

    def set_latency(self, seconds: float) -> None:
        self.server.faults.latency = seconds

    def revoke_refresh_tokens(self) -> None:
        self.auth.revoke_refresh_tokens()

    def expire_access_tokens(self) -> None:
        self.auth.expire_access_tokens()

    def invalidate_access_tokens(self) -> None:
        self.auth.invalidate_access_tokens()

    def set_token_ttl(self, seconds: int) -> None:
        self.auth.token_ttl = seconds

    def issue_refresh_token(self, *, pkce: bool = False) -> str:
        return self.auth.issue_refresh_token(self.app_key, pkce=pkce)

    def set_quota(self, quota_bytes: int | None) -> None:
        self.store.quota = quota_bytes

    def set_payload_limit(self, limit_bytes: int) -> None:
        self.payload_limit = limit_bytes

    def set_write_lock_limit(
        self,
        limit: int | None,
        form: ContentionForm = "429",
        *,
        retry_after: int = 1,
        hold_seconds: float = 0.0,
    ) -> None:
        """More than `limit` writes in flight per namespace → too_many_write_operations."""
        self.locks.configure(limit, form=form, retry_after=retry_after, hold_seconds=hold_seconds)

    @contextmanager
    def hold_writes(self) -> Iterator[None]:
        """Writes that get a slot wait inside it until the block ends (deterministic contention)."""
        self.locks.hold()
        try:
            yield
        finally:
            self.locks.release()

    def wait_for_writes_in_flight(self, count: int, timeout: float = 10.0) -> bool:
        return self.locks.wait_in_flight(count, timeout)

    def expire_upload_sessions(self) -> None:
        self.sessions.expire_all()

    def enable_team(self, team_name: str = "Clinic Team") -> None:
        enable_team(self.store, self.account, team_name)

    def add_team_namespace(self, name: str) -> str:
        """A team folder mounted at /<name> in the team root; returns its namespace id."""
        self.enable_team()
        return add_team_folder(self.store, self.account, name).id

    # ---- control: reading the store and the log -----------------------------------------

    @property
    def home_namespace_id(self) -> str:
        return self.account.home.id

    @property
    def root_namespace_id(self) -> str:
        return self.account.root.id

    def namespace(self, namespace_id: str | None = None) -> Namespace:
        return self.store.namespaces[namespace_id or self.account.home.id]

    def files(self, namespace_id: str | None = None) -> dict[str, bytes]:
        """{path_lower: bytes} of one namespace (default: the member's home)."""
        return self.store.files(self.namespace(namespace_id))

    def requests(
        self,
        route: str | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
    ) -> list[RequestRecord]:
        """Logged requests, e.g. `requests("files/upload")`, `requests(status=429)`."""
        return self.server.log.records(route=route, method=method, path=path, status=status)

    def requests_containing(self, needle: bytes) -> list[RequestRecord]:
        return self.server.log.containing(needle)

    def commits(self) -> list[Commit]:
        """Every write that changed the store, in order."""
        with self.store.lock:
            return list(self.store.commits)

    def count_writes(self, path: str | None = None, namespace_id: str | None = None) -> int:
        """Writes that stored bytes (a new file or revision); identical re-uploads don't count."""
        selected = self.commits()
        if path is not None:
            selected = [c for c in selected if c.path_lower == path.lower()]
        if namespace_id is not None:
            selected = [c for c in selected if c.namespace_id == namespace_id]
        return len(selected)


def _parse_arg(request: Request, upload_style: bool) -> Any:
    if upload_style:
        raw = request.header("dropbox-api-arg") or request.query.get("arg")
        if raw is None:
            raise BadInput('Must provide HTTP header "Dropbox-API-Arg" or URL parameter "arg".')
        source = 'HTTP header "Dropbox-API-Arg"'
    else:
        raw = request.body.decode("utf-8", "replace")
        source = "request body"
    try:
        arg = json.loads(raw)
    except ValueError as exc:
        raise BadInput(f"{source}: could not decode input as JSON") from exc
    if upload_style and not isinstance(arg, dict):
        raise BadInput(f"{source}: expected an object")
    return arg
