"""Nothing lost, nothing left behind, with the real broker, worker processes and the S3 server:
a stage killed (SIGKILL) right after its marker is restarted by the supervisor and the
submission ends with one report event and one certificate; a refused upload ends certified and
counts as purged; a broker killed mid-submission and replaced by an empty one: uploads during the
outage get 503 fast and leave nothing, uploads after it get 202 from the same API process, and the
in-flight submission is re-driven (or failed with a reason) and purged and certified."""
from __future__ import annotations

import json
import os
import signal
import time

import httpx
import pytest

from jdl_events import events as ev
from jdl_events import topics
from jdl_infra.audit import AuditLog
from jdl_infra.crypto import key_object

from .conftest import (
    PROGRAMME,
    RECONCILE_INTERVAL,
    STALL_SECONDS,
    client,
    personal_values_of,
    post,
    wait_state,
)
from .test_pipeline_e2e import topic_messages

pytestmark = pytest.mark.e2e

POINT = {"linkage": "after_marker", "matching": "after_marker", "reporting": "after_marker",
         "purge": "after_handler"}   # purge has no marker: killed after certifying, before sending


def certificates(rt, sid: str) -> list:
    return [e for e in AuditLog(rt.store).certificate_entries(sid) if e.entry_type == "certificate"]


def nothing_stored(rt, sid: str) -> bool:
    return (rt.store.list_versions(f"submissions/{sid}/") == []
            and rt.store.list_versions(key_object(sid)) == [])


def killed_after_marker(rt, cohort, stage: str) -> None:
    path, _ = cohort
    armed = rt.fault_dir / f"{stage}.{POINT[stage]}.armed"
    armed.touch()
    try:
        before = len(rt.restarts)
        sid = post(rt, path)["submission_id"]
        st, _ = wait_state(rt, sid, lambda s: s["state"] in ("done", "failed") and s.get("purged"),
                           timeout=300)
    finally:
        armed.unlink()
    assert (rt.fault_dir / f"{stage}-{POINT[stage]}-{sid}.fired").exists()   # it was killed
    deadline = time.monotonic() + 60                   # (the rest of the pipeline need not wait)
    while not any(label.startswith(stage) for label in rt.restarts[before:]):
        assert time.monotonic() < deadline, f"{stage} not restarted: {rt.restarts}"
        time.sleep(0.2)
    rt.wait_healthy(timeout=180)                       # restarted and consuming again
    # its replay re-sends what the marker recorded; give that time to land before counting
    wait_state(rt, sid, lambda s: s.get("purged"), timeout=60)
    assert st["state"] == "done", st.get("error")
    ready = {e.event_id for e in map(ev.parse_event, topic_messages(rt.bootstrap, topics.REPORT_READY))
             if e.submission_id == sid}
    assert len(ready) == 1, f"{len(ready)} report.ready events"
    assert len(certificates(rt, sid)) == 1
    assert nothing_stored(rt, sid)


def test_reporting_killed_right_after_its_marker_ends_with_one_report_and_one_certificate(rt, cohort):
    killed_after_marker(rt, cohort, "reporting")


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["linkage", "matching", "reporting", "purge"])
@pytest.mark.parametrize("repetition", range(25))
def test_each_stage_killed_after_its_marker_every_time(rt, cohort, stage, repetition):
    killed_after_marker(rt, cohort, stage)


def test_refused_upload_ends_certified_and_counts_as_purged(rt):
    with client(rt) as c:
        r = c.post("/v1/submissions", files={"file": ("c.csv", b"forename,surname\n")},
                   data={"programme": json.dumps(PROGRAMME)})
    assert r.status_code in (400, 422), r.text
    sid = r.json()["submission_id"]
    st, _ = wait_state(rt, sid, lambda s: s.get("purged"), timeout=120)
    assert st["state"] == "refused" and st["purge_outcome"] == "unknown_submission"
    assert AuditLog(rt.store).certificate(sid) is not None
    with client(rt, "ops") as ops:
        q = ops.get("/v1/queue").json()
    assert sid not in {x["submission_id"] for x in q["requests"]}


