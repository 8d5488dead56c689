"""Which hop refuses large request bodies (413)?

Docker sends a layer in one ``PATCH``; a proxy whose body limit is below the layer answers ``413`` before the
registry sees anything. With several hops (a cloud load balancer or an ingress in front of Omnibus's NGINX),
the question is *which* one: each answers in its own shape. NGINX writes an HTML page signed with its
``server_tokens`` (``<hr><center>nginx/1.22.1</center>``, or just ``nginx``), load balancers sign theirs
(``awselb/2.0``, ``cloudflare``), and the registry answers only JSON ``{"errors": [...]}`` with
``Docker-Distribution-Api-Version``. The probe here sends one unauthenticated body larger than NGINX's
default limit to the upload endpoint: the registry answers 401 without storing anything, so any 413 comes
from a hop in front of it. The configs, when given, say each hop's limit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from ..findings import Finding, Status
from .http import exchange

SECTION = "Beyond the troubleshooting page: 413 from a proxy or load balancer in front of NGINX"
PROBE_BYTES = 2 * 1024 * 1024  # above NGINX's and ingress-nginx's default 1m: the limit most often left in place
PROBE_REPOSITORY = "runbook-canary"
_FOOTER = re.compile(r"<hr>\s*<center>([^<]{1,80})</center>", re.I)
# what answers sign their pages or Server header with -> what it is (lower-case substrings)
FRONTS = (
    ("awselb", "an AWS Elastic Load Balancer"),
    ("cloudflare", "Cloudflare"),
    ("google frontend", "a Google Cloud load balancer"),
    ("gfe", "a Google Cloud load balancer"),
    ("microsoft-azure-application-gateway", "an Azure Application Gateway"),
    ("akamaighost", "Akamai"),
    ("envoy", "Envoy (an Istio, Contour or Gateway API ingress)"),
    ("haproxy", "HAProxy"),
    ("traefik", "Traefik"),
    ("openresty", "OpenResty (Kong, APISIX or ingress-nginx)"),
    ("nginx", "an NGINX"),
)

REMEDY = (
    "Raise (or remove) the body limit on the hop that answered, and on every hop between clients and the registry:\n"
    "- Omnibus: GitLab's registry NGINX has `client_max_body_size 0`; a proxy in front of it needs the same "
    "(`client_max_body_size 0;` in its server block, `nginx -s reload`).\n"
    "- Helm: the registry Ingress annotation `nginx.ingress.kubernetes.io/proxy-body-size: \"0\"` (ingress-nginx "
    "defaults to 1m); for another ingress or a cloud load balancer, its own request size setting.\n"
    "- Source: `client_max_body_size 0;` in each NGINX in front of the registry.\n"
    "A CDN or WAF with a fixed upload cap (for example Cloudflare's plan limit) cannot carry layers above it: send "
    "registry traffic around it (a DNS-only record for the registry host)."
)


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n} bytes"


def classify_answer(status: int | None, headers: dict[str, str], body: str) -> dict[str, Any]:
    """Who answered, from the answer alone: ``registry`` (JSON errors, the API header), ``nginx``, ``load
    balancer`` (a known product) or ``unknown``; with the body's shape and its signature line."""
    h = {k.lower(): v for k, v in headers.items()}
    server = h.get("server", "")
    ctype = h.get("content-type", "").split(";")[0].strip()
    text = body.strip()
    footer_m = _FOOTER.search(text)
    footer = footer_m.group(1).strip() if footer_m else ""
    if text.startswith("{") and '"errors"' in text:
        shape = "the registry's JSON errors"
    elif footer:
        shape = f"an HTML error page signed `{footer}`"
    elif "html" in ctype or text.lower().startswith(("<html", "<!doctype")):
        shape = "an HTML page"
    elif text:
        shape = f"a {ctype or 'text'} body"
    else:
        shape = "an empty body"
    signed = (footer or server).lower()
    product = next((what for key, what in FRONTS if key in signed), "")
    if h.get("docker-distribution-api-version") or shape == "the registry's JSON errors":
        kind, product = "registry", "the registry"
    elif product == "an NGINX":
        kind = "nginx"
    elif product:
        kind = "load balancer"
    else:
        kind, product = "unknown", "an unidentified hop"
    return {"status": status, "answered_by": kind, "product": product, "server": server, "content_type": ctype,
            "shape": shape, "signature": footer, "body_start": " ".join(text.split())[:200]}


