"""HTTP/1.1 wire helpers for the loopback server: read bodies, write, drop and stall responses.

`http.server` neither de-chunks request bodies nor offers a way to misbehave on purpose; these
functions do both on a `BaseHTTPRequestHandler`'s streams.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from http.server import BaseHTTPRequestHandler
from io import BufferedIOBase

from .messages import Response

MAX_LINE = 65536


class MalformedBody(ValueError):
    """The request body framing is broken (bad Content-Length or chunk size)."""


class ClientGone(ConnectionError):
    """The client closed the connection before sending the whole request."""


def header_dict(items: list[tuple[str, str]]) -> dict[str, str]:
    """Lower-case header names; repeated headers joined with ", " (RFC 9110 §5.3)."""
    merged: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


def read_body(
    rfile: BufferedIOBase, headers: Mapping[str, str], limit: int | None = None
) -> tuple[bytes, bool]:
    """Read the request body; stop after `limit` bytes. Returns (body, complete)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _read_chunked(rfile, limit)
    raw_length = headers.get("content-length", "").strip() or "0"
    try:
        length = int(raw_length)
    except ValueError as exc:
        raise MalformedBody(f"bad Content-Length {raw_length!r}") from exc
    if length < 0:
        raise MalformedBody("negative Content-Length")
    wanted = length if limit is None else min(length, limit)
    data = _read_exact(rfile, wanted)
    return data, len(data) == length


def _read_exact(rfile: BufferedIOBase, size: int) -> bytes:
    data = rfile.read(size) if size else b""
    if len(data) != size:
        raise ClientGone(f"body ended after {len(data)} of {size} bytes")
    return data


def _read_chunked(rfile: BufferedIOBase, limit: int | None) -> tuple[bytes, bool]:
    parts: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if not line:
            raise ClientGone("chunked body ended early")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as exc:
            raise MalformedBody(f"bad chunk size {size_text!r}") from exc
        if size == 0:
            _skip_trailers(rfile)
            return b"".join(parts), True
        if limit is not None and total + size >= limit:
            parts.append(_read_exact(rfile, limit - total))
            return b"".join(parts), False
        parts.append(_read_exact(rfile, size))
        total += size
        if rfile.readline(3) not in (b"\r\n", b"\n"):
            raise MalformedBody("chunk not followed by CRLF")


def _skip_trailers(rfile: BufferedIOBase) -> None:
    while rfile.readline(MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
        pass


def write_response(
    handler: BaseHTTPRequestHandler,
    response: Response,
    *,
    truncate: int | None = None,
    trickle_bytes_per_second: float | None = None,
    stopping: threading.Event | None = None,
) -> None:
    """Send `response` with Content-Length; optionally only `truncate` body bytes, or slowly."""
    handler.send_response(response.status)
    if response.content_type is not None:
        handler.send_header("Content-Type", response.content_type)
    handler.send_header("Content-Length", str(len(response.body)))
    for name, value in response.headers.items():
        if name.lower() not in ("content-length", "content-type"):
            handler.send_header(name, value)
    handler.end_headers()
    if handler.command == "HEAD":
        return
    payload = response.body if truncate is None else response.body[:truncate]
    if truncate is not None:
        handler.close_connection = True  # the client must see the body end early
    if not trickle_bytes_per_second:
        handler.wfile.write(payload)
        return
    piece = max(1, int(trickle_bytes_per_second / 20))
    for start in range(0, len(payload), piece):
        handler.wfile.write(payload[start : start + piece])
        if stopping is not None and stopping.wait(piece / trickle_bytes_per_second):
            return


def abort_connection(handler: BaseHTTPRequestHandler, *, reset: bool) -> None:
    """Close the connection without an HTTP response: RST if `reset`, else FIN."""
    sock = handler.connection
    handler.close_connection = True
    if not reset:
        with suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
    # rfile holds a reference to the socket (makefile); release it so close() is final now.
    handler.rfile.close()
    if reset:
        reset_socket(sock)
    else:
        sock.close()


def reset_socket(sock: socket.socket) -> None:
    """Close with SO_LINGER 0, so the peer gets a TCP RST (connection reset by peer)."""
    with suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def wait_for_client_close(sock: socket.socket, seconds: float, stopping: threading.Event) -> None:
    """Block (answering nothing) until the client closes or sends, `seconds` pass, or stop."""
    deadline = time.monotonic() + seconds
    while not stopping.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        readable, _, _ = select.select([sock], [], [], min(0.05, remaining))
        if readable:
            return