def test_broker_killed_mid_submission_outage_answered_503_then_everything_recovers(rt, cohort):
    path, upload = cohort
    api_pid = next(p.popen.pid for p in rt.procs if p.name == "api")
    sid = post(rt, path)["submission_id"]
    at_kill, _ = wait_state(rt, sid, lambda s: s["state"] in ("matching", "reporting", "done", "failed"),
                            timeout=240)

    rt.supervise_broker = False                      # hold the outage open while we test it
    os.kill(rt.broker.proc.pid, signal.SIGKILL)
    rt.broker.proc.wait()
    refused = []
    try:
        for _ in range(2):
            t = time.perf_counter()
            with client(rt) as c, path.open("rb") as f:
                r = c.post("/v1/submissions", files={"file": (path.name, f)},
                           data={"programme": json.dumps(PROGRAMME)})
            took = time.perf_counter() - t
            assert r.status_code == 503, r.text
            assert took < 2.0, f"503 after {took:.2f} s"
            body = r.json()
            assert body["error"]["code"] == "service_unavailable"
            if "submission_id" in body:      # stored before the send failed: deleted at once
                refused.append(body["submission_id"])
                assert nothing_stored(rt, body["submission_id"])
        assert httpx.get(f"{rt.api_url}/healthz", timeout=2).status_code == 200
        ready = httpx.get(f"{rt.api_url}/readyz", timeout=5)
        assert ready.status_code == 503 and ready.json()["broker"] == "unreachable"
    finally:
        rt.supervise_broker = True                   # the supervisor starts an empty broker
    killed_at = time.monotonic()
    deadline = time.monotonic() + 60
    while "broker" not in rt.restarts and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "broker" in rt.restarts
    rt.wait_healthy(timeout=180)
    restarted_in = time.monotonic() - killed_at

    # the in-flight submission: re-driven from the store (or failed with a reason), purged, certified
    st, _ = wait_state(rt, sid, lambda s: s["state"] in ("done", "failed") and s.get("purged"),
                       timeout=2 * RECONCILE_INTERVAL + STALL_SECONDS + 180)
    settled_in = time.monotonic() - killed_at
    assert st["state"] == "done" or st["error"]["reason"], st
    assert len(certificates(rt, sid)) == 1 and nothing_stored(rt, sid)
    # Whether the reconciler had to re-drive it depends on timing: a stage whose send was
    # pending when the broker died may still get its acknowledgement from the new broker on the
    # same port (send before mark: its marker follows). Either way nothing was lost. Shown, not
    # asserted; the re-drive itself is covered by tests/unit/test_reconcile.py.
    purge_log = (rt.var_dir / "logs" / "purge.log").read_text(errors="replace")
    redriven = any(sid in line and "re-driven" in line for line in purge_log.splitlines())
    print(f"\nre-driven by the reconciler: {redriven}", end="")
    print(f"\nstate at the broker kill: {at_kill['state']}", end="")
    print(f"\nbroker restarted and workers consuming {restarted_in:.1f} s after the kill; "
          f"in-flight submission {st['state']} and certified {settled_in:.1f} s after it")
    # the refused uploads are certified too, and count as purged
    for rid in refused:
        rst, _ = wait_state(rt, rid, lambda s: s.get("purged"), timeout=2 * RECONCILE_INTERVAL + 60)
        assert rst["state"] == "refused" and AuditLog(rt.store).certificate(rid) is not None

    # uploads after the outage are accepted by the same API process
    after = post(rt, path)["submission_id"]
    assert next(p.popen.pid for p in rt.procs if p.name == "api") == api_pid
    assert httpx.get(f"{rt.api_url}/readyz", timeout=5).status_code == 200
    st2, _ = wait_state(rt, after, lambda s: s["state"] in ("done", "failed") and s.get("purged"))
    assert st2["state"] == "done", st2.get("error")

    # no submitted value in the store, the (new) broker's topics or any log
    secrets = personal_values_of(upload)
    blobs = [(f"log:{p.name}", p.read_bytes()) for p in (rt.var_dir / "logs").glob("*.log")]
    for key, version in rt.store.list_versions(""):
        if key.startswith(("status/", "stages/", "audit/", "reconcile/", "catalogue/", "publication/")):
            obj = rt.store.client.get_object(rt.store.bucket, key,
                                             version_id=None if version == "null" else version)
            blobs.append((key, obj.read()))
            obj.close()
    for spec in topics.all_topic_specs():
        blobs += [(f"topic:{spec.name}", m) for m in topic_messages(rt.bootstrap, spec.name)]
    leaks = [(where, s) for where, blob in blobs for s in secrets if s.encode() in blob]
    assert leaks == [], leaks[:5]
