"""Row rules of cohort intake: every row of a parsed upload checked, the accepted rows in canonical
form, and a fixed-wording reason for each problem of each rejected row (see the package doc)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Final, TypeVar

import numpy as np
import pandas as pd

from ..errors import InvalidArgument
from ..identifiers import canonical_pnc, canonical_prison_number
from ..schema import (
    ATTRIBUTE_MAX_CHARS,
    COVERAGE_END,
    COVERAGE_START,
    PROGRAMME_ATTRIBUTES,
    SETTINGS,
    UPLOAD_REQUIRED,
)
from .cells import (
    FORMULA_LEAD,
    MAX_NAME,
    MISSING_TOKENS,
    SETTING_WORDS,
    SEX_WORDS,
    cell_text,
    identifier_checker,
    is_name,
    looks_like_formula,
    name_key,
    parse_date,
    to_date,
)
from .columns import KNOWN_COLUMNS, LABELS
from .errors import CohortTooSmall, MissingColumns
from .model import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_MIN_SIZE,
    MAX_AGE,
    MIN_AGE,
    REJECTION_REASONS,
    ROW_COLUMNS,
    CohortCounts,
    CohortWarning,
    ParsedUpload,
    RowRejection,
    ValidatedCohort,
)
from .reading import read_upload

T = TypeVar("T")

_NAME_COLUMNS: Final = ("forename", "surname")
_DATE_COLUMNS: Final = ("date_of_birth", "intervention_start", "intervention_end")
_IGNORED: Final = "; the {} was ignored and the person will be found by name, date of birth and sex"
# Fixed wording per (reason, column): messages are built from these only, never from a cell.
_MESSAGES: Final[dict[tuple[str, str | None], str]] = {
    ("misaligned_row", None): "the row has more values than the header has columns (often an "
                              "unquoted comma inside a value); the row was not used",
    **{("formula_injection", c): f"{LABELS[c]} starts like a spreadsheet formula (=, +, -, @); "
                                 "formulas are not accepted" for c in KNOWN_COLUMNS},
    **{("missing_required", c): f"{LABELS[c]} is empty; it is required" for c in UPLOAD_REQUIRED},
    **{("invalid_name", c): f"{LABELS[c]} must start with a letter and hold only letters, spaces, "
                            f"hyphens, apostrophes and full stops (at most {MAX_NAME})"
       for c in _NAME_COLUMNS},
    **{("invalid_date", c): f"{LABELS[c]} is not a date in an accepted form; use day/month/year "
                            "with a four-digit year (DD/MM/YYYY) or YYYY-MM-DD"
       for c in _DATE_COLUMNS},
    ("dob_in_future", "date_of_birth"): "date of birth is in the future",
    ("implausible_age", "date_of_birth"): f"date of birth gives an age below {MIN_AGE} or above "
                                          f"{MAX_AGE} at the intervention start",
    ("end_before_start", "intervention_end"): "intervention end date is before the intervention "
                                              "start date",
    ("invalid_sex", "sex"): "sex must be M or F (Male or Female)",
    ("invalid_setting", "setting"): "setting must be custody or community",
}



def _memoised(fn: Callable[[str], T]) -> Callable[[str], T]:
    """Memoise fn for one validation only. Values repeat within a cohort (dates, names), but a
    module-level cache would keep people's names and dates in the process after the submission
    is deleted, so each call of validate_cohort gets its own cache, dropped when it returns."""
    cache: dict[str, T] = {}

    def call(text: str) -> T:
        try:
            return cache[text]
        except KeyError:
            result = cache[text] = fn(text)
            return result
    return call



Problem = tuple[str | None, str]     # (canonical column, None for the whole row; reason code)
IdentityKey = tuple[Any, ...]


@dataclass(frozen=True)
class _Rules:
    """What a row is checked against besides its own cells."""

    setting: str            # the programme's setting
    start_bound: date       # the national data's coverage of intervention starts
    end_bound: date
    today: date             # bounds dates of birth


class _Columns:
    """The known columns of an upload parsed column by column (list comprehensions and memoised
    parsers are fast); the row rules then read position ``i`` of each list. The memo caches live
    as long as this object, that is one call of ``validate_cohort``."""

    def __init__(self, frame: pd.DataFrame) -> None:
        n = len(frame)
        to_day, valid_name = _memoised(parse_date), _memoised(is_name)
        to_pnc = _memoised(identifier_checker(canonical_pnc))
        to_prison = _memoised(identifier_checker(canonical_prison_number))
        self.to_key = _memoised(name_key)
        raw = {c: ([cell_text(v) for v in frame[c].tolist()] if c in frame.columns else [""] * n)
               for c in KNOWN_COLUMNS}
        # The first-character test is a cheap filter: most cells cannot be formulas.
        self.formula = {c: [bool(v) and v[0] in FORMULA_LEAD and looks_like_formula(v)
                            for v in raw[c]] for c in KNOWN_COLUMNS}
        self.val = {c: ["" if f else v.strip() for v, f in zip(raw[c], self.formula[c])]
                    for c in KNOWN_COLUMNS}
        # Absent: empty (names) or a "no value" token (other columns); a formula cell is not absent.
        self.absent = {c: [not f and (not v if c in _NAME_COLUMNS else v.lower() in MISSING_TOKENS)
                           for v, f in zip(self.val[c], self.formula[c])] for c in KNOWN_COLUMNS}
        self.given = {c: [bool(v) and not f and not a
                          for v, f, a in zip(self.val[c], self.formula[c], self.absent[c])]
                      for c in KNOWN_COLUMNS}
        self.names = {c: [" ".join(v.split()) for v in self.val[c]] for c in _NAME_COLUMNS}
        self.bad_name = {c: [bool(v) and not valid_name(v) for v in self.names[c]]
                         for c in _NAME_COLUMNS}
        self.dates = {c: [to_day(v) if g else None for v, g in zip(self.val[c], self.given[c])]
                      for c in _DATE_COLUMNS}
        self.sexes = [SEX_WORDS.get(v.lower()) if g else None
                      for v, g in zip(self.val["sex"], self.given["sex"])]
        self.settings = [SETTING_WORDS.get(" ".join(v.lower().split())) if g else None
                         for v, g in zip(self.val["setting"], self.given["setting"])]
        self.pncs = [to_pnc(v) if g else (None, None)
                     for v, g in zip(self.val["pnc_id"], self.given["pnc_id"])]
        self.prisons = [to_prison(v) if g else (None, None)
                        for v, g in zip(self.val["prison_number"], self.given["prison_number"])]

    def row_problems(self, i: int, rules: _Rules, *, misaligned: bool) -> list[Problem]:
        """Every problem of row ``i``, in a fixed order: the row, its cells, then the rules."""
        problems: list[Problem] = [(None, "misaligned_row")] if misaligned else []
        return problems + self._cell_problems(i) + self._date_problems(i, rules) \
            + self._category_problems(i, rules)

    def _cell_problems(self, i: int) -> list[Problem]:
        problems: list[Problem] = [(c, "formula_injection") for c in KNOWN_COLUMNS
                                   if self.formula[c][i]]
        return (problems
                + [(c, "missing_required") for c in UPLOAD_REQUIRED if self.absent[c][i]]
                + [(c, "invalid_name") for c in _NAME_COLUMNS if self.bad_name[c][i]]
                + [(c, "invalid_date") for c in _DATE_COLUMNS
                   if self.given[c][i] and self.dates[c][i] is None])

    def _date_problems(self, i: int, rules: _Rules) -> list[Problem]:
        dob = self.dates["date_of_birth"][i]
        start = self.dates["intervention_start"][i]
        end = self.dates["intervention_end"][i]
        problems: list[Problem] = []
        if dob is not None and dob > rules.today:
            problems.append(("date_of_birth", "dob_in_future"))
        elif dob is not None and start is not None:
            age = start.year - dob.year - ((start.month, start.day) < (dob.month, dob.day))
            if not MIN_AGE <= age <= MAX_AGE:
                problems.append(("date_of_birth", "implausible_age"))
        if start is not None and not rules.start_bound <= start <= rules.end_bound:
            problems.append(("intervention_start", "outside_coverage"))
        if start is not None and end is not None and end < start:
            problems.append(("intervention_end", "end_before_start"))
        return problems

    def _category_problems(self, i: int, rules: _Rules) -> list[Problem]:
        problems: list[Problem] = []
        if self.given["sex"][i] and self.sexes[i] is None:
            problems.append(("sex", "invalid_sex"))
        if self.given["setting"][i]:
            if self.settings[i] is None:
                problems.append(("setting", "invalid_setting"))
            elif self.settings[i] != rules.setting:
                problems.append(("setting", "setting_mismatch"))
        return problems

    def identifier_warnings(self, i: int, row_number: int) -> list[CohortWarning]:
        """An invalid PNC ID or prison number is dropped with a warning, never a rejection."""
        warnings = []
        if pnc_error := self.pncs[i][1]:
            warnings.append(CohortWarning("invalid_pnc", pnc_error + _IGNORED.format("PNC ID"),
                                          row_number, "pnc_id"))
        if prison_error := self.prisons[i][1]:
            warnings.append(CohortWarning("invalid_prison_number",
                                          prison_error + _IGNORED.format("prison number"),
                                          row_number, "prison_number"))
        return warnings

    def accepted_row(self, i: int, row_number: int) -> dict[str, Any]:
        """Row ``i`` in canonical form (``ROW_COLUMNS``); only for a row without problems."""
        forename, surname = self.names["forename"][i], self.names["surname"][i]
        val, given = self.val, self.given
        return {
            "row_number": row_number, "forename": forename, "surname": surname,
            "forename_key": self.to_key(forename), "surname_key": self.to_key(surname),
            "date_of_birth": self.dates["date_of_birth"][i], "sex": self.sexes[i],
            "pnc_id": self.pncs[i][0], "prison_number": self.prisons[i][0],
            "intervention_start": self.dates["intervention_start"][i],
            "intervention_end": self.dates["intervention_end"][i],
            "other_id": val["other_id"][i] if given["other_id"][i] else None,
            # a value longer than a category label is free text: not kept, never analysed
            **{a: (" ".join(val[a][i].split()) if given[a][i]
                   and len(val[a][i]) <= ATTRIBUTE_MAX_CHARS else None)
               for a in PROGRAMME_ATTRIBUTES},
        }


def _identity_keys(row: dict[str, Any]) -> list[tuple[IdentityKey, str | None, str]]:
    """The keys by which a later row names the same person: (key, column to blame, why)."""
    keys: list[tuple[IdentityKey, str | None, str]] = []
    if row["pnc_id"]:
        keys.append((("pnc", row["pnc_id"]), "pnc_id", "same PNC ID"))
    if row["prison_number"]:
        keys.append((("prison", row["prison_number"]), "prison_number", "same prison number"))
    keys.append((("name_dob", row["forename_key"].replace(" ", ""),
                  row["surname_key"].replace(" ", ""), row["date_of_birth"]), None,
                 "same forename, surname and date of birth"))
    return keys


def _duplicate_of(seen: dict[IdentityKey, int], row_number: int,
                  keys: list[tuple[IdentityKey, str | None, str]]) -> RowRejection | None:
    """The rejection of a row naming the same person as an earlier accepted row (the first key
    that matches decides), or None when the row is new; ``seen`` maps keys to row numbers."""
    for key, column, why in keys:
        if key in seen:
            return RowRejection(row_number, column, "duplicate",
                                f"the same person as row {seen[key]} ({why}); only the first row "
                                "was used")
    return None


def _bounds(setting: str, min_size: int, coverage_start: date | str,
            coverage_end: date | str) -> tuple[date, date]:
    """Check the caller's arguments; the coverage bounds as dates."""
    if setting not in SETTINGS:
        raise InvalidArgument(f"setting must be one of {', '.join(SETTINGS)}, not {setting!r}")
    if not isinstance(min_size, int) or min_size < 1:
        raise InvalidArgument(f"min_size must be a positive integer, not {min_size!r}")
    start_bound = to_date(coverage_start, "coverage_start")
    end_bound = to_date(coverage_end, "coverage_end")
    if start_bound > end_bound:
        raise InvalidArgument(f"coverage_start ({start_bound}) is after coverage_end ({end_bound})")
    return start_bound, end_bound


