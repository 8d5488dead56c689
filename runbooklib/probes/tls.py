"""What certificate the registry (or realm) presents, and why a client would refuse it.

The client-side symptom is `x509: certificate signed by unknown authority`; this probe fetches the
presented chain even when verification fails and names the cause: self-signed, unknown CA, missing
intermediate, expired, wrong host name, weak key, or no TLS at all on that port.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import shutil
import socket
import ssl
import subprocess
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import ExtensionOID

from ..config.registry import RegistryConfig
from ..errors import DEFAULT_TIMEOUT_S
from ..findings import Finding, Status

SEED_X509 = "Error: ... x509: certificate signed by unknown authority"
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


@dataclass
class TlsProbe:
    """One TLS handshake attempt, verified and unverified."""

    host: str
    port: int
    connect_error: str = ""  # transport failure before any TLS (refused, DNS, timeout)
    not_tls: str = ""  # the port answered, but not with TLS
    plain_http_answer: str = ""
    verified: bool = False
    verify_code: int | None = None
    verify_message: str = ""
    chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def leaf(self) -> x509.Certificate | None:
        return self.chain[0] if self.chain else None


def _connect(host: str, port: int, timeout_s: float) -> socket.socket:
    return socket.create_connection((host, port), timeout=timeout_s)


def _presented_chain(host: str, port: int, server_name: str, timeout_s: float) -> list[x509.Certificate]:
    """The whole chain as sent by the server (openssl s_client), else the leaf alone (Python ssl)."""
    openssl = shutil.which("openssl")
    if openssl:
        argv = [openssl, "s_client", "-connect", f"{host}:{port}", "-showcerts"]
        if server_name and not _is_ip(server_name):
            argv += ["-servername", server_name]
        try:
            out = subprocess.run(argv, input=b"", capture_output=True, timeout=timeout_s).stdout
            certs = [x509.load_pem_x509_certificate(m) for m in _PEM.findall(out)]
            if certs:
                return certs
        except (subprocess.TimeoutExpired, OSError, ValueError):
            pass
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with _connect(host, port, timeout_s) as raw:
        with ctx.wrap_socket(raw, server_hostname=None if _is_ip(server_name) else server_name) as tls:
            der = tls.getpeercert(binary_form=True)
    return [x509.load_der_x509_certificate(der)] if der else []


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def probe_tls(host: str, port: int, ca_bundle: str = "", timeout_s: float = DEFAULT_TIMEOUT_S) -> TlsProbe:
    """Handshake as a client would (system store or ``ca_bundle``), then fetch the chain unverified."""
    result = TlsProbe(host, port)
    ctx = ssl.create_default_context(cafile=ca_bundle or None)
    try:
        with _connect(host, port, timeout_s) as raw:
            with ctx.wrap_socket(raw, server_hostname=host):
                result.verified = True
    except ssl.SSLCertVerificationError as exc:
        result.verify_code = exc.verify_code
        result.verify_message = exc.verify_message or str(exc)
    except ssl.SSLError as exc:
        result.not_tls = str(exc)
    except OSError as exc:
        if isinstance(exc, ConnectionRefusedError):
            kind = "refused"
        elif isinstance(exc, (socket.timeout, TimeoutError)):
            kind = "timeout"
        elif isinstance(exc, socket.gaierror):
            kind = "dns"
        else:
            kind = "reset"
        result.connect_error = f"{kind}: {exc}"
        return result
    if result.not_tls:
        result.plain_http_answer = _plain_http_answer(host, port, timeout_s)
        if result.plain_http_answer:
            return result
    try:
        result.chain = _presented_chain(host, port, host, timeout_s)
    except (OSError, ssl.SSLError, ValueError) as exc:
        result.not_tls = result.not_tls or str(exc)
    return result


def _plain_http_answer(host: str, port: int, timeout_s: float) -> str:
    """The status line a plain HTTP request gets on this port ('' if none): the port speaks HTTP."""
    try:
        with _connect(host, port, timeout_s) as s:
            s.sendall(f"GET /v2/ HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            data = s.recv(256)
    except OSError:
        return ""
    first = data.split(b"\r\n", 1)[0].decode("latin-1")
    return first if first.startswith("HTTP/") else ""


def describe_cert(cert: x509.Certificate) -> dict[str, Any]:
    """Subject, issuer, SANs, validity, fingerprint and key, as evidence."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(v) for v in sans.get_values_for_type(x509.DNSName)]
        names += [str(v) for v in sans.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "sans": names,
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        "key": key_description(cert.public_key()),
    }


