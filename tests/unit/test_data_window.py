"""The whole window from one source: the dataset's manifest sets the intake window, the
analysable window and the period a result records; a 2010 cohort is analysed on dataset 1.1; an
intervention whose follow-up the data cannot cover is refused at upload with the reason."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from jdl_core import schema
from jdl_core.analysis import analyse_index_events
from jdl_core.errors import DataError
from jdl_core.matching import MatchSpec
from jdl_core.national import DataWindow, data_window
from jdl_core.result import ProgrammeInfo
from jdl_core.synth.cohort import sample_cohort
from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key
from jdl_infra.objectstore import MemoryStore
from jdl_infra.settings import InfraSettings
from services.intake.api import create_api
from services.intake.handlers import IntakePorts
from services.intake.settings import IntakeSettings
from services.intake.window import intake_window
from tests.unit.test_api import TOKENS, cohort_csv, post


def test_the_generated_dataset_covers_2010_follow_up():
    w = DataWindow.default()
    assert w.followup_end == date(2012, 6, 30)
    # 2010-12-31 + 365 + 182 days = 2012-06-30: every 2002-2010 index event is followed up
    assert w.last_analysable == date(2010, 12, 31) == w.intake_end
    assert not w.followup_limited and w.note() == ""


def test_window_comes_from_the_manifest(national_dir):
    w = data_window(national_dir)
    m = json.loads((national_dir / schema.MANIFEST_FILE).read_text())
    assert w.to_dict()["followup_end"] == m["coverage"]["followup_end"] == "2012-06-30"
    assert w.intake_end == date(2010, 12, 31)


def _old_dataset(tmp: Path, followup_end: str = "2011-06-30") -> Path:
    """A dataset directory whose manifest follows outcomes up only to ``followup_end``."""
    tmp.mkdir(parents=True, exist_ok=True)
    for name in (schema.PEOPLE_FILE, schema.ALIASES_FILE, schema.EVENTS_FILE,
                 schema.RISK_MODEL_FILE):
        (tmp / name).write_bytes(b"")
    manifest = {"dataset_version": schema.DATASET_VERSION,
                "coverage": {"start": "2002-01-01", "end": "2010-12-31",
                             "followup_end": followup_end, "followup_days": 365,
                             "proving_days": 182}}
    (tmp / schema.MANIFEST_FILE).write_text(json.dumps(manifest))
    return tmp


def test_follow_up_that_ends_early_shortens_the_intake_window_with_a_reason(tmp_path):
    w = data_window(_old_dataset(tmp_path / "data"))
    assert w.last_analysable == date(2009, 12, 30) == w.intake_end
    assert w.followup_limited and "2011-06-30" in w.note() and "2009-12-30" in w.note()
    with pytest.raises(DataError, match="coverage"):
        DataWindow.from_manifest({"dataset_version": schema.DATASET_VERSION})


def _api(data_dir: Path, **kw) -> TestClient:
    settings = IntakeSettings(tokens=SecretStr(json.dumps(TOKENS)),
                              infra=InfraSettings(data_dir=data_dir), **kw)
    keyring = KeyRing(MemoryStore(), MasterKey.from_base64(generate_master_key()))
    return TestClient(create_api(settings, IntakePorts(MemoryStore(), keyring, lambda e: None)))


def _csv_starting(year: int, n: int = 70) -> bytes:
    data, _ = cohort_csv(n)
    return data.replace(b"/05/2006", f"/05/{year}".encode())


def test_upload_refuses_interventions_the_data_cannot_follow_up(tmp_path):
    client = _api(_old_dataset(tmp_path / "data"))
    r = post(client, _csv_starting(2010))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"]["code"] == "too_few_rows"
    reasons = {x["message"] for x in body["rejected_rows"]}
    assert {x["reason_code"] for x in body["rejected_rows"]} == {"outside_coverage"}
    assert len(body["rejected_rows"]) == 70
    (reason,) = reasons
    assert "2002-01-01 to 2009-12-30" in reason and "follows outcomes up to 2011-06-30" in reason
    assert post(client, _csv_starting(2009)).status_code == 202
    shown = client.get("/v1/window").json()
    assert shown["end"] == "2009-12-30" and shown["source"] == "manifest" and shown["note"]


def test_upload_accepts_2010_on_a_dataset_followed_up_to_2012(national_dir):
    client = _api(national_dir)
    assert post(client, _csv_starting(2010)).status_code == 202
    assert post(client, _csv_starting(2011)).status_code == 422
    # the settings may narrow the window, never widen it
    narrowed = _api(national_dir, coverage_end="2009-12-31")
    assert post(narrowed, _csv_starting(2010)).status_code == 422
    assert intake_window(IntakeSettings(infra=InfraSettings(data_dir=national_dir),
                                        coverage_end="2011-12-31")).end == date(2010, 12, 31)
    with pytest.raises(ValueError, match="coverage_end"):
        IntakeSettings(coverage_end="31/12/2010")        # refused at start-up, not per upload


def test_a_2010_cohort_is_analysed_and_the_period_recorded(national):
    # the review's case: 150 custody releases in 2010 were 150 -> 0 analysed on dataset 1.0
    # (their true index events: linkage is tested elsewhere and is the slow part)
    _, truth = sample_cohort(national, 150, "custody", "random", seed=4, realism="clean",
                             years=(2010, 2010))
    ev = national.events
    treated = ev[ev["event_id"].isin(truth["event_id"])]
    assert len(treated) == 150 and (treated["index_year"] == 2010).all()
    info = ProgrammeInfo(organisation="Org", programme="P", setting="custody")
    result = analyse_index_events(treated, national, MatchSpec(bootstrap_reps=0), programme=info)
    assert result.n_treated >= 120
    assert result.window["analysed_from"] >= "2010-01-01"
    assert result.window["analysed_to"] <= "2010-12-31"
    assert result.window["followup_end"] == "2012-06-30"
    assert result.window["intake_end"] == "2010-12-31"
    assert result.measure("rate").estimable
