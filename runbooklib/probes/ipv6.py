"""Does the registry listen where NGINX (and GitLab) expect it: IPv4 loopback vs IPv6 loopback?

GitLab's documented case: ``localhost`` resolves to ``::1`` on the GitLab server, NGINX proxies to ``[::1]:5000``
and the registry listens on 127.0.0.1 only, so NGINX logs ``connect() failed (111: Connection refused) while
connecting to upstream ... upstream: "http://[::1]:5000/v2/"`` and clients get 502. We look at how
``localhost`` resolves here, which loopback address answers on the registry's port, the registry's
``http.addr`` / ``registry['registry_http_addr']`` and every address NGINX proxies to.
Port probes connect to loopback addresses: run this on the registry's host.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from ..config.gitlab_rb import GitLabRb
from ..config.registry import RegistryConfig
from ..findings import Finding, Status

SEED_IPV6 = "Registry service listens on IPv6 address instead of IPv4"
REMEDY = (
    "Make the registry and NGINX agree on one loopback address:\n"
    "- Omnibus: `registry['registry_http_addr'] = \"127.0.0.1:5000\"` in /etc/gitlab/gitlab.rb (not "
    "`localhost:5000`), then `gitlab-ctl reconfigure` (NGINX's `proxy_pass` follows it).\n"
    "- Helm: the registry Service targets the pod IP; check `registry.service.internalPort` and that the "
    "container listens on all addresses (`:5000`).\n"
    "- Source: `http.addr: 127.0.0.1:5000` (or `:5000` for both families) in config.yml and "
    "`proxy_pass http://127.0.0.1:5000;` in NGINX instead of `localhost`."
)


def localhost_addresses() -> list[str]:
    """What ``localhost`` resolves to here, in the order clients try them."""
    try:
        infos = socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def probe_port(host: str, port: int, timeout_s: float = 2.0) -> str:
    """``open``, ``refused``, ``timeout`` or ``unavailable`` (no such address family / address here)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(timeout_s)
            s.connect((host.strip("[]"), port))
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "timeout"
    except OSError:
        return "unavailable"


def _split(addr: str) -> tuple[str, int | None]:
    addr = (addr or "").strip()
    if addr.startswith("["):
        host, _, rest = addr.partition("]")
        port = rest.lstrip(":")
        return host + "]", int(port) if port.isdigit() else None
    host, _, port = addr.rpartition(":")
    if not _:
        return addr, None
    return host, int(port) if port.isdigit() else None


def _family_of(host: str) -> str:
    h = host.strip("[]").lower()
    if h in ("", "0.0.0.0", "*"):
        return "all IPv4" if h == "0.0.0.0" else "all"
    if h in ("::", "::0"):
        return "all"
    if h == "localhost":
        return "localhost"
    return "IPv6" if ":" in h else "IPv4"


def _addr_finding(fid: str, label: str, addr: str, where: str, locals_: list[str]) -> Finding:
    host, port = _split(addr)
    fam = _family_of(host)
    ev = {"setting": label, "value": addr, "where": where, "localhost_resolves_to": locals_}
    if fam == "localhost":
        return Finding(
            fid, Status.WARN, f"{label} uses `localhost`",
            detail=f"{label} = {addr!r} ({where}). Here `localhost` resolves to {', '.join(locals_) or 'nothing'}: "
            "the registry listens on one of them, while NGINX may try the other first (IPv6 `::1`), which is "
            "GitLab's documented `upstream: \"http://[::1]:5000\"` error.", evidence=ev, remedy=REMEDY, refs=(SEED_IPV6,))
    if fam == "IPv6" and host.strip("[]") in ("::1",):
        return Finding(
            fid, Status.WARN, f"{label} listens on the IPv6 loopback",
            detail=f"{label} = {addr!r} ({where}): the registry answers on [::1] only; NGINX and GitLab usually expect "
            "127.0.0.1.", evidence=ev, remedy=REMEDY, refs=(SEED_IPV6,))
    return Finding(fid, Status.OK, f"{label} = {addr}",
                   detail=f"{addr!r} ({where}): {fam} address{'es' if fam.startswith('all') else ''}.", evidence=ev, refs=(SEED_IPV6,))


def check_localhost() -> list[Finding]:
    """How ``localhost`` resolves on this host (IPv6 first is what makes `localhost` upstreams go to ::1)."""
    addrs = localhost_addresses()
    first = addrs[0] if addrs else ""
    detail = f"`localhost` resolves to {', '.join(addrs) or 'nothing'} (tried in that order)."
    if ":" in first:
        detail += " IPv6 comes first: anything configured with `localhost` tries ::1 before 127.0.0.1."
    return [Finding("ipv6.localhost", Status.OK if addrs else Status.WARN, "How localhost resolves here", detail=detail,
                    evidence={"localhost": addrs}, remedy="" if addrs else "Add `127.0.0.1 localhost` to /etc/hosts.",
                    refs=(SEED_IPV6,))]


def _registry_port(registry_url: str, registry: RegistryConfig | None, gitlab_rb: GitLabRb | None) -> tuple[int | None, str]:
    addr = getattr(getattr(registry, "http", None), "addr", None) or ""
    if addr:
        return _split(addr)[1], f"registry config http.addr {addr!r}"
    rb_addr = gitlab_rb.registry("registry_http_addr") if gitlab_rb is not None else None
    if isinstance(rb_addr, str) and rb_addr:
        return _split(rb_addr)[1], f"gitlab.rb registry['registry_http_addr'] {rb_addr!r}"
    try:
        port = urlsplit(registry_url).port if registry_url else None
    except ValueError:
        port = None
    return port, f"registry_url {registry_url!r}" if port else "nothing"


