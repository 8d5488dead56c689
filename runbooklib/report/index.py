"""The bundle's index.html: one page an incident reviewer opens first. Inline CSS, no script, no fetch."""

from __future__ import annotations

import html
from typing import Any

from ..findings import Status, _badge

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1180px;margin:0 auto;padding:12px 20px;color:#1f2328}
h1{font-size:1.5em;margin:4px 0} h2{font-size:1.15em;margin:18px 0 6px}
table{border-collapse:collapse;width:100%;font-size:90%} td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa} code{font-size:90%} .muted{color:#6e7781} a{color:#0969da}
.rb-head{display:flex;gap:16px;align-items:baseline;flex-wrap:wrap}
footer{margin-top:24px;color:#6e7781;font-size:85%}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _scenario_row(s: dict[str, Any]) -> str:
    badge = _badge(Status(s["status"])) if s.get("status") else '<span class="muted">not run</span>'
    name = f'<a href="{_e(s["html"])}">{_e(s["id"])}</a>' if s.get("html") else _e(s["id"])
    why = _e(s.get("why", "")) + (f' <code class="muted">{_e(s["finding"])}</code>' if s.get("finding") else "")
    return (f"<tr><td>{badge}</td><td>{name}</td><td>{_e(s.get('title', ''))}</td><td>{why}</td>"
            f"<td>{_e(s.get('error') or '')}</td><td>{s.get('duration_s', 0):.1f} s</td></tr>")


def render_index(bundle: dict[str, Any], max_rows: int = 12) -> str:
    """``bundle`` is the merged findings.json content."""
    findings = sorted(bundle["findings"], key=lambda f: -Status(f["status"]).severity)
    status = Status(bundle["status"]) if bundle.get("status") else Status.OK
    links = {s["id"]: s.get("html") for s in bundle["scenarios"]}
    top = [f for f in findings if f["status"] not in ("ok", "skip")][:max_rows] or findings[:max_rows]
    rows = "".join(
        f"<tr><td>{_badge(Status(f['status']))}</td><td>{_e(f['title'])}</td>"
        f"<td><a href=\"{_e(links.get(f['scenario']) or '#')}\">{_e(f['scenario'])}</a></td>"
        f"<td><code>{_e(f['id'])}</code></td></tr>" for f in top)
    more = len(findings) - len(top)
    scen_rows = "".join(_scenario_row(s) for s in bundle["scenarios"])
    params = "".join(f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>"
                     for k, v in bundle.get("parameters", {}).items())
    versions = " · ".join(f"{_e(k)} {_e(v)}" for k, v in bundle.get("versions", {}).items())
    signature = bundle.get("signature", {})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Incident {_e(bundle['incident'])}: registry runbooks</title>
<style>{_CSS}</style></head><body>
<div class="rb-head"><h1>Incident {_e(bundle['incident'])}</h1>{_badge(status)}
<span class="muted">{_e(bundle['started'])} → {_e(bundle['finished'])} · host {_e(bundle['host'])}</span></div>
<h2>Worst findings</h2>
<table class="rb-index-summary"><thead><tr><th>status</th><th>finding</th><th>scenario</th><th>id</th></tr></thead>
<tbody>{rows}</tbody></table>
{f'<p class="muted">and {more} more finding(s) in the reports below</p>' if more > 0 else ''}
<h2>Runbooks run</h2>
<table class="rb-index-scenarios"><thead><tr><th>status</th><th>runbook</th><th>title</th><th>why it ran</th><th>error</th><th>time</th></tr></thead>
<tbody>{scen_rows}</tbody></table>
<h2>Parameters</h2><table class="rb-index-params">{params}</table>
<footer>{versions}<br>Bundle: every file is listed in MANIFEST.sha256 and signed in MANIFEST.sig
({_e(signature.get('kind', ''))} key {_e(signature.get('fingerprint', ''))}). Check with
<code>runbook verify DIR --public-key KEY.pub</code> or <code>sha256sum -c MANIFEST.sha256</code>.</footer>
</body></html>
"""
