"""Send before you mark, against the real tansu broker: a stage killed (SIGKILL) after its output
was queued but before the broker acknowledged it has written no marker, and its restart delivers
the event once; a marker whose events a broker lost is repaired by re-sending them, same ids."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid

from kafka import KafkaConsumer, TopicPartition

from jdl_cli.tansu import TansuBroker
from jdl_events import events as ev
from jdl_events import topics
from jdl_infra.kafka_io import ensure_topics
from jdl_infra.objectstore import FilesystemStore
from jdl_pipeline.stage import Stage, event_id_for, marker_key

SID = "sub-" + uuid.uuid4().hex[:20]

# The stage as a worker would run it, with a Send that queues the message (aiokafka, long linger
# so it stays in the producer's buffer) and is killed before the acknowledgement.
CRASHING_WORKER = textwrap.dedent('''
    import asyncio, os, signal, sys
    from aiokafka import AIOKafkaProducer
    from jdl_events import events as ev
    from jdl_infra.objectstore import FilesystemStore
    from jdl_pipeline.stage import Stage
    sys.path.insert(0, os.environ["TEST_DIR"])
    from test_send_before_mark import handler

    async def main():
        producer = AIOKafkaProducer(bootstrap_servers=os.environ["BOOTSTRAP"], linger_ms=60000, acks="all")
        await producer.start()

        async def send(topic, key, value):
            fut = await producer.send(topic, value, key=key)    # queued, not yet flushed
            os.kill(os.getpid(), signal.SIGKILL)                # crash between send and flush
            await fut

        stage = Stage("matching", handler, FilesystemStore(os.environ["STORE"]), send,
                      expected=(ev.CohortLinked,))
        await stage.process(sys.stdin.buffer.read(), "jdl.cohort.linked")

    asyncio.run(main())
''')


def handler(e):
    return [ev.ControlMatched(event_id=event_id_for(e.submission_id, "matching", "control.matched"),
                              submission_id=e.submission_id, result_key=f"results/{e.submission_id}.json",
                              n_treated=60, n_comparison=300)]


def linked_raw() -> bytes:
    return ev.dump_event(ev.CohortLinked(submission_id=SID, linked_key=f"submissions/{SID}/linked",
                                         n_linked=70))


def matched_ids(bootstrap: str, settle: float = 3.0) -> list[str]:
    """Event ids of this test's control.matched messages on the topic (every partition)."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    parts = [TopicPartition(topics.CONTROL_MATCHED, p)
             for p in c.partitions_for_topic(topics.CONTROL_MATCHED) or []]
    c.assign(parts)
    c.seek_to_beginning()
    end = c.end_offsets(parts)
    out: list[str] = []
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline and any(c.position(p) < end[p] for p in parts):
        for recs in c.poll(200).values():
            out += [json.loads(r.value)["event_id"] for r in recs
                    if json.loads(r.value)["submission_id"] == SID]
    c.close()
    return out


async def acked_send(bootstrap: str):  # type: ignore[no-untyped-def]
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()

    async def send(topic, key, value):  # type: ignore[no-untyped-def]
        await producer.send_and_wait(topic, value, key=key)

    return producer, send


def process(bootstrap: str, store: FilesystemStore, calls: list) -> None:
    async def go() -> None:
        producer, send = await acked_send(bootstrap)
        try:
            stage = Stage("matching", lambda e: calls.append(e) or handler(e), store, send,
                          expected=(ev.CohortLinked,))
            await stage.process(linked_raw(), topics.COHORT_LINKED)
        finally:
            await producer.stop()

    asyncio.run(go())


def test_crash_between_send_and_flush_leaves_no_marker_and_the_restart_delivers_once(tmp_path, broker):
    ensure_topics(broker.bootstrap)
    store = FilesystemStore(tmp_path / "store")
    env = {**os.environ, "BOOTSTRAP": broker.bootstrap, "STORE": str(tmp_path / "store"),
           "TEST_DIR": os.path.dirname(__file__)}
    crashed = subprocess.run([sys.executable, "-c", CRASHING_WORKER], input=linked_raw(), env=env,
                             capture_output=True, timeout=120)
    assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
    assert not store.exists(marker_key(SID, "matching"))      # never marked: not acknowledged
    assert matched_ids(broker.bootstrap) == []                 # and indeed never delivered

    calls: list = []
    process(broker.bootstrap, store, calls)                    # the restarted worker: replay
    assert len(calls) == 1
    want = str(event_id_for(SID, "matching", "control.matched"))
    assert matched_ids(broker.bootstrap, settle=20) == [want]
    marker = json.loads(store.get(marker_key(SID, "matching")))
    assert [e["event_id"] for e in marker["sent"]] == [want]


def test_marker_whose_events_the_broker_lost_is_repaired_by_a_replay(tmp_path):
    """A new, empty broker (the old one died with its log): a replay re-sends the recorded
    event with its original id and does not run the handler again."""
    store = FilesystemStore(tmp_path / "store")
    with TansuBroker() as first:
        ensure_topics(first.bootstrap)
        calls: list = []
        process(first.bootstrap, store, calls)
        assert len(calls) == 1 and store.exists(marker_key(SID, "matching"))
    with TansuBroker() as second:
        ensure_topics(second.bootstrap)
        assert matched_ids(second.bootstrap) == []
        process(second.bootstrap, store, calls)
        assert len(calls) == 1                                 # handler not run again
        assert matched_ids(second.bootstrap, settle=20) == [str(event_id_for(SID, "matching",
                                                                             "control.matched"))]
