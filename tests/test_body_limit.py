"""body-limit-413: which hop answers a large body with 413 (by its answer's Server header and page shape), each
hop's configured limit, and the real lab fault (a second NGINX in front of the registry's) named by the runbook
and by triage."""

from __future__ import annotations

import json
import os
import time

import httpx

from runbooklib.config.nginx_checks import check_nginx_config
from runbooklib.findings import Finding
from runbooklib.probes.bodylimit import check_body_limit, check_hop_limits, classify_answer
from runbooklib.scenarios import route
from tests.conftest import ROOT, runbook

URL = "https://registry.example.com"
REAL_413 = (ROOT / "tests" / "data" / "push" / "outer-nginx-413.http").read_bytes().decode()  # CRLF kept
REGISTRY_401 = '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}'


def _parse(raw: str) -> tuple[int, dict[str, str], str]:
    head, _, body = raw.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def _fake(front_server: str, answer: tuple[int, dict[str, str], str]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(401, headers={"Server": front_server, "Docker-Distribution-Api-Version":
                                                "registry/2.0"}, text=REGISTRY_401)
        assert "authorization" not in request.headers and len(request.content) == 2 * 1024 * 1024
        status, headers, body = answer
        return httpx.Response(status, headers=headers, text=body)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_real_nginx_page_registry_json_and_a_load_balancer_are_told_apart():
    status, headers, body = _parse(REAL_413)
    nginx = classify_answer(status, headers, body)
    assert (nginx["answered_by"], nginx["signature"], nginx["product"]) == ("nginx", "nginx/1.22.1", "an NGINX")
    registry = classify_answer(401, {"Docker-Distribution-Api-Version": "registry/2.0"}, REGISTRY_401)
    assert registry["answered_by"] == "registry" and registry["shape"] == "the registry's JSON errors"
    cloudflare = classify_answer(413, {"Server": "cloudflare", "Content-Type": "text/html"},
                                 body.replace("nginx/1.22.1", "cloudflare"))
    assert (cloudflare["answered_by"], cloudflare["product"]) == ("load balancer", "Cloudflare")
    assert classify_answer(413, {}, "")["answered_by"] == "unknown"


def test_a_413_signed_like_every_answer_is_the_outermost_hop():
    found = check_body_limit(_fake("nginx/1.22.1", _parse(REAL_413)), URL)
    assert [f.id for f in found] == ["body_limit.refused"]
    f = found[0]
    assert f.status.value == "fail" and "NGINX" in f.title and "outermost hop answered" in f.detail
    assert f.evidence["signature"] == "nginx/1.22.1" and f.evidence["scenario"] == "body-limit-413"
    assert "proxy-body-size" in f.remedy and "<html>" not in f.detail
    assert {r["scenario"] for r in route(found)} == {"body-limit-413"}


def test_a_413_signed_otherwise_than_the_front_comes_from_a_hop_behind_it():
    status, headers, body = _parse(REAL_413)
    inner = (status, {**headers, "Server": "awselb/2.0"}, body.replace("nginx/1.22.1", "nginx"))
    f = check_body_limit(_fake("awselb/2.0", inner), URL)[0]
    assert f.id == "body_limit.refused" and "behind the outermost" in f.detail and "`nginx`" in f.detail


def test_the_registry_answering_401_means_the_body_passed():
    f = check_body_limit(_fake("nginx", (401, {"Docker-Distribution-Api-Version": "registry/2.0"}, REGISTRY_401)),
                         URL)[0]
    assert f.id == "body_limit.ok" and f.status.value == "ok"


def test_bad_inputs_skip_and_say_what_to_give():
    assert "registry_url" in check_body_limit(httpx.Client(), "")[0].detail

    def refused(request):
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    down = check_body_limit(httpx.Client(transport=httpx.MockTransport(refused)), "http://127.0.0.1:9")[0]
    assert down.status.value == "skip" and "connection refused" in down.title
    none = check_hop_limits("", [])[0]
    assert none.status.value == "skip" and "proxy_configs" in none.detail and "nginx_config" in none.detail


def _conf(tmp_path, name, limit_line, port, upstream):
    path = tmp_path / name
    path.write_text("http {\n  server {\n    listen %d ssl;\n%s    location / {\n      proxy_pass %s;\n    }\n"
                    "  }\n}\n" % (port, f"    {limit_line}\n" if limit_line else "", upstream))
    return str(path)


def test_hop_limits_name_the_tightest_hop_and_nginx_s_default_counts(tmp_path):
    outer = _conf(tmp_path, "lb.conf", "client_max_body_size 1m;", 443, "https://127.0.0.1:8443")
    inner = _conf(tmp_path, "registry.conf", "client_max_body_size 0;", 8443, "http://127.0.0.1:5000")
    f = {x.id: x for x in check_hop_limits(inner, [outer], URL)}["body_limit.hop_limited"]
    assert "outermost proxy" in f.title and "1m" in f.title and "lb.conf:4" in f.detail
    assert [r["client_max_body_size"] for r in f.evidence["hops"]] == ["1m", "0"]
    unset = _conf(tmp_path, "unset.conf", "", 443, "https://127.0.0.1:8443")
    g = {x.id: x for x in check_hop_limits(inner, [unset], URL)}["body_limit.hop_limited"]
    assert "NGINX's default" in g.detail and "1m" in g.title
    ok = check_hop_limits(inner, [_conf(tmp_path, "open.conf", "client_max_body_size 0;", 443, "https://x:8443")], URL)
    assert [x.id for x in ok] == ["body_limit.hops_unlimited"]
    bad = {x.id: x for x in check_hop_limits(inner, [str(tmp_path / "missing.conf")], URL)}
    assert bad["body_limit.config_unreadable"].status.value == "error"


def test_registry_url_on_a_proxy_in_front_is_not_a_port_mismatch(tmp_path):
    outer = _conf(tmp_path, "lb.conf", "client_max_body_size 1m;", 443, "https://127.0.0.1:8443")
    inner = _conf(tmp_path, "registry.conf", "client_max_body_size 0;", 8443, "http://127.0.0.1:5000")
    alone = {f.id for f in check_nginx_config(inner, URL, nginx_t=False)}
    behind = {f.id for f in check_nginx_config(inner, URL, nginx_t=False, proxy_configs=[outer])}
    assert "nginx.port.mismatch" in alone and "nginx.port.behind_proxy" in behind and "nginx.port.mismatch" not in behind


# ------------------------------------------------------------------------------------------------ the lab


def _findings(path):
    return {f["id"]: f for f in json.loads(path.read_text())["findings"]}


def test_healthy_lab_lets_large_bodies_through_its_nginx(lab):
    from runbooklib.lab import component_nginx as nginx
    from runbooklib.probes.http import make_client

    client = make_client(10, str(nginx.ca_path(lab)))
    for _ in range(5):  # a lab started on a loaded machine may answer 502 for a moment: a gateway, not a limit
        probe = check_body_limit(client, nginx.proxied_url(lab))
        if not (probe[0].id == "body_limit.inconclusive" and probe[0].evidence.get("status") in (502, 503, 504)):
            break
        time.sleep(2)
    found = probe + check_hop_limits(str(nginx.config_path(lab)), [], nginx.proxied_url(lab))
    assert {f.id: f.status.value for f in found} == {"body_limit.ok": "ok", "body_limit.hops_unlimited": "ok"}, \
        [f.evidence for f in found]


def test_outer_proxy_limit_is_named_by_the_runbook_triage_and_a_real_push(lab_with, tmp_path):
    import base64
    import shutil
    import subprocess

    from runbooklib.lab import control
    from runbooklib.lab import fault_body_limit as outer
    from runbooklib.lab import component_nginx as nginx
    from runbooklib.lab.image import build_oci_layout

    lab = lab_with("outer-body-limit")  # read-only: shared with the generated fault test
    r = runbook("run", "body-limit-413", "-f", str(lab.params_path), "-o", str(tmp_path / "run"))
    assert r.returncode == 1, r.stderr
    found = _findings(tmp_path / "run" / "body-limit-413.findings.json")
    refused = found["body_limit.refused"]
    assert refused["cause"] == "proxy-body-limit" and refused["evidence"]["signature"].startswith("nginx/")
    assert refused["evidence"]["front_server"] == refused["evidence"]["server"]
    limited = found["body_limit.hop_limited"]
    assert "outermost" in limited["title"] and str(outer.config_path(lab)) in limited["detail"]
    assert {h["client_max_body_size"] for h in limited["evidence"]["hops"]} == {"1m", "0"}
    assert found["logs.body_too_large_413"]["status"] == "fail"  # the outer NGINX's own error log

    bundle = tmp_path / "bundle"
    r = runbook("triage", "-f", str(lab.params_path), "-o", str(bundle))
    assert r.returncode == 1, r.stderr
    triage = _findings(bundle / "triage.findings.json")
    assert "nginx.port.mismatch" not in triage and triage["nginx.port.behind_proxy"]["status"] == "ok"
    assert "body-limit-413" in {x["scenario"] for x in route([Finding.from_dict(f) for f in triage.values()])}
    assert _findings(bundle / "body-limit-413.findings.json")["body_limit.refused"]["status"] == "fail"

    layout = tmp_path / "big"  # a real client: a 2 MiB layer through the outer proxy gets 413
    build_oci_layout(layout, "latest", os.urandom(2 * 1024 * 1024))
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(nginx.ca_path(lab), certs / "ca.crt")
    host = outer.outer_url(lab).split("://", 1)[1]
    auth = tmp_path / "auth.json"
    token = base64.b64encode(f"{control.USERNAME}:{lab.secret('password')}".encode()).decode()
    auth.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    push = subprocess.run(["skopeo", "--insecure-policy", "copy", "--retry-times", "0", "--dest-cert-dir", str(certs),
                           "--dest-authfile", str(auth), f"oci:{layout}:latest", f"docker://{host}/group/big:latest"],
                          capture_output=True, text=True, timeout=60, env=control.clean_env())
    assert push.returncode != 0 and "413" in push.stderr
