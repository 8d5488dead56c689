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
    result = run_scenario(sc.id, values, Path(args.output), cell_timeout=args.cell_timeout)
    status = result.report.status.value if result.report else "not finished"
    print(f"{sc.id}: {status} -> {result.html}")
    if result.error:
        print(f"runbook: {sc.id} could not finish: {result.error}", file=sys.stderr)
    return result.exit_code


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
