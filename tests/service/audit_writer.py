"""A purge process for test_audit_writers: purges the submissions named on the command line
(and appends notes). It prints "ready" once connected, then waits for the GO_FILE to exist, so
two processes start appending at the same moment.

Usage: python -m tests.service.audit_writer STORE_URL GO_FILE NOTES SID [SID...]
(STORE_URL file:///path, or s3://bucket with JDL_S3_ENDPOINT set; JDL_S3_CONDITIONAL_WRITES=lease
with AUDIT_WRITER_LEASE_SETTLE=seconds for the lease fallback).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from jdl_infra.audit import AuditLog
from jdl_infra.crypto import KeyRing
from jdl_infra.objectstore import open_store
from jdl_infra.settings import InfraSettings
from services.purge.handlers import purge_submission


def main(argv: list[str]) -> None:
    store_url, go, notes, sids = argv[0], Path(argv[1]), int(argv[2]), argv[3:]
    store = open_store(InfraSettings(store_url=store_url, s3_access_key="test",
                                     s3_secret_key="test"))
    if os.environ.get("AUDIT_WRITER_LEASE_SETTLE"):     # lease mode, quicker than production
        store.lease_settle_seconds = float(os.environ["AUDIT_WRITER_LEASE_SETTLE"])  # type: ignore[attr-defined]
    log = AuditLog(store)
    log.head()                          # warm up (imports, connections) before the start line
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    for i in range(max(notes, len(sids))):
        if i < len(sids):
            purge_submission(store, KeyRing(store, None), log, sids[i], "manual")
        if i < notes:
            log.append("note", {"writer": argv[3] if sids else "none", "i": i})
        time.sleep(0.005)    # a moment between requests, as a real service has: lets the two
        #                      writers overlap for the whole run instead of one finishing first


if __name__ == "__main__":
    main(sys.argv[1:])
