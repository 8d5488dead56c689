"""``python -m runbooklib.logs PATH... [--since T] [--until T] [--json]`` (and later ``runbook logs``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence, TextIO


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="runbook logs",
        description="Scan registry, NGINX and GitLab Rails logs for known error signatures.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="log file, folder (read with its rotations) or glob")
    p.add_argument("--since", help="only lines at or after this time (ISO 8601, or 30m / 2h / 7d ago)")
    p.add_argument("--until", help="only lines at or before this time")
    p.add_argument("--examples", type=int, default=5, help="redacted example lines kept per signature (default 5)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes for big plain files (default: the CPUs available, at most 4; 1 = this one)")
    p.add_argument("--json", action="store_true", help="print the scan and its findings as JSON")
    return p


_CONTROL = {c: f"\\x{c:02x}" for c in list(range(0x20)) + [0x7f] if c not in (0x09,)}
_CONTROL.update({c: f"\\u{c:04x}" for c in range(0x80, 0xa0)})  # C1 controls (CSI 0x9b) act like ESC [


def terminal_safe(text: str) -> str:
    """A log line made harmless for a terminal: control characters (ESC, CR, BEL, C1) shown escaped, so a
    line cannot move the cursor, recolour the screen or set the window title."""
    return str(text).translate(_CONTROL)


def _print_text(scan, findings, out: TextIO) -> None:
    from ..findings import worst

    out.write(f"scanned {len(scan.files)} file(s), {scan.bytes_scanned / 1048576:.1f} MiB; "
              f"{scan.lines_matched} matching line(s), {scan.unparsed} unparsed\n")
    for st in scan.matched:
        out.write(f"  {st.effective_severity:4}  {st.count:>8}  {st.signature.id:28}  -> {st.signature.scenario}\n")
        for ex in st.examples[:1]:
            out.write(f"        e.g. {terminal_safe(ex[:200])}\n")
    for loop in scan.uploads.loops():
        out.write(f"  fail  {loop.starts:>8}  push-retry-loop               -> push-retry-relative-urls: "
                  f"{loop.describe()}\n")
    for p in scan.problems:
        out.write(f"  not read: {terminal_safe(p.path)}: {terminal_safe(p.reason)}\n")
    for info in scan.files:
        if info.unparsed:
            out.write(f"  unparsed: {terminal_safe(info.path)}: {info.unparsed} line(s) in no known format ({info.format})"
                      + (f", e.g. {terminal_safe(info.unparsed_sample[:120])}" if info.unparsed_sample else "") + "\n")
    from .views import suggested_scenarios

    suggested = suggested_scenarios(scan)
    if suggested:
        out.write("next:\n")
        for sug in suggested[:5]:
            out.write(f"  runbook run {sug.scenario}   # {terminal_safe(sug.why[:160])}\n")
    out.write("findings:\n")
    for f in findings:
        out.write(f"  {f.status.value.upper():5} {f.id}: {terminal_safe(f.title)}\n")
    out.write(f"worst: {worst(findings).value}\n")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Exit 0 when nothing failed, 1 when a finding fails, 2 when the arguments are wrong or nothing was read."""
    from ..findings import Status
    from .checks import check_logs
    from .engine import scan_logs

    out = out or sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:
        return int(exc.code or 0) and 2
    try:
        scan = scan_logs(args.paths, since=args.since, until=args.until, examples=args.examples,
                         workers=args.workers)
    except ValueError as exc:  # a bad --since/--until
        sys.stderr.write(f"runbook logs: {exc}\n")
        return 2
    findings = check_logs(scan)
    if args.json:
        data = scan.to_json()
        data["findings"] = [f.to_dict() for f in findings]
        json.dump(data, out, indent=2, ensure_ascii=False, default=str)
        out.write("\n")
    else:
        _print_text(scan, findings, out)
    if not scan.files:
        return 2
    return 1 if any(f.status == Status.FAIL for f in findings) else 0
