"""How well a cohort linked, in words for the organisation: the share that could not be linked,
the main reasons people were lost, and what to send next time (counts only, no personal data).

Used by the analysis when it refuses a cohort with too few people to analyse, and by the report
when most valid rows could not be linked to the national data; ``accuracy`` scores links against
a synthetic cohort's truth (tests and bench/bench_linkage.py).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

# Rows lost at linkage itself (the other reasons are validation, dates and matching).
LINK_FAILURES: Final = ("not_found", "ambiguous")
# Above this share of valid rows not linked, the report says so in its first lines.
MOST_ROWS: Final = 0.5
SEND_INSTEAD: Final = ("send each person's PNC ID where they have one and their full date of birth "
                       "(day, month and year), with names as the police or prison recorded them")
# What helps for each reason, for the refusal (short: a refusal's reason is at most 500
# characters).
_REMEDY: Final[dict[str, str]] = {
    "not_found": "send PNC IDs and full dates of birth (day, month and year)",
    "ambiguous": "send PNC IDs and full dates of birth (day, month and year)",
    "invalid_row": "correct the rows listed in the validation report",
    "no_index_event": "check that each intervention started close to the sentence it worked with",
    "followup_outside_coverage": "people who took part recently can be analysed once their "
                                 "follow-up year is in the data",
}


@dataclass(frozen=True)
class LinkShortfall:
    """Valid rows (not refused at intake) and how many of them linkage could not link."""

    valid_rows: int
    not_found: int
    ambiguous: int

    @property
    def failed(self) -> int:
        return self.not_found + self.ambiguous

    @property
    def share(self) -> float:
        return self.failed / self.valid_rows if self.valid_rows else 0.0

    @property
    def most_failed(self) -> bool:
        return self.valid_rows > 0 and self.share > MOST_ROWS

    def sentence(self) -> str:
        """Plain words for the report, e.g. 'Most of the valid rows (64%) could not be linked...'."""
        parts = [f"{self.not_found:,} not found"]
        if self.ambiguous:
            parts.append(f"{self.ambiguous:,} matching more than one person equally well")
        return (f"Most of the valid rows ({_pct(self.share)}, {self.failed:,} of {self.valid_rows:,}) "
                f"could not be linked to the national data ({' and '.join(parts)}), so the results "
                f"describe a minority of the people submitted. To link more people, {SEND_INSTEAD}.")


def link_shortfall(submitted: int, removed: Mapping[str, int | None]) -> LinkShortfall:
    """From the attrition counts (reason -> people removed; a withheld count as None counts 0,
    so no withheld figure can be worked out from the share)."""
    def n(reason: str) -> int:
        value = removed.get(reason)
        return int(value) if value else 0
    return LinkShortfall(valid_rows=max(0, int(submitted) - n("invalid_row")),
                         not_found=n("not_found"), ambiguous=n("ambiguous"))


def main_reasons(submitted: int, steps: Sequence[tuple[str, int]], labels: Mapping[str, str],
                 top: int = 3) -> str:
    """The largest losses in words: 'not found in the national data: 120 (60%); ...'."""
    merged: dict[str, int] = {}
    for reason, count in steps:
        merged[reason] = merged.get(reason, 0) + int(count)
    biggest = sorted((kv for kv in merged.items() if kv[1] > 0), key=lambda kv: -kv[1])[:top]
    return "; ".join(
        f"{labels.get(reason, reason).lower()}: {count:,}"
        + (f" ({_pct(count / submitted)})" if submitted else "")
        for reason, count in biggest
    )


def remedies(steps: Sequence[tuple[str, int]], top: int = 2) -> str:
    """What to do about the largest losses, each remedy once ('' when none applies)."""
    merged: dict[str, int] = {}
    for reason, count in steps:
        merged[reason] = merged.get(reason, 0) + int(count)
    out: list[str] = []
    for reason, _ in sorted((kv for kv in merged.items() if kv[1] > 0), key=lambda kv: -kv[1])[:top]:
        remedy = _REMEDY.get(reason)
        if remedy and remedy not in out:
            out.append(remedy)
    return "; ".join(out)


def _pct(share: float) -> str:
    return f"{100.0 * share:.0f}%"


@dataclass(frozen=True)
class Accuracy:
    """Linkage against known truth (a synthetic cohort's): precision over linked rows, recall
    over the distinct people submitted who are in the national data."""

    precision: float
    recall: float
    linked_rows: int
    people_in_data: int
    people_linked_twice: int


def accuracy(links: pd.DataFrame, truth: pd.DataFrame) -> Accuracy:
    """``links``: ``LinkageResult.links``; ``truth``: row_number and the true person_key (NA for
    people not in the data) of the same rows. A person counts as found when any of their rows is
    linked to them (a person submitted twice is found once)."""
    joined = links[["row_number", "person_key"]].merge(
        truth[["row_number", "person_key"]], on="row_number", suffixes=("", "_true"), validate="one_to_one")
    linked = joined.loc[joined["person_key"].notna()]
    right = (joined["person_key"] == joined["person_key_true"]).fillna(False).to_numpy(dtype=bool)
    people = joined["person_key_true"].dropna().unique()
    found = joined.loc[right, "person_key_true"].unique()
    return Accuracy(
        precision=float(right[joined["person_key"].notna().to_numpy()].mean()) if len(linked) else 1.0,
        recall=float(np.isin(people, found).mean()) if len(people) else 1.0,
        linked_rows=int(len(linked)),
        people_in_data=int(len(people)),
        people_linked_twice=int(linked["person_key"].duplicated().sum()),
    )
