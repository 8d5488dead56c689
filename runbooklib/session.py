"""What a notebook's first code cell opens: validated parameters, resolved secrets, a Report, a client.

Notebooks stay narrative: ``rb = Session.start("triage", globals())`` then one ``rb.add(check_...)`` per step.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, Iterable, Mapping

import httpx

from . import params as P
from . import scenarios
from .findings import Finding, Findings, Report, Status
from .labref import running_lab_params
from .probes.endpoint import RegistryEndpoint
from .probes.http import make_client


# findings that speak about what answers at registry_url (an OK among them means nothing if that is no registry)
_ABOUT_REGISTRY = ("tags.", "catalog.", "clock.", "token.", "trust.", "push.", "schema1.", "pull.", "forwarding.")


def fill_from_running_lab(scenario_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The running lab's parameters when every value the lab would set is still at its default; else the
    values unchanged. A required value still empty then gets an error saying how to fill it."""
    schema = scenarios.get(scenario_id).schema
    untouched = all(values.get(n, s.default) == s.default for n, s in schema.items() if n != "timeout_s")
    lab_params = running_lab_params() if untouched else None
    if lab_params is not None:
        lab_values = P.load_file(lab_params)
        print(f"Parameters of the running lab ({lab_params}): set the parameters cell to target your registry.")
        return {**dict(values), **{n: v for n, v in lab_values.items() if n in schema}}
    empty = [n for n, s in schema.items() if s.required and values.get(n) in ("", None, [])]
    if empty:
        raise P.ParamError(f"parameter {empty[0]!r} is empty: set it in the parameters cell, or start the lab "
                           "(`runbook lab up`) to run this notebook against it")
    return dict(values)


class Session:
    """One scenario run inside a kernel."""

    def __init__(self, scenario_id: str, values: Mapping[str, Any], findings_path: str = "") -> None:
        self.scenario = scenarios.get(scenario_id)
        schema = self.scenario.schema
        self.values = P.validate(schema, values, scenario=scenario_id)
        self.p = SimpleNamespace(**P.resolve_all(schema, self.values))
        self.report = Report(scenario_id, parameters=dict(self.values))
        self.findings_path = findings_path
        self._http: httpx.Client | None = None
        self.cfg = SimpleNamespace(registry=None, gitlab_yml=None, gitlab_rb=None)
        self._log_scan: Any = None
        self._not_registry: Finding | None = None

    @classmethod
    def start(cls, scenario_id: str, namespace: Mapping[str, Any]) -> "Session":
        """Pick this scenario's parameters out of the notebook namespace (the `parameters` cell).

        Opened interactively with the parameters cell untouched, the running lab's parameters are used, so
        a notebook runs as is after `runbook lab up` wherever the lab lives and whatever ports it took."""
        schema = scenarios.get(scenario_id).schema
        values = {name: namespace[name] for name in schema if name in namespace}
        findings_path = str(namespace.get(P.FINDINGS_PATH, "") or "")
        from .tables import register_table_renderer

        register_table_renderer()  # every DataFrame this runbook shows reads the same way
        if not findings_path:  # not started by the runner: a person stepping through the notebook
            values = fill_from_running_lab(scenario_id, values)
        return cls(scenario_id, values, findings_path)

    @property
    def params(self) -> dict[str, Any]:
        """The resolved parameter values as a mapping, for library calls that take them all (``connect_s3``)."""
        return dict(vars(self.p))

    @property
    def registry(self) -> RegistryEndpoint:
        """The registry under test with its credentials, from the resolved parameters: one value for the probes,
        so a call cannot pair this registry's URL with some other value's password."""
        return RegistryEndpoint.from_params(vars(self.p))

    @property
    def http(self) -> httpx.Client:
        """A client bounded by `timeout_s`, trusting `ca_bundle` when given."""
        if self._http is None:
            from .probes.http import CABundleError

            try:
                self._http = make_client(float(self.p.timeout_s), getattr(self.p, "ca_bundle", "") or "")
            except CABundleError as exc:  # a finding, once; probes go on with the system store
                self.add(Finding("params.ca_bundle_unusable", Status.ERROR, "The ca_bundle parameter cannot be used",
                                 detail=f"{exc}. Probes below verify against the system store instead.",
                                 evidence={"ca_bundle": self.p.ca_bundle},
                                 remedy="Point `ca_bundle` at a readable PEM file with the CA certificate(s)."))
                self._http = make_client(float(self.p.timeout_s))
        return self._http

    def add(self, result: Finding | Iterable[Finding]) -> Findings:
        """Record a step's findings. Once the forwarding check found that no registry answers at
        `registry_url`, a later "OK" about that URL proves nothing: it is shown as not checked, with why."""
        items = [result] if isinstance(result, Finding) else list(result)
        if self._not_registry is not None:
            items = [self._not_checked(f) for f in items]
        added = self.report.add(items)
        from .probes.api import NOT_A_REGISTRY

        verdict = next((f for f in added if f.id in NOT_A_REGISTRY), None)
        if verdict is not None and self._not_registry is None:
            self._not_registry = verdict
        return added

    def _not_checked(self, f: Finding) -> Finding:
        from dataclasses import replace

        target = str(getattr(self.p, "registry_url", "") or "")
        if f.status is not Status.OK or not target:
            return f
        about_registry = f.id.startswith(_ABOUT_REGISTRY) or target.rstrip("/") in json.dumps(f.evidence, default=str)
        if not about_registry:
            return f
        v = self._not_registry
        if v is None:
            return f
        return replace(f, status=Status.SKIP, title=f"Not checked: {f.title}",
                       detail=f"{target} is not answered by a registry ({v.title}), so this result says nothing "
                              f"about the registry. {f.detail}".strip())

    def read_configs(self, *kinds: str) -> Findings:
        """Read the given configs (`registry`, `gitlab_yml`, `gitlab_rb`) into ``rb.cfg``; a file that cannot
        be read or parsed becomes an error finding and its slot stays None, so later steps skip cleanly."""
        from .config import check_config_readable, load_config

        paths = {"registry": "registry_config", "gitlab_yml": "gitlab_config", "gitlab_rb": "gitlab_rb"}
        found = Findings()
        for kind in kinds:
            path = getattr(self.p, paths[kind], "") or ""
            result = check_config_readable(path, kind)
            found.extend(result)
            if path and not any(f.status.value in ("error", "fail") for f in result):
                setattr(self.cfg, kind, load_config(path, kind))
        return self.add(found)

    @property
    def log_scan(self) -> Any:
        """The scan of `log_paths` (within `since`/`until`), made once per run; None without log_paths."""
        if self._log_scan is None and getattr(self.p, "log_paths", None):
            from .logs import scan_logs

            self._log_scan = scan_logs(self.p.log_paths, self.p.since or None, self.p.until or None)
        return self._log_scan

    def request_path(self):
        """The request path (client → proxy → registry → realm, storage) coloured by what was found."""
        from .picture import RequestPath

        return RequestPath(self.report.findings)

    def next_runbooks(self):
        """Which scenarios the findings so far point to, and why (a table; empty when all is well)."""
        import pandas as pd

        rows = scenarios.route(self.report.findings)
        return pd.DataFrame(rows, columns=["scenario", "why", "finding", "built"])

    def finish(self) -> Report:
        """Write findings.json where the runner asked (if it did) and return the report for display."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.findings_path:
            self.report.write(self.findings_path)
        return self.report
