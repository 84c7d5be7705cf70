"""deploy/kafka/apply_topics.py against a real Kafka-protocol broker: creates every topic of
deploy/kafka/topics.yaml with its partitions and config, is idempotent, repairs config drift and
refuses to repartition."""
from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOPICS_YAML = ROOT / "deploy" / "kafka" / "topics.yaml"
sys.path.insert(0, str(ROOT / "deploy" / "kafka"))
import apply_topics  # noqa: E402


@pytest.fixture
def private_plan(tmp_path: Path) -> tuple[Path, dict]:
    """topics.yaml with every name prefixed, so the test owns its topics on a shared broker."""
    doc = yaml.safe_load(TOPICS_YAML.read_text())
    prefix = f"t{uuid.uuid4().hex[:8]}."
    for t in doc["topics"]:
        t["name"] = prefix + t["name"]
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path, doc


@pytest.fixture
def admin(broker):
    from kafka.admin import KafkaAdminClient

    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    yield client
    client.close()


def topic_config(admin, name: str) -> dict[str, str]:
    from kafka.admin import ConfigResource, ConfigResourceType

    result = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)], config_filter="all")
    by_name = next(v for k, v in result.items() if str(k).lower() == "topic")
    return {k: v["value"] for k, v in by_name[name].items()}


def run(path: Path, broker, *extra: str) -> int:
    return apply_topics.main(["--file", str(path), "--bootstrap", broker.bootstrap,
                              "--replication-factor", "1", "--wait", "20", *extra])


def test_creates_every_topic_then_changes_nothing(broker, admin, private_plan, capsys):
    path, doc = private_plan
    assert run(path, broker) == 0
    out = capsys.readouterr().out
    assert out.count("created ") == len(doc["topics"])
    described = {t["name"]: t for t in admin.describe_topics([t["name"] for t in doc["topics"]])}
    for entry in doc["topics"]:
        assert len(described[entry["name"]]["partitions"]) == entry["partitions"]
        config = topic_config(admin, entry["name"])
        for key, value in entry["config"].items():
            assert config[key] == value, f"{entry['name']}: {key}"
        assert config["min.insync.replicas"] == "1"    # clamped to the replication factor
    # a second run is a no-op
    assert run(path, broker) == 0
    out = capsys.readouterr().out
    assert "created" not in out and "set " not in out
    assert f"{len(doc['topics'])} topics already as declared" in out


def test_dry_run_changes_nothing(broker, admin, private_plan, capsys):
    path, doc = private_plan
    assert run(path, broker, "--dry-run") == 0
    assert capsys.readouterr().out.count("would create ") == len(doc["topics"])
    existing = set(admin.list_topics())
    assert not {t["name"] for t in doc["topics"]} & existing


def test_config_drift_is_set_back(broker, admin, private_plan, capsys):
    from kafka.admin import ConfigResource, ConfigResourceType

    path, doc = private_plan
    assert run(path, broker) == 0
    changelog = next(t for t in doc["topics"] if t["kind"] == "changelog")
    # someone raises the retention by hand: records would outlive the purge's promise
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, changelog["name"],
                                        configs={"retention.ms": str(400 * 86400 * 1000)})],
                        incremental=True)
    assert topic_config(admin, changelog["name"])["retention.ms"] == str(400 * 86400 * 1000)
    capsys.readouterr()
    assert run(path, broker) == 0
    assert f"set {changelog['name']}: retention.ms={changelog['config']['retention.ms']}" in capsys.readouterr().out
    assert topic_config(admin, changelog["name"])["retention.ms"] == changelog["config"]["retention.ms"]


def test_a_topic_with_other_partitions_is_reported_not_changed(broker, admin, private_plan, capsys):
    path, doc = private_plan
    victim = doc["topics"][0]
    admin.create_topics({victim["name"]: {"num_partitions": victim["partitions"] + 2,
                                          "replication_factor": 1}}, wait_for_metadata=True)
    assert run(path, broker) == 1
    err = capsys.readouterr().err
    assert f"{victim['name']}: has {victim['partitions'] + 2} partitions, topics.yaml says {victim['partitions']}" in err
    [described] = admin.describe_topics([victim["name"]])
    assert len(described["partitions"]) == victim["partitions"] + 2


def test_a_topic_with_another_replication_factor_is_reported_as_drift(broker, admin, private_plan, capsys):
    """The race of the audit: faust created its changelog with one replica before the Job ran
    with three; the Job must say so (min.insync.replicas 2 on one replica refuses every write)."""
    path, doc = private_plan
    assert run(path, broker) == 0          # everything exists with one replica
    capsys.readouterr()
    assert run(path, broker, "--replication-factor", "3", "--dry-run") == 1
    err = capsys.readouterr().err
    changelog = next(t for t in doc["topics"] if t["kind"] == "changelog")
    assert f"{changelog['name']}: has replication factor 1, topics.yaml (or --replication-factor) says 3" in err
    assert err.count("has replication factor 1") == len(doc["topics"])
    assert run(path, broker) == 0           # and no drift at the factor the topics have


def test_bad_file_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    assert apply_topics.main(["--file", str(missing), "--bootstrap", "127.0.0.1:1"]) == 2
    assert f"--file {missing}: cannot read" in capsys.readouterr().err


def test_topic_job_takes_the_services_kafka_security_settings(monkeypatch):
    monkeypatch.setenv("JDL_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(SystemExit, match="JDL_KAFKA_SASL_USERNAME"):
        apply_topics.security_from_env()
    monkeypatch.setenv("JDL_KAFKA_SASL_USERNAME", "jdl")
    monkeypatch.setenv("JDL_KAFKA_SASL_PASSWORD", "pw-123")
    monkeypatch.setenv("JDL_KAFKA_SASL_MECHANISM", "PLAIN")
    kw = apply_topics.security_from_env()
    assert kw["security_protocol"] == "SASL_SSL" and kw["sasl_mechanism"] == "PLAIN"
    assert kw["sasl_plain_username"] == "jdl" and kw["sasl_plain_password"] == "pw-123"
    monkeypatch.setenv("JDL_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    assert apply_topics.security_from_env() == {}
