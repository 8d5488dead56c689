"""Bundle integrity: a SHA-256 manifest of every file (sha256sum format) and an Ed25519 signature over it.

`sha256sum -c MANIFEST.sha256` works on a bundle without this tool; `runbook verify` also checks for
extra files and the signature, and says who signed: a bundle is *verified* only against a pinned signer
(``--public-key`` or ``--trust SHA256:<hex>``); its own ``MANIFEST.pub`` proves integrity only.

A bundle holds regular files in real folders, nothing else: the walk never follows a symlink and names
every symlink, empty folder and special file (FIFO, socket, device) as a reason to reject the bundle. A
manifest path must be relative, normalised and free of ``..``; a manifest that breaks that rule is
rejected before any file is opened, and only files the walk found are ever hashed, so nothing outside the
bundle is read. The bundle's own files are read through :mod:`runbooklib.safefile` (regular files, a cap).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import RunbookError
from ..safefile import UnsafeFile, read_bytes

MANIFEST = "MANIFEST.sha256"
SIGNATURE = "MANIFEST.sig"
PUBLIC_KEY = "MANIFEST.pub"
_OWN = {MANIFEST, SIGNATURE, PUBLIC_KEY}
MANIFEST_CAP = 16 << 20  # a manifest line is ~100 bytes: room for 150,000 files
SIGNATURE_CAP = 4 << 10
KEY_CAP = 64 << 10
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class BundleError(RunbookError, ValueError):
    """A bundle or key that cannot be used; the message names the file."""


def _sha256(path: Path) -> str:
    """Hash a regular file without following a symlink at its last component and without blocking on a FIFO."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        h = hashlib.sha256()
        for chunk in iter(lambda: os.read(fd, 1 << 20), b""):
            h.update(chunk)
        return h.hexdigest()
    finally:
        os.close(fd)


def _what(path: str, mode: int) -> str:
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        try:
            pointed = os.stat(path).st_mode  # metadata only: the target is never opened
            kind = "symlink to a directory" if stat.S_ISDIR(pointed) else "symlink to a file"
        except OSError:
            kind = "dangling symlink"
        return f"{kind} -> {target}"
    if stat.S_ISFIFO(mode):
        return "FIFO / named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "not a regular file"


def walk_bundle(folder: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """``(files, rejected)``: every regular file (relative, ``/``-separated, sorted; the manifest's own three
    files at the top excluded) and every entry a bundle must not hold, with what it is: symlinks (to files or
    folders, followed never), empty folders, FIFOs, sockets and devices."""
    folder = Path(folder)
    files: list[str] = []
    rejected: list[tuple[str, str]] = []

    def visit(path: str, prefix: str) -> None:
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda e: e.name)
        if not entries and prefix:
            rejected.append((prefix.rstrip("/") + "/", "empty directory"))
        for entry in entries:
            rel = prefix + entry.name
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                rejected.append((rel, f"unreadable: {exc.strerror or exc}"))
                continue
            if stat.S_ISDIR(mode):
                visit(entry.path, rel + "/")
            elif stat.S_ISREG(mode):
                if not (not prefix and rel in _OWN):
                    files.append(rel)
            else:
                rejected.append((rel, _what(entry.path, mode)))

    visit(str(folder), "")
    return sorted(files), rejected


def _files(folder: Path) -> list[str]:
    return walk_bundle(folder)[0]


def write_manifest(folder: Path) -> bytes:
    """Hash every file of the bundle; returns the manifest's bytes (what gets signed). A bundle holding a
    symlink, an empty folder or a special file is refused: it could never verify."""
    files, rejected = walk_bundle(folder)
    if rejected:
        raise BundleError(f"{folder}: a bundle holds regular files only; found "
                          + "; ".join(f"{rel} ({what})" for rel, what in rejected))
    lines = [f"{_sha256(Path(folder) / rel)}  {rel}\n" for rel in files]
    data = "".join(lines).encode()
    (Path(folder) / MANIFEST).write_bytes(data)
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
    """An Ed25519 public key (PEM) from a file: a regular file under 64 KiB, never a FIFO or a device."""
    try:
        pem = read_bytes(path, KEY_CAP)
    except UnsafeFile as exc:
        raise BundleError(f"public key {exc.path}: {exc.reason}") from None
    return public_key_from_pem(pem, str(path))


