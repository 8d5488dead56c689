"""`runbook`: list scenarios, show their parameters, run them, and drive the lab.

Bad input is one line on stderr and exit 2, before anything runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from . import params as P
from . import scenarios


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        raise UsageError(f"{self.prog}: {message}")


def _cmd_list(args: argparse.Namespace) -> int:
    width = max(len(s) for s in scenarios.CATALOGUE)
    for sc in scenarios.CATALOGUE.values():
        mark = "built    " if sc.built else "not built"
        print(f"{sc.id:<{width}}  {mark}  {sc.title}")
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    sc = _scenario(args.scenario)
    rows = []
    for spec in sc.schema.values():
        rows.append({"name": spec.name, "type": spec.type, "default": spec.default, "required": spec.required,
                     "secret": spec.secret, "description": spec.description})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{sc.id}: {sc.title}\n")
    for r in rows:
        flags = ",".join(f for f, on in (("required", r["required"]), ("secret", r["secret"])) if on)
        print(f"  {r['name']:<16} {r['type']:<6} default={r['default']!r:<22} {flags:<16} {r['description']}")
    return 0


def _scenario(scenario_id: str) -> scenarios.Scenario:
    try:
        return scenarios.get(scenario_id)
    except KeyError as exc:
        raise P.ParamError(str(exc.args[0])) from None


def _collect(args: argparse.Namespace, sc: scenarios.Scenario) -> dict:
    file_values = {}
    base = None
    if args.file:
        file_values = P.load_file(args.file)
        base = Path(args.file).resolve().parent
    overrides = [(name, P.parse_override(value)) for name, value in (args.param or [])]
    values = P.validate(sc.schema, file_values, overrides, scenario=sc.id, file_base=base)
    for name, spec in sc.schema.items():  # fail now, not inside the kernel, on a secret we cannot read
        if spec.secret:
            P.resolve_secret(name, values[name])
    return values


def _cmd_run(args: argparse.Namespace) -> int:
    from .report.runner import NotBuilt, run_scenario

    sc = _scenario(args.scenario)
    if not sc.built:
        raise NotBuilt(f"scenario {sc.id} is not built yet")
    if not sc.notebook.exists():
        raise P.ParamError(f"notebook {sc.notebook} is missing")
    values = _collect(args, sc)
    extra = P.referenced_secrets(P.load_file(args.file) if args.file else {},
                                 [(n, P.parse_override(v)) for n, v in (args.param or [])],
                                 Path(args.file).resolve().parent if args.file else None)
    result = run_scenario(sc.id, values, Path(args.output), cell_timeout=args.cell_timeout, extra_secrets=extra)
    status = result.report.status.value if result.report else "not finished"
    print(f"{sc.id}: {status} -> {result.html}")
    if result.error:
        print(f"runbook: {sc.id} could not finish: {result.error}", file=sys.stderr)
    return result.exit_code


def _cmd_triage(args: argparse.Namespace) -> int:
    from .report import manifest as M
    from .report.bundle import BundleRequest, run_bundle, scenario_ids

    file_values: dict = {}
    base = None
    if args.file:
        file_values = P.load_file(args.file)
        base = Path(args.file).resolve().parent
        unknown = [k for k in file_values if k not in P.VOCABULARY]
        if unknown:
            raise P.ParamError(f"unknown parameter {unknown[0]!r} in parameter file {args.file}")
    req = BundleRequest(
        out_dir=Path(args.output), file_values=file_values, file_base=base,
        overrides=[(n, P.parse_override(v)) for n, v in (args.param or [])],
        incident=args.incident or "", only=scenario_ids(args.only) if args.only else None,
        sign_key=args.sign_key or "", archive=args.archive, force=args.force, cell_timeout=args.cell_timeout,
        progress=sys.stderr.isatty(),
    )
    try:
        result = run_bundle(req)
    except M.BundleError as exc:
        raise P.ParamError(str(exc)) from None
    s = result.summary
    print(f"incident {s['incident']}: {s['status']} ({len(s['scenarios'])} runbooks) -> {result.out_dir / 'index.html'}")
    for e in s["scenarios"]:
        print(f"  {e['id']:<26} {e['status'] or 'not run':<6} {e['why']}" + (f"  [{e['error']}]" if e["error"] else ""))
    if result.archive:
        print(f"archive: {result.archive}")
    return result.exit_code


def _cmd_keygen(args: argparse.Namespace) -> int:
    from .report import manifest as M

    out = Path(args.out)
    if out.exists() and not args.force:
        raise P.ParamError(f"{out} exists (use --force to overwrite)")
    private, public = M.generate_key(out)
    print(f"private key {private} (mode 0600): pass it as --sign-key file:{private}")
    print(f"public key  {public}: give it to whoever verifies bundles")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from .report import manifest as M

    try:
        v = M.verify(Path(args.dir), Path(args.public_key) if args.public_key else None)
    except M.BundleError as exc:
        raise P.ParamError(str(exc)) from None
    for rel in v.changed:
        print(f"changed: {rel}")
    for rel in v.missing:
        print(f"missing: {rel}")
    for rel in v.extra:
        print(f"extra:   {rel}")
    pinned = "pinned key" if args.public_key else "the bundle's own key (pass --public-key to pin)"
    print(f"signature: {v.signature} ({pinned}{', ' + v.key if v.key else ''})")
    print("bundle verified" if v.ok else "bundle NOT verified")
    return 0 if v.ok else 1


def _cmd_lab(args: argparse.Namespace) -> int:
    from .lab import control

    state = Path(args.state_dir) if args.state_dir else None
    try:
        if args.action == "up":
            lab = control.up(state, args.fault or [], free_ports=args.free_ports)
            print(f"lab up in {lab.state_dir} (faults: {', '.join(lab.faults) or 'none'})")
            print(f"registry {lab.url('registry')}  debug {lab.url('debug')}  realm {lab.url('issuer')}/jwt/auth")
            print(f"parameters: {lab.params_path}")
            return 0
        if args.action == "down":
            stopped = control.down(state)
            print(f"lab down: stopped {', '.join(stopped) if stopped else 'nothing (no lab running)'}")
            return 0
        info = control.status(state)
        print(json.dumps(info, indent=2))
        return 0 if info["running"] else 1
    except control.LabError as exc:
        print(f"runbook lab: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="runbook", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", help="list scenarios and whether each is built").set_defaults(func=_cmd_list)
    sub.add_parser("logs", help="scan logs for known error signatures (runbook logs PATH... [--since T] [--json])")

    p = sub.add_parser("params", help="show a scenario's parameters")
    p.add_argument("scenario")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_params)

    r = sub.add_parser("run", help="run one scenario notebook and write its report")
    r.add_argument("scenario")
    r.add_argument("-f", "--file", help="YAML parameter file")
    r.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), help="override a parameter")
    r.add_argument("-o", "--output", default="reports", help="output folder (default: reports)")
    r.add_argument("--cell-timeout", type=float, default=None, help="seconds a step may take")
    r.set_defaults(func=_cmd_run)

    t = sub.add_parser("triage", help="run triage and the runbooks it routes to into one signed incident bundle")
    t.add_argument("-f", "--file", help="YAML parameter file")
    t.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), help="override a parameter")
    t.add_argument("-o", "--output", required=True, help="bundle folder (must be empty unless --force)")
    t.add_argument("--incident", help="incident id shown in the bundle")
    t.add_argument("--only", help="run these scenarios (comma-separated) instead of the routed ones; 'all' = every built one")
    t.add_argument("--sign-key", help="Ed25519 private key as env:NAME or file:PATH (default: a one-time key)")
    t.add_argument("--archive", action="store_true", help="also write DIR.tar.gz")
    t.add_argument("--force", action="store_true", help="replace the contents of a non-empty output folder")
    t.add_argument("--cell-timeout", type=float, default=None, help="seconds a step may take")
    t.set_defaults(func=_cmd_triage)

    k = sub.add_parser("keygen", help="make an Ed25519 key pair for signing bundles")
    k.add_argument("out", help="private key file (OUT.pub gets the public key)")
    k.add_argument("--force", action="store_true")
    k.set_defaults(func=_cmd_keygen)

    v = sub.add_parser("verify", help="check a bundle's files against its manifest and signature")
    v.add_argument("dir")
    v.add_argument("--public-key", help="the signer's public key (PEM) to pin")
    v.set_defaults(func=_cmd_verify)

    lab = sub.add_parser("lab", help="start, stop or inspect the local lab")
    lab.add_argument("action", choices=["up", "down", "status"])
    lab.add_argument("--state-dir", help="lab folder (default: $RUNBOOK_LAB_DIR or ~/.local/state/runbook-lab)")
    lab.add_argument("--fault", action="append", help="inject a fault (repeatable)")
    lab.add_argument("--free-ports", action="store_true", help="use free ports instead of the defaults")
    lab.set_defaults(func=_cmd_lab)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["logs"]:  # a quick look without a notebook: `runbook logs PATH... [--json]`
        from .logs.cli import main as logs_main

        return logs_main(args_list[1:])
    try:
        args = build_parser().parse_args(args_list)
        return int(args.func(args))
    except (UsageError, P.ParamError) as exc:
        print(f"runbook: {exc}" if not str(exc).startswith("runbook") else str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("runbook: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