def _messages(rules: _Rules, coverage_note: str) -> dict[tuple[str, str | None], str]:
    """The fixed wording, with the two messages that name this call's bounds and setting."""
    msg = dict(_MESSAGES)
    msg["outside_coverage", "intervention_start"] = (
        "intervention start date is outside the period covered by the national data "
        f"({rules.start_bound.isoformat()} to {rules.end_bound.isoformat()})"
        + (f": {coverage_note}" if coverage_note else ""))
    msg["setting_mismatch", "setting"] = (
        f"setting differs from the programme's setting ({rules.setting}); people from the other "
        "setting need a submission of their own")
    return msg


def validate_cohort(
    upload: ParsedUpload | pd.DataFrame,
    *,
    setting: str,
    coverage_start: date | str = COVERAGE_START,
    coverage_end: date | str = COVERAGE_END,
    min_size: int = DEFAULT_MIN_SIZE,
    today: date | None = None,
    coverage_note: str = "",
) -> ValidatedCohort:
    """Check every row of a parsed upload (see the package doc for the rules and choices).

    ``upload`` is what ``read_upload`` returns: its file-level warnings and misaligned CSV rows
    are reported with the rows. A bare frame with the canonical column names is also accepted
    (rows built by a program, not read from a file: no file-level facts); a frame without
    ``row_number`` is numbered as a spreadsheet would (first row = 2). ``setting`` is the
    programme's setting; ``today`` (default: the current date) bounds dates of birth.
    ``coverage_note`` says why the coverage ends where it does (national.DataWindow.note).
    Raises ``CohortTooSmall`` when fewer than ``min_size`` rows are accepted.
    """
    start_bound, end_bound = _bounds(setting, min_size, coverage_start, coverage_end)
    rules = _Rules(setting, start_bound, end_bound, today or date.today())
    if isinstance(upload, ParsedUpload):
        df, misaligned, warnings = upload.frame, set(upload.misaligned_rows), list(upload.warnings)
    else:
        df, misaligned, warnings = upload, set(), []
    missing = [c for c in UPLOAD_REQUIRED if c not in df.columns]
    if missing:
        raise MissingColumns(missing, "required column(s) missing: " + ", ".join(missing),
                             hint="name the columns as in schema.UPLOAD_REQUIRED")
    row_numbers = (df["row_number"].astype("int64").tolist() if "row_number" in df.columns
                   else list(range(2, len(df) + 2)))
    msg = _messages(rules, coverage_note)
    columns = _Columns(df)

    rejections: list[RowRejection] = []
    accepted: list[dict[str, Any]] = []
    seen: dict[IdentityKey, int] = {}       # identity key -> row number of its first accepted row
    rejected_reasons: list[set[str]] = []
    for i, rn in enumerate(row_numbers):
        warnings += columns.identifier_warnings(i, rn)
        problems = columns.row_problems(i, rules, misaligned=rn in misaligned)
        if problems:
            rejections += [RowRejection(rn, c, code, msg[code, c]) for c, code in problems]
            rejected_reasons.append({code for _, code in problems})
            continue
        row = columns.accepted_row(i, rn)
        keys = _identity_keys(row)
        duplicate = _duplicate_of(seen, rn, keys)
        if duplicate is not None:
            rejections.append(duplicate)
            rejected_reasons.append({"duplicate"})
            continue
        seen.update((k, rn) for k, _, _ in keys)
        accepted.append(row)

    by_reason = Counter(r for reasons in rejected_reasons for r in reasons)
    counts = CohortCounts(
        submitted=len(row_numbers), accepted=len(accepted), rejected=len(rejected_reasons),
        by_reason={r: by_reason[r] for r in REJECTION_REASONS if by_reason[r]},
        warnings_by_code=dict(Counter(w.code for w in warnings)),
    )
    if len(accepted) < min_size:
        raise CohortTooSmall(counts, rejections, warnings, min_size)
    return ValidatedCohort(_rows_frame(accepted), rejections, warnings, counts, setting)


