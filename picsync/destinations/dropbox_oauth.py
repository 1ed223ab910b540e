"""Dropbox authorization for ``picsync auth dropbox``: the no-redirect OAuth flow with PKCE.

PKCE needs no app secret on the station. The person opens the authorize URL, signs in as the
records office's account, clicks Allow and pastes the code Dropbox shows; the code is exchanged
(once, within minutes) for a refresh token with offline access. ``AuthSeams`` builds the SDK
objects: the command uses the defaults, tests hand in ones pointed at the emulator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dropbox
import requests

from picsync.destinations.dropbox_errors import translate

__all__ = ["AuthSeams", "AuthorizationError", "authorize", "describe_account"]

_TIMEOUT_S = 30.0


class AuthorizationError(Exception):
    """The authorization did not complete; the message says why and what to do."""


def _new_flow(app_key: str) -> Any:
    offline = "offline"  # the kind of token asked for (with a refresh token), not a secret
    return dropbox.DropboxOAuth2FlowNoRedirect(
        app_key, use_pkce=True, token_access_type=offline, timeout=_TIMEOUT_S
    )


def _new_client(app_key: str, refresh_token: str) -> Any:
    return dropbox.Dropbox(
        oauth2_refresh_token=refresh_token,
        app_key=app_key,
        max_retries_on_error=0,
        max_retries_on_rate_limit=0,
        timeout=_TIMEOUT_S,
    )


@dataclass(frozen=True, slots=True)
class AuthSeams:
    """How the command makes its SDK objects (a flow for an app key; a client for a token)."""

    new_flow: Callable[[str], Any] = _new_flow
    new_client: Callable[[str, str], Any] = _new_client


def authorize(app_key: str, ask_code: Callable[[str], str], seams: AuthSeams | None = None) -> str:
    """Show the authorize URL through ``ask_code``, exchange the code; the refresh token."""
    flow = (seams or AuthSeams()).new_flow(app_key)
    code = ask_code(flow.start()).strip()
    if not code:
        raise AuthorizationError("no code was entered")
    try:
        result = flow.finish(code)
    except requests.HTTPError as exc:
        raise AuthorizationError(
            "Dropbox refused the code (mistyped, used already, or older than a few minutes?); "
            "run the command again and paste the new code at once"
        ) from exc
    except requests.RequestException as exc:
        raise AuthorizationError(
            f"could not reach Dropbox ({type(exc).__name__}); check the network and try again"
        ) from exc
    refresh_token = str(result.refresh_token or "")
    if not refresh_token:
        raise AuthorizationError(
            "Dropbox issued no refresh token; the flow must ask for offline access"
        )
    return refresh_token


def describe_account(client: Any, destination: str) -> str:
    """The account a client acts for, as an operator should see it; DestinationError on failure."""
    with translate(destination):
        account = client.users_get_current_account()
    kind = account.account_type._tag  # basic | pro | business
    team = f", team {account.team.name}" if account.team is not None else ""
    return f"{account.name.display_name} <{account.email}> ({kind}{team})"
