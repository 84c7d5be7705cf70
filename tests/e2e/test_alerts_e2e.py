"""The alert rules against the live embedded runtime: a real Prometheus (the Debian package),
started by this test, scrapes every /metrics endpoint with deploy/prometheus/rules loaded while a
refused upload, a dead-lettered message and a failed cohort happen. The alerts those events call
for fire, and no other does (in particular no overdue purge for the refused upload)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from jdl_cli.tansu import free_port
from jdl_events import topics
from tests.unit.test_api import cohort_csv

from .conftest import PROGRAMME, client, wait_state

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
RECORD = os.environ.get("JDL_RECORD_SCRAPES")   # directory: keep the scrapes (test fixtures)


def job_of(proc_name: str) -> str:
    return "jdl-intake-api" if proc_name == "api" else "jdl-" + proc_name.split("-")[0]


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    text = httpx.get(url, timeout=10).text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def sample(scraped, name: str, **labels: str) -> float | None:
    return scraped.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def prometheus(rt, tmp_path):
    """A Prometheus scraping every process of the runtime each second, rules evaluated each second."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("the prometheus binary is not installed (Debian package prometheus; make sysdeps)")
    targets: dict[str, list[str]] = {}
    for p in rt.procs:
        targets.setdefault(job_of(p.name), []).append(p.health_url.split("/")[2])
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "rule_files": [str(r) for r in RULES],
              "scrape_configs": [{"job_name": job, "static_configs": [{"targets": hosts}]}
                                 for job, hosts in sorted(targets.items())]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:   # ready, and every target scraped successfully at least once
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            try:
                active = httpx.get(f"{url}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
                if active and all(t["health"] == "up" for t in active):
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            assert time.monotonic() < deadline, "Prometheus did not scrape every target in 60 s"
            time.sleep(0.5)
        yield url, targets
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def active_alerts(url: str) -> list[dict]:
    return httpx.get(f"{url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]


def test_alerts_fire_for_what_happened_and_nothing_else(rt, prometheus, tmp_path):
    url, targets = prometheus
    assert set(targets) == {"jdl-intake-api", "jdl-intake", "jdl-linkage", "jdl-matching",
                            "jdl-reporting", "jdl-purge"}
    # 1. a refused upload (29 rows: too few)
    small, _ = cohort_csv(n=29)
    with client(rt) as c:
        r = c.post("/v1/submissions", files={"file": ("small.csv", small)},
                   data={"programme": json.dumps(PROGRAMME)})
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_few_rows", r.text
    refused_sid = r.json()["submission_id"]
    # 2. a message that does not validate, on the topic the matching stage consumes
    producer = KafkaProducer(bootstrap_servers=rt.bootstrap)
    producer.send(topics.COHORT_LINKED, key=b"k", value=b"\x00not an event")
    producer.flush()
    producer.close()
    # 3. a cohort that fails: valid rows, but nobody in it is in the national dataset
    unknown, _ = cohort_csv(n=80)
    with client(rt) as c:
        r = c.post("/v1/submissions", files={"file": ("unknown.csv", unknown)},
                   data={"programme": json.dumps(PROGRAMME)})
    assert r.status_code == 202, r.text
    failed, _ = wait_state(rt, r.json()["submission_id"],
                           lambda s: s["state"] == "failed" and s.get("purged"), timeout=120)
    wait_state(rt, refused_sid, lambda s: s.get("purge_outcome") is not None, timeout=60)
    failed_stage = failed["error"]["stage"]

    # the intake worker publishes its gauges every 5 s: past its purge grace (2 s here) the
    # refused upload would be counted as overdue if its certificate did not end its purge
    time.sleep(8)
    deadline = time.monotonic() + 60
    while not any(a["labels"]["alertname"] == "JdlDeadLetters" and a["state"] == "firing"
                  for a in active_alerts(url)):
        assert time.monotonic() < deadline, f"JdlDeadLetters never fired: {active_alerts(url)}"
        time.sleep(1)
    time.sleep(3)   # a few more evaluations for anything that should not fire to show up

    # what each endpoint says now (kept as fixtures when JDL_RECORD_SCRAPES is set)
    scraped = {}
    for p in rt.procs:
        metrics_url = p.health_url.replace("/healthz", "/metrics")
        scraped[p.name] = scrape(metrics_url)
        if RECORD:
            Path(RECORD).mkdir(parents=True, exist_ok=True)
            (Path(RECORD) / f"{p.name}.prom").write_text(httpx.get(metrics_url).text)
    api, intake, purge = scraped["api"], scraped["intake"], scraped["purge"]
    assert sample(api, "jdl_submissions_refused_total", reason="too_few_rows") >= 1
    assert sample(api, "http_requests_total", handler="/v1/submissions", method="POST", status="4xx") >= 1
    assert sample(api, "http_requests_total", handler="/v1/submissions", method="POST", status="2xx") >= 1
    assert sample(scraped["matching"], "jdl_dead_lettered_messages_total", topic=topics.COHORT_LINKED) >= 1
    failing = [n for n in scraped if job_of(n) == f"jdl-{failed_stage}"]
    assert sum(sample(scraped[n], "jdl_stage_failures_total", stage=failed_stage) or 0 for n in failing) >= 1
    assert sample(purge, "jdl_purges_total", result="unknown_submission") >= 1   # the refusal's certificate
    assert sample(purge, "jdl_retention_sweep_last_run_timestamp_seconds") > 0   # ran at start
    assert sample(intake, "jdl_purges_overdue") == 0
    for name, s in scraped.items():   # the queue gauges come from the intake worker alone
        assert (sample(s, "jdl_purges_overdue") is None) == (name != "intake"), name

    alerts = active_alerts(url)
    firing = {(a["labels"]["alertname"], a["labels"].get("topic")) for a in alerts if a["state"] == "firing"}
    assert ("JdlDeadLetters", topics.COHORT_LINKED) in firing

    def counted(name: str, **labels: str) -> bool:
        return any((sample(s, name, **labels) or 0) > 0 for s in scraped.values())

    # Nothing else, pending or firing, unless a counter in the scrapes shows it happened in this
    # runtime (other tests of the session may kill brokers or workers before this one runs).
    justified = {
        "JdlDeadLetters": lambda a: counted("jdl_dead_lettered_messages_total", topic=a["labels"]["topic"]),
        "JdlSubmissionsStalled": lambda a: counted("jdl_reconcile_actions_total", action="fail_stalled"),
        "JdlStageSendsFailing": lambda a: counted("jdl_stage_send_failures_total", stage=a["labels"]["stage"]),
    }
    for a in alerts:
        name = a["labels"]["alertname"]
        assert name in justified and justified[name](a), f"false alert: {a}"
    assert not any(a["labels"]["alertname"] == "JdlPurgeOverdue" for a in alerts)
