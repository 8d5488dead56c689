"""Each log format becomes one Event row with a UTC time and the request fields where the line has them."""

from __future__ import annotations

import datetime as dt

import pytest

from runbooklib.logs import parse_line, parse_time
from runbooklib.logs.formats import quick_time

UTC = dt.timezone.utc


def test_registry_logfmt_behind_svlogd_reads_the_request_fields():
    ev = parse_line(
        '2026-11-27_16:57:38.17227 time="2026-11-27T16:57:38.172197346Z" level=error msg="response completed with '
        'error" err.code="blob unknown" err.detail="sha256:01" err.message="blob unknown to registry" '
        'http.request.id=6a6c2fce http.request.method=GET http.request.uri="/v2/group/app/blobs/sha256:01" '
        'http.request.useragent=python-httpx/0.28.1 http.response.status=404', "current")
    assert ev.format == "svlogd+logfmt"
    assert ev.time == dt.datetime(2026, 11, 27, 16, 57, 38, 172197, UTC)
    assert (ev.level, ev.method, ev.uri, ev.status) == ("error", "GET", "/v2/group/app/blobs/sha256:01", 404)
    assert ev.user_agent == "python-httpx/0.28.1"
    assert ev.correlation_id == "6a6c2fce"
    assert ev.message == "response completed with error (blob unknown; sha256:01)"
    assert ev.source == "current"


def test_logfmt_quoted_values_unescape_quotes():
    ev = parse_line('time="2026-11-27T16:57:38Z" level=info msg="token from untrusted issuer: \\"evil\\""')
    assert ev.format == "logfmt"
    assert ev.message == 'token from untrusted issuer: "evil"'


def test_svlogd_prefix_gives_the_time_when_the_line_has_none():
    ev = parse_line('2026-11-27_16:55:04.21524 127.0.0.1 - - [bad] "GET /v2/ HTTP/1.1" 401 87 "" "curl/7.88.1"')
    assert ev.format == "svlogd+combined"
    assert ev.time == dt.datetime(2026, 11, 27, 16, 55, 4, 215240, UTC)


def test_registry_access_log_combined():
    ev = parse_line('127.0.0.1 - - [27/Nov/2026:15:41:50 +0100] "GET /v2/group/app/tags/list HTTP/1.1" 401 156 "" '
                    '"curl/7.88.1"')
    assert ev.format == "combined"
    assert ev.time == dt.datetime(2026, 11, 27, 14, 41, 50, tzinfo=UTC)
    assert (ev.method, ev.uri, ev.status, ev.user_agent, ev.level) == ("GET", "/v2/group/app/tags/list", 401,
                                                                        "curl/7.88.1", "warning")


def test_nginx_access_with_omnibus_extra_field():
    ev = parse_line('10.0.0.5 - - [27/Nov/2026:15:41:50 +0000] "PATCH /v2/a/blobs/uploads/1f HTTP/1.1" 502 150 '
                    '"-" "docker/24.0.7" 1.02')
    assert (ev.format, ev.method, ev.status, ev.level, ev.user_agent) == ("combined", "PATCH", 502, "error",
                                                                          "docker/24.0.7")


def test_upstream_registry_json():
    ev = parse_line('{"go.version":"go1.19.8","http.request.host":"127.0.0.1:15999","http.request.id":"d0ad",'
                    '"http.request.method":"GET","http.request.uri":"/v2/","http.request.useragent":"curl/7.88.1",'
                    '"level":"warning","msg":"error authorizing context: authorization token required",'
                    '"time":"2026-11-27T16:57:55.29029605Z"}')
    assert ev.format == "json"
    assert (ev.method, ev.uri, ev.user_agent, ev.correlation_id, ev.level) == ("GET", "/v2/", "curl/7.88.1", "d0ad",
                                                                               "warning")
    assert ev.time == dt.datetime(2026, 11, 27, 16, 57, 55, 290296, UTC)


def test_gitlab_fork_json_error_and_access_lines():
    err = parse_line('{"code":"BLOB_UNKNOWN","correlation_id":"01HQ3V","detail":"sha256:ab","error":"blob unknown: '
                     'blob unknown to registry","level":"error","method":"HEAD","msg":"response completed with '
                     'error","status":404,"time":"2026-11-27T15:40:37.123+00:00","uri":"/v2/a/blobs/sha256:ab",'
                     '"user_agent":"docker/24.0.7"}')
    assert (err.correlation_id, err.status, err.method, err.user_agent) == ("01HQ3V", 404, "HEAD", "docker/24.0.7")
    assert "BLOB_UNKNOWN" in err.message and "sha256:ab" in err.message
    acc = parse_line('{"correlation_id":"01HQ","method":"GET","msg":"access","status":401,"uri":"/v2/",'
                     '"time":"2026-11-27T15:40:37Z"}')
    assert (acc.format, acc.message, acc.status, acc.level) == ("json", "access", 401, "warning")


def test_svlogd_with_json_is_read_too():
    ev = parse_line('2026-11-27_15:40:37.00001 {"level":"info","msg":"x","time":"2026-11-27T15:40:36Z"}')
    assert ev.format == "svlogd+json"
    assert ev.time == dt.datetime(2026, 11, 27, 15, 40, 36, tzinfo=UTC)


