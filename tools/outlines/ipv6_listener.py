"""Notebook outline: ipv6-listener."""

SCENARIO = 'ipv6-listener'

OUTLINE = dict(
    intro="""
**Symptom:** every request through NGINX gets `502 Bad Gateway`, and NGINX's registry error log says
`connect() failed (111: Connection refused) while connecting to upstream ... upstream: "http://[::1]:5000/v2/"`.

When `localhost` resolves to the IPv6 loopback (`::1`) while the registry listens on `127.0.0.1` only (or
the other way round), NGINX proxies to an address where nothing listens. Run this on the registry's host:
the port probes connect to the loopback addresses.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.probes.ipv6 import check_localhost, check_ipv6_listener
from runbooklib.logs.focus import check_logs_for
""",
    steps=[
        ("""
## 1. Configuration
The registry's `http.addr` (config.yml) and `registry['registry_http_addr']` (gitlab.rb).
""", 'rb.read_configs("registry", "gitlab_rb")'),
        ("""
## 2. How `localhost` resolves here
`getaddrinfo("localhost")` in order: IPv6 first means anything configured with `localhost` tries `::1` first.
""", "rb.add(check_localhost())"),
        ("""
## 3. Who listens where, and where NGINX proxies to
The registry's configured address, which loopback answers on its port (127.0.0.1 and ::1), and every
address of NGINX's `proxy_pass` for the registry (from `nginx_config`).
""", "rb.add(check_ipv6_listener(rb.p.registry_url, rb.cfg.registry, rb.cfg.gitlab_rb, rb.p.nginx_config, rb.p.timeout_s))"),
        ("""
## 4. NGINX's error log
GitLab's documented `upstream: "http://[::1]:..."` lines (give NGINX's registry error log in `log_paths`, Omnibus:
`/var/log/gitlab/nginx/gitlab_registry_error.log`).
""", 'rb.add(check_logs_for(rb.log_scan, "ipv6-listener"))'),
    ],
)
