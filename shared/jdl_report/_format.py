"""Number formatting with the Justice Data Lab's rounding, shared by every printed figure (report
text, tables, charts, command line and catalogue), so they all agree.

JDL rules (methodology.md section 6): rates whole %, differences and interval bounds in whole
points, frequency 2 dp per person, days whole, p-values 2 dp with "<0.01", never "-0".
"""
from __future__ import annotations

import math

SUPPRESSED = "*"   # how a withheld cell is printed (disclosure.py re-exports it)
MINUS = "\u2212"   # a real minus sign: typeset tables read better than with a hyphen

# decimals used for each measure's values, differences and interval bounds; measures not listed
# (seriousness counts and the like, when the analysis supplies them) use FALLBACK_DECIMALS
DECIMALS = {"rate": 0, "frequency": 2, "days_to_first": 0,
            # JDL measures 4-7 (shares of people: whole %; counts per person: 2 dp) and days free
            "first_indictable": 0, "first_either_way": 0, "first_summary": 0, "first_custodial": 0,
            "reoffences_indictable": 2, "reoffences_either_way": 2, "reoffences_summary": 2,
            "custodial_sentences": 2, "days_free": 0}
FALLBACK_DECIMALS = 2
ROUNDING_NOTE = "Figures may not add up because of rounding."


def decimals(name: str) -> int:
    return DECIMALS.get(name, FALLBACK_DECIMALS)


def rounded(v: float, decimals: int) -> float:
    """``v`` rounded half away from zero (as the JDL's R code does), with -0 turned into 0."""
    q = 10 ** decimals
    r = math.floor(abs(v) * q + 0.5 + 1e-9) / q
    r = -r if v < 0 else r
    return 0.0 if r == 0 else r


def count(v: int | float | None) -> str:
    """A count of people with thousands separators; a withheld count prints as '*'."""
    if v is None:
        return SUPPRESSED
    return f"{int(round(v)):,}"


def number(v: float, decimals: int, signed: bool = False) -> str:
    """Fixed decimals, rounded half away from zero; never "-0" (a value that rounds to zero
    prints as 0, whatever its sign)."""
    r = rounded(v, decimals)
    s = f"{abs(r):,.{decimals}f}"
    if r < 0:
        return MINUS + s
    if signed and r > 0:
        return "+" + s
    return s


def magnitude(v: float, decimals: int) -> str:
    """Absolute value, for sentences that carry the direction in words."""
    return number(abs(v), decimals)


def pct(v: float | None, decimals: int = 0) -> str:
    return SUPPRESSED if v is None else number(v, decimals) + "%"


def p_value(p: float | None) -> str:
    """2 dp, "<0.01" below 0.005 (what would print as 0.00)."""
    if p is None or not math.isfinite(p):
        return "-"
    if rounded(p, 2) < 0.01:
        return "<0.01"
    return f"{rounded(p, 2):.2f}"


def value(name: str, v: float | None, unit: str, *, withheld: bool = False) -> str:
    """A group's value of a measure: '38%', '1.02', '154'."""
    if v is None:
        return SUPPRESSED if withheld else "-"
    s = number(v, decimals(name))
    return s + "%" if "%" in unit else s


def smd(v: float | None, scale: float) -> str:
    """A standardised mean difference as a percentage (5% = 0.05 SD), for the statistician's annex."""
    if v is None:
        return "-"
    return number(v * scale, 1) + "%"


def ci(lo: float | None, hi: float | None, decimals: int) -> str:
    if lo is None or hi is None:
        return "-"
    return f"{number(lo, decimals)} to {number(hi, decimals)}"


def adds_up(total: float, parts: list[float], decimals: int, printed_total_decimals: int | None = None,
            tolerance: float = 0.0) -> bool:
    """Whether the printed ``parts`` add up to the printed ``total`` (each rounded as printed)."""
    td = decimals if printed_total_decimals is None else printed_total_decimals
    s = sum(rounded(p, decimals) for p in parts)
    return abs(rounded(s, max(decimals, td)) - rounded(total, td)) <= tolerance + 1e-9


def difference_adds_up(name: str, treated: float | None, comparison: float | None,
                       difference: float | None) -> bool:
    """Whether the printed difference equals the printed treated value minus the comparison's."""
    if treated is None or comparison is None or difference is None:
        return True
    d = decimals(name)
    return abs(rounded(rounded(treated, d) - rounded(comparison, d), d) - rounded(difference, d)) < 1e-9
