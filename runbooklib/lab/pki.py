"""Keys and certificates the lab needs (the token issuer's pair, later TLS)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def new_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def san_extension(hosts: tuple[str, ...]) -> x509.SubjectAlternativeName:
    """subjectAltName with IP entries for addresses and DNS entries for names (Go ignores the CN)."""
    import ipaddress

    alt: list[x509.GeneralName] = []
    for h in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            alt.append(x509.DNSName(h))
    return x509.SubjectAlternativeName(alt)


def self_signed_cert(key, common_name: str, days: int = 365, san_hosts: tuple[str, ...] = ()) -> x509.Certificate:
    """A self-signed certificate, like the one Omnibus generates for gitlab-registry.crt."""

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
    )
    if san_hosts:
        builder = builder.add_extension(san_extension(san_hosts), critical=False)
    return builder.sign(key, hashes.SHA256())


def write_key(path: Path, key) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chmod(path, 0o600)


def write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def load_key(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def issue_cert(
    issuer_key,
    issuer_cert: x509.Certificate | None,
    key,
    common_name: str,
    san_hosts: tuple[str, ...] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    is_ca: bool = False,
    aia_url: str = "",
) -> x509.Certificate:
    """A certificate for ``key`` signed by ``issuer_key`` (self-signed when ``issuer_cert`` is None)."""

    from cryptography.x509.oid import AuthorityInformationAccessOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(minutes=5))
        .not_valid_after(not_after or now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if san_hosts:
        builder = builder.add_extension(san_extension(san_hosts), critical=False)
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False), critical=True)
    if aia_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess(
            [x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                    x509.UniformResourceIdentifier(aia_url))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())
