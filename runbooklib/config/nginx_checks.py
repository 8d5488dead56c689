"""Checks of the registry's NGINX config: the port clients use, TLS on it, the upstream the registry listens on,
the forwarded headers and the body limits pushes depend on (GitLab's pre-check 4 and "Image push errors")."""

from __future__ import annotations

from pathlib import Path

from ..findings import Finding, Status
from .errors import ConfigError
from .nginx import (OMNIBUS_REGISTRY_CONF, SEED_NGINX, SEED_PUSH, NginxConfig, ProxyLocation, ServerBlock,
                    _split_hostport, basic_auth, read_nginx_config, registry_servers, size_bytes, url_port)
from .nginx_t import nginx_binary, run_nginx_t
from .procenv import effective_relativeurls
from .registry import RegistryConfig


def _upstream_ports(cfg: NginxConfig, servers: list[ServerBlock]) -> set[int]:
    return {u.port for s in servers for loc in s.locations for u in cfg.upstreams(loc.proxy_pass) if u.port}


def check_nginx_config(path: str | Path | None, registry_url: str = "", registry: RegistryConfig | None = None,
                       nginx_t: bool | None = None, proxy_configs: tuple[str, ...] | list[str] = ()) -> list[Finding]:
    """Read the NGINX config and check what pushes depend on: the port clients use is one NGINX listens on
    (with TLS when the URL is https), ``Host`` and ``X-Forwarded-Proto`` are forwarded (or the registry
    uses relative URLs), and the registry's body size is unlimited. ``registry`` is the RegistryConfig, if
    read (for ``http.addr`` and ``http.relativeurls``). ``nginx_t``: also run ``nginx -t`` on a private copy
    (see :func:`run_nginx_t`); None runs it when an ``nginx`` binary is installed here. ``proxy_configs``: NGINX
    configs of proxies in front of this one (then ``registry_url``'s port may be theirs)."""
    refs = (SEED_NGINX, SEED_PUSH)
    if not path:
        return [Finding("nginx.not_given", Status.SKIP, "No NGINX config given",
                        detail="Give `nginx_config` to check which port receives requests and which headers reach the "
                        "registry.", remedy=f"Omnibus: {OMNIBUS_REGISTRY_CONF} (or /var/opt/gitlab/nginx/conf/nginx.conf "
                        "to follow its includes); Helm: the Ingress annotations of the registry; source: your "
                        "NGINX site file.", refs=refs)]
    try:
        cfg = read_nginx_config(path)
    except ConfigError as err:
        return [Finding("nginx.unreadable", Status.ERROR, "Cannot read the NGINX config", detail=str(err),
                        evidence={"file": err.file}, remedy="Check the path and permissions (Omnibus: readable by root).", refs=refs)]
    findings: list[Finding] = []
    unknown = sorted({u["directive"] for u in cfg.unknown})
    detail = (f"{len(cfg.files)} file(s), {len(cfg.servers)} server block(s), "
              f"{sum(len(s.locations) for s in cfg.servers)} proxying location(s).")
    if unknown:
        detail += " Directives this reader does not know (ignored): " + ", ".join(unknown[:10]) + "."
    findings.append(Finding("nginx.read", Status.OK, "NGINX config read", detail=detail, evidence=cfg.evidence(), refs=refs))
    if cfg.missing_includes:
        findings.append(Finding(
            "nginx.include_missing", Status.WARN, f"{len(cfg.missing_includes)} include(s) name no file",
            detail="; ".join(f"{m['include']} ({m['where']})" for m in cfg.missing_includes[:5])
            + ". Settings in them are unknown here; NGINX itself refuses to start with a missing include.",
            evidence={"missing_includes": list(cfg.missing_includes)},
            remedy="Pass the folder layout as it is on the server (copy the included files too), or the file that holds "
            "the registry's server block.", refs=refs))
    if cfg.problems:
        findings.append(Finding(
            "nginx.parse_problems", Status.WARN, f"{len(cfg.problems)} syntax problem(s) in the NGINX config",
            detail="; ".join(cfg.problems[:5]) + ". The rest was read.", evidence={"problems": list(cfg.problems)},
            remedy="Fix the file at the line named (`nginx -t` would refuse the config the same way: Omnibus "
            "`/opt/gitlab/embedded/sbin/nginx -p /var/opt/gitlab/nginx -t`). NGINX keeps running its old config "
            "after a failed reload, so the running proxy may differ from this file.", refs=refs))
    basic = basic_auth(cfg.directives)
    if basic:
        findings.append(Finding(
            "nginx.auth_basic", Status.OK, "NGINX asks for basic authentication (context)",
            detail=f"`auth_basic` at {', '.join(d.where for d in basic[:3])}: NGINX answers 401 with a Basic challenge "
            "before the registry sees the request (Distribution's NGINX recipe authenticates this way). It is no "
            "cause of a 403; in front of a GitLab registry it replaces the registry's Bearer challenge, which "
            "`triage` shows.", evidence={"auth_basic": [d.where for d in basic]}, refs=refs))
    if nginx_t is None or nginx_t:
        verdict = run_nginx_t(cfg) if (nginx_t or nginx_binary()) else None
        if verdict is not None:
            findings.append(verdict.finding(refs))
    addr = getattr(getattr(registry, "http", None), "addr", None) or ""
    relative = effective_relativeurls(registry)[0] if registry is not None else False
    servers = registry_servers(cfg, registry_url, addr)
    if not servers:
        findings.append(Finding(
            "nginx.no_registry_server", Status.WARN, "No server block for the registry found",
            detail="No proxying server block listens on the registry URL's port or proxies to the registry's address.",
            evidence={"servers": [s.describe() for s in cfg.servers]},
            remedy=f"Point `nginx_config` at the file with the registry's server block (Omnibus: {OMNIBUS_REGISTRY_CONF}).",
            refs=refs))
        return findings
    findings.extend(_check_port(cfg, servers, registry_url, refs, proxy_configs))
    findings.extend(_check_upstream(cfg, servers, addr, registry))
    for server in servers:
        loc = server.main_location()
        if loc is None:
            continue
        findings.extend(_check_headers(cfg, server, loc, relative, refs))
        findings.extend(_check_body(server, loc, refs))
        if loc.access_rules:
            findings.append(Finding(
                "nginx.access_rules", Status.WARN, "Access rules in the registry's server block",
                detail=f"{loc.path} at {loc.where} has: {'; '.join(loc.access_rules[:5])}. NGINX answers 401/403 itself "
                "for requests these rules refuse (an HTML page, not the registry's JSON).",
                evidence={"rules": list(loc.access_rules), "scenario": "push-403"},
                remedy="Docker clients authenticate with GitLab's tokens: remove basic auth and IP rules from the "
                "registry's server block, or make sure they allow every client and GitLab itself.",
                refs=("Unexpected 403 error during push",)))
    return findings


