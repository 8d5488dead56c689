"""Every user error is one line on stderr and exit 2; help says what each command does and how runs end."""

from __future__ import annotations

import stat

import pytest

from runbooklib.lab import faults as F
from tests.conftest import runbook


def test_runbook_alone_prints_usage_with_every_command_and_exits_2():
    r = runbook()
    assert r.returncode == 2
    for command in ("list", "params", "open", "run", "triage", "discover", "lab", "verify", "keygen", "kernel"):
        assert f"    {command} " in r.stderr, command
    assert "Traceback" not in r.stderr


def test_help_lists_subcommands_one_line_each_and_the_exit_codes():
    r = runbook("--help")
    assert r.returncode == 0
    assert "commands:" in r.stdout and "open " in r.stdout and "discover " in r.stdout
    assert "exit codes: 0" in " ".join(r.stdout.split())


def test_run_help_states_the_exit_codes():
    text = " ".join(runbook("run", "--help").stdout.split())
    assert "0 = ran, no fail finding" in text and "1 = ran, at least one fail finding" in text
    assert "2 = could not run" in text


def test_lab_help_lists_every_fault_with_its_meaning():
    r = runbook("lab", "--help")
    assert r.returncode == 0
    F.load_plugins()
    for fault in F.FAULTS.values():
        line = next((ln for ln in r.stdout.splitlines() if ln.strip().startswith(fault.name + " ")), None)
        assert line is not None, fault.name
        assert fault.description[:30] in line


def test_keygen_creates_a_missing_folder_private_to_the_user(tmp_path):
    key = tmp_path / "new" / "deeper" / "bundle.key"
    r = runbook("keygen", str(key))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.with_name("bundle.key.pub").exists()


def test_keygen_into_a_folder_is_one_line_naming_it(tmp_path):
    r = runbook("keygen", str(tmp_path))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and str(tmp_path) in r.stderr and "is a folder" in r.stderr


def test_output_that_is_a_file_is_refused_before_anything_runs(tmp_path):
    target = tmp_path / "report"
    target.write_text("keep me")
    for argv in (("run", "logs", "-p", "log_paths", str(tmp_path), "-o", str(target)),
                 ("triage", "-p", "registry_url", "http://127.0.0.1:9", "-o", str(target))):
        r = runbook(*argv)
        assert r.returncode == 2, argv
        assert r.stderr.strip() == f"runbook: output folder {target} is a file, not a folder"
    assert target.read_text() == "keep me"


def test_discover_on_a_missing_root_is_one_line(tmp_path):
    r = runbook("discover", "--root", str(tmp_path / "nope"), "-o", str(tmp_path / "p.yaml"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "nope" in r.stderr
    assert not (tmp_path / "p.yaml").exists()


def test_discover_on_a_root_without_omnibus_files_says_what_it_looked_for(tmp_path):
    r = runbook("discover", "--root", str(tmp_path), "-o", str(tmp_path / "p.yaml"))
    assert r.returncode == 2 and "etc/gitlab/gitlab.rb" in r.stderr and r.stderr.count("\n") == 1


def test_sigterm_during_a_run_stops_the_kernel_and_removes_its_socket_folder(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT
    from tests.test_hostile_servers import _Server
    from tests.test_reachability import _blackhole

    import tempfile
    from pathlib import Path

    server = _Server(_blackhole)
    tmp = Path(tempfile.mkdtemp(prefix="rb-", dir="/tmp"))  # short: the kernel's sockets live below it
    proc = subprocess.Popen([sys.executable, "-m", "runbooklib.cli", "run", "triage", "-p", "registry_url", server.url,
                             "-p", "timeout_s", "60", "-o", str(tmp_path / "out")], cwd=ROOT,
                            env={**os.environ, "TMPDIR": str(tmp)}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180  # a kernel start on a busy 2-core machine; the point is the cleanup
        while server.connections == 0:  # the kernel is up and the first probe is waiting on the dead host
            if proc.poll() is not None:
                pytest.fail(f"the run ended before its first probe (exit {proc.returncode}): "
                            f"{proc.stderr.read().decode(errors='replace')[-1500:]}")
            if time.monotonic() > deadline:
                proc.kill()
                out, err = proc.communicate(timeout=30)
                pytest.fail(f"no probe reached the server in time: {err.decode(errors='replace')[-1500:]} "
                            f"{out.decode(errors='replace')[-500:]}")
            time.sleep(0.2)
        assert [p.name for p in tmp.iterdir() if p.name.startswith("runbook-kernel-")]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        server.close()
    assert proc.returncode == 130 and b"interrupted" in err
    assert not [p.name for p in tmp.iterdir() if p.name.startswith("runbook-kernel-")]
    tmp.rmdir()


def test_kernel_sockets_move_to_tmp_when_tmpdir_is_too_long_for_a_unix_socket(tmp_path, monkeypatch):
    import tempfile

    from runbooklib.report.runner import SUN_PATH_MAX, kernel_socket_dir

    long_tmp = tmp_path / ("x" * 90)
    long_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(long_tmp))
    folder = kernel_socket_dir()
    try:
        assert folder.startswith("/tmp/runbook-kernel-") and len(folder) + len("/kernel-65535") <= SUN_PATH_MAX
        assert list(long_tmp.iterdir()) == []  # nothing left behind in the long one
    finally:
        import os
        os.rmdir(folder)


def test_force_replaces_a_bundle_with_a_symlinked_folder_without_following_it(tmp_path):
    from runbooklib.report.bundle import _clean

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("not ours")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "MANIFEST.sha256").write_text("")
    (bundle / "linked").symlink_to(outside, target_is_directory=True)
    (bundle / "sub").mkdir()
    _clean(bundle)
    assert list(bundle.iterdir()) == [] and (outside / "keep").read_text() == "not ours"


def test_force_never_empties_a_folder_that_holds_no_bundle(tmp_path):
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "precious").write_text("x")
    r = runbook("triage", "-p", "registry_url", "http://127.0.0.1:9", "-o", str(folder), "--force")
    assert r.returncode == 2 and "never empties another folder" in r.stderr
    assert (folder / "precious").exists()


def test_progress_prints_one_line_per_step_naming_it(tmp_path):
    import nbformat

    from runbooklib import scenarios
    from runbooklib.report.runner import step_titles

    r = runbook("run", "logs", "-p", "log_paths", str(tmp_path), "-o", str(tmp_path / "o"), "--progress")
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("logs [")]
    titles = list(step_titles(nbformat.read(str(scenarios.get("logs").notebook), as_version=4)).values())
    assert len(lines) == len(titles) >= 3
    assert lines[1].startswith(f"logs [2/{len(titles)}] {titles[1]}")
    quiet = runbook("run", "logs", "-p", "log_paths", str(tmp_path), "-o", str(tmp_path / "q"))
    assert "logs [1/" not in quiet.stderr  # not a terminal and no --progress: no step lines
