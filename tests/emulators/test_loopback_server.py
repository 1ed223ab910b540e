"""The generic loopback server: HTTP/1.1 framing, TLS, fault scripts, request log, shutdown."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
import requests

from . import fixtures
from .faults import Fault
from .messages import Request, Response
from .server import LoopbackServer
from .tls import LoopbackTls

loopback_tls = fixtures.loopback_tls


def echo(request: Request) -> Response:
    """Describe what arrived, so tests can see the server's view of the request."""
    if request.path == "/boom":
        raise RuntimeError("emulator bug")
    return Response.json(
        200,
        {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "body": request.body.decode("latin-1"),
            "transfer_encoding": request.header("transfer-encoding"),
        },
    )


@pytest.fixture
def server(loopback_tls: LoopbackTls) -> Iterator[LoopbackServer]:
    with LoopbackServer(
        echo, tls=loopback_tls.server_context(), control_prefix="/__ctl/"
    ) as running:
        yield running


@pytest.fixture
def session(loopback_tls: LoopbackTls) -> requests.Session:
    client = requests.Session()
    client.trust_env = False
    client.verify = str(loopback_tls.ca_path)
    return client


def test_chunked_request_bodies_are_dechunked(
    server: LoopbackServer, session: requests.Session
) -> None:
    def body() -> Iterator[bytes]:
        yield b"first-"
        yield b""  # an empty chunk from the generator is skipped by requests, not a terminator
        yield b"second"

    answer = session.post(server.url + "/up", data=body())

    assert answer.json()["transfer_encoding"] == "chunked"
    assert answer.json()["body"] == "first-second"
    assert server.log.records()[0].body == b"first-second"


def test_any_method_is_served_including_options_with_a_body(
    server: LoopbackServer, session: requests.Session
) -> None:
    options = session.options(server.url + "/2.0/files/content?x=1", json={"name": "a"})
    put = session.put(server.url + "/part", data=b"bytes")
    patch = session.request("PATCH", server.url + "/p")

    assert options.json()["method"] == "OPTIONS"
    assert json.loads(options.json()["body"]) == {"name": "a"}
    assert options.json()["query"] == {"x": "1"}
    assert put.json()["method"] == "PUT" and patch.json()["method"] == "PATCH"
    assert all(r.headers["Content-Length"] == str(len(r.content)) for r in (options, put, patch))


def test_head_gets_headers_with_content_length_and_no_body(
    server: LoopbackServer, session: requests.Session
) -> None:
    answer = session.head(server.url + "/h")

    assert answer.content == b""
    assert int(answer.headers["Content-Length"]) > 0


def test_plain_http_works_without_tls() -> None:
    client = requests.Session()
    client.trust_env = False  # no proxy from the environment for loopback
    with LoopbackServer(echo) as plain:
        answer = client.post(plain.url + "/x", data=b"hi", timeout=5)

    assert plain.url.startswith("http://")
    assert answer.json()["body"] == "hi"


