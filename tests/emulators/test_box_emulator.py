"""The Box emulator against the real box_sdk_gen SDK: auth, transport, control routes."""

from __future__ import annotations

import io
import time

import jwt as pyjwt
import pytest
from box_sdk_gen import (
    BoxAPIError,
    BoxClient,
    BoxDeveloperTokenAuth,
    BoxJWTAuth,
    BoxNetworkClient,
    BoxSDKError,
    JWTConfig,
    NetworkSession,
    RetryStrategy,
)
from box_sdk_gen.managers.uploads import (
    UploadFileAttributes,
    UploadFileAttributesParentField,
)

from .box import BoxEmulator
from .box_support import (
    BoxClientFactory,
    JwtKey,
    jwt_config_text,
    new_jwt_key,
    sdk_client,
    trusting_session,
)
from .tls import LoopbackTls

pytest_plugins = ["tests.emulators.box_fixtures"]


def upload(client: BoxClient, folder_id: str, name: str, data: bytes, **kwargs: object) -> str:
    attributes = UploadFileAttributes(name, UploadFileAttributesParentField(folder_id))
    files = client.uploads.upload_file(attributes, io.BytesIO(data), **kwargs)  # type: ignore[arg-type]
    assert files.entries is not None
    return str(files.entries[0].id)


# ---- auth ------------------------------------------------------------------------------------


