"""Number formatting shared by the report's text, tables and charts (one place, so they agree)."""
from __future__ import annotations

import math

from .disclosure import SUPPRESSED

MINUS = "\u2212"   # a real minus sign: typeset tables read better than with a hyphen

# decimals used for each measure's values and differences
DECIMALS = {"rate": 1, "frequency": 2, "days_to_first": 0}


def count(v: int | float | None) -> str:
    """A count of people with thousands separators; a withheld count prints as '*'."""
    if v is None:
        return SUPPRESSED
    return f"{int(round(v)):,}"


def number(v: float, decimals: int, signed: bool = False) -> str:
    """Fixed decimals; a non-zero value never prints as zero (more decimals are used instead)."""
    d = decimals
    while d < 3 and v != 0 and round(abs(v), d) == 0:
        d += 1
    if round(abs(v), d) == 0:
        d = decimals   # negligible: print as zero at the usual precision
    s = f"{abs(v):,.{d}f}"
    if v < 0 and float(s.replace(",", "")) != 0:
        return MINUS + s
    if signed and v > 0 and float(s.replace(",", "")) != 0:
        return "+" + s
    return s


def magnitude(v: float, decimals: int) -> str:
    """Absolute value, for sentences that carry the direction in words."""
    return number(abs(v), decimals)


def pct(v: float | None, decimals: int = 1) -> str:
    return SUPPRESSED if v is None else number(v, decimals) + "%"


def p_value(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "-"
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}"


def value(name: str, v: float | None, unit: str, *, withheld: bool = False) -> str:
    """A group's value of a measure: '38.3%', '1.02', '154'."""
    if v is None:
        return SUPPRESSED if withheld else "-"
    s = number(v, DECIMALS.get(name, 2))
    return s + "%" if "%" in unit else s


def smd(v: float | None, scale: float) -> str:
    """A standardised mean difference as a percentage (5% = 0.05 SD)."""
    if v is None:
        return "-"
    return number(v * scale, 1) + "%"


def ci(lo: float | None, hi: float | None, decimals: int) -> str:
    if lo is None or hi is None:
        return "-"
    return f"{number(lo, decimals)} to {number(hi, decimals)}"
