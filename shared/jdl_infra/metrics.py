"""Prometheus metric names, defined once. Base units, `_total` counters, no personal or
per-submission labels (labels are stage names, reason codes and topic names only)."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DAY = 86400.0
# Turnaround buckets include 14 days exactly (the MoJ's two-week service level).
TURNAROUND_BUCKETS = (60, 300, 900, 3600, 6 * 3600, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 21 * DAY, 28 * DAY)
STAGE_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 900)
PURGE_LAG_BUCKETS = (0.5, 1, 5, 15, 60, 300, 900, 3600, 6 * 3600, DAY, 7 * DAY, 30 * DAY)

STAGES = ("intake", "linkage", "matching", "reporting", "purge")

SUBMISSIONS_RECEIVED = Counter("jdl_submissions_received_total", "Submissions accepted at intake")
SUBMISSIONS_REFUSED = Counter("jdl_submissions_refused_total", "Uploads refused at intake", ["reason"])
SUBMISSIONS_COMPLETED = Counter("jdl_submissions_completed_total", "Submissions whose report is ready")
SUBMISSIONS_FAILED = Counter("jdl_submissions_failed_total", "Submissions that failed", ["stage", "reason"])
ROWS_REJECTED = Counter("jdl_rows_rejected_total", "Submitted rows rejected at intake", ["reason"])
STAGE_DURATION = Histogram("jdl_stage_duration_seconds", "Time a stage spent on one submission",
                           ["stage"], buckets=STAGE_BUCKETS)
TURNAROUND = Histogram("jdl_turnaround_seconds", "Submission received to report ready",
                       buckets=TURNAROUND_BUCKETS)
OPEN_REQUESTS = Gauge("jdl_open_requests", "Open submissions by current stage", ["stage"])
OLDEST_OPEN_AGE = Gauge("jdl_oldest_open_request_age_seconds", "Age of the oldest open submission")
DEAD_LETTERED = Counter("jdl_dead_lettered_messages_total", "Messages sent to a dead-letter topic", ["topic"])
PURGE_LAG = Histogram("jdl_purge_lag_seconds", "Purge due to purge done", buckets=PURGE_LAG_BUCKETS)
PURGES = Counter("jdl_purges_total", "Purges by result", ["result"])
PURGES_OVERDUE = Gauge("jdl_purges_overdue", "Submissions past their purge deadline and not purged")
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
UPLOADS_UNAVAILABLE = Counter("jdl_uploads_unavailable_total",
                              "Uploads answered 503 because the broker did not take the event")
RECONCILE_ACTION_KINDS = ("purge_terminal", "redrive", "fail_stalled", "purge_orphan", "status_repair")
