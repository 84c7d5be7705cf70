"""Prometheus metric names, defined once. Base units, `_total` counters, no personal or
per-submission labels (labels are stage names, reason codes and topic names only).

Two rules keep the alerts honest (deploy/prometheus/rules, tested by deploy/prometheus/tests):

* Every labelled child an alert or a panel reads is created at 0 when the process starts
  (``prepare_stage``, ``prepare_purge``, ``prepare_intake_worker``).
  prometheus_client creates a child at its first increment, so without this a series first
  appears at 1 and ``increase()`` reads 0: the first dead letter or failure after a start would
  never alert.
* The queue gauges describe the whole status store, which only the intake worker reads. They
  are registered by that process alone (``prepare_intake_worker``); if every process exported
  them at 0, a stopped intake worker would look like an empty queue.
"""
from __future__ import annotations

from typing import Iterable

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

from jdl_events import vocab

HOUR = 3600.0
DAY = 86400.0
# Turnaround: reports take seconds when all is well and up to 14 days (the MoJ's two-week service
# level, which the 14-day bucket, 1.2096e+06, measures exactly). 10 days is the warning line.
TURNAROUND_BUCKETS = (1, 2.5, 5, 10, 30, 60, 300, 900, 1800, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR,
                      DAY, 2 * DAY, 3 * DAY, 5 * DAY, 7 * DAY, 10 * DAY, 14 * DAY)
# Stage times: the purge takes tens of milliseconds, matching at scale tens of seconds.
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 900)
PURGE_LAG_BUCKETS = (0.5, 1, 5, 15, 60, 300, 900, 3600, 6 * 3600, DAY, 7 * DAY, 30 * DAY)

# Label values (jdl_events.vocab): stages, the states of open submissions (the queue gauges).
STAGES, OPEN_STATES = vocab.STAGES, vocab.OPEN_STATES
# Reason codes the stage runner itself produces (jdl_pipeline.stage); handlers add their own.
RUNNER_REASONS = ("internal_error", "transient_error", "missing_object")
PURGE_RESULTS = vocab.PURGE_OUTCOMES

SUBMISSIONS_RECEIVED = Counter("jdl_submissions_received_total", "Submissions accepted at intake")
SUBMISSIONS_REFUSED = Counter("jdl_submissions_refused_total", "Uploads refused at intake", ["reason"])
SUBMISSIONS_COMPLETED = Counter("jdl_submissions_completed_total", "Submissions whose report is ready")
SUBMISSIONS_FAILED = Counter("jdl_submissions_failed_total", "Submissions that failed", ["stage", "reason"])
# The same failures without the reason: one child per stage, created at start, so the failure
# alerts see the first failure (a reason code's child cannot be created before it happens).
STAGE_FAILURES = Counter("jdl_stage_failures_total", "Submissions a stage failed", ["stage"])
ROWS_REJECTED = Counter("jdl_rows_rejected_total", "Submitted rows rejected at intake", ["reason"])
STAGE_DURATION = Histogram("jdl_stage_duration_seconds", "Time a stage spent on one submission",
                           ["stage"], buckets=STAGE_BUCKETS)
TURNAROUND = Histogram("jdl_turnaround_seconds", "Submission received to report ready",
                       buckets=TURNAROUND_BUCKETS)
DEAD_LETTERED = Counter("jdl_dead_lettered_messages_total", "Messages sent to a dead-letter topic", ["topic"])
PURGE_LAG = Histogram("jdl_purge_lag_seconds", "Purge due to purge done", buckets=PURGE_LAG_BUCKETS)
PURGES = Counter("jdl_purges_total", "Purges by result", ["result"])
RETENTION_SWEEP_LAST_RUN = Gauge("jdl_retention_sweep_last_run_timestamp_seconds",
                                 "Unix time the retention sweep last finished")
RETENTION_SWEEP_INTERVAL = Gauge("jdl_retention_sweep_interval_seconds",
                                 "Configured interval of the retention sweep")
AUDIT_UNREADABLE = Gauge("jdl_audit_unreadable_entries",
                         "Audit log entries the purge service could not read (skipped; run jdl audit verify)")

# Delivery and reconciliation (issue 14): the store is the system of record, so anything the broker
# lost is found again by the reconciler; these count what it had to do.
STAGE_RESENDS = Counter("jdl_stage_resends_total",
                        "Replayed inputs answered by re-sending the events a stage marker recorded",
                        ["stage"])
