"""The intake API with an in-memory store and a captured event sink (no broker): tokens, refusals,
status, no personal data echoed. The real-broker path is covered by tests/e2e."""
from __future__ import annotations

import csv
import io
import json
import random

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from jdl_core.identifiers import format_pnc
from jdl_events import events as ev
from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key
from jdl_infra.objectstore import MemoryStore
from services.intake import status
from services.intake.api import create_api
from services.intake.handlers import IntakePorts
from services.intake.settings import IntakeSettings

TOKENS = {"t-acme": "acme", "t-other": "other-org", "t-ops": "ops"}
PROGRAMME = {"organisation": "Acme Trust", "name": "Mentoring", "targets": "Adults leaving prison",
             "delivers": "Weekly mentoring", "selection": "Referred by staff", "setting": "custody",
             "contact_email": "eval@example.org"}
FORENAMES = ["Aldous", "Bartholomew", "Cressida", "Dorothea", "Ebenezer", "Florizel"]
SURNAMES = ["Quenby", "Ravenscroft", "Sallowby", "Thistlewood", "Umfreville", "Vavasour"]


def cohort_csv(n=80, bad_rows=()) -> tuple[bytes, list[tuple[str, str, str]]]:
    rnd = random.Random(3)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["forename", "surname", "date_of_birth", "sex", "pnc_id", "intervention_start", "setting"])
    people = []
    for i in range(n):
        fn, sn = rnd.choice(FORENAMES), rnd.choice(SURNAMES)
        dob = f"{1 + i % 28:02d}/{1 + (i // 28) % 12:02d}/{1960 + i % 30}"   # unique per row
        row = [fn, sn, dob, rnd.choice("MF"), format_pnc(rnd.randint(1990, 2005), rnd.randint(1, 999999)),
               f"{rnd.randint(1, 28):02d}/05/2006", "custody"]
        if i in bad_rows:
            row[2] = "31/02/19xx"
        w.writerow(row)
        people.append((fn, sn, dob))
    return buf.getvalue().encode(), people


@pytest.fixture
def api():
    store, sent = MemoryStore(), []
    settings = IntakeSettings(tokens=SecretStr(json.dumps(TOKENS)))
    keyring = KeyRing(store, MasterKey.from_base64(generate_master_key()))
    client = TestClient(create_api(settings, IntakePorts(store, keyring, sent.append)))
    return client, store, sent


def post(client, data, token="t-acme", name="cohort.csv", programme=PROGRAMME):
    return client.post("/v1/submissions", headers={"Authorization": f"Bearer {token}"},
                       files={"file": (name, data)}, data={"programme": json.dumps(programme)})


def test_accepted_submission_is_encrypted_stored_and_announced(api):
    client, store, sent = api
    data, people = cohort_csv(80, bad_rows=(4, 9))
    r = post(client, data)
    assert r.status_code == 202, r.text
    body = r.json()
    sid = body["submission_id"]
    assert body["counts"] == {"rows_submitted": 80, "rows_valid": 78, "rows_rejected": 2}
    assert sorted(x["row"] for x in body["rejected_rows"]) == [6, 11]   # header is row 1
    (event,) = sent
    assert isinstance(event, ev.SubmissionReceived) and event.submission_id == sid
    assert event.rows_valid == 78 and event.org_id == "acme"
    blob = store.get(event.cohort_key)
    for fn, sn, dob in people:
        assert sn.encode() not in blob                       # encrypted at rest
        assert sn not in r.text and dob not in r.text        # never echoed
    st = client.get(f"/v1/submissions/{sid}", headers={"Authorization": "Bearer t-acme"}).json()
    assert st["state"] == "received" and st["org_id"] == "acme"


