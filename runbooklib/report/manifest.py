"""Bundle integrity: a SHA-256 manifest of every file (sha256sum format) and an Ed25519 signature over it.

`sha256sum -c MANIFEST.sha256` works on a bundle without this tool; `runbook verify` also checks for
extra files and the signature.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

MANIFEST = "MANIFEST.sha256"
SIGNATURE = "MANIFEST.sig"
PUBLIC_KEY = "MANIFEST.pub"
_OWN = {MANIFEST, SIGNATURE, PUBLIC_KEY}


class BundleError(ValueError):
    """A bundle or key that cannot be used; the message names the file."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(folder: Path) -> list[str]:
    out = []
    for root, _, names in os.walk(folder):
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")
            if rel not in _OWN:
                out.append(rel)
    return sorted(out)


def write_manifest(folder: Path) -> bytes:
    """Hash every file of the bundle; returns the manifest's bytes (what gets signed)."""
    lines = [f"{_sha256(folder / rel)}  {rel}\n" for rel in _files(folder)]
    data = "".join(lines).encode()
    (folder / MANIFEST).write_bytes(data)
    return data


def generate_key(out: Path) -> tuple[Path, Path]:
    """`runbook keygen OUT`: OUT (private, PEM, mode 0600) and OUT.pub (public, PEM)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(out, 0o600)
    pub = Path(f"{out}.pub")
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return Path(out), pub


def load_signing_key(pem: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise BundleError(f"signing key {where} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"signing key {where} is not an Ed25519 key (make one with `runbook keygen`)")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise BundleError(f"public key {path}: {exc.strerror}") from None
    except ValueError:
        raise BundleError(f"public key {path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"public key {path} is not an Ed25519 key")
    return key


def sign(folder: Path, manifest: bytes, key: Ed25519PrivateKey) -> None:
    (folder / SIGNATURE).write_text(base64.b64encode(key.sign(manifest)).decode() + "\n")
    (folder / PUBLIC_KEY).write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def key_fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


@dataclass
class Verification:
    """What `runbook verify` found."""

    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    signature: str = "unsigned"  # ok | bad | unsigned
    key: str = ""

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra) and self.signature == "ok"


def verify(folder: Path, public_key: Path | None = None) -> Verification:
    """Every listed file present and unchanged, nothing extra, and the signature valid.

    Without ``public_key`` the bundle's own MANIFEST.pub is used: that proves integrity, not who signed;
    pass the key you trust to pin it."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not folder.is_dir() or not manifest_path.is_file():
        raise BundleError(f"{folder} is not a bundle (no {MANIFEST})")
    data = manifest_path.read_bytes()
    result = Verification()
    listed: dict[str, str] = {}
    for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64:
            raise BundleError(f"{manifest_path}:{n}: not a sha256sum line")
        listed[rel] = digest
    for rel, digest in listed.items():
        path = folder / rel
        if not path.is_file():
            result.missing.append(rel)
        elif _sha256(path) != digest:
            result.changed.append(rel)
    result.extra = [rel for rel in _files(folder) if rel not in listed]
    sig_path = folder / SIGNATURE
    if sig_path.is_file():
        key_path = public_key or folder / PUBLIC_KEY
        key = load_public_key(key_path)
        result.key = key_fingerprint(key)
        try:
            key.verify(base64.b64decode(sig_path.read_text().strip()), data)
            result.signature = "ok"
        except (InvalidSignature, ValueError):
            result.signature = "bad"
    elif public_key is not None:
        result.signature = "bad"  # a key was pinned but nothing is signed
    return result
