"""Outer-proxy body limit (issue #19, beyond GitLab's troubleshooting page): a 413 from a hop in front of the
registry's own NGINX.

* ``outer-body-limit``: a second, real NGINX in front of the lab's NGINX (a load balancer or an ingress in
  front of Omnibus's), TLS with the lab CA, ``client_max_body_size 1m`` and NGINX's default ``server_tokens on``
  (its pages and ``Server`` header say ``nginx/<version>``, while the registry's NGINX says ``nginx``). The
  registry's NGINX keeps ``client_max_body_size 0``. The lab's parameters then point clients at the outer
  proxy (``registry_url``, ``ca_bundle``) and give its config as ``proxy_configs``.

Everything it writes lives under ``<state_dir>/outer-proxy`` and ``<state_dir>/logs/outer-proxy``.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from . import component_nginx as inner
from .faults import Fault, register

if TYPE_CHECKING:
    from .control import Lab

NAME = "outer-proxy"
BODY_LIMIT = "1m"
_TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def outer_dir(lab: "Lab") -> Path:
    return lab.state_dir / NAME


def config_path(lab: "Lab") -> Path:
    return outer_dir(lab) / "nginx.conf"


def log_dir(lab: "Lab") -> Path:
    return lab.state_dir / "logs" / NAME


def outer_url(lab: "Lab") -> str:
    return f"https://127.0.0.1:{lab.ports[NAME]}"


def render(lab: "Lab") -> str:
    d, logs = outer_dir(lab), log_dir(lab)
    certs = lab.state_dir / "certs"
    lines = [
        "# Written by `runbook lab up --fault outer-body-limit`: a proxy in front of the registry's NGINX",
        "# (stands in for a load balancer or an ingress; its body limit is the fault).",
        "worker_processes 1;",
        f"pid {d / 'nginx.pid'};",
        f"error_log {logs / 'error.log'} error;",
    ]
    if os.geteuid() == 0:
        lines.append("user root;")
    lines += [
        "events {", "  worker_connections 128;", "}",
        "http {",
        *[f"  {name}_temp_path {d / 'tmp' / name};" for name in _TEMP_PATHS],
        f"  access_log {logs / 'access.log'};",
        "  server {",
        f"    listen 127.0.0.1:{lab.ports[NAME]} ssl;",
        "    server_name 127.0.0.1 localhost;",
        f"    client_max_body_size {BODY_LIMIT};",
        f"    ssl_certificate     {certs / 'nginx-registry.crt'};",
        f"    ssl_certificate_key {certs / 'nginx-registry.key'};",
        "    location / {",
        "      proxy_set_header  Host              $http_host;",
        "      proxy_set_header  X-Forwarded-For   $proxy_add_x_forwarded_for;",
        "      proxy_set_header  X-Forwarded-Proto $scheme;",
        "      proxy_http_version 1.1;",
        "      proxy_request_buffering off;",
        "      proxy_buffering off;",
        "      proxy_read_timeout 900;",
        "      proxy_ssl_server_name on;",
        f"      proxy_ssl_trusted_certificate {inner.ca_path(lab)};",
        "      proxy_ssl_verify on;",
        "      proxy_ssl_name localhost;",
        f"      proxy_pass https://127.0.0.1:{lab.ports[inner.NAME]};",
        "    }",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _start_outer_proxy(lab: "Lab") -> None:
    """After the registry's NGINX is up: start the outer NGINX in front of it and point clients at it."""
    from . import procs
    from .control import LabError, clean_env

    binary = inner.nginx_binary()
    port = procs.free_port()
    while port in lab.ports.values():
        port = procs.free_port()
    lab.ports[NAME] = port
    d = outer_dir(lab)
    shutil.rmtree(d, ignore_errors=True)
    for name in _TEMP_PATHS:
        (d / "tmp" / name).mkdir(parents=True, exist_ok=True)
    log_dir(lab).mkdir(parents=True, exist_ok=True)
    config_path(lab).write_text(render(lab))
    argv = [binary, "-p", str(d), "-c", str(config_path(lab)), "-e", str(log_dir(lab) / "error.log")]
    test = subprocess.run(argv + ["-t", "-q"], capture_output=True, text=True, timeout=20, env=clean_env())
    if test.returncode != 0:
        raise LabError(f"nginx rejected the outer proxy's config: {(test.stderr or test.stdout).strip().splitlines()[-1:]}")
    proc = lab.spawn(NAME, argv + ["-g", "daemon off;"], lab.state_dir / "logs" / "outer-proxy.stderr")
    procs.wait_for_port(port, inner.STARTUP_TIMEOUT_S, proc, "outer proxy (nginx)")
    shown = procs.cmdline(proc.pid)
    if shown.startswith(inner.MASTER_TITLE):  # as for the lab's NGINX: `lab down` must recognise it
        lab.pids[NAME]["cmd"] = inner.MASTER_TITLE
        lab.save()
    ctx = ssl.create_default_context(cafile=str(inner.ca_path(lab)))
    deadline = time.monotonic() + inner.STARTUP_TIMEOUT_S
    while True:
        try:
            httpx.get(outer_url(lab) + "/v2/", timeout=2, verify=ctx, trust_env=False)
            break
        except httpx.HTTPError as exc:
            if time.monotonic() > deadline:
                raise LabError(f"the outer proxy did not answer over TLS ({exc})") from None
            time.sleep(0.05)
    lab.options["outer_proxy_url"] = outer_url(lab)
    given = lab.options.get("client_params", {})
    logs = given.get("log_paths") or [str(lab.registry_log_dir), str(lab.rails_log_path.parent)]
    lab.options["client_params"] = {**given, "registry_url": outer_url(lab), "ca_bundle": str(inner.ca_path(lab)),
                                    "proxy_configs": [str(config_path(lab))], "log_paths": logs + [str(log_dir(lab))]}


register(Fault("outer-body-limit",
               "a second NGINX in front of the registry's NGINX with client_max_body_size 1m; clients use it",
               after_start=_start_outer_proxy))
