"""Every topic's malformed messages reach its dead-letter topic, and the workers keep going.
Real tansu broker, real faust workers as processes, filesystem store."""
from __future__ import annotations

import json
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from jdl_cli.runtime import EmbeddedRuntime
from jdl_events import events as ev
from jdl_events import topics

pytestmark = pytest.mark.e2e


def read_all(bootstrap: str, topic: str, want: int, timeout: float = 60.0) -> list[bytes]:
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or []]
    c.assign(parts)
    c.seek_to_beginning()
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        for recs in c.poll(500).values():
            got += [r.value for r in recs]
    c.close()
    return got


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    rt = EmbeddedRuntime(var_dir=tmp_path_factory.mktemp("rt") / "var", prepare_data=False, quiet=True)
    with rt:
        yield rt


def test_malformed_event_on_every_topic_is_dead_lettered_and_workers_keep_going(runtime):
    bootstrap = runtime.bootstrap
    p = KafkaProducer(bootstrap_servers=bootstrap)
    secret = b'{"event_type": "submission.received", "forename": "Zebedee", "date_of_birth": "1980-02-03"}'
    for t in topics.TOPICS:
        p.send(t.name, key=b"k", value=secret if t.name == topics.SUBMISSION_RECEIVED else b"\x00garbage")
    p.flush()
    for t in topics.TOPICS:
        msgs = read_all(bootstrap, topics.dlq(t.name), 1)
        assert len(msgs) == 1, f"no dead letter for {t.name}"
        body = json.loads(msgs[0])
        assert body["topic"] == t.name and body["reason"] in ("invalid_event", "undecodable")
        assert b"Zebedee" not in msgs[0] and b"1980" not in msgs[0]
    # still alive: a valid purge request for an unknown submission is certified as a no-op
    sid = ev.new_submission_id()
    p.send(topics.PURGE_REQUESTED, key=sid.encode(), value=ev.dump_event(ev.PurgeRequested(submission_id=sid, trigger="manual")))
    p.flush()
    deadline = time.monotonic() + 60
    found = None
    while found is None and time.monotonic() < deadline:
        for raw in read_all(bootstrap, topics.DATA_PURGED, 1, timeout=5):
            try:
                e = ev.parse_event(raw)
            except ValueError:
                continue   # the garbage sent above
            if e.submission_id == sid:
                found = e
    assert found is not None and found.outcome == "unknown_submission"
    assert all(pr.popen.poll() is None for pr in runtime.procs), "a worker died"
