"""The request-path picture colours each hop by the worst finding about it and says what it did not check."""

from __future__ import annotations

from runbooklib.findings import Finding, Status
from runbooklib.picture import RequestPath, hop_states


def test_each_hop_takes_the_worst_finding_about_it_and_unchecked_hops_say_so():
    findings = [Finding("forwarding.ok", Status.OK, "Requests reach the registry"),
                Finding("token.invalid_token", Status.FAIL, "Registry rejects GitLab's token"),
                Finding("trust.key_trusted", Status.OK, "key trusted"),
                Finding("nginx.not_given", Status.SKIP, "No NGINX config given")]
    states = {h.key: h for h in hop_states(findings)}
    assert states["realm"].status is Status.FAIL and states["realm"].worst == "Registry rejects GitLab's token"
    assert states["registry"].status is Status.OK and states["proxy"].status is Status.SKIP
    assert states["storage"].status is None and states["storage"].worst == "not checked"


def test_the_picture_is_an_inline_svg_with_every_hop_and_escaped_titles():
    svg = RequestPath([Finding("hops.forbidden.storage", Status.FAIL, "403 <from> storage")])._repr_html_()
    assert svg.startswith('<svg class="rb-request-path"') and svg.endswith("</svg>")
    for label in ("Client (docker, CI)", "NGINX / proxy", "Registry", "GitLab /jwt/auth", "Storage (S3/GCS)"):
        assert label in svg.replace("&amp;", "&")
    assert "403 &lt;from&gt; storage" in svg and "<from>" not in svg
    assert "#cf222e" in svg  # the failing storage box is red


def test_every_box_lies_inside_the_drawing():
    import re

    svg = RequestPath([])._repr_html_()
    width = float(re.search(r'width="(\d+)"', svg).group(1))
    for x, w in re.findall(r'<rect x="(-?[\d.]+)" y="[\d.]+" width="([\d.]+)"', svg):
        assert 0 <= float(x) and float(x) + float(w) <= width
