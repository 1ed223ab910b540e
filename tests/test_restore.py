"""`picsync keygen` and `picsync decrypt` as the records office uses them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from picsync.crypto import encrypt_stream, generate_identity, identity_file_text, parse_recipient
from tests.helpers import ROOT, Daemon, Site, delivered_images, make_jpeg, picsync, wait_for

AGE = shutil.which("age")


def run_with_input(args: list[str], text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "picsync", *args],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def delivered_site(site: Site, daemons: list[Daemon], files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = site.inbox / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    daemon = Daemon(site).start()
    daemons.append(daemon)
    wait_for(lambda: len(delivered_images(site.outbox)) == len(files), 60, "deliveries")
    wait_for(lambda: len(list(site.outbox.rglob("*.json.age"))) == len(files), 30, "manifests")
    assert daemon.terminate() == 0


def test_keygen_writes_a_private_identity_and_prints_its_recipient(tmp_path: Path) -> None:
    out = tmp_path / "office.txt"
    done = picsync("keygen", "-o", str(out))
    assert done.returncode == 0, done.stderr
    recipient = done.stdout.strip()
    parse_recipient(recipient)
    assert out.stat().st_mode & 0o777 == 0o600
    assert f"# public key: {recipient}" in out.read_text()
    again = picsync("keygen", "-o", str(out))
    assert again.returncode == 1 and "not overwriting" in again.stderr


@pytest.mark.skipif(AGE is None, reason="Debian's age CLI is not installed")
def test_keygen_output_works_with_the_age_cli(tmp_path: Path) -> None:
    out = tmp_path / "office.txt"
    recipient = picsync("keygen", "-o", str(out)).stdout.strip()
    sealed = subprocess.run(
        [str(AGE), "-r", recipient], input=b"hello office", capture_output=True, check=True
    ).stdout
    opened = subprocess.run(
        [str(AGE), "-d", "-i", str(out)], input=sealed, capture_output=True, check=True
    ).stdout
    assert opened == b"hello office"


def test_decrypt_restores_names_and_folders(site: Site, daemons: list[Daemon]) -> None:
    files = {
        "Doe, Jane/IMG_0001.JPG": make_jpeg(1),
        "Doe, Jane/IMG_0002.JPG": make_jpeg(2),
        "Roe, Richard/scan 7.jpg": make_jpeg(3),
    }
    delivered_site(site, daemons, files)
    out = site.root / "restored"
    done = picsync(
        "decrypt", str(site.outbox), "-i", str(site.root / "office-identity.txt"), "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    for rel, data in files.items():
        assert (out / "camera" / rel).read_bytes() == data
    assert "3 restored, 0 failed" in done.stderr


def test_tampered_truncated_and_wrong_key_leave_no_output(
    site: Site, daemons: list[Daemon]
) -> None:
    files = {f"IMG_{i}.jpg": make_jpeg(10 + i, size=300) for i in range(3)}
    delivered_site(site, daemons, files)
    images = delivered_images(site.outbox)
    tampered = bytearray(images[0].read_bytes())
    tampered[len(tampered) // 2] ^= 0x01
    images[0].write_bytes(bytes(tampered))
    images[1].write_bytes(images[1].read_bytes()[:-100])
    out = site.root / "restored"
    done = picsync(
        "decrypt", str(site.outbox), "-i", str(site.root / "office-identity.txt"), "--out", str(out)
    )
    assert done.returncode == 1
    assert "damaged or was tampered with" in done.stderr
    assert "truncated" in done.stderr
    assert "1 restored, 2 failed" in done.stderr
    restored = [p for p in out.rglob("*") if p.is_file()]
    assert len(restored) == 1  # only the intact file; no partial plaintext, no temp files
    wrong = site.root / "someone-else.txt"
    wrong.write_text(identity_file_text(generate_identity()))
    other_out = site.root / "other"
    done = picsync("decrypt", str(site.outbox), "-i", str(wrong), "--out", str(other_out))
    assert done.returncode == 1
    assert "wrong key" in done.stderr
    assert not other_out.exists() or not [p for p in other_out.rglob("*") if p.is_file()]


def test_passphrase_protected_identity(tmp_path: Path) -> None:
    identity_path = tmp_path / "office.age"
    made = run_with_input(
        ["keygen", "-o", str(identity_path), "--passphrase"],
        "correct horse battery\ncorrect horse battery\n",
    )
    assert made.returncode == 0, made.stderr
    assert identity_path.read_bytes().startswith(b"age-encryption.org/v1\n-> scrypt ")
    recipient = parse_recipient(made.stdout.strip().splitlines()[-1])
    sealed_dir = tmp_path / "sealed"
    sealed_dir.mkdir()
    with open(tmp_path / "note.txt", "wb") as note:
        note.write(b"restored through a passphrase")
    with open(tmp_path / "note.txt", "rb") as src, open(sealed_dir / "note.txt.age", "wb") as dst:
        encrypt_stream(src, dst, [recipient])
    out = tmp_path / "out"
    done = run_with_input(
        ["decrypt", str(sealed_dir), "-i", str(identity_path), "--out", str(out)],
        "correct horse battery\n",
    )
    assert done.returncode == 0, done.stderr
    assert (out / "note.txt").read_bytes() == b"restored through a passphrase"
    bad = run_with_input(
        ["decrypt", str(sealed_dir), "-i", str(identity_path), "--out", str(tmp_path / "x")],
        "wrong passphrase here\n",
    )
    assert bad.returncode == 1 and "wrong passphrase" in bad.stderr


@pytest.mark.skipif(AGE is None, reason="Debian's age CLI is not installed")
def test_decrypt_opens_files_made_by_the_age_cli(tmp_path: Path) -> None:
    identity = generate_identity()
    identity_path = tmp_path / "id.txt"
    identity_path.write_text(identity_file_text(identity))
    sealed_dir = tmp_path / "in"
    sealed_dir.mkdir()
    data = os.urandom(200_000)
    subprocess.run(
        [str(AGE), "-r", identity.recipient.to_string(), "-o", str(sealed_dir / "blob.bin.age")],
        input=data,
        check=True,
    )
    out = tmp_path / "out"
    done = picsync("decrypt", str(sealed_dir), "-i", str(identity_path), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert (out / "blob.bin").read_bytes() == data
