"""Hop analysis on hand-made traces: each pattern named once, healthy traces left alone."""

from runbooklib.probes.hops import Hop, analyse_hops, hop_from_parts

API = {"docker-distribution-api-version": "registry/2.0", "server": "nginx"}
BASE = "https://registry.example.com:5050/v2/g/app"


def _ids(hops, url="https://registry.example.com:5050"):
    return {f.id: f for f in analyse_hops(hops, url)}


def test_relative_locations_and_storage_redirects_are_fine():
    hops = [
        hop_from_parts("POST", f"{BASE}/blobs/uploads/", 202,
                       {**API, "location": "/v2/g/app/blobs/uploads/u?_state=x"}),
        hop_from_parts("HEAD", f"{BASE}/blobs/sha256:1", 307, {**API, "location": "https://bucket.s3.amazonaws.com/d"}),
        hop_from_parts("HEAD", "https://bucket.s3.amazonaws.com/d", 200, {"server": "AmazonS3"}),
    ]
    assert list(_ids(hops)) == ["hops.ok"]


def test_location_to_another_host_is_named():
    hops = [hop_from_parts("POST", f"{BASE}/blobs/uploads/", 202,
                           {**API, "location": "https://127.0.0.1:5000/v2/g/app/blobs/uploads/u"})]
    f = _ids(hops)["hops.location.host_mismatch"]
    assert f.status.value == "fail" and "127.0.0.1:5000" in f.detail


def test_gateway_errors_at_the_proxy_are_named_but_registry_5xx_are_not():
    html = {"server": "nginx", "content-type": "text/html"}
    found = _ids([hop_from_parts("PATCH", f"{BASE}/blobs/uploads/u", 504, html, b"<html>504</html>"),
                  hop_from_parts("GET", "https://registry.example.com:5050/v2/", 502, html, b"<html>502</html>")])
    assert found["hops.proxy_timeout"].status.value == "fail"
    assert found["hops.proxy_bad_gateway"].evidence["scenario"] == "ipv6-listener"
    registry_503 = hop_from_parts("GET", "https://registry.example.com:5050/v2/", 503,
                                  {**API, "content-type": "application/json"}, b'{"errors":[{"code":"UNAVAILABLE"}]}')
    assert "hops.proxy_bad_gateway" not in _ids([registry_503])


def test_transport_failures_are_rows_not_exceptions():
    hop = Hop("PATCH", "http://registry.example.com:5050/v2/g/app/blobs/uploads/u", None, error="refused: [Errno 111]")
    assert list(_ids([hop])) == ["hops.ok"]
    assert hop.to_dict()["error"].startswith("refused")


def test_completed_uploads_are_not_a_retry_loop():
    hops = []
    for i in range(4):
        hops.append(hop_from_parts("POST", f"{BASE}/blobs/uploads/", 202,
                                   {**API, "location": f"/v2/g/app/blobs/uploads/{i}"}))
        hops.append(hop_from_parts("PUT", f"{BASE}/blobs/uploads/{i}?digest=sha256:{i}", 201, API))
    assert "hops.upload_restarts" not in _ids(hops)
    assert "hops.upload_restarts" in _ids([h for h in hops if h.method == "POST"])


def test_empty_trace_is_a_skip():
    assert analyse_hops([])[0].id == "hops.none"


def test_relative_urls_set_in_the_registry_process_environment_count(tmp_path):
    """Omnibus puts `registry['env']` in the process environment, not in config.yml: the running process decides."""
    import os
    import subprocess
    import sys
    import time

    from runbooklib.config.nginx_checks import check_nginx_config
    from runbooklib.config.registry import read_registry_config
    from runbooklib.config.procenv import find_registry_processes
    from runbooklib.probes.push import check_url_settings

    config = tmp_path / "config.yml"
    config.write_text("version: 0.1\nstorage: {inmemory: {}}\nhttp:\n  addr: 127.0.0.1:5000\n")
    site = tmp_path / "registry.conf"
    site.write_text("server {\n listen 443 ssl;\n client_max_body_size 0;\n location / {\n"
                    "  proxy_set_header Host $http_host;\n  proxy_pass http://127.0.0.1:5000;\n }\n}\n")
    reg = read_registry_config(config)
    assert check_url_settings(reg, "https://r")[0].id == "urls.absolute_from_request"
    env = {**os.environ, "REGISTRY_HTTP_RELATIVEURLS": "true"}
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "serve", str(config)], env=env)
    try:
        deadline = time.monotonic() + 5
        while not find_registry_processes(str(config)) and time.monotonic() < deadline:
            time.sleep(0.05)
        f = check_url_settings(reg, "https://r")[0]
        assert f.id == "urls.relative" and "environment" in f.detail
        proto = {x.id: x for x in check_nginx_config(site, "https://r", reg)}["nginx.headers.missing_forwarded_proto"]
        assert proto.status.value == "ok"
    finally:
        proc.terminate()
        proc.wait(5)
