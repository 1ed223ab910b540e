"""Alerts: one notice per incident, reminders, the hourly cap, no PHI, real loopback receivers.

The decision logic runs on an injected clock; delivery runs against a loopback HTTPS receiver and
an aiosmtpd server with STARTTLS, both trusting a throwaway CA (trustme).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from picsync.alert_model import REDACTED, AlertKind, AlertState, Facts, make_alert, scrub_text
from picsync.alert_policy import AlertPolicy, IncidentBook
from picsync.alert_senders import EmailSender, WebhookSender
from picsync.alerts import Alerter, EmailSettings, RetryPlan, build_alerter
from picsync.errors import ConfigError
from tests.alert_receivers import (
    SMTP_PASSWORD,
    SMTP_USER,
    HttpReceiver,
    SmtpReceiver,
    closed_port,
)
from tests.emulators.tls import LoopbackTls

STATION = "derm-cam-2"
PLANTED = "/srv/inbox/Doe_Jane 1970-01-01/IMG_0042.jpg"
PHI_NEEDLES = ("Doe_Jane", "1970-01-01", "IMG_0042", "/srv/inbox")
FAST = RetryPlan(delays=(0.01, 0.01, 0.01))
SUBJECTS = {
    AlertKind.DELIVERY_DEAD: "box-main",
    AlertKind.DESTINATION_BLOCKED: "dropbox",
    AlertKind.BACKLOG_OLD: "box-main",
    AlertKind.SPOOL_LOW_SPACE: "spool",
    AlertKind.WATCHER_POLLING: "scanner",
}
FACTS: dict[AlertKind, dict[str, Any]] = {
    AlertKind.DELIVERY_DEAD: {"count": 3},
    AlertKind.DESTINATION_BLOCKED: {},
    AlertKind.BACKLOG_OLD: {"count": 40, "age_s": 9000.0, "threshold_s": 7200.0},
    AlertKind.SPOOL_LOW_SPACE: {"free_bytes": 300 << 20, "min_free_bytes": 1 << 30},
    AlertKind.WATCHER_POLLING: {},
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def report_all(alerter: Alerter, reason: str = f"cannot read '{PLANTED}'") -> None:
    for kind, subject in SUBJECTS.items():
        alerter.raise_(kind, subject, reason=reason, **FACTS[kind])


# ---- the pure decision logic ----------------------------------------------------------------


def book(**policy: Any) -> IncidentBook:
    return IncidentBook(AlertPolicy(**policy), STATION)


@pytest.mark.parametrize("kind", list(AlertKind))
def test_an_incident_is_announced_once_however_often_it_is_reported(kind: AlertKind) -> None:
    b, t, sent = book(reminder_after=None), 0.0, []
    for _ in range(500):  # every 3 min for a day
        sent += b.raise_(kind, "box-main", Facts(count=1), t)
        t += 180
    assert [(a.kind, a.state) for a in sent] == [(kind, AlertState.FIRING)]


def test_a_cleared_condition_that_returns_is_a_new_incident() -> None:
    b = book()
    first = b.raise_(AlertKind.DESTINATION_BLOCKED, "box", Facts(reason="token revoked"), 10.0)
    assert b.raise_(AlertKind.DESTINATION_BLOCKED, "box", Facts(), 20.0) == []
    resolved = b.clear(AlertKind.DESTINATION_BLOCKED, "box", 30.0)
    assert b.clear(AlertKind.DESTINATION_BLOCKED, "box", 40.0) == []  # clearing again: silent
    again = b.raise_(AlertKind.DESTINATION_BLOCKED, "box", Facts(), 50.0)
    assert [a.state for a in first + resolved + again] == [
        AlertState.FIRING,
        AlertState.RESOLVED,
        AlertState.FIRING,
    ]
    assert (first[0].since, resolved[0].since, again[0].since) == (10.0, 10.0, 50.0)


def test_incidents_are_per_kind_and_subject() -> None:
    b = book()
    sent = [
        *b.raise_(AlertKind.DESTINATION_BLOCKED, "box", Facts(), 1.0),
        *b.raise_(AlertKind.DESTINATION_BLOCKED, "dropbox", Facts(), 1.0),
        *b.raise_(AlertKind.DELIVERY_DEAD, "box", Facts(), 1.0),
        *b.raise_(AlertKind.DESTINATION_BLOCKED, "box", Facts(), 2.0),
    ]
    assert [(a.kind, a.subject) for a in sent] == [
        (AlertKind.DESTINATION_BLOCKED, "box"),
        (AlertKind.DESTINATION_BLOCKED, "dropbox"),
        (AlertKind.DELIVERY_DEAD, "box"),
    ]


def test_a_lasting_incident_is_reminded_after_the_interval_with_the_latest_facts() -> None:
    b, day = book(reminder_after=86400.0), 86400.0
    states = []
    for minute in range(0, 3 * 1440 + 1, 5):
        count = minute // 5
        for a in b.raise_(AlertKind.DELIVERY_DEAD, "box", Facts(count=count), minute * 60.0):
            states.append((a.state, a.time, a.facts.count))
    assert states == [
        (AlertState.FIRING, 0.0, 0),
        (AlertState.REMINDER, day, 288),
        (AlertState.REMINDER, 2 * day, 576),
        (AlertState.REMINDER, 3 * day, 864),
    ]


def test_an_incident_cleared_before_it_was_announced_is_never_mentioned() -> None:
    b = book(max_per_hour=1)
    assert len(b.raise_(AlertKind.DESTINATION_BLOCKED, "box", Facts(), 0.0)) == 1
    assert b.raise_(AlertKind.BACKLOG_OLD, "box", Facts(), 1.0) == []  # no room: held back
    assert b.clear(AlertKind.BACKLOG_OLD, "box", 2.0) == []
    assert b.raise_(AlertKind.DESTINATION_BLOCKED, "box", Facts(), 4000.0) == []
    assert b.open_incidents() == [(AlertKind.DESTINATION_BLOCKED, "box")]


def test_the_hourly_cap_holds_under_a_storm_and_held_back_incidents_go_out_later() -> None:
    b, sent = book(max_per_hour=5, reminder_after=None), []
    kinds = list(AlertKind)
    for minute in range(120):  # 100 incidents, reported every minute for two hours
        for i in range(100):
            for a in b.raise_(kinds[i % len(kinds)], f"dest-{i}", Facts(), minute * 60.0):
                sent.append((minute, a))
    assert [m for m, _ in sent] == [0] * 5 + [60] * 5  # a sliding hour: five, then five more
    assert len({(a.kind, a.subject) for _, a in sent}) == 10  # each announced once
    # At minute 60, 94 other incidents had been reported and not yet announced.
    assert sent[5][1].held_back == 94
    assert "94 other alert(s) wait" in sent[5][1].message


def test_a_resolved_notice_waits_for_room_and_a_reopened_incident_just_continues() -> None:
    b = book(max_per_hour=2, reminder_after=None)
    b.raise_(AlertKind.DESTINATION_BLOCKED, "box", Facts(), 0.0)
    b.raise_(AlertKind.DESTINATION_BLOCKED, "dropbox", Facts(), 0.0)
    assert b.clear(AlertKind.DESTINATION_BLOCKED, "box", 10.0) == []  # the cap is spent
    later = b.clear(AlertKind.DESTINATION_BLOCKED, "dropbox", 3600.0)
    assert [(a.state, a.subject) for a in later] == [
        (AlertState.RESOLVED, "box"),
        (AlertState.RESOLVED, "dropbox"),
    ]
    # A flap the cap hid: dropped from the waiting line, the same incident carries on quietly.
    b2 = book(max_per_hour=1, reminder_after=None)
    b2.raise_(AlertKind.SPOOL_LOW_SPACE, "spool", Facts(), 0.0)
    assert b2.clear(AlertKind.SPOOL_LOW_SPACE, "spool", 5.0) == []
    assert b2.raise_(AlertKind.SPOOL_LOW_SPACE, "spool", Facts(), 9.0) == []
    assert b2.clear(AlertKind.SPOOL_LOW_SPACE, "spool", 7200.0)[0].since == 0.0


def test_resolved_notices_can_be_turned_off() -> None:
    b = book(send_resolved=False)
    b.raise_(AlertKind.WATCHER_POLLING, "scanner", Facts(), 0.0)
    assert b.clear(AlertKind.WATCHER_POLLING, "scanner", 1.0) == []


@pytest.mark.parametrize(
    "policy", [{"max_per_hour": 0}, {"reminder_after": 0.0}, {"reminder_after": -5.0}]
)
def test_a_nonsensical_policy_is_refused(policy: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        AlertPolicy(**policy)


# ---- PHI-free text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"cannot open '{PLANTED}': Permission denied",
        f"x={PLANTED}",
        "C:\\Users\\Doe_Jane 1970-01-01\\IMG_0042.jpg",
        "\\\\fileserver\\inbox\\Doe_Jane 1970-01-01\\IMG_0042.jpg",
        "file:///srv/inbox/Doe_Jane 1970-01-01/IMG_0042.jpg",
        "~/inbox/Doe_Jane/1970-01-01/IMG_0042.jpg",
        "inbox/Doe_Jane/1970-01-01 IMG_0042.jpg",
    ],
)
def test_scrub_text_removes_paths_urls_and_file_names(text: str) -> None:
    out = scrub_text(text)
    assert REDACTED in out
    assert not any(needle in out for needle in PHI_NEEDLES), out


@pytest.mark.parametrize(
    "text", ["token revoked (HTTP 401)", "quota full", "errno 28 / No space left on device"]
)
def test_scrub_text_keeps_ordinary_reasons(text: str) -> None:
    assert scrub_text(text) == text


@given(
    before=st.text(max_size=40),
    after=st.text(alphabet=st.characters(exclude_characters="'\"`"), max_size=40),
    sep=st.sampled_from([" ", "'", "=", "(", ": "]),
)
def test_a_planted_path_never_survives_scrubbing(before: str, after: str, sep: str) -> None:
    out = scrub_text(f"{before}{sep}{PLANTED}{after}", limit=10_000)
    assert "Doe_Jane" not in out and "IMG_0042" not in out


@pytest.mark.parametrize("kind", list(AlertKind))
@pytest.mark.parametrize("state", list(AlertState))
def test_every_rendered_text_is_already_clean_and_names_station_and_subject(
    kind: AlertKind, state: AlertState
) -> None:
    alert = make_alert(kind, state, SUBJECTS[kind], STATION, 1e9, 1e9 - 60, Facts(**FACTS[kind]))
    # Our own words must not trip the filter (or it would eat them, or hide a PHI leak).
    for text in (alert.summary, alert.message):
        assert scrub_text(text, limit=10_000) == " ".join(text.split())
    assert STATION in alert.message
    if kind is not AlertKind.SPOOL_LOW_SPACE:
        assert SUBJECTS[kind] in alert.summary


def test_a_path_passed_as_subject_or_station_is_redacted() -> None:
    alert = make_alert(
        AlertKind.WATCHER_POLLING, AlertState.FIRING, PLANTED, "/srv/Doe", 0.0, 0.0, Facts()
    )
    assert (alert.subject, alert.station) == (REDACTED, REDACTED)
    assert "Doe" not in alert.summary + alert.message


# ---- delivery to loopback receivers ----------------------------------------------------------


@pytest.fixture
def webhook(loopback_tls: LoopbackTls) -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(tls=loopback_tls.server_context()).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp(loopback_tls: LoopbackTls) -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver(tls=loopback_tls.server_context()).start()
    yield receiver
    receiver.stop()


def email_settings(smtp: SmtpReceiver, loopback_tls: LoopbackTls, **over: Any) -> EmailSettings:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": smtp.port,
        "from_addr": "picsync@clinic.test",
        "to_addrs": ["it@clinic.test", "lead@clinic.test"],
        "username": SMTP_USER,
        "password": SMTP_PASSWORD,
        "timeout": 5.0,
        "ca_file": str(loopback_tls.ca_path),
    }
    settings.update(over)
    return EmailSettings(**settings)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def alerter(
    webhook: HttpReceiver, smtp: SmtpReceiver, loopback_tls: LoopbackTls, clock: Clock
) -> Iterator[Alerter]:
    a = build_alerter(
        webhook.url(),
        email_settings(smtp, loopback_tls),
        STATION,
        reminder_after=86400.0,
        max_per_hour=20,
        webhook_ca_file=str(loopback_tls.ca_path),
        clock=clock,
        retry=FAST,
    )
    yield a
    a.close(timeout=5)


def delivered(webhook: HttpReceiver, smtp: SmtpReceiver) -> tuple[list[Any], list[Any]]:
    posts = [json.loads(p.body) for p in webhook.posts]
    mails = [(m["X-Picsync-Kind"], m["X-Picsync-State"]) for m in smtp.messages]
    return posts, mails


def test_each_kind_fires_once_per_incident_at_both_receivers_without_phi(
    alerter: Alerter, webhook: HttpReceiver, smtp: SmtpReceiver, clock: Clock
) -> None:
    with capture_logs() as logs:
        for _ in range(30):  # the condition persists over many health checks
            report_all(alerter)
            clock.advance(60)
        assert alerter.flush(10)
    posts, mails = delivered(webhook, smtp)
    assert sorted((p["kind"], p["state"]) for p in posts) == sorted(
        (k.value, "firing") for k in AlertKind
    )
    assert sorted(mails) == sorted((k.value, "firing") for k in AlertKind)
    for post in webhook.posts:
        doc = json.loads(post.body)
        assert post.headers["Content-Type"] == "application/json"
        assert doc["station"] == STATION and doc["schema"] == "picsync.alert/1"
        assert doc["subject"] == SUBJECTS[AlertKind(doc["kind"])]
        assert STATION in doc["text"] and doc["summary"] in doc["text"]
    for msg in smtp.messages:
        # strip(): a long Subject is folded right after the colon, which leaves a blank on parsing.
        assert msg["Subject"].strip().startswith(f"[picsync {STATION}] ")
        assert msg["From"] == "picsync@clinic.test" and msg["Message-ID"]
        assert msg["X-Picsync-Station"] == STATION
        assert msg.get_content_type() == "text/plain"
        assert f"kind: {msg['X-Picsync-Kind']}" in msg.get_content()
    assert smtp.envelopes[0] == ("picsync@clinic.test", ["it@clinic.test", "lead@clinic.test"])
    assert smtp.auth_attempts and all(a.encrypted for a in smtp.auth_attempts)
    wire = b"".join(p.body for p in webhook.posts) + b"".join(smtp.raw)
    shown = json.dumps(logs)
    for needle in PHI_NEEDLES:
        assert needle.encode() not in wire and needle not in shown


def test_after_clear_a_new_occurrence_fires_again_and_a_reminder_follows_the_interval(
    alerter: Alerter, webhook: HttpReceiver, smtp: SmtpReceiver, clock: Clock
) -> None:
    kind, subject = AlertKind.DESTINATION_BLOCKED, "dropbox"
    for _ in range(5):
        alerter.raise_(kind, subject, reason="token revoked")
        clock.advance(60)
    for _ in range(5):
        alerter.clear(kind, subject)
        clock.advance(60)
    for _ in range(5):
        alerter.raise_(kind, subject, reason="quota full")
        clock.advance(60)
    clock.advance(86400)
    for _ in range(5):
        alerter.raise_(kind, subject, reason="quota full")
        clock.advance(60)
    assert alerter.flush(10)
    posts, mails = delivered(webhook, smtp)
    expected = ["firing", "resolved", "firing", "reminder"]
    assert [p["state"] for p in posts] == expected
    assert [state for _, state in mails] == expected
    assert posts[3]["facts"] == {"reason": "quota full"}
    assert posts[3]["summary"].startswith("Still: ")


def test_the_global_cap_holds_at_the_receivers_under_a_storm(
    webhook: HttpReceiver, smtp: SmtpReceiver, loopback_tls: LoopbackTls, clock: Clock
) -> None:
    alerter = build_alerter(
        webhook.url(),
        email_settings(smtp, loopback_tls),
        STATION,
        reminder_after=600.0,
        max_per_hour=3,
        webhook_ca_file=str(loopback_tls.ca_path),
        clock=clock,
        retry=FAST,
    )
    try:
        for _ in range(50):  # forty incidents, reported every 30 s for 25 min; some flap
            for i in range(40):
                alerter.raise_(AlertKind.DELIVERY_DEAD, f"dest-{i}", count=i)
            alerter.clear(AlertKind.DELIVERY_DEAD, "dest-0")
            clock.advance(30)
        assert alerter.flush(10)
    finally:
        alerter.close(5)
    assert len(webhook.posts) == 3 and len(smtp.messages) == 3


def test_a_failing_receiver_is_retried_off_the_callers_thread(
    webhook: HttpReceiver, loopback_tls: LoopbackTls, clock: Clock
) -> None:
    webhook.statuses = [503, 502]
    alerter = Alerter(
        STATION,
        senders=[WebhookSender(webhook.url(), ssl_context=loopback_tls.client_context())],
        clock=clock,
        retry=FAST,
    )
    with capture_logs() as logs:
        alerter.raise_(AlertKind.SPOOL_LOW_SPACE, "spool", free_bytes=1 << 20)
        assert alerter.flush(10)
    alerter.close(5)
    assert len(webhook.posts) == 3  # 503, 502, then 200: the same document each time
    assert len({p.body for p in webhook.posts}) == 1
    events = [e["event"] for e in logs if e["event"].startswith("alert_")]
    assert events == ["alert_send_retry", "alert_send_retry", "alert_sent"]


def test_a_slow_receiver_blocks_neither_the_caller_nor_the_other_sender(
    webhook: HttpReceiver, smtp: SmtpReceiver, loopback_tls: LoopbackTls, clock: Clock
) -> None:
    webhook.hold = threading.Event()
    alerter = build_alerter(
        webhook.url(),
        email_settings(smtp, loopback_tls),
        STATION,
        reminder_after=0,
        max_per_hour=20,
        webhook_ca_file=str(loopback_tls.ca_path),
        clock=clock,
        retry=FAST,
    )
    try:
        alerter.raise_(AlertKind.WATCHER_POLLING, "scanner", reason="inotify watch limit")
        # raise_ has returned although the webhook has not answered yet...
        assert webhook.entered.wait(10) and webhook.posts == []
        # ...and the e-mail went out meanwhile.
        assert smtp.wait_for(1)
        webhook.hold.set()
        assert alerter.flush(10)
        assert len(webhook.posts) == 1
    finally:
        webhook.hold.set()
        alerter.close(5)


def test_an_unreachable_receiver_is_retried_then_given_up_without_raising(clock: Clock) -> None:
    secret_url = f"http://127.0.0.1:{closed_port()}/hooks/T0KEN-SECRET"
    alerter = Alerter(STATION, senders=[WebhookSender(secret_url, timeout=2)], retry=FAST)
    with capture_logs() as logs:
        alerter.raise_(AlertKind.DESTINATION_BLOCKED, "box", reason="token revoked")
        alerter.raise_(AlertKind.DESTINATION_BLOCKED, "box")
        assert alerter.flush(10)
    alerter.close(5)
    failed = [e for e in logs if e["event"] == "alert_send_failed"]
    assert len(failed) == 1 and failed[0]["attempts"] == FAST.attempts
    assert "refused" in failed[0]["error"].lower()
    assert "T0KEN" not in json.dumps(logs)


def test_a_refusing_webhook_is_not_retried(
    webhook: HttpReceiver, loopback_tls: LoopbackTls
) -> None:
    webhook.statuses = [404]
    sender = WebhookSender(webhook.url(), ssl_context=loopback_tls.client_context())
    alerter = Alerter(STATION, senders=[sender], retry=FAST)
    with capture_logs() as logs:
        alerter.raise_(AlertKind.BACKLOG_OLD, "box", age_s=1e5)
        assert alerter.flush(10)
    alerter.close(5)
    assert len(webhook.posts) == 1
    assert [e["permanent"] for e in logs if e["event"] == "alert_send_failed"] == [True]


def test_an_untrusted_certificate_gets_nothing(webhook: HttpReceiver) -> None:
    alerter = Alerter(STATION, senders=[WebhookSender(webhook.url())], retry=FAST)  # system CAs
    with capture_logs() as logs:
        alerter.raise_(AlertKind.BACKLOG_OLD, "box", age_s=1e5)
        assert alerter.flush(10)
    alerter.close(5)
    assert webhook.posts == []
    failed = [e for e in logs if e["event"] == "alert_send_failed"]
    assert len(failed) == 1 and "CERTIFICATE_VERIFY_FAILED" in failed[0]["error"]


def test_without_starttls_no_credentials_are_sent_and_an_error_is_logged(
    loopback_tls: LoopbackTls,
) -> None:
    plain = SmtpReceiver(tls=None).start()
    try:
        sender = EmailSender(
            "127.0.0.1",
            plain.port,
            from_addr="picsync@clinic.test",
            to_addrs=["it@clinic.test"],
            username=SMTP_USER,
            password=SMTP_PASSWORD,
            timeout=5,
            ssl_context=loopback_tls.client_context(),
        )
        alerter = Alerter(STATION, senders=[sender], retry=FAST)
        with capture_logs() as logs:
            alerter.raise_(AlertKind.DESTINATION_BLOCKED, "box", reason="quota full")
            assert alerter.flush(10)
        alerter.close(5)
    finally:
        plain.stop()
    assert plain.auth_attempts == [] and plain.messages == []
    failed = [e for e in logs if e["event"] == "alert_send_failed"]
    assert len(failed) == 1 and "STARTTLS" in failed[0]["error"]
    assert SMTP_PASSWORD not in json.dumps(logs)


def test_a_local_relay_without_tls_gets_mail_but_never_credentials() -> None:
    plain = SmtpReceiver(tls=None).start()
    try:
        relay = EmailSender(
            "127.0.0.1", plain.port, from_addr="p@c.test", to_addrs=["it@c.test"], starttls=False
        )
        alerter = Alerter(STATION, senders=[relay], retry=FAST)
        alerter.raise_(AlertKind.WATCHER_POLLING, "scanner")
        assert alerter.flush(10) and plain.wait_for(1)
        alerter.close(5)
    finally:
        plain.stop()
    assert plain.auth_attempts == []
    with pytest.raises(ConfigError, match="credentials"):
        EmailSender("mail.test", from_addr="a@b", to_addrs=["c@d"], username="u", starttls=False)


@pytest.mark.parametrize(
    "url", ["http://hooks.example.test/x", "ftp://127.0.0.1/x", "file:///x", "https:///x"]
)
def test_a_webhook_in_the_clear_or_not_http_is_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        WebhookSender(url)


def test_the_email_settings_never_show_the_password() -> None:
    settings = EmailSettings("mail.test", "a@b.test", ["c@d.test"], username="u", password="pw!")
    assert "pw!" not in repr(settings) and "pw!" not in str(settings)


def test_without_senders_notices_are_still_logged(clock: Clock) -> None:
    alerter = Alerter(STATION, AlertPolicy(), clock=clock)
    with capture_logs() as logs:
        alerter.raise_(AlertKind.SPOOL_LOW_SPACE, "spool", free_bytes=5, reason=PLANTED)
        alerter.raise_(AlertKind.SPOOL_LOW_SPACE, "spool", free_bytes=4)
        alerter.clear(AlertKind.SPOOL_LOW_SPACE, "spool")
    assert [(e["event"], e["state"]) for e in logs] == [("alert", "firing"), ("alert", "resolved")]
    assert "Doe_Jane" not in json.dumps(logs)
    assert alerter.open_incidents() == []
