"""Storage-redirect fault (issue #19, beyond GitLab's troubleshooting page): blobs redirect to a presigned
storage URL that clients cannot reach.

* ``storage-redirect-unreachable``: storage redirects on, and the registry's S3 ``regionendpoint`` is an
  "inside" name, ``http://gitlab-minio-svc.gitlab.svc.cluster.local:9000`` (the GitLab chart's in-cluster
  MinIO Service: what a registry inside Kubernetes reaches and clients outside do not). The registry reaches it through a forward proxy given to it as ``HTTP_PROXY`` (its
  network, so to speak); everyone else resolves the name and fails. Every presigned ``Location`` the registry
  hands out names that host, so a client's HEAD/GET of a blob dies at the storage hop while the registry's
  own requests, its health check and pushes of new blobs work.

Run as ``python -m runbooklib.lab.fault_redirect forward-proxy LISTEN_PORT UPSTREAM_HOST:PORT`` for the proxy.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .faults import Fault, register
from .relay import RelayHandler

if TYPE_CHECKING:
    from .control import Lab

PROXY_NAME = "storage-forward-proxy"
INSIDE_HOST = "gitlab-minio-svc.gitlab.svc.cluster.local"  # a Kubernetes Service name: resolves only in-cluster
INSIDE_PORT = 9000


def inside_endpoint() -> str:
    return f"http://{INSIDE_HOST}:{INSIDE_PORT}"


def _storage_redirect_unreachable(lab: "Lab", cfg: dict[str, Any]) -> None:
    """Start the forward proxy to wherever the registry's S3 is now (moto, or another fault's proxy in front of
    it), give the registry the inside endpoint and the proxy, and turn redirects on."""
    from . import procs

    upstream = urlsplit(cfg["storage"]["s3"]["regionendpoint"])
    port = procs.free_port()
    while port in lab.ports.values():
        port = procs.free_port()
    lab.ports[PROXY_NAME] = port
    proc = lab.spawn(PROXY_NAME, [sys.executable, "-m", "runbooklib.lab.fault_redirect", "forward-proxy", str(port),
                                  f"{upstream.hostname}:{upstream.port or 80}"],
                     lab.state_dir / "logs" / "storage-forward-proxy.log")
    procs.wait_for_port(port, 15, proc, "storage forward proxy")
    cfg["storage"]["s3"]["regionendpoint"] = inside_endpoint()
    cfg["storage"]["redirect"] = {"disable": False}
    lab.options.setdefault("registry_env", {})["HTTP_PROXY"] = f"http://127.0.0.1:{port}"
    lab.options["storage_inside_endpoint"] = inside_endpoint()


register(Fault("storage-redirect-unreachable",
               "storage redirect on; the S3 regionendpoint is an in-cluster name "
               "(gitlab-minio-svc.gitlab.svc.cluster.local:9000) only the registry reaches (through a forward proxy)",
               registry_config=_storage_redirect_unreachable))


# ------------------------------------------------------------------------------------------- the proxy

def make_handler(upstream_host: str, upstream_port: int) -> type[BaseHTTPRequestHandler]:
    class Handler(RelayHandler):
        def _handle(self) -> None:
            body = self.read_body()
            target = urlsplit(self.path)
            path = (target.path or "/") + (f"?{target.query}" if target.query else "")
            self.relay(upstream_host, upstream_port, path, body, "storage forward proxy")

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle  # noqa: N815

    return Handler


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 3 or args[0] != "forward-proxy":
        print("usage: python -m runbooklib.lab.fault_redirect forward-proxy LISTEN_PORT UPSTREAM_HOST:PORT",
              file=sys.stderr)
        return 2
    host, _, port = args[2].rpartition(":")
    server = ThreadingHTTPServer(("127.0.0.1", int(args[1])), make_handler(host, int(port)))
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
