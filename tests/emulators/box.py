"""Box API emulator on a loopback server (plain HTTP or TLS), faithful enough for box_sdk_gen.

One port serves the three Box hosts, told apart by path prefix:

    base_url    {url}             /oauth2/token, /2.0/... (users, folders, files, preflight,
                                  storage_policy_assignments, storage_policies)
    upload_url  {url}/upload/api  /2.0/files/content, /2.0/files/{id}/content,
                                  /2.0/files/upload_sessions[/{id}[/parts|/commit]]
    oauth_2_url {url}/oauth2      (the browser /authorize page only; not served)

Upload routes are not served on the API host (404, or 405 where the path exists there for
another method) and vice versa, as on the real hosts. Semantics and shapes follow
cloud-apis.md §4-§5 and developer.box.com; see box_store (names, owners, quota), box_auth
(CCG, JWT, 401s), box_routes / box_uploads (endpoints), box_sessions (chunked rules). Not
emulated: sessions for new versions (POST /files/{id}/upload_sessions), trash, collaborations
(access is switched per folder instead: read-only, hidden), downloads.

Pointing the real SDK at it: `BoxClient(auth, network_session=NetworkSession(base_urls=
emu.base_urls(), ...))`; with TLS the requests session must trust the test CA (see tls.py).
A subprocess (the daemon) gets `emu.client_environment(ca_path)`: PICSYNC_BOX_BASE_URL and
PICSYNC_BOX_UPLOAD_URL (picsync's Box backend seam) plus REQUESTS_CA_BUNDLE for TLS.
Controlling it: the methods below, or JSON routes under `/__emu/` (box_control.py).
"""

from __future__ import annotations

import json
import os
import re
import ssl
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from box_sdk_gen import BaseUrls

from .box_auth import BoxAuthority
from .box_control import CONTROL_PREFIX, BoxControl
from .box_routes import Access, ApiRoutes, Call
from .box_sessions import SessionStore
from .box_store import Store, User
from .box_uploads import UploadRoutes, form_fields
from .box_wire import BoxFailure
from .messages import Request, Response
from .server import LoopbackServer
from .tls import client_environment

UPLOAD_PREFIX = "/upload/api"
TOKEN_PATH = "/oauth2/token"
SESSION = r"/upload/api/2.0/files/upload_sessions/([0-9A-Fa-f]+)"

Handler = Callable[[Call], Response]


