"""`runbook verify` against hostile bundles: symlinks, empty folders and special files are named and rejected,
manifest paths outside the bundle are rejected without reading anything outside (no hash oracle), a bundle
re-signed by another key is "integrity only" (exit 3) unless the signer is pinned (--public-key / --trust), and
a FIFO where a key or the manifest should be is a clear error (exit 2), never a hang.

Bundles are small folders made with the manifest module itself; the CLI runs in-process (``cli.main``)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runbooklib import cli
from runbooklib.report import manifest as M

pytestmark = pytest.mark.timeout(30)  # a FIFO opened by mistake would block forever: fail instead


def _fp(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


@pytest.fixture
def keys(tmp_path):
    """The operator's key pair (files, as `runbook keygen` writes them) and an attacker's key."""
    private, public = M.generate_key(tmp_path / "bundle.key")
    key = M.load_signing_key(private.read_bytes(), str(private))
    return {"key": key, "pub": public, "fp": _fp(key), "attacker": Ed25519PrivateKey.generate()}


def _seal(folder: Path, key: Ed25519PrivateKey) -> None:
    M.sign(folder, M.write_manifest(folder), key)


@pytest.fixture
def bundle(tmp_path, keys):
    b = tmp_path / "INC-1"
    (b / "sub").mkdir(parents=True)
    (b / "index.html").write_text("<h1>INC-1</h1>")
    (b / "findings.json").write_text('{"status": "fail"}')
    (b / "sub" / "triage.findings.json").write_text("{}")
    _seal(b, keys["key"])
    return b


@pytest.fixture
def outside(tmp_path):
    """A folder next to the bundle with a readable secret and a FIFO (opening it would block)."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_text("root:x:0:0\n")
    os.mkfifo(out / "pipe")
    return out


def verify(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["verify", *map(str, args)])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _pinned(capsys, bundle, keys):
    return verify(capsys, bundle, "--public-key", keys["pub"])


# ---------------------------------------------------------------------------------------------- baseline


def test_intact_bundle_pinned_by_key_or_fingerprint_is_verified_exit_0(capsys, bundle, keys):
    code, out, _ = _pinned(capsys, bundle, keys)
    assert code == 0 and "bundle verified" in out
    code, out, _ = verify(capsys, bundle, "--trust", keys["fp"])
    assert code == 0 and "bundle verified" in out and keys["fp"] in out


def test_fingerprint_is_sha256_of_the_raw_public_key_in_hex(keys):
    assert M.key_fingerprint(keys["key"].public_key()) == keys["fp"]
    assert re.fullmatch(r"SHA256:[0-9a-f]{64}", keys["fp"])
    assert M.parse_fingerprint(keys["fp"].upper().replace("SHA256:", "")) == keys["fp"]


def test_own_key_only_is_integrity_only_exit_3_with_the_fingerprint(capsys, bundle, keys):
    code, out, _ = verify(capsys, bundle)
    assert code == 3
    assert "integrity only: signer not pinned" in out and keys["fp"] in out
    assert "bundle verified" not in out


# ---------------------------------------------------------------------------------------------- re-signed


def test_resigned_by_another_key_is_never_verified_without_the_real_signer(capsys, bundle, keys):
    (bundle / "findings.json").write_text('{"status": "ok"}')  # the attacker's edit
    _seal(bundle, keys["attacker"])
    code, out, _ = verify(capsys, bundle)
    assert code == 3 and _fp(keys["attacker"]) in out and "bundle verified" not in out
    code, out, _ = verify(capsys, bundle, "--trust", keys["fp"])
    assert code == 1 and "untrusted" in out and _fp(keys["attacker"]) in out and "bundle NOT verified" in out
    code, out, _ = verify(capsys, bundle, "--trust", _fp(keys["attacker"]))
    assert code == 0  # pinning the attacker's key is the operator's explicit choice
    code, out, _ = _pinned(capsys, bundle, keys)
    assert code == 1 and "signature: bad" in out


@pytest.mark.parametrize("args", [["--trust", "SHA256:nothex"], ["--trust", "abc"],
                                  ["--trust", "SHA256:" + "0" * 64, "--public-key", "x.pub"]])
def test_a_malformed_or_doubled_pin_is_a_usage_error_exit_2(capsys, bundle, args):
    code, _, err = verify(capsys, bundle, *args)
    assert code == 2 and err.startswith("runbook:")


# ---------------------------------------------------------------------------------------------- the walk


def test_symlinked_directory_added_is_rejected_and_named(capsys, bundle, keys, outside):
    os.symlink(outside, bundle / "evidence")
    code, out, _ = _pinned(capsys, bundle, keys)
    assert code == 1 and "bundle NOT verified" in out
    assert f"rejected: evidence (symlink to a directory -> {outside})" in out


def test_symlinked_file_added_is_rejected_and_named(capsys, bundle, keys, outside):
    os.symlink(outside / "secret.txt", bundle / "sub" / "notes.txt")
    code, out, _ = _pinned(capsys, bundle, keys)
    assert code == 1 and "rejected: sub/notes.txt (symlink to a file" in out


