"""Standardise names and dates on both sides of the linkage and derive the blocking keys."""
from __future__ import annotations

import re
import unicodedata
from typing import Any

import numpy as np
import pandas as pd

from ..errors import LinkageError
from . import variants

# Columns of the record table given to Splink (both the national side and the submitted side).
RECORD_COLUMNS: tuple[str, ...] = (
    "record_id",   # national: 0..M-1 (people then aliases); submitted: -1 - row_number
    "forename",    # standardised: upper case A-Z only
    "surname",
    "dob",         # DATE
    "sex",         # "M" | "F" | NULL
    "yob",         # year of birth (blocking key)
    "md",          # month*100 + day of birth (blocking key that survives a wrong year)
    "fn_sx",       # Soundex of forename (blocking key that survives most typos)
    "sn_sx",       # Soundex of surname
    "fn_var",      # group of known nicknames/spellings of the forename (variants.py), else NULL
    "sn_var",      # the same for the surname
    "sn_first",    # first and last part of a double-barrelled or hyphenated surname, else NULL
    "sn_last",
)

_NOT_LETTERS = re.compile(r"[^A-Z]")
_PART_BREAK = re.compile(r"[\s\-]+")
# Parts shorter than this ("Mc", "O", "De") are prefixes of one surname, not a second surname.
_MIN_PART_LETTERS = 3
_SOUNDEX_CODES = {
    **dict.fromkeys("BFPV", "1"),
    **dict.fromkeys("CGJKQSXZ", "2"),
    **dict.fromkeys("DT", "3"),
    "L": "4",
    **dict.fromkeys("MN", "5"),
    "R": "6",
}


def standardise_name(value: Any) -> str | None:
    """Upper-case, accents removed, letters only ("O'Brien-Smith" -> "OBRIENSMITH"); None if empty.

    Punctuation and spaces are dropped because they are recorded inconsistently between
    agencies, while the letters carry the identity.
    """
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode("ascii")
    text = _NOT_LETTERS.sub("", text.upper())
    return text or None


def soundex(name: str | None) -> str | None:
    """American Soundex code (letter + 3 digits) of a standardised name, e.g. ROBERT -> R163."""
    if not name:
        return None
    first = name[0]
    digits: list[str] = []
    previous = _SOUNDEX_CODES.get(first, "")
    for ch in name[1:]:
        code = _SOUNDEX_CODES.get(ch, "")
        if code and code != previous:
            digits.append(code)
            if len(digits) == 3:
                break
        # H and W do not separate letters with the same code; vowels do.
        if ch not in "HW":
            previous = code
    return (first + "".join(digits)).ljust(4, "0")


def surname_parts(value: Any) -> tuple[str | None, str | None]:
    """(first, last) standardised part of a surname of two or more parts ("Smith-Jones",
    "Bonham Carter"), or (None, None): a person recorded as "Smith-Jones" in one place is often
    "Smith" or "Jones" in another."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None, None
    parts = [p for p in (standardise_name(x) for x in _PART_BREAK.split(str(value).strip())) if p]
    parts = [p for p in parts if len(p) >= _MIN_PART_LETTERS]
    if len(parts) < 2:
        return None, None
    return parts[0], parts[-1]


def _map_unique(values: pd.Series, fn: Any) -> pd.Series:
    """Apply ``fn`` once per distinct value (names repeat heavily, so this is ~100x faster)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([fn(u) for u in uniques] + [None], dtype=object)
    return pd.Series(pd.array(mapped[codes], dtype="string"), index=values.index)


def _as_datetime(values: pd.Series, column: str) -> pd.Series:
    try:
        return pd.to_datetime(values, errors="raise").astype("datetime64[s]")
    except (ValueError, TypeError) as exc:
        raise LinkageError(
            f"column {column!r} must hold dates; it has values that are not dates"
        ) from exc


