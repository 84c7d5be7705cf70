"""Intake's own validation-error shape: a cohort sent the wrong way (text field, urlencoded, JSON)
is never echoed, and no submitted value, column headings included, appears in any response,
warning, status record or log line."""
from __future__ import annotations

import csv
import io
import json
import logging

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key
from jdl_infra.objectstore import MemoryStore
from services.intake.api import create_api
from services.intake.handlers import IntakePorts
from services.intake.settings import IntakeSettings
from tests.unit.test_api import PROGRAMME, TOKENS, cohort_csv

AUTH = {"Authorization": "Bearer t-acme"}
NAME = "Aldith Trevithick"


@pytest.fixture
def client():
    store = MemoryStore()
    settings = IntakeSettings(tokens=SecretStr(json.dumps(TOKENS)))
    keyring = KeyRing(store, MasterKey.from_base64(generate_master_key()))
    return TestClient(create_api(settings, IntakePorts(store, keyring, lambda e: None))), store


def _secrets(people) -> list[str]:
    return [x for fn, sn, dob in people for x in (sn, dob)]


def _logged(caplog) -> str:
    """Every log record with its extra fields (what the JSON log formatter would write)."""
    return "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)


def _assert_nothing_echoed(text: str, secrets: list[str]) -> None:
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"echoed: {leaked[:3]}"


@pytest.mark.parametrize("how", ["text_field", "urlencoded", "json", "no_token"])
def test_a_cohort_sent_the_wrong_way_is_not_echoed(client, how, caplog):
    api, store = client
    data, people = cohort_csv(30)
    text = data.decode()
    caplog.set_level(logging.DEBUG)
    if how == "text_field":
        r = api.post("/v1/submissions", headers=AUTH,
                     files={"programme": (None, json.dumps(PROGRAMME)), "file": (None, text)})
    elif how == "urlencoded":
        r = api.post("/v1/submissions", headers=AUTH,
                     data={"file": text, "programme": json.dumps(PROGRAMME)})
    elif how == "json":
        r = api.post("/v1/submissions", headers=AUTH, json={"file": text, "programme": PROGRAMME})
    else:
        r = api.post("/v1/submissions", data={"file": text, "programme": "x"})
    assert r.status_code in (401, 422), r.text
    _assert_nothing_echoed(r.text, _secrets(people))
    _assert_nothing_echoed(_logged(caplog), _secrets(people))
    if r.status_code == 422:
        err = r.json()["error"]
        assert err["code"] == "invalid_request" and "detail" not in r.json()
        fields = {f["field"]: f["problem"] for f in err["fields"]}
        assert "file" in fields
        if how != "json":
            assert "multipart/form-data" in fields["file"]
    assert store.list() == []          # nothing stored for it


def test_a_missing_field_is_named_in_intake_shape(client):
    api, _ = client
    data, _people = cohort_csv(5)
    r = api.post("/v1/submissions", headers=AUTH, files={"file": ("c.csv", data)})
    assert r.status_code == 422
    assert r.json()["error"]["fields"] == [
        {"location": "body", "field": "programme", "problem": "is required"}]


def _with_extra_column(data: bytes, heading: str, value: str) -> bytes:
    rows = list(csv.reader(io.StringIO(data.decode())))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(rows[0] + [heading])
    for r in rows[1:]:
        w.writerow(r + [value])
    return buf.getvalue().encode()


def test_a_heading_that_is_a_persons_name_is_never_echoed(client, caplog):
    """A dropped column headed with a person's name: accepted, with a warning naming the column
    by position only; the name is in no response, status record or log line."""
    api, store = client
    data, people = cohort_csv(80)
    caplog.set_level(logging.DEBUG)
    r = api.post("/v1/submissions", headers=AUTH, data={"programme": json.dumps(PROGRAMME)},
                 files={"file": ("c.csv", _with_extra_column(data, NAME, "yes"))})
    assert r.status_code == 202, r.text
    (warning,) = [w for w in r.json()["warnings"] if w["code"] == "dropped_columns"]
    assert warning["message"].endswith("column 8 (H)")
    sid = r.json()["submission_id"]
    st = api.get(f"/v1/submissions/{sid}", headers=AUTH)
    for text in (r.text, st.text, _logged(caplog), *(store.get(k).decode("latin-1")
                                                  for k in store.list("status/"))):
        _assert_nothing_echoed(text, [NAME, "Trevithick", *_secrets(people)])


def test_a_refused_sensitive_column_is_named_by_position(client, caplog):
    api, store = client
    data, people = cohort_csv(80)
    caplog.set_level(logging.DEBUG)
    r = api.post("/v1/submissions", headers=AUTH, data={"programme": json.dumps(PROGRAMME)},
                 files={"file": ("c.csv", _with_extra_column(data, f"{NAME} health notes", "x"))})
    assert r.status_code == 422 and r.json()["error"]["code"] == "sensitive_columns"
    assert "column 8 (H)" in r.json()["error"]["message"]
    for text in (r.text, _logged(caplog), *(store.get(k).decode() for k in store.list("status/"))):
        _assert_nothing_echoed(text, [NAME, "Trevithick", *_secrets(people)])
