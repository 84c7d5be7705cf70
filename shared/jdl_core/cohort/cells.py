"""Cell parsers: a cell as text, formula detection, UK dates, sex and setting words, names and
their linkage keys, identifiers. Each takes one cell's text and never keeps it."""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta
from typing import Any, Callable, Final

import numpy as np
import pandas as pd

from ..errors import InvalidArgument
from ..identifiers import InvalidIdentifier


def cell_text(value: Any) -> str:
    """A cell as text: dates as YYYY-MM-DD, whole numbers without '.0', blanks as ''."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return ""
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = getattr(value, "text", None)      # openpyxl ArrayFormula / DataTableFormula
    if isinstance(text, str):
        return text if text.startswith("=") else "=" + text
    return str(value)


# The first characters of a cell that can be (or hide) a formula: a cheap filter before the test.
FORMULA_LEAD: Final = frozenset("=@+-\t\r\n ")
_PLAIN_NUMBER = re.compile(r"[+-]\s*\d+(?:[.,]\d+)?")


def looks_like_formula(value: str) -> bool:
    """Whether a cell's text would be taken as a formula by a spreadsheet (CSV/formula injection).

    Leading whitespace, tab and CR are skipped first: they are a known way to hide a formula.
    """
    s = value.lstrip(" \t\r\n")
    if not s:
        return False
    if s[0] in "=@":
        return True
    if s[0] in "+-":
        # "+44..." or "-5" are numbers; "-2+3+cmd|' /C calc'!A0" or "+SUM(A1)" are not.
        return len(s) > 1 and not _PLAIN_NUMBER.fullmatch(s)
    return False


MISSING_TOKENS: Final = frozenset({"", "n/a", "na", "n.a.", "null", "none", "nil", "unknown",
                                   "not known", "-", "--", "?", "#n/a"})
_MONTHS: Final = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
_ISO_DATE = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})" + _TIME)
_DMY_DATE = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})" + _TIME)
_DMONY_DATE = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?[-\s/]+([A-Za-z]{3,9})\.?[-\s/,]+(\d{4})")
_EXCEL_SERIAL = re.compile(r"(\d{5})(?:\.\d+)?")
_EXCEL_EPOCH: Final = date(1899, 12, 30)   # so that serial 61 is 1900-03-01, as Excel counts
_MIN_YEAR, _MAX_YEAR = 1900, 2100


def parse_date(text: str) -> date | None:
    """A UK (day-first) date from a cell's text, or None when it is not one (see module doc)."""
    s = text.strip()
    y = m = d = None
    if mt := _ISO_DATE.fullmatch(s):
        y, m, d = int(mt[1]), int(mt[3]), int(mt[4])
    elif mt := _DMY_DATE.fullmatch(s):
        d, m, y = int(mt[1]), int(mt[3]), int(mt[4])
    elif mt := _DMONY_DATE.fullmatch(s):
        month = mt[2].lower()
        m = _MONTHS.get(month[:3])
        full = ("january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december")
        if m is None or not (len(month) == 3 or month == full[m - 1] or month == "sept"):
            return None
        d, y = int(mt[1]), int(mt[3])
    elif mt := _EXCEL_SERIAL.fullmatch(s):
        try:
            result = _EXCEL_EPOCH + timedelta(days=int(mt[1]))
        except OverflowError:
            return None
        return result if result.year <= _MAX_YEAR else None
    else:
        return None
    if not _MIN_YEAR <= y <= _MAX_YEAR:
        return None
    try:
        return date(y, m, d)
    except ValueError:          # 31/02, month 13 (a month-first date), day 0...
        return None


SEX_WORDS: Final = {"m": "M", "male": "M", "man": "M", "f": "F", "female": "F", "woman": "F"}
SETTING_WORDS: Final = {
    "custody": "custody", "custodial": "custody", "prison": "custody", "in custody": "custody",
    "custodial sentence": "custody",
    "community": "community", "in the community": "community", "community order": "community",
    "community sentence": "community", "probation": "community",
}
_NAME = re.compile(r"[^\W\d_](?:[^\W\d_]|[ '’‘`.\-])*")
MAX_NAME = 100


_NAME_DROP = re.compile(r"['’‘`.]")


def name_key(name: str) -> str:
    """Upper-case linkage key of a name: accents folded, apostrophes and dots removed, hyphens
    and runs of spaces made one space ("O'Brien-Smyth " -> "OBRIEN SMYTH")."""
    if not name.isascii():
        name = "".join(ch for ch in unicodedata.normalize("NFKD", name)
                       if not unicodedata.combining(ch))
    return " ".join(_NAME_DROP.sub("", name).replace("-", " ").split()).upper()


def to_date(value: Any, name: str) -> date:
    if isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    if isinstance(value, str):
        d = parse_date(value)
        if d is not None:
            return d
    raise InvalidArgument(f"{name} must be a date or YYYY-MM-DD string, not {value!r}")


def is_name(text: str) -> bool:
    """Whether a name (spaces already collapsed) starts with a letter and holds only letters,
    spaces, hyphens, apostrophes and full stops, at most MAX_NAME characters."""
    return len(text) <= MAX_NAME and _NAME.fullmatch(text) is not None


def identifier_checker(
        canonical: Callable[[str], str]) -> Callable[[str], tuple[str | None, str | None]]:
    """A checker giving (canonical form, None) or (None, why it is invalid, in the wording of
    jdl_core.identifiers, which never repeats the value)."""
    def check(text: str) -> tuple[str | None, str | None]:
        try:
            return canonical(text), None
        except InvalidIdentifier as e:
            return None, e.message
    return check