def name_record_frame(
    record_id: np.ndarray,
    forename: pd.Series,
    surname: pd.Series,
    dob: pd.Series,
    sex: pd.Series,
) -> pd.DataFrame:
    """Build a record table with standardised names and blocking keys (columns RECORD_COLUMNS)."""
    fn = _map_unique(forename.reset_index(drop=True), standardise_name)
    sn = _map_unique(surname.reset_index(drop=True), standardise_name)
    sn_first = _map_unique(surname.reset_index(drop=True), lambda v: surname_parts(v)[0])
    sn_last = _map_unique(surname.reset_index(drop=True), lambda v: surname_parts(v)[1])
    fn_keys, sn_keys = variants.forename_keys(), variants.surname_keys()
    dob_dt = _as_datetime(dob.reset_index(drop=True), "date_of_birth")
    sex_std = sex.reset_index(drop=True).astype("string").str.strip().str.upper()
    # Canonical rows hold M/F; "Male"/"Female" from a notebook user are read the same way.
    sex_std = sex_std.replace({"MALE": "M", "FEMALE": "F"})
    sex_std = sex_std.where(sex_std.isin(["M", "F"]), pd.NA)
    frame = pd.DataFrame(
        {
            "record_id": np.asarray(record_id, dtype="int64"),
            "forename": fn,
            "surname": sn,
            "dob": dob_dt,
            "sex": sex_std,
            "yob": dob_dt.dt.year.astype("Int32"),
            "md": (dob_dt.dt.month * 100 + dob_dt.dt.day).astype("Int32"),
            "fn_sx": _map_unique(fn, soundex),
            "sn_sx": _map_unique(sn, soundex),
            "fn_var": _map_unique(fn, lambda v: variants.variant_key(v, fn_keys)),
            "sn_var": _map_unique(sn, lambda v: variants.variant_key(v, sn_keys)),
            "sn_first": sn_first,
            "sn_last": sn_last,
        }
    )
    return frame


def national_records(people: pd.DataFrame, aliases: pd.DataFrame | None) -> tuple[pd.DataFrame, np.ndarray]:
    """Record table of the national side: one record per person plus one per alias.

    Returns the table and ``person_of_record`` (person_key indexed by record_id), so aliases count
    as further name records of the same person.
    """
    missing = [c for c in ("person_key", "forename", "surname", "date_of_birth", "sex") if c not in people]
    if missing:
        raise LinkageError(f"national people table lacks column(s) {missing}; see schema.PEOPLE_COLUMNS")
    n = len(people)
    person_keys = people["person_key"].to_numpy(dtype="int64")
    main = name_record_frame(
        np.arange(n, dtype="int64"), people["forename"], people["surname"],
        people["date_of_birth"], people["sex"],
    )
    if aliases is None or len(aliases) == 0:
        return main, person_keys
    sex_by_person = pd.Series(people["sex"].to_numpy(), index=person_keys)
    dob_by_person = pd.Series(pd.to_datetime(people["date_of_birth"]).to_numpy(), index=person_keys)
    alias_keys = aliases["person_key"].to_numpy(dtype="int64")
    # An alias without its own date of birth is known with the person's main date of birth.
    alias_dob = pd.to_datetime(aliases["date_of_birth"]).reset_index(drop=True) if "date_of_birth" in aliases \
        else pd.Series(pd.NaT, index=range(len(aliases)))
    alias_dob = alias_dob.fillna(pd.Series(dob_by_person.reindex(alias_keys).to_numpy()))
    extra = name_record_frame(
        np.arange(n, n + len(aliases), dtype="int64"),
        aliases["forename"], aliases["surname"], alias_dob,
        pd.Series(sex_by_person.reindex(alias_keys).to_numpy()),
    )
    records = pd.concat([main, extra], ignore_index=True)
    return records, np.concatenate([person_keys, alias_keys])


def submitted_records(rows: pd.DataFrame) -> pd.DataFrame:
    """Record table of the submitted side; record_id = -1 - row_number, so it never meets a national id."""
    missing = [c for c in ("row_number", "forename", "surname", "date_of_birth", "sex") if c not in rows]
    if missing:
        raise LinkageError(
            f"rows lack column(s) {missing}; linkage needs the canonical cohort columns "
            "row_number, forename, surname, date_of_birth, sex"
        )
    row_number = rows["row_number"].to_numpy(dtype="int64")
    return name_record_frame(-1 - row_number, rows["forename"], rows["surname"], rows["date_of_birth"], rows["sex"])
