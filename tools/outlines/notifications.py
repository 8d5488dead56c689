"""Notebook outline: notifications."""

SCENARIO = 'notifications'

OUTLINE = dict(
    intro="""
**Symptom:** pushes and pulls work, but GitLab does not learn of them: features fed by registry events lag or stay
empty, usage data stops; the registry log repeats
`retryingsink: error writing events: httpSink{…/api/v4/container_registry_event/events}: response status 401
Unauthorized unaccepted, retrying` (or `error posting: … connection refused`), and its debug server's `/debug/vars`
shows the endpoint's `Pending` count growing.

The registry POSTs every push and delete to GitLab's
`/api/v4/container_registry_event/events`. GitLab accepts an event only when the `Authorization` header equals its
`registry.notification_secret` (gitlab.yml; `gitlab_rails['registry_notification_secret']` on Omnibus), which must
match the header of the registry's endpoint (`notifications.endpoints[].headers.Authorization` in config.yml;
`registry['notifications']` / `registry['notification_secret']` in gitlab.rb). A failing endpoint never fails a
push: the registry retries the oldest event forever and queues the rest in memory.

This runbook compares both sides' secrets by a digest keyed for this run (values are never shown), sends GitLab an
empty event list with the registry's own header, reads the queue counters twice, and reads the registry's log.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.probes.notifications import (check_notification_secrets, check_notification_delivery,
                                             check_notification_queue)
from runbooklib.logs.focus import check_logs_for
""",
    steps=[
        ("""
## 1. Configuration
The registry's `config.yml` (its notification endpoints and their headers), `gitlab.yml` (GitLab's
`registry.notification_secret`) and `gitlab.rb` (both sides on Omnibus).
""", 'rb.read_configs("registry", "gitlab_yml", "gitlab_rb")'),
        ("""
## 2. Do both sides hold the same secret?
Every place a side sets it, compared by a keyed digest: one digest for all means the secrets match; two digests
name which settings disagree. A GitLab without a secret refuses every event.
""", "rb.add(check_notification_secrets(rb.cfg.registry, rb.cfg.gitlab_yml, rb.cfg.gitlab_rb))"),
        ("""
## 3. Does GitLab accept the registry's header?
An empty event list POSTed to each GitLab endpoint of config.yml with the endpoint's own headers, as the registry
sends it: `200` means accepted (GitLab does nothing with an empty list), `401` means the header is not GitLab's
secret, no answer names the network failure. Endpoints that are not GitLab's are left alone.
""", "rb.add(check_notification_delivery(rb.http, rb.cfg.registry))"),
        ("""
## 4. Is the registry's queue growing?
`/debug/vars` on the debug server (Distribution 2.8 has no notification metrics on `/metrics`): per endpoint
`Pending`, `Successes`, `Failures` (with their HTTP statuses) and `Errors` (no answer), read twice a few seconds
apart so what grows now tells a refusal from an unreachable endpoint. The endpoint's headers, which `/debug/vars`
does show, are never copied.
""", "rb.add(check_notification_queue(rb.http, rb.p.debug_url))"),
        ("""
## 5. What the registry logged
`response status 401 Unauthorized unaccepted` (refused), `error posting: … connection refused` (unreachable),
`encountered too many errors, backing off`, and on GitLab's fork `backoffSink: error writing event` and
`these events will be lost`.
""", 'rb.add(check_logs_for(rb.log_scan, "notifications"))'),
    ],
)
