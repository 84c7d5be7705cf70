"""link_cohort: every submitted row to at most one national person, with a status saying how."""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import pandas as pd

from ..errors import InvalidArgument, LinkageError
from ._national import prepared_national
from .exact import exact_pass
from .model import LinkageModel, load_linkage_model
from .prepare import submitted_records
from .probabilistic import decide, score_pairs

if TYPE_CHECKING:
    from ..national import NationalData

logger = logging.getLogger(__name__)

LinkStatus = Literal[
    "linked_pnc", "linked_prison_number", "linked_probabilistic", "not_found", "ambiguous", "duplicate",
]
STATUSES: Final[tuple[str, ...]] = (
    "linked_pnc", "linked_prison_number", "linked_probabilistic", "not_found", "ambiguous", "duplicate",
)
LINKED_STATUSES: Final = frozenset({"linked_pnc", "linked_prison_number", "linked_probabilistic"})
# When two rows claim the same national person, the stronger link keeps them: an identifier beats
# names and date of birth, then the higher match weight, then the earlier row in the file.
_METHOD_RANK: Final = {"linked_pnc": 0, "linked_prison_number": 1, "linked_probabilistic": 2}

# Documented defaults (services/linkage/README.md, "Decision rule"). A row is linked
# probabilistically when its best national person has a match probability of at least
# DEFAULT_THRESHOLD and the next-best distinct person is at least DEFAULT_MARGIN_BITS lower in
# match weight, i.e. 2**3 = 8 times less likely. If a runner-up is that close the row is
# "ambiguous" and not linked: linking the wrong person would compare someone else's re-offending.
# Chosen from the measured precision/recall trade-off on typical and hard cohorts against 200,000
# and 1,000,000 people (bench/bench_linkage.py --sweep): no wrong link in typical cohorts, and
# recall that 0.95 / 5 bits (the earlier defaults) lost as the national data grows.
DEFAULT_THRESHOLD: Final = 0.8
DEFAULT_MARGIN_BITS: Final = 3.0


@dataclass(frozen=True)
class LinkageResult:
    """Per-row linkage decisions (ids only, no names or dates) and counts by status."""

    links: pd.DataFrame = field(repr=False)  # row_number, person_key (Int64/NA), status, match_probability
    counts: dict[str, int]                   # every status in STATUSES, zero included
    diagnostics: dict[str, int]              # identifier checks, pairs scored (counts only)
    threshold: float
    margin_bits: float
    model: dict[str, Any]                    # fingerprint, dataset version and hash of the model used
    seconds: float = 0.0

    @property
    def linked(self) -> pd.DataFrame:
        """Rows linked to a person (any method)."""
        return self.links.loc[self.links["status"].isin(LINKED_STATUSES)].reset_index(drop=True)


def _check_arguments(rows: pd.DataFrame, threshold: float, margin_bits: float) -> None:
    if not isinstance(rows, pd.DataFrame):
        raise InvalidArgument(f"rows must be a pandas DataFrame, not {type(rows).__name__}")
    if not (isinstance(threshold, (int, float)) and 0.0 < float(threshold) < 1.0):
        raise InvalidArgument(f"threshold is {threshold!r}; allowed: a probability strictly between 0 and 1")
    if not (isinstance(margin_bits, (int, float)) and float(margin_bits) >= 0.0):
        raise InvalidArgument(f"margin_bits is {margin_bits!r}; allowed: a number of bits >= 0")
    if "row_number" not in rows:
        raise LinkageError("rows lack the column 'row_number' (canonical cohort rows are required)")
    numbers = rows["row_number"]
    if numbers.isna().any() or not pd.api.types.is_integer_dtype(numbers.dtype):
        raise LinkageError("column 'row_number' must hold whole numbers with no gaps")
    if numbers.duplicated().any():
        raise LinkageError(
            f"column 'row_number' has {int(numbers.duplicated().sum())} repeated value(s); each row needs its own"
        )
    if (numbers < 0).any():
        raise LinkageError("column 'row_number' has negative values; allowed: 0 or more")


