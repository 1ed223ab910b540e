"""Dropbox emulator account: FullAccount, team spaces and the Dropbox-API-Path-Root header.

A personal account has one namespace (root == home). A team account has a team root
namespace that mounts the member's home folder at `/<display name>` and each team folder at
`/<name>`. Without a path-root header paths are relative to the home namespace; with
`{".tag": "root", "root": <root_namespace_id>}` they are relative to the team root. A wrong
root id gets 422 `invalid_root` carrying the real root info; an unknown `namespace_id` gets 422
`no_permission`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from .dropbox_nodes import Namespace
from .dropbox_store import Store
from .dropbox_wire import BadInput, JsonObject, path_root_error, union_tag
from .messages import Response

_SHARING_POLICIES = {
    "shared_folder_member_policy": {".tag": "team"},
    "shared_folder_join_policy": {".tag": "from_team_only"},
    "shared_link_create_policy": {".tag": "team_only"},
    "group_creation_policy": {".tag": "admins_only"},
    "shared_folder_link_restriction_policy": {".tag": "members"},
    "enforce_link_password_policy": {".tag": "optional"},
    "default_link_expiration_days_policy": {".tag": "none"},
    "shared_link_default_permissions_policy": {".tag": "default"},
}


@dataclass(slots=True)
class Account:
    account_id: str
    given_name: str
    surname: str
    email: str
    home: Namespace
    root: Namespace
    team_id: str | None = None
    team_name: str | None = None
    team_member_id: str | None = None

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.surname}"

    @property
    def is_team(self) -> bool:
        return self.team_id is not None

    def root_info(self) -> JsonObject:
        if not self.is_team:
            return {
                ".tag": "user",
                "root_namespace_id": self.root.id,
                "home_namespace_id": self.home.id,
            }
        return {
            ".tag": "team",
            "root_namespace_id": self.root.id,
            "home_namespace_id": self.home.id,
            "home_path": "/" + self.display_name,
        }

    def full_account(self) -> JsonObject:
        account: JsonObject = {
            "account_id": self.account_id,
            "name": {
                "given_name": self.given_name,
                "surname": self.surname,
                "familiar_name": self.given_name,
                "display_name": self.display_name,
                "abbreviated_name": self.given_name[:1] + self.surname[:1],
            },
            "email": self.email,
            "email_verified": True,
            "disabled": False,
            "country": "GB",
            "locale": "en",
            "referral_link": "https://www.dropbox.com/referrals/emulator",
            "is_paired": False,
            "account_type": {".tag": "business" if self.is_team else "basic"},
            "root_info": self.root_info(),
        }
        if self.is_team:
            account["team"] = {
                "id": self.team_id,
                "name": self.team_name,
                "sharing_policies": _SHARING_POLICIES,
                "office_addin_policy": {".tag": "disabled"},
                "top_level_content_policy": {".tag": "admin_only"},
            }
            account["team_member_id"] = self.team_member_id
        return account


def new_account(store: Store) -> Account:
    home = store.new_namespace("home")
    return Account(
        # account ids are exactly 40 characters (users_common.AccountId)
        account_id="dbid:" + secrets.token_hex(18)[:35],
        given_name="Records",
        surname="Office",
        email="records-office@example.org",
        home=home,
        root=home,
    )


def enable_team(store: Store, account: Account, team_name: str) -> None:
    """Move the account into a team: a team root that mounts the member's home folder."""
    if account.is_team:
        return
    root = store.new_namespace("team root")
    store.mount(root, account.display_name, account.home)
    account.root = root
    account.team_id = "dbtid:" + secrets.token_urlsafe(24)
    account.team_name = team_name
    account.team_member_id = "dbmid:" + secrets.token_urlsafe(24)


def add_team_folder(store: Store, account: Account, name: str) -> Namespace:
    namespace = store.new_namespace(name)
    store.mount(account.root, name, namespace)
    return namespace


def namespace_for(store: Store, account: Account, header: str | None) -> Namespace | Response:
    """The namespace a Dropbox-API-Path-Root header selects, or the 422 to answer."""
    if header is None:
        return account.home
    try:
        value: Any = json.loads(header)
        tag = union_tag(value, "Dropbox-API-Path-Root")
    except (ValueError, BadInput) as exc:
        raise BadInput(
            f'Invalid value for HTTP header "Dropbox-API-Path-Root": {header!r}'
        ) from exc
    if tag == "home":
        return account.home
    if tag == "root":
        if value.get("root") == account.root.id:
            return account.root
        return path_root_error({".tag": "invalid_root", "invalid_root": account.root_info()})
    if tag == "namespace_id":
        namespace = store.namespaces.get(str(value.get("namespace_id")))
        if namespace is None:
            return path_root_error({".tag": "no_permission"})
        return namespace
    raise BadInput(f'Unknown "Dropbox-API-Path-Root" tag {tag!r}')
