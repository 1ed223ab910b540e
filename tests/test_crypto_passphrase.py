"""Passphrase-protected age files (scrypt) and identity files, against `age -p` through a pty.

The age CLI reads passphrases from /dev/tty only, so each run gets a pseudo-terminal as its
controlling terminal (new session + TIOCSCTTY) and we answer its prompts there.
"""

from __future__ import annotations

import fcntl
import io
import os
import select
import shutil
import subprocess
import termios
import time
from pathlib import Path

import pytest

from picsync.crypto import (
    DecryptError,
    KeyFormatError,
    WrongKeyError,
    decrypt_stream,
    decrypt_with_passphrase,
    encrypt_stream,
    encrypt_with_passphrase,
    generate_identity,
    identity_file_text,
    load_identity_file,
)

AGE = shutil.which("age")
AGE_KEYGEN = shutil.which("age-keygen")
needs_age = pytest.mark.skipif(
    AGE is None or AGE_KEYGEN is None,
    reason="the age CLI (Debian package `age`) is not installed; it is the interop oracle",
)
PASSPHRASE = "correct horse battery staple (fake)"
FAST = 10  # scrypt log N for tests that do not talk to the CLI


def _take_terminal() -> None:
    # Runs in the child after setsid(): make the pty on stdin our controlling terminal.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def run_with_tty(command: list[str], passphrase: str, timeout: float = 120) -> tuple[int, int]:
    """Run ``command`` on a fresh pty, typing ``passphrase`` at every passphrase prompt.

    Returns (exit code, number of prompts answered).
    """
    controller, terminal = os.openpty()
    try:
        child = subprocess.Popen(
            command,
            stdin=terminal,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_take_terminal,  # runs after setsid(); the child holds no locks
        )
    finally:
        os.close(terminal)
    shown = b""
    answered = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            readable, _, _ = select.select([controller], [], [], 0.05)
            if readable:
                try:
                    shown += os.read(controller, 4096)
                except OSError:  # EIO: the child closed the terminal
                    readable = []
                while shown.lower().count(b"passphrase") > answered:
                    os.write(controller, passphrase.encode() + b"\n")
                    answered += 1
            if not readable and child.poll() is not None:
                break
        else:
            child.kill()
            pytest.fail("the age CLI did not finish on the pty in time")
        return child.wait(), answered
    finally:
        os.close(controller)


def test_passphrase_round_trip_and_wrong_passphrase() -> None:
    secret = b"fake chart note for FAKE-PATIENT-0001\n" * 50
    sealed = encrypt_with_passphrase(secret, PASSPHRASE, work_factor_log2=FAST)
    assert sealed.startswith(b"age-encryption.org/v1\n-> scrypt ")
    assert PASSPHRASE.encode() not in sealed
    assert decrypt_with_passphrase(sealed, PASSPHRASE) == secret
    with pytest.raises(WrongKeyError, match="wrong passphrase") as failure:
        decrypt_with_passphrase(sealed, PASSPHRASE + "!")
    assert PASSPHRASE not in str(failure.value)


def test_work_factor_above_the_cap_is_refused_before_any_work() -> None:
    sealed = encrypt_with_passphrase(b"x", PASSPHRASE, work_factor_log2=FAST)
    with pytest.raises(DecryptError, match="work factor"):
        decrypt_with_passphrase(sealed, PASSPHRASE, max_work_factor_log2=FAST - 1)
    hostile = sealed.replace(b" 10\n", b" 40\n", 1)
    with pytest.raises(DecryptError, match="2\\^40"):
        decrypt_with_passphrase(hostile, PASSPHRASE)
    for bad in (b" 010\n", b" +10\n", b" 0\n"):
        with pytest.raises(DecryptError, match="malformed"):
            decrypt_with_passphrase(sealed.replace(b" 10\n", bad, 1), PASSPHRASE)


def test_empty_passphrase_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        encrypt_with_passphrase(b"x", "")


def test_key_and_passphrase_files_are_told_apart() -> None:
    identity = generate_identity()
    sealed_to_key = io.BytesIO()
    encrypt_stream(io.BytesIO(b"x"), sealed_to_key, [identity.recipient])
    with pytest.raises(WrongKeyError, match="encrypted to age keys, not a passphrase"):
        decrypt_with_passphrase(sealed_to_key.getvalue(), PASSPHRASE)
    sealed = encrypt_with_passphrase(b"x", PASSPHRASE, work_factor_log2=FAST)
    with pytest.raises(WrongKeyError, match="protected by a passphrase"):
        decrypt_stream(io.BytesIO(sealed), io.BytesIO(), [identity])


