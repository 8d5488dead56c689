"""NGINX in front of the lab's registry, TLS offloaded at NGINX with a lab CA (like Omnibus's
``gitlab-registry.conf`` or a third-party proxy that terminates SSL).

The registry keeps listening on plain HTTP at ``lab.url('registry')`` (what existing scenarios use); clients
that should take the proxied path use :func:`proxied_url` and trust :func:`ca_path`. Faults change what
NGINX does through ``lab.options`` (set in their ``registry_config`` hook, which runs before this starts):

* ``nginx_forward_proto`` (bool, default True): send ``X-Forwarded-Proto``;
* ``nginx_upstream`` (``host:port``, default the registry's ``127.0.0.1:<port>``);
* ``nginx_body_limit`` (``client_max_body_size``, default ``0`` = unlimited, as Omnibus sets it).

Every path NGINX writes (pid, error log, access log, ``*_temp_path``) lives under ``<state_dir>/nginx`` and
``<state_dir>/logs/nginx``, so nothing outside the lab folder is touched.
"""

from __future__ import annotations

import os
import shutil
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from .components import Component, register_component

if TYPE_CHECKING:
    from .control import Lab

NAME = "nginx"
DEFAULT_PORT = 15004
STARTUP_TIMEOUT_S = 15.0
_TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
MASTER_TITLE = "nginx: master process"