def key_description(key: Any) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name} ({key.key_size})"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}"
    return type(key).__name__


def weak_key(key: Any) -> str:
    """Why a key is too weak for a registry certificate ('' when it is fine)."""
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        return f"RSA key of {key.key_size} bits (< 2048)"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.key_size < 256:
        return f"EC key of {key.key_size} bits (< 256)"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA key (not accepted by current clients)"
    return ""


def host_matches(cert: x509.Certificate, host: str) -> bool:
    """RFC 6125 matching against SANs (clients ignore the CN when SANs exist; Go ignores CN always)."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    if _is_ip(host):
        return ipaddress.ip_address(host) in sans.get_values_for_type(x509.IPAddress)
    host = host.lower().rstrip(".")
    for name in sans.get_values_for_type(x509.DNSName):
        name = name.lower().rstrip(".")
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def _self_issued(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def _has_aia(cert: x509.Certificate) -> bool:
    try:
        cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
        return True
    except x509.ExtensionNotFound:
        return False


def trust_remedy(host: str, port: int) -> str:
    """Where each kind of client is told to trust a private CA or self-signed certificate."""
    hp = f"{host}:{port}"
    return (
        "Trust the CA (or the self-signed certificate) everywhere a client talks to the registry:\n"
        f"- Docker daemon: copy the CA to `/etc/docker/certs.d/{hp}/ca.crt` (no restart needed).\n"
        "- GitLab Runner / docker-in-docker jobs: mount that `certs.d` folder into the `docker:dind` service "
        "(or set `[[runners]] tls-ca-file` for the runner's own calls); for Kubernetes executors, a ConfigMap "
        "mounted at `/etc/docker/certs.d/<host>:<port>/ca.crt`.\n"
        "- GitLab itself (Omnibus): put the CA in `/etc/gitlab/trusted-certs/` and run `gitlab-ctl reconfigure`; "
        "Helm: `global.certificates.customCAs`.\n"
        "- Better: serve a certificate from a CA the clients already trust, with the full chain in the server "
        "certificate file (leaf first, then intermediates)."
    )


def check_tls(url: str, ca_bundle: str = "", timeout_s: float = DEFAULT_TIMEOUT_S, label: str = "registry") -> list[Finding]:
    """Diagnose the certificate a client meets at ``url``; refs GitLab's documented x509 section."""
    parts = urlsplit(url)
    refs = (SEED_X509,)
    if parts.scheme != "https":
        return [Finding(f"tls.{label}.not_https", Status.SKIP, f"{label}: no TLS to check ({parts.scheme}://)",
                        detail=f"{url} is plain HTTP: TLS is not in use here (or is terminated by a proxy in front).",
                        evidence={"url": url}, refs=refs)]
    host = parts.hostname or ""
    port = parts.port or 443
    if ca_bundle:
        from .http import CABundleError, ssl_context_for

        try:
            ssl_context_for(ca_bundle)
        except CABundleError as exc:
            return [Finding(f"tls.{label}.ca_bundle_unusable", Status.ERROR, f"{label}: the ca_bundle cannot be used",
                            detail=str(exc), evidence={"ca_bundle": ca_bundle},
                            remedy="Point `ca_bundle` at a readable PEM file holding the CA certificate(s) that signed the "
                            "registry's certificate (Omnibus: a file from `/etc/gitlab/trusted-certs/`).", refs=refs)]
    p = probe_tls(host, port, ca_bundle, timeout_s)
    base_ev: dict[str, Any] = {"endpoint": f"{host}:{port}", "ca_bundle": ca_bundle or "system store"}
    if p.connect_error:
        return [Finding(f"tls.{label}.unreachable", Status.FAIL, f"{label}: cannot connect to {host}:{port}",
                        detail=p.connect_error, evidence=base_ev, remedy="Check the host, port and that the service is running.", refs=refs)]
    if p.not_tls and p.plain_http_answer:
        return [Finding(
            f"tls.{label}.plain_http", Status.FAIL, f"{label}: {host}:{port} speaks plain HTTP, not TLS",
            detail=f"The TLS handshake failed ({p.not_tls}) and a plain HTTP request got `{p.plain_http_answer}`.",
            evidence={**base_ev, "http_answer": p.plain_http_answer},
            remedy="Use `http://` for this port, or enable TLS on it (Omnibus: `registry_external_url 'https://...'` with "
            "`registry_nginx['ssl_certificate']`; source: `http.tls.certificate`/`key` in config.yml).", refs=refs)]
    if p.leaf is None:
        return [Finding(f"tls.{label}.handshake", Status.FAIL, f"{label}: TLS handshake failed",
                        detail=p.not_tls or p.verify_message, evidence=base_ev,
                        remedy="Check the server's TLS configuration (protocols, certificate files).", refs=refs)]
    leaf = p.leaf
    ev = {**base_ev, **describe_cert(leaf), "verify": "ok" if p.verified else f"{p.verify_code}: {p.verify_message}",
          "chain": [c.subject.rfc4514_string() for c in p.chain]}
    findings: list[Finding] = []
    now = dt.datetime.now(dt.timezone.utc)
    if leaf.not_valid_after_utc < now:
        findings.append(Finding(f"tls.{label}.expired", Status.FAIL, f"{label}: certificate expired",
                                detail=f"Expired on {leaf.not_valid_after_utc.isoformat()} (now {now.isoformat(timespec='seconds')}).",
                                evidence=ev, remedy="Renew the certificate and reload NGINX / restart the registry.", refs=refs))
    elif leaf.not_valid_before_utc > now:
        findings.append(Finding(f"tls.{label}.not_yet_valid", Status.FAIL, f"{label}: certificate not yet valid",
                                detail=f"Valid only from {leaf.not_valid_before_utc.isoformat()}: a clock is wrong here or "
                                "on the host that issued it.", evidence=ev, remedy="Check clocks (NTP); reissue if needed.", refs=refs))
    elif (leaf.not_valid_after_utc - now).days < 14:
        findings.append(Finding(f"tls.{label}.expiring", Status.WARN, f"{label}: certificate expires soon",
                                detail=f"Expires {leaf.not_valid_after_utc.isoformat()}.", evidence=ev, remedy="Renew it now.", refs=refs))
    if not host_matches(leaf, host):
        findings.append(Finding(
            f"tls.{label}.wrong_host", Status.FAIL, f"{label}: certificate is not for {host}",
            detail=f"{host} is not among the certificate's SANs {describe_cert(leaf)['sans']}; Docker (Go) ignores the CN.",
            evidence=ev, remedy="Reissue the certificate with the registry host name in subjectAltName, or use the name it has.", refs=refs))
    weak = weak_key(leaf.public_key())
    if weak:
        findings.append(Finding(f"tls.{label}.weak_key", Status.WARN, f"{label}: weak certificate key", detail=weak, evidence=ev,
                                remedy="Reissue with RSA ≥ 2048 or EC P-256.", refs=refs))
    code = p.verify_code
    if not p.verified and code in (18, 19, 20, 21, 2):
        explained = " Clients report this as `x509: certificate signed by unknown authority`."
        if code == 18 or (_self_issued(leaf) and len(p.chain) == 1):
            fid, title = "self_signed", f"{label}: self-signed certificate"
            detail = "The server presents a self-signed certificate that is not in the trust store used." + explained
        elif code == 20 and len(p.chain) == 1 and not _self_issued(leaf) and _has_aia(leaf):
            fid, title = "missing_intermediate", f"{label}: intermediate certificate missing"
            detail = ("Only the leaf was sent and its issuer is not a trusted root: the intermediate CA "
                      f"({leaf.issuer.rfc4514_string()}) must be served with it." + explained)
        else:
            fid, title = "unknown_ca", f"{label}: issuer is not a trusted CA"
            detail = (f"The chain ends at {p.chain[-1].issuer.rfc4514_string()}, which is not in "
                      f"{'the given ca_bundle' if ca_bundle else 'the system store'}." + explained)
        remedy = trust_remedy(host, port)
        if fid == "missing_intermediate":
            remedy = ("Append the intermediate certificate(s) to the server certificate file (leaf first), e.g. "
                      "Omnibus `registry_nginx['ssl_certificate']`, then `gitlab-ctl hup nginx`.\n\n" + remedy)
        findings.append(Finding(f"tls.{label}.{fid}", Status.FAIL, title, detail=detail, evidence=ev, remedy=remedy, refs=refs))
    elif not p.verified and code is not None and not any(f.status is Status.FAIL for f in findings):
        findings.append(Finding(f"tls.{label}.verify_failed", Status.FAIL, f"{label}: certificate not accepted",
                                detail=f"Verification failed: {p.verify_message} (code {code}).", evidence=ev,
                                remedy=trust_remedy(host, port), refs=refs))
    if p.verified and not findings:
        findings.append(Finding(f"tls.{label}.ok", Status.OK, f"{label}: certificate trusted",
                                detail=f"Verified against {'the given ca_bundle' if ca_bundle else 'the system store'}.",
                                evidence=ev, refs=refs))
    return findings


