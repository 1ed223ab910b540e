"""Generic loopback HTTP/1.1 server for emulators: one thread, optional TLS, faults, request log.

    server = LoopbackServer(handle, tls=tls.server_context(), annotate=describe).start()
    ...  # server.netloc == "127.0.0.1:PORT", server.url == "https://127.0.0.1:PORT"
    server.stop()

`handle(Request) -> Response` is the emulator. The server speaks HTTP/1.1 with keep-alive,
always sends Content-Length, de-chunks `Transfer-Encoding: chunked` request bodies, accepts
any method (OPTIONS with a body included), logs every request (`server.log`) and applies the
scripted faults of `server.faults` (see `faults.py`). Requests under `control_prefix` (an
emulator's own control routes) bypass faults and the log. An exception in `handle` becomes a
500 and is kept in `server.errors`, so a fixture can fail the test instead of letting an
emulator bug pass as a server error the client retries.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .faults import Fault, FaultPlan
from .http_wire import (
    MAX_LINE,
    MalformedBody,
    abort_connection,
    header_dict,
    read_body,
    wait_for_client_close,
    write_response,
)
from .messages import Request, Response
from .request_log import Outcome, RequestLog, RequestRecord

Handler = Callable[[Request], Response]
Annotator = Callable[[Request], Mapping[str, Any]]

_logger = logging.getLogger(__name__)

# Client-side misbehaviour (resets, TLS errors, timeouts) ends a connection, not the test.
_CONNECTION_ERRORS = (OSError, ssl.SSLError)


class LoopbackServer:
    """A ThreadingHTTPServer on 127.0.0.1:<free port>, served from a background thread."""

    def __init__(
        self,
        handler: Handler,
        *,
        tls: ssl.SSLContext | None = None,
        annotate: Annotator | None = None,
        control_prefix: str | None = None,
        name: str = "loopback",
        connection_timeout: float = 30.0,
    ) -> None:
        self.handler = handler
        self.tls = tls
        self.annotate = annotate
        self.control_prefix = control_prefix
        self.name = name
        self.connection_timeout = connection_timeout
        self.faults = FaultPlan()
        self.log = RequestLog()
        self.errors: list[BaseException] = []
        self.stopping = threading.Event()
        self._httpd: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> LoopbackServer:
        if self._httpd is not None:
            raise RuntimeError("already started")
        self._httpd = _ThreadingServer(("127.0.0.1", 0), _ExchangeHandler, owner=self)
        self._port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, cut open connections, wake stalled handlers, join every thread."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self.stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()  # joins the per-connection threads (block_on_close)
        thread.join()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- addresses ---------------------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        """The bound port; still known after stop(), for messages and assertions."""
        if self._port is None:
            raise RuntimeError("not started")
        return self._port

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.netloc}"

    def add_fault(self, fault: Fault) -> Fault:
        return self.faults.add(fault)

    # ---- one request/response exchange -------------------------------------------------

    def exchange(self, h: _ExchangeHandler) -> None:
        received_at, wall_time = time.monotonic(), time.time()
        path, _, query_string = h.path.partition("?")
        query = dict(urllib.parse.parse_qsl(query_string, keep_blank_values=True))
        headers = header_dict(list(h.headers.items()))
        is_control = self.control_prefix is not None and path.startswith(self.control_prefix)
        offline = self.faults.offline and not is_control
        fault = None if is_control or offline else self.faults.take(h.command, path)
        limit = 0 if offline else (fault.drop_after_request_bytes if fault is not None else None)
        try:
            body, complete = read_body(h.rfile, headers, limit)
        except MalformedBody as exc:
            h.close_connection = True
            write_response(h, Response.text(400, f"malformed request body: {exc}"))
            return
        request = Request(h.command, h.path, path, query, headers, body, received_at, complete)
        if is_control:
            write_response(h, self._call(request)[0])
            return

        record = RequestRecord(
            seq=self.log.next_seq(),
            method=h.command,
            path=path,
            query=query,
            headers=headers,
            body=body,
            body_complete=complete,
            received_at=received_at,
            wall_time=wall_time,
            extra=self._annotations(request),
            fault=fault.describe() if fault is not None else None,
        )
        if offline:  # "the network is down": reset before reading the body
            self._close_silently(h, record, "offline", reset=True)
            return
        if fault is not None and fault.drop_after_request_bytes is not None:
            self._close_silently(h, record, "dropped_mid_body", reset=fault.reset)
            return
        response, failed = None, False
        if fault is None or fault.applies_request:
            response, failed = self._call(request)
        if fault is not None:
            response = fault.canned_response() or response
            if fault.drop_after_commit:
                self._close_silently(h, record, "dropped_after_commit", reset=fault.reset)
                return
            if fault.stall:
                record.outcome = "stalled"
                self.log.append(record)
                wait_for_client_close(h.connection, fault.stall_seconds, self.stopping)
                abort_connection(h, reset=False)
                return
        assert response is not None  # every fault without a response returned above
        self._respond(h, record, response, fault, failed)

    def _respond(
        self,
        h: _ExchangeHandler,
        record: RequestRecord,
        response: Response,
        fault: Fault | None,
        failed: bool,
    ) -> None:
        delay = self.faults.latency + (fault.delay_before_response if fault else 0.0)
        if delay > 0 and self.stopping.wait(delay):
            abort_connection(h, reset=True)
            return
        truncate = fault.truncate_response if fault is not None else None
        record.status = response.status
        record.response_headers = {**response.headers}
        if response.content_type is not None:
            record.response_headers["Content-Type"] = response.content_type
        record.response_body = response.body
        record.outcome = (
            "error" if failed else ("truncated" if truncate is not None else "responded")
        )
        # Logged before the first byte goes out: once the client has the answer, so has the log.
        record.responded_at = time.monotonic()
        self.log.append(record)
        write_response(
            h,
            response,
            truncate=truncate,
            trickle_bytes_per_second=fault.trickle_bytes_per_second if fault else None,
            stopping=self.stopping,
        )

    def _close_silently(
        self, h: _ExchangeHandler, record: RequestRecord, outcome: Outcome, *, reset: bool
    ) -> None:
        record.outcome = outcome
        self.log.append(record)
        abort_connection(h, reset=reset)

    def _call(self, request: Request) -> tuple[Response, bool]:
        try:
            return self.handler(request), False
        except Exception as exc:
            _logger.exception(
                "%s emulator failed on %s %s", self.name, request.method, request.path
            )
            self.errors.append(exc)
            return Response.text(500, f"emulator error: {exc!r}"), True

    def _annotations(self, request: Request) -> dict[str, Any]:
        if self.annotate is None:
            return {}
        try:
            return dict(self.annotate(request))
        except Exception as exc:  # a garbled header must not lose the log entry
            return {"annotate_error": repr(exc)}


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler_class: type[BaseHTTPRequestHandler],
        owner: LoopbackServer,
    ) -> None:
        self.owner = owner
        self._connections_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        super().__init__(address, handler_class)

    def track(self, sock: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(sock)

    def close_connections(self) -> None:
        with self._connections_lock:
            open_sockets = list(self._connections)
        for sock in open_sockets:
            # socket.socket's own shutdown: SSLSocket.shutdown would reset TLS state that
            # the connection's thread may be using.
            with suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _logger.exception("%s: unhandled error for %s", self.owner.name, client_address)


class _ExchangeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "picsync-loopback/1"
    server: _ThreadingServer

    def setup(self) -> None:
        owner = self.server.owner
        self.usable = False
        sock: socket.socket = self.request
        # Headers and body go out in separate writes; without NODELAY, Nagle + delayed ACK
        # add ~40 ms to every exchange.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(owner.connection_timeout)
        if owner.tls is not None:
            try:
                sock = owner.tls.wrap_socket(sock, server_side=True)
            except _CONNECTION_ERRORS:
                sock.close()
                return
            self.request = sock
        self.server.track(sock)
        self.usable = True
        super().setup()

    def handle(self) -> None:
        if self.usable:
            super().handle()

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(MAX_LINE + 1)
        except _CONNECTION_ERRORS:
            self.close_connection = True
            return
        if len(self.raw_requestline) > MAX_LINE:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if not self.parse_request():
            return
        try:
            self.server.owner.exchange(self)
            self.wfile.flush()
        except _CONNECTION_ERRORS:
            self.close_connection = True

    def finish(self) -> None:
        if not self.usable:
            return
        try:
            super().finish()
        except _CONNECTION_ERRORS:
            pass
        finally:
            self.server.untrack(self.request)
            self.request.close()

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's per-request stderr lines; the request log has it all."""
