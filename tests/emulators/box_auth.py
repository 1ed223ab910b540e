"""Box emulator OAuth: Client Credentials Grant, JWT bearer assertions, developer tokens.

`POST /oauth2/token` (form-encoded) issues bearer tokens for a subject: the enterprise (its
service account) or a user of the enterprise. CCG checks the client secret and the
`box_subject_type` / `box_subject_id` pair. JWT checks the client secret, then the RS256 (or
RS384/RS512) signature against the app's public key named by the header `kid`, and the claims
as Box documents them: `iss` = client id, `sub` + `box_sub_type`, `aud` =
https://api.box.com/oauth2/token (fixed, even when the SDK talks to us), `exp` in the future
and at most 60 s away, a `jti` of 16..128 characters never used before. Failures use the
error/description pairs of developer.box.com "Errors" (400 invalid_client, invalid_grant,
unauthorized_client, invalid_request).

An unknown, expired or revoked bearer token gets 401 with an empty body and the
`WWW-Authenticate` challenge; the SDK refreshes and retries.
"""

from __future__ import annotations

import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from .box_wire import oauth_error, unauthorized
from .messages import Request, Response

JWT_AUDIENCE = "https://api.box.com/oauth2/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TOKEN_TTL = 3600
MAX_JWT_LIFETIME = 60


@dataclass(slots=True)
class App:
    client_id: str
    client_secret: str
    public_keys: dict[str, str] = field(default_factory=dict)  # kid -> PEM
    revoked: bool = False  # secret reset / app disabled: every grant fails invalid_client
    authorized: bool = True  # the enterprise admin approved the app


@dataclass(slots=True)
class Grant:
    user_id: str
    expires_at: float
    valid: bool = True


class BoxAuthority:
    """Issues and checks tokens for one enterprise."""

    def __init__(
        self,
        enterprise_id: str,
        service_account_id: str,
        users: Callable[[], set[str]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.enterprise_id = enterprise_id
        self.service_account_id = service_account_id
        self._users = users
        self.apps: dict[str, App] = {}
        self._tokens: dict[str, Grant] = {}
        self._used_jti: set[str] = set()
        self.token_ttl = DEFAULT_TOKEN_TTL

    def add_app(self, client_id: str, client_secret: str) -> App:
        with self._lock:
            app = App(client_id, client_secret)
            self.apps[client_id] = app
            return app

    def issue(self, user_id: str, ttl: float | None = None) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            lifetime = self.token_ttl if ttl is None else ttl
            self._tokens[token] = Grant(user_id, self._clock() + lifetime)
        return token

    # ---- control -----------------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Every current access token answers 401 from now on (as after its hour is up)."""
        with self._lock:
            for grant in self._tokens.values():
                grant.valid = False

    def revoke_client_credentials(self) -> None:
        """The app's secret was reset (or the app disabled): no new token, old ones dead."""
        with self._lock:
            for app in self.apps.values():
                app.revoked = True
            for grant in self._tokens.values():
                grant.valid = False

    # ---- the wire ----------------------------------------------------------------------

    def check_bearer(self, request: Request) -> str | Response:
        """The user the request acts as, or the 401 to answer."""
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return unauthorized(token_given=False)
        with self._lock:
            grant = self._tokens.get(token.strip())
            if grant is None or not grant.valid or self._clock() >= grant.expires_at:
                return unauthorized()
            return grant.user_id

    def token_endpoint(self, request: Request) -> Response:
        if request.method != "POST":
            return oauth_error(
                "invalid_request", "Invalid grant_type parameter or parameter missing"
            )
        form = dict(urllib.parse.parse_qsl(request.body.decode("utf-8", "replace")))
        app = self.apps.get(form.get("client_id", ""))
        if app is None or app.revoked or form.get("client_secret") != app.client_secret:
            return oauth_error("invalid_client", "The client credentials are invalid")
        if not app.authorized:
            return oauth_error(
                "unauthorized_client", "This app is not authorized by the enterprise admin"
            )
        grant_type = form.get("grant_type")
        if grant_type == "client_credentials":
            subject = self._subject(form.get("box_subject_type"), form.get("box_subject_id"))
        elif grant_type == JWT_GRANT:
            subject = self._jwt_subject(app, form.get("assertion", ""))
        else:
            return oauth_error(
                "invalid_request", "Invalid grant_type parameter or parameter missing"
            )
        if isinstance(subject, Response):
            return subject
        token = self.issue(subject)
        return Response.json(
            200,
            {
                "access_token": token,
                "expires_in": int(self.token_ttl),
                "restricted_to": [],
                "token_type": "bearer",
            },
        )

    def _subject(self, kind: str | None, subject_id: str | None) -> str | Response:
        if kind == "enterprise" and subject_id == self.enterprise_id:
            return self.service_account_id
        if kind == "user" and subject_id in self._users():
            return subject_id
        return oauth_error("invalid_grant", "Grant credentials are invalid")

    def _jwt_subject(self, app: App, assertion: str) -> str | Response:
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            return oauth_error("invalid_grant", "Invalid JWT assertion")
        key = app.public_keys.get(str(header.get("kid")))
        if key is None:
            return oauth_error("invalid_grant", "kid invalid, unable to lookup correct key")
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                key,
                algorithms=["RS256", "RS384", "RS512"],
                audience=JWT_AUDIENCE,
                options={"require": ["iss", "sub", "aud", "exp", "jti"]},
            )
        except jwt.InvalidSignatureError:
            return oauth_error(
                "invalid_grant",
                "Signature verification error. The public key identified by kid must "
                "correspond to the private key used for signing.",
            )
        except jwt.ExpiredSignatureError:
            return oauth_error(
                "invalid_grant",
                "Current date time must be before the expiration date time listed in the "
                "'exp' claim.",
            )
        except jwt.PyJWTError as exc:
            return oauth_error("invalid_grant", f"Invalid JWT assertion: {type(exc).__name__}")
        return self._check_claims(app, claims)

    def _check_claims(self, app: App, claims: dict[str, Any]) -> str | Response:
        if claims["iss"] != app.client_id:
            return oauth_error("invalid_grant", "Please check the 'iss' claim.")
        if float(claims["exp"]) - self._clock() > MAX_JWT_LIFETIME:
            return oauth_error(
                "invalid_grant", "Please check the 'exp' claim: at most 60 seconds from now."
            )
        jti = str(claims["jti"])
        with self._lock:
            if not 16 <= len(jti) <= 128 or jti in self._used_jti:
                return oauth_error(
                    "invalid_grant",
                    "Please check the 'jti' claim. A unique 'jti' value is required.",
                )
            self._used_jti.add(jti)
        subject = self._subject(claims.get("box_sub_type"), str(claims["sub"]))
        if isinstance(subject, Response):
            return oauth_error("invalid_grant", "Please check the 'sub' claim.")
        return subject
