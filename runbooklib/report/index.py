"""The bundle's index.html: one page an incident reviewer opens first. Inline CSS, no script, no fetch."""

from __future__ import annotations

import html
from typing import Any

from ..findings import Status, _badge
from ..markdown import md_inline

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1180px;margin:0 auto;padding:12px 20px;color:#1f2328}
h1{font-size:1.5em;margin:4px 0} h2{font-size:1.15em;margin:18px 0 6px}
table{border-collapse:collapse;width:100%;font-size:90%} td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa} code{font-size:90%} .muted{color:#6e7781} a{color:#0969da}
.rb-head{display:flex;gap:16px;align-items:baseline;flex-wrap:wrap}
footer{margin-top:24px;color:#6e7781;font-size:85%}
.rb-fix{width:auto;font-size:95%} .rb-fix th{background:none;border:none;padding:1px 6px 1px 0;white-space:nowrap}
.rb-fix td{border:none;padding:1px 0} .rb-index-causes>tbody>tr>td:nth-child(3){width:45%}
details summary{cursor:pointer;color:#0969da;font-size:90%} ul{margin:2px 0;padding-left:18px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))




def _cause_row(c: dict[str, Any], links: dict[str, Any]) -> str:
    seen = []
    for e in c["evidence"]:
        href = links.get(e["scenario"]) or "#"
        kind = "symptom" if e.get("symptom") else "shows it"
        seen.append(f'<li><a href="{_e(href)}">{_e(e["scenario"])}</a>: {_e(e["title"])} '
                    f'<span class="muted">({kind})</span></li>')
    fixes = "".join(f"<tr><th>{_e(k)}</th><td>{md_inline(v)}</td></tr>" for k, v in c.get("remedy", {}).items())
    dig = links.get(c.get("scenario", ""))
    more = (f' · runbook: <a href="{_e(dig)}">{_e(c["scenario"])}</a>' if dig else
            (f' · runbook: <code>{_e(c["scenario"])}</code>' if c.get("scenario") else ""))
    return (f'<tr class="rb-cause" data-cause="{_e(c["key"])}"><td>{_badge(Status(c["status"]))}</td>'
            f'<td><b>{_e(c["title"])}</b><br>{md_inline(c["diagnosis"])}'
            f'<details><summary>{len(c["evidence"])} finding(s) from '
            f'{len({e["scenario"] for e in c["evidence"]})} runbook(s){more}</summary><ul>{"".join(seen)}</ul></details></td>'
            f'<td><table class="rb-fix">{fixes}</table></td></tr>')


def _symptom_row(r: dict[str, Any], links: dict[str, Any]) -> str:
    runs = ", ".join(f'<a href="{_e(links.get(s) or "#")}">{_e(s)}</a>' for s in r["scenarios"])
    return (f'<tr><td>{_badge(Status(r["status"]))}</td><td>{_e(r["title"])}</td><td>{runs}</td>'
            f'<td><code>{_e(r["id"])}</code></td></tr>')


def _scenario_row(s: dict[str, Any]) -> str:
    badge = _badge(Status(s["status"])) if s.get("status") else '<span class="muted">not run</span>'
    name = f'<a href="{_e(s["html"])}">{_e(s["id"])}</a>' if s.get("html") else _e(s["id"])
    why = _e(s.get("why", "")) + (f' <code class="muted">{_e(s["finding"])}</code>' if s.get("finding") else "")
    return (f"<tr><td>{badge}</td><td>{name}</td><td>{_e(s.get('title', ''))}</td><td>{why}</td>"
            f"<td>{_e(s.get('error') or '')}</td><td>{s.get('duration_s', 0):.1f} s</td></tr>")


def render_index(bundle: dict[str, Any], max_rows: int = 12) -> str:
    """``bundle`` is the merged findings.json content: causes first (one row each, with the fix), then the
    symptoms no cause explains, then which runbooks ran."""
    findings = bundle["findings"]
    status = Status(bundle["status"]) if bundle.get("status") else Status.OK
    links = {s["id"]: s.get("html") for s in bundle["scenarios"]}
    causes = bundle.get("causes", [])
    symptoms = bundle.get("other_symptoms", [])
    cause_rows = "".join(_cause_row(c, links) for c in causes)
    if causes:
        head = (f'<h2>Causes ({len(causes)})</h2><table class="rb-index-summary rb-index-causes"><thead><tr><th>status</th>'
                f"<th>what is wrong</th><th>fix</th></tr></thead><tbody>{cause_rows}</tbody></table>")
    else:
        head = ('<h2>Causes</h2><p class="rb-index-summary">No known cause was found'
                + (" (see the findings below)." if symptoms else ": every check passed or was skipped.") + "</p>")
    rows = "".join(_symptom_row(r, links) for r in symptoms[:max_rows])
    more = len(symptoms) - max_rows
    checked = sum(1 for f in findings if f["status"] == "ok")
    context = sum(1 for f in findings if f["status"] == "info")
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
{head}
{f'<h2>Other findings ({len(symptoms)})</h2><table class="rb-index-symptoms"><thead><tr><th>status</th><th>finding</th><th>seen by</th><th>id</th></tr></thead><tbody>{rows}</tbody></table>' if symptoms else ''}
{f'<p class="muted">and {more} more in the reports below</p>' if more > 0 else ''}
<p class="muted">{checked} check(s) passed{f", {context} note(s) for context" if context else ""}; every finding is in the runbooks' reports.</p>
<h2>Runbooks run</h2>
<table class="rb-index-scenarios"><thead><tr><th>status</th><th>runbook</th><th>title</th><th>why it ran</th><th>error</th><th>time</th></tr></thead>
<tbody>{scen_rows}</tbody></table>
<h2>Parameters</h2><table class="rb-index-params">{params}</table>
<footer>{versions}<br>Bundle: every file is listed in MANIFEST.sha256 and signed in MANIFEST.sig
({_e(signature.get('kind', ''))} key {_e(signature.get('fingerprint', ''))}). Check with
<code>runbook verify DIR --public-key KEY.pub</code> or <code>sha256sum -c MANIFEST.sha256</code>.</footer>
</body></html>
"""