def test_load_identity_file_plain_protected_and_unusable() -> None:
    identity = generate_identity()
    text = identity_file_text(identity)
    assert load_identity_file(text.encode(), None) == [identity]
    protected = encrypt_with_passphrase(text.encode(), PASSPHRASE, work_factor_log2=FAST)
    prompts: list[int] = []

    def prompt() -> str:
        prompts.append(1)
        return PASSPHRASE

    assert load_identity_file(protected, prompt) == [identity]
    assert len(prompts) == 1
    with pytest.raises(KeyFormatError, match="protected by a passphrase"):
        load_identity_file(protected, None)
    with pytest.raises(WrongKeyError, match="wrong passphrase"):
        load_identity_file(protected, lambda: "not it")
    with pytest.raises(KeyFormatError, match="not text"):
        load_identity_file(b"\xff\xfe\x00garbage", None)
    with pytest.raises(KeyFormatError, match="ASCII-armored"):
        load_identity_file(b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n", lambda: PASSPHRASE)


def test_pyrage_and_picsync_read_each_others_passphrase_files() -> None:
    pyrage = pytest.importorskip("pyrage", reason="pyrage (test extra) is not installed")
    secret = os.urandom(70_000)
    ours = encrypt_with_passphrase(secret, PASSPHRASE, work_factor_log2=FAST)
    assert pyrage.passphrase.decrypt(ours, PASSPHRASE) == secret
    theirs = pyrage.passphrase.encrypt(secret, PASSPHRASE)  # rage picks log N (about 18-19)
    assert decrypt_with_passphrase(theirs, PASSPHRASE) == secret


@needs_age
def test_age_cli_passphrase_file_opens_in_picsync(tmp_path: Path) -> None:
    assert AGE is not None
    plain = tmp_path / "note.txt"
    plain.write_bytes(b"fake note for FAKE-MRN-123456\n" * 1000)
    sealed = tmp_path / "note.age"
    code, prompts = run_with_tty([AGE, "-p", "-o", str(sealed), str(plain)], PASSPHRASE)
    assert (code, prompts) == (0, 2)  # enter and confirm
    assert decrypt_with_passphrase(sealed.read_bytes(), PASSPHRASE) == plain.read_bytes()


@needs_age
def test_picsync_passphrase_file_opens_in_the_age_cli(tmp_path: Path) -> None:
    assert AGE is not None
    secret = os.urandom(3 * 65536 + 7)
    sealed = tmp_path / "secret.age"
    sealed.write_bytes(encrypt_with_passphrase(secret, PASSPHRASE, work_factor_log2=FAST))
    opened = tmp_path / "secret.out"
    code, prompts = run_with_tty([AGE, "-d", "-o", str(opened), str(sealed)], PASSPHRASE)
    assert (code, prompts) == (0, 1)
    assert opened.read_bytes() == secret


@needs_age
def test_age_protected_identity_file_decrypts_via_load_identity_file(tmp_path: Path) -> None:
    assert AGE is not None and AGE_KEYGEN is not None
    key_text = tmp_path / "office.txt"
    subprocess.run([AGE_KEYGEN, "-o", str(key_text)], check=True, capture_output=True)
    recipient = subprocess.run(
        [AGE_KEYGEN, "-y", str(key_text)], check=True, capture_output=True, text=True
    ).stdout.strip()
    protected = tmp_path / "office.age"
    code, _ = run_with_tty([AGE, "-p", "-o", str(protected), str(key_text)], PASSPHRASE)
    assert code == 0
    photo = b"\xff\xd8\xff fake jpeg bytes \xff\xd9" * 4000
    sealed = subprocess.run(
        [AGE, "-r", recipient], input=photo, check=True, capture_output=True
    ).stdout
    identities = load_identity_file(protected.read_bytes(), lambda: PASSPHRASE)
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(sealed), out, identities)
    assert out.getvalue() == photo


@needs_age
def test_identity_file_protected_by_picsync_works_with_age_d_i(tmp_path: Path) -> None:
    # What `picsync keygen --passphrase` writes: the office opens files with stock age.
    assert AGE is not None
    identity = generate_identity()
    protected = tmp_path / "office.age"
    protected.write_bytes(
        encrypt_with_passphrase(identity_file_text(identity).encode(), PASSPHRASE, FAST)
    )
    photo = os.urandom(100_000)
    sealed = tmp_path / "photo.age"
    with sealed.open("wb") as sink:
        encrypt_stream(io.BytesIO(photo), sink, [identity.recipient])
    opened = tmp_path / "photo.out"
    code, prompts = run_with_tty(
        [AGE, "-d", "-i", str(protected), "-o", str(opened), str(sealed)], PASSPHRASE
    )
    assert (code, prompts) == (0, 1)
    assert opened.read_bytes() == photo
