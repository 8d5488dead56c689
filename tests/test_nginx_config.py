"""The NGINX config reader and its checks: includes, inheritance, bad input named, push-relevant settings."""

from pathlib import Path

import pytest

from runbooklib.config.nginx import parse_nginx_config, read_nginx_config, registry_servers
from runbooklib.config.nginx_checks import check_nginx_config
from runbooklib.config.registry import parse_registry_config

DATA = Path(__file__).parent / "data" / "push"
OMNIBUS = DATA / "omnibus-nginx" / "nginx.conf"


def _ids(findings):
    return {f.id: f for f in findings}


def _conf(tmp_path, site: str, main: str | None = None) -> Path:
    (tmp_path / "conf.d").mkdir(exist_ok=True)
    (tmp_path / "conf.d" / "registry.conf").write_text(site)
    path = tmp_path / "nginx.conf"
    path.write_text(main or "events {}\nhttp {\n  include conf.d/*.conf;\n}\n")
    return path


def test_includes_are_followed_and_the_registry_server_found_among_others():
    cfg = read_nginx_config(OMNIBUS)
    assert [Path(f).name for f in cfg.files] == ["nginx.conf", "gitlab-http.conf", "gitlab-registry.conf"]
    servers = registry_servers(cfg, "https://registry.example.com:5050")
    assert len(servers) == 1 and servers[0].ports == (5050,) and servers[0].ssl
    loc = servers[0].main_location()
    assert loc.proxy_pass == "http://localhost:5000"
    assert loc.header("x-forwarded-proto").value == "https"
    # location-level proxy_set_header replaces the http-level X-Forwarded-For: the location's own is in effect
    assert loc.header("X-Forwarded-For").where.endswith("gitlab-registry.conf:24")
    assert loc.client_max_body_size.value == "0"  # server-level 0 overrides http-level 250m


def test_missing_include_and_unknown_directive_are_named_and_the_rest_still_read():
    found = _ids(check_nginx_config(OMNIBUS, "https://registry.example.com:5050"))
    missing = found["nginx.include_missing"]
    assert missing.status.value == "warn"
    assert "conf/nginx-status.conf" in missing.detail and "nginx.conf:21" in missing.detail
    assert "opentracing" in found["nginx.read"].detail  # unknown directive named, not fatal
    assert found["nginx.port.ok"].status.value == "ok"
    assert found["nginx.headers.ok"].status.value == "ok"
    assert found["nginx.body_size.ok"].status.value == "ok"


def test_unbalanced_braces_are_named_with_their_line_and_earlier_servers_kept(tmp_path):
    path = _conf(tmp_path, "server {\n  listen 5050 ssl;\n  location / {\n    proxy_pass http://127.0.0.1:5000;\n  }\n")
    cfg = read_nginx_config(path)
    assert any("not closed" in p for p in cfg.problems)
    assert cfg.servers[0].ports == (5050,)
    found = _ids(check_nginx_config(path, "https://r.example.com:5050"))
    assert found["nginx.parse_problems"].status.value == "warn"


def test_missing_forwarded_proto_behind_tls_fails_unless_relative_urls(tmp_path):
    site = ("server {\n listen 443 ssl;\n client_max_body_size 0;\n location / {\n"
            "  proxy_set_header Host $http_host;\n  proxy_pass http://127.0.0.1:5000;\n }\n}\n")
    path = _conf(tmp_path, site)
    f = _ids(check_nginx_config(path, "https://registry.example.com"))["nginx.headers.missing_forwarded_proto"]
    assert f.status.value == "fail" and "Location: http://" in f.detail and "registry.conf:4" in f.detail
    relative = parse_registry_config("version: 0.1\nhttp:\n  addr: 127.0.0.1:5000\n  relativeurls: true\n")
    found = _ids(check_nginx_config(path, "https://registry.example.com", relative))
    f = found["nginx.headers.missing_forwarded_proto"]
    assert f.status.value == "ok"


def test_proxy_set_header_in_location_drops_inherited_host(tmp_path):
    site = ("server {\n listen 443 ssl;\n client_max_body_size 0;\n proxy_set_header Host $http_host;\n"
            " proxy_set_header X-Forwarded-Proto $scheme;\n location / {\n  proxy_set_header X-Real-IP $remote_addr;\n"
            "  proxy_pass http://127.0.0.1:5000;\n }\n}\n")
    found = _ids(check_nginx_config(_conf(tmp_path, site), "https://r.example.com"))
    assert found["nginx.headers.host_not_forwarded"].status.value == "fail"
    assert "nginx.headers.missing_forwarded_proto" in found