def check_ipv6_listener(registry_url: str = "", registry: RegistryConfig | None = None, gitlab_rb: GitLabRb | None = None,
                        nginx_config: str = "", timeout_s: float = 2.0) -> list[Finding]:
    """The registry's configured listen address, which loopback answers on its port, and whether every
    address NGINX proxies to answers."""
    refs = (SEED_IPV6,)
    locals_ = localhost_addresses()
    found: list[Finding] = []
    addr = getattr(getattr(registry, "http", None), "addr", None)
    if addr and registry is not None:
        found.append(_addr_finding("ipv6.http_addr", "http.addr", addr, registry.where("http.addr"), locals_))
    rb_addr = gitlab_rb.registry("registry_http_addr") if gitlab_rb is not None else None
    if isinstance(rb_addr, str) and rb_addr and gitlab_rb is not None:
        found.append(_addr_finding("ipv6.registry_http_addr", "registry['registry_http_addr']", rb_addr,
                                   gitlab_rb.where("registry['registry_http_addr']"), locals_))
    upstreams: list[tuple[str, int, str]] = []
    nginx_note = ""
    if nginx_config:
        from ..config.errors import ConfigError
        from ..config.nginx import read_nginx_config, registry_servers

        try:
            cfg = read_nginx_config(nginx_config)
            for server in registry_servers(cfg, registry_url, addr or ""):
                for loc in server.locations:
                    for up in cfg.upstreams(loc.proxy_pass):
                        if up.port:
                            upstreams.append((up.host, up.port, loc.where))
        except ConfigError as err:
            nginx_note = str(err)
    port, port_from = _registry_port(registry_url, registry, gitlab_rb)
    if port is None and upstreams:
        port, port_from = upstreams[0][1], f"NGINX proxy_pass {upstreams[0][0]}:{upstreams[0][1]}"
    if port is None:
        found.append(Finding("ipv6.no_port", Status.SKIP, "Registry port unknown",
                             detail="Give `registry_config`, `gitlab_rb`, `nginx_config` or `registry_url` to know which "
                             "port to probe.", refs=refs))
        return found
    v4, v6 = probe_port("127.0.0.1", port, timeout_s), probe_port("::1", port, timeout_s)
    ev = {"port": port, "port_from": port_from, "127.0.0.1": v4, "[::1]": v6, "localhost": locals_}
    if v4 != "open" and v6 != "open":
        found.append(Finding(
            "ipv6.not_local", Status.SKIP, f"Nothing answers on loopback port {port} here",
            detail=f"Neither 127.0.0.1:{port} ({v4}) nor [::1]:{port} ({v6}) answers: run this on the registry's host "
            "(or the registry is down: see triage).", evidence=ev, refs=refs))
        return found
    found.append(Finding(
        "ipv6.listeners", Status.OK, f"Registry port {port}: 127.0.0.1 {v4}, [::1] {v6}",
        detail=f"Port {port} (from {port_from}) answers on "
        + " and ".join(a for a, s in (("127.0.0.1", v4), ("[::1]", v6)) if s == "open") + ".", evidence=ev, refs=refs))
    if nginx_note:
        found.append(Finding("ipv6.nginx_unreadable", Status.ERROR, "Cannot read the NGINX config", detail=nginx_note, remedy="Check the path and permissions.", refs=refs))
    for host, up_port, where in upstreams:
        h = host.strip("[]")
        targets = locals_ if h == "localhost" else [h]
        states = {t: probe_port(t, up_port, timeout_s) for t in targets}
        up_ev = {"proxy_pass": f"{host}:{up_port}", "where": where, "answers": states, **ev,
                 "scenario": "ipv6-listener"}
        refused = [t for t, s in states.items() if s != "open"]
        if not refused:
            found.append(Finding("ipv6.upstream_ok", Status.OK, f"NGINX's upstream {host}:{up_port} answers",
                                 detail=f"proxy_pass at {where}: " + ", ".join(f"{t} {s}" for t, s in states.items()) + ".",
                                 evidence=up_ev, refs=refs))
        elif len(refused) == len(states):
            found.append(Finding(
                "ipv6.upstream_refused", Status.FAIL, f"NGINX proxies to {host}:{up_port}, where nothing listens",
                detail=f"proxy_pass at {where} goes to {host}:{up_port} ({', '.join(f'{t} {s}' for t, s in states.items())}) "
                f"while the registry answers on "
                + " and ".join(a for a, s in (("127.0.0.1", v4), ("[::1]", v6)) if s == "open")
                + f":{port}. Every request through NGINX gets 502 and NGINX logs `connect() failed (111: Connection "
                f"refused) while connecting to upstream ... upstream: \"http://{host}:{up_port}/...\"`.",
                evidence=up_ev, remedy=REMEDY, refs=refs))
        else:
            found.append(Finding(
                "ipv6.upstream_partly_refused", Status.WARN,
                f"NGINX's upstream {host}:{up_port} answers on only some of its addresses",
                detail=f"`{host}` resolves to {', '.join(targets)}; {', '.join(refused)} refuse(s) on port {up_port}. NGINX "
                "tries them in turn: requests still pass, but it logs `connect() failed (111: Connection refused)` "
                "for the refused address and may answer 502 under load.", evidence=up_ev, remedy=REMEDY, refs=refs))
    return found
