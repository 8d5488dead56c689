import json

import pytest

from runbooklib.findings import Finding, Report, Status, worst


def _f(fid, status, **kw):
    return Finding(fid, status, kw.pop("title", fid), **kw)


def test_finding_json_round_trip_keeps_every_field():
    f = Finding("tls.self_signed", "fail", "Self-signed", detail="seen <b>", evidence={"subject": "CN=x", "n": [1, 2]},
                remedy="- Omnibus: do X", refs=("x509: certificate signed by unknown authority",))
    back = Finding.from_dict(json.loads(json.dumps(f.to_dict())))
    assert back == f
    assert back.status is Status.FAIL


def test_report_round_trip_and_findings_json_contract(tmp_path):
    r = Report("triage", {"registry_url": "http://x", "password": "env:PW"})
    r.add([_f("a.ok", "ok"), _f("b.fail", "fail")])
    path = tmp_path / "triage.findings.json"
    r.write(str(path))
    data = json.loads(path.read_text())
    assert set(data) == {"scenario", "started", "finished", "parameters", "findings"}
    assert set(data["findings"][0]) == {"id", "status", "title", "detail", "evidence", "remedy", "refs"}
    assert Report.load(str(path)).to_dict() == data


def test_summary_orders_worst_first_and_keeps_discovery_order_within_a_status():
    r = Report("x")
    r.add([_f("a", "ok"), _f("b", "warn"), _f("c", "fail"), _f("d", "skip"), _f("e", "fail"), _f("g", "error")])
    assert [f.id for f in r.summary()] == ["c", "e", "g", "b", "d", "a"]
    assert r.status is Status.FAIL


def test_worst_of_nothing_is_ok():
    assert worst([]) is Status.OK


def test_html_escapes_evidence_taken_from_the_network():
    f = Finding("proxy.page", "warn", "t", detail="d", evidence={"body": "<script>alert(1)</script><img src='https://x/y.png'>"})
    html = f._repr_html_()
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert 'data-status="warn"' in html


def test_report_html_has_summary_table_with_one_row_per_finding():
    r = Report("triage")
    r.add([_f("a", "ok"), _f("b", "fail")])
    html = r._repr_html_()
    assert html.count("<tr><td>") == 2
    assert html.index("b</code>") < html.index("a</code>")


def test_evidence_dataframe_serialises_as_records():
    pd = pytest.importorskip("pandas")
    f = Finding("x.y", "ok", "t", evidence={"rows": pd.DataFrame({"a": [1, 2]})})
    assert f.to_dict()["evidence"] == {"rows": [{"a": 1}, {"a": 2}]}


def test_a_check_returning_something_else_is_refused():
    with pytest.raises(TypeError):
        Report("x").add(["not a finding"])


def test_unknown_status_is_refused():
    with pytest.raises(ValueError):
        Finding("a.b", "bad", "t")


def test_skipped_checks_do_not_darken_a_healthy_report():
    r = Report("x")
    r.add([_f("a", "ok"), _f("b", "skip")])
    assert r.status is Status.OK
    assert Report("y", findings=[_f("c", "skip")]).status is Status.SKIP


def test_remedy_is_split_by_install_type_when_it_differs():
    from runbooklib.findings import split_remedy

    general, per = split_remedy("Fix the pair:\n- Omnibus: `gitlab-ctl reconfigure`\n- Helm: roll the pods\n"
                                "- Source: restart the registry\n- a plain bullet stays general")
    assert [k for k, _ in per] == ["Omnibus", "Helm", "Source"]
    assert "plain bullet" in general and "Omnibus" not in general
    html = Finding("a.b", "fail", "t", remedy="- Omnibus: x <y>\n- Helm: z")._repr_html_()
    assert 'class="rb-remedy"' in html and "x &lt;y&gt;" in html


def test_info_is_context_never_health_nor_a_route():
    from runbooklib.findings import Finding, Report, Status
    from runbooklib.scenarios import route

    report = Report("triage")
    report.add(Finding("logs.auth_token_required", Status.INFO, "Requests without a token (the normal first step)"))
    assert report.status is Status.OK  # context alone: nothing wrong, but not counted as a passed check
    report.add(Finding("tags.no_empty_name", Status.OK, "No empty tag names"))
    assert [f.status for f in report.summary()] == [Status.OK, Status.INFO]  # context last
    assert route([Finding("token.invalid_token", Status.INFO, "x")]) == []
    report.add(Finding("x.warn", Status.WARN, "w"))
    assert report.status is Status.WARN


def test_a_remedy_is_shown_once_per_report_and_its_markdown_rendered():
    from runbooklib.findings import Finding, Report, Status

    remedy = "Fix the header:\n- Omnibus: `gitlab-ctl reconfigure`\n- Helm: set `registry.relativeurls`"
    report = Report("triage")
    first = report.add(Finding("a.one", Status.FAIL, "First", remedy=remedy))._repr_html_()
    second = report.add(Finding("b.two", Status.WARN, "Second", remedy=remedy))._repr_html_()
    assert "<code>gitlab-ctl reconfigure</code>" in first and "`" not in first and "<pre" not in first.split("Evidence")[0]
    assert "gitlab-ctl reconfigure" not in second and "as for <i>First</i> above" in second


def test_markdown_escapes_everything_but_its_own_small_syntax():
    from runbooklib.markdown import md_block, md_inline

    assert md_inline("run `a<b>` then <script>") == "run <code>a&lt;b&gt;</code> then &lt;script&gt;"
    assert md_inline("see [the docs](https://docs.gitlab.com/x) or [x](javascript:alert(1))") == (
        'see <a href="https://docs.gitlab.com/x">the docs</a> or [x](javascript:alert(1))')
    assert md_block("Do this:\n- one\n  continued\n- two") == (
        '<p style="margin:2px 0">Do this:</p><ul style="margin:2px 0;padding-left:20px"><li>one continued</li>'
        "<li>two</li></ul>")


def test_fenced_code_in_a_remedy_keeps_its_lines_and_detail_code_spans_render():
    from runbooklib.findings import Finding, Status, render_finding_html

    f = Finding("x.y", Status.FAIL, "T", detail="NGINX sends `Location: http://` on the TLS port",
                remedy="In the `location /` block:\n```\nproxy_set_header Host $http_host;\nproxy_set_header X-Forwarded-Proto $scheme;\n```\nThen reload.")
    page = render_finding_html(f)
    assert "`" not in page and "<code>Location: http://</code>" in page
    assert "<code>proxy_set_header Host $http_host;\nproxy_set_header X-Forwarded-Proto $scheme;</code></pre>" in page
