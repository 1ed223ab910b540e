"""I/O: the ways an alert leaves the station: a webhook (JSON POST), e-mail (SMTP + STARTTLS).

A sender sends one notice, synchronously, or raises `AlertSendError`; retrying and threading are
`alert_dispatch`'s business. Both refuse to talk in the clear to anything but the loopback:
a webhook URL usually embeds a secret token, and SMTP credentials must never cross an
un-upgraded connection. Error texts are scrubbed: a URL (and so its token) never reaches a log.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from picsync.alert_model import Alert, iso_utc, scrub_text
from picsync.errors import ConfigError, describe_os_error

USER_AGENT = "picsync-alerts/1"
SCHEMA = "picsync.alert/1"


class AlertSendError(Exception):
    """A notice did not get through; `permanent` when trying again cannot help (e.g. HTTP 404)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(scrub_text(message))
        self.permanent = permanent


class Sender(Protocol):
    """Sends one notice or raises AlertSendError. Called from one background thread only."""

    name: str

    def send(self, alert: Alert) -> None: ...


def webhook_payload(alert: Alert) -> dict[str, object]:
    """The JSON document POSTed for a notice. `text` makes Slack/Mattermost hooks show it as is."""
    return {
        "schema": SCHEMA,
        "station": alert.station,
        "kind": alert.kind.value,
        "state": alert.state.value,
        "subject": alert.subject,
        "summary": alert.summary,
        "message": alert.message,
        "time": iso_utc(alert.time),
        "since": iso_utc(alert.since),
        "facts": alert.facts.as_dict(),
        "held_back": alert.held_back,
        "text": f"[picsync {alert.station}] {alert.summary}\n{alert.message}",
    }


def email_message(alert: Alert, from_addr: str, to_addrs: Sequence[str]) -> EmailMessage:
    """The e-mail for a notice: plain text, with headers a mail filter can sort on."""
    msg = EmailMessage()
    msg["Subject"] = f"[picsync {alert.station}] {alert.summary}"
    msg["From"] = from_addr
    msg["To"] = ", ".join(to_addrs)
    msg["Date"] = formatdate(alert.time, usegmt=True)
    # An explicit domain: the default asks DNS for this host's FQDN, which can hang offline.
    msg["Message-ID"] = make_msgid("picsync", domain="picsync.invalid")
    msg["X-Picsync-Station"] = alert.station
    msg["X-Picsync-Kind"] = alert.kind.value
    msg["X-Picsync-State"] = alert.state.value
    facts = "".join(f"{k}: {v}\n" for k, v in alert.facts.as_dict().items())
    msg.set_content(
        f"{alert.message}\n\n-- \nstation: {alert.station}\nkind: {alert.kind.value}\n"
        f"state: {alert.state.value}\nsubject: {alert.subject}\n{facts}"
    )
    return msg


def is_loopback(host: str | None) -> bool:
    """Whether `host` names this machine's loopback interface."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A verifying client context: the system CAs, or only `ca_file` (a private CA, tests)."""
    return ssl.create_default_context(cafile=ca_file)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would turn the POST into a GET elsewhere; treat it as the error it is."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class WebhookSender:
    """POSTs each notice as JSON to one URL; 2xx is success, anything else an AlertSendError."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigError("the alert webhook must be an https:// URL")
        loopback = is_loopback(parts.hostname)
        if parts.scheme == "http" and not loopback:
            raise ConfigError("the alert webhook must use https:// (http:// only to loopback)")
        self._url = url
        self._timeout = timeout
        self._headers = dict(headers or {})
        handlers: list[urllib.request.BaseHandler] = [
            urllib.request.HTTPSHandler(context=ssl_context or tls_context()),
            _NoRedirect(),
        ]
        if loopback:
            # An HTTP(S)_PROXY from the environment must not capture a local receiver.
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    def send(self, alert: Alert) -> None:
        body = json.dumps(webhook_payload(alert)).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **self._headers}
        # The scheme was checked in __init__ (https, or http to loopback): no file: or ftp: here.
        request = urllib.request.Request(  # noqa: S310
            self._url, data=body, headers=headers, method="POST"
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                response.read(64 * 1024)
        except urllib.error.HTTPError as exc:
            # 408 and 429 say "later"; other 4xx (bad URL, revoked hook) will not change.
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
            raise AlertSendError(f"HTTP {exc.code}", permanent=permanent) from None
        except urllib.error.URLError as exc:
            raise AlertSendError(_describe(exc.reason)) from None
        except (OSError, http.client.HTTPException) as exc:
            raise AlertSendError(_describe(exc)) from None


class EmailSender:
    """Sends each notice as an e-mail through one SMTP server, upgraded with STARTTLS."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        from_addr: str,
        to_addrs: Sequence[str],
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not to_addrs:
            raise ConfigError("alert e-mail needs at least one recipient")
        if username and not starttls:
            raise ConfigError("alert e-mail with a username needs starttls: credentials in clear")
        if username and password is None:
            raise ConfigError("alert e-mail has a username but no password")
        self.host, self.port = host, port
        self.from_addr, self.to_addrs = from_addr, list(to_addrs)
        self._username, self._password = username, password
        self._starttls = starttls
        self._timeout = timeout
        self._context = ssl_context or tls_context()

    def send(self, alert: Alert) -> None:
        msg = email_message(alert, self.from_addr, self.to_addrs)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self._timeout) as smtp:
                smtp.ehlo()
                if self._starttls:
                    self._upgrade(smtp)
                if self._username:
                    assert self._password is not None  # checked in __init__
                    smtp.login(self._username, self._password)
                smtp.send_message(msg, self.from_addr, self.to_addrs)
        except AlertSendError:
            raise
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused) as exc:
            raise AlertSendError(_describe(exc), permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise AlertSendError(_describe(exc)) from None

    def _upgrade(self, smtp: smtplib.SMTP) -> None:
        """STARTTLS or stop: nothing, credentials least of all, goes over a plain connection."""
        if not smtp.has_extn("starttls"):
            raise AlertSendError(
                "the SMTP server does not offer STARTTLS; sent nothing", permanent=True
            )
        smtp.starttls(context=self._context)
        if not isinstance(smtp.sock, ssl.SSLSocket):  # defensive: starttls() returned oddly
            raise AlertSendError("STARTTLS did not encrypt the connection; sent nothing")
        smtp.ehlo()  # the server's extensions (AUTH among them) may differ after the upgrade


def _describe(exc: BaseException | str) -> str:
    """An error as short text without a file name; scrubbed again by AlertSendError."""
    if isinstance(exc, str):
        return exc
    if isinstance(exc, smtplib.SMTPResponseException):
        raw = exc.smtp_error
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return f"SMTP {exc.smtp_code} {text}".strip()
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "SMTP recipients refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or type(exc).__name__}"
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    return type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"
