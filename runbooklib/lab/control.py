"""`runbook lab up|down|status`: the real registry on a real S3 endpoint, GitLab's token realm stood in."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from ..errors import RunbookError
from . import components
from . import faults as F
from . import procs
from .image import build_oci_layout
from .omnibus_root import write_omnibus_root
from .pki import new_rsa_key, self_signed_cert, write_cert, write_key
from ..labref import current_lab_file, default_lab_state_dir

DEFAULT_PORTS = {"registry": 15000, "debug": 15001, "issuer": 15002, "s3": 15003}
SEED_IMAGE = "group/project/app"
SEED_TAG = "latest"
USERNAME = "lab-user"
ISSUER = "gitlab-issuer"
SERVICE = "container_registry"
BUCKET = "registry"
REGION = "us-east-1"
STARTUP_TIMEOUT_S = 30.0


class LabError(RunbookError, RuntimeError):
    """The lab could not start or stop; the message names the component."""


def default_state_dir() -> Path:
    return default_lab_state_dir()


def record_current(lab: "Lab") -> None:
    path = current_lab_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"state_dir": str(lab.state_dir), "params": str(lab.params_path)}) + "\n")


def forget_current(state_dir: Path) -> None:
    path = current_lab_file()
    try:
        if Path(json.loads(path.read_text())["state_dir"]) == state_dir:
            path.unlink()
    except (OSError, ValueError, KeyError):
        pass


def missing_lab_python_packages() -> list[str]:
    """Python packages of the `[lab]` extra that are not importable (moto's server needs flask too)."""
    import importlib.util

    return [name for name in ("moto", "flask", "flask_cors") if importlib.util.find_spec(name) is None]


def clean_env() -> dict[str, str]:
    """Environment for lab processes: no AWS_* (AWS_CA_BUNDLE makes the registry's S3 driver panic), no proxies."""
    drop = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k.lower() not in drop}


@dataclass
class Lab:
    """A running (or described) lab, persisted as ``<state_dir>/lab.json``."""

    state_dir: Path
    ports: dict[str, int]
    faults: list[str] = field(default_factory=list)
    pids: dict[str, dict[str, Any]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # what faults changed, e.g. registry_scheme

    # paths -------------------------------------------------------------------------------------------
    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    @property
    def registry_config_path(self) -> Path:
        return self.state_dir / "registry" / "config.yml"

    @property
    def registry_log_dir(self) -> Path:
        return self.state_dir / "logs" / "registry"

    @property
    def params_path(self) -> Path:
        return self.state_dir / "params.yaml"

    @property
    def issuer_cert_path(self) -> Path:
        return self.state_dir / "certs" / "gitlab-registry.crt"

    @property
    def issuer_key_path(self) -> Path:
        return self.state_dir / "certs" / "gitlab-registry.key"

    def url(self, component: str) -> str:
        scheme = self.options.get("registry_scheme", "http") if component == "registry" else "http"
        return f"{scheme}://127.0.0.1:{self.ports[component]}"

    @property
    def gitlab_yml_path(self) -> Path:
        return self.state_dir / "gitlab" / "gitlab.yml"

    @property
    def gitlab_rb_path(self) -> Path:
        return self.state_dir / "gitlab" / "gitlab.rb"

    @property
    def rails_log_path(self) -> Path:
        return self.state_dir / "logs" / "gitlab-rails" / "production_json.log"

    @property
    def issuer_config_path(self) -> Path:
        return self.state_dir / "issuer" / "config.json"

    def issuer_config(self) -> dict[str, Any]:
        return json.loads(self.issuer_config_path.read_text())

    def restart_issuer(self, **changes: Any) -> None:
        """Restart the token realm with changed settings (a fault that must act after seeding)."""
        cfg = {**self.issuer_config(), **changes}
        self.stop_component("issuer")
        _start_issuer(self, cfg)
        write_gitlab_stand_ins(self)

    def secret(self, name: str) -> str:
        return (self.secrets_dir / name).read_text().strip()

    # persistence -------------------------------------------------------------------------------------
    def save(self) -> None:
        data = asdict(self)
        data["state_dir"] = str(self.state_dir)
        (self.state_dir / "lab.json").write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, state_dir: Path) -> "Lab | None":
        path = state_dir / "lab.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(Path(data["state_dir"]), data["ports"], data.get("faults", []), data.get("pids", {}),
                   data.get("options", {}))

    def running(self) -> dict[str, bool]:
        return {name: procs.is_alive(p["pid"], p["cmd"]) for name, p in self.pids.items()}

    # processes ---------------------------------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], log: Path, **kwargs: Any) -> subprocess.Popen:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = kwargs.pop("stdout", None)
        with open(log, "ab") as fh:
            proc = subprocess.Popen(
                argv, stdout=out if out is not None else fh, stderr=out if out is not None else fh,
                stdin=kwargs.pop("stdin", subprocess.DEVNULL), env=kwargs.pop("env", clean_env()),
                start_new_session=True, **kwargs,
            )
        self.pids[name] = {"pid": proc.pid, "cmd": " ".join(argv)[:200].split(" ")[0]}
        self.save()
        return proc

    def stop_component(self, name: str) -> None:
        """Stop one component (tests use this to break a running lab for real)."""
        entry = self.pids.get(name)
        if entry and not procs.stop(entry["pid"], entry["cmd"]):
            raise LabError(f"could not stop {name} (pid {entry['pid']})")


