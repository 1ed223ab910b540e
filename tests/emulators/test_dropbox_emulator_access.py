"""Getting into the Dropbox emulator: OAuth tokens, a subprocess's environment, control routes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from dropbox.exceptions import ApiError, AuthError, BadInputError, InternalServerError

from . import fixtures
from .dropbox import DropboxEmulator
from .dropbox_control import ControlClient
from .fixtures import DropboxFactory
from .tls import LoopbackTls

loopback_tls = fixtures.loopback_tls
dropbox_emulator = fixtures.dropbox_emulator
dropbox_client = fixtures.dropbox_client
dropbox_subprocess_env = fixtures.dropbox_subprocess_env

UPLOAD = r"/2/files/upload$"


# ---- tokens --------------------------------------------------------------------------------


def test_an_expired_access_token_is_refreshed_once_and_the_call_retried(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dbx = dropbox_client()
    dbx.users_get_current_account()
    dropbox_emulator.expire_access_tokens()

    dbx.files_upload(b"x", "/a.age")

    calls = [(r.route, r.status) for r in dropbox_emulator.requests()]
    assert calls == [
        ("oauth2/token", 200),
        ("users/get_current_account", 200),
        ("files/upload", 401),
        ("oauth2/token", 200),
        ("files/upload", 200),
    ]
    assert (
        dropbox_emulator.requests("files/upload")[0].response_headers["Content-Type"]
        == "application/json"
    )


def test_tokens_outlive_the_sdk_refresh_margin(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dbx = dropbox_client()
    for n in range(3):
        dbx.files_upload(bytes([n]), f"/{n}.age")

    (token,) = dropbox_emulator.requests("oauth2/token")
    assert token.arg["grant_type"] == "refresh_token"
    assert json.loads(token.response_body)["expires_in"] > 300


def test_a_revoked_refresh_token_ends_in_auth_error(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dbx = dropbox_client()
    dbx.users_get_current_account()
    dropbox_emulator.revoke_refresh_tokens()
    dropbox_emulator.expire_access_tokens()

    with pytest.raises(AuthError) as raised:
        dbx.files_upload(b"x", "/a.age")

    assert raised.value.error.is_invalid_access_token()
    assert dropbox_emulator.requests("oauth2/token")[-1].status == 400
    assert dropbox_emulator.files() == {}


def test_an_invalidated_access_token_is_not_refreshed(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dbx = dropbox_client()
    dbx.users_get_current_account()
    dropbox_emulator.invalidate_access_tokens()

    with pytest.raises(AuthError) as raised:
        dbx.files_upload(b"x", "/a.age")

    assert raised.value.error.is_invalid_access_token()
    assert len(dropbox_emulator.requests("oauth2/token")) == 1


def test_pkce_tokens_refresh_without_a_secret_and_others_need_it(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    pkce = dropbox_client(oauth2_refresh_token=dropbox_emulator.pkce_refresh_token, app_secret=None)
    pkce.users_get_current_account()

    with pytest.raises(BadInputError) as missing_secret:
        dropbox_client(app_secret=None).users_get_current_account()
    with pytest.raises(BadInputError) as wrong_secret:
        dropbox_client(app_secret="not-the-secret").users_get_current_account()

    assert "invalid_request" in missing_secret.value.message
    assert "invalid_client" in wrong_secret.value.message
    assert "client_secret" not in dropbox_emulator.requests("oauth2/token")[0].arg


# ---- from outside the test process ---------------------------------------------------------

_SUBPROCESS_UPLOAD = """
import os, dropbox
dbx = dropbox.Dropbox(
    oauth2_refresh_token=os.environ["EMU_REFRESH_TOKEN"],
    app_key=os.environ["EMU_APP_KEY"],
    app_secret=os.environ["EMU_APP_SECRET"],
    max_retries_on_error=0,
    timeout=10,
)
print(dbx.files_upload(b"from a subprocess", "/sub/proc.age").content_hash)
"""


def test_an_unmodified_sdk_in_a_subprocess_reaches_the_emulator_through_the_environment(
    dropbox_emulator: DropboxEmulator, dropbox_subprocess_env: dict[str, str]
) -> None:
    env = {
        **dropbox_subprocess_env,
        "EMU_REFRESH_TOKEN": dropbox_emulator.refresh_token,
        "EMU_APP_KEY": dropbox_emulator.app_key,
        "EMU_APP_SECRET": dropbox_emulator.app_secret,
    }

    done = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS_UPLOAD],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert "CURL_CA_BUNDLE" not in env
    assert dropbox_emulator.files() == {"/sub/proc.age": b"from a subprocess"}
    assert done.stdout.strip() == dropbox_emulator.commits()[0].content_hash


def test_control_routes_drive_the_emulator_over_https(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory, loopback_tls: LoopbackTls
) -> None:
    control = ControlClient(dropbox_emulator.url, loopback_tls.ca_path)
    dbx = dropbox_client()
    dbx.files_upload(b"before", "/a.age")

    control.add_fault(path=UPLOAD, status=503, body="maintenance")
    with pytest.raises(InternalServerError):
        dbx.files_upload(b"x", "/b.age")
    control.set_quota(10)
    with pytest.raises(ApiError) as full:
        dbx.files_upload(b"too big for quota", "/c.age")
    namespace_id = control.add_team_namespace("Clinic Records")
    control.revoke_refresh_tokens()
    control.expire_access_tokens()
    with pytest.raises(AuthError):
        dbx.files_upload(b"x", "/d.age")

    assert full.value.error.get_path().reason.is_insufficient_space()
    assert control.files() == {"/a.age": b"before"}
    assert namespace_id in control.state()["namespaces"]
    uploads = control.requests("files/upload", bodies=True)
    assert [u["status"] for u in uploads] == [200, 503, 409, 401]
    assert uploads[0]["arg"]["path"] == "/a.age"
    assert dropbox_emulator.requests(path="^/__emu/") == []  # control calls stay out of the log
