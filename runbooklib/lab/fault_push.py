"""Push-path faults (seed: "Image push errors", "Unexpected 403 error during push", "Registry service listens
on IPv6 address instead of IPv4"), each injected for real in NGINX, the registry or in front of S3.

* ``missing-forwarded-proto``: NGINX terminates TLS and does not send ``X-Forwarded-Proto``; the registry has
  ``relativeurls`` off, so its upload ``Location`` says ``http://`` and clients hit the TLS port in plain HTTP.
* ``ipv6-upstream``: NGINX proxies to ``[::1]`` while the registry listens on 127.0.0.1 only (502, and the
  GitLab's documented ``connect() failed (111: Connection refused) ... upstream: "http://[::1]:..."`` error-log line).
* ``storage-403``: storage redirects on, and a small proxy in front of the S3 server answers HEAD/GET of blob
  data on presigned URLs with an S3 ``AccessDenied`` 403 (like a policy without ``s3:GetObject``); the
  registry's own signed requests pass.
* ``small-body-limit``: NGINX ``client_max_body_size 1m`` (413 on any layer above 1 MiB).

Run as ``python -m runbooklib.lab.fault_push s3-proxy LISTEN_PORT UPSTREAM_PORT`` for the S3 fault proxy.
"""

from __future__ import annotations

import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from .faults import Fault, register
from .relay import RelayHandler

if TYPE_CHECKING:
    from .control import Lab

PROXY_NAME = "s3-fault-proxy"


def _missing_forwarded_proto(lab: "Lab", cfg: dict[str, Any]) -> None:
    lab.options["nginx_forward_proto"] = False
    cfg.setdefault("http", {})["relativeurls"] = False


def _ipv6_upstream(lab: "Lab", cfg: dict[str, Any]) -> None:
    lab.options["nginx_upstream"] = f"[::1]:{lab.ports['registry']}"
    cfg["http"]["addr"] = f"127.0.0.1:{lab.ports['registry']}"  # IPv4 only, as the fault needs


def _small_body_limit(lab: "Lab", cfg: dict[str, Any]) -> None:
    lab.options["nginx_body_limit"] = "1m"


def _storage_403(lab: "Lab", cfg: dict[str, Any]) -> None:
    """Start the S3 fault proxy now (S3 is up, the registry is not yet) and point the registry at it."""
    import sys as _sys

    from . import procs

    port = procs.free_port()
    while port in lab.ports.values():
        port = procs.free_port()
    lab.ports[PROXY_NAME] = port
    proc = lab.spawn(PROXY_NAME, [_sys.executable, "-m", "runbooklib.lab.fault_push", "s3-proxy", str(port),
                                  str(lab.ports["s3"])], lab.state_dir / "logs" / "s3-fault-proxy.log")
    procs.wait_for_port(port, 15, proc, "S3 fault proxy")
    cfg["storage"]["s3"]["regionendpoint"] = f"http://127.0.0.1:{port}"
    cfg["storage"]["redirect"] = {"disable": False}
    lab.options["s3_fault_proxy"] = f"http://127.0.0.1:{port}"


register(Fault("missing-forwarded-proto",
               "NGINX terminates TLS without forwarding X-Forwarded-Proto; registry relativeurls off", registry_config=_missing_forwarded_proto))
register(Fault("ipv6-upstream", "NGINX proxies to [::1] while the registry listens on 127.0.0.1 only", registry_config=_ipv6_upstream))
register(Fault("storage-403", "storage redirect on; S3 answers presigned HEAD/GET of blob data with 403", registry_config=_storage_403))
register(Fault("small-body-limit", "NGINX client_max_body_size 1m in front of the registry", registry_config=_small_body_limit))


# ------------------------------------------------------------------------------------------------ the proxy

def is_denied(method: str, target: str) -> bool:
    """Presigned (query-signed) HEAD/GET of blob data: what a client does after the registry's redirect."""
    parts = urlsplit(target)
    query = {k.lower() for k in parse_qs(parts.query, keep_blank_values=True)}
    return (method in ("HEAD", "GET") and "/docker/registry/v2/blobs/" in parts.path
            and parts.path.endswith("/data") and "x-amz-signature" in query)


def access_denied_xml(resource: str, request_id: str) -> bytes:
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>"
            f"<Message>Access Denied</Message><Resource>{resource}</Resource>"
            f"<RequestId>{request_id}</RequestId></Error>").encode()


def make_handler(upstream_port: int) -> type[BaseHTTPRequestHandler]:
    class Handler(RelayHandler):
        def version_string(self) -> str:
            return "AmazonS3"

        def _handle(self) -> None:
            body = self.read_body()
            if is_denied(self.command, self.path):
                rid = uuid.uuid4().hex[:16].upper()
                xml = access_denied_xml(urlsplit(self.path).path, rid)
                self.send_response(403)
                self.send_header("Content-Type", "application/xml")
                self.send_header("x-amz-request-id", rid)
                self.send_header("Content-Length", str(len(xml)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(xml)
                return
            self.relay("127.0.0.1", upstream_port, self.path, body, "S3 fault proxy")

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle  # noqa: N815

    return Handler


def serve_s3_proxy(listen_port: int, upstream_port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", listen_port), make_handler(upstream_port))
    server.daemon_threads = True
    server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 3 or args[0] != "s3-proxy":
        print("usage: python -m runbooklib.lab.fault_push s3-proxy LISTEN_PORT UPSTREAM_PORT", file=sys.stderr)
        return 2
    serve_s3_proxy(int(args[1]), int(args[2]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
