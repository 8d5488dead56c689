"""Re-capture the real-binary fixtures of this folder (see README.md): Debian's docker-registry 2.8 under a TTY
(logrus's TTY text format, colours included), NGINX 1.22 in front of it (413, refused and IPv6 upstreams), and
skopeo as the client (push, 413, unknown CA, bad credentials).

    .venv/bin/python tests/data/logs/realworld/capture.py OUT_DIR

Everything runs on 127.0.0.1 from OUT_DIR (private NGINX prefix, private registry storage); nothing of the
system's configuration is used. Not a test: the tests read the files it wrote, as committed.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))

from runbooklib.lab.image import build_oci_layout  # noqa: E402
from runbooklib.lab.pki import issue_cert, new_rsa_key, self_signed_cert, write_cert, write_key  # noqa: E402
from runbooklib.lab.procs import free_port, wait_for_port  # noqa: E402
from runbooklib.tokens import libtrust_key_id, sign_jwt  # noqa: E402

SERVICE, ISSUER, USER = "container_registry", "gitlab-issuer", "root"


def token(key, actions=("pull",), name="group/app") -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": now + 300, "nbf": now - 5, "iat": now,
              "jti": secrets.token_hex(8), "access": [{"type": "repository", "name": name, "actions": list(actions)}]}
    return sign_jwt({"typ": "JWT", "alg": "RS256", "kid": libtrust_key_id(key.public_key())}, claims, key)


def registry_config(out: Path, port: int, realm: str, tls: tuple[Path, Path] | None = None) -> Path:
    http = {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(8)}
    if tls:
        http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    cfg = {"version": 0.1, "log": {"level": "debug", "formatter": "text"},
           "storage": {"filesystem": {"rootdirectory": str(out / f"storage-{port}")},
                       "maintenance": {"uploadpurging": {"enabled": False}}},
           "http": http,
           "auth": {"token": {"realm": realm, "service": SERVICE, "issuer": ISSUER,
                              "rootcertbundle": str(out / "token.crt")}}}
    path = out / f"registry-{port}.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def under_tty(cmd: list[str], typescript: Path) -> subprocess.Popen:
    """Run cmd with a pseudo-terminal as stdout/stderr (util-linux script): logrus then writes its TTY format."""
    return subprocess.Popen(["script", "-qfec", " ".join(cmd), str(typescript)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def skopeo(*args: str, out: Path, name: str) -> None:
    res = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=120)
    (out / f"skopeo-{name}.txt").write_text(res.stderr + res.stdout)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tok_key, foreign = new_rsa_key(), new_rsa_key()
    write_cert(out / "token.crt", self_signed_cert(tok_key, "token"))
    write_key(out / "token.key", tok_key)
    ca_key, srv_key = new_rsa_key(), new_rsa_key()
    ca = issue_cert(ca_key, None, ca_key, "rw15 CA", is_ca=True)
    write_cert(out / "server.crt", issue_cert(ca_key, ca, srv_key, "127.0.0.1", san_hosts=("127.0.0.1",)))
    write_key(out / "server.key", srv_key)

    iss_port, reg_port, tls_port, ngx_port, dead4, dead6 = (free_port() for _ in range(6))
    (out / "password").write_text("secret\n")
    (out / "issuer.json").write_text(json.dumps({"port": iss_port, "key_path": str(out / "token.key"),
                                                 "issuer": ISSUER, "username": USER,
                                                 "password_file": str(out / "password")}))
    issuer = subprocess.Popen([sys.executable, "-m", "runbooklib.lab.issuer", str(out / "issuer.json")], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    realm = f"http://127.0.0.1:{iss_port}/jwt/auth"
    reg = under_tty(["docker-registry", "serve", str(registry_config(out, reg_port, realm))], out / "registry-tty.log")
    tls = under_tty(["docker-registry", "serve", str(registry_config(out, tls_port, realm,
                                                                      (out / "server.crt", out / "server.key")))],
                    out / "registry-tls-tty.log")
    conf = out / "nginx.conf"
    conf.write_text(f"""
