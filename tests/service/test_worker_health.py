"""A worker's /healthz fails when it cannot work: after a failed warm-up of the national dataset
(a real matching worker on a real broker, started with an empty data directory), or after a grace
period without partitions (the rule, unit-tested; measured against tansu in the report)."""
from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from jdl_cli.tansu import free_port
from jdl_infra.kafka_io import ensure_topics
from jdl_pipeline.faust_app import worker_health

ROOT = Path(__file__).resolve().parents[2]


def test_health_rule():
    ok = worker_health("jdl-x", ["t:0"], 0.0, 120, [])
    assert ok == {"status": "ok", "app": "jdl-x", "assigned": ["t:0"]}
    # no partition, inside the grace (starting, rebalancing): still ok
    assert worker_health("jdl-x", [], 119.0, 120, [])["status"] == "ok"
    late = worker_health("jdl-x", [], 121.0, 120, [])
    assert late["status"] == "failing"
    assert late["problems"] == ["no partition assigned for 121 s (JDL_HEALTH_ASSIGNMENT_GRACE_SECONDS=120)"]
    # a failed check fails the page even with partitions
    failed = worker_health("jdl-x", ["t:0"], 0.0, 120, [lambda: None, lambda: "warm-up failed (X)"])
    assert failed["status"] == "failing" and failed["problems"] == ["warm-up failed (X)"]


def test_matching_worker_fails_its_health_after_a_failed_warm_up(broker, tmp_path):
    ensure_topics(broker.bootstrap)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JDL_")}
    env.update(JDL_KAFKA_BOOTSTRAP=broker.bootstrap, JDL_STORE_URL=f"file://{tmp_path}/store",
               JDL_DATA_DIR=str(tmp_path / "no-dataset"), JDL_MATCHING_WEB_PORT=str(port),
               JDL_MASTER_KEY=base64.b64encode(os.urandom(32)).decode())
    log = open(tmp_path / "matching.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.matching", "worker"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        body, status = None, None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "matching.log").read_text()[-2000:]
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                status, body = r.status_code, r.json()
                if status == 503:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert status == 503, body
        assert body["status"] == "failing"
        assert any(p.startswith("national dataset warm-up failed (") for p in body["problems"]), body
        assert proc.poll() is None       # alive: the orchestrator decides (liveness restarts it)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
