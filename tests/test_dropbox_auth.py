"""``picsync auth dropbox``: the PKCE no-redirect flow against the emulator's /oauth2/token, and
the command through click's CliRunner (the flow and client it builds are pointed at the emulator
through ``AuthSeams``, the command's one seam)."""

from __future__ import annotations

import stat
import urllib.parse
from pathlib import Path
from typing import Any

import click
import dropbox
import pytest
import yaml
from click.testing import CliRunner, Result

from picsync.cli_auth import auth
from picsync.config.secrets import read_secret_file
from picsync.destinations.dropbox import DropboxDestination
from picsync.destinations.dropbox_oauth import AuthorizationError, AuthSeams, authorize
from picsync.errors import EX_CONFIG
from tests.emulators.dropbox import DropboxEmulator
from tests.emulators.dropbox_seam import loopback_dropbox, loopback_session
from tests.emulators.tls import LoopbackTls

FIXED_VERIFIER = "v" * 64  # the test's flows share one verifier, so a code can be approved ahead


def loopback_seams(
    emulator: DropboxEmulator, tls: LoopbackTls, *, verifier: str | None = None
) -> AuthSeams:
    """The SDK's own flow and client, talking to the emulator instead of dropbox.com."""

    class LoopbackFlow(dropbox.DropboxOAuth2FlowNoRedirect):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.requests_session = loopback_session(tls.ca_path)
            if verifier is not None:
                self.code_verifier = verifier
                self.code_challenge = dropbox.oauth._generate_pkce_code_challenge(verifier)

        def build_url(self, target: str, params: Any = None, host: Any = None) -> str:
            return str(super().build_url(target, params, emulator.netloc))

    def new_flow(app_key: str) -> Any:
        return LoopbackFlow(app_key, use_pkce=True, token_access_type="offline")

    def new_client(app_key: str, refresh_token: str) -> Any:
        return loopback_dropbox(
            emulator.netloc, tls.ca_path, oauth2_refresh_token=refresh_token, app_key=app_key
        )

    return AuthSeams(new_flow=new_flow, new_client=new_client)


def approve(emulator: DropboxEmulator, url: str) -> str:
    """What the person at the browser does: sign in, click Allow, copy the code."""
    return emulator.auth.approve(url, emulator.account.account_id)


# ---- the flow ------------------------------------------------------------------------------


def test_the_code_becomes_a_refresh_token_that_needs_no_app_secret(
    dropbox_emulator: DropboxEmulator, loopback_tls: LoopbackTls, tmp_path: Path
) -> None:
    seams = loopback_seams(dropbox_emulator, loopback_tls)
    shown: list[str] = []

    def ask(url: str) -> str:
        shown.append(url)
        return approve(dropbox_emulator, url)

    refresh_token = authorize(dropbox_emulator.app_key, ask, seams)

    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(shown[0]).query))
    assert query["client_id"] == dropbox_emulator.app_key
    assert (query["code_challenge_method"], query["token_access_type"]) == ("S256", "offline")
    (exchange,) = dropbox_emulator.requests("oauth2/token")
    assert exchange.arg["grant_type"] == "authorization_code"
    assert "code_verifier" in exchange.arg
    assert "client_secret" not in exchange.arg
    # The daemon's client refreshes with the app key alone and can upload.
    client = seams.new_client(dropbox_emulator.app_key, refresh_token)
    dest = DropboxDestination("records", client, region="eu")
    assert dest.probe().startswith("Dropbox account Records Office (basic)")


def test_a_mistyped_code_is_refused(
    dropbox_emulator: DropboxEmulator, loopback_tls: LoopbackTls
) -> None:
    seams = loopback_seams(dropbox_emulator, loopback_tls)

    with pytest.raises(AuthorizationError, match="refused the code"):
        authorize(dropbox_emulator.app_key, lambda url: "not-a-code", seams)


def test_a_code_approved_for_another_flow_is_refused(
    dropbox_emulator: DropboxEmulator, loopback_tls: LoopbackTls
) -> None:
    """PKCE: a code intercepted from someone else's authorization is useless."""
    seams = loopback_seams(dropbox_emulator, loopback_tls)
    other = seams.new_flow(dropbox_emulator.app_key)
    stolen = approve(dropbox_emulator, other.start())

    with pytest.raises(AuthorizationError, match="refused the code"):
        authorize(dropbox_emulator.app_key, lambda url: stolen, seams)
    assert dropbox_emulator.requests("oauth2/token")[0].status == 400


def test_a_code_works_once(dropbox_emulator: DropboxEmulator, loopback_tls: LoopbackTls) -> None:
    seams = loopback_seams(dropbox_emulator, loopback_tls, verifier=FIXED_VERIFIER)
    code = approve(dropbox_emulator, seams.new_flow(dropbox_emulator.app_key).start())

    authorize(dropbox_emulator.app_key, lambda url: code, seams)
    with pytest.raises(AuthorizationError):
        authorize(dropbox_emulator.app_key, lambda url: code, seams)


# ---- the command ---------------------------------------------------------------------------