def _front_listening(proxy_configs: tuple[str, ...] | list[str], port: int | None) -> str:
    """Where a proxy in front (one of ``proxy_configs``) listens on ``port`` ('' when none does)."""
    for path in proxy_configs:
        try:
            front = read_nginx_config(path)
        except ConfigError:
            continue
        for server in front.servers:
            hit = next((li for li in server.listens if li.port == port), None)
            if hit is not None and server.locations:
                return f"`listen {hit.raw}` at {hit.where}"
    return ""


def _check_port(cfg: NginxConfig, servers: list[ServerBlock], registry_url: str,
                refs: tuple[str, ...], proxy_configs: tuple[str, ...] | list[str] = ()) -> list[Finding]:
    if not registry_url:
        return [Finding("nginx.port.not_checked", Status.SKIP, "Port not compared: no registry_url",
                        detail="Give `registry_url` to compare its port with NGINX's listen ports.",
                        evidence={"servers": [s.describe() for s in servers]}, refs=refs)]
    scheme, host, port = url_port(registry_url)
    listening = sorted({p for s in cfg.servers for p in s.ports})
    ev = {"registry_url": registry_url, "url_port": port, "servers": [s.describe() for s in servers],
          "all_listen_ports": listening, "scenario": "push-retry-relative-urls"}
    matching = [s for s in servers if port in s.ports]
    if matching:
        server = matching[0]
        listen = next(li for li in server.listens if li.port == port)
        if (scheme == "https") != listen.ssl:
            return [Finding(
                "nginx.port.scheme_mismatch", Status.FAIL,
                f"registry_url says {scheme} but NGINX listens on {port} {'with' if listen.ssl else 'without'} TLS",
                detail=f"`listen {listen.raw}` at {listen.where}: clients using {registry_url} get "
                + ("`400 The plain HTTP request was sent to HTTPS port`." if listen.ssl else "a TLS handshake error."),
                evidence=ev, remedy="Make the scheme of `registry_external_url` (and the clients' registry address) match the "
                "listener: `listen PORT ssl;` for https.", refs=refs)]
        return [Finding("nginx.port.ok", Status.OK, f"NGINX listens on {port}, the registry URL's port",
                        detail=f"`listen {listen.raw}` at {listen.where} ({'TLS' if listen.ssl else 'plain HTTP'}), as "
                        f"{registry_url} needs.", evidence=ev, refs=refs)]
    front = _front_listening(proxy_configs, port)
    if front:
        return [Finding("nginx.port.behind_proxy", Status.OK, f"registry_url's port {port} is a proxy's in front of NGINX",
                        detail=f"{front} (one of `proxy_configs`) receives {registry_url} and proxies on; this NGINX "
                               f"listens on {', '.join(map(str, sorted({p for s in servers for p in s.ports}))) or 'nothing'}.",
                        evidence={**ev, "scenario": ""}, refs=refs)]
    if port in _upstream_ports(cfg, servers):
        return [Finding(
            "nginx.port.bypass", Status.SKIP, "registry_url reaches the registry directly, not through NGINX",
            detail=f"Port {port} is NGINX's upstream (the registry itself); NGINX listens on "
            f"{', '.join(map(str, sorted({p for s in servers for p in s.ports}))) or 'nothing'}. Probes with this URL "
            "bypass NGINX, so they cannot see proxy problems.", evidence=ev,
            remedy="To test the path clients take, give `registry_url` as clients use it (NGINX's listen port).", refs=refs)]
    return [Finding(
        "nginx.port.mismatch", Status.FAIL, f"NGINX does not listen on {port}, the registry URL's port",
        detail=f"{registry_url} uses port {port}; the registry's server block listens on "
        f"{', '.join(map(str, sorted({p for s in servers for p in s.ports}))) or 'nothing'}. Requests to {port} "
        "reach something else (or nothing).", evidence=ev,
        remedy="Omnibus: the port comes from `registry_external_url` (and `registry_nginx['listen_port']`); "
        "reconfigure after changing it. Helm: the Ingress host/port. Source: the `listen` of the registry's "
        "server block must be the port in the clients' registry address.", refs=refs)]


