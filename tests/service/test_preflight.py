"""Worker start-up checks against a real Kafka-protocol broker (tansu, one broker): a replication
factor above the broker count is refused naming the variable, and a worker waits for the declared
topics (faust's own included) instead of letting faust create them unbounded."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from jdl_infra.preflight import StartupError, check_replication, internal_topics, preflight, wait_for_topics
from jdl_infra.settings import InfraSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def admin(broker):
    from kafka.admin import KafkaAdminClient

    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    yield client
    client.close()


def test_replication_above_the_broker_count_is_refused(broker, admin):
    ok = InfraSettings(kafka_bootstrap=broker.bootstrap, kafka_replication_factor=1)
    assert check_replication(ok, admin) == 1
    three = InfraSettings(kafka_bootstrap=broker.bootstrap, kafka_replication_factor=3)
    with pytest.raises(StartupError, match=r"JDL_KAFKA_REPLICATION_FACTOR=3 is above the number of brokers \(1\)"):
        check_replication(three, admin)


def test_waits_for_declared_topics_and_names_the_missing_ones(broker, admin):
    from kafka.admin import NewTopic

    app_id = f"jdl-t{uuid.uuid4().hex[:8]}"
    names = internal_topics(app_id, ["status"])
    assert names == [f"{app_id}-__assignor-__leader", f"{app_id}-status-changelog"]
    with pytest.raises(StartupError, match=f"topics {names[0]}, {names[1]} do not exist after 1 s"):
        wait_for_topics(admin, names, timeout=1, poll=0.2)
    # the topic job creates them while the worker waits: the wait ends
    def create_later() -> None:
        time.sleep(1.0)
        admin.create_topics([NewTopic(n, 1, 1) for n in names])
    creator = threading.Thread(target=create_later)
    creator.start()
    started = time.monotonic()
    wait_for_topics(admin, names, timeout=30, poll=0.2)
    creator.join()
    assert 0.9 < time.monotonic() - started < 30


def test_development_without_a_wait_checks_nothing():
    # no broker at this address: development (the embedded runtime creates its topics) skips it
    preflight(InfraSettings(kafka_bootstrap="127.0.0.1:1", environment="development"), "jdl-x")


def test_a_production_worker_refuses_to_start_naming_the_variable(broker, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JDL_")}
    env.update(JDL_ENVIRONMENT="production", JDL_KAFKA_BOOTSTRAP=broker.bootstrap,
               JDL_KAFKA_REPLICATION_FACTOR="3", JDL_STORE_URL=f"file://{tmp_path}")
    proc = subprocess.run([sys.executable, "-m", "services.reporting", "worker"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "error: JDL_KAFKA_REPLICATION_FACTOR=3 is above the number of brokers (1)" in proc.stderr
