"""Box backend: build the SDK client (auth, base URLs, timeouts, retries) from settings.

Auth: Client Credentials Grant (the enterprise's service account, or a user), JWT (the app's
JSON configuration, a secret file), or a developer token (60-minute trials only).

Retries: the SDK's ``BoxRetryStrategy`` retries 5xx, 429 and dropped connections up to five
times on its own; picsync already retries per call (``_retry``) and per delivery (the
ledger), so the two would multiply. ``RefreshOnce`` keeps only the 401 → refresh the token →
resend step, once per request.

Test/proxy seam: ``PICSYNC_BOX_BASE_URL`` and ``PICSYNC_BOX_UPLOAD_URL`` (both or neither)
replace https://api.box.com and https://upload.box.com/api. The SDK takes base URLs only in
code, so a subprocess (the daemon under test, or a site that must go through a TLS-inspecting
gateway) needs this environment hook; plain http is accepted for loopback addresses only.
TLS trust and proxies come from the usual requests variables (REQUESTS_CA_BUNDLE,
HTTPS_PROXY), which is why the requests session keeps ``trust_env``.
"""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from box_sdk_gen.box.ccg_auth import BoxCCGAuth, CCGConfig
from box_sdk_gen.box.developer_token_auth import BoxDeveloperTokenAuth
from box_sdk_gen.box.jwt_auth import BoxJWTAuth, JWTConfig
from box_sdk_gen.client import BoxClient
from box_sdk_gen.networking.auth import Authentication
from box_sdk_gen.networking.base_urls import BaseUrls
from box_sdk_gen.networking.box_network_client import BoxNetworkClient
from box_sdk_gen.networking.fetch_options import FetchOptions
from box_sdk_gen.networking.fetch_response import FetchResponse
from box_sdk_gen.networking.network import NetworkSession
from box_sdk_gen.networking.retries import RetryStrategy
from box_sdk_gen.networking.timeout_config import TimeoutConfig

from picsync.errors import ConfigError

BASE_URL_VARIABLE = "PICSYNC_BOX_BASE_URL"
UPLOAD_URL_VARIABLE = "PICSYNC_BOX_UPLOAD_URL"
_LOOPBACK_NAMES = {"localhost"}


class RefreshOnce(RetryStrategy):
    """Retry a request only after a 401, once, with a freshly fetched access token."""

    def __init__(self) -> None:  # RetryStrategy.__init__ (untyped) sets nothing
        pass

    def should_retry(
        self, fetch_options: FetchOptions, fetch_response: FetchResponse, attempt_number: int
    ) -> bool:
        if fetch_response.status != 401 or fetch_options.auth is None or attempt_number > 1:
            return False
        # May raise: a token endpoint that refuses us is the error the caller must see.
        fetch_options.auth.refresh_token(network_session=fetch_options.network_session)
        return True

    def retry_after(
        self, fetch_options: FetchOptions, fetch_response: FetchResponse, attempt_number: int
    ) -> float:
        return 0.0


@dataclass(frozen=True, slots=True)
class Connection:
    """A ready client and what the operator should know about how it connects."""

    client: BoxClient
    auth_kind: str
    redirected_to: str | None  # the base URL when the environment seam is in use


def connect(
    settings: Any,
    secrets: Mapping[str, str],
    name: str,
    environ: Mapping[str, str] | None = None,
) -> Connection:
    """Build the client for one Box destination; ConfigError names a missing secret.

    ``environ`` (default: the process environment) is where the base-URL seam is read.
    """
    base_urls, redirected = base_urls_from(os.environ if environ is None else environ)
    session = NetworkSession(
        base_urls=base_urls,
        network_client=BoxNetworkClient(requests_session=requests.Session()),
        retry_strategy=RefreshOnce(),
        timeout_config=TimeoutConfig(
            connection_timeout_ms=int(min(settings.timeout, 10.0) * 1000),
            read_timeout_ms=int(settings.timeout * 1000),
        ),
    )
    auth = _auth(settings, secrets, name)
    return Connection(BoxClient(auth=auth, network_session=session), settings.auth, redirected)


def base_urls_from(environ: Mapping[str, str]) -> tuple[BaseUrls, str | None]:
    base = environ.get(BASE_URL_VARIABLE, "").strip()
    upload = environ.get(UPLOAD_URL_VARIABLE, "").strip()
    if not base and not upload:
        return BaseUrls(), None
    if not base or not upload:
        raise ConfigError(f"set both {BASE_URL_VARIABLE} and {UPLOAD_URL_VARIABLE}, or neither")
    for variable, url in ((BASE_URL_VARIABLE, base), (UPLOAD_URL_VARIABLE, upload)):
        _check_url(variable, url)
    base, upload = base.rstrip("/"), upload.rstrip("/")
    return BaseUrls(base_url=base, upload_url=upload, oauth_2_url=base + "/oauth2"), base


def _check_url(variable: str, url: str) -> None:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "https" and parsed.hostname:
        return
    if parsed.scheme == "http" and _is_loopback(parsed.hostname):
        return
    raise ConfigError(
        f"{variable} must be an https:// URL (plain http only for a loopback address)"
    )


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _auth(settings: Any, secrets: Mapping[str, str], name: str) -> Authentication:
    key = f"destinations.{name}"
    if settings.auth == "developer_token":
        token = secrets.get("developer_token")
        if not token:
            raise ConfigError(f"{key}.developer_token_file: auth: developer_token needs the token")
        return BoxDeveloperTokenAuth(token)
    if settings.auth == "jwt":
        text = secrets.get("jwt_config_file")
        if not text:
            raise ConfigError(f"{key}.jwt_config_file: auth: jwt needs the app's JSON config")
        try:
            jwt = BoxJWTAuth(JWTConfig.from_config_json_string(text))
        except (ValueError, TypeError, KeyError, AttributeError):
            raise ConfigError(
                f"{key}.jwt_config_file: not a Box app configuration (download it again from "
                "the Developer Console: Configuration → Add and Manage Public Keys)"
            ) from None
        return jwt.with_user_subject(settings.user_id) if settings.user_id else jwt
    secret = secrets.get("client_secret")
    if not secret:
        raise ConfigError(f"{key}.client_secret_file: auth: ccg needs the app's client secret")
    config = CCGConfig(
        settings.client_id,
        secret,
        enterprise_id=None if settings.user_id else settings.enterprise_id,
        user_id=settings.user_id,
    )
    return BoxCCGAuth(config)
