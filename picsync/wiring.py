"""Build the daemon's parts from a configuration (the composition root's assembly step).

Everything is wired by hand: no DI framework. ``build`` is called at start-up and again on
every accepted reload; the ledger, the spool, the audit log and the lock outlive generations.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from picsync.alerts import Alerter, EmailSettings, build_alerter
from picsync.audit import AuditLog
from picsync.config import Config, station_zone
from picsync.destinations import Destination, DestinationContext, build_destination
from picsync.errors import ConfigError
from picsync.identity import compile_rule
from picsync.intake import Selection
from picsync.ledger import DestinationCache, Ledger
from picsync.metrics import Metrics
from picsync.parts import Doorbell, SourceRoute, WorkerParts
from picsync.policy import RetryPolicy
from picsync.schedule import Bandwidth, parse_bandwidth, parse_window
from picsync.selfcheck import WatchBudget, count_folders, max_user_watches
from picsync.spool import Spool
from picsync.stages import ScrubStage
from picsync.statedir import StateDir, load_or_create_hash_key, load_or_create_station_identity
from picsync.throttle import RateLimiter
from picsync.watch import WatchedSource, Watcher
from picsync.worker import Worker

log = structlog.get_logger("picsync.daemon")


@dataclass(frozen=True, slots=True)
class Shared:
    """What lives for the whole run, across configuration reloads."""

    state: StateDir
    ledger: Ledger
    spool: Spool
    audit: AuditLog


@dataclass
class Generation:
    """One configuration's running parts."""

    config: Config
    watcher: Watcher
    workers: list[Worker]
    metrics: Metrics
    stop: threading.Event
    polling_fallback: bool = False  # inotify watches were short: every source is scanned


def retry_policy(config: Config) -> RetryPolicy:
    retry = config.settings.retry
    return RetryPolicy(
        max_attempts=retry.max_attempts,
        base_delay=retry.base_delay,
        max_delay=retry.max_delay,
        blocked_pause=retry.blocked_pause,
    )


def build_destinations(config: Config, ledger: Ledger) -> dict[str, Destination]:
    return {
        name: build_destination(
            DestinationContext(
                name=name,
                settings=settings,
                secrets={k: v.get_secret_value() for k, v in config.secrets.get(name, {}).items()},
                cache=DestinationCache(ledger, name),
                station=config.settings.station,
            )
        )
        for name, settings in config.settings.destinations.items()
    }


def hash_key_for(config: Config, state: StateDir) -> bytes:
    if config.hash_key is not None:
        return config.hash_key.get_secret_value().encode()
    return load_or_create_hash_key(state)


def _watches_short(config: Config) -> bool:
    """True when the inotify sources have more folders than watches are left (specs/
    watching.md §5: watchdog would watch only part of the tree, silently)."""
    roots = [s.path for s in config.settings.sources.values() if s.mode == "inotify"]
    limit = max_user_watches()
    if not roots or limit is None:
        return False
    budget = WatchBudget(limit=limit, needed=count_folders(roots, cap=limit))
    if budget.short:
        log.warning(
            "not enough inotify watches for the watched folders; scanning them on a timer "
            "instead (raise fs.inotify.max_user_watches, see systemd/picsync-sysctl.conf)",
            folders=budget.needed,
            max_user_watches=budget.limit,
        )
    return budget.short


def _rate_now(bandwidth: Bandwidth) -> Callable[[], float | None]:
    """The limit in force now (bytes/s, None for unlimited), read by the limiter as it goes."""
    return lambda: bandwidth.rate_at(datetime.now(tz=UTC))


def build(config: Config, shared: Shared) -> Generation:
    """Every part for ``config``; nothing runs yet."""
    settings = config.settings
    for warning in config.warnings:
        log.warning(warning)
    plaintext = {name: d.encryption == "none" for name, d in settings.destinations.items()}
    for name, is_plain in plaintext.items():
        if is_plain:
            log.warning(
                "destination receives plaintext (encryption: none)",
                destination=name,
                acknowledged=settings.destinations[name].plaintext_ack,
            )
    station = load_or_create_station_identity(shared.state) if any(plaintext.values()) else None
    hash_key = hash_key_for(config, shared.state)
    stop = threading.Event()
    doorbell = Doorbell()
    zone = station_zone(settings)
    metrics = Metrics(shared.ledger, shared.spool.folder)
    parts = WorkerParts(
        ledger=shared.ledger,
        spool=shared.spool,
        routes={
            name: SourceRoute(
                root=src.path,
                destinations=tuple(src.destinations),
                requeue_delay=src.quiet_unclosed,
                identity_rule=compile_rule(src.identity_pattern) if src.identity_pattern else None,
                after_upload=src.after_upload,
                archive_dir=src.archive_dir,
                retention_days=src.retention_days,
            )
            for name, src in settings.sources.items()
        },
        destinations=build_destinations(config, shared.ledger),
        templates={name: d.template for name, d in settings.destinations.items()},
        plaintext=plaintext,
        station=settings.station,
        transform=ScrubStage(),
        recipients=config.recipients,
        key_epoch=config.key_epoch,
        station_keys=(station.recipient,) if station else (),
        station_identities=(station,) if station else (),
        pseudonym_key=hash_key,
        retry=retry_policy(config),
        doorbell=doorbell,
        audit=shared.audit,
        metrics=metrics,
        windows={
            name: parse_window(d.window, zone)
            for name, d in settings.destinations.items()
            if d.window
        },
        limiters={
            name: RateLimiter(_rate_now(parse_bandwidth(d.bandwidth, zone)))
            for name, d in settings.destinations.items()
            if d.bandwidth
        },
    )
    polling_fallback = _watches_short(config)
    watcher = Watcher(
        sources={
            name: WatchedSource(
                name=name,
                root=src.path,
                mode="poll" if polling_fallback else src.mode,
                selection=Selection(src.include, src.exclude),
                quiet_closed=src.settle,
                quiet_unclosed=src.quiet_unclosed,
                max_wait=src.max_wait,
                scan_interval=src.poll_interval
                if src.mode == "poll" or polling_fallback
                else src.rescan_interval,
            )
            for name, src in settings.sources.items()
        },
        ledger=shared.ledger,
        hash_key=hash_key,
        audit=shared.audit,
        on_found=doorbell.ring,
        stop=stop,
    )
    workers = [Worker(parts, stop, name=f"worker-{i}") for i in range(settings.workers)]
    return Generation(config, watcher, workers, metrics, stop, polling_fallback)


def alerter_for(config: Config) -> Alerter:
    """The Alerter the configuration asks for (it logs every notice even with no sender)."""
    settings = config.settings.alerts
    webhook = config.alert_secrets.get("webhook_url")
    email = None
    if settings.email is not None:
        password = config.alert_secrets.get("email_password")
        email = EmailSettings(
            host=settings.email.host,
            port=settings.email.port,
            from_addr=settings.email.from_addr,
            to_addrs=tuple(settings.email.to_addrs),
            username=settings.email.username,
            password=password.get_secret_value() if password else None,
            starttls=settings.email.starttls,
        )
    try:
        return build_alerter(
            webhook.get_secret_value() if webhook else None,
            email,
            config.settings.station,
            settings.reminder_after,
            settings.max_per_hour,
        )
    except ConfigError as exc:
        raise ConfigError([f"alerts: {problem}" for problem in exc.problems]) from None