def one_row_per_person(links: pd.DataFrame) -> pd.DataFrame:
    """Leave each national person linked to one row at most (links in file order, with status,
    person_key and match_weight): the other rows claiming them become "duplicate", unlinked.

    Two rows of one cohort linked to the same person are the same person submitted twice (under
    other spellings or identifiers), or one of them is a wrong link; either way only the stronger
    link (``_METHOD_RANK``, then match weight, then file order) can stand.
    """
    linked = links["status"].isin(LINKED_STATUSES) & links["person_key"].notna()
    if not links.loc[linked, "person_key"].duplicated().any():
        return links
    claims = pd.DataFrame({
        "person_key": links.loc[linked, "person_key"].astype("int64"),
        "rank": links.loc[linked, "status"].map(_METHOD_RANK).astype("int64"),
        "weight": -links.loc[linked, "match_weight"].astype("float64"),
        "position": np.flatnonzero(linked.to_numpy()),
    })
    best = claims.sort_values(["person_key", "rank", "weight", "position"], kind="stable")
    losers = best.index[best["person_key"].duplicated(keep="first")]
    out = links.copy()
    out.loc[losers, "status"] = "duplicate"
    out.loc[losers, "person_key"] = pd.NA
    return out


def link_cohort(
    rows: pd.DataFrame,
    national: NationalData,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    model: LinkageModel | None = None,
    margin_bits: float = DEFAULT_MARGIN_BITS,
) -> LinkageResult:
    """Locate each canonical cohort row in the national data.

    1. Exact: a valid PNC ID found in the data, else a prison number, each corroborated by date
       of birth or surname (see ``exact.exact_pass``).
    2. Probabilistic, for the rest: the trained Splink model (``load_linkage_model`` unless
       ``model`` is given) scores the row against every national name record (people and
       aliases) sharing a blocking key; the decision rule is in ``probabilistic.decide``.
    3. One person, one row (``one_row_per_person``): a national person claimed by several rows
       stays linked to the strongest claim; the others are "duplicate".

    ``rows`` are the canonical rows of ``jdl_core.cohort``: row_number, forename, surname,
    date_of_birth, sex, pnc_id, prison_number (extra columns are ignored).
    """
    started = time.perf_counter()
    _check_arguments(rows, threshold, margin_bits)
    prepared = prepared_national(national)
    if model is None:
        model = load_linkage_model(national)
    elif not isinstance(model, LinkageModel):
        raise InvalidArgument(f"model must be a LinkageModel or None, not {type(model).__name__}")

    rows = rows.reset_index(drop=True)
    exact = exact_pass(rows, prepared)
    rest = rows.loc[~rows["row_number"].isin(exact.links["row_number"])]
    pairs = score_pairs(prepared, model, submitted_records(rest))
    probabilistic = decide(
        pairs, rest["row_number"].to_numpy(dtype="int64"), threshold=float(threshold), margin_bits=float(margin_bits)
    )
    exact_links = exact.links.assign(match_probability=1.0, match_weight=math.inf)
    links = pd.concat([exact_links, probabilistic], ignore_index=True)
    links["person_key"] = links["person_key"].astype("Int64")
    links["status"] = links["status"].astype("string")
    order = pd.Series(np.arange(len(rows)), index=rows["row_number"].to_numpy())
    links = links.iloc[np.argsort(order.loc[links["row_number"]].to_numpy(), kind="stable")].reset_index(drop=True)
    links["row_number"] = links["row_number"].astype("int64")
    links = one_row_per_person(links).drop(columns=["match_weight"])

    counts = {s: int((links["status"] == s).sum()) for s in STATUSES}
    diagnostics = dict(exact.diagnostics)
    diagnostics["pairs_scored"] = int(len(pairs))
    seconds = time.perf_counter() - started
    logger.info("cohort linked", extra={"rows": len(rows), **counts, "seconds": round(seconds, 3)})
    return LinkageResult(
        links=links,
        counts=counts,
        diagnostics=diagnostics,
        threshold=float(threshold),
        margin_bits=float(margin_bits),
        model={
            "fingerprint": model.fingerprint,
            "dataset_version": model.dataset_version,
            "manifest_sha256": model.manifest_sha256,
            "trained_at": model.trained_at,
        },
        seconds=seconds,
    )
