"""Issue #15: GitLab's and Distribution's own NGINX samples raise no false alarm; syntax errors are reported the
way ``nginx -t`` reports them (and, with the binary here, by ``nginx -t`` itself on a private copy)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runbooklib.config.nginx import read_nginx_config
from runbooklib.config.nginx_checks import check_nginx_config
from runbooklib.config.nginx_t import run_nginx_t
from runbooklib.findings import Status

DATA = Path(__file__).parent / "data" / "nginx"
GITLAB = DATA / "gitlab-registry-ssl"  # verbatim: two directives without ';' (lines 30-31)
GITLAB_FIXED = DATA / "gitlab-registry-ssl.semicolons-fixed"
DISTRIBUTION = DATA / "distribution-recipe-nginx.conf"
HAVE_NGINX = shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists()


def routed_alarms(findings):
    return [f for f in findings if f.status in (Status.WARN, Status.FAIL)
            and isinstance(f.evidence, dict) and f.evidence.get("scenario")]


@pytest.mark.parametrize("path", [GITLAB, GITLAB_FIXED, DISTRIBUTION])
@pytest.mark.parametrize("url", ["", "https://registry.gitlab.example.com", "https://myregistrydomain.com"])
def test_shipped_samples_raise_no_warning_or_failure_that_routes_anywhere(path, url):
    findings = check_nginx_config(path, url)
    assert routed_alarms(findings) == []
    by_id = {f.id: f for f in findings}
    assert by_id["nginx.request_buffering_on"].status == Status.OK  # context, not a push problem
    assert "nginx.access_rules" not in by_id  # auth_basic and return 404 cause no 403


@pytest.mark.parametrize("path", [GITLAB_FIXED, DISTRIBUTION])
def test_the_samples_as_meant_give_no_warning_at_all(path):
    findings = check_nginx_config(path, "")
    assert [f.id for f in findings if f.status in (Status.WARN, Status.FAIL)] == []


def test_distribution_basic_auth_is_context_not_a_403():
    found = {f.id: f for f in check_nginx_config(DISTRIBUTION, "")}
    assert found["nginx.auth_basic"].status == Status.OK and "401" in found["nginx.auth_basic"].detail
    cfg = read_nginx_config(DISTRIBUTION)
    assert cfg.unknown == () and cfg.problems == ()  # map's data lines are not directives
    assert cfg.servers[1 if len(cfg.servers) > 1 else 0].locations[0].access_rules == ()


def test_gitlab_sample_missing_semicolon_is_reported_like_nginx_t():
    cfg = read_nginx_config(GITLAB)
    assert cfg.problems == (f'invalid number of arguments in "ssl_certificate" directive in {GITLAB}:33 '
                            "(a ';' missing after line 30?)",)
    found = {f.id: f for f in check_nginx_config(GITLAB, "", nginx_t=False)}
    assert found["nginx.parse_problems"].status == Status.WARN
    assert "scenario" not in found["nginx.parse_problems"].evidence


@pytest.mark.parametrize("text, message", [
    ("events {}\nhttp {\n  server {\n    listen 8080;\n    location / {\n      proxy_pass http://127.0.0.1:5000\n"
     "    }\n  }\n}\n", 'unexpected "}" in {f}:7'),
    ("events {}\nhttp {\n  server {\n    listen 8080;\n    location / {\n      proxy_pass http://127.0.0.1:5000;\n"
     "    }\n  }\n", 'unexpected end of file, expecting "}" in {f}:9'),
    ("events {}\nhttp {\n  server {\n    listen 8080;\n  }\n  }\n}\n", 'unexpected "}" in {f}:7'),
    ("events {}\nhttp {\n  server {\n    listen 8080;\n    client_max_body_size 0;\n"
     "    proxy_request_buffering maybe;\n  }\n}\n",
     'invalid value "maybe" in "proxy_request_buffering" directive, it must be "on" or "off" in {f}:6'),
])
def test_syntax_errors_read_as_nginx_t_words_them(tmp_path, text, message):
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    expected = message.replace("{f}", str(conf))
    problems = read_nginx_config(conf).problems
    assert len(problems) == 1 and problems[0].startswith(expected), problems
    if HAVE_NGINX:  # the real binary agrees, word for word (on a private copy, file and line mapped back)
        verdict = run_nginx_t(read_nginx_config(conf))
        assert not verdict.ok and not verdict.environment_only
        assert verdict.messages == (f"[emerg] {expected}",)


@pytest.mark.skipif(not HAVE_NGINX, reason="needs the nginx binary")
def test_nginx_t_on_the_samples_runs_privately_and_is_quoted():
    verdict = run_nginx_t(read_nginx_config(GITLAB))
    assert verdict.wrapped and not verdict.ok and not verdict.environment_only
    assert verdict.messages == (f'[emerg] invalid number of arguments in "ssl_certificate" directive in {GITLAB}:33',)
    fixed = run_nginx_t(read_nginx_config(GITLAB_FIXED))
    assert fixed.ok, fixed.messages  # the sample's log format, log folders and certificates came from the copy
    recipe = run_nginx_t(read_nginx_config(DISTRIBUTION))
    assert recipe.environment_only and "host not found in upstream" in recipe.messages[0]
    found = {f.id: f for f in check_nginx_config(GITLAB)}
    assert found["nginx.nginx_t.failed"].status == Status.WARN and str(GITLAB) + ":33" in found[
        "nginx.nginx_t.failed"].detail


@pytest.mark.skipif(not HAVE_NGINX, reason="needs the nginx binary")
def test_nginx_t_writes_nothing_outside_its_private_copy(tmp_path):
    logs = tmp_path / "var-log"
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"events {{}}\nhttp {{\n  access_log {logs}/a.log;\n  error_log {logs}/e.log;\n"
                    f"  server {{ listen 8080; location / {{ proxy_pass http://127.0.0.1:5000; }} }}\n}}\n")
    verdict = run_nginx_t(read_nginx_config(conf))
    assert verdict.ok, verdict.messages
    assert not logs.exists()
