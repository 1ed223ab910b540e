"""JSON control routes of the Dropbox emulator (`/__emu/...`) and a client for them.

For a process that only knows the emulator's URL. Same operations as the Python API:

    GET    /__emu/state                      account, namespaces, counters
    GET    /__emu/files?namespace_id=…       {"files": {path_lower: base64}}
    GET    /__emu/requests?route=…&bodies=1  {"requests": [RequestRecord.to_json()]}
    GET    /__emu/commits                    {"commits": [...]}
    POST   /__emu/faults            {Fault fields}     DELETE /__emu/faults
    POST   /__emu/revoke_refresh_tokens | expire_access_tokens | invalidate_access_tokens
    POST   /__emu/expire_upload_sessions
    POST   /__emu/quota {"bytes": n|null}            POST /__emu/payload_limit {"bytes": n}
    POST   /__emu/write_lock {"limit", "form", "retry_after", "hold_seconds"}
    POST   /__emu/team_namespaces {"name"} → {"namespace_id"}
    POST   /__emu/offline {"offline": bool}          POST /__emu/latency {"seconds": s}
    POST   /__emu/token_ttl {"seconds": n}

Answers are JSON; a bad request gets 400 {"error": ...}.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from .faults import Fault
from .messages import Request, Response

if TYPE_CHECKING:
    from .dropbox import DropboxEmulator

CONTROL_PREFIX = "/__emu/"


def handle_control(emu: DropboxEmulator, request: Request) -> Response:
    operation = request.path[len(CONTROL_PREFIX) :]
    handler = _OPERATIONS.get((request.method, operation))
    if handler is None:
        return Response.json(404, {"error": f"no control route {request.method} {operation}"})
    try:
        body = json.loads(request.body) if request.body else {}
        return Response.json(200, handler(emu, request, body))
    except (ValueError, TypeError, KeyError) as exc:
        return Response.json(400, {"error": repr(exc)})


def _state(emu: DropboxEmulator, request: Request, body: Any) -> Any:
    return {
        "url": emu.url,
        "account_id": emu.account.account_id,
        "home_namespace_id": emu.home_namespace_id,
        "root_namespace_id": emu.root_namespace_id,
        "namespaces": emu.store.snapshot(),
        "used_bytes": emu.store.used_bytes(),
        "quota": emu.store.quota,
        "payload_limit": emu.payload_limit,
        "writes_in_flight": emu.locks.in_flight(),
        "write_lock_rejections": emu.locks.rejections,
        "open_upload_sessions": emu.sessions.open_count(),
        "request_count": len(emu.server.log),
        "errors": [repr(e) for e in emu.errors],
    }


def _files(emu: DropboxEmulator, request: Request, body: Any) -> Any:
    files = emu.files(request.query.get("namespace_id"))
    return {"files": {path: base64.b64encode(data).decode("ascii") for path, data in files.items()}}


def _requests(emu: DropboxEmulator, request: Request, body: Any) -> Any:
    with_bodies = request.query.get("bodies") in ("1", "true")
    records = emu.requests(request.query.get("route"), status=_int(request.query.get("status")))
    return {"requests": [r.to_json(with_bodies=with_bodies) for r in records]}


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _add_fault(emu: DropboxEmulator, request: Request, body: Any) -> Any:
    return {"fault": emu.add_fault(Fault.from_json(body)).to_json()}


def _write_lock(emu: DropboxEmulator, request: Request, body: Any) -> Any:
    emu.set_write_lock_limit(
        body.get("limit"),
        body.get("form", "429"),
        retry_after=int(body.get("retry_after", 1)),
        hold_seconds=float(body.get("hold_seconds", 0.0)),
    )
    return {}


def _apply(change: Callable[[DropboxEmulator, Any], object]) -> Callable[..., Any]:
    """A control route that changes a setting from the JSON body and answers {}."""

    def run(emu: DropboxEmulator, request: Request, body: Any) -> Any:
        change(emu, body)
        return {}

    return run


def _add_team_namespace(emu: DropboxEmulator, request: Request, body: Any) -> Any:
    return {"namespace_id": emu.add_team_namespace(body["name"])}


def _commits(emu: DropboxEmulator, request: Request, body: Any) -> Any:
    return {"commits": [asdict(commit) for commit in emu.commits()]}


_OPERATIONS: dict[tuple[str, str], Callable[[DropboxEmulator, Request, Any], Any]] = {
    ("GET", "state"): _state,
    ("GET", "files"): _files,
    ("GET", "requests"): _requests,
    ("GET", "commits"): _commits,
    ("POST", "faults"): _add_fault,
    ("DELETE", "faults"): _apply(lambda emu, body: emu.clear_faults()),
    ("POST", "revoke_refresh_tokens"): _apply(lambda emu, body: emu.revoke_refresh_tokens()),
    ("POST", "expire_access_tokens"): _apply(lambda emu, body: emu.expire_access_tokens()),
    ("POST", "invalidate_access_tokens"): _apply(lambda emu, body: emu.invalidate_access_tokens()),
    ("POST", "expire_upload_sessions"): _apply(lambda emu, body: emu.expire_upload_sessions()),
    ("POST", "quota"): _apply(lambda emu, body: emu.set_quota(body["bytes"])),
    ("POST", "payload_limit"): _apply(lambda emu, body: emu.set_payload_limit(int(body["bytes"]))),
    ("POST", "write_lock"): _write_lock,
    ("POST", "team_namespaces"): _add_team_namespace,
    ("POST", "offline"): _apply(lambda emu, body: emu.set_offline(bool(body["offline"]))),
    ("POST", "latency"): _apply(lambda emu, body: emu.set_latency(float(body["seconds"]))),
    ("POST", "token_ttl"): _apply(lambda emu, body: emu.set_token_ttl(int(body["seconds"]))),
}


class ControlClient:
    """Drives `/__emu/` over HTTPS, trusting only the test CA (never the environment's)."""

    def __init__(self, url: str, ca_path: Path, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/") + CONTROL_PREFIX
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(ca_path)

    def call(self, method: str, operation: str, body: Any = None, **query: Any) -> Any:
        response = self.session.request(
            method, self.url + operation, json=body, params=query or None, timeout=self.timeout
        )
        response.raise_for_status()
        return response.json()

    def state(self) -> Any:
        return self.call("GET", "state")

    def files(self, namespace_id: str | None = None) -> dict[str, bytes]:
        query = {"namespace_id": namespace_id} if namespace_id else {}
        encoded = self.call("GET", "files", **query)["files"]
        return {path: base64.b64decode(data) for path, data in encoded.items()}

    def requests(self, route: str | None = None, *, bodies: bool = False) -> list[Any]:
        query: dict[str, Any] = {"bodies": "1"} if bodies else {}
        if route is not None:
            query["route"] = route
        return list(self.call("GET", "requests", **query)["requests"])

    def add_fault(self, **fields: Any) -> Any:
        return self.call("POST", "faults", fields)["fault"]

    def clear_faults(self) -> None:
        self.call("DELETE", "faults")

    def revoke_refresh_tokens(self) -> None:
        self.call("POST", "revoke_refresh_tokens")

    def expire_access_tokens(self) -> None:
        self.call("POST", "expire_access_tokens")

    def set_quota(self, quota_bytes: int | None) -> None:
        self.call("POST", "quota", {"bytes": quota_bytes})

    def set_payload_limit(self, limit_bytes: int) -> None:
        self.call("POST", "payload_limit", {"bytes": limit_bytes})

    def set_write_lock_limit(
        self, limit: int | None, form: str = "429", *, retry_after: int = 1
    ) -> None:
        self.call("POST", "write_lock", {"limit": limit, "form": form, "retry_after": retry_after})

    def add_team_namespace(self, name: str) -> str:
        return str(self.call("POST", "team_namespaces", {"name": name})["namespace_id"])

    def set_offline(self, offline: bool = True) -> None:
        self.call("POST", "offline", {"offline": offline})
