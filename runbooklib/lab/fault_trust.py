"""Trust faults (seed: x509 unknown authority, token signed by untrusted key, clocks, missing key)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .faults import Fault, register

if TYPE_CHECKING:
    from .control import Lab

def _self_signed_tls(lab: "Lab", cfg: dict[str, Any]) -> None:
    """Serve the registry over TLS with a self-signed certificate nobody trusts."""
    from .pki import new_rsa_key, self_signed_cert, write_cert, write_key

    key = new_rsa_key()
    crt, pem = lab.state_dir / "certs" / "registry-tls.crt", lab.state_dir / "certs" / "registry-tls.key"
    write_key(pem, key)
    write_cert(crt, self_signed_cert(key, "127.0.0.1", san_hosts=("127.0.0.1", "localhost")))
    cfg["http"]["tls"] = {"certificate": str(crt), "key": str(pem)}
    lab.options["registry_scheme"] = "https"


def _untrusted_token_key(lab: "Lab") -> None:
    """GitLab signs with a key whose certificate is not the registry's rootcertbundle (after seeding)."""
    from .pki import new_rsa_key, write_key

    rogue = lab.state_dir / "certs" / "gitlab-registry-new.key"
    write_key(rogue, new_rsa_key())
    lab.restart_issuer(key_path=str(rogue))


CLOCK_SKEW_S = 600


def _clock_skew(lab: "Lab") -> None:
    """The realm's clock runs ahead by more than the registry's 60 s leeway."""
    lab.restart_issuer(clock_offset_s=CLOCK_SKEW_S)


def _missing_registry_key(lab: "Lab") -> None:
    """gitlab.yml's registry.key points at a file that is not there."""
    missing = lab.state_dir / "gitlab" / "etc" / "gitlab-registry.key"
    lab.restart_issuer(key_path=str(missing))


register(Fault("self-signed-tls", "registry served over TLS with a self-signed certificate", registry_config=_self_signed_tls))
register(Fault("untrusted-token-key", "the realm signs tokens with a key the registry does not trust", after_start=_untrusted_token_key))
register(Fault("clock-skew", f"the realm's clock is {CLOCK_SKEW_S} s ahead", after_start=_clock_skew))
register(Fault("missing-registry-key", "gitlab.yml's registry.key file is missing",
               after_start=_missing_registry_key))
