"""Dropbox emulator OAuth: apps, refresh tokens, short-lived access tokens, /oauth2/token.

A refresh token belongs to an app. One issued to a PKCE client refreshes with `client_id`
alone; any other needs the app secret (form field or HTTP Basic). A revoked or unknown refresh
token gets 400 `invalid_grant` (the SDK raises AuthError). Access tokens live `token_ttl`
seconds (Dropbox: 4 h; must stay above the SDK's 300 s refresh margin, or every call refreshes);
an expired one gets 401 `expired_access_token` (the SDK refreshes once and retries), an unknown
or invalidated one 401 `invalid_access_token`.

The authorization-code grant (what `DropboxOAuth2FlowNoRedirect.finish` sends): `approve(url,
account_id)` plays the person who opens the authorize URL and clicks Allow; it returns the
one-time code Dropbox would show. The code is bound to the URL's client_id, its PKCE
code_challenge (S256 only) and token_access_type; exchanging it needs the matching
code_verifier (PKCE) or the app secret, once. The answer has Dropbox's shape: access_token,
token_type, expires_in, scope, account_id, uid, and refresh_token for offline access. A wrong,
used or foreign code or verifier gets 400 `invalid_grant`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .dropbox_wire import auth_error, bad_input, oauth_error
from .messages import Request, Response

DEFAULT_TOKEN_TTL = 4 * 3600

AccessState = Literal["valid", "expired", "invalid"]


@dataclass(slots=True)
class RefreshGrant:
    app_key: str
    pkce: bool
    revoked: bool = False


@dataclass(slots=True)
class AccessGrant:
    expires_at: float
    state: AccessState = "valid"


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """An approved authorization: what its one-time code may be exchanged for."""

    app_key: str
    account_id: str
    code_challenge: str | None  # PKCE, S256
    offline: bool  # token_access_type=offline: the answer carries a refresh token


GRANTED_SCOPE = "account_info.read files.content.read files.content.write files.metadata.read"


class TokenAuthority:
    """Issues and checks tokens for one emulated account."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.apps: dict[str, str] = {}  # app key -> app secret
        self._refresh: dict[str, RefreshGrant] = {}
        self._access: dict[str, AccessGrant] = {}
        self._codes: dict[str, CodeGrant] = {}
        self.token_ttl = DEFAULT_TOKEN_TTL

    def add_app(self, app_key: str, app_secret: str) -> None:
        with self._lock:
            self.apps[app_key] = app_secret

    def issue_refresh_token(self, app_key: str, *, pkce: bool = False) -> str:
        token = "rt-" + secrets.token_urlsafe(32)
        with self._lock:
            if app_key not in self.apps:
                raise KeyError(f"unknown app {app_key!r}")
            self._refresh[token] = RefreshGrant(app_key, pkce)
        return token

    def issue_access_token(self, ttl: float | None = None) -> str:
        token = "sl." + secrets.token_urlsafe(40)
        with self._lock:
            lifetime = self.token_ttl if ttl is None else ttl
            self._access[token] = AccessGrant(self._clock() + lifetime)
        return token

    def approve(self, authorize_url: str, account_id: str) -> str:
        """The person at the browser approves the app: the code Dropbox then shows."""
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize_url).query))
        if query.get("response_type") != "code":
            raise ValueError("the authorize URL must ask for response_type=code")
        challenge = query.get("code_challenge")
        if challenge is not None and query.get("code_challenge_method") != "S256":
            raise ValueError("PKCE needs code_challenge_method=S256")
        grant = CodeGrant(
            app_key=query["client_id"],
            account_id=account_id,
            code_challenge=challenge,
            offline=query.get("token_access_type") == "offline",
        )
        code = secrets.token_urlsafe(32)
        with self._lock:
            if grant.app_key not in self.apps:
                raise KeyError(f"unknown app {grant.app_key!r}")
            self._codes[code] = grant
        return code

    # ---- control -----------------------------------------------------------------------

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            for grant in self._refresh.values():
                grant.revoked = True

    def expire_access_tokens(self) -> None:
        """Every current access token answers 401 expired_access_token from now on."""
        with self._lock:
            for grant in self._access.values():
                if grant.state == "valid":
                    grant.state = "expired"

    def invalidate_access_tokens(self) -> None:
        """Every current access token answers 401 invalid_access_token (app unlinked)."""
        with self._lock:
            for grant in self._access.values():
                grant.state = "invalid"

    # ---- the wire ----------------------------------------------------------------------

    def check_bearer(self, request: Request, route: str) -> Response | None:
        """None if the Authorization header carries a valid access token, else the error."""
        header = request.header("authorization")
        if header is None:
            return bad_input(route, 'Must provide HTTP header "Authorization".')
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return bad_input(route, 'Invalid authorization value in HTTP header "Authorization".')
        with self._lock:
            grant = self._access.get(token.strip())
            if grant is None or grant.state == "invalid":
                return auth_error("invalid_access_token")
            if grant.state == "expired" or self._clock() >= grant.expires_at:
                return auth_error("expired_access_token")
        return None

    def token_endpoint(self, request: Request) -> Response:
        """POST /oauth2/token, grant_type refresh_token or authorization_code (form-encoded)."""
        if request.method != "POST":
            return Response.text(405, "Method Not Allowed")
        form = dict(urllib.parse.parse_qsl(request.body.decode("utf-8", "replace")))
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = _basic_credentials(request.header("authorization"))
        if basic is not None:
            client_id, client_secret = basic
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange_code(form, client_id, client_secret)
        if grant_type != "refresh_token":
            return oauth_error("unsupported_grant_type", f"grant_type {grant_type!r}")
        if client_id is None:
            return oauth_error("invalid_request", "No auth function available for given request")
        with self._lock:
            secret = self.apps.get(client_id)
            if secret is None or (client_secret is not None and client_secret != secret):
                return oauth_error("invalid_client", "Invalid client_id or client_secret")
            grant = self._refresh.get(form.get("refresh_token", ""))
            if grant is None or grant.revoked or grant.app_key != client_id:
                return oauth_error("invalid_grant", "refresh token is invalid or revoked")
            if client_secret is None and not grant.pkce:
                return oauth_error(
                    "invalid_request", "No auth function available for given request"
                )
            ttl = self.token_ttl
        token = self.issue_access_token(ttl)
        return Response.json(
            200, {"access_token": token, "token_type": "bearer", "expires_in": int(ttl)}
        )

    def _exchange_code(
        self, form: dict[str, str], client_id: str | None, client_secret: str | None
    ) -> Response:
        if client_id is None:
            return oauth_error("invalid_request", "No auth function available for given request")
        with self._lock:
            secret = self.apps.get(client_id)
            if secret is None or (client_secret is not None and client_secret != secret):
                return oauth_error("invalid_client", "Invalid client_id or client_secret")
            grant = self._codes.pop(form.get("code", ""), None)  # a code works once
            if grant is None or grant.app_key != client_id:
                return oauth_error("invalid_grant", "code doesn't exist or has expired")
            if grant.code_challenge is not None:
                verifier = form.get("code_verifier", "")
                if _s256(verifier) != grant.code_challenge:
                    return oauth_error("invalid_grant", "invalid code verifier")
            elif client_secret is None:
                return oauth_error(
                    "invalid_request", "No auth function available for given request"
                )
            ttl = self.token_ttl
        body = {
            "access_token": self.issue_access_token(ttl),
            "token_type": "bearer",
            "expires_in": int(ttl),
            "scope": GRANTED_SCOPE,
            "account_id": grant.account_id,
            "uid": str(secrets.randbelow(10**9)),
        }
        if grant.offline:
            body["refresh_token"] = self.issue_refresh_token(
                client_id, pkce=grant.code_challenge is not None
            )
        return Response.json(200, body)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if header is None or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    key, sep, secret = decoded.partition(":")
    return (key, secret) if sep else None
