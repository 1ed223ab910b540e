"""The Prometheus endpoint of a running daemon: queue state, counters, no PHI."""

from __future__ import annotations

import socket
import urllib.request

from tests.helpers import Daemon, Site, make_jpeg, wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def test_metrics_endpoint(site: Site, daemons: list[Daemon]) -> None:
    port = free_port()
    site.write_config(metrics={"listen": f"127.0.0.1:{port}"})
    folder = site.inbox / "Doe_Jane"
    folder.mkdir()
    for i in range(3):
        (folder / f"MRN12345_{i}.jpg").write_bytes(make_jpeg(70 + i))
    daemon = Daemon(site).start()
    daemons.append(daemon)

    def delivered() -> bool:
        try:
            return 'picsync_uploads_total{destination="outbox"} 3.0' in scrape(port)
        except OSError:
            return False

    wait_for(delivered, 30, "three uploads counted")
    text = scrape(port)
    assert 'picsync_files{state="done"} 3.0' in text
    assert 'picsync_deliveries{destination="outbox",state="done"} 3.0' in text
    assert "picsync_oldest_pending_seconds 0.0" in text
    assert 'picsync_last_success_timestamp_seconds{destination="outbox"}' in text
    assert "picsync_spool_free_bytes" in text
    assert "Doe_Jane" not in text and "MRN12345" not in text
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        assert sock.getpeername()[0] == "127.0.0.1"
    assert daemon.terminate() == 0
