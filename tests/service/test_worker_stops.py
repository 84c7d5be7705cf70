"""A wrong JDL_MASTER_KEY stops the worker instead of failing (and so purging) every submission:
a real linkage worker on a real broker, given another master key than the one that wrapped the
submission's data key, exits with code 3 and one log line naming the setting, answers nothing, and
leaves the input uncommitted, so the worker restarted with the right key reads it again."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from jdl_cli.tansu import TansuBroker, free_port
from jdl_core.errors import StopWorker
from jdl_events import events as ev
from jdl_events import topics
from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key
from jdl_infra.kafka_io import ensure_topics
from jdl_infra.objectstore import FilesystemStore
from jdl_infra.ports import put_frame_encrypted
from jdl_pipeline.stage import marker_key

ROOT = Path(__file__).resolve().parents[2]
SID = "sub-" + uuid.uuid4().hex[:20]


def failures(bootstrap: str) -> list[dict]:
    """This test's submission.failed events (every partition)."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    parts = [TopicPartition(topics.SUBMISSION_FAILED, p)
             for p in c.partitions_for_topic(topics.SUBMISSION_FAILED) or []]
    c.assign(parts)
    c.seek_to_beginning()
    end = c.end_offsets(parts)
    out: list[dict] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(c.position(p) < end[p] for p in parts):
        for recs in c.poll(200).values():
            out += [e for e in (json.loads(r.value) for r in recs) if e["submission_id"] == SID]
    c.close()
    return out


def start_linkage(broker: TansuBroker, tmp_path: Path, master_key: str, log_name: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JDL_")}
    env.update(JDL_KAFKA_BOOTSTRAP=broker.bootstrap, JDL_STORE_URL=f"file://{tmp_path}/store",
               JDL_DATA_DIR=str(tmp_path / "no-dataset"), JDL_LINKAGE_WEB_PORT=str(free_port()),
               JDL_MASTER_KEY=master_key, JDL_KAFKA_SESSION_TIMEOUT_SECONDS="6")
    return subprocess.Popen([sys.executable, "-m", "services.linkage", "worker"], cwd=ROOT, env=env,
                            stdout=open(tmp_path / log_name, "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_a_wrong_master_key_stops_the_worker_and_the_submission_waits_for_the_right_key(tmp_path):
    store = FilesystemStore(tmp_path / "store")
    right_key = generate_master_key()
    ring = KeyRing(store, MasterKey.from_base64(right_key))
    ring.create_data_key(SID)
    cohort_key = f"submissions/{SID}/cohort.parquet.enc"
    put_frame_encrypted(store, ring, SID, cohort_key, pd.DataFrame({"row_number": [1]}))
    received = ev.SubmissionReceived(submission_id=SID, org_id="demo-org", setting="community",
                                     rows_submitted=1, rows_valid=1, rows_rejected=0,
                                     cohort_key=cohort_key,
                                     programme_key=f"submissions/{SID}/programme.json")
    with TansuBroker() as broker:
        ensure_topics(broker.bootstrap)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        producer.send(topics.SUBMISSION_RECEIVED, ev.dump_event(received), key=SID.encode()).get(10)
        producer.close()

        wrong = start_linkage(broker, tmp_path, generate_master_key(), "wrong-key.log")
        try:
            code = wrong.wait(90)
        finally:
            if wrong.poll() is None:
                wrong.kill()
                wrong.wait()
        log = (tmp_path / "wrong-key.log").read_text()
        assert code == StopWorker.exit_code == 3, log[-3000:]
        (line,) = [json.loads(x) for x in log.splitlines() if '"worker stopped:' in x]
        assert line["level"] == "CRITICAL" and line["code"] == "master_key_mismatch"
        assert "JDL_MASTER_KEY" in line["event"] and line["stage"] == "linkage"
        assert failures(broker.bootstrap) == []                  # nothing for purge to act on
        assert not store.exists(marker_key(SID, "linkage"))

        # The key fixed: the same input is read again (it was never committed) and answered; with
        # no national dataset in this test, the answer is the stage's refusal for want of data.
        right = start_linkage(broker, tmp_path, right_key, "right-key.log")
        try:
            deadline = time.monotonic() + 90
            answered: list[dict] = []
            while not answered and time.monotonic() < deadline:
                assert right.poll() is None, (tmp_path / "right-key.log").read_text()[-3000:]
                answered = failures(broker.bootstrap)
                time.sleep(0.5)
            assert [(f["stage"], f["reason_code"]) for f in answered] == [("linkage", "data_error")]
        finally:
            right.terminate()
            try:
                right.wait(15)
            except subprocess.TimeoutExpired:
                right.kill()
                right.wait()
