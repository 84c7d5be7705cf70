"""The linkage stage applies the maximum gap between intervention and index event from its
settings (JDL_LINKAGE_MAX_GAP_DAYS): people whose intervention started 120 days before their
sentence count as "no eligible index event" at 90 days, and are linked with no limit."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from jdl_core.cohort import validate_cohort
from jdl_core.linkage import load_linkage_model
from jdl_core.synth.cohort import sample_cohort
from jdl_events.events import SubmissionReceived
from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key
from jdl_infra.objectstore import MemoryStore
from jdl_infra.ports import put_frame_encrypted
from services.linkage.handlers import LinkagePorts, handle_submission_received
from services.linkage.settings import LinkageSettings

SID = "sub-" + "0" * 19 + "1"


@pytest.fixture(scope="module")
def early_rows(national) -> tuple[pd.DataFrame, int]:
    """80 custody rows (exact PNC IDs), 20 of them starting 120 days before reception."""
    load_linkage_model(national)
    upload, truth = sample_cohort(national, 80, "custody", "random", seed=12, realism="clean")
    rows = validate_cohort(upload, setting="custody", min_size=1, today=dt.date(2012, 6, 30)).rows
    ev = national.events.set_index("event_id")
    reception = ev.loc[truth["event_id"].astype("int64"), "start_date"].to_numpy()
    early = rows.index[:20]
    rows.loc[early, "intervention_start"] = reception[:20] - pd.Timedelta(days=120)
    return rows, len(early)


def _run(national, rows: pd.DataFrame, max_gap: int | None) -> dict[str, int]:
    store = MemoryStore()
    keyring = KeyRing(store, MasterKey.from_base64(generate_master_key()))
    keyring.create_data_key(SID)
    put_frame_encrypted(store, keyring, SID, f"submissions/{SID}/cohort.parquet.enc", rows)
    event = SubmissionReceived(submission_id=SID, org_id="acme", setting="custody",
                               rows_submitted=len(rows), rows_valid=len(rows), rows_rejected=0,
                               cohort_key=f"submissions/{SID}/cohort.parquet.enc",
                               programme_key=f"submissions/{SID}/programme.json")
    ports = LinkagePorts(store=store, keyring=keyring, national=lambda: national,
                         max_gap_days=max_gap)
    (linked,) = handle_submission_received(event, ports)
    return linked.attrition


def test_linkage_stage_applies_the_maximum_gap_setting(national, early_rows):
    rows, n_early = early_rows
    assert LinkageSettings().max_gap_days == 90
    default = _run(national, rows, LinkageSettings().max_gap_days)
    assert default["no_index_event"] >= n_early
    off = _run(national, rows, None)
    assert default["no_index_event"] - off["no_index_event"] == n_early
