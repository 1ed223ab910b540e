"""Shared test helpers: generated images, waiting, and the daemon as a real subprocess."""

from __future__ import annotations

import hashlib
import io
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from PIL import Image

from picsync.crypto import Identity, decrypt_stream, generate_identity, identity_file_text

ROOT = Path(__file__).resolve().parent.parent


def make_jpeg(seed: int, size: int = 16) -> bytes:
    """A small, valid JPEG whose bytes differ for every seed (random noise pixels)."""
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size))
    image.putdata(
        [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(size * size)]
    )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def make_png(seed: int, size: int = 16) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size))
    image.putdata(
        [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(size * size)]
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def delivered_images(outbox: Path) -> list[Path]:
    """Every delivered image (not manifests, not hidden temp files) under ``outbox``."""
    return sorted(
        p
        for p in outbox.rglob("*")
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".json.age")
    )


def open_sealed(path: Path, identity: Identity) -> bytes:
    sink = io.BytesIO()
    with open(path, "rb") as handle:
        decrypt_stream(handle, sink, [identity])
    return sink.getvalue()


def outbox_hashes(outbox: Path, identity: Identity | None = None) -> list[str]:
    """SHA-256 of the plaintext of every delivered image, one per file."""
    hashes = []
    for path in delivered_images(outbox):
        data = path.read_bytes()
        if identity is not None and path.name.endswith(".age"):
            data = open_sealed(path, identity)
        hashes.append(sha256(data))
    return hashes


@dataclass
class Site:
    """A temporary clinic: an inbox, an outbox, a state folder and a config file."""

    root: Path
    identity: Identity = field(default_factory=generate_identity)
    escrow: Identity = field(default_factory=generate_identity)

    def images(self) -> list[str]:
        """Plaintext hashes of the images delivered to the outbox so far."""
        return outbox_hashes(self.outbox, self.identity)

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def config(self) -> Path:
        return self.root / "picsync.yaml"

    def write_config(self, **overrides: object) -> Path:
        source = {
            "path": "inbox",
            "destinations": ["outbox"],
            "settle": 0.2,
            "settle_unclosed": 0.6,
            "rescan_interval": 2,
            "max_wait": 30,
        }
        source.update(overrides.pop("source", {}))  # type: ignore[arg-type]
        config: dict[str, object] = {
            "station": "test-station",
            "state_dir": "state",
            "workers": 2,
            "retry": {"base_delay": 0.2, "max_delay": 2, "max_attempts": 5},
            "residency": {"allowed_regions": ["onprem"]},
            "sources": {"camera": source},
            "keys": {
                "recipients": [
                    self.identity.recipient.to_string(),
                    self.escrow.recipient.to_string(),
                ]
            },
            "destinations": {"outbox": {"type": "folder", "path": "outbox"}},
            "log": {"level": "info", "format": "json"},
            "metrics": {"listen": None},
        }
        config.update(overrides)
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        return self.config


def new_site(tmp_path: Path, **overrides: object) -> Site:
    site = Site(tmp_path)
    site.inbox.mkdir()
    site.outbox.mkdir()
    site.write_config(**overrides)
    identity_file = tmp_path / "office-identity.txt"
    identity_file.write_text(identity_file_text(site.identity))
    identity_file.chmod(0o600)
    return site


def picsync(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the picsync CLI as a subprocess, as an operator would."""
    return subprocess.run(
        [sys.executable, "-m", "picsync", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


class Daemon:
    """``picsync run`` as a real subprocess; its log goes to a file the test can read."""

    def __init__(self, site: Site, env: dict[str, str] | None = None) -> None:
        self.site = site
        self.env = {**os.environ, **(env or {})}
        self.log_path = site.root / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "picsync", "run", "-c", str(self.site.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=ROOT,
            )
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 40) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop_quietly(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(timeout=10)
