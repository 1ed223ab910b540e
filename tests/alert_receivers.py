"""Test-only loopback receivers for alerts: an HTTP(S) server that records POSTs, and aiosmtpd.

- `HttpReceiver`: http.server on 127.0.0.1 in a thread, TLS optional; answers the statuses a
  test scripts (then 200) and can hold a request open until the test lets it go.
- `SmtpReceiver`: aiosmtpd on 127.0.0.1. With a TLS context it offers STARTTLS, requires it
  before anything else and accepts AUTH only after it; without one it is a plain server that
  would take credentials in the clear, so a test can prove the client never offers them.
  Every AUTH attempt is recorded with whether the connection was encrypted.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import socket
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "alerts@clinic.test"
SMTP_PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict[str, str]
    body: bytes


class HttpReceiver:
    """Records every POST; `statuses` are the answers to give first, in order, then 200."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.posts: list[Post] = []
        self.statuses: list[int] = []
        self.hold: threading.Event | None = None  # set by a test to keep requests waiting
        self.entered = threading.Event()  # a request arrived (and may be held)
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.entered.set()
                if receiver.hold is not None:
                    receiver.hold.wait(10)
                with receiver._changed:
                    receiver.posts.append(Post(self.path, dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver._changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[socket, Any]:
                sock, addr = super().get_request()
                if tls is None:
                    return sock, addr
                # Handshake in the handler thread, so a client that rejects us cannot stall accept.
                return tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

        self._server = Server(("127.0.0.1", 0), Handler)
        self._scheme = "http" if tls is None else "https"
        # A short poll interval: shutdown() waits up to one interval, at every test's teardown.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str = "/hooks/picsync") -> str:
        return f"{self._scheme}://127.0.0.1:{self._server.server_address[1]}{path}"

    def start(self) -> HttpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, n: int, timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.posts) >= n, timeout)


@dataclass(frozen=True)
class AuthAttempt:
    login: str
    password: str
    encrypted: bool


class SmtpReceiver:
    """aiosmtpd on loopback; `messages` holds each accepted mail, `raw` its bytes as received."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.auth_attempts: list[AuthAttempt] = []
        self._changed = threading.Condition()
        kwargs: dict[str, Any] = {"authenticator": self._authenticate}
        if tls is not None:
            kwargs.update(
                tls_context=tls, require_starttls=True, auth_require_tls=True, auth_required=True
            )
        else:
            # A server that would accept a password in the clear: the client must not offer it.
            kwargs.update(auth_require_tls=False)
        self._controller = _LoopbackController(self, hostname="127.0.0.1", port=0, **kwargs)

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, n: int, timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.messages) >= n, timeout)

    # aiosmtpd callbacks, on the controller's event-loop thread

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self._changed:
            self.raw.append(raw)
            self.messages.append(msg)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._changed.notify_all()
        return "250 OK"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.auth_attempts.append(AuthAttempt(login, password, session.ssl is not None))
        return AuthResult(success=(login, password) == (SMTP_USER, SMTP_PASSWORD))


class _LoopbackController(Controller):
    """A Controller on an ephemeral port: aiosmtpd would otherwise poke port 0 to check it is up."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def closed_port() -> int:
    """A loopback port that nothing listens on (connections are refused at once)."""
    with socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
