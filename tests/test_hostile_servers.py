"""Servers that attack the runbooks' time and memory: a trickle of one byte at a time, a 2 GB body, an
exploded metrics exposition. Every run ends within its bounds, with findings instead of a hang."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from runbooklib.probes.http import exchange, make_client
from tests.conftest import ROOT

TIMEOUT_S = 2


class _Server:
    """A raw TCP server on a free loopback port; ``handler(conn)`` serves each connection in a thread."""

    def __init__(self, handler) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.handler = handler
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            self.handler(conn, self.stop)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def _trickle(conn: socket.socket, stop: threading.Event) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000:
        if stop.is_set():
            return
        conn.send(bytes([byte]))
        time.sleep(0.2)


def _huge(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                 b"Www-Authenticate: Bearer realm=\"http://127.0.0.1:9/jwt/auth\",service=\"container_registry\"\r\n"
                 b"Docker-Distribution-Api-Version: registry/2.0\r\nContent-Length: 2000000000\r\n\r\n")
    chunk = b"{" * (1 << 16)
    sent = 0
    while not stop.is_set() and sent < 2_000_000_000:
        conn.sendall(chunk)
        sent += len(chunk)


@pytest.fixture
def trickle_server():
    server = _Server(_trickle)
    yield server
    server.close()


@pytest.fixture
def huge_server():
    server = _Server(_huge)
    yield server
    server.close()


def test_a_trickling_answer_ends_at_the_total_deadline_not_at_a_read_timeout(trickle_server):
    with make_client(TIMEOUT_S) as client:
        t0 = time.monotonic()
        ex = exchange(client, "GET", trickle_server.url + "/v2/")
        took = time.monotonic() - t0
    assert ex.failure is not None and ex.failure.kind == "timeout"
    assert took < TIMEOUT_S + 1


def test_a_huge_body_is_read_up_to_the_cap_and_marked_truncated(huge_server):
    with make_client(TIMEOUT_S, body_cap=1 << 20) as client:
        ex = exchange(client, "GET", huge_server.url + "/v2/")
    assert ex.response is not None and len(ex.response.content) == 1 << 20
    assert ex.evidence()["body_truncated_at_bytes"] == 1 << 20


def _run_measured(argv: list[str], timeout: float) -> tuple[subprocess.CompletedProcess, float, int]:
    """Run the CLI in a fresh interpreter that reports the peak RSS of its descendants (the kernel)."""
    probe = ("import json, resource, subprocess, sys, time; t=time.monotonic(); "
             "r=subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(json.dumps({'rc': r.returncode, 'out': r.stdout, 'err': r.stderr, 'took': time.monotonic()-t, "
             "'rss_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")
    done = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "runbooklib.cli", *argv],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    data = json.loads(done.stdout)
    return (subprocess.CompletedProcess(argv, data["rc"], data["out"], data["err"]), data["took"], data["rss_kib"])


@pytest.mark.parametrize("server_fixture", ["trickle_server", "huge_server"])
def test_triage_against_a_hostile_server_ends_in_bounded_time_and_memory(server_fixture, request, tmp_path):
    server = request.getfixturevalue(server_fixture)
    out = tmp_path / "out"
    r, took, rss_kib = _run_measured(["run", "triage", "-p", "registry_url", server.url, "-p", "timeout_s",
                                      str(TIMEOUT_S), "-o", str(out)], timeout=300)
    assert r.returncode in (0, 1), r.stderr  # it finished, with findings
    probes = max(server.connections, 1)
    # 90 s covers interpreter, kernel start and report on a loaded 2-core machine; a trickle without the
    # deadline runs until the 300 s subprocess timeout
    assert took < TIMEOUT_S * probes + 90, (took, probes)
    assert rss_kib < 1024 * 1024, f"peak RSS {rss_kib} KiB"
    findings = json.loads((out / "triage.findings.json").read_text())["findings"]
    assert findings and (out / "triage.html").exists()


def test_an_exploded_metrics_exposition_is_summarised_not_read_whole(tmp_path):
    from runbooklib.metrics.source import scrape

    lines = ["# TYPE registry_http_requests_total counter"]
    lines += [f'registry_http_requests_total{{path="/v2/r{i}/manifests/x",code="200"}} {i}' for i in range(100_000)]
    body = ("\n".join(lines) + "\n").encode()

    def serve(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)

    server = _Server(serve)
    try:
        with make_client(10) as client:
            t0 = time.monotonic()
            snap, found = scrape(client, server.url)
            took = time.monotonic() - t0
    finally:
        server.close()
    assert snap is not None and took < 10
    capped = next(f for f in found if f.id == "metrics.series_capped")
    assert capped.evidence["left_out_by_family"]["registry_http_requests"] > 90_000


def test_deeply_nested_or_nan_json_from_the_debug_server_is_a_finding_not_a_crash():
    from runbooklib.probes.debug_server import check_debug_vars

    for body in (b'{"memstats":' + b"[" * 100_000 + b"]" * 100_000 + b"}", b'{"memstats": {"Alloc": NaN}}'):
        def serve(conn: socket.socket, stop: threading.Event, body: bytes = body) -> None:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)

        server = _Server(serve)
        try:
            with make_client(5) as client:
                found = check_debug_vars(client, server.url)
        finally:
            server.close()
        assert [f.id for f in found] == ["vars.unexpected"]
