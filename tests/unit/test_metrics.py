"""What each process exports on /metrics: the children the alerts read exist at 0 from start-up,
the queue gauges come from the intake worker alone, and the API exports HTTP metrics.

Each service is built in its own Python process (as it runs), because prometheus_client's
default registry is per process."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from jdl_events import topics
from jdl_infra import metrics

ROOT = Path(__file__).resolve().parents[2]

BUILD = """
import importlib, sys
from prometheus_client import generate_latest
service = sys.argv[1]
settings_mod = importlib.import_module(f"services.{service}.settings")
cls = [c for n, c in vars(settings_mod).items() if n.endswith("Settings") and c.__module__ == settings_mod.__name__][0]
if service == "intake-api":
    from services.intake.api import create_api
    from services.intake.settings import IntakeSettings
    from services.intake.handlers import IntakePorts
    from jdl_infra.objectstore import MemoryStore
    create_api(IntakeSettings(), IntakePorts(MemoryStore(), None, lambda e: None))
else:
    importlib.import_module(f"services.{service}.app").create_app(cls())
sys.stdout.write(generate_latest().decode())
"""


def scrape_of(service: str, tmp_path: Path) -> dict[tuple[str, tuple], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JDL_")}
    env.update(JDL_STORE_URL=f"file://{tmp_path}/store", JDL_DATA_DIR=str(tmp_path / "data"),
               JDL_MASTER_KEY=base64.b64encode(os.urandom(32)).decode())
    module = "intake" if service == "intake-api" else service
    proc = subprocess.run([sys.executable, "-c", BUILD.replace('f"services.{service}.settings"',
                                                                f'"services.{module}.settings"'),
                           service], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = {}
    for family in text_string_to_metric_families(proc.stdout):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(scrape, name: str, **labels: str) -> float | None:
    return scrape.get((name, tuple(sorted(labels.items()))))


def names(scrape) -> set[str]:
    return {n for n, _ in scrape}


QUEUE = {"jdl_open_requests", "jdl_oldest_open_request_age_seconds", "jdl_stage_oldest_age_seconds",
         "jdl_stage_age_warning_seconds", "jdl_purges_overdue"}


@pytest.mark.parametrize("service,stage,consumed", [
    ("linkage", "linkage", [topics.SUBMISSION_RECEIVED]),
    ("matching", "matching", [topics.COHORT_LINKED]),
    ("reporting", "reporting", [topics.CONTROL_MATCHED]),
    ("purge", "purge", [topics.REPORT_READY, topics.SUBMISSION_FAILED, topics.PURGE_REQUESTED]),
])
def test_stage_workers_create_the_children_alerts_read_at_start(service, stage, consumed, tmp_path):
    scrape = scrape_of(service, tmp_path)
    assert value(scrape, "jdl_stage_failures_total", stage=stage) == 0
    assert value(scrape, "jdl_submissions_failed_total", stage=stage, reason="internal_error") == 0
    assert value(scrape, "jdl_stage_duration_seconds_count", stage=stage) == 0
    for topic in consumed:
        assert value(scrape, "jdl_dead_lettered_messages_total", topic=topic) == 0, topic
    # the queue gauges are the intake worker's: a zero here would hide its absence
    assert not (QUEUE & names(scrape)), QUEUE & names(scrape)
    if service == "purge":
        for result in metrics.PURGE_RESULTS:
            assert value(scrape, "jdl_purges_total", result=result) == 0
        assert value(scrape, "jdl_retention_sweep_interval_seconds") == 3600.0
        assert value(scrape, "jdl_retention_sweep_last_run_timestamp_seconds") == 0


def test_intake_worker_alone_exports_the_queue_gauges(tmp_path):
    scrape = scrape_of("intake", tmp_path)
    assert QUEUE <= names(scrape)
    for state in metrics.OPEN_STATES:
        assert value(scrape, "jdl_open_requests", stage=state) == 0
        assert value(scrape, "jdl_stage_oldest_age_seconds", stage=state) == 0
    assert value(scrape, "jdl_stage_age_warning_seconds") == 3600.0
    assert value(scrape, "jdl_dead_lettered_messages_total", topic=topics.DATA_PURGED) == 0
    api = scrape_of("intake-api", tmp_path)
    assert not (QUEUE & names(api))


def test_a_failure_counts_by_reason_and_by_stage():
    before = REGISTRY.get_sample_value("jdl_stage_failures_total", {"stage": "reporting"}) or 0
    metrics.count_failure("reporting", "no_template")
    assert REGISTRY.get_sample_value("jdl_stage_failures_total", {"stage": "reporting"}) == before + 1
    assert REGISTRY.get_sample_value("jdl_submissions_failed_total",
                                     {"stage": "reporting", "reason": "no_template"}) >= 1


def test_time_in_stage_is_per_stage_and_since_the_last_move():
    from services.intake.app import update_gauges
    from services.intake.status import iso, new_record

    now = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)

    def rec(sid: str, state: str, received_h: float, moved_h: float) -> dict:
        r = new_record(sid, "acme", now - timedelta(hours=received_h), state=state)
        r["updated_at"] = iso(now - timedelta(hours=moved_h))
        return r

    records = [rec("a", "linkage", 3, 2), rec("b", "linkage", 0.1, 0.1), rec("c", "matching", 5, 0.5)]
    update_gauges(records, now, retention_days=30)
    age = lambda s: REGISTRY.get_sample_value("jdl_stage_oldest_age_seconds", {"stage": s})  # noqa: E731
    assert age("linkage") == pytest.approx(7200)     # since it entered linkage, not since receipt
    assert age("matching") == pytest.approx(1800)
    assert age("reporting") == 0 and age("received") == 0
    assert REGISTRY.get_sample_value("jdl_oldest_open_request_age_seconds") == pytest.approx(5 * 3600)


def test_api_exports_http_request_metrics_by_route_and_status_class():
    from jdl_infra.objectstore import MemoryStore
    from services.intake.api import create_api
    from services.intake.handlers import IntakePorts
    from services.intake.settings import IntakeSettings

    class BrokenStore(MemoryStore):
        def get(self, key: str) -> bytes:
            raise RuntimeError("store unreachable")

    settings = IntakeSettings(tokens=SecretStr(json.dumps({"t-ops": "ops"})))
    client = TestClient(create_api(settings, IntakePorts(BrokenStore(), None, lambda e: None)),
                        raise_server_exceptions=False)
    headers = {"Authorization": "Bearer t-ops"}
    sid = "sub-" + "0" * 20
    assert client.get("/v1/submissions/x", headers={}).status_code == 401
    assert client.get(f"/v1/submissions/{sid}", headers=headers).status_code == 500
    scraped = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(client.get("/metrics").text) for s in f.samples}
    route = (("handler", "/v1/submissions/{sid}"), ("method", "GET"))
    assert scraped[("http_requests_total", route + (("status", "4xx"),))] == 1
    assert scraped[("http_requests_total", route + (("status", "5xx"),))] == 1
    names = {n for n, _ in scraped}
    assert "http_request_duration_seconds_bucket" in names
    assert "jdl_submissions_received_total" in names      # the shared registry is served too
    # the scrape itself and health checks are not counted
    assert not any(dict(labels).get("handler") in ("/metrics", "/healthz") for _, labels in scraped)