pid {out}/nginx.pid;
error_log {out}/nginx-error.log info;
events {{ worker_connections 64; }}
http {{
  client_body_temp_path {out}/body; proxy_temp_path {out}/proxy; fastcgi_temp_path {out}/fcgi;
  uwsgi_temp_path {out}/uwsgi; scgi_temp_path {out}/scgi;
  access_log {out}/nginx-access.log;
  server {{
    listen 127.0.0.1:{ngx_port};
    client_max_body_size 1k;
    location /dead4/ {{ proxy_pass http://127.0.0.1:{dead4}; }}
    location /dead6/ {{ proxy_pass http://[::1]:{dead6}; }}
    location / {{
      proxy_set_header Host $http_host;
      proxy_pass http://127.0.0.1:{reg_port};
    }}
  }}
}}
""")
    nginx = subprocess.Popen(["nginx", "-p", str(out), "-c", str(conf), "-e", str(out / "nginx-error.log"),
                              "-g", "daemon off; master_process off;"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for port in (iss_port, reg_port, tls_port, ngx_port):
            wait_for_port(port, 20)
        base = f"http://127.0.0.1:{reg_port}"
        httpx.get(f"{base}/v2/", timeout=5)  # no token: the challenge
        httpx.get(f"{base}/v2/", headers={"Authorization": f"Bearer {token(foreign)}"}, timeout=5)  # untrusted key
        good = {"Authorization": f"Bearer {token(tok_key)}"}
        httpx.head(f"{base}/v2/group/app/blobs/sha256:{'0' * 64}", headers=good, timeout=5)  # routine HEAD
        httpx.get(f"{base}/v2/group/app/manifests/missing", headers=good, timeout=5)
        layout = out / "oci"
        build_oci_layout(layout, "v1", payload=os.urandom(4096))  # incompressible: the layer is > 1 KiB
        creds = f"{USER}:secret"
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, f"oci:{layout}:v1",
               f"docker://127.0.0.1:{reg_port}/group/app:v1", out=out, name="push-ok")
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "root:wrong", f"oci:{layout}:v1",
               f"docker://127.0.0.1:{reg_port}/group/app:v2", out=out, name="push-bad-creds")
        build_oci_layout(out / "oci-big", "v1", payload=os.urandom(8192))  # a layer the registry lacks
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, f"oci:{out / 'oci-big'}:v1",
               f"docker://127.0.0.1:{ngx_port}/group/app:big", out=out, name="push-413")
        skopeo("copy", "--dest-creds", creds, f"oci:{layout}:v1",
               f"docker://127.0.0.1:{tls_port}/group/app:v1", out=out, name="push-unknown-ca")
        for path in ("dead4", "dead6"):
            httpx.get(f"http://127.0.0.1:{ngx_port}/{path}/v2/", timeout=5)
        time.sleep(1)
    finally:
        for proc in (nginx, reg, tls, issuer):
            stop(proc)
    for name in ("body", "proxy", "fcgi", "uwsgi", "scgi", "oci", "oci-big", f"storage-{reg_port}", f"storage-{tls_port}"):
        shutil.rmtree(out / name, ignore_errors=True)
    print(base64.b16encode(b"done").decode())


def s3_panic_via_syslog(out: Path, rsyslog_root: Path | None) -> None:
    """The registry against an S3 (moto) that refuses its key: the start-up panic, on stderr as is, then through
    rsyslog (Debian's 8.2302 binary, extracted with ``apt-get download`` + ``dpkg -x``, private config and
    socket): once line by line from util-linux ``logger`` (one syslog line per panic line, tabs as ``#011``) and
    once as one datagram (newlines as ``#012``)."""
    s3_port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}  # moto then checks keys like AWS does
    moto = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-p", str(s3_port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_port(s3_port, 30)
        cfg = {"version": 0.1, "log": {"level": "info", "formatter": "text"},
               "storage": {"s3": {"accesskey": "AKIAEXAMPLEUNKNOWN00", "secretkey": "x" * 40, "region": "us-east-1",
                                  "regionendpoint": f"http://127.0.0.1:{s3_port}", "bucket": "registry"}},
               "http": {"addr": f"127.0.0.1:{free_port()}", "secret": "s"}}
        (out / "registry-s3.yml").write_text(yaml.safe_dump(cfg))
        # Debian's 2.8.2 build panics at start-up when AWS_CA_BUNDLE is set (its HTTP transport is wrapped):
        # a real Go panic from the real binary, in the S3 driver; moto is not even reached
        env = {**os.environ, "AWS_CA_BUNDLE": str(out / "token.crt")}
        res = subprocess.run(["docker-registry", "serve", str(out / "registry-s3.yml")], capture_output=True,
                             text=True, timeout=60, env=env)
        (out / "registry-s3-panic.log").write_text(res.stdout + res.stderr)
    finally:
        stop(moto)
    if rsyslog_root is None:
        return
    sock, conf = out / "log.sock", out / "rsyslog.conf"
    conf.write_text(f"""
global(workDirectory="{out}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{sock}" CreatePath="on")
*.* action(type="omfile" file="{out}/syslog-traditional" template="RSYSLOG_TraditionalFileFormat")
*.* action(type="omfile" file="{out}/syslog-rfc3339" template="RSYSLOG_FileFormat")
""")
    lib = rsyslog_root / "usr/lib/x86_64-linux-gnu"
    rs = subprocess.Popen([str(rsyslog_root / "usr/sbin/rsyslogd"), "-n", "-f", str(conf), "-i", str(out / "rs.pid"),
                           "-M", str(lib / "rsyslog")], env={**os.environ, "LD_LIBRARY_PATH": str(lib)},
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(50):
            if sock.exists():
                break
            time.sleep(0.1)
        panic = (out / "registry-s3-panic.log").read_text()
        subprocess.run(["logger", "-u", str(sock), "-t", "registry", "--id=660"], input=panic, text=True, timeout=10)
        import socket as _socket

        with _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM) as s:  # one message, newlines inside
            s.sendto(f"<11>registry[661]: {panic.strip()}".encode(), str(sock))
        time.sleep(1.5)
    finally:
        stop(rs)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
    s3_panic_via_syslog(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else None)