def certificate_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def realm_of(registry_url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """The token realm from the registry's challenge, read without verifying TLS (we only want the URL)."""
    from .api import parse_bearer_challenge
    from .http import exchange, make_client

    with make_client(timeout_s, verify=False) as client:
        ex = exchange(client, "GET", registry_url.rstrip("/") + "/v2/")
    if not ex.ok or ex.response is None:
        return ""
    return (parse_bearer_challenge(ex.response.headers.get("www-authenticate", "")) or {}).get("realm", "")


def check_realm_tls(registry_url: str, realm_url: str = "", ca_bundle: str = "", timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Finding]:
    """Docker also verifies GitLab's `/jwt/auth` certificate: an untrusted realm fails logins the same way."""
    realm = realm_url or realm_of(registry_url, timeout_s)
    if not realm:
        return [Finding("tls.realm.unknown", Status.SKIP, "realm: no token realm to check",
                        detail="The registry gave no Bearer challenge and no `realm_url` was given.", refs=(SEED_X509,))]
    return check_tls(realm, ca_bundle, timeout_s, label="realm")


def check_served_certificate(url: str, configured: str | RegistryConfig | None, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Finding]:
    """Is the certificate on the wire the one in the config file? A renewed file with no reload is not.

    ``configured`` is a certificate path or a registry config view (its `http.tls.certificate`)."""
    refs = (SEED_X509,)
    if isinstance(configured, str) or configured is None:
        configured_cert = configured or ""
    else:
        configured_cert = str(getattr(getattr(configured, "http", None), "tls_certificate", "") or "")
    if not configured_cert:
        return [Finding("tls.configured.none", Status.SKIP, "No configured certificate to compare",
                        detail="The registry config has no `http.tls.certificate` (TLS may be terminated by NGINX: "
                        "compare with `registry_nginx['ssl_certificate']`).", refs=refs)]
    parts = urlsplit(url)
    if parts.scheme != "https":
        return [Finding("tls.configured.not_https", Status.WARN, "TLS configured but the URL is plain HTTP",
                        detail=f"The config names {configured_cert} but clients are pointed at {url}.", refs=refs)]
    try:
        from ..safefile import read_bytes

        certs = x509.load_pem_x509_certificates(read_bytes(configured_cert, 1 << 20))
    except (OSError, ValueError) as exc:
        return [Finding("tls.configured.unreadable", Status.ERROR, "Configured certificate cannot be read",
                        detail=f"{configured_cert}: {exc}", remedy="Fix the path or the PEM file.", refs=refs)]
    probe = probe_tls(parts.hostname or "", parts.port or 443, "", timeout_s)
    if probe.leaf is None:
        return [Finding("tls.configured.no_peer", Status.SKIP, "No certificate presented to compare",
                        detail=probe.connect_error or probe.not_tls, refs=refs)]
    served = probe.leaf.fingerprint(hashes.SHA256()).hex(":").upper()
    on_disk = certs[0].fingerprint(hashes.SHA256()).hex(":").upper()
    ev = {"configured_file": configured_cert, "configured_sha256": on_disk, "served_sha256": served,
          "configured_chain_length": len(certs), "served_chain_length": len(probe.chain)}
    if served != on_disk:
        return [Finding("tls.configured.differs", Status.FAIL, "Served certificate is not the configured one",
                        detail="The certificate on the wire differs from the configured file: the service was not "
                        "restarted/reloaded after a change, or another process serves this port.", evidence=ev,
                        remedy="Omnibus: `gitlab-ctl restart registry` (or `gitlab-ctl hup nginx` when NGINX terminates TLS); "
                        "Helm: roll the registry pods after updating the TLS Secret; source: restart the registry.", refs=refs)]
    return [Finding("tls.configured.matches", Status.OK, "Served certificate is the configured one",
                    detail=f"Fingerprint {served}.", evidence=ev, refs=refs)]