def test_a_listed_file_swapped_for_a_symlink_to_identical_bytes_is_rejected(capsys, bundle, keys, outside):
    copy = outside / "index.html"
    copy.write_bytes((bundle / "index.html").read_bytes())
    (bundle / "index.html").unlink()
    os.symlink(copy, bundle / "index.html")
    code, out, _ = _pinned(capsys, bundle, keys)
    assert code == 1 and "rejected: index.html (symlink to a file" in out


def test_empty_directory_added_is_rejected_and_named(capsys, bundle, keys):
    (bundle / "attachments" / "more").mkdir(parents=True)
    code, out, _ = _pinned(capsys, bundle, keys)
    assert code == 1 and "rejected: attachments/more/ (empty directory)" in out


def test_fifo_added_inside_is_rejected_without_opening_it(capsys, bundle, keys):
    os.mkfifo(bundle / "sub" / "pipe")
    code, out, _ = _pinned(capsys, bundle, keys)
    assert code == 1 and "rejected: sub/pipe (FIFO / named pipe)" in out


def test_the_bundle_writer_refuses_what_verify_would_reject(bundle, outside):
    os.symlink(outside, bundle / "evidence")
    with pytest.raises(M.BundleError, match="evidence"):
        M.write_manifest(bundle)


# ---------------------------------------------------------------------------------------------- manifest paths


def _add_line(bundle: Path, rel: str, digest: str = "0" * 64) -> None:
    with open(bundle / M.MANIFEST, "a") as fh:
        fh.write(f"{digest}  {rel}\n")


@pytest.mark.parametrize("rel", ["../outside/pipe", "sub/../../outside/pipe", "{abs}/pipe", "/etc/passwd",
                                 "./index.html", "sub//triage.findings.json", "sub/"])
def test_manifest_path_outside_or_not_normalised_is_rejected_without_reading(capsys, bundle, keys, outside, rel):
    rel = rel.format(abs=outside)
    _add_line(bundle, rel)
    code, out, _ = _pinned(capsys, bundle, keys)
    assert code == 1 and "bundle NOT verified" in out
    assert f"manifest rejected: line 4: {rel!r}" in out and "no file was hashed" in out
    assert not re.search(r"^(changed|missing):", out, re.M)  # no verdict about any path: no hash oracle


def test_etc_passwd_with_its_true_hash_is_no_oracle(capsys, bundle, keys):
    passwd = Path("/etc/passwd")
    if not passwd.is_file():
        pytest.skip("no /etc/passwd")
    right = hashlib.sha256(passwd.read_bytes()).hexdigest()
    outs = []
    for digest in (right, "0" * 64):
        body = (bundle / M.MANIFEST).read_text().splitlines(keepends=True)[:3]
        (bundle / M.MANIFEST).write_text("".join(body) + f"{digest}  /etc/passwd\n")
        code, out, _ = _pinned(capsys, bundle, keys)
        outs.append((code, out))
    assert outs[0] == outs[1]  # the right and a wrong hash give the same answer


def test_a_manifest_path_through_a_symlinked_folder_is_rejected(capsys, bundle, keys, outside):
    os.symlink(outside, bundle / "link")
    _add_line(bundle, "link/pipe")
    code, out, _ = _pinned(capsys, bundle, keys)
    assert code == 1 and "'link/pipe' goes through the symlink 'link'" in out
    assert not re.search(r"^(changed|missing):", out, re.M)


# ---------------------------------------------------------------------------------------------- unreadable files


def test_fifo_as_manifest_pub_is_a_clear_error_exit_2(capsys, bundle):
    (bundle / M.PUBLIC_KEY).unlink()
    os.mkfifo(bundle / M.PUBLIC_KEY)
    code, out, err = verify(capsys, bundle)
    assert code == 2 and "MANIFEST.pub" in err and "FIFO" in err
    assert "verified" not in out


def test_dev_zero_linked_as_manifest_pub_is_not_followed(capsys, bundle):
    (bundle / M.PUBLIC_KEY).unlink()
    os.symlink("/dev/zero", bundle / M.PUBLIC_KEY)
    code, _, err = verify(capsys, bundle)
    assert code == 2 and "MANIFEST.pub" in err and "symlink" in err


def test_fifo_as_the_pinned_public_key_is_a_clear_error_exit_2(capsys, bundle, tmp_path):
    os.mkfifo(tmp_path / "key.pub")
    code, _, err = verify(capsys, bundle, "--public-key", tmp_path / "key.pub")
    assert code == 2 and "FIFO" in err


def test_fifo_as_the_manifest_is_a_clear_error_exit_2(capsys, bundle):
    (bundle / M.MANIFEST).unlink()
    os.mkfifo(bundle / M.MANIFEST)
    code, _, err = verify(capsys, bundle)
    assert code == 2 and "MANIFEST.sha256" in err and "FIFO" in err


def test_fifo_as_manifest_pub_is_named_when_the_key_is_pinned_elsewhere(capsys, bundle, keys):
    (bundle / M.PUBLIC_KEY).unlink()
    os.mkfifo(bundle / M.PUBLIC_KEY)
    code, out, _ = _pinned(capsys, bundle, keys)
    assert code == 1 and "rejected: MANIFEST.pub (FIFO" in out


def test_verify_help_states_every_exit_code(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["verify", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ("0 = verified", "1 = NOT verified", "2 = could not verify", "3 = integrity only", "--trust"):
        assert phrase in text, phrase
