"""The shared stage runner: dead-lettering, errors into submission.failed, idempotent replays."""
from __future__ import annotations

import asyncio
import json

import pytest

from jdl_core.errors import AnalysisError, StopWorker, TransientError
from jdl_events import events as ev
from jdl_events.topics import COHORT_LINKED, SUBMISSION_RECEIVED, dlq
from jdl_infra.crypto import key_object
from jdl_infra.objectstore import MemoryStore
from jdl_pipeline.stage import DeadLetterLimit, DeadLetterLimitExceeded, Stage, event_id_for, marker_key

SID = "sub-" + "a" * 20


def linked() -> ev.CohortLinked:
    return ev.CohortLinked(submission_id=SID, linked_key=f"submissions/{SID}/linked", n_linked=70)


class Sent(list):
    async def __call__(self, topic, key, value):
        self.append((topic, key, value))


def run(stage, raw, topic=COHORT_LINKED):
    return asyncio.run(stage.process(raw, topic, 0, 7))


def matched(e):
    return [ev.ControlMatched(event_id=event_id_for(e.submission_id, "matching", "control.matched"),
                              submission_id=e.submission_id, result_key="results/x.json",
                              n_treated=60, n_comparison=300)]


@pytest.mark.parametrize("raw", [b"not json", b"{}", b'{"event_type": "cohort.linked"}',
                                 json.dumps({"event_type": "cohort.linked", "submission_id": "John Smith",
                                             "linked_key": "k", "n_linked": 1}).encode(),
                                 b"\xff\xfe\x00"])
def test_bad_messages_go_to_the_dead_letter_topic_without_their_content(raw):
    sent = Sent()
    stage = Stage("matching", matched, MemoryStore(), sent, expected=(ev.CohortLinked,))
    assert run(stage, raw) == []
    assert len(sent) == 1
    topic, _key, value = sent[0]
    assert topic == dlq(COHORT_LINKED)
    body = json.loads(value)
    assert body["topic"] == COHORT_LINKED and body["offset"] == 7 and body["reason"]
    assert b"John Smith" not in value and b"not json" not in value


def test_wrong_event_type_on_a_topic_is_dead_lettered():
    sent = Sent()
    stage = Stage("matching", matched, MemoryStore(), sent, expected=(ev.CohortLinked,))
    wrong = ev.dump_event(ev.PurgeRequested(submission_id=SID, trigger="manual"))
    run(stage, wrong)
    assert json.loads(sent[0][2])["reason"] == "unexpected_event_type"


def test_good_event_runs_handler_sends_and_marks_done_then_replay_is_ignored():
    sent, store = Sent(), MemoryStore()
    calls = []
    stage = Stage("matching", lambda e: calls.append(e) or matched(e), store, sent,
                  expected=(ev.CohortLinked,))
    raw = ev.dump_event(linked())
    out = run(stage, raw)
    assert [o.event_type for o in out] == ["control.matched"]
    assert sent[0][0] == "jdl.control.matched" and sent[0][1] == SID.encode()
    assert store.exists(marker_key(SID, "matching"))
    # a replay does not run the handler again but re-sends the recorded event, same id
    assert run(stage, raw) == [] and len(calls) == 1 and len(sent) == 2
    assert sent[1] == sent[0]


def test_marker_is_written_only_after_every_output_was_acknowledged():
    store, calls = MemoryStore(), []

    class Refusing(Sent):
        async def __call__(self, topic, key, value):
            raise ConnectionError("broker gone")

    def two(e):
        calls.append(e)
        return matched(e) + [ev.PurgeRequested(event_id=event_id_for(SID, "matching", "purge.requested"),
                                               submission_id=SID, trigger="manual")]

    stage = Stage("matching", two, store, Refusing(), expected=(ev.CohortLinked,))
    with pytest.raises(ConnectionError):
        run(stage, ev.dump_event(linked()))
    assert not store.exists(marker_key(SID, "matching"))
    # the retry (a replay, or the reconciler's re-drive) runs the handler again: same event ids
    sent = Sent()
    stage.send = sent
    run(stage, ev.dump_event(linked()))
    assert len(calls) == 2 and [json.loads(v)["event_id"] for _, _, v in sent] == \
        [str(event_id_for(SID, "matching", "control.matched")), str(event_id_for(SID, "matching", "purge.requested"))]
    marker = json.loads(store.get(marker_key(SID, "matching")))
    assert [e["event_type"] for e in marker["sent"]] == ["control.matched", "purge.requested"]


def test_a_failed_send_midway_leaves_no_marker():
    store = MemoryStore()

    class OneThenFail(Sent):
        async def __call__(self, topic, key, value):
            if self:
                raise TimeoutError("no acknowledgement")
            self.append((topic, key, value))

    def two(e):
        return matched(e) + matched(e)

    stage = Stage("matching", two, store, OneThenFail(), expected=(ev.CohortLinked,))
    with pytest.raises(TimeoutError):
        run(stage, ev.dump_event(linked()))
    assert not store.exists(marker_key(SID, "matching"))