def test_ccg_enterprise_subject_acts_as_the_service_account(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    me = box_sdk_client().users.get_user_me()
    assert me.id == box_emulator.service_account.id
    assert me.login is not None and me.login.startswith("AutomationUser_")
    form = box_emulator.requests("oauth2/token")[0].arg
    assert form["grant_type"] == "client_credentials"
    assert (form["box_subject_type"], form["box_subject_id"]) == (
        "enterprise",
        box_emulator.enterprise_id,
    )


def test_ccg_user_subject_acts_as_that_user(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    user_id = box_emulator.add_user("Clinic Uploads")
    assert box_sdk_client(user_id=user_id).users.get_user_me().id == user_id


def test_wrong_client_secret_is_invalid_client(box_sdk_client: BoxClientFactory) -> None:
    with pytest.raises(BoxAPIError) as caught:
        box_sdk_client(client_secret="not-the-secret").users.get_user_me()
    assert caught.value.response_info.status_code == 400
    assert caught.value.response_info.body["error"] == "invalid_client"


def test_unknown_subject_is_invalid_grant(box_sdk_client: BoxClientFactory) -> None:
    with pytest.raises(BoxAPIError) as caught:
        box_sdk_client(user_id="31415926").users.get_user_me()
    assert caught.value.response_info.body["error"] == "invalid_grant"


def test_revoked_client_credentials_stop_refresh(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    client = box_sdk_client()
    client.users.get_user_me()
    box_emulator.revoke_client_credentials()
    with pytest.raises(BoxAPIError) as caught:
        client.users.get_user_me()
    assert caught.value.response_info.body["error"] == "invalid_client"
    assert [r.status for r in box_emulator.requests("users/me")] == [200, 401]


def test_expired_token_is_a_bare_401_with_a_challenge_and_the_sdk_refreshes(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    client = box_sdk_client()
    client.users.get_user_me()
    box_emulator.expire_access_tokens()
    assert client.users.get_user_me().id == box_emulator.service_account.id
    routes = [(r.route, r.status) for r in box_emulator.requests()]
    assert routes == [
        ("oauth2/token", 200),
        ("users/me", 200),
        ("users/me", 401),
        ("oauth2/token", 200),
        ("users/me", 200),
    ]
    rejected = box_emulator.requests("users/me", status=401)[0]
    assert rejected.response_body == b""
    assert 'error="invalid_token"' in rejected.response_headers["WWW-Authenticate"]


def jwt_client(emu: BoxEmulator, tls: LoopbackTls, config_text: str) -> BoxClient:
    session = NetworkSession(
        base_urls=emu.base_urls(),
        network_client=BoxNetworkClient(requests_session=trusting_session(tls)),
    )
    auth = BoxJWTAuth(JWTConfig.from_config_json_string(config_text))
    return BoxClient(auth=auth, network_session=session)


def test_jwt_assertion_signed_with_the_app_key_is_accepted(
    box_emulator: BoxEmulator, loopback_tls: LoopbackTls, jwt_key: JwtKey
) -> None:
    client = jwt_client(box_emulator, loopback_tls, jwt_config_text(box_emulator, jwt_key))
    assert client.users.get_user_me().id == box_emulator.service_account.id
    form = box_emulator.requests("oauth2/token")[0].arg
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = pyjwt.decode(form["assertion"], options={"verify_signature": False})
    assert claims["aud"] == "https://api.box.com/oauth2/token"  # fixed in the SDK
    assert (claims["iss"], claims["box_sub_type"]) == (box_emulator.client_id, "enterprise")


def test_jwt_signed_with_an_unregistered_key_is_refused(
    box_emulator: BoxEmulator, loopback_tls: LoopbackTls, jwt_key: JwtKey
) -> None:
    box_emulator.add_jwt_key(jwt_key.kid, new_jwt_key().public_pem)  # same kid, other key
    client = jwt_client(
        box_emulator, loopback_tls, jwt_config_text(box_emulator, jwt_key, register=False)
    )
    with pytest.raises(BoxAPIError) as caught:
        client.users.get_user_me()
    assert caught.value.response_info.body["error"] == "invalid_grant"
    assert "Signature" in caught.value.response_info.body["error_description"]


def test_jwt_assertion_cannot_be_replayed(
    box_emulator: BoxEmulator, loopback_tls: LoopbackTls, jwt_key: JwtKey
) -> None:
    jwt_client(
        box_emulator, loopback_tls, jwt_config_text(box_emulator, jwt_key)
    ).users.get_user_me()
    form = box_emulator.requests("oauth2/token")[0].arg
    replay = trusting_session(loopback_tls).post(box_emulator.url + "/oauth2/token", data=form)
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    assert "jti" in replay.json()["error_description"]


def test_developer_token_cannot_be_refreshed(
    box_emulator: BoxEmulator, loopback_tls: LoopbackTls
) -> None:
    session = NetworkSession(
        base_urls=box_emulator.base_urls(),
        network_client=BoxNetworkClient(requests_session=trusting_session(loopback_tls)),
    )
    client = BoxClient(
        auth=BoxDeveloperTokenAuth(box_emulator.issue_developer_token()), network_session=session
    )
    assert client.users.get_user_me().id == box_emulator.service_account.id
    box_emulator.expire_access_tokens()
    with pytest.raises(BoxSDKError, match="Developer token has expired"):
        client.users.get_user_me()


def test_plain_http_works_too(box_http_emulator: BoxEmulator) -> None:
    client = sdk_client(box_http_emulator, None)
    assert client.users.get_user_me().id == box_http_emulator.service_account.id
    assert box_http_emulator.url.startswith("http://")


def test_sdk_honours_retry_after_on_429(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    from .box_wire import rate_limit_fault

    box_emulator.add_fault(rate_limit_fault("/2.0/users/me", retry_after=1))
    started = time.monotonic()
    box_sdk_client().users.get_user_me()
    first, second = box_emulator.requests("users/me")
    assert first.status == 429 and first.response_headers["Retry-After"] == "1"
    assert first.responded_at is not None
    assert second.received_at - first.responded_at >= 1.0
    assert time.monotonic() - started >= 1.0


def test_requests_carry_the_sdk_user_agent(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    box_sdk_client().users.get_user_me()
    headers = box_emulator.requests("users/me")[0].headers
    assert headers["user-agent"].startswith("box-python-generated-sdk-")
    assert headers["x-box-ua"].startswith("agent=box-python-generated-sdk/")


def test_control_routes_for_a_subprocess(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory, loopback_tls: LoopbackTls
) -> None:
    from .box_control import ControlClient

    control = ControlClient(box_emulator.url, loopback_tls.ca_path)
    control.add_fault(path="/2.0/users/me", status=503, body={"type": "error"})
    with pytest.raises(BoxAPIError):
        box_sdk_client(retry_strategy=_NoRetry()).users.get_user_me()
    folder = box_emulator.create_folder("Clinic")
    upload(box_sdk_client(), folder, "c.age", b"ctl")
    assert control.files() == {"Clinic/c.age": b"ctl"}
    assert [r["status"] for r in control.requests("users/me")] == [503]
    assert control.state()["service_account_id"] == box_emulator.service_account.id
    unknown = trusting_session(loopback_tls).get(box_emulator.url + "/__emu/nothing")
    assert unknown.status_code == 404


class _NoRetry(RetryStrategy):
    def should_retry(self, *args: object, **kwargs: object) -> bool:
        return False

    def retry_after(self, *args: object, **kwargs: object) -> float:
        return 0.0
