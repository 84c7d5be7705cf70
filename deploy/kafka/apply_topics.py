"""Create or reconcile the Kafka topics declared in deploy/kafka/topics.yaml (idempotent).

    python deploy/kafka/apply_topics.py --file deploy/kafka/topics.yaml \
        [--bootstrap HOST:PORT] [--replication-factor N] [--dry-run] [--wait SECONDS]

Missing topics are created with their partitions, replication factor and config; existing ones
get any differing config set (incrementally, nothing else touched). A partition count or a
replication factor that differs is reported (drift, exit status 1) and not changed: adding partitions re-maps submission ids to partitions,
which breaks the co-partitioning the faust status table relies on. Exit status 0 when the
cluster matches the file, 1 when something could not be made to match, 2 on bad arguments.
Runs in the service image (compose topic-init, the Kubernetes Job jdl-topics).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"   # same default as InfraSettings.kafka_bootstrap


@dataclass(frozen=True)
class TopicPlan:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    reconfigured: dict[str, dict[str, str]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class PlanError(ValueError):
    """topics.yaml is missing or malformed."""


def load_plan(path: Path, replication_factor: int | None = None) -> list[TopicPlan]:
    """Topics from the YAML file; ``replication_factor`` overrides the file's (single broker: 1)."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise PlanError(f"--file {path}: cannot read ({e.strerror})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("topics"), list):
        raise PlanError(f"--file {path}: expected a mapping with a 'topics' list")
    rf = int(replication_factor if replication_factor is not None else doc["replication_factor"])
    if rf < 1:
        raise PlanError(f"--replication-factor {rf}: must be at least 1")
    # min.insync.replicas above the replication factor would refuse every acks=all write.
    min_isr = min(int(doc.get("min_insync_replicas", 1)), rf)
    plans = []
    for entry in doc["topics"]:
        config = {str(k): str(v) for k, v in (entry.get("config") or {}).items()}
        config["min.insync.replicas"] = str(min_isr)
        plans.append(TopicPlan(entry["name"], int(entry["partitions"]), rf, config))
    names = [p.name for p in plans]
    if len(set(names)) != len(names):
        raise PlanError(f"--file {path}: a topic name appears twice")
    return plans


def replication_of(topic: dict[str, Any]) -> int:
    """The replication factor of a described topic: its smallest replica set (kafka-python
    names the list ``replica_nodes``; older versions ``replicas``)."""
    return min(len(p.get("replica_nodes", p.get("replicas", []))) for p in topic["partitions"])


def _current_configs(admin: Any, names: list[str]) -> dict[str, dict[str, str]]:
    from kafka.admin import ConfigResource, ConfigResourceType

    result = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, n) for n in names], config_filter="all")
    # {resource type: {topic: {key: {"value": ...}}}}; the type key's case varies by version
    by_name = next((v for k, v in result.items() if str(k).lower() == "topic"), {})
    return {name: {k: v.get("value") for k, v in by_name.get(name, {}).items()} for name in names}


