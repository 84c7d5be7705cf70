"""Linkage stage: submission.received -> locate people, pick index events -> cohort.linked."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from jdl_events.events import CohortLinked, Event, SubmissionReceived
from jdl_events.keys import cohort_profile_key, linked_key
from jdl_events.vocab import StageName
from jdl_infra.objectstore import ObjectStore
from jdl_infra.ports import NationalLoader, get_frame_encrypted, put_frame_encrypted
from jdl_pipeline.stage import event_id_for

STAGE: StageName = "linkage"


@dataclass
class LinkagePorts:
    store: ObjectStore
    keyring: Any
    national: NationalLoader
    threshold: float = 0.95
    max_gap_days: int | None = 90


def handle_submission_received(event: Event, ports: LinkagePorts) -> Sequence[Event]:
    from jdl_core.analysis import cohort_profile_frame
    from jdl_core.index_events import select_index_events
    from jdl_core.linkage import link_cohort

    assert isinstance(event, SubmissionReceived)
    sid = event.submission_id
    rows = get_frame_encrypted(ports.store, ports.keyring, sid, event.cohort_key)
    national = ports.national()
    linkage = link_cohort(rows, national, threshold=ports.threshold)
    selection = select_index_events(linkage.links, rows, national, event.setting,
                                    max_gap_days=ports.max_gap_days)
    linked = selection.events[["row_number", "person_key", "event_id"]].reset_index(drop=True)
    put_frame_encrypted(ports.store, ports.keyring, sid, linked_key(sid), linked)
    # sex, age at the start and index event of each valid row (encrypted, purged with the rest):
    # the matching stage profiles from it the people who were not analysed
    put_frame_encrypted(ports.store, ports.keyring, sid, cohort_profile_key(sid),
                        cohort_profile_frame(rows, selection.events))

    attrition: dict[str, int] = {"submitted": event.rows_submitted}
    for reason, n in event.rejected_by_reason.items():
        bucket = "duplicate" if reason == "duplicate" else "invalid_row"
        attrition[bucket] = attrition.get(bucket, 0) + int(n)
    # selection.attrition counts every accepted row not in `linked` once: not_found, ambiguous
    # (from the linkage statuses), duplicate people, no index event, follow-up outside coverage
    for reason, n in selection.attrition.items():
        attrition[reason] = attrition.get(reason, 0) + int(n)
    return [CohortLinked(event_id=event_id_for(sid, STAGE, "cohort.linked"), submission_id=sid,
                         linked_key=linked_key(sid), n_linked=len(linked), attrition=attrition)]