def write_config(folder: Path, **entry: Any) -> Path:
    destination = {"type": "dropbox", "region": "eu", "app_key": "emulator-app-key", **entry}
    config = folder / "picsync.yaml"
    config.write_text(yaml.safe_dump({"destinations": {"records": destination}}))
    return config


def invoke(seams: AuthSeams, *args: str, code: str = "") -> Result:
    @click.group()
    def cli() -> None:
        """The lead registers `auth` on picsync's main group the same way."""

    cli.add_command(auth)
    return CliRunner().invoke(cli, ["auth", "dropbox", *args], input=code + "\n", obj=seams)


@pytest.fixture
def fixed_seams(dropbox_emulator: DropboxEmulator, loopback_tls: LoopbackTls) -> AuthSeams:
    return loopback_seams(dropbox_emulator, loopback_tls, verifier=FIXED_VERIFIER)


def approved_code(emulator: DropboxEmulator, seams: AuthSeams) -> str:
    """A code for the command's flow: same app, same (fixed) verifier."""
    return approve(emulator, seams.new_flow(emulator.app_key).start())


def test_the_command_saves_the_token_0600_and_names_the_account(
    dropbox_emulator: DropboxEmulator, fixed_seams: AuthSeams, tmp_path: Path
) -> None:
    config = write_config(tmp_path, refresh_token_file="dropbox.token")  # relative to the config
    code = approved_code(dropbox_emulator, fixed_seams)

    result = invoke(fixed_seams, "-c", str(config), "--destination", "records", code=code)

    assert result.exit_code == 0, result.output
    token_file = tmp_path / "dropbox.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = read_secret_file(token_file)  # what the daemon's configuration loader accepts
    assert token.startswith("rt-")
    assert "https://" in result.output and "code_challenge=" in result.output
    assert (
        "it belongs to the Dropbox account Records Office <records-office@example.org> (basic)"
        in result.output
    )
    assert token not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dropbox.token", "picsync.yaml"]


def test_the_command_replaces_a_revoked_token(
    dropbox_emulator: DropboxEmulator, fixed_seams: AuthSeams, tmp_path: Path
) -> None:
    token_file = tmp_path / "dropbox.token"
    token_file.write_text("rt-revoked\n")
    token_file.chmod(0o600)
    config = write_config(tmp_path, refresh_token_file=str(token_file))

    result = invoke(
        fixed_seams,
        "-c",
        str(config),
        "--destination",
        "records",
        code=approved_code(dropbox_emulator, fixed_seams),
    )

    assert result.exit_code == 0, result.output
    assert read_secret_file(token_file) not in ("rt-revoked", "")
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_without_refresh_token_file_the_command_refuses_and_explains(
    fixed_seams: AuthSeams, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    config = write_config(tmp_path)

    result = invoke(fixed_seams, "-c", str(config), "--destination", "records")

    assert result.exit_code == EX_CONFIG
    assert "has no refresh_token_file" in result.output
    assert "refresh_token_file: /etc/picsync/dropbox.token" in result.output
    assert dropbox_emulator.requests() == []  # refused before any network call


def test_a_systemd_credential_path_needs_output(
    dropbox_emulator: DropboxEmulator, fixed_seams: AuthSeams, tmp_path: Path
) -> None:
    config = write_config(tmp_path, refresh_token_file="${CREDENTIALS_DIRECTORY}/dropbox-token")
    refused = invoke(fixed_seams, "-c", str(config), "--destination", "records")
    assert refused.exit_code == EX_CONFIG
    assert "LoadCredential=" in refused.output

    target = tmp_path / "credential-source"
    result = invoke(
        fixed_seams,
        "-c",
        str(config),
        "--destination",
        "records",
        "--output",
        str(target),
        code=approved_code(dropbox_emulator, fixed_seams),
    )

    assert result.exit_code == 0, result.output
    assert read_secret_file(target).startswith("rt-")


@pytest.mark.parametrize(
    ("entry", "name", "message"),
    [
        ({}, "elsewhere", "no destination named 'elsewhere' (defined: records)"),
        ({"type": "folder", "path": "/x"}, "records", "is not a Dropbox destination"),
        ({"chunk_size": 1000}, "records", "destinations.records.chunk_size"),
    ],
)
def test_a_bad_destination_is_a_configuration_error(
    fixed_seams: AuthSeams, tmp_path: Path, entry: dict[str, Any], name: str, message: str
) -> None:
    config = write_config(tmp_path, refresh_token_file="t", **entry)

    result = invoke(fixed_seams, "-c", str(config), "--destination", name)

    assert result.exit_code == EX_CONFIG
    assert message in result.output


def test_a_refused_code_writes_nothing(fixed_seams: AuthSeams, tmp_path: Path) -> None:
    config = write_config(tmp_path, refresh_token_file="dropbox.token")

    result = invoke(fixed_seams, "-c", str(config), "--destination", "records", code="wrong")

    assert result.exit_code == 1
    assert "refused the code" in result.output
    assert not (tmp_path / "dropbox.token").exists()
