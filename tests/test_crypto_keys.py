"""Recipient and identity text: age-keygen as the oracle, refusals with readable messages."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from picsync.crypto import (
    Identity,
    KeyFormatError,
    bech32,
    contains_identity,
    generate_identity,
    identity_file_text,
    key_epoch,
    parse_identities,
    parse_identity,
    parse_recipient,
    parse_recipients_file,
)

AGE_KEYGEN = shutil.which("age-keygen")
needs_age_keygen = pytest.mark.skipif(
    AGE_KEYGEN is None, reason="age-keygen (Debian package `age`) is not installed"
)


def keygen(path: Path) -> tuple[str, str]:
    """A key pair made by age-keygen: (identity file text, recipient)."""
    assert AGE_KEYGEN is not None
    subprocess.run([AGE_KEYGEN, "-o", str(path)], check=True, capture_output=True)
    recipient = subprocess.run(
        [AGE_KEYGEN, "-y", str(path)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return path.read_text(), recipient


@needs_age_keygen
def test_age_keygen_output_parses_to_the_same_recipient(tmp_path: Path) -> None:
    text, recipient = keygen(tmp_path / "office.txt")
    [identity] = parse_identities(text)
    assert identity.recipient.to_string() == recipient
    assert parse_recipient(recipient) == identity.recipient
    assert str(parse_recipient(recipient)) == recipient
    secret_line = next(line for line in text.splitlines() if not line.startswith("#"))
    assert identity.to_string() == secret_line


@needs_age_keygen
def test_age_keygen_reads_the_identity_file_we_write(tmp_path: Path) -> None:
    assert AGE_KEYGEN is not None
    identity = generate_identity()
    path = tmp_path / "ours.txt"
    path.write_text(identity_file_text(identity))
    printed = subprocess.run(
        [AGE_KEYGEN, "-y", str(path)], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert printed == identity.recipient.to_string()


def test_identity_file_text_has_age_keygens_layout() -> None:
    identity = generate_identity()
    text = identity_file_text(identity, created=datetime(2026, 3, 1, 9, 30, 5, tzinfo=UTC))
    lines = text.splitlines()
    assert len(lines) == 3 and text.endswith("\n")
    assert re.fullmatch(r"# created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", lines[0])
    assert lines[1] == f"# public key: {identity.recipient.to_string()}"
    assert lines[2] == identity.to_string()
    assert lines[2].startswith("AGE-SECRET-KEY-1") and lines[2] == lines[2].upper()
    assert parse_identities(text) == [identity]


def test_identity_repr_hides_the_secret_key() -> None:
    identity = generate_identity()
    shown = repr(identity)
    assert identity.to_string() not in shown
    assert identity.secret_key.hex() not in shown
    assert repr(identity.secret_key) not in shown


def test_generated_identities_are_distinct() -> None:
    assert len({generate_identity().to_string() for _ in range(20)}) == 20


# ---- refusals -------------------------------------------------------------------------------


def _plugin_like(hrp: str, size: int) -> str:
    return bech32.encode(hrp, os.urandom(size))


REFUSED_RECIPIENTS = [
    ("post-quantum", _plugin_like("age1pq", 1216), "post-quantum"),
    ("hardware tag", _plugin_like("age1tag", 33), "hardware-token"),
    ("hardware tagpq", _plugin_like("age1tagpq", 1249), "hardware-token"),
    ("plugin", _plugin_like("age1yubikey", 33), "age-plugin-yubikey"),
    ("ssh ed25519", "ssh-ed25519 " + "A" * 68 + " clinic-fake@example.invalid", "SSH keys"),
    ("ssh rsa", "ssh-rsa " + "B" * 372, "SSH keys"),
    ("secret key", generate_identity().to_string(), "station must only hold public keys"),
    ("secret key lowercase", generate_identity().to_string().lower(), "must only hold public"),
    ("gpg", "0xDEADBEEFFAKE0000", "not an age recipient"),
    ("empty", "   ", "empty recipient"),
    ("wrong length", bech32.encode("age", os.urandom(31)), "wrong length"),
    ("uppercase", generate_identity().recipient.to_string().upper(), "lowercase"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [(text, expected) for _, text, expected in REFUSED_RECIPIENTS],
    ids=[name for name, _, _ in REFUSED_RECIPIENTS],
)
def test_unsupported_recipients_are_refused_with_advice(text: str, expected: str) -> None:
    with pytest.raises(KeyFormatError) as refusal:
        parse_recipient(text)
    message = str(refusal.value)
    assert expected in message
    if text.strip():
        assert text.strip() not in message
        assert text.strip()[10:30] not in message
    if "public keys" not in message and "empty" not in message:
        assert "age1" in message  # says what to use instead


def test_mistyped_recipient_fails_its_checksum() -> None:
    recipient = generate_identity().recipient.to_string()
    index = 20
    replacement = "q" if recipient[index] != "q" else "p"
    with pytest.raises(KeyFormatError, match="checksum"):
        parse_recipient(recipient[:index] + replacement + recipient[index + 1 :])


def test_recipient_surrounding_whitespace_is_ignored() -> None:
    recipient = generate_identity().recipient
    assert parse_recipient(f"  {recipient}\r\n") == recipient


# ---- recipients files ------------------------------------------------------------------------


def test_recipients_file_with_comments_blank_lines_and_crlf() -> None:
    office, escrow = generate_identity().recipient, generate_identity().recipient
    text = (
        f"\ufeff# records office 2026\r\n{office}\r\n\r\n   # escrow, in the safe\r\n{escrow}  \r\n"
    )
    assert parse_recipients_file(text) == [office, escrow]


def test_recipients_file_names_the_line_of_each_bad_entry() -> None:
    good = generate_identity().recipient
    bad = _plugin_like("age1pq", 1216)
    typo = good.to_string()[:-1] + ("q" if good.to_string()[-1] != "q" else "p")
    text = f"# header\n{good}\n\n{bad}\n{typo}\n"
    with pytest.raises(KeyFormatError) as refusal:
        parse_recipients_file(text)
    message = str(refusal.value)
    assert "line 4: post-quantum" in message
    assert "line 5: recipient is not valid" in message
    assert "line 2" not in message
    assert bad not in message and typo not in message


def test_recipients_file_with_an_identity_is_refused_even_in_a_comment() -> None:
    recipient = generate_identity().recipient
    secret = generate_identity().to_string()
    for text, line in ((f"{recipient}\n{secret}\n", 2), (f"# backup: {secret}\n{recipient}\n", 1)):
        with pytest.raises(KeyFormatError) as refusal:
            parse_recipients_file(text)
        message = str(refusal.value)
        assert f"line {line}:" in message
        assert "station must only hold public keys" in message
        assert secret not in message and secret[16:40] not in message


def test_recipients_file_refuses_duplicates_and_emptiness() -> None:
    recipient = generate_identity().recipient
    with pytest.raises(KeyFormatError, match=r"line 3: duplicate recipient \(same as line 1\)"):
        parse_recipients_file(f"{recipient}\n# again\n{recipient}\n")
    with pytest.raises(KeyFormatError, match="no recipients"):
        parse_recipients_file("# nothing here yet\n\n")


def test_key_epoch_is_stable_short_and_order_free() -> None:
    recipients = [generate_identity().recipient for _ in range(3)]
    epoch = key_epoch(recipients)
    assert re.fullmatch(r"[0-9a-f]{12}", epoch)
    assert key_epoch(list(reversed(recipients))) == epoch
    assert key_epoch([*recipients, recipients[0]]) == epoch
    assert key_epoch(recipients[:2]) != epoch
    assert key_epoch([*recipients[:2], generate_identity().recipient]) != epoch
    with pytest.raises(ValueError):
        key_epoch([])


def test_contains_identity_in_any_case() -> None:
    secret = generate_identity().to_string()
    assert contains_identity(f"crypto:\n  key: {secret}\n")
    assert contains_identity(f"key = '{secret.lower()}'")
    assert contains_identity("note: Age-Secret-Key-1 goes elsewhere")
    assert not contains_identity(f"recipients:\n  - {generate_identity().recipient}\n")


# ---- identities ------------------------------------------------------------------------------


def test_parse_identities_with_several_keys_and_comments() -> None:
    first, second = generate_identity(), generate_identity()
    text = f"# 2025\n{first.to_string()}\n\n# 2026\n{second.to_string()}\n"
    assert parse_identities(text) == [first, second]
    assert parse_identity(first.to_string().lower()) == first


def test_bad_identity_lines_are_named_without_their_value() -> None:
    good = generate_identity().to_string()
    typo = good[:30] + ("Q" if good[30] != "Q" else "P") + good[31:]
    plugin = bech32.encode("age-plugin-yubikey-", os.urandom(40), uppercase=True)
    with pytest.raises(KeyFormatError) as refusal:
        parse_identities(f"{good}\n{typo}\n# c\n{plugin}\n")
    message = str(refusal.value)
    assert "line 2: identity is not valid" in message
    assert "line 4: not an age X25519 identity" in message
    assert typo not in message and good not in message and plugin not in message
    with pytest.raises(KeyFormatError, match="no identities"):
        parse_identities("# only a comment\n")


def test_identity_round_trips_through_its_string() -> None:
    identity = generate_identity()
    assert parse_identity(identity.to_string()) == identity
    assert isinstance(identity, Identity)
    assert identity.recipient == parse_identity(identity.to_string()).recipient
