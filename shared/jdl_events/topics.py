"""Topic names, partition counts and retention, defined once for code, tests and deploy/."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int = 7 * 24 * 3600 * 1000   # events hold ids and counts only; a week is plenty
    cleanup_policy: str = "delete"
    dead_letter: bool = True                     # has a <name>.dlq topic


SUBMISSION_RECEIVED: Final = "jdl.submission.received"
COHORT_LINKED: Final = "jdl.cohort.linked"
CONTROL_MATCHED: Final = "jdl.control.matched"
REPORT_READY: Final = "jdl.report.ready"
SUBMISSION_FAILED: Final = "jdl.submission.failed"
PURGE_REQUESTED: Final = "jdl.purge.requested"
DATA_PURGED: Final = "jdl.data.purged"

DLQ_SUFFIX: Final = ".dlq"

# Every event topic has the same partition count and every event is keyed by submission id, so
# all topics are co-partitioned: the status table (a faust Table fed by all of them) needs that.
# The linkage stage scales out by partitions of submission.received (the ceiling on workers).
PARTITIONS: Final = 4

TOPICS: Final[tuple[TopicSpec, ...]] = (
    TopicSpec(SUBMISSION_RECEIVED, partitions=PARTITIONS),
    TopicSpec(COHORT_LINKED, partitions=PARTITIONS),
    TopicSpec(CONTROL_MATCHED, partitions=PARTITIONS),
    TopicSpec(REPORT_READY, partitions=PARTITIONS),
    TopicSpec(SUBMISSION_FAILED, partitions=PARTITIONS),
    TopicSpec(PURGE_REQUESTED, partitions=PARTITIONS),
    TopicSpec(DATA_PURGED, partitions=PARTITIONS),
)


def dlq(topic: str) -> str:
    return topic + DLQ_SUFFIX


def all_topic_specs() -> list[TopicSpec]:
    """Every topic the system needs, dead-letter topics included (one partition, 14 days)."""
    specs = list(TOPICS)
    specs += [TopicSpec(dlq(t.name), 1, retention_ms=14 * 24 * 3600 * 1000, dead_letter=False)
              for t in TOPICS if t.dead_letter]
    return specs


def spec(name: str) -> TopicSpec:
    for t in all_topic_specs():
        if t.name == name:
            return t
    raise KeyError(name)
