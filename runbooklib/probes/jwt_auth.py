"""GitLab's ``/jwt/auth`` refusals (issue #19, `jwt-auth-refused`): ask for the tokens a pull and a push need, the
way ``docker`` does, and tell the three ways GitLab says no apart:

* **401** ``UNAUTHORIZED`` ``HTTP Basic: Access denied``: the credentials were not accepted at all (wrong password,
  a password on an account with 2FA, an expired, revoked or unknown token, a blocked user, a CI job token of a
  finished job);
* **403** ``DENIED`` ``access forbidden``: the credentials are valid but carry no registry ability (a personal,
  project or group access token with neither ``read_registry`` nor ``write_registry``);
* **200, but the token grants fewer actions than asked**: GitLab silently drops what the credentials may not do
  (``read_registry`` only, a role below Developer, a CI job token used on another project); the registry then
  answers ``denied: requested access to the resource is denied`` or ``insufficient_scope``.

The password is a secret parameter (``env:``/``file:``); it is never shown. Tokens are decoded (never verified,
never shown) only for their ``access`` claim.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..findings import Finding, Status
from ..tokens import decode_unverified
from .api import parse_bearer_challenge
from .auth import realm_policy, request_token
from .endpoint import RegistryEndpoint
from .http import exchange

REF = "Beyond the troubleshooting page: GitLab's /jwt/auth refuses registry tokens"
DOCS = "https://docs.gitlab.com/user/packages/container_registry/authenticate_with_container_registry/"
LEGACY_2FA = "You must use a personal access token"

CREDENTIALS_REMEDY = (
    "Log in with credentials GitLab accepts for the registry:\n"
    "- A person: a personal access token with `read_registry` (pull) and `write_registry` (push) as the password "
    "(required when the account has 2FA, or when password authentication for Git over HTTP is off); check it has "
    "not expired or been revoked (User settings → Access tokens).\n"
    "- CI: `docker login -u \"$CI_REGISTRY_USER\" -p \"$CI_REGISTRY_PASSWORD\" \"$CI_REGISTRY\"`; the job token "
    "lives only while its job runs.\n"
    "- A blocked or deactivated user cannot log in: an administrator unblocks it (Admin → Users), or use a "
    "deploy token / group access token instead.\n"
    "Omnibus, Helm and source installs alike: GitLab's Rails log (`production_json.log`, `auth_json.log` "
    "`JWT authentication failed` with `http_user`) names the refused login."
)
SCOPE_REMEDY = (
    "Give the token the registry scopes: `read_registry` to pull, `write_registry` to push (personal, project and "
    "group access tokens; deploy tokens have the same two). A token's scopes cannot be changed: create a new one.\n"
    "The same on Omnibus, Helm and source installs."
)
REDUCED_REMEDY = (
    "GitLab issued a token but dropped actions the credentials may not do:\n"
    "- `push` missing: the token lacks `write_registry`, or the user's role in the project is below Developer, or a "
    "CI job token is used on another project (job tokens push only to their own project's registry).\n"
    "- `pull` missing too: the user cannot see the project (not a member of a private project), the project does not "
    "exist at this path, or its container registry is disabled; for a CI job token, add the job's project to the "
    "target project's job token allowlist (Settings → CI/CD → Job token permissions).\n"
    "The same on Omnibus, Helm and source installs."
)


def _granted(token: str, repository: str) -> list[str] | None:
    """Actions the token's ``access`` claim grants on ``repository`` (None when the token cannot be decoded)."""
    try:
        _, claims = decode_unverified(token)
    except ValueError:
        return None
    actions: list[str] = []
    for entry in claims.get("access") or []:
        if isinstance(entry, dict) and entry.get("type") == "repository" and entry.get("name") == repository:
            actions += [str(a) for a in entry.get("actions") or []]
    return actions