SEED_IPV6 = "Registry service listens on IPv6 address instead of IPv4"


def _family(host: str) -> str:
    h = host.strip("[]").lower()
    if h in ("", "*", "::", "0.0.0.0"):
        return "any" if h != "0.0.0.0" else "ipv4"
    if h == "localhost":
        return "localhost"
    return "ipv6" if ":" in h else "ipv4"


def _check_upstream(cfg: NginxConfig, servers: list[ServerBlock], registry_addr: str, registry: RegistryConfig | None) -> list[Finding]:
    """Does NGINX proxy to where the registry listens (``http.addr``): same port, same address family?"""
    refs = (SEED_IPV6, SEED_NGINX)
    if not registry_addr:
        return []
    reg_host, reg_port = _split_hostport(registry_addr if not registry_addr.startswith(":") else "*" + registry_addr)
    reg_family = _family(reg_host)
    where = registry.where("http.addr") if registry is not None else "config.yml"
    out: list[Finding] = []
    seen = set()
    for server in servers:
        for loc in server.locations:
            for up in cfg.upstreams(loc.proxy_pass):
                key = (up.host, up.port)
                if key in seen or up.port is None:
                    continue
                seen.add(key)
                ev = {"proxy_pass": loc.proxy_pass, "location": loc.where, "upstream": up.address,
                      "registry_http_addr": registry_addr, "registry_addr_where": where, "scenario": "ipv6-listener"}
                up_family = _family(up.host)
                if reg_port and up.port != reg_port:
                    out.append(Finding(
                        "nginx.upstream.port_mismatch", Status.FAIL,
                        f"NGINX proxies to port {up.port}, the registry listens on {reg_port}",
                        detail=f"`proxy_pass {loc.proxy_pass}` ({loc.where}) vs `http.addr: {registry_addr}` ({where}): "
                        "NGINX answers 502 for every request.", evidence=ev,
                        remedy="Make them agree: Omnibus derives NGINX's upstream from `registry['registry_http_addr']` "
                        "(reconfigure after changing it); source: fix `proxy_pass` or `http.addr`.", refs=refs))
                elif reg_family in ("ipv4", "ipv6") and up_family in ("ipv4", "ipv6") and up_family != reg_family:
                    out.append(Finding(
                        "nginx.upstream.family_mismatch", Status.FAIL,
                        f"NGINX proxies to {up.address} ({up_family}), the registry listens on {registry_addr}",
                        detail=f"`proxy_pass {loc.proxy_pass}` ({loc.where}) uses {up_family.upper()} while `http.addr` "
                        f"({where}) is {reg_family.upper()} only: NGINX logs `connect() failed (111: Connection "
                        f"refused) while connecting to upstream` and answers 502.", evidence=ev,
                        remedy="Omnibus: `registry['registry_http_addr'] = \"127.0.0.1:5000\"` and reconfigure; source: "
                        "`proxy_pass http://127.0.0.1:5000;` with `http.addr: 127.0.0.1:5000` (or `:5000` for both "
                        "families). Run `ipv6-listener` to probe both loopbacks.", refs=refs))
                elif up_family == "localhost" and reg_family in ("ipv4", "ipv6"):
                    out.append(Finding(
                        "nginx.upstream.localhost", Status.WARN, f"NGINX proxies to {up.address}",
                        detail=f"`proxy_pass {loc.proxy_pass}` ({loc.where}) resolves `localhost`, which may give ::1 before "
                        f"127.0.0.1, while the registry listens on {registry_addr} only (GitLab's documented IPv6 case).", evidence=ev,
                        remedy="Use the registry's literal address in `proxy_pass` (Omnibus: set "
                        "`registry['registry_http_addr'] = \"127.0.0.1:5000\"`). Run `ipv6-listener`.", refs=refs))
                else:
                    out.append(Finding("nginx.upstream.ok", Status.OK, f"NGINX proxies to {up.address}",
                                       detail=f"`proxy_pass {loc.proxy_pass}` ({loc.where}) matches `http.addr: "
                                       f"{registry_addr}` ({where}).", evidence=ev, refs=refs))
    return out


