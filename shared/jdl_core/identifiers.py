"""Identifier validation: PNC IDs (with check letters) and prison numbers."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import JdlError

CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"
# Accepts long (YYYY/NNNNNNNC) and short (YY/NNNNNNC, serial without leading zeros) forms,
# with or without the slash, any case, surrounding spaces ignored.
_PNC_RE = re.compile(r"^\s*(\d{2}|\d{4})\s*/?\s*(\d{1,7})\s*([A-Za-z])\s*$")
_PRISON_RE = re.compile(r"^[A-Z]\d{4}[A-Z]{2}$")


class InvalidIdentifier(JdlError):
    code = "invalid_identifier"


def pnc_check_letter(year: int, serial: int) -> str:
    """Check letter for a PNC ID: CHECK_LETTERS[int(YY + 7-digit serial) % 23]."""
    return CHECK_LETTERS[int(f"{year % 100:02d}{serial:07d}") % 23]


def format_pnc(year: int, serial: int) -> str:
    """Canonical long form ``YYYY/NNNNNNNC``."""
    return f"{year:04d}/{serial:07d}{pnc_check_letter(year, serial)}"


@dataclass(frozen=True)
class PncId:
    year: int
    serial: int
    check: str

    def __str__(self) -> str:
        return f"{self.year:04d}/{self.serial:07d}{self.check}"


def _expand_year(yy: int) -> int:
    # PNC IDs exist from the 1960s onwards; two-digit years above 30 are 19xx.
    return 1900 + yy if yy > 30 else 2000 + yy


def parse_pnc(value: str) -> PncId:
    """Parse and verify a PNC ID; raise InvalidIdentifier saying why (without echoing it)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidIdentifier("PNC ID is empty")
    m = _PNC_RE.match(value)
    if not m:
        raise InvalidIdentifier(
            "PNC ID is not in the form YYYY/NNNNNNNC or YY/NNNNNNC (year, serial, check letter)"
        )
    y, s, c = m.groups()
    year = int(y) if len(y) == 4 else _expand_year(int(y))
    serial = int(s)
    check = c.upper()
    expected = pnc_check_letter(year, serial)
    if check != expected:
        raise InvalidIdentifier("PNC ID check letter does not match its year and serial number")
    return PncId(year, serial, check)


def canonical_pnc(value: str) -> str:
    """Canonical long form of a valid PNC ID (raises InvalidIdentifier otherwise)."""
    return str(parse_pnc(value))


def is_valid_pnc(value: object) -> bool:
    try:
        parse_pnc(value)  # type: ignore[arg-type]
        return True
    except InvalidIdentifier:
        return False


def canonical_prison_number(value: str) -> str:
    """Upper-cased, space-stripped prison number matching ``A1234BC``."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidIdentifier("prison number is empty")
    v = re.sub(r"\s+", "", value).upper()
    if not _PRISON_RE.match(v):
        raise InvalidIdentifier("prison number is not in the form A1234BC (letter, 4 digits, 2 letters)")
    return v


def is_valid_prison_number(value: object) -> bool:
    try:
        canonical_prison_number(value)  # type: ignore[arg-type]
        return True
    except InvalidIdentifier:
        return False
