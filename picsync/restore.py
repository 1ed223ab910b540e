"""``picsync decrypt``: turn sealed uploads back into the original files, at the records office.

Each sealed manifest (``<id>.json.age``) names its image (``<id><ext>.age``), the source and the
original relative path; the image is decrypted to ``OUT/<source>/<original path>``. Everything is
decrypted into a temporary file and renamed only when the whole file authenticated and its
SHA-256 matches the manifest, so a tampered or truncated file leaves no partial plaintext. A
sealed file without a manifest is decrypted under its own name minus ``.age``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from picsync.crypto import DecryptError, Identity, decrypt_stream

MANIFEST_SUFFIX = ".json.age"
SEALED_SUFFIX = ".age"
MAX_MANIFEST_BYTES = 1 << 20


class RestoreError(Exception):
    """One file could not be restored; the message says why (it names only sealed files)."""


@dataclass(slots=True)
class RestoreResult:
    restored: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def sealed_files(inputs: Iterable[Path]) -> list[Path]:
    """Every ``*.age`` file named or found under the named folders, sorted."""
    found: set[Path] = set()
    for item in inputs:
        if item.is_dir():
            found.update(p for p in item.rglob(f"*{SEALED_SUFFIX}") if p.is_file())
        else:
            found.add(item)
    return sorted(found)


def restore(
    inputs: Sequence[Path],
    identities: Sequence[Identity],
    out: Path,
    advance: Callable[[], None] = lambda: None,
) -> RestoreResult:
    result = RestoreResult()
    files = sealed_files(inputs)
    manifests = [f for f in files if f.name.endswith(MANIFEST_SUFFIX)]
    consumed: set[Path] = set(manifests)
    for manifest_path in manifests:
        try:
            manifest = _read_manifest(manifest_path, identities)
            image = manifest_path.parent / _plain_name(manifest, "image")
            consumed.add(image)
            target = out / _target_path(manifest)
            result.restored.append(
                _decrypt_to(image, _free_name(target, manifest), identities, manifest)
            )
        except (RestoreError, DecryptError, OSError) as exc:
            result.failed.append((manifest_path, _describe(exc)))
        advance()
    for sealed in files:
        if sealed in consumed:
            continue
        try:
            target = out / sealed.name.removesuffix(SEALED_SUFFIX)
            result.restored.append(_decrypt_to(sealed, _free_name(target, None), identities, None))
        except (RestoreError, DecryptError, OSError) as exc:
            result.failed.append((sealed, _describe(exc)))
        advance()
    return result


def _describe(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc)


def _read_manifest(path: Path, identities: Sequence[Identity]) -> dict[str, Any]:
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise RestoreError("manifest is implausibly large")
    sink = io.BytesIO()
    with open(path, "rb") as handle:
        decrypt_stream(handle, sink, identities)
    try:
        document = json.loads(sink.getvalue())
    except ValueError:
        raise RestoreError("manifest is not valid JSON") from None
    if not isinstance(document, dict) or document.get("picsync_manifest") != 1:
        raise RestoreError("not a picsync manifest (version 1)")
    return document


def _plain_name(manifest: dict[str, Any], key: str) -> str:
    value = manifest.get(key)
    if not isinstance(value, str) or "/" in value or value in ("", ".", ".."):
        raise RestoreError(f"manifest field {key!r} is missing or not a plain file name")
    return value


def _target_path(manifest: dict[str, Any]) -> Path:
    """``<source>/<original path>``, refusing anything that would leave the output folder
    (age has no sender authentication: whoever holds a recipient can forge a manifest)."""
    source = _plain_name(manifest, "source")
    original = manifest.get("original_path")
    if not isinstance(original, str) or original.startswith("/"):
        raise RestoreError("manifest's original path is missing or leaves the output folder")
    parts = PurePosixPath(original).parts
    if not parts or any(p in ("", ".", "..") for p in parts):
        raise RestoreError("manifest's original path is missing or leaves the output folder")
    return Path(source, *parts)


def _free_name(target: Path, manifest: dict[str, Any] | None) -> Path:
    """``target``, or a name beside it that does not overwrite an earlier restore."""
    if not target.exists():
        return target
    tag = str(manifest.get("id", "")) if manifest else ""
    tag = tag or secrets.token_hex(4)
    return target.with_name(f"{target.stem}.{tag}{target.suffix}")


def _decrypt_to(
    sealed: Path,
    target: Path,
    identities: Sequence[Identity],
    manifest: dict[str, Any] | None,
) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.partial"
    try:
        with open(sealed, "rb") as src, open(tmp, "xb") as dst:
            hasher = _HashingSink(dst)
            decrypt_stream(src, hasher, identities)
            dst.flush()
            os.fsync(dst.fileno())
        if manifest is not None and hasher.hexdigest() != manifest.get("scrubbed_sha256"):
            raise RestoreError("image does not match its manifest's SHA-256")
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


class _HashingSink:
    def __init__(self, target: Any) -> None:
        self._target = target
        self._digest = hashlib.sha256()

    def write(self, data: memoryview) -> int:
        self._digest.update(data)
        written: int = self._target.write(data)
        return written

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