def check_body_limit(client: httpx.Client, registry_url: str, probe_bytes: int = PROBE_BYTES) -> list[Finding]:
    """Send one unauthenticated ``POST /v2/<canary>/blobs/uploads/`` with a body of ``probe_bytes`` through the URL
    clients use. The registry answers 401 and stores nothing; a 413 is a hop in front of it, named by its answer."""
    refs = (SECTION,)
    if not registry_url:
        return [Finding("body_limit.not_checked", Status.SKIP, "Body limit not probed: no registry_url",
                        detail="Give `registry_url` as clients use it (the outermost proxy's or load balancer's URL).",
                        refs=refs)]
    base = registry_url.rstrip("/")
    front = exchange(client, "GET", f"{base}/v2/")
    if front.response is None:
        assert front.failure is not None
        return [Finding("body_limit.not_checked", Status.SKIP, f"Body limit not probed: {front.failure.title}",
                        detail=f"GET {base}/v2/ got no answer ({front.failure.kind}: {front.failure.message}); the "
                               "`triage` forwarding step says why. Give a `registry_url` that answers.",
                        evidence=front.evidence(), refs=refs)]
    front_server = front.response.headers.get("server", "")
    url = f"{base}/v2/{PROBE_REPOSITORY}/blobs/uploads/"
    ex = exchange(client, "POST", url, content=b"\0" * probe_bytes,
                  headers={"Content-Type": "application/octet-stream"})
    ev: dict[str, Any] = {"probe": f"POST {url} with {probe_bytes} bytes, no credentials", "front_server": front_server}
    if ex.response is None:
        assert ex.failure is not None
        return [Finding("body_limit.no_answer", Status.WARN, f"A {_size(probe_bytes)} request body got no answer",
                        detail=f"The probe's connection ended without an answer ({ex.failure.kind}: "
                               f"{ex.failure.message}). A hop that drops large bodies instead of answering 413 (some "
                               "load balancers and WAFs) looks like this; a small request to the same URL answered "
                               f"{front.response.status_code}.",
                        evidence={**ev, "error": f"{ex.failure.kind}: {ex.failure.message}", "scenario": "body-limit-413"},
                        remedy=REMEDY, refs=refs)]
    r = ex.response
    who = classify_answer(r.status_code, dict(r.headers), r.text[:4096] if r.content else "")
    ev.update(who)
    if r.status_code == 413:
        outermost = bool(front_server) and (who["signature"] or who["server"]).lower() == front_server.lower()
        where = ("It carries the same signature as the `Server` header of every answer at this URL "
                 f"(`{front_server}`): the outermost hop answered." if outermost else
                 f"Every answer at this URL carries `Server: {front_server or '?'}`, the 413 page is signed "
                 f"`{who['signature'] or who['server'] or '?'}`: a hop behind the outermost one answered.")
        if who["answered_by"] == "registry":
            where = "The answer has the registry's API header or JSON errors: the registry itself refused the size."
        return [Finding(
            "body_limit.refused", Status.FAIL, f"{who['product'][0].upper()}{who['product'][1:]} answers 413 to a "
                                               f"{_size(probe_bytes)} request body",
            detail=f"The probe's {_size(probe_bytes)} body got `413` with {who['shape']} (`Server: "
                   f"{who['server'] or '-'}`, {who['content_type'] or 'no content type'}), not the registry's 401. "
                   f"{where} Every layer above that hop's limit fails to push (Docker sends a layer in one PATCH).",
            evidence={**ev, "scenario": "body-limit-413"}, remedy=REMEDY, refs=refs)]
    if who["answered_by"] == "registry":
        return [Finding("body_limit.ok", Status.OK, f"A {_size(probe_bytes)} request body reaches the registry",
                        detail=f"The registry itself answered {r.status_code} (nothing was stored: the probe sends no "
                               f"credentials). Limits above {_size(probe_bytes)} are not seen by this probe: the "
                               "configs below and a canary push tell.", evidence=ev, refs=refs)]
    return [Finding("body_limit.inconclusive", Status.INFO, f"The body probe got {r.status_code} from {who['product']}",
                    detail=f"Neither the registry's answer nor a 413: {who['shape']}. Read the hop trace of a canary push.",
                    evidence=ev, refs=refs)]


