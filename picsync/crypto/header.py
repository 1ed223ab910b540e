"""Pure: the age v1 header — stanzas, the header MAC, writing it and reading it strictly.

    age-encryption.org/v1
    -> X25519 <base64 ephemeral share>
    <base64 body, 64 columns per line, last line shorter than 64 (maybe empty)>
    --- <base64 HMAC-SHA-256 of everything up to and including "---">

Reading is strict (canonical base64, exact line rules) so that every header has exactly one
byte form, and bounded (MAX_HEADER_SIZE) so that a hostile file cannot exhaust memory.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from hashlib import sha256

from picsync.crypto.errors import DecryptError
from picsync.crypto.primitives import b64decode_canonical, b64encode, hkdf_sha256
from picsync.crypto.streams import ByteSource

INTRO = b"age-encryption.org/v1\n"
ARMOR_INTRO = b"-----BEGIN AGE ENCRYPTED FILE-----"
MAC_PREFIX = b"---"
COLUMNS = 64
MAX_HEADER_SIZE = 1 << 20  # thousands of stanzas; a real header is a few hundred bytes
_READ_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Stanza:
    """One recipient stanza: a type tag, its arguments and a binary body."""

    tag: str
    args: tuple[str, ...]
    body: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed header; ``mac_input`` is the exact byte range the MAC covers."""

    stanzas: tuple[Stanza, ...]
    mac: bytes
    mac_input: bytes = field(repr=False)

    def mac_matches(self, file_key: bytes) -> bool:
        return hmac.compare_digest(header_mac(file_key, self.mac_input), self.mac)


def header_mac(file_key: bytes, mac_input: bytes) -> bytes:
    return hmac.new(hkdf_sha256(file_key, b"", b"header"), mac_input, sha256).digest()


def encode_stanza(stanza: Stanza) -> bytes:
    """A stanza in its one canonical form: body wrapped at 64 columns, last line shorter."""
    text = b64encode(stanza.body)
    lines = [text[start : start + COLUMNS] for start in range(0, len(text), COLUMNS)]
    if not lines or len(lines[-1]) == COLUMNS:
        lines.append("")  # the body ends at the first line shorter than 64, even an empty one
    first = " ".join(("->", stanza.tag, *stanza.args))
    return "".join(f"{line}\n" for line in (first, *lines)).encode("ascii")


def encode_header(stanzas: list[Stanza], file_key: bytes) -> bytes:
    """The complete header, MAC line included, ready to be written before the payload nonce."""
    mac_input = INTRO + b"".join(encode_stanza(stanza) for stanza in stanzas) + MAC_PREFIX
    mac = header_mac(file_key, mac_input)
    return mac_input + b" " + b64encode(mac).encode("ascii") + b"\n"


def read_header(source: ByteSource) -> tuple[Header, bytes]:
    """Read and parse the header; also return the bytes read past it (the payload's start)."""
    buffer = bytearray()
    while True:
        _check_intro(buffer)
        end = _header_end(buffer)
        if end >= 0:
            return parse_header(bytes(buffer[:end])), bytes(buffer[end:])
        if len(buffer) > MAX_HEADER_SIZE:
            raise DecryptError("file header is too large to be a real age header")
        piece = source.read(_READ_SIZE)
        if piece is None:
            raise BlockingIOError("source has no data yet (non-blocking)")
        if not piece:
            if not buffer:
                raise DecryptError("file is empty: not an age file")
            raise DecryptError("file is truncated (its header is incomplete)")
        buffer += piece


def _check_intro(buffer: bytearray) -> None:
    seen = bytes(buffer[: len(INTRO)])
    if INTRO.startswith(seen):
        return
    if seen.startswith(ARMOR_INTRO[: len(seen)]):
        raise DecryptError("file is ASCII-armored; decode it to binary age first (age -d)")
    raise DecryptError("not an age v1 file")


def _header_end(buffer: bytearray) -> int:
    """Index just past the MAC line, or -1 if it has not been read yet.

    A body line is base64 and a stanza line starts with "->", so the first line starting with
    "---" is the MAC line.
    """
    mac_line = buffer.find(b"\n" + MAC_PREFIX)
    if mac_line < 0:
        return -1
    newline = buffer.find(b"\n", mac_line + 1)
    return -1 if newline < 0 else newline + 1


def parse_header(data: bytes) -> Header:
    """Parse a complete header (from the intro line to the MAC line's newline)."""
    lines = data.split(b"\n")
    if lines[0] + b"\n" != INTRO or lines[-1] != b"":
        raise DecryptError("not an age v1 file")
    lines = lines[1:-1]
    stanzas: list[Stanza] = []
    index = 0
    while index < len(lines) and lines[index].startswith(b"->"):
        stanza, index = _parse_stanza(lines, index)
        stanzas.append(stanza)
    if index != len(lines) - 1:
        raise _malformed("unexpected line")
    if not stanzas:
        raise _malformed("no recipient stanzas")
    mac_line = lines[index]
    if not mac_line.startswith(MAC_PREFIX + b" "):
        raise _malformed("bad MAC line")
    mac = b64decode_canonical(mac_line[len(MAC_PREFIX) + 1 :])
    if mac is None or len(mac) != 32:
        raise _malformed("bad MAC")
    mac_input_length = len(data) - len(mac_line) - 1 + len(MAC_PREFIX)
    return Header(stanzas=tuple(stanzas), mac=mac, mac_input=data[:mac_input_length])


def _parse_stanza(lines: list[bytes], index: int) -> tuple[Stanza, int]:
    first = lines[index]
    if not first.startswith(b"-> "):
        raise _malformed("bad stanza line")
    words = first[3:].split(b" ")
    for word in words:
        # Arguments are non-empty runs of visible ASCII (VCHAR), one space apart.
        if not word or any(byte < 33 or byte > 126 for byte in word):
            raise _malformed("bad stanza argument")
    tag, *args = (word.decode("ascii") for word in words)
    body = bytearray()
    index += 1
    while True:
        if index >= len(lines) - 1:  # the last line is the MAC line, never a body line
            raise _malformed("stanza body does not end")
        line = lines[index]
        index += 1
        if len(line) > COLUMNS:
            raise _malformed("stanza body line too long")
        decoded = b64decode_canonical(line)
        if decoded is None:
            raise _malformed("stanza body is not canonical base64")
        body += decoded
        if len(line) < COLUMNS:
            return Stanza(tag=tag, args=tuple(args), body=bytes(body)), index


def _malformed(what: str) -> DecryptError:
    return DecryptError(f"file is damaged: its header is malformed ({what})")
