"""Configuration: every error names its key and line; `picsync check` exits 78 on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from picsync.config import load_config
from picsync.crypto import generate_identity
from picsync.errors import ConfigError
from tests.helpers import Site, picsync

OFFICE = generate_identity()
ESCROW = generate_identity()
GOOD = f"""\
station: derm-cam-03
state_dir: ./state
residency: {{allowed_regions: [onprem, eu, de]}}
sources:
  camera:
    path: ./inbox
    destinations: [outbox]
destinations:
  outbox:
    type: folder
    path: ./outbox
keys:
  recipients:
    - {OFFICE.recipient.to_string()}
    - {ESCROW.recipient.to_string()}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "outbox").mkdir()
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "picsync.yaml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


def test_good_config_loads_with_paths_relative_to_the_file(folder: Path) -> None:
    config = load_config(write(folder, GOOD))
    source = config.settings.sources["camera"]
    assert source.path == folder / "inbox"
    assert config.settings.destinations["outbox"].path == folder / "outbox"
    assert config.settings.state_dir == folder / "state"
    assert config.routes() == [("camera", ["outbox"])]


def test_unknown_key_is_named_with_its_line(folder: Path) -> None:
    text = GOOD.replace("    path: ./inbox\n", "    path: ./inbox\n    setle: 3\n")
    assert problems(write(folder, text)) == [
        "sources.camera.setle (line 7): unknown key (check its spelling and indentation)"
    ]


def test_unknown_top_level_key(folder: Path) -> None:
    (found,) = problems(write(folder, GOOD + "wokers: 4\n"))
    assert found.startswith("wokers (line 16): unknown key")


def test_wrong_type_is_named_with_its_line(folder: Path) -> None:
    text = GOOD.replace("    path: ./inbox\n", "    path: ./inbox\n    settle: soon\n")
    (found,) = problems(write(folder, text))
    assert found.startswith("sources.camera.settle (line 7): ")
    assert "number" in found


def test_missing_source_folder(folder: Path) -> None:
    (folder / "inbox").rmdir()
    assert problems(write(folder, GOOD)) == [
        "sources.camera.path (line 6): folder does not exist or is not a folder"
    ]


def test_missing_required_key_points_at_its_section(folder: Path) -> None:
    text = GOOD.replace("    destinations: [outbox]\n", "")
    (found,) = problems(write(folder, text))
    assert found == (
        "sources.camera.destinations (missing; its section starts at line 5): "
        "required key is missing"
    )


def test_route_to_unknown_destination(folder: Path) -> None:
    text = GOOD.replace("[outbox]", "[outbox, nas]")
    assert problems(write(folder, text)) == [
        "sources.camera.destinations[1] (line 7): no destination named 'nas' (defined: outbox)"
    ]


def test_duplicate_key_is_refused(folder: Path) -> None:
    (found,) = problems(write(folder, GOOD + "station: other\n"))
    assert found == "station (line 16): this key appears twice; keep one"


def test_template_without_id_is_refused(folder: Path) -> None:
    text = GOOD.replace(
        "    path: ./outbox\n", "    path: ./outbox\n    template: '{station}/{yyyy}'\n"
    )
    (found,) = problems(write(folder, text))
    assert found.startswith("destinations.outbox.template (line 12): ")
    assert "{id}" in found


def test_destination_inside_a_watched_folder_is_refused(folder: Path) -> None:
    (folder / "inbox" / "out").mkdir()
    text = GOOD.replace("path: ./outbox", "path: ./inbox/out")
    (found,) = problems(write(folder, text))
    assert found.startswith("destinations.outbox.path (line 11): overlaps the watched folder")