STAGE_SEND_FAILURES = Counter("jdl_stage_send_failures_total",
                              "Stage outputs the broker did not acknowledge (left to the reconciler)",
                              ["stage"])
RECONCILE_ACTIONS = Counter("jdl_reconcile_actions_total", "Reconciler actions by kind",
                            ["action"])   # purge_terminal, redrive, fail_stalled, purge_orphan, status_repair
RECONCILE_RUNS = Counter("jdl_reconcile_runs_total", "Reconciler passes by result", ["result"])
RECONCILE_DURATION = Histogram("jdl_reconcile_duration_seconds", "Time of one reconciler pass",
                               buckets=STAGE_BUCKETS)
RECONCILE_LAST_SUCCESS = Gauge("jdl_reconcile_last_success_timestamp_seconds",
                               "Unix time of the last reconciler pass that completed")
RECONCILE_INTERVAL = Gauge("jdl_reconcile_interval_seconds",
                           "Configured interval of the reconciler (JdlReconcilerLate compares with it)")
UPLOADS_UNAVAILABLE = Counter("jdl_uploads_unavailable_total",
                              "Uploads answered 503 because the broker did not take the event")
RECONCILE_ACTION_KINDS = ("purge_terminal", "redrive", "fail_stalled", "purge_orphan", "status_repair")

# --- queue gauges: registered by the intake worker only (prepare_intake_worker) ---------------
OPEN_REQUESTS = Gauge("jdl_open_requests", "Open submissions by current stage", ["stage"],
                      registry=None)
OLDEST_OPEN_AGE = Gauge("jdl_oldest_open_request_age_seconds", "Age of the oldest open submission",
                        registry=None)
STAGE_OLDEST_AGE = Gauge("jdl_stage_oldest_age_seconds",
                         "Longest time an open submission has spent in its current stage", ["stage"],
                         registry=None)
STAGE_AGE_WARNING = Gauge("jdl_stage_age_warning_seconds",
                          "Time in one stage after which JdlStageSlow warns (a setting)",
                          registry=None)
PURGES_OVERDUE = Gauge("jdl_purges_overdue", "Submissions past their purge deadline and not purged",
                       registry=None)
QUEUE_GAUGES = (OPEN_REQUESTS, OLDEST_OPEN_AGE, STAGE_OLDEST_AGE, STAGE_AGE_WARNING, PURGES_OVERDUE)


def prepare_stage(stage: str, topics: Iterable[str]) -> None:
    """Create at 0 the children a stage's alerts and panels read: its duration, its failures
    (with and without the runner's reason codes) and the dead letters of each topic it consumes."""
    STAGE_DURATION.labels(stage)
    STAGE_FAILURES.labels(stage)
    for reason in RUNNER_REASONS:
        SUBMISSIONS_FAILED.labels(stage, reason)
    for topic in topics:
        DEAD_LETTERED.labels(topic)


def count_failure(stage: str, reason: str) -> None:
    """One failed submission: by stage and reason code, and by stage alone (for the alerts)."""
    SUBMISSIONS_FAILED.labels(stage, reason).inc()
    STAGE_FAILURES.labels(stage).inc()


def prepare_purge(sweep_interval_seconds: float) -> None:
    for result in PURGE_RESULTS:
        PURGES.labels(result)
    RETENTION_SWEEP_INTERVAL.set(sweep_interval_seconds)


_queue_gauges_registered = False


def register_queue_gauges() -> None:
    """Export the queue gauges from this process (the intake worker); idempotent."""
    global _queue_gauges_registered
    if not _queue_gauges_registered:
        for gauge in QUEUE_GAUGES:
            REGISTRY.register(gauge)
        _queue_gauges_registered = True


def prepare_intake_worker(stage_age_warning_seconds: float, dead_letter_topics: Iterable[str]) -> None:
    """Register the queue gauges (this process alone computes them) with every stage at 0."""
    register_queue_gauges()
    for state in OPEN_STATES:
        OPEN_REQUESTS.labels(state)
        STAGE_OLDEST_AGE.labels(state)
    STAGE_AGE_WARNING.set(stage_age_warning_seconds)
    for topic in dead_letter_topics:
        DEAD_LETTERED.labels(topic)

