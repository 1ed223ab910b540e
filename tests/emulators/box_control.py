"""Control surface of the Box emulator: Python methods, `/__emu/` JSON routes, and a client.

The same operations for a test in-process and for one that drives a daemon subprocess:

    GET    /__emu/state                      ids, counters, open sessions, errors
    GET    /__emu/files                      {"files": {path: base64}}
    GET    /__emu/requests?route=…&bodies=1  {"requests": [RequestRecord.to_json()]}
    GET    /__emu/commits                    {"commits": [...]}
    POST   /__emu/faults {Fault fields}      DELETE /__emu/faults
    POST   /__emu/expire_access_tokens | revoke_client_credentials | expire_upload_sessions
    POST   /__emu/quota {"bytes": n|null, "user_id"?}
    POST   /__emu/part_size {"bytes": n}     POST /__emu/commit_accepted {"times", "retry_after"}
    POST   /__emu/offline {"offline": bool}  POST /__emu/latency {"seconds": s}
    POST   /__emu/policies_readable {"readable": bool}
    POST   /__emu/zone {"name", "user_id"?} → {"policy_id"}

Control requests bypass faults and the request log.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from .box_store import Commit, Store, User
from .faults import Fault
from .messages import Request, Response

if TYPE_CHECKING:
    from .box_auth import App, BoxAuthority
    from .box_routes import Access, ApiRoutes, ConflictShape
    from .box_sessions import SessionStore
    from .request_log import RequestRecord
    from .server import LoopbackServer

CONTROL_PREFIX = "/__emu/"


class BoxControl:
    """Mixed into BoxEmulator: everything a test may switch or read."""

    server: LoopbackServer
    store: Store
    sessions: SessionStore
    access: Access
    auth: BoxAuthority
    app: App
    api: ApiRoutes
    service_account: User
    enterprise_id: str

    # ---- faults and the network --------------------------------------------------------

    def add_fault(self, fault: Fault | None = None, **fields: Any) -> Fault:
        """Script a fault: `add_fault(Fault(...))` or `add_fault(path=..., status=...)`."""
        return self.server.add_fault(fault if fault is not None else Fault(**fields))

    def clear_faults(self) -> None:
        self.server.faults.clear()

    def set_offline(self, offline: bool = True) -> None:
        self.server.faults.offline = offline

    def set_latency(self, seconds: float) -> None:
        self.server.faults.latency = seconds

    # ---- auth --------------------------------------------------------------------------

    def expire_access_tokens(self) -> None:
        self.auth.expire_tokens()

    def revoke_client_credentials(self) -> None:
        self.auth.revoke_client_credentials()

    def add_jwt_key(self, kid: str, public_pem: str) -> None:
        """Register an app public key (Developer Console → Add a Public Key)."""
        self.app.public_keys[kid] = public_pem

    def issue_developer_token(self) -> str:
        """A token for the service account that cannot be refreshed (Box developer token)."""
        return self.auth.issue(self.service_account.id)

    # ---- content, users and zones ------------------------------------------------------

    def add_user(self, name: str) -> str:
        """A managed user of the enterprise (e.g. the clinic account owning a folder)."""
        user_id = self.store.new_id()
        login = name.lower().replace(" ", ".") + "@clinic.example"
        self.store.users[user_id] = User(user_id, name, login, self.enterprise_id)
        return user_id

    def create_folder(self, name: str, parent_id: str = "0", owner_id: str | None = None) -> str:
        owner = owner_id or self.service_account.id
        return self.store.create_folder(parent_id, name, owner).id

    def set_quota(self, quota_bytes: int | None, user_id: str | None = None) -> None:
        self.store.users[user_id or self.service_account.id].space_amount = quota_bytes

    def set_part_size(self, part_size: int) -> None:
        self.sessions.part_size = part_size

    def set_commit_accepted(self, times: int, retry_after: int = 1) -> None:
        """New sessions answer their first `times` commits with 202 + Retry-After."""
        self.sessions.commit_accepted_times = times
        self.sessions.commit_retry_after = retry_after

    def expire_upload_sessions(self) -> None:
        self.sessions.expire_all()

    def set_conflict_shape(self, shape: ConflictShape, *, folders: bool = False) -> None:
        if folders:
            self.api.folder_conflict_shape = shape
        else:
            self.api.file_conflict_shape = shape

    def set_policies_readable(self, readable: bool) -> None:
        self.access.policies_readable = readable

    def assign_zone(self, name: str, user_id: str | None = None) -> str:
        """Assign the storage policy `name` to a user (default: the enterprise); its id."""
        policy_id = next((k for k, v in self.api.policies.items() if v == name), None)
        if policy_id is None:
            policy_id = str(100 + len(self.api.policies))
            self.api.policies[policy_id] = name
        target = ("user", user_id) if user_id is not None else ("enterprise", self.enterprise_id)
        self.api.assignments[target] = policy_id
        return policy_id

    def delete(self, item_id: str) -> None:
        """Delete a file or a folder tree, as someone on box.com would."""
        self.store.delete(item_id)

    def hide(self, item_id: str) -> None:
        self.access.hidden.add(item_id)

    def make_read_only(self, folder_id: str) -> None:
        self.access.read_only.add(folder_id)

    def allow_duplicate_folders(self, allow: bool = True) -> None:
        self.store.allow_duplicate_folders = allow

    # ---- reading the store and the log -------------------------------------------------

    def files(self) -> dict[str, bytes]:
        """{path below "All Files": current bytes}."""
        return self.store.files()

    def commits(self) -> list[Commit]:
        with self.store.lock:
            return list(self.store.commits)

    def folders_named(self, name: str) -> list[str]:
        with self.store.lock:
            return [
                i.id
                for i in self.store.items.values()
                if i.kind == "folder" and i.name.lower() == name.lower()
            ]

    def requests(
        self,
        route: str | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
    ) -> list[RequestRecord]:
        return self.server.log.records(route=route, method=method, path=path, status=status)

    def requests_containing(self, needle: bytes) -> list[RequestRecord]:
        return self.server.log.containing(needle)

    # ---- /__emu/ routes ----------------------------------------------------------------

    def control(self, request: Request) -> Response:
        operation = request.path[len(CONTROL_PREFIX) :]
        handler = _OPERATIONS.get((request.method, operation))
        if handler is None:
            return Response.json(404, {"error": f"no control route {request.method} {operation}"})
        try:
            body = json.loads(request.body) if request.body else {}
            return Response.json(200, handler(self, request, body))
        except (ValueError, TypeError, KeyError) as exc:
            return Response.json(400, {"error": repr(exc)})


def _state(emu: BoxControl, request: Request, body: Any) -> Any:
    return {
        "service_account_id": emu.service_account.id,
        "enterprise_id": emu.enterprise_id,
        "open_upload_sessions": emu.sessions.open_count(),
        "request_count": len(emu.server.log),
        "errors": [repr(e) for e in emu.server.errors],
    }


def _files(emu: BoxControl, request: Request, body: Any) -> Any:
    return {"files": {p: base64.b64encode(d).decode("ascii") for p, d in emu.files().items()}}


def _requests(emu: BoxControl, request: Request, body: Any) -> Any:
    with_bodies = request.query.get("bodies") in ("1", "true")
    records = emu.requests(request.query.get("route"))
    return {"requests": [r.to_json(with_bodies=with_bodies) for r in records]}


def _apply(change: Callable[[BoxControl, Any], object]) -> Callable[..., Any]:
    def run(emu: BoxControl, request: Request, body: Any) -> Any:
        change(emu, body)
        return {}

    return run


_OPERATIONS: dict[tuple[str, str], Callable[[BoxControl, Request, Any], Any]] = {
    ("GET", "state"): _state,
    ("GET", "files"): _files,
    ("GET", "requests"): _requests,
    ("GET", "commits"): lambda emu, r, b: {"commits": [asdict(c) for c in emu.commits()]},
    ("POST", "faults"): lambda emu, r, b: {"fault": emu.add_fault(Fault.from_json(b)).to_json()},
    ("DELETE", "faults"): _apply(lambda emu, b: emu.clear_faults()),
    ("POST", "expire_access_tokens"): _apply(lambda emu, b: emu.expire_access_tokens()),
    ("POST", "revoke_client_credentials"): _apply(lambda emu, b: emu.revoke_client_credentials()),
    ("POST", "expire_upload_sessions"): _apply(lambda emu, b: emu.expire_upload_sessions()),
    ("POST", "quota"): _apply(lambda emu, b: emu.set_quota(b["bytes"], b.get("user_id"))),
    ("POST", "part_size"): _apply(lambda emu, b: emu.set_part_size(int(b["bytes"]))),
    ("POST", "commit_accepted"): _apply(
        lambda emu, b: emu.set_commit_accepted(int(b["times"]), int(b.get("retry_after", 1)))
    ),
    ("POST", "offline"): _apply(lambda emu, b: emu.set_offline(bool(b["offline"]))),
    ("POST", "latency"): _apply(lambda emu, b: emu.set_latency(float(b["seconds"]))),
    ("POST", "policies_readable"): _apply(
        lambda emu, b: emu.set_policies_readable(bool(b["readable"]))
    ),
    ("POST", "zone"): lambda emu, r, b: {"policy_id": emu.assign_zone(b["name"], b.get("user_id"))},
}


class ControlClient:
    """Drives `/__emu/` over HTTP or HTTPS; trusts only the test CA, never the environment."""

    def __init__(self, url: str, ca_path: Path | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/") + CONTROL_PREFIX
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False
        if ca_path is not None:
            self.session.verify = str(ca_path)

    def call(self, method: str, operation: str, body: Any = None, **query: Any) -> Any:
        response = self.session.request(
            method, self.url + operation, json=body, params=query or None, timeout=self.timeout
        )
        response.raise_for_status()
        return response.json()

    def state(self) -> Any:
        return self.call("GET", "state")

    def files(self) -> dict[str, bytes]:
        encoded = self.call("GET", "files")["files"]
        return {path: base64.b64decode(data) for path, data in encoded.items()}

    def requests(self, route: str | None = None, *, bodies: bool = False) -> list[Any]:
        query: dict[str, Any] = {"bodies": "1"} if bodies else {}
        if route is not None:
            query["route"] = route
        return list(self.call("GET", "requests", **query)["requests"])

    def add_fault(self, **fields: Any) -> Any:
        return self.call("POST", "faults", fields)["fault"]

    def set_part_size(self, part_size: int) -> None:
        self.call("POST", "part_size", {"bytes": part_size})
