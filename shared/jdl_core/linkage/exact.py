"""Exact pass: a submitted PNC ID, else prison number, found in the national data and corroborated."""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from ..identifiers import InvalidIdentifier, canonical_pnc, canonical_prison_number
from ._national import PreparedNational
from .prepare import submitted_records

# An identifier is accepted only when the national person it points at also agrees with the row on
# date of birth (exactly, with day and month transposed, or in two of day/month/year) or has a
# similar surname (Jaro-Winkler >= this, against their main name or an alias). A valid identifier
# typed into the wrong row would otherwise link someone else's record with certainty.
CORROBORATING_SURNAME_JW = 0.85


@dataclass(frozen=True)
class ExactPass:
    links: pd.DataFrame            # row_number, person_key, status for rows linked here
    diagnostics: dict[str, int]    # counts only


def _canonical(values: pd.Series, fn) -> pd.Series:
    """Canonical identifier or NA (invalid values count as absent: they cannot identify anyone)."""
    def one(v: object) -> str | None:
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            return None
        try:
            return fn(str(v))
        except InvalidIdentifier:
            return None

    codes, uniques = pd.factorize(values.astype("object"), use_na_sentinel=True)
    mapped = np.array([one(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=values.index, dtype="object")


def _corroborated(prepared: PreparedNational, rows: pd.DataFrame, person: pd.Series) -> pd.Series:
    """For each row with a candidate person, does the person agree on DOB or surname?"""
    has = person.notna()
    result = pd.Series(False, index=rows.index)
    if not has.any():
        return result
    sub = submitted_records(rows.loc[has])
    sub["person_key"] = person.loc[has].to_numpy(dtype="int64")
    sub["row_index"] = rows.index[has]
    nat = prepared.records_of_people(sub["person_key"].unique())
    pairs = sub.merge(nat, on="person_key", suffixes=("_r", "_l"))
    with duckdb.connect() as con:
        con.register("pairs", pairs)
        flags = con.execute(
            f"""
            select row_index,
                   bool_or(
                       dob_l = dob_r
                       or (year(dob_l) = year(dob_r) and month(dob_l) = day(dob_r)
                           and day(dob_l) = month(dob_r))
                       or ((year(dob_l) = year(dob_r))::int + (month(dob_l) = month(dob_r))::int
                           + (day(dob_l) = day(dob_r))::int) = 2
                       or coalesce(jaro_winkler_similarity(surname_l, surname_r), 0)
                          >= {CORROBORATING_SURNAME_JW}
                   ) as ok
            from pairs group by row_index
            """
        ).df()
    ok = pd.Series(flags["ok"].fillna(False).to_numpy(dtype=bool), index=flags["row_index"].to_numpy())
    result.loc[ok.index] = ok
    return result


def exact_pass(rows: pd.DataFrame, prepared: PreparedNational) -> ExactPass:
    """Link rows by identifier. Rule when both are given and point at different people: the PNC ID
    wins if corroborated (its check letter guards against typing errors, a prison number has none);
    otherwise the prison number is tried. Rows not linked here go on to the probabilistic pass."""
    rows = rows.reset_index(drop=True)
    n = len(rows)
    pnc = _canonical(rows["pnc_id"], canonical_pnc) if "pnc_id" in rows else pd.Series([None] * n, dtype="object")
    prison = (
        _canonical(rows["prison_number"], canonical_prison_number)
        if "prison_number" in rows else pd.Series([None] * n, dtype="object")
    )
    pnc_person = pnc.map(prepared.pnc_to_person)
    prison_person = prison.map(prepared.prison_to_person)
    pnc_ok = _corroborated(prepared, rows, pnc_person)
    prison_ok = _corroborated(prepared, rows, prison_person)

    by_pnc = pnc_person.notna() & pnc_ok
    by_prison = ~by_pnc & prison_person.notna() & prison_ok
    person = pnc_person.where(by_pnc, prison_person.where(by_prison))
    unlinked = np.array(None, dtype=object)
    status = np.where(by_pnc, "linked_pnc", np.where(by_prison, "linked_prison_number", unlinked))
    linked = by_pnc | by_prison
    links = pd.DataFrame(
        {
            "row_number": rows.loc[linked, "row_number"].to_numpy(dtype="int64"),
            "person_key": person.loc[linked].to_numpy(dtype="int64"),
            "status": status[linked.to_numpy()],
        }
    )
    both = pnc_person.notna() & prison_person.notna()
    diagnostics = {
        "pnc_given": int(pnc.notna().sum()),
        "pnc_not_in_data": int((pnc.notna() & pnc_person.isna()).sum()),
        "prison_number_given": int(prison.notna().sum()),
        "prison_number_not_in_data": int((prison.notna() & prison_person.isna()).sum()),
        "identifier_conflict": int((both & (pnc_person != prison_person)).sum()),
        "identifier_not_corroborated": int(
            ((pnc_person.notna() & ~pnc_ok) | (prison_person.notna() & ~prison_ok)).sum()
        ),
    }
    return ExactPass(links=links, diagnostics=diagnostics)