def _registry_config(lab: Lab) -> dict[str, Any]:
    return {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "fields": {"service": "registry"}},
        "storage": {
            "s3": {
                "accesskey": lab.secret("s3_access_key"),
                "secretkey": lab.secret("s3_secret_key"),
                "region": REGION,
                "regionendpoint": lab.url("s3"),
                "bucket": BUCKET,
                "secure": False,
                "v4auth": True,
                "rootdirectory": "/",
            },
            "redirect": {"disable": True},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {
            "addr": f"127.0.0.1:{lab.ports['registry']}",
            "secret": secrets.token_hex(16),
            "headers": {"X-Content-Type-Options": ["nosniff"]},
            "debug": {"addr": f"127.0.0.1:{lab.ports['debug']}", "prometheus": {"enabled": True, "path": "/metrics"}},
        },
        "auth": {
            "token": {
                "realm": f"{lab.url('issuer')}/jwt/auth",
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(lab.issuer_cert_path),
                "autoredirect": False,
            }
        },
        "health": {"storagedriver": {"enabled": True, "interval": "2s", "threshold": 2}},
    }


def _issuer_config(lab: Lab) -> dict[str, Any]:
    return {
        "port": lab.ports["issuer"],
        "key_path": str(lab.issuer_key_path),
        "issuer": ISSUER,
        "username": USERNAME,
        "password_file": str(lab.secrets_dir / "password"),
        "clock_offset_s": 0,
        "rails_log": str(lab.rails_log_path),
    }


def _write_secret(lab: Lab, name: str, value: str) -> None:
    path = lab.secrets_dir / name
    path.write_text(value + "\n")
    os.chmod(path, 0o600)


def _prepare(lab: Lab) -> None:
    for sub in ("secrets", "certs", "registry", "logs", "oci", "issuer", "gitlab"):
        shutil.rmtree(lab.state_dir / sub, ignore_errors=True)
        (lab.state_dir / sub).mkdir(parents=True)
    os.chmod(lab.secrets_dir, 0o700)
    _write_secret(lab, "password", "lab-" + secrets.token_hex(12))
    _write_secret(lab, "s3_access_key", "LAB" + secrets.token_hex(8).upper())
    _write_secret(lab, "s3_secret_key", secrets.token_urlsafe(30))
    key = new_rsa_key()
    write_key(lab.issuer_key_path, key)
    write_cert(lab.issuer_cert_path, self_signed_cert(key, "registry-auth"))