def test_go_stderr_tls_handshake_line():
    ev = parse_line("2026/11/27 15:40:37 http: TLS handshake error from 127.0.0.1:57394: remote error: tls: unknown "
                    "certificate authority")
    assert ev.format == "go-stderr"
    assert ev.level == "error"
    assert ev.time == dt.datetime(2026, 11, 27, 15, 40, 37, tzinfo=UTC)


def test_nginx_error_line_reads_the_request():
    ev = parse_line('2026/11/27 15:40:59 [error] 7274#7274: *18 connect() failed (111: Connection refused) while '
                    'connecting to upstream, client: 127.0.0.1, server: reg, request: "GET /v2/ HTTP/1.1", '
                    'upstream: "http://[::1]:5000/v2/", host: "reg"')
    assert (ev.format, ev.level, ev.method, ev.uri) == ("nginx-error", "error", "GET", "/v2/")


def test_rails_production_json_with_exception():
    ev = parse_line('{"method":"DELETE","path":"/api/v4/projects/42","controller":"API","action":"destroy",'
                    '"status":500,"time":"2026-11-27T15:40:37.123Z","exception.class":"Errno::ENOENT",'
                    '"exception.message":"No such file or directory @ rb_sysopen - /x/gitlab-registry.key",'
                    '"correlation_id":"01HQ","ua":"curl/8"}')
    assert ev.format == "rails-json"
    assert (ev.level, ev.status, ev.uri, ev.correlation_id, ev.user_agent) == ("error", 500, "/api/v4/projects/42",
                                                                                "01HQ", "curl/8")
    assert "Errno::ENOENT" in ev.message


def test_rails_jwt_auth_line():
    ev = parse_line('{"method":"GET","path":"/jwt/auth","controller":"JwtController","action":"auth","status":401,'
                    '"time":"2026-11-27T15:40:37.123Z"}')
    assert (ev.format, ev.uri, ev.status, ev.message) == ("rails-json", "/jwt/auth", 401, "JwtController#auth")


def test_tai64n_prefix_of_plain_svlogd():
    when = dt.datetime(2026, 11, 27, 15, 40, 37, 250000, UTC)
    label = "@%016x%08x" % ((1 << 62) + int(when.timestamp()) + 10, 250_000_000)  # svlogd -t
    ev = parse_line(label + " level=info msg=x")
    assert ev.format == "svlogd+logfmt"
    assert ev.time == when


@pytest.mark.parametrize("line", [
    "", "hello world", "{not json", '{"a": [1, 2]', "[1,2,3]", "time=", "\x00\x01\x02", "2026/11/27 garbage",
    '127.0.0.1 - - [27/Nov/2026:15:41:50 +0000] "GET /v2/ HTTP/1.1" abc', "level",
])
def test_unknown_or_broken_lines_are_unparsed_not_errors(line):
    assert parse_line(line) is None  # not an event: counted as unparsed by the scan, never an exception
    assert parse_line(line.encode("utf-8")) is None


def test_broken_json_and_garbage_are_unparsed():
    for line in ("{not json", "hello world", "", "[1,2]", "\x00\x01"):
        assert parse_line(line) is None


def test_invalid_utf8_is_replaced_not_fatal():
    ev = parse_line(b'time="2026-11-27T16:57:38Z" level=info msg="caf\xe9 \xff"')
    assert ev.message.startswith("caf")


@pytest.mark.parametrize("text,expected", [
    ("2026-11-27T16:55:04.157808489Z", dt.datetime(2026, 11, 27, 16, 55, 4, 157808, UTC)),
    ("2026-11-27T16:55:04+02:00", dt.datetime(2026, 11, 27, 14, 55, 4, tzinfo=UTC)),
    ("2026-11-27_16:55:04.17410", dt.datetime(2026, 11, 27, 16, 55, 4, 174100, UTC)),
    ("27/Nov/2026:16:55:04 +0000", dt.datetime(2026, 11, 27, 16, 55, 4, tzinfo=UTC)),
    ("2026/11/27 15:40:37", dt.datetime(2026, 11, 27, 15, 40, 37, tzinfo=UTC)),
    ("Fri, 27 Nov 2026 16:55:04 GMT", dt.datetime(2026, 11, 27, 16, 55, 4, tzinfo=UTC)),
    ("2026-13-45T99:00:00Z", None),
    ("yesterday", None),
])
def test_times_become_utc(text, expected):
    assert parse_time(text) == expected


def test_quick_time_agrees_with_the_parser():
    line = b'2026-11-27_16:55:04.17410 127.0.0.1 - - [27/Nov/2026:16:55:04 +0000] "GET /v2/ HTTP/1.1" 401 87'
    assert quick_time(line) == dt.datetime(2026, 11, 27, 16, 55, 4, 174100, UTC)
    assert quick_time(b'127.0.0.1 - - [27/Nov/2026:16:55:04 +0000] "GET /v2/ HTTP/1.1" 401 87') == dt.datetime(
        2026, 11, 27, 16, 55, 4, tzinfo=UTC)