def test_other_organisation_cannot_see_a_submission_but_ops_can(api):
    client, *_ = api
    sid = post(client, cohort_csv()[0]).json()["submission_id"]
    assert client.get(f"/v1/submissions/{sid}", headers={"Authorization": "Bearer t-other"}).status_code == 404
    assert client.get(f"/v1/submissions/{sid}/report", headers={"Authorization": "Bearer t-other"}).status_code == 404
    assert client.get(f"/v1/submissions/{sid}", headers={"Authorization": "Bearer t-ops"}).status_code == 200
    assert client.get(f"/v1/submissions/{sid}").status_code == 401
    assert client.get(f"/v1/submissions/{sid}", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_queue_is_for_operations_only(api):
    client, *_ = api
    post(client, cohort_csv()[0])
    assert client.get("/v1/queue", headers={"Authorization": "Bearer t-acme"}).status_code == 403
    q = client.get("/v1/queue", headers={"Authorization": "Bearer t-ops"}).json()
    assert q["open"] == 1 and q["by_stage"]["received"] == 1


def test_report_before_ready_is_409(api):
    client, *_ = api
    sid = post(client, cohort_csv()[0]).json()["submission_id"]
    r = client.get(f"/v1/submissions/{sid}/report", headers={"Authorization": "Bearer t-acme"})
    assert r.status_code == 409


@pytest.mark.parametrize("name,data,code,http", [
    ("cohort.pdf", b"%PDF-1.4\n%binary", "unsupported_format", 415),
    ("cohort.csv", b"", "empty_file", 422),
    ("cohort.csv", b"forename,surname\nA,B\n", "missing_columns", 422),
    ("cohort.csv", b"\x89PNG\r\n\x1a\n\x00\x00", "unsupported_format", 415),
])
def test_bad_files_are_refused_and_nothing_is_stored(api, name, data, code, http):
    client, store, sent = api
    r = post(client, data, name=name)
    assert r.status_code == http, r.text
    assert r.json()["error"]["code"] == code
    assert store.list("submissions/") == [] and store.list("keys/") == []
    assert [type(e) for e in sent] == [ev.PurgeRequested]    # refusal is certified by purge
    rec = status.read_status(store, r.json()["submission_id"])
    assert rec["state"] == "refused"


def test_too_few_valid_rows_lists_rejections_without_values(api):
    client, store, _ = api
    data, people = cohort_csv(62, bad_rows=(1, 2, 3, 4, 5))
    r = post(client, data)
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_few_rows"
    assert len(r.json()["rejected_rows"]) == 5
    assert "19xx" not in r.text and store.list("submissions/") == []


def test_oversized_upload_is_413(api):
    client, store, _ = api
    client.app.state  # app built
    big = b"forename,surname\n" + b"x" * (21 * 1024 * 1024)
    r = post(client, big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "file_too_large"
    assert store.list("submissions/") == []


def test_formula_injection_rows_are_rejected(api):
    client, *_ = api
    data, _ = cohort_csv(80)
    lines = data.decode().splitlines()
    parts = lines[3].split(",")
    parts[0] = "=cmd|' /C calc'!A0"
    lines[3] = ",".join(parts)
    r = post(client, "\n".join(lines).encode())
    assert r.status_code == 202
    rej = r.json()["rejected_rows"]
    assert any(x["row"] == 4 and x["reason_code"] == "formula_injection" for x in rej)
    assert "cmd" not in r.text


def test_not_testable_programme_is_refused_with_explanation(api):
    client, *_ = api
    prog = dict(PROGRAMME, targets="Men convicted of sexual offences")
    r = post(client, cohort_csv()[0], programme=prog)
    assert r.status_code == 422 and r.json()["error"]["code"] == "programme_not_testable"


def test_invalid_programme_json(api):
    client, *_ = api
    r = client.post("/v1/submissions", headers={"Authorization": "Bearer t-acme"},
                    files={"file": ("c.csv", cohort_csv()[0])}, data={"programme": "{not json"})
    assert r.status_code == 422


def test_openapi_is_published_and_health(api):
    client, *_ = api
    assert "/v1/submissions" in client.get("/openapi.json").json()["paths"]
    assert client.get("/healthz").json() == {"status": "ok"}
    assert b"jdl_submissions_received_total" in client.get("/metrics").content


def test_upload_the_broker_does_not_take_is_answered_503_quickly_and_nothing_is_kept():
    """All or nothing: the event is sent before 202; a send that fails (or hangs) gives 503 in
    under 2 s, deletes the stored cohort, programme and data key, and records a refusal for the
    purge to certify."""
    import time as _time


    store, calls = MemoryStore(), []

    def hanging(event):
        calls.append(event)
        if isinstance(event, ev.SubmissionReceived):
            _time.sleep(3)   # a broker that never answers

    settings = IntakeSettings(tokens=SecretStr(json.dumps(TOKENS)))
    keyring = KeyRing(store, MasterKey.from_base64(generate_master_key()))
    # one portal (event loop) for the whole test, as a server has: a per-request TestClient loop
    # would wait for the hanging send's thread when it closes
    # reachable (connections accepted) but never acknowledging: the send's time limit applies
    ready = {"broker": True}
    with TestClient(create_api(settings, IntakePorts(
            store, keyring, hanging, broker_ready=lambda: ready["broker"]))) as client:
        _check_503(client, store, calls, ready)


def _check_503(client, store, calls, ready):
    import time as _time

    from jdl_infra.crypto import key_object

    data, people = cohort_csv()
    t = _time.perf_counter()
    r = post(client, data)
    assert _time.perf_counter() - t < 2.0
    assert r.status_code == 503 and r.headers["retry-after"] == "30"
    body = r.json()
    assert body["error"]["code"] == "service_unavailable" and "try again" in body["error"]["message"]
    sid = body["submission_id"]
    assert store.list(f"submissions/{sid}/") == [] and not store.exists(key_object(sid))
    assert store.list(f"stages/{sid}/") == []
    rec = status.read_status(store, sid)
    assert rec["state"] == "refused" and rec["error"]["reason_code"] == "service_unavailable"
    # no purge request (it would wait on the same broker): the reconciler certifies the refusal
    assert [type(e) for e in calls] == [ev.SubmissionReceived]
    # a broker refusing connections: 503 at once, before anything is stored or sent
    ready["broker"] = False
    n_keys = len(store.list(""))
    t = _time.perf_counter()
    r = post(client, data)
    assert r.status_code == 503 and _time.perf_counter() - t < 1.0
    assert "submission_id" not in r.json() and len(store.list("")) == n_keys and len(calls) == 1
    # readiness says why; liveness does not depend on the broker
    rz = client.get("/readyz")
    assert rz.status_code == 503 and rz.json()["broker"] == "unreachable"
    assert client.get("/healthz").status_code == 200


def test_accepted_upload_records_its_event_for_the_reconciler(api):
    client, store, sent = api
    data, _ = cohort_csv()
    sid = post(client, data).json()["submission_id"]
    marker = json.loads(store.get(f"stages/{sid}/intake.json"))
    assert [e["event_id"] for e in marker["sent"]] == [str(sent[0].event_id)]
    assert client.get("/readyz").json() == {"status": "ready", "broker": "reachable", "store": "reachable"}


def test_an_upload_waiting_on_the_store_does_not_hold_up_other_requests():
    """The upload's blocking work (store round trips, the broker's acknowledgement) runs in a
    thread: while the store holds its first write, the same server still answers others."""
    import threading

    from services.intake.handlers import IntakePorts

    release, writing = threading.Event(), threading.Event()

    class SlowStore(MemoryStore):
        def put(self, key, data):
            if key.startswith("submissions/"):
                writing.set()
                assert release.wait(20), "the store was never released"
            super().put(key, data)

    store, sent = SlowStore(), []
    settings = IntakeSettings(tokens=SecretStr(json.dumps(TOKENS)))
    keyring = KeyRing(store, MasterKey.from_base64(generate_master_key()))
    with TestClient(create_api(settings, IntakePorts(store, keyring, sent.append))) as client:
        answers: list = []
        upload = threading.Thread(target=lambda: answers.append(post(client, cohort_csv()[0])))
        upload.start()
        assert writing.wait(20)                       # the upload is inside the store's put
        assert client.get("/healthz").status_code == 200
        assert client.get("/v1/queue", headers={"Authorization": "Bearer t-ops"}).status_code == 200
        assert not answers                            # ... and still waiting on it
        release.set()
        upload.join(20)
    assert answers[0].status_code == 202 and len(sent) == 1
