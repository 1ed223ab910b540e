"""Destination settings: where files go, in which declared region, sealed or (by exception) not.

Each destination type lists its secret keys in ``SECRETS``: for a secret ``k`` the YAML may hold
only ``k_file`` (a file readable by picsync alone); the value itself may come from the
environment (``PICSYNC_DESTINATIONS__<NAME>__<K>``). ``SECRET_FILES`` are files that are
secrets as a whole (a Box JWT app configuration holds a private key).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from picsync.config.base import Strict, check_template

DEFAULT_TEMPLATE = "{station}/{yyyy}/{mm}/{id}"
# The closed list of data regions (specs/cloud-apis.md §7): Dropbox's regional storage for
# teams (us, eu, uk, au, jp), the Box Zones (us, ca, ie, de, fr, uk, jp, sg, au), and onprem for
# folders on the clinic's own disks.
Region = Literal["onprem", "us", "ca", "eu", "ie", "de", "fr", "uk", "jp", "sg", "au"]
MiB = 1 << 20


class EncryptionChoice(Strict):
    """Per destination: age-encrypted to the recipients (default), or plaintext by exception."""

    encryption: Literal["age", "none"] = "age"
    plaintext_ack: str | None = None
    window: str | None = None  # e.g. "Mon-Fri 19:00-07:00, Sat-Sun 00:00-24:00" (station time)
    bandwidth: str | None = None  # e.g. "1MiB/s" or "08:00,512KiB/s 19:00,off"

    SECRETS: ClassVar[tuple[str, ...]] = ()
    SECRET_FILES: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _plaintext_needs_ack(self) -> EncryptionChoice:
        ack = (self.plaintext_ack or "").strip()
        if self.encryption == "none" and not ack:
            raise ValueError(
                'encryption: none needs plaintext_ack: "<why, e.g. the BAA reference and who '
                'approved it>"'
            )
        if self.encryption == "age" and self.plaintext_ack is not None:
            raise ValueError("plaintext_ack only goes with encryption: none")
        return self


class FolderDestinationSettings(EncryptionChoice):
    """A local disk or a mounted NAS folder."""

    type: Literal["folder"]
    path: Path
    region: Literal["onprem"] = "onprem"
    template: str = DEFAULT_TEMPLATE

    @field_validator("template")
    @classmethod
    def _template_is_safe(cls, value: str) -> str:
        return check_template(value)


class DropboxDestinationSettings(EncryptionChoice):
    """A Dropbox account or a Business team space (specs/cloud-apis.md §2-§3)."""

    type: Literal["dropbox"]
    region: Literal["us", "eu", "uk", "au", "jp"]
    root: str = "/picsync"
    template: str = DEFAULT_TEMPLATE
    app_key: str = Field(min_length=1)
    app_secret: SecretStr | None = None
    app_secret_file: Path | None = None
    refresh_token: SecretStr | None = None
    refresh_token_file: Path | None = None
    team_space: bool = False
    chunk_size: int = Field(default=8 * MiB, ge=4 * MiB, le=148 * MiB)
    timeout: float = Field(default=100.0, gt=0)

    SECRETS: ClassVar[tuple[str, ...]] = ("app_secret", "refresh_token")

    @field_validator("template")
    @classmethod
    def _template_is_safe(cls, value: str) -> str:
        return check_template(value)

    @field_validator("root")
    @classmethod
    def _root_is_absolute(cls, value: str) -> str:
        if value and (not value.startswith("/") or value.endswith("/") or "//" in value):
            raise ValueError('root must be "" (the app folder itself) or a path like "/picsync"')
        return value

    @field_validator("chunk_size")
    @classmethod
    def _chunk_is_4mib_multiple(cls, value: int) -> int:
        if value % (4 * MiB):
            raise ValueError("chunk_size must be a multiple of 4 MiB (4194304 bytes)")
        return value


class BoxDestinationSettings(EncryptionChoice):
    """A Box folder, usually in an enterprise with Box Zones (specs/cloud-apis.md §4-§5)."""

    type: Literal["box"]
    region: Literal["us", "ca", "ie", "de", "fr", "uk", "jp", "sg", "au"]
    folder_id: str | None = None
    folder_path: str | None = None
    template: str = DEFAULT_TEMPLATE
    auth: Literal["ccg", "jwt", "developer_token"] = "ccg"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    enterprise_id: str | None = None
    user_id: str | None = None
    jwt_config_file: Path | None = None
    developer_token: SecretStr | None = None
    developer_token_file: Path | None = None
    chunked_threshold: int = Field(default=20_000_000, ge=20_000_000)
    timeout: float = Field(default=60.0, gt=0)

    SECRETS: ClassVar[tuple[str, ...]] = ("client_secret", "developer_token")
    SECRET_FILES: ClassVar[tuple[str, ...]] = ("jwt_config_file",)

    @field_validator("template")
    @classmethod
    def _template_is_safe(cls, value: str) -> str:
        return check_template(value)

    @model_validator(mode="after")
    def _one_folder_and_complete_auth(self) -> BoxDestinationSettings:
        if (self.folder_id is None) == (self.folder_path is None):
            raise ValueError("give exactly one of folder_id or folder_path")
        if self.folder_path is not None and not self.folder_path.startswith("/"):
            raise ValueError('folder_path must start with "/" (the root of the Box account)')
        if self.auth == "ccg":
            if not self.client_id or (self.enterprise_id is None) == (self.user_id is None):
                raise ValueError(
                    "auth: ccg needs client_id, client_secret (or client_secret_file) and "
                    "exactly one of enterprise_id or user_id"
                )
        elif self.auth == "jwt" and self.jwt_config_file is None:
            raise ValueError("auth: jwt needs jwt_config_file (the app's JSON configuration)")
        return self


DestinationSettings = Annotated[
    FolderDestinationSettings | DropboxDestinationSettings | BoxDestinationSettings,
    Field(discriminator="type"),
]
