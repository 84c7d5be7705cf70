"""Shared end-to-end fixtures: one embedded runtime (tansu broker, five services, API, moto S3)
per test session, and a sample cohort drawn from its national dataset."""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from jdl_cli.runtime import EmbeddedRuntime
from jdl_infra.objectstore import S3Store

PEOPLE = 30_000
RECONCILE_INTERVAL = 10.0
STALL_SECONDS = 60.0
PROGRAMME = {"organisation": "Second Chances Trust", "name": "Mentoring", "targets": "Adults leaving custody",
             "delivers": "Weekly mentoring and help with housing", "selection": "Referred by prison staff",
             "setting": "custody", "contact_email": "eval@example.org"}


@pytest.fixture(scope="session")
def rt(tmp_path_factory, s3_server):
    bucket = f"e2e-{uuid.uuid4().hex[:8]}"
    fault_dir = tmp_path_factory.mktemp("faults")   # crash tests arm kill points here
    runtime = EmbeddedRuntime(var_dir=tmp_path_factory.mktemp("e2e") / "var", people=PEOPLE, seed=5,
                              store_url=f"s3://{bucket}", s3_endpoint=s3_server.endpoint,
                              linkage_workers=2, quiet=True, reconcile_interval_seconds=RECONCILE_INTERVAL,
                              extra_env={"JDL_S3_ACCESS_KEY": "test", "JDL_S3_SECRET_KEY": "test",
                                         # short enough for the broker-loss test, long enough
                                         # that a busy stage on 2 cores is not re-driven
                                         "JDL_PURGE_STALL_SECONDS": str(STALL_SECONDS),
                                         "JDL_PURGE_TERMINAL_GRACE_SECONDS": "5",
                                         "JDL_FAULT_DIR": str(fault_dir),
                                         # overdue-purge gauge after 2 s, not 1 h: the alert
                                         # test (test_alerts_e2e) can see a purge left pending
                                         "JDL_INTAKE_PURGE_GRACE_SECONDS": "2"})
    with runtime:
        runtime.store = S3Store(s3_server.endpoint, bucket, "test", "test")
        runtime.fault_dir = fault_dir
        runtime.start_supervisor()
        yield runtime


@pytest.fixture(scope="session")
def cohort(rt, tmp_path_factory):
    from jdl_core.national import load_national
    from jdl_core.synth.cohort import sample_cohort, write_cohort

    national = load_national(rt.data_dir)
    upload, truth = sample_cohort(national, size=250, setting="custody", selection="higher-risk", seed=21)
    path = tmp_path_factory.mktemp("cohort") / "cohort.csv"
    write_cohort(upload, path)
    return path, upload


def client(rt, org="demo-org") -> httpx.Client:
    return httpx.Client(base_url=rt.api_url, timeout=60, headers={"Authorization": f"Bearer {rt.tokens[org]}"})


def post(rt, path: Path) -> dict:
    with client(rt) as c, path.open("rb") as f:
        r = c.post("/v1/submissions", files={"file": (path.name, f)}, data={"programme": json.dumps(PROGRAMME)})
    assert r.status_code == 202, r.text
    return r.json()


def wait_state(rt, sid: str, pred, timeout: float = 240) -> tuple[dict, list[str]]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    with client(rt) as c:
        while time.monotonic() < deadline:
            st = c.get(f"/v1/submissions/{sid}").json()
            if not seen or seen[-1] != st["state"]:
                seen.append(st["state"])
            if pred(st):
                return st, seen
            time.sleep(0.3)
    raise AssertionError(f"{sid} timed out in states {seen}")


def personal_values_of(upload) -> set[str]:
    """Each submitted value as written and in the canonical forms code could store it in."""
    import pandas as pd

    from jdl_core.identifiers import canonical_pnc

    vals: set[str] = set()
    for col in ("forename", "surname", "date_of_birth", "pnc_id", "prison_number"):
        for v in upload[col].dropna().astype(str):
            forms = {v, v.upper()}
            if col == "date_of_birth":
                d = pd.to_datetime(v, format="%d/%m/%Y", errors="coerce")
                if not pd.isna(d):
                    forms |= {d.strftime("%Y-%m-%d"), d.strftime("%d/%m/%Y")}
            if col == "pnc_id":
                try:
                    forms.add(canonical_pnc(v))
                except Exception:  # noqa: BLE001 - a deliberately bad PNC ID stays as written
                    pass
            # short names also occur in ordinary words and JSON keys
            vals |= {f for f in forms if len(f) >= 6}
    return vals