def test_keep_alive_serves_many_requests_on_one_connection(
    server: LoopbackServer, loopback_tls: LoopbackTls
) -> None:
    raw = socket.create_connection((server.host, server.port))
    with loopback_tls.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        stream = tls.makefile("rb")
        for n in range(3):
            tls.sendall(f"POST /k{n} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n{n}".encode())
            assert stream.readline().startswith(b"HTTP/1.1 200")
            length = 0
            while (line := stream.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            stream.read(length)

    assert [r.path for r in server.log.records()] == ["/k0", "/k1", "/k2"]


def test_malformed_chunked_framing_is_a_400(
    server: LoopbackServer, loopback_tls: LoopbackTls
) -> None:
    raw = socket.create_connection((server.host, server.port))
    with loopback_tls.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        status_line = tls.makefile("rb").readline()

    assert status_line.startswith(b"HTTP/1.1 400")


def test_faults_match_method_and_path_and_are_consumed_in_order(
    server: LoopbackServer, session: requests.Session
) -> None:
    server.add_fault(Fault(path=r"^/a$", method="GET", status=418))
    server.add_fault(Fault(path=r"^/a$", status=503, times=2, body={"why": "busy"}))
    server.add_fault(Fault(path=r"^/b$", status=500, times=None))

    statuses = [session.post(server.url + "/a").status_code for _ in range(3)]
    statuses.append(session.get(server.url + "/a").status_code)
    statuses += [session.post(server.url + "/b").status_code for _ in range(2)]

    assert statuses == [503, 503, 200, 418, 500, 500]
    assert [f.path for f, _ in server.faults.pending()] == [r"^/b$"]
    assert server.log.records()[0].response_headers["Content-Type"] == "application/json"


def test_a_canned_fault_does_not_reach_the_emulator_unless_committed(
    loopback_tls: LoopbackTls, session: requests.Session
) -> None:
    seen: list[str] = []

    def counting(request: Request) -> Response:
        seen.append(request.path)
        return Response.text(200, "ok")

    with LoopbackServer(counting, tls=loopback_tls.server_context()) as counted:
        counted.add_fault(Fault(path="/x", status=500))
        counted.add_fault(Fault(path="/y", status=500, commit=True))
        session.post(counted.url + "/x")
        session.post(counted.url + "/y")

    assert seen == ["/y"]


def test_a_chunked_body_can_be_cut_mid_way(
    server: LoopbackServer, session: requests.Session
) -> None:
    server.add_fault(Fault(path="/cut", drop_after_request_bytes=5))

    with pytest.raises(requests.exceptions.ConnectionError):
        session.post(server.url + "/cut", data=iter([b"abc", b"defgh", b"ij"]))

    (record,) = server.log.records()
    assert (record.body, record.body_complete, record.outcome) == (
        b"abcde",
        False,
        "dropped_mid_body",
    )


def test_delay_latency_and_trickle_still_deliver_the_whole_answer(
    server: LoopbackServer, session: requests.Session
) -> None:
    server.faults.latency = 0.02
    server.add_fault(
        Fault(path="/slow", delay_before_response=0.05, trickle_bytes_per_second=20_000)
    )

    slow = session.post(server.url + "/slow", data=b"x" * 100)
    late = session.post(server.url + "/late")

    assert slow.json()["body"] == "x" * 100 and late.status_code == 200
    waits = [r.responded_at - r.received_at for r in server.log.records() if r.responded_at]
    assert waits[0] >= 0.07 and waits[1] >= 0.02


def test_control_routes_bypass_faults_and_the_log(
    server: LoopbackServer, session: requests.Session
) -> None:
    server.add_fault(Fault(path=".*", status=500, times=None))
    server.faults.offline = True

    answer = session.get(server.url + "/__ctl/state")

    assert answer.status_code == 200
    assert len(server.log) == 0


def test_an_emulator_exception_is_a_500_and_is_kept(
    server: LoopbackServer, session: requests.Session
) -> None:
    answer = session.get(server.url + "/boom")

    assert answer.status_code == 500
    assert [type(e) for e in server.errors] == [RuntimeError]
    assert server.log.records()[0].outcome == "error"
    server.errors.clear()


def test_tls_refuses_clients_that_do_not_trust_the_test_ca(server: LoopbackServer) -> None:
    system_trust = requests.Session()
    system_trust.trust_env = False
    system_trust.verify = True  # the system store: does not know the test CA

    with pytest.raises(requests.exceptions.SSLError):
        system_trust.get(server.url + "/x", timeout=5)


def test_stop_is_prompt_with_stalled_and_idle_connections(
    loopback_tls: LoopbackTls, session: requests.Session
) -> None:
    stalling = LoopbackServer(echo, tls=loopback_tls.server_context()).start()
    stalling.add_fault(Fault(path="/stall", stall=True, stall_seconds=600))
    session.post(stalling.url + "/idle")  # leaves a keep-alive connection open
    errors: list[BaseException] = []

    def stalled_call() -> None:
        try:
            session_2 = requests.Session()
            session_2.trust_env = False
            session_2.verify = str(loopback_tls.ca_path)
            session_2.post(stalling.url + "/stall", timeout=600)
        except requests.exceptions.RequestException as exc:
            errors.append(exc)

    caller = threading.Thread(target=stalled_call)
    caller.start()
    while not any(r.outcome == "stalled" for r in stalling.log.records()):
        threading.Event().wait(0.01)

    stalling.stop()
    caller.join(10)

    assert not caller.is_alive()
    assert len(errors) == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("loopback-server")]


def test_server_context_rejects_old_tls(loopback_tls: LoopbackTls) -> None:
    assert loopback_tls.server_context().minimum_version == ssl.TLSVersion.TLSv1_2