def _refusal_reasons(message: str, username: str, password: str) -> str:
    if LEGACY_2FA in message:
        return ("GitLab says the account needs a personal access token: it has two-factor authentication (or "
                "password authentication for Git over HTTP is off), so the password cannot be used")
    if username == "gitlab-ci-token":
        return ("a CI job token was refused: the job has finished (job tokens expire with their job) or the token "
                "comes from another GitLab instance")
    if password.startswith(("glpat-", "gldt-", "glcbt-")):
        return "a GitLab token was refused: it is wrong, expired or revoked, or its user is blocked"
    return ("the password is wrong, the account has two-factor authentication (use a personal access token), "
            "password authentication for Git over HTTP is off, or the user is blocked")


def check_jwt_auth(client: httpx.Client, endpoint: RegistryEndpoint, repository: str) -> list[Finding]:
    """Ask GitLab's realm for a pull token and a push token for ``repository`` and say, for each, whether GitLab
    refused the credentials (401), refused the registry (403), or granted fewer actions than asked."""
    refs = (REF, DOCS)
    if not repository:
        return [Finding("jwt.no_repository", Status.SKIP, "Token scopes not tested: no repository",
                        detail="Give `repository` (the image path, e.g. `group/project` or `group/project/app`) to ask "
                               "GitLab for the pull and push tokens a client needs.", refs=refs)]
    if not endpoint.username:
        return [Finding("jwt.no_credentials", Status.SKIP, "Token scopes not tested: no username",
                        detail="Give `username` and `password` (as `env:NAME` or `file:PATH`): the credentials the "
                               "failing client uses.", refs=refs)]
    realm = endpoint.realm_url
    if not realm:
        if not endpoint.url:
            return [Finding("jwt.no_realm", Status.SKIP, "Token scopes not tested: no realm",
                            detail="Give `registry_url` (the realm is read from its challenge) or `realm_url`.",
                            refs=refs)]
        first = exchange(client, "GET", endpoint.base + "/v2/")
        challenge = parse_bearer_challenge(first.response.headers.get("www-authenticate", "")) if first.ok and \
            first.response is not None else None
        realm = (challenge or {}).get("realm", "")
        if not realm:
            return [Finding("jwt.no_realm", Status.SKIP, "Token scopes not tested: the registry gave no token realm",
                            detail=f"GET {endpoint.base}/v2/ gave no Bearer challenge; give `realm_url` "
                                   "(https://<gitlab>/jwt/auth).", evidence=first.evidence(body_limit=200), refs=refs)]
    policy = realm_policy(realm, endpoint.url, realm_url=endpoint.realm_url,
                          allow_insecure_realm=endpoint.allow_insecure_realm)
    if not policy.send:
        note = policy.finding(refs)
        return [note] if note is not None else []
    found: list[Finding] = []
    for purpose, asked in (("pull", ["pull"]), ("push", ["pull", "push"])):
        scope = f"repository:{repository}:{','.join(asked)}"
        answer = request_token(client, realm, endpoint.service, scope, endpoint.username, endpoint.password,
                               allow_insecure_realm=endpoint.allow_insecure_realm)
        ex = answer.exchange
        evidence: dict[str, Any] = {"realm": realm, "service": endpoint.service, "scope": scope,
                                    "username": endpoint.username}
        if not ex.ok or ex.response is None:
            found.append(Finding("jwt.realm_unreachable", Status.ERROR, "GitLab's /jwt/auth did not answer",
                                 detail=f"GET {realm}: {answer.problem}.", evidence=evidence, refs=refs))
            break
        r = ex.response
        evidence["status"] = r.status_code
        body: Any = None
        try:
            body = r.json() if r.content else None
        except ValueError:
            body = None
        errors = body.get("errors") if isinstance(body, dict) else None
        first_error = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        if r.status_code != 200:
            evidence["answer"] = body if isinstance(body, dict) else r.text[:200]
        if r.status_code == 401:
            message = str(first_error.get("message", ""))
            found.append(Finding("jwt.refused.credentials", Status.FAIL,
                                 f"GitLab refused the credentials of {endpoint.username!r} (401 {first_error.get('code', '')})",
                                 detail=f"{realm} answered 401 to the {purpose} token request: "
                                        f"{_refusal_reasons(message, endpoint.username, endpoint.password)}. GitLab's answer: "
                                        f"{message[:160] or r.text[:160]!r}.",
                                 evidence=evidence, remedy=CREDENTIALS_REMEDY, refs=refs))
            break  # the same credentials: the push request would say the same
        if r.status_code == 403:
            found.append(Finding("jwt.refused.no_registry_scope", Status.FAIL,
                                 f"GitLab accepted {endpoint.username!r} but refuses registry tokens (403 DENIED)",
                                 detail=f"{realm} answered 403 `{first_error.get('code', '')}` "
                                        f"`{first_error.get('message', '')}` to the {purpose} token request: the "
                                        "credentials are valid but carry no registry ability (a token with neither "
                                        "`read_registry` nor `write_registry`).",
                                 evidence=evidence, remedy=SCOPE_REMEDY, refs=refs))
            break
        if r.status_code == 404:
            found.append(Finding("jwt.service_unknown", Status.FAIL,
                                 f"GitLab does not know the service {endpoint.service!r} (404)",
                                 detail=f"{realm} answered 404: GitLab's /jwt/auth serves `container_registry` (and "
                                        "the dependency proxy); the `service` sent does not match, or the registry "
                                        "is disabled in GitLab.",
                                 evidence=evidence,
                                 remedy="Make the registry's `auth.token.service` and the `service` parameter "
                                        "`container_registry`; enable the registry in GitLab (`gitlab_rails"
                                        "['registry_enabled'] = true`, Helm `registry.enabled`, gitlab.yml "
                                        "`registry.enabled`).", refs=refs))
            break
        if r.status_code != 200 or not answer.token:
            found.append(Finding("jwt.realm_bad_answer", Status.FAIL, f"GitLab's /jwt/auth answered {r.status_code} "
                                 "without a token",
                                 detail=f"{realm}: {answer.problem or 'no token'} (a 500 is usually a missing "
                                        "`gitlab-registry.key`: run `missing-registry-key`).",
                                 evidence=evidence, refs=refs))
            break
        granted = _granted(answer.token, repository)
        evidence["asked"] = asked
        evidence["granted"] = granted
        if granted is None:
            found.append(Finding("jwt.token_undecodable", Status.WARN, "GitLab's token cannot be decoded",
                                 detail="The realm answered 200 with something that is not a JWT.", evidence=evidence,
                                 refs=refs))
            continue
        missing = [a for a in asked if a not in granted]
        if not granted:
            found.append(Finding("jwt.scope.none", Status.FAIL,
                                 f"GitLab's {purpose} token grants nothing on {repository}",
                                 detail=f"Asked {','.join(asked)}, granted no action (200 with an empty `access` for "
                                        f"{repository}): {endpoint.username!r} cannot even pull there. The client then sees "
                                        "`denied: requested access to the resource is denied` / `insufficient_scope`.",
                                 evidence=evidence, remedy=REDUCED_REMEDY, refs=refs))
        elif missing:
            found.append(Finding("jwt.scope.reduced", Status.FAIL,
                                 f"GitLab's {purpose} token lacks {', '.join(missing)} on {repository}",
                                 detail=f"Asked {','.join(asked)}, granted {','.join(granted)}: GitLab dropped "
                                        f"{', '.join(missing)} without an error. A `docker push` then fails with "
                                        "`denied: requested access to the resource is denied`.",
                                 evidence=evidence, remedy=REDUCED_REMEDY, refs=refs))
        else:
            found.append(Finding("jwt.granted", Status.OK, f"GitLab grants {','.join(asked)} on {repository}",
                                 detail=f"The {purpose} token's `access` claim grants {','.join(granted)}.",
                                 evidence=evidence, refs=refs))
    return found
