"""The embedded runtime's supervisor decisions (no processes started): a dead child is restarted
after a growing backoff with a log line; a dead broker is replaced only when supervised."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from jdl_cli import runtime as rt_mod
from jdl_cli.runtime import Backoff, EmbeddedRuntime, Proc


def dead_proc(name: str) -> Proc:
    p = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    p.wait()
    return Proc(name, p, "http://127.0.0.1:1/healthz", Path("/dev/null"), service=name)


def test_backoff_grows_to_thirty_seconds():
    b = Backoff()
    delays = []
    for _ in range(7):
        delays.append(b.next_delay())
        b.failures += 1
    assert delays == [1, 2, 4, 8, 16, 30, 30]


def test_dead_worker_is_restarted_after_its_backoff_with_a_log_line(monkeypatch, capsys):
    rt = EmbeddedRuntime(quiet=False)
    rt.procs = [dead_proc("matching")]
    restarted: list[str] = []
    monkeypatch.setattr(rt, "_restart", lambda p: restarted.append(p.name))
    clock = [1000.0]
    monkeypatch.setattr(rt_mod.time, "monotonic", lambda: clock[0])
    rt.supervise_once()
    out = capsys.readouterr().out
    assert restarted == [] and "matching exited with code 3; restarting in 1 s" in out
    assert "stopped itself for a fault of its own" in out        # 3: the stage runner's stop
    clock[0] += 1.01
    rt.supervise_once()
    assert restarted == ["matching"]
    rt.supervise_once()                                  # still dead (the fake is not replaced)
    assert "restarting in 2 s" in capsys.readouterr().out
    rt._stopping.set()                                   # stopping: nothing is restarted
    clock[0] += 100
    rt.supervise_once()
    assert restarted == ["matching"]


def test_dead_broker_is_replaced_only_when_supervised(monkeypatch):
    rt = EmbeddedRuntime(quiet=True)

    class DeadBroker:
        def alive(self) -> bool:
            return False

    rt.broker = DeadBroker()  # type: ignore[assignment]
    calls: list[int] = []
    monkeypatch.setattr(rt, "restart_broker", lambda: calls.append(1))
    rt.supervise_broker = False
    rt.supervise_once()
    assert calls == []
    rt.supervise_broker = True
    rt.supervise_once()
    assert calls == [1]