def public_key_from_pem(pem: bytes, where: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise BundleError(f"public key {where} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"public key {where} is not an Ed25519 key")
    return key


def sign(folder: Path, manifest: bytes, key: Ed25519PrivateKey) -> None:
    (folder / SIGNATURE).write_text(base64.b64encode(key.sign(manifest)).decode() + "\n")
    (folder / PUBLIC_KEY).write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """``SHA256:<hex>``: SHA-256 of the raw 32-byte Ed25519 public key, lower-case hex (what ``--trust`` takes)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


def parse_fingerprint(text: str) -> str:
    """``SHA256:<64 hex>`` (prefix optional, case and ``:`` separators ignored) in :func:`key_fingerprint`'s form."""
    value = (text or "").strip()
    if value.lower().startswith("sha256:"):
        value = value[len("sha256:"):]
    value = value.replace(":", "").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise BundleError(f"{text!r} is not a key fingerprint: expected SHA256:<64 hex digits>, as "
                          "`runbook verify` prints it")
    return "SHA256:" + value


def manifest_path_problem(rel: str) -> str:
    """Why ``rel`` cannot name a file of the bundle ('' when it can): it must be relative, normalised, inside
    the bundle (no ``..``) and not one of the manifest's own files."""
    if not rel:
        return "is empty"
    if any(ord(c) < 32 or c == "\x7f" for c in rel):
        return "holds control characters"
    if rel.startswith("/"):
        return "is an absolute path (outside the bundle)"
    if "\\" in rel:
        return "holds a backslash (not a bundle path)"
    parts = rel.split("/")
    if ".." in parts:
        return "climbs out of the bundle ('..')"
    if any(part in ("", ".") for part in parts):
        return "is not a normalised relative path"
    if rel in _OWN:
        return "is one of the signature's own files"
    return ""


def parse_manifest(data: bytes) -> tuple[dict[str, str], list[str]]:
    """``({path: digest}, problems)``; any problem rejects the whole manifest (nothing is hashed then)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return {}, [f"{MANIFEST} is not UTF-8 text (byte {exc.start})"]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    listed: dict[str, str] = {}
    problems: list[str] = []
    for n, line in enumerate(lines, 1):
        digest, sep, rel = line.partition("  ")
        if not sep or not _HEX64.fullmatch(digest):
            problems.append(f"line {n}: not a sha256sum line")
            continue
        why = manifest_path_problem(rel)
        if why:
            problems.append(f"line {n}: {rel!r} {why}")
        elif rel in listed:
            problems.append(f"line {n}: {rel!r} is listed twice")
        else:
            listed[rel] = digest.lower()
    return listed, problems


def _read_own(folder: Path, name: str, cap: int) -> bytes:
    """One of the bundle's own files: a regular file, not a symlink, at most ``cap`` bytes."""
    path = folder / name
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise BundleError(f"{path}: no such file") from None
    except OSError as exc:
        raise BundleError(f"{path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(mode):
        raise BundleError(f"{path} is a {_what(str(path), mode)}: a bundle holds regular files only; not followed")
    try:
        return read_bytes(path, cap)
    except UnsafeFile as exc:
        raise BundleError(f"{exc.path}: {exc.reason}") from None


@dataclass
class Verification:
    """What `runbook verify` found.

    ``signature``: ok (valid), bad (invalid, or no key pinned could check it), unsigned (no MANIFEST.sig),
    untrusted (valid, but by another key than the ``--trust`` fingerprint). ``pinned``: how the signer was
    pinned ("" = not pinned: the bundle's own MANIFEST.pub was used, which proves integrity, not identity).
    """

    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (path, what it is): symlink, empty dir, FIFO
    manifest_problems: list[str] = field(default_factory=list)  # the manifest is rejected, nothing was hashed
    signature: str = "unsigned"
    key: str = ""  # fingerprint of the key the signature was checked with
    pinned: str = ""  # "" | "public-key" | "fingerprint"
    trusted: str = ""  # the --trust fingerprint

    @property
    def intact(self) -> bool:
        """Every file as listed, nothing else, and a valid signature (by whatever key was used)."""
        return (not (self.changed or self.missing or self.extra or self.rejected or self.manifest_problems)
                and self.signature == "ok")

    @property
    def ok(self) -> bool:
        """Intact and signed by a pinned key: the bundle is verified."""
        return self.intact and bool(self.pinned)

    @property
    def exit_code(self) -> int:
        """0 verified; 3 intact but the signer is not pinned (integrity only); 1 not verified."""
        return 0 if self.ok else 3 if self.intact else 1


def verify(folder: Path, public_key: Path | None = None, trust: str = "") -> Verification:
    """Every listed file present and unchanged, nothing extra or unsafe, and the signature valid.

    ``public_key`` pins the signer by key file, ``trust`` (a fingerprint, see :func:`parse_fingerprint`) by the
    fingerprint of the bundle's own MANIFEST.pub. With neither, a valid signature by MANIFEST.pub proves
    integrity only (``exit_code`` 3). BundleError when the bundle or a key cannot be read at all."""
    folder = Path(folder)
    if not folder.is_dir() or not os.path.lexists(folder / MANIFEST):
        raise BundleError(f"{folder} is not a bundle (no {MANIFEST})")
    if public_key is not None and trust:
        raise BundleError("pin the signer one way: a public key file or a fingerprint, not both")
    want = parse_fingerprint(trust) if trust else ""
    data = _read_own(folder, MANIFEST, MANIFEST_CAP)
    result = Verification(pinned="public-key" if public_key is not None else "fingerprint" if want else "",
                          trusted=want)
    if os.path.lexists(folder / SIGNATURE):
        sig_text = _read_own(folder, SIGNATURE, SIGNATURE_CAP)
        if public_key is not None:
            key = load_public_key(Path(public_key))
        else:
            key = public_key_from_pem(_read_own(folder, PUBLIC_KEY, KEY_CAP), str(folder / PUBLIC_KEY))
        result.key = key_fingerprint(key)
        try:
            key.verify(base64.b64decode(sig_text.strip(), validate=True), data)
            result.signature = "ok"
        except (InvalidSignature, ValueError, binascii.Error):
            result.signature = "bad"
        if want and result.signature == "ok" and result.key != want:
            result.signature = "untrusted"
    elif public_key is not None:
        load_public_key(Path(public_key))  # a pinned key that cannot be read is still an error to report
    files, result.rejected = walk_bundle(folder)
    listed, result.manifest_problems = parse_manifest(data)
    links = {rel for rel, what in result.rejected if "symlink" in what}
    for rel in listed:
        parts = rel.split("/")
        through = next(("/".join(parts[:i]) for i in range(1, len(parts)) if "/".join(parts[:i]) in links), "")
        if through:
            result.manifest_problems.append(f"{rel!r} goes through the symlink {through!r} (outside the bundle)")
    if result.manifest_problems:
        return result  # a manifest naming paths outside the bundle is not followed at all
    present = set(files)
    for rel, digest in listed.items():
        if rel not in present:  # absent, or not a regular file in a real folder (then also in `rejected`)
            result.missing.append(rel)
            continue
        try:
            same = _sha256(folder / rel) == digest
        except OSError:
            same = False
        if not same:
            result.changed.append(rel)
    result.extra = [rel for rel in files if rel not in listed]
    return result
