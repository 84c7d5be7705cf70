"""Programme attributes uploaded by the organisation (completed, sessions attended, delivery mode,
location) reach the sub-analyses: intake keeps them as short categories (free text over the
length limit and "no value" tokens dropped), the linkage stage's cohort profile carries them
(encrypted) and the matching stage turns them into per-person attributes for subgroups.py."""
from __future__ import annotations

import numpy as np
import pandas as pd

from jdl_core import schema
from jdl_core.analysis import analyse_index_events, attributes_from_profile, cohort_profile_frame
from jdl_core.cohort import ROW_COLUMNS, validate_upload
from jdl_core.matching import MatchSpec
from jdl_core.result import ProgrammeInfo
from jdl_core.upload_template import template_columns


def _cohort_csv(national, n: int, seed: int) -> tuple[bytes, pd.DataFrame]:
    ev = national.events
    ev = ev[(ev["disposal"] == "custody") & ev["followup_complete"] & ev["index_year"].between(2007, 2009)]
    chosen = ev.drop_duplicates("person_key").sample(n, random_state=seed).reset_index(drop=True)
    people = national.people.set_index("person_key").loc[chosen["person_key"]].reset_index()
    start = pd.to_datetime(chosen["index_date"]) if "index_date" in chosen else None
    rng = np.random.default_rng(seed)
    completed = rng.choice(["Yes", "No"], n, p=[0.6, 0.4]).astype(object)
    completed[0] = "unknown"                        # a "no value" token: not a level
    completed[1] = "attended every week and said " + "x" * 40   # free text: dropped
    lines = ["Forename,Surname,DOB,Sex,Intervention start date,Setting,Completed,Delivery mode"]
    for i in range(n):
        dob = pd.Timestamp(people.loc[i, "date_of_birth"]).strftime("%d/%m/%Y")
        st = (start[i] if start is not None else pd.Timestamp(f"{int(chosen.loc[i, 'index_year'])}-06-01"))
        lines.append(f"{people.loc[i, 'forename']},{people.loc[i, 'surname']},{dob},"
                     f"{'M' if people.loc[i, 'sex'] in ('M', 'male', 'Male') else 'F'},"
                     f"{st.strftime('%d/%m/%Y')},custody,{completed[i]},group")
    return "\n".join(lines).encode(), chosen


def test_intake_keeps_attributes_as_short_categories(national):
    data, _ = _cohort_csv(national, 80, seed=5)
    v = validate_upload(data, "c.csv", setting="custody", min_size=60)
    assert list(v.rows.columns) == list(ROW_COLUMNS)
    assert set(schema.PROGRAMME_ATTRIBUTES) <= set(v.rows.columns)
    by_row = v.rows.set_index("row_number")
    assert pd.isna(by_row.loc[2, "completed"])          # "unknown"
    assert pd.isna(by_row.loc[3, "completed"])          # over ATTRIBUTE_MAX_CHARS: free text
    assert set(by_row["completed"].dropna()) == {"Yes", "No"}
    assert set(by_row["delivery_mode"].dropna()) == {"group"}
    assert by_row["location"].isna().all()              # not uploaded
    assert not any(w.code == "dropped_columns" for w in v.warnings)
    # the template offers them, optional
    cols = {c.name: c for c in template_columns()}
    assert all(a in cols and not cols[a].required for a in schema.PROGRAMME_ATTRIBUTES)


def test_uploaded_attribute_becomes_a_matched_sub_analysis(national):
    data, chosen = _cohort_csv(national, 300, seed=7)
    v = validate_upload(data, "c.csv", setting="custody", min_size=60)
    # what index-event selection returns: row_number -> event_id (here the chosen events)
    events = pd.DataFrame({"row_number": v.rows["row_number"].to_numpy(),
                           "event_id": chosen["event_id"].to_numpy()[v.rows["row_number"].to_numpy() - 2]})
    profile = cohort_profile_frame(v.rows, events)
    assert "completed" in profile.columns and "location" not in profile.columns
    treated = national.events[national.events["event_id"].isin(events["event_id"])]
    attrs = attributes_from_profile(profile, treated)
    assert list(attrs.columns) == ["person_key", "completed", "delivery_mode"]
    assert len(attrs) == len(v.rows)
    res = analyse_index_events(treated, national, MatchSpec(bootstrap_reps=0), attributes=attrs,
                               programme=ProgrammeInfo(organisation="O", programme="P",
                                                       setting="custody"))
    lines = {(s.variable, s.level): s for s in res.subgroups}
    assert {lvl for var, lvl in lines if var == "completed"} == {"Yes", "No"}
    assert all(s.status == "analysed" for (var, _), s in lines.items() if var == "completed")
    assert lines[("delivery_mode", "")].reason_code == "one_level"
    # nothing uploaded: no attribute lines at all
    assert attributes_from_profile(profile.drop(columns=["completed", "delivery_mode"]), treated) is None
    assert attributes_from_profile(None, treated) is None
