"""One smoke test per service's ``create_app``: the faust app is built from its settings and its
agent, driven with faust's ``agent.test_context()`` (tables on ``memory://``, no broker), consumes
what it should and sends through the app's producer, here a fake that captures each message."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Callable

import faust
import pytest
from pydantic import SecretStr

from jdl_events import events as ev
from jdl_events import keys, topics
from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key, put_encrypted, submission_prefix
from jdl_infra.objectstore import FilesystemStore
from jdl_infra.settings import InfraSettings
from jdl_report.examples import minimal


class Producer:
    """Stands in for the app's Kafka producer: every send is acknowledged and captured."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send_and_wait(self, topic: str, key: bytes, value: bytes, *_: Any) -> None:
        self.sent.append((topic, key, value))

    def events(self) -> list[tuple[str, dict]]:
        return [(t, json.loads(v)) for t, _, v in self.sent]


@pytest.fixture
def infra(tmp_path: Path) -> InfraSettings:
    return InfraSettings(store_url=f"file://{tmp_path}/store", data_dir=tmp_path / "data",
                         master_key=SecretStr(generate_master_key()))


def wired(app: faust.App) -> Producer:
    producer = Producer()

    async def maybe_start_producer() -> Producer:
        return producer

    app.maybe_start_producer = maybe_start_producer   # type: ignore[method-assign]
    return producer


def drive(app: faust.App, agent_name: str, *values: bytes, until: Callable[[], bool]) -> None:
    """Put each value through the agent, then wait (up to 10 s) for ``until``: ``put`` returns
    once the agent took the value, while the handler may still run in its thread."""
    async def run() -> None:
        async with app.agents[agent_name].test_context() as agent:
            for value in values:
                await agent.put(value)
            for _ in range(1000):
                if until():
                    return
                await asyncio.sleep(0.01)
            raise AssertionError(f"{agent_name} did not finish its inputs within 10 s")

    asyncio.run(run())


def test_intake_worker_status_agent_projects_each_event(infra):
    from services.intake.app import create_app
    from services.intake.settings import IntakeSettings

    app = create_app(IntakeSettings(infra=infra))
    producer = wired(app)
    sid = ev.new_submission_id()
    received = ev.SubmissionReceived(submission_id=sid, org_id="acme", setting="custody",
                                     rows_submitted=80, rows_valid=80, rows_rejected=0,
                                     cohort_key=keys.cohort_key(sid),
                                     programme_key=keys.programme_key(sid))
    linked = ev.CohortLinked(submission_id=sid, linked_key=keys.linked_key(sid), n_linked=72,
                             attrition={"submitted": 80})
    store = FilesystemStore(infra.store_url[len("file://"):])

    def projected() -> bool:
        return '"linked": 72' in (store.get(keys.status_key(sid)).decode()
                                  if store.exists(keys.status_key(sid)) else "")

    drive(app, "jdl-intake.status", ev.dump_event(received), ev.dump_event(linked),
          ev.dump_event(linked), until=projected)
    rec = json.loads(store.get(keys.status_key(sid)))
    assert rec["state"] == "matching" and rec["counts"]["linked"] == 72
    assert [h["event"] for h in rec["history"]] == ["submission.received", "cohort.linked"]
    assert producer.sent == []      # the projection sends nothing


@pytest.mark.parametrize("service,consumes", [("linkage", ev.SubmissionReceived),
                                              ("matching", ev.CohortLinked)])
def test_linkage_and_matching_agents_read_their_topic_and_dead_letter_what_is_not_theirs(
        infra, service, consumes):
    import importlib

    module = importlib.import_module(f"services.{service}.app")
    settings_cls = getattr(importlib.import_module(f"services.{service}.settings"),
                           f"{service.capitalize()}Settings")
    app = module.create_app(settings_cls(infra=infra))
    producer = wired(app)
    wrong = ev.PurgeRequested(submission_id=ev.new_submission_id(), trigger="manual")
    drive(app, f"jdl-{service}.{service}", ev.dump_event(wrong), until=lambda: bool(producer.sent))
    ((topic, body),) = producer.events()
    assert topic == topics.dlq(ev.TOPIC_OF[consumes])   # the agent's topic, derived from the event
    assert body["reason"] == "unexpected_event_type" and body["topic"] == ev.TOPIC_OF[consumes]


def test_reporting_agent_renders_a_report_and_marks_it_done(infra):
    from services.reporting.app import create_app
    from services.reporting.settings import ReportingSettings

    app = create_app(ReportingSettings(infra=infra))
    producer = wired(app)
    store = FilesystemStore(infra.store_url[len("file://"):])
    sid = ev.new_submission_id()
    store.put(keys.result_key(sid), minimal().model_dump_json().encode())
    matched = ev.ControlMatched(submission_id=sid, result_key=keys.result_key(sid), n_treated=75,
                                n_comparison=301)
    drive(app, "jdl-reporting.reporting", ev.dump_event(matched), b"not an event",
          until=lambda: len(producer.sent) == 2)
    (ready_topic, ready), (dlq_topic, _) = producer.events()
    assert ready_topic == topics.REPORT_READY and ready["submission_id"] == sid
    assert store.get(ready["report_keys"]["pdf"]).startswith(b"%PDF")
    assert store.exists(keys.stage_marker_key(sid, "reporting"))     # sent, then marked
    assert dlq_topic == topics.dlq(topics.CONTROL_MATCHED)


def test_purge_agent_purges_and_certifies(infra):
    from services.purge.app import create_app
    from services.purge.settings import PurgeSettings

    app = create_app(PurgeSettings(infra=infra))
    producer = wired(app)
    store = FilesystemStore(infra.store_url[len("file://"):])
    sid = ev.new_submission_id()
    ring = KeyRing(store, MasterKey.from_settings(infra))
    ring.create_data_key(sid)
    put_encrypted(store, ring, sid, keys.cohort_key(sid), b"rows")
    drive(app, "jdl-purge.purge", ev.dump_event(ev.PurgeRequested(submission_id=sid, trigger="manual")),
          until=lambda: bool(producer.sent))
    ((topic, purged),) = producer.events()
    assert topic == topics.DATA_PURGED and purged["outcome"] == "purged" and purged["key_destroyed"]
    assert store.list_versions(submission_prefix(sid)) == []
    assert store.exists(purged["certificate_key"])
