"""`runbook triage` (one bundle) vs separate `runbook run` calls of the same notebooks, on a faulted lab.

Prints medians and the ratio. Targets: the bundle ≤ 60 s on this machine and no slower than the separate
runs. Usage: python benchmarks/bundle.py [--runs N] [--fault NAME ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runbooklib.lab import control  # noqa: E402

DEFAULT_FAULTS = ["stale-uploads", "untrusted-token-key", "missing-forwarded-proto"]  # stale-uploads first: it needs a working token


def _cli(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "runbooklib.cli", *args], capture_output=True, text=True, cwd=ROOT)
    return time.perf_counter() - t0, res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--fault", action="append", help=f"faults to inject (default: those of {DEFAULT_FAULTS} that exist)")
    args = ap.parse_args()
    from runbooklib.lab import faults as F

    F.load_plugins()
    faults = args.fault or [f for f in DEFAULT_FAULTS if f in F.FAULTS]
    work = Path(tempfile.mkdtemp(prefix="rb-bench-bundle-"))
    lab = control.up(work / "lab", faults, free_ports=True)
    try:
        bundle_times, separate_times, routed = [], [], []
        for i in range(args.runs):
            took, res = _cli("triage", "-f", str(lab.params_path), "-o", str(work / f"bundle-{i}"))
            if res.returncode not in (0, 1):
                raise SystemExit(f"runbook triage failed: {res.stderr.strip()[-400:]}")
            bundle_times.append(took)
            summary = json.loads((work / f"bundle-{i}" / "findings.json").read_text())
            routed = [s["id"] for s in summary["scenarios"] if s["html"]]
            total = 0.0
            for sid in routed:
                took, res = _cli("run", sid, "-f", str(lab.params_path), "-o", str(work / f"sep-{i}"))
                total += took
            separate_times.append(total)
    finally:
        control.down(work / "lab")
        shutil.rmtree(work, ignore_errors=True)
    b, s = statistics.median(bundle_times), statistics.median(separate_times)
    print(f"faults: {', '.join(faults)}; notebooks in the bundle: {', '.join(routed)}")
    print(f"runbook triage (one bundle):     median {b:.2f} s  runs {', '.join(f'{x:.2f}' for x in bundle_times)}")
    print(f"separate runbook run calls:      median {s:.2f} s  runs {', '.join(f'{x:.2f}' for x in separate_times)}")
    print(f"ratio bundle/separate: {b / s:.2f}x (target <= 1.0x); bundle {'within' if b <= 60 else 'OVER'} 60 s")


if __name__ == "__main__":
    main()
