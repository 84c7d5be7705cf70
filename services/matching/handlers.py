"""Matching stage: cohort.linked -> comparison group, balance and outcomes -> control.matched."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

from jdl_events.events import CohortLinked, ControlMatched, Event
from jdl_events.keys import cohort_profile_key, programme_key, result_key
from jdl_events.vocab import StageName
from jdl_infra.objectstore import ObjectStore
from jdl_infra.ports import NationalLoader, get_frame_encrypted
from jdl_pipeline.stage import event_id_for

STAGE: StageName = "matching"


@dataclass
class MatchingPorts:
    store: ObjectStore
    keyring: Any
    national: NationalLoader
    spec_overrides: dict[str, Any] = field(default_factory=dict)


def handle_cohort_linked(event: Event, ports: MatchingPorts) -> Sequence[Event]:
    from jdl_core.analysis import analyse_index_events, attributes_from_profile
    from jdl_core.matching import MatchSpec
    from jdl_core.result import ProgrammeInfo

    assert isinstance(event, CohortLinked)
    sid = event.submission_id
    linked = get_frame_encrypted(ports.store, ports.keyring, sid, event.linked_key)
    programme = json.loads(ports.store.get(programme_key(sid)))
    national = ports.national()
    events = national.events
    treated = events[events["event_id"].isin(linked["event_id"])]
    spec = MatchSpec(**ports.spec_overrides)
    info = ProgrammeInfo(organisation=programme["organisation"], programme=programme["name"],
                         description=f"{programme['targets'].rstrip('.')}. {programme['delivers'].rstrip('.')}.",
                         setting=programme["setting"], own_words=programme.get("own_words", ""),
                         selection=programme.get("selection", ""))
    # written by the linkage stage since the report profiles the people not included; absent for
    # submissions linked before that
    profile_key = cohort_profile_key(sid)
    cohort_profile = (get_frame_encrypted(ports.store, ports.keyring, sid, profile_key)
                      if ports.store.exists(profile_key) else None)
    result = analyse_index_events(treated, national, spec, programme=info,
                                  attrition=dict(event.attrition), submission_id=sid,
                                  cohort_profile=cohort_profile,
                                  attributes=attributes_from_profile(cohort_profile, treated))
    # aggregates only: kept after the purge so the report can be re-rendered
    ports.store.put(result_key(sid), result.model_dump_json(indent=1).encode())
    return [ControlMatched(event_id=event_id_for(sid, STAGE, "control.matched"), submission_id=sid,
                           result_key=result_key(sid), n_treated=result.n_treated,
                           n_comparison=result.n_comparison)]
