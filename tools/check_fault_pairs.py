"""Start the lab with every pair of faults (in canonical order, which `lab up` applies whatever order is
given) and report the pairs that do not start. Too slow for the test suite (about 4 s per pair); run it
after adding a fault: python tools/check_fault_pairs.py [--only NAME]."""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runbooklib.lab import control  # noqa: E402
from runbooklib.lab import faults as F  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="only pairs that include this fault")
    args = parser.parse_args()
    F.load_plugins()
    names = sorted(n for n in F.FAULTS if n != "none")
    pairs = [p for p in itertools.combinations(names, 2) if not args.only or args.only in p]
    failed = []
    for i, (a, b) in enumerate(pairs, 1):
        with tempfile.TemporaryDirectory(prefix="fault-pair-") as tmp:
            t0 = time.monotonic()
            try:
                control.up(Path(tmp) / "lab", [a, b], free_ports=True)
                verdict = "ok"
            except control.LabError as exc:
                verdict = f"FAILED: {exc}"
                failed.append((a, b, str(exc)))
            finally:
                control.down(Path(tmp) / "lab")
            print(f"[{i}/{len(pairs)}] {a} + {b}: {verdict} ({time.monotonic() - t0:.1f} s)", flush=True)
    print(f"{len(pairs) - len(failed)} of {len(pairs)} pairs start")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