def _check_headers(cfg: NginxConfig, server: ServerBlock, loc: ProxyLocation, relative: bool,
                   refs: tuple[str, ...]) -> list[Finding]:
    out: list[Finding] = []
    upstream_tls = any(u.scheme == "https" for u in cfg.upstreams(loc.proxy_pass))
    host = loc.header("Host")
    proto = loc.header("X-Forwarded-Proto")
    xff = loc.header("X-Forwarded-For")
    ev = {"location": loc.where, "proxy_pass": loc.proxy_pass,
          "headers": {k: {"value": v.value, "where": v.where} for k, v in loc.headers.items()},
          "listen_ssl": server.ssl, "registry_relativeurls": relative, "scenario": "push-retry-relative-urls"}
    remedy_headers = (
        "In the registry's `location /` block:\n"
        "```\nproxy_set_header  Host              $http_host;\nproxy_set_header  X-Forwarded-Proto $scheme;\n"
        "proxy_set_header  X-Forwarded-For   $proxy_add_x_forwarded_for;\n```\n"
        "(a `proxy_set_header` in a block replaces all those inherited from outer blocks: repeat them all). "
        "Or let the registry answer with relative URLs: Omnibus `registry['env'] = "
        "{ \"REGISTRY_HTTP_RELATIVEURLS\" => true }`; Helm `registry.relativeurls: true`; source "
        "`http.relativeurls: true`.")
    problems = 0
    if host is None:
        problems += 1
        out.append(Finding(
            "nginx.headers.host_not_forwarded", Status.WARN if relative else Status.FAIL,
            "NGINX does not forward the client's Host header",
            detail=f"No `proxy_set_header Host` in effect at {loc.where}: the registry sees `Host: <upstream address>` "
            f"({loc.proxy_pass}) and builds its upload `Location` URLs for that address"
            + (" (relative URLs are on, so Locations stay usable)." if relative else
               ", which clients cannot use: pushes retry forever."), evidence=ev, remedy=remedy_headers, refs=refs))
    elif host.value.strip() == "$host" and any(p not in (80, 443) for p in server.ports):
        problems += 1
        out.append(Finding(
            "nginx.headers.host_without_port", Status.WARN, "Host is forwarded without the port",
            detail=f"`proxy_set_header Host $host` ({host.where}) drops the port; the registry listens behind port(s) "
            f"{', '.join(map(str, server.ports))}, so absolute `Location` URLs lose it.", evidence=ev,
            remedy="Use `proxy_set_header Host $http_host;` (it keeps the port).", refs=refs))
    if server.ssl and not upstream_tls:
        if proto is None:
            problems += 1
            out.append(Finding(
                "nginx.headers.missing_forwarded_proto", Status.OK if relative else Status.FAIL,
                "NGINX terminates TLS but does not send X-Forwarded-Proto",
                detail=f"The server listens with TLS and proxies to {loc.proxy_pass} in plain HTTP without "
                f"`proxy_set_header X-Forwarded-Proto` ({loc.where}). "
                + ("The registry uses relative URLs, so its Locations are not affected." if relative else
                   "The registry (relativeurls off) then sends clients `Location: http://...` on the TLS port: "
                   "`docker login` works, pushes retry in a loop (GitLab's documented 'Image push errors')."),
                evidence=ev, remedy=remedy_headers, refs=refs))
        elif proto.value.strip().lower() == "http":
            problems += 1
            out.append(Finding(
                "nginx.headers.wrong_forwarded_proto", Status.FAIL, "X-Forwarded-Proto says http behind TLS",
                detail=f"`proxy_set_header X-Forwarded-Proto {proto.value}` at {proto.where} while clients use https.",
                evidence=ev, remedy=remedy_headers, refs=refs))
    if not problems:
        out.append(Finding(
            "nginx.headers.ok", Status.OK, "NGINX forwards the headers the registry needs",
            detail=f"At {loc.where}: Host = {host.value if host else '(not set)'}, X-Forwarded-Proto = "
            f"{proto.value if proto else '(not set)'}, X-Forwarded-For = {xff.value if xff else '(not set)'}"
            + ("; relative URLs are on in the registry." if relative else "."), evidence=ev, refs=refs))
    return out


