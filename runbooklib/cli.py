"""`runbook`: list scenarios, show their parameters, run them, and drive the lab.

Bad input is one line on stderr and exit 2, before anything runs.
"""

from __future__ import annotations

import argparse
from typing import NoReturn
import json
import sys
from pathlib import Path
from typing import Sequence

from .errors import RunbookError
from . import params as P
from . import scenarios


class UsageError(RunbookError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own errors: one line, exit 2
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
    P.check_files_exist(values)
    return values


def _output_folder(path: str) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise P.ParamError(f"output folder {out} is a file, not a folder")
    return out


def _cmd_run(args: argparse.Namespace) -> int:
    from .report.runner import NotBuilt, run_scenario

    _output_folder(args.output)
    sc = _scenario(args.scenario)
    if not sc.built:
        raise NotBuilt(f"scenario {sc.id} is not built yet")
    if not sc.notebook.exists():
        raise P.ParamError(f"notebook {sc.notebook} is missing")
    values = _collect(args, sc)
    extra = P.referenced_secrets(P.load_file(args.file) if args.file else {},
                                 [(n, P.parse_override(v)) for n, v in (args.param or [])],
                                 Path(args.file).resolve().parent if args.file else None)
    progress = True if args.progress else None  # None: on when stderr is a terminal
    result = run_scenario(sc.id, values, Path(args.output), cell_timeout=args.cell_timeout, extra_secrets=extra,
                          progress=progress)
    status = result.report.status.value if result.report else "not finished"
    print(f"{sc.id}: {status} -> {result.html}")
    if result.error:
        print(f"runbook: {sc.id} could not finish: {result.error}", file=sys.stderr)
    return result.exit_code


def _cmd_triage(args: argparse.Namespace) -> int:
    from .report import manifest as M
    from .report.bundle import BundleRequest, run_bundle, scenario_ids

    _output_folder(args.output)
    file_values: dict = {}
    base = None
    if args.discover:
        from .discover import DiscoveryError, discover

        try:
            found = discover(args.root)
        except DiscoveryError as exc:
            raise P.ParamError(str(exc)) from None
        file_values = dict(found.values)
        print(f"discovered {len(found.values)} parameters under {found.root} "
              f"({', '.join(found.values)}); not derived: {', '.join(found.missing) or 'none'}", file=sys.stderr)
    if args.file:
        loaded = P.load_file(args.file)
        unknown = [k for k in loaded if k not in P.VOCABULARY]
        if unknown:
            raise P.ParamError(f"unknown parameter {unknown[0]!r} in parameter file {args.file}")
        file_values.update(loaded)
        base = Path(args.file).resolve().parent
    req = BundleRequest(
        out_dir=Path(args.output), file_values=file_values, file_base=base,
        overrides=[(n, P.parse_override(v)) for n, v in (args.param or [])],
        incident=args.incident or "", only=scenario_ids(args.only) if args.only else None,
        sign_key=args.sign_key or "", archive=args.archive, force=args.force, cell_timeout=args.cell_timeout,
        pdf=args.pdf,
        progress=sys.stderr.isatty() or args.progress,
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


def _new_output_file(path: str, force: bool, example: str, what: str = "") -> Path:
    """An output file path that is not a folder and is not overwritten without --force (one line otherwise)."""
    out = Path(path)
    if out.is_dir():
        raise P.ParamError(f"{what}{out} is a folder: name the {example.split('.')[-1]} file inside it, e.g. {out / example}")
    if out.exists() and not force:
        raise P.ParamError(f"{out} exists (use --force to overwrite)")
    return out


def _cmd_keygen(args: argparse.Namespace) -> int:
    from .report import manifest as M

    out = _new_output_file(args.out, args.force, "bundle.key")
    if not out.parent.exists():
        try:
            out.parent.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise P.ParamError(f"cannot create folder {out.parent}: {exc.strerror}") from None
    private, public = M.generate_key(out)
    print(f"private key {private} (mode 0600): pass it as --sign-key file:{private}")
    print(f"public key  {public}: give it to whoever verifies bundles")
    print(f"fingerprint {M.key_fingerprint(M.load_public_key(public))}: "
          "or pin by it (`runbook verify DIR --trust FINGERPRINT`)")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from .report import manifest as M

    if args.public_key and args.trust:
        raise P.ParamError("verify: give --public-key or --trust, not both")
    try:
        v = M.verify(Path(args.dir), Path(args.public_key) if args.public_key else None, args.trust or "")
    except M.BundleError as exc:
        raise P.ParamError(str(exc)) from None
    for problem in v.manifest_problems:
        print(f"manifest rejected: {problem}")
    if v.manifest_problems:
        print("manifest rejected: no file was hashed (a manifest may only name files inside the bundle)")
    for rel, what in v.rejected:
        print(f"rejected: {rel} ({what})")
    for rel in v.changed:
        print(f"changed: {rel}")
    for rel in v.missing:
        print(f"missing: {rel}")
    for rel in v.extra:
        print(f"extra:   {rel}")
    if v.pinned == "public-key":
        signer = f"pinned key {args.public_key}, {v.key}"
    elif v.pinned == "fingerprint":
        signer = f"bundle key {v.key or 'none'}, trusted {v.trusted}"
    else:
        signer = f"the bundle's own key {v.key}" if v.key else "no key"
    print(f"signature: {v.signature} ({signer})")
    if v.signature == "untrusted":
        print(f"signature: valid, but by {v.key}, not the trusted {v.trusted}")
    if v.exit_code == 3:
        print(f"integrity only: signer not pinned (signed by {v.key}); compare it with your signing key's "
              "fingerprint and pin it with --trust SHA256:<hex> or --public-key FILE")
    else:
        print("bundle verified" if v.ok else "bundle NOT verified")
    return v.exit_code


def _cmd_open(args: argparse.Namespace) -> int:
    from .workbench import prepare_notebook, start_jupyterlab

    sc = _scenario(args.scenario)
    if not sc.built:
        raise P.ParamError(f"scenario {sc.id} is not built yet")
    values = _collect(args, sc) if (args.file or args.param) else {}
    given = list(P.load_file(args.file)) if args.file else []
    given += [name for name, _ in (args.param or [])]
    prepared = prepare_notebook(sc.id, values, [n for n in dict.fromkeys(given) if n in sc.schema],
                                Path(args.dir), force=args.force)
    if args.print_path or args.no_browser:
        print(prepared.notebook)
        return 0
    proc, url = start_jupyterlab(prepared.notebook)
    print(f"JupyterLab: {url}\n(stop it with Ctrl-C)", flush=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=10)
        return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report.postmortem import PdfError, print_bundle

    folder = Path(args.bundle)
    if not (folder / "index.html").is_file():
        raise P.ParamError(f"{folder} is not a bundle (no index.html)")
    out = Path(args.output) if args.output else folder.parent / f"{folder.name}-pdf"
    if out.resolve() == folder.resolve():
        raise P.ParamError("-o must not be the bundle itself: a PDF added there would break its signed manifest")
    try:
        written = print_bundle(folder, out)
    except PdfError as exc:
        raise P.ParamError(str(exc)) from None
    print(f"{len(written)} PDF(s) in {out}: " + ", ".join(p.name for p in written))
    return 0


def _cmd_kernel(args: argparse.Namespace) -> int:
    from .kernel import install_kernel_spec, user_kernels_dir

    where = user_kernels_dir() if args.user else Path(sys.prefix) / "share" / "jupyter" / "kernels"
    folder = install_kernel_spec(where)
    print(f"kernel 'runbook' ({sys.executable}) registered in {folder}")
    return 0


def _cmd_discover(args: argparse.Namespace) -> int:
    from .discover import DiscoveryError, discover, render_params

    out = _new_output_file(args.output, args.force, "params.yaml", "-o ") if args.output != "-" else Path("-")
    try:
        found = discover(args.root)
    except DiscoveryError as exc:
        raise P.ParamError(str(exc)) from None
    text = render_params(found)
    if str(out) == "-":
        sys.stdout.write(text)
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}: {len(found.values)} parameters derived, {len(found.missing)} to set by hand "
          f"({', '.join(found.missing) or 'none'})")
    for problem in found.problems:
        print(f"  could not read: {problem}")
    return 0