def _start_s3(lab: Lab) -> None:
    import boto3
    from botocore.config import Config

    proc = lab.spawn("s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(lab.ports["s3"])],
                     lab.state_dir / "logs" / "s3.log")
    procs.wait_for_port(lab.ports["s3"], STARTUP_TIMEOUT_S, proc, "moto_server (S3)")
    s3 = boto3.client("s3", endpoint_url=lab.url("s3"), region_name=REGION,
                      aws_access_key_id=lab.secret("s3_access_key"),
                      aws_secret_access_key=lab.secret("s3_secret_key"),
                      config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3}))
    s3.create_bucket(Bucket=BUCKET)


def _start_issuer(lab: Lab, cfg: dict[str, Any]) -> None:
    path = lab.issuer_config_path
    path.write_text(json.dumps(cfg, indent=2))
    lab.rails_log_path.parent.mkdir(parents=True, exist_ok=True)
    lab.rails_log_path.touch()
    proc = lab.spawn("issuer", [sys.executable, "-m", "runbooklib.lab.issuer", str(path)],
                     lab.state_dir / "logs" / "issuer.log")
    procs.wait_for_port(lab.ports["issuer"], STARTUP_TIMEOUT_S, proc, "token issuer")


def _start_registry(lab: Lab, cfg: dict[str, Any]) -> None:
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not os.path.exists(binary):
        raise LabError("docker-registry is not installed (apt-get install docker-registry, or `make setup`)")
    lab.registry_config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    os.chmod(lab.registry_config_path, 0o600)
    svlog = lab.spawn("registry-log", [sys.executable, "-m", "runbooklib.lab.svlog", str(lab.registry_log_dir)],
                      lab.state_dir / "logs" / "svlog.log", stdin=subprocess.PIPE)
    assert svlog.stdin is not None
    env = {**clean_env(), **lab.options.get("registry_env", {})}  # a fault may route the registry (HTTP_PROXY)
    proc = lab.spawn("registry", [binary, "serve", str(lab.registry_config_path)],
                     lab.state_dir / "logs" / "registry.stderr", stdout=svlog.stdin, env=env)
    svlog.stdin.close()
    procs.wait_for_port(lab.ports["registry"], STARTUP_TIMEOUT_S, proc, "docker-registry")


def _seed(lab: Lab) -> None:
    """Push a real image with skopeo through the token flow, the way a client would."""
    skopeo = shutil.which("skopeo")
    if not skopeo:
        raise LabError("skopeo is not installed (apt-get install skopeo, or `make setup`)")
    layout = lab.state_dir / "oci" / "image"
    build_oci_layout(layout, SEED_TAG)
    host = f"127.0.0.1:{lab.ports['registry']}"
    auth = base64.b64encode(f"{USERNAME}:{lab.secret('password')}".encode()).decode()
    authfile = lab.secrets_dir / "auth.json"
    authfile.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    os.chmod(authfile, 0o600)
    argv = [skopeo, "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
            "--dest-authfile", str(authfile), f"oci:{layout}:{SEED_TAG}", f"docker://{host}/{SEED_IMAGE}:{SEED_TAG}"]
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=clean_env())
    except subprocess.TimeoutExpired:
        raise LabError("seeding the lab: skopeo copy timed out after 60 s") from None
    if res.returncode != 0:
        raise LabError(f"seeding the lab: skopeo copy failed: {res.stderr.strip().splitlines()[-1:] or res.returncode}")


