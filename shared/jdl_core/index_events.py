"""Index-event selection: each linked person's index event relative to the intervention dates.

Rules (methodology.md section 3):

- **custody** programmes: the first release from custody (a ``custody`` event's ``index_date``)
  on or after the intervention start;
- **community** programmes: the community order in force at the intervention start
  (``start_date <= intervention_start <= end_date``; if several are, the one that started last,
  being the order the programme most likely responded to), else the next order starting after it.

A maximum gap applies (default ``DEFAULT_MAX_GAP_DAYS`` = 90, a setting): the gap is 0 when the
person was serving the sentence at the intervention start (in custody between reception and
release; a community order in force), else the days from the intervention start to the start of
the chosen sentence (reception into custody, the next order's start). A chosen event further away
than the maximum is a different sentence from the one the programme worked with, so the person
counts as "no_index_event" (``IndexSelection.beyond_max_gap`` says how many for this reason).

The event is chosen first and its follow-up checked second: an event whose one-year follow-up
plus six months for the proving conviction ends after ``followup_end`` drops the person
("followup_outside_coverage"); a later event is not substituted, as it would be a different
sentence from the one the programme worked with.

A person submitted twice (two rows linked to the same person key) keeps the first row in file
order; the others count as "duplicate" (``link_cohort`` has already kept the stronger of such
links and marked the rest "duplicate", counted the same way). Rows that linkage did not link
count under their linkage status ("not_found", "ambiguous", "duplicate"), so every submitted row is either in ``events`` or counted once
in ``attrition``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Final, get_args

import numpy as np
import pandas as pd

from . import schema
from .errors import InvalidArgument, LinkageError
from .result import Attrition, AttritionReason, AttritionStep

if TYPE_CHECKING:
    from .linkage import LinkageResult
    from .national import NationalData

# Attrition reasons produced up to and including index-event selection, in the order a report
# lists them (the order of result.AttritionReason and of methodology.md section 3.4).
INDEX_STAGE_REASONS: Final[tuple[str, ...]] = (
    "duplicate", "not_found", "ambiguous", "no_index_event", "followup_outside_coverage",
)
ATTRITION_LABELS: Final[dict[str, str]] = {
    "invalid_row": "Rows that failed validation",
    "duplicate": "Same person submitted more than once",
    "not_found": "Not found in the national data",
    "ambiguous": "More than one plausible national record",
    "no_index_event": "No eligible index event for the programme",
    "followup_outside_coverage": "One-year follow-up not inside the data",
}
# Days between the intervention start and the start of the chosen sentence beyond which the event
# is not taken to be the one the programme worked with (methodology.md section 3.3).
DEFAULT_MAX_GAP_DAYS: Final = 90
_LINKED: Final = frozenset({"linked_pnc", "linked_prison_number", "linked_probabilistic"})
assert set(INDEX_STAGE_REASONS) <= set(get_args(AttritionReason))


@dataclass(frozen=True)
class IndexSelection:
    """Chosen index events (one per analysed person) and how many rows were lost, by reason."""

    events: pd.DataFrame = field(repr=False)  # row_number + schema.EVENT_COLUMNS
    attrition: dict[str, int]                 # INDEX_STAGE_REASONS -> count (zeros included)
    setting: str
    followup_end: str
    submitted: int                            # rows given (linked or not)
    max_gap_days: int | None = DEFAULT_MAX_GAP_DAYS
    beyond_max_gap: int = 0                   # of attrition["no_index_event"]: event too far

    def to_attrition(self, *, invalid_rows: int = 0, intake_duplicates: int = 0) -> Attrition:
        """The report's attrition table from the uploaded rows to the people with an index event.

        ``invalid_rows`` and ``intake_duplicates`` are rows refused at intake (they never reached
        linkage); intake duplicates join the "duplicate" step. Steps follow "invalid_row" in the
        order of ``INDEX_STAGE_REASONS``.
        """
        for name, value in (("invalid_rows", invalid_rows), ("intake_duplicates", intake_duplicates)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidArgument(f"{name} is {value!r}; allowed: a whole number >= 0")
        counts = dict(self.attrition)
        counts["duplicate"] += intake_duplicates
        remaining = self.submitted + invalid_rows + intake_duplicates
        submitted = remaining
        steps: list[AttritionStep] = []
        for reason, removed in [("invalid_row", invalid_rows), *counts.items()]:
            remaining -= removed
            steps.append(AttritionStep(reason=reason, label=ATTRITION_LABELS[reason],  # type: ignore[arg-type]
                                       removed=removed, remaining=remaining))
        return Attrition(submitted=submitted, steps=steps, analysed=remaining)


def _timestamp(value: Any, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = pd.NaT
    if pd.isna(ts):
        raise InvalidArgument(f"{name} is {value!r}; allowed: a date such as '2011-06-30'")
    return ts.normalize()


def _coverage_followup_end(national: NationalData) -> pd.Timestamp:
    manifest = getattr(national, "manifest", None) or {}
    coverage = manifest.get("coverage", {}) if isinstance(manifest, dict) else {}
    return _timestamp(coverage.get("followup_end", schema.FOLLOWUP_END), "dataset followup_end")


def _links_frame(links: LinkageResult | pd.DataFrame) -> pd.DataFrame:
    frame = links.links if hasattr(links, "links") else links
    if not isinstance(frame, pd.DataFrame):
        raise InvalidArgument(
            f"links must be a LinkageResult or its links DataFrame, not {type(links).__name__}"
        )
    missing = [c for c in ("row_number", "person_key", "status") if c not in frame]
    if missing:
        raise LinkageError(f"links lack column(s) {missing}; pass LinkageResult.links")
    return frame


def select_index_events(
    links: LinkageResult | pd.DataFrame,
    rows: pd.DataFrame,
    national: NationalData,
    setting: str,
    *,
    followup_end: str | date | pd.Timestamp | None = None,
    max_gap_days: int | None = DEFAULT_MAX_GAP_DAYS,
) -> IndexSelection:
    """Pick each linked person's index event (module docstring) and count attrition by reason.

    ``links`` is ``link_cohort(...)`` (or its ``.links``); ``rows`` the canonical cohort rows it
    linked (``row_number``, ``intervention_start``). ``followup_end`` defaults to the dataset's
    (its manifest); it may be earlier (to reproduce an older analysis) but not later: outcomes
    after it do not exist. ``max_gap_days`` None switches the maximum gap off.
    """
    if setting not in schema.SETTINGS:
        raise InvalidArgument(f"setting is {setting!r}; allowed: {', '.join(schema.SETTINGS)}")
    if max_gap_days is not None and (isinstance(max_gap_days, bool)
                                     or not isinstance(max_gap_days, (int, np.integer))
                                     or max_gap_days < 0):
        raise InvalidArgument(f"max_gap_days is {max_gap_days!r}; allowed: a whole number of "
                              "days >= 0, or None for no limit")
    data_end = _coverage_followup_end(national)
    end = data_end if followup_end is None else _timestamp(followup_end, "followup_end")
    if end > data_end:
        raise InvalidArgument(
            f"followup_end is {end.date()}; allowed: on or before the dataset's follow-up end "
            f"{data_end.date()}"
        )
    link_frame = _links_frame(links)
    for column in ("row_number", "intervention_start"):
        if column not in rows:
            raise LinkageError(f"rows lack the column {column!r} (canonical cohort rows are required)")
    if rows["row_number"].duplicated().any():
        raise LinkageError("rows have repeated row_number values; each row needs its own")

    # Every submitted row, in file order, with its link.
    order = rows[["row_number", "intervention_start"]].reset_index(drop=True)
    order["intervention_start"] = pd.to_datetime(order["intervention_start"]).dt.normalize()
    merged = order.merge(link_frame[["row_number", "person_key", "status"]], on="row_number", how="left")
    unknown = merged["status"].isna()
    if unknown.any():
        raise LinkageError(
            f"{int(unknown.sum())} row(s) have no linkage status; link every row before selecting events"
        )
    status = merged["status"].astype(str)
    linked = status.isin(_LINKED) & merged["person_key"].notna()
    if merged.loc[linked, "intervention_start"].isna().any():
        raise LinkageError("linked rows need an intervention_start date")

    attrition = {reason: 0 for reason in INDEX_STAGE_REASONS}
    attrition["not_found"] = int((status == "not_found").sum())
    attrition["ambiguous"] = int((status == "ambiguous").sum())

    people = merged.loc[linked].copy()
    people["person_key"] = people["person_key"].astype("int64")
    # link_cohort already leaves one row per person ("duplicate" status); links built by hand
    # may not, so the first row in file order is kept here too
    duplicate = people["person_key"].duplicated(keep="first")
    attrition["duplicate"] = int(duplicate.sum()) + int((status == "duplicate").sum())
    people = people.loc[~duplicate]

    chosen = _choose(people, national.events, setting)
    beyond = 0
    if max_gap_days is not None and len(chosen):
        too_far = chosen["_gap_days"].to_numpy() > max_gap_days
        beyond = int(too_far.sum())
        chosen = chosen.loc[~too_far]
    chosen = chosen.drop(columns=["_gap_days"])
    attrition["no_index_event"] = int(len(people) - len(chosen))
    limit = end - pd.Timedelta(days=schema.FOLLOWUP_DAYS + schema.PROVING_DAYS)
    complete = pd.to_datetime(chosen["index_date"]) <= limit
    attrition["followup_outside_coverage"] = int((~complete).sum())
    events = chosen.loc[complete]

    columns = ["row_number", *[c for c in schema.EVENT_COLUMNS if c in events]]
    events = events.sort_values("row_number", kind="stable")[columns].reset_index(drop=True)
    return IndexSelection(
        events=events, attrition=attrition, setting=setting, followup_end=str(end.date()),
        submitted=int(len(order)), max_gap_days=max_gap_days, beyond_max_gap=beyond,
    )


def _gap_days(sentence_start: pd.Series, start: pd.Series) -> np.ndarray:
    """Days from the intervention start to the sentence's start; 0 when it started earlier (the
    person was already serving it)."""
    days = (pd.to_datetime(sentence_start) - start).dt.days.to_numpy()
    return np.maximum(days, 0)


def _choose(people: pd.DataFrame, events: pd.DataFrame, setting: str) -> pd.DataFrame:
    """One event per person row (people without a qualifying event are left out), with its
    ``_gap_days`` from the intervention start."""
    disposal = "custody" if setting == "custody" else "community"
    mine = events.loc[(events["disposal"] == disposal) & events["person_key"].isin(people["person_key"])]
    pairs = people[["row_number", "person_key", "intervention_start"]].merge(mine, on="person_key")
    start = pairs["intervention_start"]
    if setting == "custody":
        # First release on or after the start: earliest index_date, then lowest event id.
        candidates = pairs.loc[pd.to_datetime(pairs["index_date"]) >= start]
        ranked = candidates.sort_values(["row_number", "index_date", "event_id"], kind="stable")
        out = ranked.drop_duplicates("row_number", keep="first")
        return out.assign(_gap_days=_gap_days(out["start_date"], out["intervention_start"]))
    order_start = pd.to_datetime(pairs["start_date"])
    order_end = pd.to_datetime(pairs["end_date"])
    in_force = (order_start <= start) & (start <= order_end)
    # In force: latest start first; otherwise the next to start (earliest start after).
    rank = np.where(in_force, 0, np.where(order_start > start, 1, 2))
    pairs = pairs.assign(
        _rank=rank,
        _key=np.where(in_force, -order_start.to_numpy().astype("int64"), order_start.to_numpy().astype("int64")),
    )
    candidates = pairs.loc[pairs["_rank"] < 2]
    ranked = candidates.sort_values(["row_number", "_rank", "_key", "event_id"], kind="stable")
    out = ranked.drop_duplicates("row_number", keep="first").drop(columns=["_rank", "_key"])
    return out.assign(_gap_days=_gap_days(out["start_date"], out["intervention_start"]))
