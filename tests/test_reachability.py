"""Triage names what answers at registry_url before judging it: a dead host costs one timeout, a web page
or GitLab's sign-in page is never "OK", and bad URLs or times are refused before anything runs."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from tests.conftest import runbook
from tests.test_hostile_servers import _Server, _trickle

TIMEOUT_S = 3


def _blackhole(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(120)  # accept, read the request, never answer


def _answer(raw: bytes):
    def serve(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(raw)
    return serve


_HTML = b"<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body>Welcome</body></html>"
CASES = {
    "blackhole": (_blackhole, "forwarding.unreachable"),
    "trickle": (_trickle, "forwarding.unreachable"),
    "html-200": (_answer(b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nDate: Mon, 30 Nov 2026 "
                         b"22:00:00 GMT\r\nContent-Length: " + str(len(_HTML)).encode() + b"\r\n\r\n" + _HTML),
                 "forwarding.not_registry"),
    "gitlab-302": (_answer(b"HTTP/1.1 302 Found\r\nLocation: https://gitlab.example.com/users/sign_in\r\n"
                           b"Content-Type: text/html; charset=utf-8\r\nContent-Length: 0\r\n\r\n"),
                   "forwarding.gitlab_ui"),
    "basic-401": (_answer(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"admin\"\r\n"
                          b"Content-Type: text/plain\r\nContent-Length: 12\r\n\r\nUnauthorized"),
                  "forwarding.not_registry"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_triage_names_what_answers_and_judges_nothing_else_as_ok(case, tmp_path):
    handler, verdict = CASES[case]
    server = _Server(handler)
    try:
        out = tmp_path / "out"
        t0 = time.monotonic()
        r = runbook("run", "triage", "-p", "registry_url", server.url, "-p", "timeout_s", str(TIMEOUT_S),
                    "-o", str(out))
        took = time.monotonic() - t0
    finally:
        server.close()
    assert r.returncode == 1, r.stdout + r.stderr
    findings = json.loads((out / "triage.findings.json").read_text())["findings"]
    assert findings[0]["id"] == verdict and findings[0]["status"] == "fail"
    assert [f["id"] for f in findings if f["status"] == "ok"] == []
    assert took < TIMEOUT_S + 20, took  # one timeout at most, then every later probe knows


@pytest.mark.parametrize("name,value,words", [
    ("registry_url", "htps://registry.example.com", "needs the scheme http:// or https://"),
    ("registry_url", "registry.example.com:5050", "add the scheme, e.g. https://registry.example.com:5050"),
    ("registry_url", "https://registry.example.com/v2/", "has a path"),
    ("debug_url", "http://127.0.0.1:abc", "is not a URL"),
])
def test_a_bad_url_is_refused_before_anything_runs(name, value, words, tmp_path):
    r = runbook("run", "triage", "-p", "registry_url", "http://127.0.0.1:9", "-p", name, value, "-o", str(tmp_path / "o"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert f"parameter {name!r}" in r.stderr and words in r.stderr
    assert not (tmp_path / "o").exists()


def test_a_time_that_is_not_one_is_refused_naming_the_forms_that_work(tmp_path):
    r = runbook("run", "logs", "-p", "log_paths", str(tmp_path), "-p", "since", "yesterday", "-o", str(tmp_path / "o"))
    assert r.returncode == 2 and "parameter 'since'" in r.stderr and "2h" in r.stderr
    ok = runbook("run", "logs", "-p", "log_paths", str(tmp_path), "-p", "since", "2h", "-o", str(tmp_path / "o2"))
    assert ok.returncode in (0, 1, 2) and "parameter 'since'" not in ok.stderr


def test_a_config_path_that_is_not_there_is_refused_before_anything_runs(tmp_path):
    r = runbook("run", "triage", "-p", "registry_url", "http://127.0.0.1:9", "-p", "registry_config",
                str(tmp_path / "nope.yml"), "-o", str(tmp_path / "o"))
    assert r.returncode == 2 and r.stderr.strip() == f"runbook: parameter 'registry_config': {tmp_path / 'nope.yml'} not found"
    assert not (tmp_path / "o").exists()
    b = runbook("triage", "-p", "registry_url", "http://127.0.0.1:9", "-p", "nginx_config", str(tmp_path),
                "-o", str(tmp_path / "b"))
    assert b.returncode == 2 and "is a folder, not a file" in b.stderr and not (tmp_path / "b").exists()
