"""Captures: import a HAR file (browsers' devtools, ``mitmdump --set hardump=FILE``) and run the same hop
analysis as the canary push, so GitLab's documented mitmproxy walk-through ends in a table naming the failing hop.

How to capture a Docker push (GitLab's documented mitmproxy section, ending in a file instead of a screen):
``mitmdump --listen-port 9000 --set hardump=/tmp/push.har``, start ``dockerd`` with
``HTTP_PROXY``/``HTTPS_PROXY=http://localhost:9000`` (and mitmproxy's CA trusted), ``docker push ...``, then stop
mitmdump: it writes the HAR. The canary push can write its own trace as HAR too (:func:`write_har`).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Iterable

from ..config._yaml import mapping
from ..errors import RunbookError
from ..findings import Finding, Status
from .hops import SEED_MITM, Hop, analyse_hops, hop_from_parts, hops_table, trace_rows
from urllib.parse import urlsplit

MAX_BYTES = 512 * 1024 * 1024
MAX_EVIDENCE_ROWS = 200
CAPTURE_HOWTO = (
    "Capture a failing push as HAR: `mitmdump --listen-port 9000 --set hardump=/tmp/push.har`; run the Docker "
    "daemon with `HTTP_PROXY=http://localhost:9000 HTTPS_PROXY=http://localhost:9000` (trust "
    "`~/.mitmproxy/mitmproxy-ca-cert.pem` as GitLab's documentation shows); `docker push`; stop mitmdump (Ctrl-C writes the "
    "file). A browser's devtools \"Save all as HAR\" works for registry API calls made from a page."
)


class HarError(RunbookError, ValueError):
    """A file that is not a HAR capture: one line naming the file and what is wrong."""


def _text_of(content: dict[str, Any]) -> bytes:
    text = content.get("text")
    if not isinstance(text, str) or not text:
        return b""
    if content.get("encoding") == "base64":
        try:
            return base64.b64decode(text[:8192], validate=False)
        except (ValueError, TypeError):
            return b""
    return text[:8192].encode("utf-8", errors="replace")


def _headers(items: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(items, list):
        for h in items:
            if isinstance(h, dict) and "name" in h:
                out[str(h["name"]).lower()] = str(h.get("value", ""))
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_har(path: str | Path) -> list[Hop]:
    """The capture's request/response pairs as hops, in order. Raises HarError for anything not a HAR."""
    from ..safefile import UnsafeFile, read_bytes

    p = Path(path).expanduser()
    try:
        raw = read_bytes(p, MAX_BYTES)
    except UnsafeFile as exc:
        reason = f"too large for a HAR capture here (limit {MAX_BYTES >> 20} MiB)" if exc.kind == "too_large" else exc.reason
        raise HarError(f"{p}: {reason}") from None
    try:
        data = json.loads(raw.decode("utf-8-sig"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise HarError(f"{p}: not a HAR file (not UTF-8 text)") from None
    except RecursionError:
        raise HarError(f"{p}: not a HAR file (JSON nested too deeply)") from None
    except json.JSONDecodeError as exc:
        raise HarError(f"{p}: not a HAR file (not JSON: {exc.msg} at line {exc.lineno})") from None
    except ValueError as exc:  # Infinity / NaN: not JSON numbers, and nothing a capture tool writes
        raise HarError(f"{p}: not a HAR file ({exc})") from None
    log = data.get("log") if isinstance(data, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise HarError(f"{p}: JSON but not HAR (no log.entries list)")
    hops: list[Hop] = []
    for i, entry in enumerate(entries):
        req = entry.get("request") if isinstance(entry, dict) else None
        resp = entry.get("response") if isinstance(entry, dict) else None
        if not isinstance(req, dict) or not isinstance(req.get("url"), str) or not req.get("method"):
            raise HarError(f"{p}: entry {i} has no request method and URL: not a HAR capture")
        resp = resp if isinstance(resp, dict) else {}
        status = resp.get("status")
        status = int(status) if isinstance(status, (int, float)) and status > 0 else None
        headers = _headers(resp.get("headers"))
        if resp.get("redirectURL") and "location" not in headers:
            headers["location"] = str(resp["redirectURL"])
        content = mapping(resp.get("content"))
        if content.get("mimeType") and "content-type" not in headers:
            headers["content-type"] = str(content["mimeType"])
        error = "" if status is not None else str(resp.get("_error") or "no response in the capture")
        when = str(entry.get("startedDateTime", ""))[11:23]
        hops.append(hop_from_parts(str(req["method"]), req["url"], status, headers, _text_of(content), when, error))
    return hops


def write_har(entries: Iterable[dict[str, Any]] | Any, path: str | Path) -> Path:
    """Write HAR 1.2 from entries (or a canary result's ``har_entries``); URLs are already stripped."""
    items = list(getattr(entries, "har_entries", entries))
    doc = {"log": {"version": "1.2", "creator": {"name": "runbooklib canary push", "version": "0.1"},
                   "pages": [], "entries": items}}
    p = Path(path)
    p.write_text(json.dumps(doc, indent=1))
    return p


def _client_url(hops: list[Hop], registry_url: str) -> str:
    if registry_url:
        host = urlsplit(registry_url).netloc.lower()
        if any(h.host == host for h in hops):
            return registry_url
    first = next((h for h in hops if h.path.startswith("/v2")), None)
    if first is None:
        return registry_url
    parts = urlsplit(first.url)
    return f"{parts.scheme}://{parts.netloc}"


def check_har(path: str, registry_url: str = "", realm_url: str = "") -> list[Finding]:
    """Import a HAR capture and name the failing hop (same analysis as the canary push)."""
    refs = (SEED_MITM,)
    if not path:
        return [Finding("har.not_given", Status.SKIP, "No capture given",
                        detail="Give `har_file` to analyse a capture of a failing push hop by hop.", remedy=CAPTURE_HOWTO, refs=refs)]
    try:
        hops = load_har(path)
    except HarError as err:
        return [Finding("har.invalid", Status.ERROR, "The capture cannot be read as HAR", detail=str(err),
                        evidence={"file": str(path)}, remedy=CAPTURE_HOWTO, refs=refs)]
    client = _client_url(hops, registry_url)
    rows = trace_rows(hops, urlsplit(client).netloc.lower(), realm_url)
    found = [Finding("har.loaded", Status.OK, f"Capture read: {len(hops)} request(s)",
                     detail=f"{path}: {len(hops)} request(s); the client talked to {client or 'an unknown registry'}."
                     + (f" The first {MAX_EVIDENCE_ROWS} are kept as evidence."
                        if len(rows) > MAX_EVIDENCE_ROWS else ""),
                     evidence={"file": str(path), "client_url": client, "hops": rows[:MAX_EVIDENCE_ROWS]}, refs=refs)]
    found.extend(analyse_hops(hops, client, realm_url, source="capture"))
    return found


def har_table(path: str, registry_url: str = ""):
    """The capture as a hop table (empty when there is no readable capture; the finding says why)."""
    import pandas as pd

    try:
        hops = load_har(path) if path else []
    except HarError:
        hops = []
    if not hops:
        return pd.DataFrame()
    client = _client_url(hops, registry_url)
    return hops_table(hops, urlsplit(client).netloc.lower())