def _cmd_lab(args: argparse.Namespace) -> int:
    from .lab import control

    state = Path(args.state_dir) if args.state_dir else None
    try:
        if args.action == "up":
            lab = control.up(state, args.fault or [], free_ports=args.free_ports)
            control.record_current(lab)
            print(f"lab up in {lab.state_dir} (faults: {', '.join(lab.faults) or 'none'})")
            print(f"registry {lab.url('registry')}  debug {lab.url('debug')}  realm {lab.url('issuer')}/jwt/auth")
            print(f"parameters: {lab.params_path}")
            defaults = control.default_ports()
            if not args.free_ports and lab.ports != defaults:
                busy = ", ".join(f"{n} {p}" for n, p in defaults.items() if lab.ports.get(n) != p)
                print(f"runbook lab: WARNING default ports were busy ({busy}): the lab moved to free ports. "
                      f"Use -f {lab.params_path}; notebooks opened unchanged follow the lab.", file=sys.stderr)
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


def _cmd_inventory_sql(args: argparse.Namespace) -> int:
    from .s3 import inventory_sql as Q
    from .s3.client import normalise_root
    from .s3.inventory import InventoryError

    try:
        table = Q.engine_table(args.manifest or "", args.location or "", args.format or "", args.table or "",
                               args.schema or "", args.dt or "")
    except (ValueError, InventoryError) as exc:
        raise P.ParamError(f"inventory-sql: {exc}") from None
    layout = Q.Layout.of_root(normalise_root(args.root or "") + "docker/registry/v2/")
    try:
        statements = Q.program(layout, table, args.dialect)
    except ValueError as exc:
        raise P.ParamError(f"inventory-sql: {exc}") from None
    if not args.manifest:
        print("inventory-sql: no --manifest: location, dt and the data files are placeholders or guesses; "
              + ("CSV columns are AWS's full list (give --manifest: CSV has no header). " if table.file_format == "CSV" else "")
              + "Check them before running.", file=sys.stderr)
    text = Q.render(statements, args.dialect)
    if not args.output:
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise P.ParamError(f"output folder {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"registry-{args.dialect}.sql").write_text(text, encoding="utf-8")
    for n, (name, sql) in enumerate(statements):
        (out / f"{n:02d}-{name}.sql").write_text(sql.rstrip().rstrip(";") + ";\n", encoding="utf-8")
    print(f"wrote {out / f'registry-{args.dialect}.sql'} and one file per statement ({len(statements)}) in {out}")
    return 0


EXIT_CODES = ("exit codes: 0 = ran, no fail finding; 1 = ran, at least one fail finding; "
              "2 = could not run (bad parameters or input, notebook error, cell timeout)")


def _fault_lines() -> str:
    from .lab import faults as F

    F.load_plugins()
    width = max(len(n) for n in F.FAULTS)
    return "faults (--fault NAME, repeatable, composable):\n" + "\n".join(
        f"  {f.name:<{width}}  {f.description}" for f in sorted(F.FAULTS.values(), key=lambda f: f.name))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="runbook", description=__doc__.splitlines()[0], epilog=EXIT_CODES)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND",
                                title="commands")

    sub.add_parser("list", help="list scenarios and whether each is built").set_defaults(func=_cmd_list)
    sub.add_parser("logs", help="scan logs for known error signatures (runbook logs PATH... [--since T] [--json])")

    p = sub.add_parser("params", help="show a scenario's parameters")
    p.add_argument("scenario")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_params)

    o = sub.add_parser("open", help="copy a runbook with its parameters into a work folder and open it in JupyterLab")
    o.add_argument("scenario")
    o.add_argument("-f", "--file", help="YAML parameter file")
    o.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), help="set a parameter")
    o.add_argument("--dir", default=".", help="work folder for the notebook (default: the current folder)")
    o.add_argument("--force", action="store_true", help="replace the notebook if the work folder has one")
    o.add_argument("--no-browser", action="store_true", help="only write the notebook (print its path)")
    o.add_argument("--print-path", action="store_true", help="same as --no-browser")
    o.set_defaults(func=_cmd_open)

    rp = sub.add_parser("report", help="print a bundle's index and reports to PDF (beside it, never inside it)")
    rp.add_argument("bundle")
    rp.add_argument("--pdf", action="store_true", default=True, help="PDF (the only format so far)")
    rp.add_argument("-o", "--output", help="folder for the PDFs (default: BUNDLE-pdf beside the bundle)")
    rp.set_defaults(func=_cmd_report)

    kn = sub.add_parser("kernel", help="register the 'runbook' Jupyter kernel (this Python) for any JupyterLab")
    kn.add_argument("action", choices=["install"])
    kn.add_argument("--user", action="store_true", help="for every Jupyter of this user (default: this environment's)")
    kn.set_defaults(func=_cmd_kernel)

    d = sub.add_parser("discover", help="write a parameter file from an Omnibus host's own files")
    d.add_argument("--root", default="/", help="where the Omnibus paths are (default: /)")
    d.add_argument("-o", "--output", default="params.yaml", help="parameter file to write ('-' = stdout)")
    d.add_argument("--force", action="store_true", help="overwrite an existing file")
    d.set_defaults(func=_cmd_discover)

    r = sub.add_parser("run", help="run one scenario notebook and write its report", epilog=EXIT_CODES)
    r.add_argument("scenario")
    r.add_argument("-f", "--file", help="YAML parameter file")
    r.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), help="override a parameter")
    r.add_argument("-o", "--output", default="reports", help="output folder (default: reports)")
    r.add_argument("--cell-timeout", type=float, default=None,
                   help="seconds a step may take (default: 60 x timeout_s, at least 300)")
    r.add_argument("--progress", action="store_true",
                   help="a line per step on stderr even when it is not a terminal (always on a terminal)")
    r.set_defaults(func=_cmd_run)

    t = sub.add_parser("triage", help="run triage and the runbooks it routes to into one signed incident bundle",
                       epilog=EXIT_CODES)
    t.add_argument("--discover", action="store_true", help="derive parameters from the Omnibus files first")
    t.add_argument("--pdf", action="store_true", help="also print the index and every report to PDF (headless Chromium)")
    t.add_argument("--root", default="/", help="with --discover: where the Omnibus paths are (default: /)")
    t.add_argument("-f", "--file", help="YAML parameter file")
    t.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), help="override a parameter")
    t.add_argument("-o", "--output", required=True, help="bundle folder (must be empty unless --force)")
    t.add_argument("--incident", help="incident id shown in the bundle")
    t.add_argument("--only", help="run these scenarios (comma-separated) instead of the routed ones; 'all' = every built one")
    t.add_argument("--sign-key", help="Ed25519 private key as env:NAME or file:PATH (default: a one-time key)")
    t.add_argument("--archive", action="store_true", help="also write DIR.tar.gz")
    t.add_argument("--force", action="store_true", help="replace the contents of a non-empty output folder")
    t.add_argument("--cell-timeout", type=float, default=None,
                   help="seconds a step may take (default: 60 x timeout_s, at least 300)")
    t.add_argument("--progress", action="store_true", help="a line per runbook and step on stderr (always on a terminal)")
    t.set_defaults(func=_cmd_triage)

    k = sub.add_parser("keygen", help="make an Ed25519 key pair for signing bundles")
    k.add_argument("out", help="private key file (OUT.pub gets the public key)")
    k.add_argument("--force", action="store_true")
    k.set_defaults(func=_cmd_keygen)

    v = sub.add_parser(
        "verify", help="check a bundle's files against its manifest and signature",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Check every file of a bundle against MANIFEST.sha256 and MANIFEST.sig. Symlinks, empty folders,\n"
                    "special files and manifest paths outside the bundle are rejected (nothing outside is read).\n"
                    "Pin the signer with --public-key or --trust: the bundle's own MANIFEST.pub proves integrity,\n"
                    "not who signed.",
        epilog="exit codes:\n"
               "  0 = verified: every file as listed, signed by the pinned key\n"
               "  1 = NOT verified: changed, missing, extra or rejected files, a rejected manifest,\n"
               "      a bad signature, or a valid one by another key than the pinned one\n"
               "  2 = could not verify: not a bundle, unreadable manifest or key (FIFO, device, too large)\n"
               "  3 = integrity only: intact and validly signed, but the signer is not pinned;\n"
               "      its fingerprint is printed (pin it with --trust SHA256:<hex>)")
    v.add_argument("dir")
    v.add_argument("--public-key", help="the signer's public key (PEM) to pin")
    v.add_argument("--trust", metavar="FINGERPRINT",
                   help="pin the signer by key fingerprint, SHA256:<hex> (SHA-256 of the raw Ed25519 public key)")
    v.set_defaults(func=_cmd_verify)

    iq = sub.add_parser("inventory-sql", help="the bucket-metrics analysis of an S3 Inventory as SQL for Athena, "
                                              "Trino or DuckDB (its CSV results feed bucket-metrics)")
    iq.add_argument("--dialect", choices=["athena", "trino", "duckdb"], default="athena")
    iq.add_argument("--manifest", help="the inventory's manifest.json (local file or folder): format, columns, "
                                       "files and date are taken from it")
    iq.add_argument("--location", help="the inventory's s3://destination/source-bucket/config-id/ folder")
    iq.add_argument("--format", choices=["Parquet", "ORC", "CSV", "parquet", "orc", "csv"])
    iq.add_argument("--root", default="", help="the registry's storage rootdirectory (s3_root), e.g. /gitlab/registry")
    iq.add_argument("--table", default="", help="table name (default registry_inventory)")
    iq.add_argument("--schema", default="", help="Trino: catalog.schema of the table and views (default hive.default)")
    iq.add_argument("--dt", default="", help="Athena: the inventory's date partition YYYY-MM-DD-HH-MM")
    iq.add_argument("-o", "--output", help="folder for the script and one file per statement (default: stdout)")
    iq.set_defaults(func=_cmd_inventory_sql)

    lab = sub.add_parser("lab", help="start, stop or inspect the local lab", epilog=_fault_lines(),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    lab.add_argument("action", choices=["up", "down", "status"])
    lab.add_argument("--state-dir", help="lab folder (default: $RUNBOOK_LAB_DIR or ~/.local/state/runbook-lab)")
    lab.add_argument("--fault", action="append", help="inject a fault (repeatable)")
    lab.add_argument("--free-ports", action="store_true", help="use free ports instead of the defaults")
    lab.set_defaults(func=_cmd_lab)
    return parser


def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM (a CI job cancelled, `timeout`, systemd) unwinds like Ctrl-C: `finally` blocks stop the kernel
    and remove its private socket folder instead of leaving /tmp/runbook-kernel-* behind."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (e.g. called from a test runner's worker)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    _exit_cleanly_on_sigterm()
    if not args_list:
        build_parser().print_help(sys.stderr)
        return 2
    try:
        if args_list[:1] == ["logs"]:  # a quick look without a notebook: `runbook logs PATH... [--json]`
            from .logs.cli import main as logs_main

            return logs_main(args_list[1:])
        args = build_parser().parse_args(args_list)
        return int(args.func(args))
    except (UsageError, P.ParamError) as exc:
        print(f"runbook: {exc}" if not str(exc).startswith("runbook") else str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("runbook: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `runbook logs ... | head`: the reader left, nothing more to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