class BoxEmulator(BoxControl):
    """One Box enterprise with one server-auth app and its service account."""

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        client_id: str = "emulatorclientid0000000000000001",
        client_secret: str = "emulator-client-secret",
        enterprise_id: str = "900001",
    ) -> None:
        self.server = LoopbackServer(
            self.handle,
            tls=tls,
            annotate=self.annotate,
            control_prefix=CONTROL_PREFIX,
            name="box",
        )
        self.client_id, self.client_secret = client_id, client_secret
        self.enterprise_id = enterprise_id
        self.service_account = User(
            "20000001",
            "picsync service account",
            f"AutomationUser_{client_id[:6]}_x1@boxdevedition.com",
            enterprise_id,
        )
        self.store = Store(self.service_account)
        self.sessions = SessionStore()
        self.access = Access()
        self.auth = BoxAuthority(
            enterprise_id, self.service_account.id, lambda: set(self.store.users)
        )
        self.app = self.auth.add_app(client_id, client_secret)
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []

    # ---- lifecycle and addresses -------------------------------------------------------

    def start(self) -> BoxEmulator:
        self.server.start()
        self.api = ApiRoutes(self.store, self.access, self.upload_url)
        self.uploads = UploadRoutes(self.api, self.sessions, self.upload_url)
        self._routes = self._table()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> BoxEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def upload_url(self) -> str:
        return self.server.url + UPLOAD_PREFIX

    def base_urls(self) -> BaseUrls:
        return BaseUrls(
            base_url=self.url, upload_url=self.upload_url, oauth_2_url=self.url + "/oauth2"
        )

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised inside the emulator (each also answered 500); should be empty."""
        return self.server.errors

    def client_environment(
        self, ca_path: Path | None = None, base: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Environment for a subprocess whose picsync Box backend must talk to us."""
        if ca_path is not None:
            env = client_environment(ca_path, base)
        else:
            env = dict(os.environ if base is None else base)
        env["PICSYNC_BOX_BASE_URL"] = self.url
        env["PICSYNC_BOX_UPLOAD_URL"] = self.upload_url
        return env

    # ---- the wire ----------------------------------------------------------------------

    def _table(self) -> list[tuple[str, re.Pattern[str], str, Handler]]:
        api, up = self.api, self.uploads
        rows: list[tuple[str, str, str, Handler]] = [
            ("GET", r"/2.0/users/me", "users/me", api.users_me),
            ("POST", r"/2.0/folders", "folders.create", api.create_folder),
            ("GET", r"/2.0/folders/(\d+)", "folders.get", api.get_folder),
            ("GET", r"/2.0/folders/(\d+)/items", "folders.items", api.folder_items),
            ("GET", r"/2.0/files/(\d+)", "files.get", api.get_file),
            ("OPTIONS", r"/2.0/files/content", "files.preflight", api.preflight),
            (
                "GET",
                r"/2.0/storage_policy_assignments",
                "storage_policy_assignments",
                api.policy_assignments,
            ),
            ("GET", r"/2.0/storage_policies/(\w+)", "storage_policies.get", api.storage_policy),
            ("POST", UPLOAD_PREFIX + r"/2.0/files/content", "files.upload", up.upload),
            (
                "POST",
                UPLOAD_PREFIX + r"/2.0/files/(\d+)/content",
                "files.upload_version",
                up.upload_version,
            ),
            (
                "POST",
                UPLOAD_PREFIX + r"/2.0/files/upload_sessions",
                "sessions.create",
                up.create_session,
            ),
            ("PUT", SESSION, "sessions.part", up.upload_part),
            ("GET", SESSION, "sessions.get", up.get_session),
            ("DELETE", SESSION, "sessions.abort", up.abort),
            ("GET", SESSION + "/parts", "sessions.parts", up.list_parts),
            ("POST", SESSION + "/commit", "sessions.commit", up.commit),
        ]
        return [(m, re.compile(p), name, h) for m, p, name, h in rows]

    def _match(self, method: str, path: str) -> tuple[str, Handler, tuple[str, ...]] | None:
        for row_method, pattern, name, handler in self._routes:
            found = pattern.fullmatch(path)
            if found is not None and row_method == method:
                return name, handler, found.groups()
        return None

    def handle(self, request: Request) -> Response:
        if request.path.startswith(CONTROL_PREFIX):
            return self.control(request)
        if request.path == TOKEN_PATH:
            return self.auth.token_endpoint(request)
        matched = self._match(request.method, request.path)
        if matched is None:
            known = any(p.fullmatch(request.path) for _, p, _, _ in self._routes)
            status = 405 if known else 404
            code = "method_not_allowed" if known else "not_found"
            return BoxFailure(
                status, code, "Method Not Allowed" if known else "Not Found"
            ).response()
        _, handler, params = matched
        user = self.auth.check_bearer(request)
        if isinstance(user, Response):
            return user
        try:
            return handler(Call(request, user, params))
        except BoxFailure as failure:
            return failure.response()

    def annotate(self, request: Request) -> dict[str, Any]:
        """Request-log extras: the route name and the decoded argument (JSON, form or the
        multipart `attributes`)."""
        if request.path == TOKEN_PATH:
            return {
                "route": "oauth2/token",
                "arg": dict(urllib.parse.parse_qsl(request.body.decode())),
            }
        matched = self._match(request.method, request.path)
        if matched is None:
            return {}
        extras: dict[str, Any] = {"route": matched[0]}
        if not request.complete or not request.body:
            return extras
        try:
            if (request.header("content-type") or "").startswith("multipart/form-data"):
                extras["arg"] = form_fields(Call(request, ""))[0]
            elif (request.header("content-type") or "").startswith("application/json"):
                extras["arg"] = json.loads(request.body)
        except (BoxFailure, ValueError):
            extras["arg_error"] = "undecodable"
        return extras