def test_jdl_error_becomes_submission_failed_with_its_code():
    def boom(e):
        raise AnalysisError("too few people could be analysed: 12 of 60 needed")

    sent = Sent()
    stage = Stage("matching", boom, MemoryStore(), sent, expected=(ev.CohortLinked,))
    (failed,) = run(stage, ev.dump_event(linked()))
    assert isinstance(failed, ev.SubmissionFailed)
    assert failed.stage == "matching" and failed.reason_code == "analysis_failed"
    assert failed.event_id == event_id_for(SID, "matching", "submission.failed")


def test_unexpected_exception_does_not_kill_the_worker_or_leak_its_message():
    def crash(e):
        raise ValueError("Smith, John 01/02/1980 could not be parsed")

    sent = Sent()
    stage = Stage("matching", crash, MemoryStore(), sent, expected=(ev.CohortLinked,))
    (failed,) = run(stage, ev.dump_event(linked()))
    assert failed.reason_code == "internal_error"
    assert "Smith" not in failed.reason and "ValueError" in failed.reason


# -- what an error makes the runner do (jdl_core.errors): refuse, retry, or stop the worker -----

def received(cohort_key: str) -> ev.SubmissionReceived:
    return ev.SubmissionReceived(submission_id=SID, org_id="demo-org", setting="community",
                                 rows_submitted=1, rows_valid=1, rows_rejected=0,
                                 cohort_key=cohort_key, programme_key=f"submissions/{SID}/programme.json")


def test_a_wrong_master_key_stops_the_worker_instead_of_failing_the_submission():
    from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key, get_encrypted, put_encrypted

    store, sent = MemoryStore(), Sent()
    right = KeyRing(store, MasterKey.from_base64(generate_master_key()))
    right.create_data_key(SID)
    cohort_key = f"submissions/{SID}/cohort.parquet.enc"
    put_encrypted(store, right, SID, cohort_key, b"rows")
    wrong = KeyRing(store, MasterKey.from_base64(generate_master_key()))   # JDL_MASTER_KEY mistyped

    def link(e):
        get_encrypted(store, wrong, e.submission_id, e.cohort_key)
        return []

    stage = Stage("linkage", link, store, sent, expected=(ev.SubmissionReceived,))
    with pytest.raises(StopWorker, match="JDL_MASTER_KEY") as stopped:
        run(stage, ev.dump_event(received(cohort_key)), topic=SUBMISSION_RECEIVED)
    assert stopped.value.code == "master_key_mismatch"
    assert sent == [] and not store.exists(marker_key(SID, "linkage"))   # no submission.failed, no purge
    # an altered key record is that submission's problem, not the worker's: refused as before
    record = json.loads(store.get(key_object(SID)))
    record["key_id"] = "dk-0000000000000000"
    store.put(key_object(SID), json.dumps(record).encode())
    stage.handler = lambda e: get_encrypted(store, right, e.submission_id, e.cohort_key) and []
    (failed,) = run(stage, ev.dump_event(received(cohort_key)), topic=SUBMISSION_RECEIVED)
    assert failed.reason_code == "master_key_mismatch" and failed.stage == "linkage"


def test_the_worker_stops_when_most_recent_inputs_go_to_dead_letters_or_fail_unexpectedly():
    sent = Sent()
    stage = Stage("matching", matched, MemoryStore(), sent, expected=(ev.CohortLinked,),
                  limit=DeadLetterLimit(max_ratio=0.5, window=6))
    good = ev.dump_event(linked())
    for _ in range(10):                 # half bad, half good: under the limit, nothing stops
        run(stage, b"not json")
        run(stage, good)
    assert sum(1 for t, _, _ in sent if t == dlq(COHORT_LINKED)) == 10

    def refuse(e):
        raise AnalysisError("too few people could be analysed: 12 of 60 needed")

    stage.handler = refuse              # refusals are the submitter's: they never count
    stage.idempotent_marker = False
    for _ in range(8):
        assert run(stage, good)[0].reason_code == "analysis_failed"

    def crash(e):
        raise ValueError("bad deploy")

    stage.handler = crash               # unexpected errors count like dead letters
    for _ in range(3):
        assert run(stage, good)[0].reason_code == "internal_error"
    with pytest.raises(DeadLetterLimitExceeded, match="4 of the last 6 inputs of the matching stage"):
        run(stage, b"not json")


def test_a_transient_error_is_retried_before_the_submission_is_refused():
    calls = []

    def flaky(e):
        calls.append(e)
        if len(calls) == 1:
            raise TransientError("1 object versions under submissions/x/ could not be deleted")
        return matched(e)

    stage = Stage("matching", flaky, MemoryStore(), Sent(), expected=(ev.CohortLinked,))
    assert [o.event_type for o in run(stage, ev.dump_event(linked()))] == ["control.matched"]
    assert len(calls) == 2