def _check_body(server: ServerBlock, loc: ProxyLocation, refs: tuple[str, ...]) -> list[Finding]:
    out: list[Finding] = []
    size = loc.client_max_body_size
    ev = {"location": loc.where, "client_max_body_size": {"value": size.value, "where": size.where or "NGINX default"},
          "proxy_request_buffering": {"value": loc.proxy_request_buffering.value,
                                      "where": loc.proxy_request_buffering.where or "NGINX default"},
          "chunked_transfer_encoding": {"value": loc.chunked_transfer_encoding.value,
                                        "where": loc.chunked_transfer_encoding.where or "NGINX default"},
          "scenario": "body-limit-413"}
    if size_bytes(size.value) != 0:
        where = size.where or "not set: NGINX's default"
        out.append(Finding(
            "nginx.body_size.limited", Status.FAIL, f"NGINX limits request bodies to {size.value}",
            detail=f"`client_max_body_size {size.value}` ({where}) applies to the registry: Docker sends each layer in "
            f"one PATCH, so every layer above {size.value} fails with `413 Request Entity Too Large`.", evidence=ev,
            remedy="Set `client_max_body_size 0;` in the registry's server block (Omnibus does by default; check "
            "custom NGINX settings; Helm Ingress: `nginx.ingress.kubernetes.io/proxy-body-size: \"0\"`).", refs=refs))
    else:
        out.append(Finding("nginx.body_size.ok", Status.OK, "No body size limit for the registry",
                           detail=f"`client_max_body_size 0` ({size.where}).", evidence=ev, refs=refs))
    if loc.proxy_request_buffering.value.lower() == "on":
        # context, not a cause: GitLab's and Distribution's own NGINX samples leave it on and pushes work; it
        # only matters next to a full disk or short timeouts, which other findings name
        context = {k: v for k, v in ev.items() if k != "scenario"}
        out.append(Finding(
            "nginx.request_buffering_on", Status.OK, "NGINX buffers uploads before passing them on (context)",
            detail=f"`proxy_request_buffering` is on ({loc.proxy_request_buffering.where or 'NGINX default'}): each layer "
            "is written to NGINX's temp folder first, then sent to the registry. Pushes work this way (GitLab's "
            "and Distribution's sample configs do it); with very large layers it costs disk space and time.",
            evidence=context, remedy="If large pushes are slow or NGINX's disk fills up: `proxy_request_buffering off;` in the "
            "registry's location, as Omnibus does.", refs=refs))
    if loc.chunked_transfer_encoding.value.lower() == "off":
        out.append(Finding(
            "nginx.chunked_off", Status.WARN, "chunked_transfer_encoding is off",
            detail=f"At {loc.chunked_transfer_encoding.where}: the registry relies on chunked transfer for streaming "
            "answers; Docker's documentation for NGINX in front of a registry sets it on.", evidence=ev,
            remedy="Set `chunked_transfer_encoding on;` in the registry's server block.", refs=refs))
    return out