def write_gitlab_stand_ins(lab: Lab) -> None:
    """gitlab.yml and gitlab.rb as Omnibus writes them, describing this lab (so config readers meet them)."""
    issuer = lab.issuer_config()
    reg_port = lab.ports["registry"]
    gitlab_yml = {
        "production": {
            "gitlab": {"host": "127.0.0.1", "port": lab.ports["issuer"], "https": False},
            "registry": {
                "enabled": True,
                "host": "127.0.0.1",
                "port": reg_port,
                "api_url": f"{lab.url('registry')}",
                "key": issuer["key_path"],
                "path": str(lab.state_dir / "gitlab" / "shared" / "registry"),
                "issuer": issuer["issuer"],
                "notification_secret": _optional_secret(lab, "notification_secret"),
            },
        }
    }
    text = yaml.safe_dump(gitlab_yml, sort_keys=False).replace("production:", "production: &base", 1)
    lab.gitlab_yml_path.write_text("# Stand-in for /var/opt/gitlab/gitlab-rails/etc/gitlab.yml\n" + text +
                                   "\ndevelopment:\n  <<: *base\n")
    rb = [
        "## Stand-in for /etc/gitlab/gitlab.rb (only the registry's settings)",
        f"external_url 'http://127.0.0.1:{lab.ports['issuer']}'",
        f"registry_external_url '{lab.url('registry')}'",
        "gitlab_rails['registry_enabled'] = true",
        f"gitlab_rails['registry_issuer'] = \"{issuer['issuer']}\"",
        f"registry['registry_http_addr'] = \"127.0.0.1:{reg_port}\"",
        f"registry['debug_addr'] = \"127.0.0.1:{lab.ports['debug']}\"",
        "registry['log_level'] = 'info'",
        "registry['storage'] = {",
        "  's3' => {",
        f"    'accesskey' => '{lab.secret('s3_access_key')}',",
        f"    'secretkey' => '{lab.secret('s3_secret_key')}',",
        f"    'bucket' => '{BUCKET}',",
        f"    'region' => '{REGION}',",
        f"    'regionendpoint' => '{lab.url('s3')}'  # moto_server stands in for S3",
        "  },",
        "  'redirect' => { 'disable' => true }",
        "}",
    ]
    rb += _notification_lines(lab)
    lab.gitlab_rb_path.write_text("\n".join(rb) + "\n")
    os.chmod(lab.gitlab_rb_path, 0o600)


def _optional_secret(lab: Lab, name: str) -> str | None:
    path = lab.secrets_dir / name
    return path.read_text().strip() if path.exists() else None


def _notification_lines(lab: Lab) -> list[str]:
    """gitlab.rb's notification settings as GitLab documents them, when a fault configured notifications."""
    endpoint = lab.options.get("notification_endpoint")
    if not endpoint:
        return []
    rails_side = _optional_secret(lab, "notification_secret")
    registry_side = _optional_secret(lab, "notification_secret_registry")
    lines = [
        f"registry['notification_secret'] = '{registry_side}'",
        "registry['notifications'] = [",
        "  {",
        f"    'name' => '{endpoint['name']}',",
        f"    'url' => '{endpoint['url']}',",
        f"    'timeout' => '{endpoint['timeout']}',",
        f"    'threshold' => {endpoint['threshold']},",
        f"    'backoff' => '{endpoint['backoff']}',",
        f"    'headers' => {{ 'Authorization' => ['{registry_side}'] }}",
        "  }",
        "]",
    ]
    if rails_side is not None:
        lines.append(f"gitlab_rails['registry_notification_secret'] = '{rails_side}'")
    return lines


def write_params(lab: Lab) -> None:
    """The lab's own parameter file: DESIGN.md's vocabulary, secrets as file: references."""
    params = {
        "registry_url": lab.url("registry"),
        "service": SERVICE,
        "username": USERNAME,
        "password": f"file:{lab.secrets_dir / 'password'}",
        "repository": SEED_IMAGE,
        "debug_url": lab.url("debug"),
        "log_paths": [str(lab.registry_log_dir), str(lab.rails_log_path.parent)],
        "registry_config": str(lab.registry_config_path),
        "gitlab_config": str(lab.gitlab_yml_path),
        "gitlab_rb": str(lab.gitlab_rb_path),
        "s3_bucket": BUCKET,
        "s3_region": REGION,
        "s3_endpoint": lab.url("s3"),
        "s3_root": "",
        "s3_access_key": f"file:{lab.secrets_dir / 's3_access_key'}",
        "s3_secret_key": f"file:{lab.secrets_dir / 's3_secret_key'}",
        "timeout_s": 10,
    }
    for component in components.ordered():
        params.update(component.params(lab))
    params.update(lab.options.get("client_params", {}))  # a fault that puts a hop in front of clients
    lab.params_path.write_text(
        "# Written by `runbook lab up` for the lab running in this folder.\n" + yaml.safe_dump(params, sort_keys=False)
    )


