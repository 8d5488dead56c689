"""A tiny svlogd: prefix each line from stdin with Omnibus's timestamp and append it to DIR/current.

Omnibus runs the registry under runit, whose svlogd writes `YYYY-MM-DD_HH:MM:SS.xxxxx <line>`; the lab
keeps its registry log the same way so log readers meet the real format.
Run as ``python -m runbooklib.lab.svlog DIR``.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path


def prefix(now: dt.datetime) -> str:
    return now.strftime("%Y-%m-%d_%H:%M:%S.") + f"{now.microsecond // 10:05d} "


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    folder = Path(args[0])
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "current", "ab", buffering=0) as out:
        for raw in sys.stdin.buffer:
            now = dt.datetime.now(dt.timezone.utc)
            out.write(prefix(now).encode() + raw if raw.endswith(b"\n") else prefix(now).encode() + raw + b"\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
