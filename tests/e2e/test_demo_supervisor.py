"""`jdl demo` as a user runs it: it waits for the purge certificate and prints it; SIGTERM then
stops every process it started (checked by PID); `jdl audit verify` passes afterwards and nothing
of the demo's submission is left in the store."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jdl_infra.crypto import key_object
from jdl_infra.objectstore import FilesystemStore

pytestmark = pytest.mark.e2e
JDL = [sys.executable, "-m", "jdl_cli"]


def alive(pid: int) -> bool:
    """Running (a zombie, i.e. exited but not yet reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def test_demo_prints_its_certificate_sigterm_stops_every_process_and_audit_verifies(tmp_path, national_dir):
    var, out = tmp_path / "var", tmp_path / "out"
    log = (tmp_path / "demo.out").open("wb")
    demo = subprocess.Popen([*JDL, "demo", "--size", "300", "--keep", "--var", str(var), "--out", str(out),
                             "--data-dir", str(national_dir), "--purge-timeout", "180"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    text = ""
    try:
        deadline = time.monotonic() + 420
        while "service still running" not in text:
            assert demo.poll() is None, f"demo exited {demo.returncode}:\n{text[-3000:]}"
            assert time.monotonic() < deadline, f"demo did not finish:\n{text[-3000:]}"
            time.sleep(0.5)
            text = (tmp_path / "demo.out").read_text(errors="replace")
        m = re.search(r"purge certificate \(audit entry #(\d+), (audit/log/\d+\.json)\):\n"
                      r"  submission (sub-[0-9a-f]{20}): (\d+) object\(s\) deleted .*data key destroyed, "
                      r"outcome purged, verified empty: True", text)
        assert m, text[-3000:]
        sid, n_objects = m.group(3), int(m.group(4))
        assert n_objects >= 2                                   # cohort and linked ids at least
        pids = json.loads((var / "runtime.json").read_text())["pids"]
        assert {"api", "broker", "intake", "linkage", "matching", "reporting", "purge"} <= set(pids)
        assert all(alive(p) for p in pids.values())

        demo.send_signal(signal.SIGTERM)                        # what systemd / docker stop send
        demo.wait(90)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        log.close()
    deadline = time.monotonic() + 20                            # reparented children are reaped
    while any(alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [name for name, p in pids.items() if alive(p)] == []

    verify = subprocess.run([*JDL, "audit", "verify", "--store-url", f"file://{var / 'store'}"],
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    store = FilesystemStore(var / "store")
    assert store.list_versions(f"submissions/{sid}/") == [] and not store.exists(key_object(sid))
    assert store.exists(f"reports/{sid}/report.pdf")           # the published report stays


def test_jdl_up_restarts_a_killed_worker_and_sigterm_leaves_no_process(tmp_path, national_dir):
    var = tmp_path / "var"
    out = (tmp_path / "up.out").open("wb")
    up = subprocess.Popen([*JDL, "up", "--var", str(var), "--data-dir", str(national_dir)],
                          stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    state = var / "runtime.json"
    try:
        deadline = time.monotonic() + 240
        while "running; press Ctrl-C" not in (tmp_path / "up.out").read_text(errors="replace"):
            assert up.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "up.out").read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        pids = json.loads(state.read_text())["pids"]
        os.kill(pids["matching"], signal.SIGKILL)               # a worker crashes
        deadline = time.monotonic() + 60
        while json.loads(state.read_text())["pids"]["matching"] == pids["matching"]:
            assert time.monotonic() < deadline, "matching not restarted"
            time.sleep(0.3)
        pids = json.loads(state.read_text())["pids"]
        assert alive(pids["matching"])
        assert re.search(r"matching exited with code -9; restarting in \d+ s",
                         (tmp_path / "up.out").read_text(errors="replace"))
        up.send_signal(signal.SIGTERM)
        assert up.wait(90) == 0
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        out.close()
    deadline = time.monotonic() + 20
    while any(alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [name for name, p in pids.items() if alive(p)] == []