def default_ports() -> dict[str, int]:
    return {**DEFAULT_PORTS, **{c.name: c.default_port for c in components.ordered()}}


def _choose_ports(free_ports: bool) -> dict[str, int]:
    wanted = default_ports()
    if not free_ports and all(procs.port_is_free(p) for p in wanted.values()):
        return wanted
    ports: dict[str, int] = {}
    while len(set(ports.values())) < len(wanted):
        ports = {name: procs.free_port() for name in wanted}
    return ports


def up(state_dir: Path | None = None, fault_names: list[str] | None = None, free_ports: bool = False) -> Lab:
    """Start the lab with the given faults; on any failure stop what was started and raise LabError."""
    state_dir = (state_dir or default_state_dir()).resolve()
    missing = missing_lab_python_packages()
    if missing:
        raise LabError(f"the lab needs {', '.join(missing)} (moto's S3 server): pip install 'runbooklib[lab]'")
    try:
        chosen = F.resolve([n for n in (fault_names or []) if n != "none"])
    except ValueError as exc:
        raise LabError(str(exc)) from None
    existing = Lab.load(state_dir)
    if existing and any(existing.running().values()):
        raise LabError(f"a lab is already running in {state_dir}; run `runbook lab down` first")
    state_dir.mkdir(parents=True, exist_ok=True)
    lab = Lab(state_dir, _choose_ports(free_ports), [f.name for f in chosen])
    try:
        _prepare(lab)
        _start_s3(lab)
        issuer_cfg = _issuer_config(lab)
        registry_cfg = _registry_config(lab)
        for fault in chosen:
            fault.issuer_config(lab, issuer_cfg)
            fault.registry_config(lab, registry_cfg)
        _start_issuer(lab, issuer_cfg)
        _start_registry(lab, registry_cfg)
        _wait_registry_ready(lab)
        _seed(lab)
        write_gitlab_stand_ins(lab)
        for component in components.ordered():
            component.start(lab)
        for fault in chosen:
            fault.after_start(lab)
        write_params(lab)
        write_omnibus_root(lab)
        lab.save()
    except Exception as exc:
        down(state_dir)
        if isinstance(exc, LabError):
            raise
        raise LabError(f"lab failed to start: {type(exc).__name__}: {exc}") from None
    return lab


def _wait_registry_ready(lab: Lab) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{lab.url('registry')}/v2/", timeout=2, trust_env=False, verify=False)
            if r.status_code == 401:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise LabError(f"docker-registry not ready within {STARTUP_TIMEOUT_S:.0f} s ({last})")


def down(state_dir: Path | None = None) -> list[str]:
    """Stop exactly the PIDs this lab started, newest first; return the names stopped."""
    state_dir = (state_dir or default_state_dir()).resolve()
    lab = Lab.load(state_dir)
    if lab is None:
        return []
    stopped = []
    failed = []
    for name, entry in reversed(list(lab.pids.items())):
        if procs.stop(entry["pid"], entry["cmd"]):
            stopped.append(name)
        else:
            failed.append(f"{name} (pid {entry['pid']})")
    lab.pids = {}
    lab.save()
    forget_current(state_dir)
    if failed:
        raise LabError("could not stop: " + ", ".join(failed))
    return stopped


def status(state_dir: Path | None = None) -> dict[str, Any]:
    state_dir = (state_dir or default_state_dir()).resolve()
    lab = Lab.load(state_dir)
    if lab is None or not lab.pids:
        return {"state_dir": str(state_dir), "running": False, "components": {}}
    alive = lab.running()
    return {"state_dir": str(state_dir), "running": all(alive.values()), "faults": lab.faults,
            "ports": lab.ports, "components": {n: {"pid": lab.pids[n]["pid"], "alive": a} for n, a in alive.items()},
            "params": str(lab.params_path)}