def test_environment_overrides_yaml(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICSYNC_WORKERS", "5")
    monkeypatch.setenv("PICSYNC_SOURCES__CAMERA__SETTLE", "7.5")
    config = load_config(write(folder, GOOD))
    assert config.settings.workers == 5
    assert config.settings.sources["camera"].settle == 7.5


def test_bad_environment_value_names_the_variable(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICSYNC_WORKERS", "many")
    (found,) = problems(write(folder, GOOD))
    assert found.startswith("workers (from environment variable PICSYNC_WORKERS): ")


def test_secret_inline_in_yaml_is_refused(folder: Path) -> None:
    (found,) = problems(write(folder, GOOD + "privacy:\n  hash_key: hunter2hunter2\n"))
    assert found.startswith("privacy.hash_key (line 17): secrets never go in the configuration")
    assert "hunter2" not in found
    assert "PICSYNC_PRIVACY__HASH_KEY" in found


def test_secret_from_file(folder: Path) -> None:
    key = folder / "hash.key"
    key.write_text("0123456789abcdef\n")
    key.chmod(0o600)
    config = load_config(write(folder, GOOD + "privacy:\n  hash_key_file: hash.key\n"))
    assert config.hash_key is not None
    assert config.hash_key.get_secret_value() == "0123456789abcdef"


def test_secret_file_readable_by_others_is_refused(folder: Path) -> None:
    key = folder / "hash.key"
    key.write_text("0123456789abcdef\n")
    key.chmod(0o644)
    (found,) = problems(write(folder, GOOD + "privacy:\n  hash_key_file: hash.key\n"))
    assert found.startswith("privacy.hash_key_file (line 17): ")
    assert "0644" in found and "chmod 600" in found


def test_secret_file_missing(folder: Path) -> None:
    (found,) = problems(write(folder, GOOD + "privacy:\n  hash_key_file: nope.key\n"))
    assert found == "privacy.hash_key_file (line 17): the secret file does not exist"


def test_secret_from_systemd_credentials(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = folder / "creds"
    creds.mkdir()
    (creds / "hash-key").write_text("from-systemd-credential")
    (creds / "hash-key").chmod(0o400)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    text = GOOD + "privacy:\n  hash_key_file: ${CREDENTIALS_DIRECTORY}/hash-key\n"
    config = load_config(write(folder, text))
    assert config.hash_key is not None
    assert config.hash_key.get_secret_value() == "from-systemd-credential"


def test_credentials_directory_unset(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    text = GOOD + "privacy:\n  hash_key_file: ${CREDENTIALS_DIRECTORY}/hash-key\n"
    (found,) = problems(write(folder, text))
    assert "CREDENTIALS_DIRECTORY, which is not set" in found


def test_secret_from_environment(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICSYNC_PRIVACY__HASH_KEY", "env-secret-value")
    config = load_config(write(folder, GOOD))
    assert config.hash_key is not None
    assert config.hash_key.get_secret_value() == "env-secret-value"


def test_invalid_yaml_names_the_line(folder: Path) -> None:
    (found,) = problems(write(folder, GOOD + "  - : [\n"))
    assert "(line 1" in found


# ---- the command, as an operator runs it ---------------------------------------------------


def test_check_prints_routes_and_exits_0(site: Site) -> None:
    done = picsync("check", "-c", str(site.config))
    assert done.returncode == 0, done.stderr
    assert "camera" in done.stdout and "-> outbox (folder" in done.stdout


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"workrs": 2}, "workrs"),
        ({"workers": "two"}, "workers"),
        ({"source": {"path": "no-such-folder"}}, "sources.camera.path"),
        ({"privacy": {"hash_key_file": "unreadable.key"}}, "privacy.hash_key_file"),
    ],
)
def test_check_exits_78_naming_the_key(site: Site, change: dict[str, object], key: str) -> None:
    secret = site.root / "unreadable.key"
    secret.write_text("k" * 32)
    secret.chmod(0o640)
    site.write_config(**change)
    done = picsync("check", "-c", str(site.config))
    assert done.returncode == 78
    assert f"  {key} (line " in done.stderr


def test_run_with_bad_config_exits_78(site: Site) -> None:
    site.write_config(workers=0)
    done = picsync("run", "-c", str(site.config))
    assert done.returncode == 78
    assert "workers (line" in done.stderr


DROPBOX = """\
  records:
    type: dropbox
    region: eu
    app_key: k3y
"""


def test_cloud_destination_must_declare_its_region(folder: Path) -> None:
    text = GOOD.replace("keys:\n", DROPBOX.replace("    region: eu\n", "") + "keys:\n")
    (found,) = problems(write(folder, text))
    assert found.startswith("destinations.records.region (missing; its section starts at line")


def test_cloud_secret_inline_is_refused(folder: Path) -> None:
    text = GOOD.replace("keys:\n", DROPBOX + "    refresh_token: sl.secret-value\n" + "keys:\n")
    (found,) = problems(write(folder, text))
    assert found.startswith("destinations.records.refresh_token (line 16): secrets never go")
    assert "sl.secret-value" not in found
    assert "PICSYNC_DESTINATIONS__RECORDS__REFRESH_TOKEN" in found


def test_cloud_secret_from_file_and_environment(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = folder / "dropbox.token"
    token.write_text("refresh-from-file\n")
    token.chmod(0o600)
    text = GOOD.replace("keys:\n", DROPBOX + "    refresh_token_file: dropbox.token\n" + "keys:\n")
    monkeypatch.setenv("PICSYNC_DESTINATIONS__RECORDS__APP_SECRET", "secret-from-env")
    config = load_config(write(folder, text))
    assert config.secret("records", "refresh_token") == "refresh-from-file"
    assert config.secret("records", "app_secret") == "secret-from-env"


def test_box_needs_exactly_one_folder(folder: Path) -> None:
    box = "  clinic:\n    type: box\n    region: de\n    auth: developer_token\n"
    (found,) = problems(write(folder, GOOD.replace("keys:\n", box + "keys:\n")))
    assert found.startswith("destinations.clinic (line 12): give exactly one of folder_id")


def test_unknown_region_is_refused(folder: Path) -> None:
    text = GOOD.replace("keys:\n", DROPBOX.replace("region: eu", "region: ca") + "keys:\n")
    (found,) = problems(write(folder, text))
    assert found.startswith("destinations.records.region (line 14): ")