def apply(admin: Any, plans: list[TopicPlan], *, dry_run: bool = False,
          check_configs: bool = True) -> ApplyReport:
    """Make the cluster match ``plans`` as far as is safe; report what was done and what not."""
    from kafka.admin import ConfigResource, ConfigResourceType

    report = ApplyReport()
    existing = {t["name"]: t for t in admin.describe_topics() if not t.get("error_code")}
    missing = [p for p in plans if p.name not in existing]
    if missing and not dry_run:
        admin.create_topics(
            {p.name: {"num_partitions": p.partitions, "replication_factor": p.replication_factor,
                      "configs": p.config} for p in missing},
            wait_for_metadata=True)
    report.created = [p.name for p in missing]

    present = [p for p in plans if p.name in existing]
    for p in present:
        have = len(existing[p.name]["partitions"])
        if have != p.partitions:
            report.problems.append(
                f"{p.name}: has {have} partitions, topics.yaml says {p.partitions}; not changed "
                "(repartitioning moves submissions between partitions: migrate deliberately)")
        replicas = replication_of(existing[p.name])
        if replicas != p.replication_factor:
            # typically a topic faust created before this Job ran: its min.insync.replicas
            # from topics.yaml could then exceed its replicas and refuse every acks=all write
            report.problems.append(
                f"{p.name}: has replication factor {replicas}, topics.yaml (or "
                f"--replication-factor) says {p.replication_factor}; not changed (raise it with "
                "kafka-reassign-partitions.sh, or delete and recreate the topic while nothing runs)")
    if check_configs and present:
        current = _current_configs(admin, [p.name for p in present])
        changes: list[Any] = []
        for p in present:
            diff = {k: v for k, v in p.config.items() if current[p.name].get(k) != v}
            if diff:
                report.reconfigured[p.name] = diff
                changes.append(ConfigResource(ConfigResourceType.TOPIC, p.name, configs=diff))
            else:
                report.unchanged.append(p.name)
        if changes and not dry_run:
            # the broker validates the keys (and the result says so); the client-side check
            # would only know keys the broker already reports for the topic
            result = admin.alter_configs(changes, incremental=True, raise_on_unknown=False)
            outcome = next((v for k, v in result.items() if str(k).lower() == "topic"), {})
            for name in report.reconfigured:
                if outcome.get(name) != "OK":
                    report.problems.append(f"{name}: setting config failed ({outcome.get(name)})")
    else:
        report.unchanged = [p.name for p in present]
    return report


def security_from_env() -> dict[str, Any]:
    """kafka-python security arguments from the services' own variables
    (JDL_KAFKA_SECURITY_PROTOCOL, JDL_KAFKA_SASL_*, JDL_KAFKA_SSL_CAFILE)."""
    from pydantic import ValidationError

    from jdl_infra.kafka_io import client_security
    from jdl_infra.settings import InfraSettings

    try:
        return client_security(InfraSettings())
    except ValidationError as e:
        raise SystemExit("error: " + "; ".join(str(x["msg"]) for x in e.errors())) from None


def connect(bootstrap: str, wait_seconds: float) -> Any:
    """An admin client, retrying while the broker is still starting (compose, k8s Job)."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    security = security_from_env()
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="jdl-apply-topics",
                                    request_timeout_ms=30000, **security)
        except KafkaError as e:
            if time.monotonic() >= deadline:
                raise SystemExit(f"error: no Kafka broker at {bootstrap} after "
                                 f"{wait_seconds:.0f} s ({e.__class__.__name__})") from None
            time.sleep(2.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=Path(__file__).with_name("topics.yaml"))
    parser.add_argument("--bootstrap", default=os.environ.get("JDL_KAFKA_BOOTSTRAP", DEFAULT_BOOTSTRAP),
                        help="HOST:PORT[,HOST:PORT]; default $JDL_KAFKA_BOOTSTRAP")
    parser.add_argument("--replication-factor", type=int, default=None,
                        help="override the file's replication factor (1 for a single broker)")
    parser.add_argument("--dry-run", action="store_true", help="report, change nothing")
    parser.add_argument("--no-config-check", action="store_true",
                        help="skip comparing topic configs (brokers without DescribeConfigs)")
    parser.add_argument("--wait", type=float, default=120.0, metavar="SECONDS",
                        help="how long to retry reaching the broker")
    args = parser.parse_args(argv)
    try:
        plans = load_plan(args.file, args.replication_factor)
    except PlanError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    admin = connect(args.bootstrap, args.wait)
    try:
        report = apply(admin, plans, dry_run=args.dry_run, check_configs=not args.no_config_check)
    finally:
        admin.close()
    verb = "would create" if args.dry_run else "created"
    for name in report.created:
        print(f"{verb} {name}")
    for name, diff in report.reconfigured.items():
        settings = ", ".join(f"{k}={v}" for k, v in sorted(diff.items()))
        print(f"{'would set' if args.dry_run else 'set'} {name}: {settings}")
    print(f"{len(report.unchanged)} topics already as declared")
    for problem in report.problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