def _hop_rows(label: str, path: str, registry_url: str, registry_side: bool) -> tuple[list[dict[str, Any]], str]:
    """The body limit of each proxying server block of one NGINX config (rows), or why it could not be read."""
    from ..config.errors import ConfigError
    from ..config.nginx import read_nginx_config, registry_servers, size_bytes

    try:
        cfg = read_nginx_config(path)
    except ConfigError as exc:
        return [], str(exc)
    servers = registry_servers(cfg, "" if registry_side else registry_url) if registry_side else \
        [s for s in cfg.servers if s.locations]
    if not servers:
        servers = [s for s in cfg.servers if s.locations]
    rows = []
    for server in servers:
        loc = server.main_location()
        if loc is None:
            continue
        size = loc.client_max_body_size
        rows.append({"hop": label, "config": path, "server": server.where, "listen": [x.raw for x in server.listens],
                     "proxy_pass": loc.proxy_pass, "client_max_body_size": size.value,
                     "where": size.where or "not set: NGINX's default", "bytes": size_bytes(size.value)})
    return rows, "" if rows else f"{path}: no server block that proxies"


def check_hop_limits(nginx_config: str = "", proxy_configs: list[str] | tuple[str, ...] = (),
                     registry_url: str = "") -> list[Finding]:
    """Each hop's configured ``client_max_body_size``: the proxies in front (``proxy_configs``, outermost first)
    and the registry's own NGINX (``nginx_config``). A limit anywhere on the path is the limit of the path."""
    refs = (SECTION,)
    if not nginx_config and not proxy_configs:
        return [Finding("body_limit.configs_not_given", Status.SKIP, "Hop limits not compared: no configs given",
                        detail="Give `proxy_configs` (NGINX configs of the proxies in front of the registry's NGINX, "
                               "outermost first) and `nginx_config` (the registry's NGINX) to compare each hop's "
                               "`client_max_body_size`. For a cloud load balancer, read its request size setting.",
                        refs=refs)]
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    hops = [("outermost proxy" if i == 1 else f"proxy {i} from the outside", p, False)
            for i, p in enumerate(proxy_configs, 1)]
    if nginx_config:
        hops.append(("registry NGINX", nginx_config, True))
    for label, path, registry_side in hops:
        got, problem = _hop_rows(label, str(Path(path).expanduser()), registry_url, registry_side)
        rows.extend(got)
        if problem:
            problems.append(f"{label}: {problem}")
    found: list[Finding] = []
    if problems:
        found.append(Finding("body_limit.config_unreadable", Status.ERROR, "Some hop configs could not be read",
                             detail="; ".join(problems) + ".", evidence={"problems": problems}, refs=refs))
    limited = [r for r in rows if r["bytes"] != 0]
    if limited:
        tightest = min(limited, key=lambda r: r["bytes"] if r["bytes"] is not None else 0)
        others = "; ".join(f"{r['hop']}: `{r['client_max_body_size']}`" for r in rows if r is not tightest)
        found.append(Finding(
            "body_limit.hop_limited", Status.FAIL,
            f"The {tightest['hop']} limits request bodies to {tightest['client_max_body_size']}",
            detail=f"`client_max_body_size {tightest['client_max_body_size']}` ({tightest['where']}) in "
                   f"{tightest['config']}: layers above it get 413 from that hop"
                   + (f". The other hops: {others}." if others else ".")
                   + " The smallest limit on the path is the path's limit.",
            evidence={"hops": rows, "scenario": "body-limit-413"}, remedy=REMEDY, refs=refs))
    elif rows:
        found.append(Finding("body_limit.hops_unlimited", Status.OK, "No hop in the given configs limits body size",
                             detail="Every hop has `client_max_body_size 0`: a 413 must come from a hop whose config "
                                    "was not given (a load balancer, CDN or WAF).",
                             evidence={"hops": rows}, refs=refs))
    return found
