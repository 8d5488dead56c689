"""Token trust: libtrust key IDs, cert/key pairs by public key, key IDs side by side, token times."""

import datetime as dt
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from runbooklib.findings import Status
from runbooklib.lab.pki import issue_cert, new_rsa_key, write_cert, write_key
from runbooklib.probes.trust import (KeyMaterialError, TokenProbe, check_key_pair, check_registry_key_file,
                                     check_token_times, check_token_trust, load_certificates, load_private_key)
from runbooklib.tokens import libtrust_key_id


def _openssl_key_id(key_pem_path) -> str:
    """Independent computation: openssl for DER SPKI + SHA-256, coreutils for base32."""
    der = subprocess.run(["openssl", "pkey", "-in", str(key_pem_path), "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der, capture_output=True, check=True).stdout
    b32 = subprocess.run(["base32", "-w0"], input=digest[:30], capture_output=True, check=True).stdout.decode().strip("=\n")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_libtrust_key_id_matches_openssl(tmp_path, kind):
    key = new_rsa_key() if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    write_key(tmp_path / "k.pem", key)
    assert libtrust_key_id(key.public_key()) == _openssl_key_id(tmp_path / "k.pem")
    assert len(libtrust_key_id(key.public_key()).split(":")) == 12


@pytest.fixture
def pair(tmp_path):
    key = new_rsa_key()
    cert = issue_cert(key, None, key, "registry-auth")
    write_key(tmp_path / "gitlab-registry.key", key)
    write_cert(tmp_path / "gitlab-registry.crt", cert)
    return tmp_path / "gitlab-registry.crt", tmp_path / "gitlab-registry.key", key


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_matching_pair_is_recognised_by_public_key(tmp_path, kind):
    key = new_rsa_key() if kind == "rsa" else ec.generate_private_key(ec.SECP384R1())
    write_key(tmp_path / "k", key)
    write_cert(tmp_path / "c", issue_cert(key, None, key, "x"))
    assert check_key_pair(str(tmp_path / "c"), str(tmp_path / "k"))[0].id == "trust.pair_matches"


def test_mismatched_pair_names_both_key_ids(tmp_path, pair):
    crt, _, key = pair
    other = ec.generate_private_key(ec.SECP256R1())
    write_key(tmp_path / "other.key", other)
    f = check_key_pair(str(crt), str(tmp_path / "other.key"))[0]
    assert f.status is Status.FAIL
    assert libtrust_key_id(other.public_key()) in f.detail and libtrust_key_id(key.public_key()) in f.detail
    assert "gitlab-secrets.json" in f.remedy and "gitlab-ctl reconfigure" in f.remedy


def test_untrusted_key_is_named_with_both_key_ids(tmp_path, pair):
    crt, _, key = pair
    rogue = new_rsa_key()
    token = TokenProbe(header={"kid": libtrust_key_id(rogue.public_key())}, claims={"iss": "x"})
    f = check_token_trust(str(crt), token, log_key_ids=[libtrust_key_id(rogue.public_key())])[0]
    assert f.id == "trust.untrusted_key"
    assert libtrust_key_id(rogue.public_key()) in f.detail and libtrust_key_id(key.public_key()) in f.detail
    assert f.evidence["key_ids"]["live token kid"] == libtrust_key_id(rogue.public_key())


def test_trusted_kid_is_ok(pair):
    crt, keyfile, key = pair
    token = TokenProbe(header={"kid": libtrust_key_id(key.public_key())})
    assert check_token_trust(str(crt), token, gitlab_key=str(keyfile))[0].status is Status.OK


def test_encrypted_key_is_named(tmp_path):
    key = new_rsa_key()
    (tmp_path / "enc.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.BestAvailableEncryption(b"pw")))
    with pytest.raises(KeyMaterialError, match="encrypted"):
        load_private_key(tmp_path / "enc.key")


def test_der_certificate_loads_and_garbage_in_a_bundle_is_named(tmp_path, pair):
    crt, _, _ = pair
    cert = load_certificates(crt)[0]
    (tmp_path / "c.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    assert load_certificates(tmp_path / "c.der")[0] == cert
    (tmp_path / "bad.pem").write_bytes(crt.read_bytes() + b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    with pytest.raises(KeyMaterialError, match="bad.pem"):
        load_certificates(tmp_path / "bad.pem")


def test_certificate_given_as_key_is_named(pair):
    crt, _, _ = pair
    with pytest.raises(KeyMaterialError, match="certificate, not a private key"):
        load_private_key(crt)


def test_token_from_a_clock_ahead_is_explained_as_skew():
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)  # Date headers have whole seconds
    t = int(now.timestamp()) + 600
    token = TokenProbe(claims={"iat": t, "nbf": t - 5, "exp": t + 300}, registry_date=now, registry_error="invalid_token")
    f = check_token_times(token)[0]
    assert f.id == "clock.token_not_yet_valid" and "ahead by about 600" in f.detail


def test_missing_registry_key_file_fails_with_the_seed_remedy(tmp_path):
    f = check_registry_key_file(str(tmp_path / "nope.key"))[0]
    assert f.id == "registry_key.missing" and "gitlab-ctl reconfigure" in f.remedy
