"""IPv4 vs IPv6 loopback: which address answers, where NGINX proxies, what the configs say."""

import socket

import pytest

from runbooklib.config.registry import parse_registry_config
from runbooklib.probes import ipv6
from runbooklib.probes.ipv6 import check_ipv6_listener, probe_port


@pytest.fixture
def v4_listener():
    """Something listening on 127.0.0.1 only (as the registry does with http.addr 127.0.0.1:PORT)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield s.getsockname()[1]
    s.close()


def _nginx(tmp_path, upstream):
    p = tmp_path / "gitlab-registry.conf"
    p.write_text("server {\n  listen 5050 ssl;\n  client_max_body_size 0;\n  location / {\n"
                 f"    proxy_set_header Host $http_host;\n    proxy_pass http://{upstream};\n  }}\n}}\n")
    return str(p)


def _reg(addr):
    return parse_registry_config(f"version: 0.1\nstorage: {{inmemory: {{}}}}\nhttp:\n  addr: '{addr}'\n", "config.yml")


def _ids(findings):
    return {f.id: f for f in findings}


def test_probe_tells_open_from_refused(v4_listener):
    assert probe_port("127.0.0.1", v4_listener) == "open"
    assert probe_port("::1", v4_listener) in ("refused", "unavailable")


def test_nginx_upstream_on_ipv6_while_registry_listens_on_ipv4_fails(tmp_path, v4_listener):
    found = _ids(check_ipv6_listener("", _reg(f"127.0.0.1:{v4_listener}"), None,
                                     _nginx(tmp_path, f"[::1]:{v4_listener}"), 1.0))
    assert found["ipv6.listeners"].evidence["127.0.0.1"] == "open"
    f = found["ipv6.upstream_refused"]
    assert f.status.value == "fail" and f"http://[::1]:{v4_listener}" in f.detail
    assert "registry['registry_http_addr']" in f.remedy


def test_nginx_upstream_on_the_same_ipv4_address_is_ok(tmp_path, v4_listener):
    found = _ids(check_ipv6_listener("", _reg(f"127.0.0.1:{v4_listener}"), None,
                                     _nginx(tmp_path, f"127.0.0.1:{v4_listener}"), 1.0))
    assert found["ipv6.upstream_ok"].status.value == "ok"
    assert found["ipv6.http_addr"].status.value == "ok"


def test_localhost_resolving_to_ipv6_first_is_named(tmp_path, v4_listener, monkeypatch):
    monkeypatch.setattr(ipv6, "localhost_addresses", lambda: ["::1", "127.0.0.1"])
    found = _ids(check_ipv6_listener("", _reg(f"localhost:{v4_listener}"), None,
                                     _nginx(tmp_path, f"localhost:{v4_listener}"), 1.0))
    assert found["ipv6.http_addr"].status.value == "warn" and "::1" in found["ipv6.http_addr"].detail
    f = found["ipv6.upstream_partly_refused"]
    assert f.status.value == "warn" and f.evidence["answers"]["127.0.0.1"] == "open"
    assert "IPv6 comes first" in ipv6.check_localhost()[0].detail


def test_nothing_listening_here_is_a_skip_not_a_verdict(tmp_path):
    from runbooklib.lab.procs import free_port

    port = free_port()
    found = _ids(check_ipv6_listener(f"http://127.0.0.1:{port}", None, None, "", 0.5))
    assert found["ipv6.not_local"].status.value == "skip"


def test_unknown_port_is_a_skip():
    assert [f.id for f in check_ipv6_listener("", None, None, "", 0.5)] == ["ipv6.no_port"]
