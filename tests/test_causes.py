"""Root causes: one row per cause with its fix, whichever runbooks saw it; symptoms attach to the cause
that explains them; weak evidence yields to a cause that explains it."""

from __future__ import annotations

import itertools

import pytest

from runbooklib.causes import BY_KEY, CAUSES, cause_of, group
from runbooklib.findings import Finding, Status
from runbooklib.markdown import md_inline
from runbooklib.report.index import render_index


def _f(fid: str, status: str = "fail", scenario: str = "triage", title: str = "") -> dict:
    return {"id": fid, "status": status, "title": title or fid, "scenario": scenario}


def test_one_cause_seen_by_three_runbooks_under_four_ids_is_one_row_with_all_its_evidence():
    merged = [_f("token.invalid_token"), _f("logs.token_untrusted_key"), _f("logs.auth_invalid_token", "warn"),
              _f("trust.pair_mismatch", scenario="token-untrusted-key"),
              _f("logs.token_untrusted_key", scenario="token-untrusted-key")]
    causes, others = group(merged)
    assert [c["key"] for c in causes] == ["token-key-mismatch"] and others == []
    assert len(causes[0]["evidence"]) == 5 and set(causes[0]["remedy"]) == {"Omnibus", "Helm", "Source"}


def test_invalid_token_with_a_skewed_clock_is_the_clock_not_the_key():
    causes, _ = group([_f("clock.realm"), _f("token.invalid_token")])
    assert [c["key"] for c in causes] == ["clock-skew"]
    assert [e["id"] for e in causes[0]["evidence"]] == ["clock.realm", "token.invalid_token"]


def test_invalid_token_alone_suggests_the_key_mismatch():
    causes, _ = group([_f("token.invalid_token")])
    assert [c["key"] for c in causes] == ["token-key-mismatch"]


def test_unexplained_symptoms_stand_alone_once_per_id_listing_every_runbook():
    causes, others = group([_f("logs.http_500", "warn"), _f("logs.http_500", "warn", "logs")])
    assert causes == [] and [(o["id"], o["scenarios"]) for o in others] == [("logs.http_500", ["triage", "logs"])]


def test_causes_are_worst_first_then_earliest_seen():
    causes, _ = group([_f("eof.chunksize_warn", "warn"), _f("debug.exposed", "fail"), _f("nginx.headers.x", "fail")])
    assert [c["key"] for c in causes] == ["debug-exposed", "forwarded-proto-missing", "s3-chunksize"]


def test_ok_skip_and_info_findings_establish_no_cause():
    assert cause_of("debug.exposed", "ok") == "" and cause_of("debug.exposed", "skip") == ""
    assert Finding("debug.exposed", Status.OK, "x").to_dict().get("cause") is None
    assert Finding("debug.exposed", Status.FAIL, "x").to_dict()["cause"] == "debug-exposed"


@pytest.mark.parametrize("a,b", list(itertools.combinations(CAUSES, 2)))
def test_no_two_causes_claim_the_same_finding_pattern(a, b):
    assert not set(a.shows) & set(b.shows)


def test_every_cause_has_a_fix_for_each_install_type_and_a_runbook():
    for cause in CAUSES:
        assert set(cause.remedy) == {"Omnibus", "Helm", "Source"}, cause.key
        assert cause.scenario and cause.diagnosis.endswith("."), cause.key
    assert BY_KEY["empty-tag-markers"].scenario == "empty-name-tags"


def test_index_shows_each_cause_once_with_its_fix_and_code_spans_rendered():
    merged = [_f("token.invalid_token"), _f("logs.token_untrusted_key"), _f("nginx.headers.missing_forwarded_proto")]
    causes, others = group(merged)
    page = render_index({"incident": "X", "status": "fail", "started": "", "finished": "", "host": "h",
                         "scenarios": [{"id": "triage", "html": "triage.html", "status": "fail"}],
                         "findings": merged, "causes": causes, "other_symptoms": others})
    assert page.count('class="rb-cause"') == 2
    assert page.count('data-cause="token-key-mismatch"') == 1
    assert "<code>gitlab-ctl restart registry</code>" in page and "`" not in page.split("<h2>Runbooks run")[0]


def test_inline_markdown_escapes_everything_but_code_spans():
    assert md_inline("run `a<b>` then <script>") == "run <code>a&lt;b&gt;</code> then &lt;script&gt;"
    assert md_inline("odd ` count") == "odd ` count"