def _rows_frame(accepted: list[dict[str, Any]]) -> pd.DataFrame:
    # Typed arrays built directly: one frame construction instead of a cast per column.
    data: dict[str, Any] = {}
    for c in ROW_COLUMNS:
        values = [r[c] for r in accepted]
        if c == "row_number":
            data[c] = np.asarray(values, dtype=np.int64)
        elif c in ("date_of_birth", "intervention_start", "intervention_end"):
            data[c] = np.array(values, dtype="datetime64[D]").astype("datetime64[ns]")
        else:
            data[c] = pd.array(values, dtype="string")
    return pd.DataFrame(data, columns=list(ROW_COLUMNS))


def validate_upload(
    data: bytes,
    filename: str = "",
    *,
    setting: str,
    coverage_start: date | str = COVERAGE_START,
    coverage_end: date | str = COVERAGE_END,
    min_size: int = DEFAULT_MIN_SIZE,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
    today: date | None = None,
) -> ValidatedCohort:
    """``read_upload`` then ``validate_cohort``: the whole intake check of one file."""
    upload = read_upload(data, filename, max_bytes=max_bytes, max_rows=max_rows)
    return validate_cohort(upload, setting=setting, coverage_start=coverage_start,
                           coverage_end=coverage_end, min_size=min_size, today=today)
