"""End to end through a real tansu broker, the five services as processes, and a moto S3 server:
a cohort posted to the API comes back as a report, its individual-level data is deleted, and no
submitted name, date of birth, PNC ID or prison number is found anywhere afterwards."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition

from jdl_events import events as ev
from jdl_events import topics
from jdl_infra.audit import AuditLog

from .conftest import client, post, wait_state
from .conftest import personal_values_of as personal_values

pytestmark = pytest.mark.e2e
def topic_messages(bootstrap: str, topic: str) -> list[bytes]:
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or []]
    c.assign(parts)
    c.seek_to_beginning()
    end = c.end_offsets(parts)
    out: list[bytes] = []
    deadline = time.monotonic() + 20
    while any(c.position(p) < end[p] for p in parts) and time.monotonic() < deadline:
        for recs in c.poll(300).values():
            out += [r.value for r in recs]
    c.close()
    return out


def test_end_to_end_report_and_deletion(rt, cohort):
    path, upload = cohort
    sub = post(rt, path)
    sid = sub["submission_id"]
    st, seen = wait_state(rt, sid, lambda s: s["state"] in ("done", "failed") and s.get("purged"))
    assert st["state"] == "done", st.get("error")
    assert seen[-1] == "done" and len(seen) >= 2
    events = [s["event"] for s in st["stages"]]
    for e in ("submission.received", "cohort.linked", "control.matched", "report.ready", "data.purged"):
        assert e in events, events
    assert st["attrition"]["submitted"] == len(upload)
    with client(rt) as c:
        pdf = c.get(f"/v1/submissions/{sid}/report", params={"format": "pdf"})
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        result = c.get(f"/v1/submissions/{sid}/report", params={"format": "json"}).json()
        assert any(m["name"] == "rate" for m in result.get("measures", result.get("result", {}).get("measures", [])))
        # the service profiles the people not included (from the linkage stage's encrypted frame)
        # and prints the same sentences as the JSON statements
        # (small counts among them are withheld, so only the rows' presence is checked here)
        assert {r["characteristic"] for r in result["not_included"]} == {"Sex", "Age band"}
        assert result["statements"]["can_say"] == result["report"]["can_say"]
        # another organisation cannot see it
        with client(rt, "other-org") as o:
            assert o.get(f"/v1/submissions/{sid}").status_code == 404
            assert o.get(f"/v1/submissions/{sid}/report").status_code == 404
        # the report is in review: the organisation sees it, the public does not (until the
        # release date after its review window; tests/unit/test_publication_api.py moves time)
        assert st["publication"]["state"] == "in_review"
        assert st["publication"]["expected_release_at"] > st["publication"]["review_ends_at"]
        catalogue = httpx.get(f"{rt.api_url}/v1/reports").json()
        assert all(e["submission_id"] != sid for e in catalogue)
        assert httpx.get(f"{rt.api_url}/v1/reports/{sid}").status_code == 404
        # the purge published a checkpoint, signed with the runtime's key, covering this
        # submission's certificate; the log in the store still extends every checkpoint
        from jdl_infra.audit import AuditLog
        from jdl_infra.checkpoint import CheckpointSigner, check_checkpoints, parse_checkpoints

        published = httpx.get(f"{rt.api_url}/v1/audit/checkpoints").json()
        key = CheckpointSigner(rt.checkpoint_key).public_key
        assert published["signing_key"]["public_key"] == key
        cps = parse_checkpoints(published, "api")
        cert_seq = int(st["certificate_key"].rsplit("/", 1)[1].split(".")[0])
        assert max(cp.seq for cp in cps) >= cert_seq
        report = AuditLog(rt.store).verify()
        assert report.ok and check_checkpoints(cps, report.hashes, trusted_public_key=key) == []

    # individual-level data gone: every version under the prefix, and the data key
    store = rt.store
    assert store.list_versions(f"submissions/{sid}/") == []
    assert store.list_versions(f"keys/{sid}") == []
    assert store.exists(f"reports/{sid}/report.pdf")

    # plaintext scan of the whole store (all versions), every topic, every log
    secrets = personal_values(upload)
    assert len(secrets) > 100
    blobs: list[tuple[str, bytes]] = []
    for key, version in store.list_versions(""):
        obj = store.client.get_object(store.bucket, key, version_id=None if version == "null" else version)
        blobs.append((f"s3:{key}", obj.read()))
        obj.close()
    for spec in topics.all_topic_specs():
        blobs += [(f"topic:{spec.name}", m) for m in topic_messages(rt.bootstrap, spec.name)]
    for log in (rt.var_dir / "logs").glob("*.log"):
        blobs.append((f"log:{log.name}", log.read_bytes()))
    leaks = [(where, s) for where, blob in blobs for s in secrets if s.encode() in blob]
    assert leaks == [], f"personal data found: {leaks[:5]}"


def test_worker_killed_mid_submission_is_restarted_and_finishes_with_one_report(rt, cohort):
    path, _ = cohort
    sid = post(rt, path)["submission_id"]
    before = len(rt.restarts)
    old = {p.name: p.popen.pid for p in rt.procs if p.name.startswith("linkage")}
    for label in old:
        rt.kill(label)                       # both linkage workers die before or while linking
    # the supervisor restarts them (nobody else does here)
    deadline = time.monotonic() + 60
    while sorted(rt.restarts[before:]) != sorted(old) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(rt.restarts[before:]) == sorted(old)
    assert all(p.popen.pid != old[p.name] and p.popen.poll() is None
               for p in rt.procs if p.name in old)
    st, _ = wait_state(rt, sid, lambda s: s["state"] in ("done", "failed") and s.get("purged"))
    assert st["state"] == "done", st.get("error")
    ready = [ev.parse_event(m) for m in topic_messages(rt.bootstrap, topics.REPORT_READY)]
    # one report.ready event (a replay may re-send it: same event id, never a second report)
    mine = {e.event_id for e in ready if e.submission_id == sid}
    assert len(mine) == 1, f"{len(mine)} report.ready events"
    certs = [e for e in AuditLog(rt.store).certificate_entries(sid) if e.entry_type == "certificate"]
    assert len(certs) == 1
    # the reporting stage ran once: every report object has a single version (versioned bucket)
    versions = rt.store.list_versions(f"reports/{sid}/")
    assert versions and len(versions) == len({k for k, _ in versions})
    assert sum(1 for k in rt.store.list("publication/records/") if sid in k) == 1
    assert not any(sid in k for k in rt.store.list("catalogue/"))     # in review, not public


def test_two_linkage_workers_share_the_consumer_group(rt):
    from aiokafka.admin import AIOKafkaAdminClient

    async def members() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=rt.bootstrap)
        await admin.start()
        try:
            (resp,) = await admin.describe_consumer_groups(["jdl-linkage"])
            return len(resp.groups[0][5])
        finally:
            await admin.close()

    def received_partitions() -> list[set[int]]:
        """submission.received partitions each linkage worker reports on its health page."""
        out = []
        for p in rt.procs:
            if p.name.startswith("linkage"):
                assigned = httpx.get(p.health_url, timeout=5).json()["assigned"]
                out.append({int(a.rsplit(":", 1)[1]) for a in assigned
                            if a.rsplit(":", 1)[0] == topics.SUBMISSION_RECEIVED})
        return out

    deadline = time.monotonic() + 60
    n, shares = 0, []
    while time.monotonic() < deadline:
        n, shares = asyncio.run(members()), received_partitions()
        if n == 2 and len(shares) == 2 and all(shares) and not (shares[0] & shares[1]):
            break
        time.sleep(1)
    assert n == 2
    # both workers hold a share of submission.received, and no partition is held twice
    assert len(shares) == 2 and all(shares), shares
    assert not (shares[0] & shares[1]), shares
    assert shares[0] | shares[1] == set(range(topics.spec(topics.SUBMISSION_RECEIVED).partitions))


def test_only_the_services_that_decrypt_hold_the_master_key(rt):
    holders = set()
    for p in rt.procs:
        environ = Path(f"/proc/{p.popen.pid}/environ").read_bytes().split(b"\0")
        if any(e.startswith(b"JDL_MASTER_KEY=") for e in environ):
            holders.add(p.name.split("-")[0])
    assert holders == {"api", "linkage", "matching"}