def nginx_binary() -> str:
    """The nginx executable, or a LabError naming the Debian package to install."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else "")
    if not found:
        from .control import LabError

        raise LabError("nginx is not installed (apt-get install nginx, or `make setup`): the lab puts NGINX "
                       "in front of the registry")
    return found


# ------------------------------------------------------------------------------------------------ paths


def nginx_dir(lab: "Lab") -> Path:
    return lab.state_dir / "nginx"


def config_path(lab: "Lab") -> Path:
    """The main nginx.conf (it includes ``conf.d/gitlab-registry.conf``, the registry's server block)."""
    return nginx_dir(lab) / "nginx.conf"


def site_path(lab: "Lab") -> Path:
    return nginx_dir(lab) / "conf.d" / "gitlab-registry.conf"


def log_dir(lab: "Lab") -> Path:
    return lab.state_dir / "logs" / "nginx"


def error_log_path(lab: "Lab") -> Path:
    return log_dir(lab) / "gitlab_registry_error.log"


def access_log_path(lab: "Lab") -> Path:
    return log_dir(lab) / "gitlab_registry_access.log"


def ca_path(lab: "Lab") -> Path:
    """The lab CA's certificate: trust it (``ca_bundle``, skopeo ``--dest-cert-dir``) to talk to NGINX."""
    return lab.state_dir / "certs" / "lab-ca.crt"


def proxied_url(lab: "Lab") -> str:
    """The registry as clients reach it through NGINX (TLS terminated there)."""
    return f"https://127.0.0.1:{lab.ports[NAME]}"


def upstream(lab: "Lab") -> str:
    return str(lab.options.get("nginx_upstream") or f"127.0.0.1:{lab.ports['registry']}")


# ------------------------------------------------------------------------------------------------ config


def _write_tls(lab: "Lab") -> tuple[Path, Path]:
    """A lab CA and a server certificate for 127.0.0.1 / localhost / ::1 signed by it (EC keys: fast)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from .pki import issue_cert, write_cert, write_key

    certs = lab.state_dir / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = issue_cert(ca_key, None, ca_key, "runbook lab CA", is_ca=True)
    write_cert(ca_path(lab), ca_cert)
    write_key(certs / "lab-ca.key", ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_cert(ca_key, ca_cert, key, "127.0.0.1", san_hosts=("127.0.0.1", "localhost", "::1"))
    crt_path, key_path = certs / "nginx-registry.crt", certs / "nginx-registry.key"
    write_cert(crt_path, cert)
    write_key(key_path, key)
    return crt_path, key_path


def render_main(lab: "Lab") -> str:
    d = nginx_dir(lab)
    lines = [
        "# Written by `runbook lab up`: NGINX in front of the registry (TLS offloaded here).",
        "worker_processes 1;",
        f"pid {d / 'nginx.pid'};",
        f"error_log {error_log_path(lab)} error;",
    ]
    if os.geteuid() == 0:
        lines.append("user root;")  # workers must read the lab folder (0700 under a test's tmp dir)
    lines += [
        "events {", "  worker_connections 128;", "}",
        "http {",
        *[f"  {name}_temp_path {d / 'tmp' / name};" for name in _TEMP_PATHS],
        f"  access_log {access_log_path(lab)};",
        "  default_type application/octet-stream;",
        f"  include {site_path(lab).relative_to(d)};",
        "}",
    ]
    return "\n".join(lines) + "\n"


def render_site(lab: "Lab", cert: Path, key: Path) -> str:
    """The registry's server block, shaped like Omnibus's gitlab-registry.conf."""
    forward_proto = lab.options.get("nginx_forward_proto", True)
    body_limit = lab.options.get("nginx_body_limit", "0")
    headers = [
        "    proxy_set_header  Host              $http_host;",
        "    proxy_set_header  X-Real-IP         $remote_addr;",
        "    proxy_set_header  X-Forwarded-For   $proxy_add_x_forwarded_for;",
    ]
    if forward_proto:
        headers.append("    proxy_set_header  X-Forwarded-Proto $scheme;")
    else:
        headers.append("    # X-Forwarded-Proto not forwarded (fault missing-forwarded-proto)")
    return "\n".join([
        "## Lab stand-in for /var/opt/gitlab/nginx/conf/gitlab-registry.conf",
        "server {",
        f"  listen 127.0.0.1:{lab.ports[NAME]} ssl;",
        "  server_name 127.0.0.1 localhost;",
        "  server_tokens off;",
        f"  client_max_body_size {body_limit};",
        "  chunked_transfer_encoding on;",
        f"  ssl_certificate     {cert};",
        f"  ssl_certificate_key {key};",
        "  ssl_protocols TLSv1.2 TLSv1.3;",
        "  location / {",
        *headers,
        "    proxy_read_timeout                  900;",
        "    proxy_cache off;",
        "    proxy_buffering off;",
        "    proxy_request_buffering off;",
        "    proxy_http_version 1.1;",
        f"    proxy_pass          http://{upstream(lab)};",
        "  }",
        "}",
    ]) + "\n"


# ------------------------------------------------------------------------------------------------ process


def start(lab: "Lab") -> None:
    """Write the config, check it with ``nginx -t``, start NGINX in the foreground and wait for TLS answers."""
    import subprocess

    from . import procs
    from .control import LabError, clean_env

    binary = nginx_binary()
    d = nginx_dir(lab)
    shutil.rmtree(d, ignore_errors=True)
    for name in _TEMP_PATHS:
        (d / "tmp" / name).mkdir(parents=True, exist_ok=True)
    site_path(lab).parent.mkdir(parents=True, exist_ok=True)
    log_dir(lab).mkdir(parents=True, exist_ok=True)
    cert, key = _write_tls(lab)
    config_path(lab).write_text(render_main(lab))
    site_path(lab).write_text(render_site(lab, cert, key))
    argv = [binary, "-p", str(d), "-c", str(config_path(lab)), "-e", str(error_log_path(lab))]
    test = subprocess.run(argv + ["-t", "-q"], capture_output=True, text=True, timeout=20, env=clean_env())
    if test.returncode != 0:
        raise LabError(f"nginx rejected the lab config: {(test.stderr or test.stdout).strip().splitlines()[-1:]}")
    proc = lab.spawn(NAME, argv + ["-g", "daemon off;"], lab.state_dir / "logs" / "nginx.stderr")
    try:
        procs.wait_for_port(lab.ports[NAME], STARTUP_TIMEOUT_S, proc, "nginx")
        _wait_answers(lab)
    except (RuntimeError, LabError) as exc:
        _stop(proc)
        raise LabError(f"{exc}: {_last_error(lab)}") from None
    # NGINX rewrites its command line ("nginx: master process /usr/sbin/nginx -p ..."); `lab down` checks the
    # recorded command before it signals a PID, so record what the process now shows, or it would be left running.
    shown = procs.cmdline(proc.pid)
    if shown.startswith(MASTER_TITLE):
        lab.pids[NAME]["cmd"] = MASTER_TITLE
        lab.save()


def _stop(proc: Any) -> None:
    """Stop the NGINX we just spawned (a failed start: control.up's clean-up may not recognise it)."""
    import subprocess

    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _last_error(lab: "Lab") -> str:
    for path in (error_log_path(lab), lab.state_dir / "logs" / "nginx.stderr"):
        try:
            lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            continue
        if lines:
            return lines[-1][-300:]
    return "no error logged"


def _wait_answers(lab: "Lab") -> None:
    """NGINX answers HTTP over TLS (any status: with a fault the upstream may be unreachable on purpose)."""
    from .control import LabError

    ctx = ssl.create_default_context(cafile=str(ca_path(lab)))
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        try:
            httpx.get(proxied_url(lab) + "/v2/", timeout=2, verify=ctx, trust_env=False)
            return
        except httpx.HTTPError as exc:
            last = str(exc)
            time.sleep(0.05)
    raise LabError(f"nginx did not answer over TLS within {STARTUP_TIMEOUT_S:.0f} s ({last})")


def params(lab: "Lab") -> dict[str, Any]:
    return {"nginx_config": str(config_path(lab))}


register_component(Component(NAME, DEFAULT_PORT, start, params, order=40))