def test_default_body_size_is_nginx_1m_and_fails(tmp_path):
    site = ("server {\n listen 443 ssl;\n location / {\n  proxy_set_header Host $http_host;\n"
            "  proxy_set_header X-Forwarded-Proto $scheme;\n  proxy_pass http://127.0.0.1:5000;\n }\n}\n")
    found = _ids(check_nginx_config(_conf(tmp_path, site), "https://r.example.com"))
    f = found["nginx.body_size.limited"]
    assert f.status.value == "fail" and "1m" in f.title and "NGINX's default" in f.detail
    # context only since issue #15 (GitLab's and Distribution's samples leave it on): ok, not a warning
    assert found["nginx.request_buffering_on"].status.value == "ok"


def test_host_without_port_on_a_non_default_port_warns(tmp_path):
    site = ("server {\n listen 5050 ssl;\n client_max_body_size 0;\n location / {\n  proxy_set_header Host $host;\n"
            "  proxy_set_header X-Forwarded-Proto $scheme;\n  proxy_pass http://127.0.0.1:5000;\n }\n}\n")
    found = _ids(check_nginx_config(_conf(tmp_path, site), "https://r.example.com:5050"))
    assert found["nginx.headers.host_without_port"].status.value == "warn"


@pytest.mark.parametrize("url, fid, status", [
    ("https://registry.example.com:5050", "nginx.port.ok", "ok"),
    ("http://registry.example.com:5050", "nginx.port.scheme_mismatch", "fail"),
    ("https://registry.example.com:4567", "nginx.port.mismatch", "fail"),
    ("http://127.0.0.1:5000", "nginx.port.bypass", "skip"),
])
def test_the_registry_url_port_is_compared_with_nginx_listen_ports(url, fid, status):
    found = _ids(check_nginx_config(OMNIBUS, url))
    assert found[fid].status.value == status


def test_upstream_block_and_address_family_mismatch(tmp_path):
    site = ("upstream registry_up {\n server [::1]:5000 max_fails=0;\n}\nserver {\n listen 5050 ssl;\n"
            " client_max_body_size 0;\n location / {\n  proxy_set_header Host $http_host;\n"
            "  proxy_set_header X-Forwarded-Proto $scheme;\n  proxy_pass http://registry_up;\n }\n}\n")
    path = _conf(tmp_path, site)
    cfg = read_nginx_config(path)
    assert [u.address for u in cfg.upstreams("http://registry_up")] == ["[::1]:5000"]
    reg = parse_registry_config("version: 0.1\nhttp:\n  addr: 127.0.0.1:5000\n", "config.yml")
    f = _ids(check_nginx_config(path, "https://r:5050", reg))["nginx.upstream.family_mismatch"]
    assert f.status.value == "fail" and f.evidence["scenario"] == "ipv6-listener"
    reg_port = parse_registry_config("version: 0.1\nhttp:\n  addr: ':5001'\n", "config.yml")
    assert "nginx.upstream.port_mismatch" in _ids(check_nginx_config(path, "https://r:5050", reg_port))


def test_access_rules_in_the_registry_server_are_named():
    cfg = parse_nginx_config("server { listen 443 ssl; client_max_body_size 0; location / { deny 10.0.0.0/8; "
                             "proxy_set_header Host $http_host; proxy_set_header X-Forwarded-Proto $scheme; "
                             "proxy_pass http://127.0.0.1:5000; } }", "registry.conf")
    assert "deny 10.0.0.0/8" in cfg.servers[0].locations[0].access_rules[0]


def test_quoted_strings_variables_and_comments_tokenize():
    cfg = parse_nginx_config('server { listen 80; # a comment { not a block\n server_name "a b" ${x}y;\n'
                             " location / { proxy_pass http://127.0.0.1:1; } }")
    assert cfg.servers[0].server_names == ("a b", "${x}y")
    assert not cfg.problems


@pytest.mark.parametrize("setup, fid", [
    (lambda p: None, "nginx.unreadable"),
    (lambda p: p.mkdir(), "nginx.unreadable"),
])
def test_unreadable_config_is_one_error_finding(tmp_path, setup, fid):
    p = tmp_path / "nope.conf"
    setup(p)
    found = check_nginx_config(p, "https://r")
    assert [f.id for f in found] == [fid] and str(p) in found[0].detail


def test_no_config_is_a_skip():
    assert check_nginx_config("", "https://r")[0].status.value == "skip"


def test_lab_without_nginx_says_which_package_to_install(monkeypatch):
    from runbooklib.lab import component_nginx
    from runbooklib.lab.control import LabError

    monkeypatch.setattr(component_nginx.shutil, "which", lambda name: None)
    monkeypatch.setattr(component_nginx.os.path, "exists", lambda p: False)
    with pytest.raises(LabError, match="apt-get install nginx"):
        component_nginx.nginx_binary()
