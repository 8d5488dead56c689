"""One registry, one value: `RegistryEndpoint` carries the credentials with their registry and never shows the
password, neither in its own repr nor in a finding a probe builds from it."""

from __future__ import annotations

import dataclasses
import json

import pytest

from runbooklib.lab.procs import free_port
from runbooklib.probes.auth import check_token_flow
from runbooklib.probes.endpoint import RegistryEndpoint
from runbooklib.probes.http import make_client
from runbooklib.session import Session

PASSWORD = "s3cr3t-endpoint-pw"


def test_repr_and_str_never_show_the_password():
    endpoint = RegistryEndpoint("https://registry.example", "sre", PASSWORD, realm_url="https://gitlab.example/jwt/auth")
    for shown in (repr(endpoint), str(endpoint), f"{endpoint}", f"{endpoint!r}"):
        assert PASSWORD not in shown
        assert "registry.example" in shown and "sre" in shown
    assert endpoint.password == PASSWORD  # kept, only not shown


def test_endpoint_is_frozen_and_defaults_match_the_parameters():
    endpoint = RegistryEndpoint("https://registry.example/")
    assert (endpoint.service, endpoint.realm_url, endpoint.allow_insecure_realm) == ("container_registry", "", False)
    assert endpoint.base == "https://registry.example"
    with pytest.raises(dataclasses.FrozenInstanceError):
        endpoint.password = "other"  # type: ignore[misc]


def test_from_params_takes_defaults_for_parameters_a_scenario_lacks():
    full = RegistryEndpoint.from_params({"registry_url": "https://r", "username": "u", "password": PASSWORD,
                                         "service": "svc", "realm_url": "https://g/jwt/auth",
                                         "allow_insecure_realm": True, "timeout_s": 5})
    assert full == RegistryEndpoint("https://r", "u", PASSWORD, "svc", "https://g/jwt/auth", True)
    assert RegistryEndpoint.from_params({"registry_url": "https://r", "username": "u", "password": None}) == \
        RegistryEndpoint("https://r", "u", "")


@pytest.mark.parametrize("realm_port", [None, "closed"])
def test_findings_of_an_unreachable_registry_do_not_carry_the_password(realm_port):
    registry = f"http://127.0.0.1:{free_port()}"
    # with a configured (loopback, so allowed) realm the probe goes as far as asking it for a token
    realm = f"http://127.0.0.1:{free_port()}/jwt/auth" if realm_port else ""
    endpoint = RegistryEndpoint(registry, "sre", PASSWORD, realm_url=realm)
    with make_client(2) as client:
        found = check_token_flow(client, endpoint)
    assert found
    if realm_port:
        assert "token.realm_unreachable" in [f.id for f in found]
    for f in found:
        assert PASSWORD not in repr(f)
        assert PASSWORD not in json.dumps(f.to_dict(), default=str)


def test_session_registry_is_built_from_the_resolved_parameters(monkeypatch):
    monkeypatch.setenv("RB_TEST_ENDPOINT_PW", PASSWORD)
    rb = Session("triage", {"registry_url": "http://127.0.0.1:1", "username": "sre",
                            "password": "env:RB_TEST_ENDPOINT_PW", "realm_url": "http://127.0.0.1:2/jwt/auth"})
    endpoint = rb.registry
    assert endpoint == RegistryEndpoint("http://127.0.0.1:1", "sre", PASSWORD, "container_registry",
                                        "http://127.0.0.1:2/jwt/auth", False)
    assert PASSWORD not in repr(endpoint)
