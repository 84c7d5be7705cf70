"""The publication workflow through the intake API and the real reporting handler, with an
in-memory store and a clock the test moves: a ready report is in review (private), is scheduled
by acceptance or by the end of the review window, and is public only from its release date."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from jdl_events.events import ControlMatched
from jdl_infra import publication as pub
from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key
from jdl_infra.objectstore import MemoryStore
from jdl_report.examples import significant_reduction
from jdl_report.publication import PublicationPolicy
from services.intake import status
from services.intake.api import create_api
from services.intake.handlers import IntakePorts
from services.intake.settings import IntakeSettings
from services.reporting.handlers import ReportingPorts, handle_control_matched

UTC = timezone.utc
TOKENS = {"t-acme": "acme", "t-other": "other-org", "t-ops": "ops"}
ACME = {"Authorization": "Bearer t-acme"}
OTHER = {"Authorization": "Bearer t-other"}
OPS = {"Authorization": "Bearer t-ops"}
READY = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)           # a Monday
RELEASE_DEC = datetime(2026, 12, 10, 9, 30, tzinfo=UTC)      # second Thursday of December


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


@pytest.fixture
def env():
    store = MemoryStore()
    settings = IntakeSettings(tokens=SecretStr(json.dumps(TOKENS)))
    keyring = KeyRing(store, MasterKey.from_base64(generate_master_key()))
    app = create_api(settings, IntakePorts(store, keyring, lambda e: None))
    clock = Clock(READY)
    app.state.clock = clock
    app.state.publication_policy = PublicationPolicy()
    return TestClient(app), store, clock


def ready_report(store, clock, n: int = 1, org: str = "acme", result=significant_reduction) -> str:
    """A submission of ``org`` whose report the real reporting handler has just rendered."""
    sid = f"sub-{n:020x}"
    r = result().model_copy(update={"submission_id": sid})
    store.put(f"results/{sid}/analysis.json", r.model_dump_json().encode())
    ports = ReportingPorts(store=store, policy=PublicationPolicy(), clock=clock)
    (ready,) = handle_control_matched(ControlMatched(
        submission_id=sid, result_key=f"results/{sid}/analysis.json", n_treated=r.n_treated,
        n_comparison=r.n_comparison), ports)
    rec = status.new_record(sid, org, clock.t - timedelta(hours=1))
    rec.update(state="done", report_keys=dict(ready.report_keys))
    status.write_status(store, rec)
    return sid


def listed(client) -> set[str]:
    return {e["submission_id"] for e in client.get("/v1/reports").json()}


def test_ready_report_is_in_review_and_private(env):
    client, store, clock = env
    sid = ready_report(store, clock)
    assert listed(client) == set()
    assert client.get(f"/v1/reports/{sid}?format=html").status_code == 404
    assert sid not in client.get("/catalogue").text
    assert not store.list("catalogue/")
    # the organisation and operations see the report and its publication state
    assert client.get(f"/v1/submissions/{sid}/report?format=pdf", headers=ACME).status_code == 200
    st = client.get(f"/v1/submissions/{sid}", headers=ACME).json()
    p = st["publication"]
    assert p["state"] == "in_review" and p["review_ends_at"] == "2026-11-16T10:00:00+00:00"
    assert p["expected_release_at"] == RELEASE_DEC.isoformat()
    assert p["next_release_at"] == "2026-11-12T09:30:00+00:00"
    assert p["actions"] == ["response", "accept", "withdraw"]
    q = client.get("/v1/queue", headers=OPS).json()["publication"]
    assert q["by_state"]["in_review"] == 1 and q["waiting"][0]["submission_id"] == sid
    assert client.get(f"/v1/submissions/{sid}/publication", headers=OTHER).status_code == 404


def test_review_window_expiry_then_publication_on_the_release_date(env):
    client, store, clock = env
    sid = ready_report(store, clock)
    clock.t = datetime(2026, 11, 16, 9, 59, tzinfo=UTC)
    assert client.get(f"/v1/submissions/{sid}/publication", headers=ACME).json()["state"] == "in_review"
    clock.t = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
    p = client.get(f"/v1/submissions/{sid}/publication", headers=ACME).json()
    assert p["state"] == "scheduled" and p["release_at"] == RELEASE_DEC.isoformat()
    assert p["actions"] == ["withdraw"]
    clock.t = RELEASE_DEC - timedelta(minutes=1)
    assert listed(client) == set()
    assert client.get(f"/v1/reports/{sid}").status_code == 404
    clock.t = RELEASE_DEC
    entries = client.get("/v1/reports").json()
    assert [e["submission_id"] for e in entries] == [sid]
    assert entries[0]["published_at"].startswith("2026-12-10T09:30")
    assert entries[0]["n_comparison"] > entries[0]["n_treated"]
    assert client.get(f"/v1/reports/{sid}?format=pdf").content.startswith(b"%PDF")
    assert client.get("/v1/publication").json()["counts"] == {"published": 1, "withdrawn": 0, "refused": 0}


def test_accept_schedules_and_withdrawal_is_refused_after_publication(env):
    client, store, clock = env
    sid = ready_report(store, clock)
    clock.t = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    r = client.post(f"/v1/submissions/{sid}/accept", headers=ACME)
    assert r.status_code == 200, r.text
    assert r.json()["publication"]["release_at"] == "2026-11-12T09:30:00+00:00"
    clock.t = datetime(2026, 11, 12, 9, 30, tzinfo=UTC)
    assert listed(client) == {sid}
    r = client.post(f"/v1/submissions/{sid}/withdraw", headers=ACME)
    assert r.status_code == 409
    assert "published 12 November 2026" in r.json()["error"]["message"]
    assert listed(client) == {sid}


def test_withdrawal_before_publication_is_counted_without_detail(env):
    client, store, clock = env
    sid = ready_report(store, clock)
    other = ready_report(store, clock, n=2)
    status.write_status(store, status.new_record("sub-" + "e" * 20, "acme", READY, state="refused"))
    r = client.post(f"/v1/submissions/{sid}/withdraw", headers=ACME)
    assert r.status_code == 200 and r.json()["publication"]["state"] == "withdrawn"
    clock.t = datetime(2027, 6, 1, tzinfo=UTC)          # long after any release date
    assert listed(client) == {other}
    assert client.get(f"/v1/reports/{sid}").status_code == 404
    pubinfo = client.get("/v1/publication").json()
    assert pubinfo["counts"] == {"published": 1, "withdrawn": 1, "refused": 1}
    assert sid not in json.dumps(pubinfo)
    assert [d[:10] for d in pubinfo["next_release_dates"]] == ["2027-06-10", "2027-07-08",
                                                             "2027-08-12", "2027-09-09"]


def test_response_is_stored_and_printed_in_the_report_escaped(env):
    client, store, clock = env
    sid = ready_report(store, clock)
    text = "We welcome the findings.\n<script>alert('x')</script> & more mentoring in 2027."
    r = client.post(f"/v1/submissions/{sid}/response", headers=ACME, json={"text": text})
    assert r.status_code == 200, r.text
    assert r.json()["publication"]["response"]["text"] == text
    html = client.get(f"/v1/submissions/{sid}/report?format=html", headers=ACME).text
    assert "We welcome the findings." in html
    assert "<script>alert(" not in html and "&lt;script&gt;alert(" in html
    j = client.get(f"/v1/submissions/{sid}/report?format=json", headers=ACME).json()
    assert "We welcome the findings." in json.dumps(j)
    pdf = client.get(f"/v1/submissions/{sid}/report?format=pdf", headers=ACME).content
    assert pdf.startswith(b"%PDF")
    from tests.unit.test_publication_summary import pdf_text

    assert "We welcome the findings." in pdf_text(pdf)
    # a replay of the reporting stage keeps the response in the report
    ports = ReportingPorts(store=store, policy=PublicationPolicy(), clock=clock)
    handle_control_matched(ControlMatched(submission_id=sid, result_key=f"results/{sid}/analysis.json",
                                          n_treated=1, n_comparison=1), ports)
    assert "We welcome the findings." in store.get(pub.report_key(sid, "html")).decode()
    assert pub.read(store, sid).response.text == text


BAD_RESPONSES = [
    ({"text": "x" * 4001}, 422, "at most 4000"),
    ({"text": "bad\x07bell"}, 422, r"control character \(code 0x07\) at character 4"),
    ({"text": "   "}, 422, "empty"),
    ({"words": "x"}, 422, '"text" string'),
    ("just text", 422, '"text" string'),
]


def test_bad_responses_are_refused_with_a_clear_message(env):
    import re

    client, store, clock = env
    sid = ready_report(store, clock)       # one report for every case: rendering is the slow part
    for body, status_code, match in BAD_RESPONSES:
        r = client.post(f"/v1/submissions/{sid}/response", headers=ACME, json=body)
        assert r.status_code == status_code, (body, r.text)
        assert re.search(match, r.json()["error"]["message"]), r.json()
        assert "bell" not in r.text
    raw = client.post(f"/v1/submissions/{sid}/response", headers={**ACME, "content-type": "application/json"},
                      content=b"{not json")
    assert raw.status_code == 422 and "must be JSON" in raw.json()["error"]["message"]
    assert pub.read(store, sid).response is None


def test_response_from_another_organisation_or_operations_is_refused(env):
    client, store, clock = env
    sid = ready_report(store, clock)
    r = client.post(f"/v1/submissions/{sid}/response", headers=OTHER, json={"text": "not ours"})
    assert r.status_code == 404
    assert client.post(f"/v1/submissions/{sid}/withdraw", headers=OTHER).status_code == 404
    assert client.post(f"/v1/submissions/{sid}/accept", headers=OTHER).status_code == 404
    r = client.post(f"/v1/submissions/{sid}/response", headers=OPS, json={"text": "ops"})
    assert r.status_code == 403
    assert pub.read(store, sid).response is None and pub.read(store, sid).state == "in_review"


def test_response_after_the_review_window_is_refused(env):
    client, store, clock = env
    sid = ready_report(store, clock)
    clock.t = datetime(2026, 11, 17, tzinfo=UTC)
    r = client.post(f"/v1/submissions/{sid}/response", headers=ACME, json={"text": "late"})
    assert r.status_code == 409 and "scheduled" in r.json()["error"]["message"]


def test_actions_before_the_report_is_ready_are_409(env):
    client, store, clock = env
    sid = "sub-" + "a" * 20
    status.write_status(store, status.new_record(sid, "acme", READY))
    assert client.post(f"/v1/submissions/{sid}/accept", headers=ACME).status_code == 409
    assert client.get(f"/v1/submissions/{sid}/publication", headers=ACME).json()["state"] is None


def test_auto_publish_policy_is_refused_in_production(monkeypatch):
    monkeypatch.setenv("JDL_PUBLICATION_AUTO_PUBLISH", "true")
    monkeypatch.setenv("JDL_PUBLICATION_REVIEW_WORKING_DAYS", "5")
    assert pub.load_policy("development").auto_publish
    assert pub.load_policy("development").review_working_days == 5
    with pytest.raises(ValueError, match="refused when JDL_ENVIRONMENT=production"):
        pub.load_policy("production")


def test_catalogue_never_lists_an_unpublished_report_under_random_actions(env):
    """200 random steps over 6 reports (accept, withdraw, time jumps of hours to weeks): after
    every step the public catalogue is exactly the published records, and a report's public
    address answers only for those."""
    import random

    from jdl_report.summary_examples import example_entries

    client, store, clock = env
    rnd = random.Random(13)
    sids = []
    for i, e in enumerate(example_entries(6, seed=2)):
        sid = f"sub-{i + 100:020x}"
        status.write_status(store, {**status.new_record(sid, "acme", clock.t), "state": "done"})
        store.put(pub.report_key(sid, "html"), b"<html>report</html>")
        pub.start(store, sid, e.model_copy(update={"submission_id": sid}), PublicationPolicy(), clock.t,
                  result_key=None, threshold=5)
        sids.append(sid)
    seen_states = set()
    for _ in range(200):
        action = rnd.choice(["accept", "withdraw", "wait", "wait"])
        sid = rnd.choice(sids)
        if action == "wait":
            clock.t += timedelta(hours=rnd.choice([1, 9, 30, 24 * 7]))
        else:
            r = client.post(f"/v1/submissions/{sid}/{action}", headers=ACME)
            assert r.status_code in (200, 409), r.text
        public = listed(client)           # the read moves records on to now first
        published = {s for s in sids if pub.read(store, s).state == "published"}
        assert public == published
        probe = rnd.choice(sids)
        assert (client.get(f"/v1/reports/{probe}").status_code == 200) == (probe in published)
        seen_states |= {pub.read(store, s).state for s in sids}
    assert seen_states == {"in_review", "scheduled", "published", "withdrawn"}


def test_a_failed_re_render_stores_nothing_and_says_so(env, monkeypatch):
    client, store, clock = env
    sid = ready_report(store, clock)
    before = store.get(pub.report_key(sid, "html"))

    def broken(*_a, **_k):
        raise RuntimeError("renderer down")

    monkeypatch.setattr(pub, "rerender", broken)
    r = client.post(f"/v1/submissions/{sid}/response", headers=ACME, json={"text": "Our response."})
    assert r.status_code == 500 and r.json()["error"]["code"] == "render_failed"
    assert "was not stored" in r.json()["error"]["message"] and "renderer down" not in r.text
    assert pub.read(store, sid).response is None
    assert store.get(pub.report_key(sid, "html")) == before


def test_publication_variables_are_known_to_every_service_in_production():
    from jdl_infra.settings import unknown_variables
    from services.linkage.settings import LinkageSettings
    from services.reporting.settings import ReportingSettings

    env = {"JDL_PUBLICATION_REVIEW_WORKING_DAYS": "5", "JDL_PUBLICATION_CADENCE_MONTHS": "3",
           "JDL_PUBLICATION_REVEIW_DAYS": "5"}          # the last one misspelt
    for cls in (ReportingSettings, LinkageSettings, IntakeSettings):
        assert unknown_variables(cls(), env) == ["JDL_PUBLICATION_REVEIW_DAYS"]
