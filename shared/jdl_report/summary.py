"""The periodic summary of published reports (HTML and PDF), as the JDL publishes each quarter:
a table of every report published in the period and forest plots to the JDL's specification.

Forest plot (methodology.md section 7): x = effect on the one-year proven re-offending rate,
-40 to +40 percentage points; y = treatment-group size (log scale, so 60 and 2,000 both read);
a horizontal bar for each confidence interval; colour by significance (reduction, increase, not
significant); variants all / significant / not significant. Each point carries its row number in
the table, so labels are short, readable and unique however many programmes share a name.
"""
from __future__ import annotations

import functools
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Literal, Sequence

import matplotlib
from matplotlib.figure import Figure

from jdl_core.errors import InvalidArgument, JdlError

from . import _format as fmt
from . import charts
from .catalogue import CatalogueEntry

__all__ = ["Period", "parse_period", "EmptyPeriod", "SummaryRow", "summary_rows", "forest_figure",
           "summary_forest_png", "summary_html", "summary_pdf", "VARIANTS", "X_LIMIT"]

X_LIMIT = 40.0
Variant = Literal["all", "significant", "not_significant"]
VARIANTS: tuple[Variant, ...] = ("all", "significant", "not_significant")
VARIANT_TITLES = {"all": "All published results", "significant": "Statistically significant results",
                  "not_significant": "Results that are not statistically significant"}


class EmptyPeriod(JdlError):
    """No report was published in the period: there is nothing to summarise."""
    code = "empty_period"


@dataclass(frozen=True)
class Period:
    label: str          # "2026 Q4"
    start: date         # first day, inclusive
    end: date           # last day, inclusive

    def contains(self, t: datetime) -> bool:
        return self.start <= t.astimezone(timezone.utc).date() <= self.end

    @property
    def span(self) -> str:
        return f"{self.start:%-d %B %Y} to {self.end:%-d %B %Y}"


def _month_end(y: int, m: int) -> date:
    import calendar

    return date(y, m, calendar.monthrange(y, m)[1])


def parse_period(text: str) -> Period:
    """``2026Q4`` (quarter), ``2026-11`` (month) or ``2026`` (year)."""
    s = (text or "").strip().upper().replace(" ", "")
    if m := re.fullmatch(r"(\d{4})-?Q([1-4])", s):
        y, q = int(m[1]), int(m[2])
        return Period(f"{y} Q{q}", date(y, 3 * q - 2, 1), _month_end(y, 3 * q))
    if m := re.fullmatch(r"(\d{4})-(\d{2})", s):
        y, mo = int(m[1]), int(m[2])
        if 1 <= mo <= 12:
            return Period(f"{date(y, mo, 1):%B %Y}", date(y, mo, 1), _month_end(y, mo))
    if m := re.fullmatch(r"(\d{4})", s):
        y = int(m[1])
        return Period(str(y), date(y, 1, 1), date(y, 12, 31))
    shown = (text or "")[:20]
    raise InvalidArgument(f"period {shown!r} is not understood; use a quarter (2026Q4), a month "
                          f"(2026-11) or a year (2026)")


@dataclass(frozen=True)
class SummaryRow:
    number: int
    entry: CatalogueEntry

    @property
    def estimated(self) -> bool:
        return self.entry.rate_difference is not None

    @property
    def tone(self) -> str:
        e = self.entry
        if not self.estimated or not e.significant:
            return "neutral"
        return "favourable" if (e.rate_difference or 0) < 0 else "unfavourable"

    def cells(self) -> dict[str, str]:
        e = self.entry
        rate = functools.partial(fmt.value, "rate", withheld=self.estimated)
        return {
            "no": str(self.number), "organisation": e.organisation, "programme": e.programme,
            "setting": (e.setting or "-").capitalize(), "published": f"{e.published_at:%-d %b %Y}",
            "n_treated": fmt.count(e.n_treated), "n_comparison": fmt.count(e.n_comparison),
            "rate_treated": rate(e.rate_treated, "%"), "rate_comparison": rate(e.rate_comparison, "%"),
            "difference": "-" if e.rate_difference is None else fmt.number(e.rate_difference, 0, signed=True),
            "ci": fmt.ci(e.ci_low, e.ci_high, 0), "p": fmt.p_value(e.p_value),
            "verdict": e.verdict or "-",
        }


def summary_rows(entries: Sequence[CatalogueEntry], period: Period) -> list[SummaryRow]:
    """Reports published in the period, numbered in a stable order (organisation, programme,
    date, id). Raises EmptyPeriod when there is none."""
    for i, e in enumerate(entries):
        if not isinstance(e, CatalogueEntry):
            raise InvalidArgument(f"entries[{i}]: expected a CatalogueEntry, got {type(e).__name__}")
    inside = sorted((e for e in entries if period.contains(e.published_at)),
                    key=lambda e: (e.organisation.lower(), e.programme.lower(), e.published_at,
                                   e.submission_id))
    if not inside:
        raise EmptyPeriod(f"no report was published in {period.label} ({period.span}); there is "
                          f"nothing to summarise, so no summary was produced")
    return [SummaryRow(i, e) for i, e in enumerate(inside, start=1)]


def _select(rows: Sequence[SummaryRow], variant: Variant) -> list[SummaryRow]:
    est = [r for r in rows if r.estimated and r.entry.n_treated]
    if variant == "significant":
        return [r for r in est if r.entry.significant]
    if variant == "not_significant":
        return [r for r in est if not r.entry.significant]
    return est


_COLOURS = {"favourable": charts.FAVOURABLE, "unfavourable": charts.UNFAVOURABLE,
            "neutral": charts.NEUTRAL}
_TONE_LABELS = {"favourable": "Significant reduction", "unfavourable": "Significant increase",
                "neutral": "Not significant"}


def forest_figure(rows: Sequence[SummaryRow], variant: Variant = "all", *,
                  confidence: str = "95%") -> Figure:
    """The forest plot as a matplotlib Figure (tests read its axes; ``summary_forest_png`` draws it)."""
    chosen = _select(rows, variant)
    with matplotlib.rc_context(charts._rc()):
        fig = Figure(figsize=(charts.WIDTH_IN + 0.6, 4.6))
        ax = fig.add_axes((0.11, 0.14, 0.86, 0.72))
        fig.text(0.11, 0.95, f"{VARIANT_TITLES[variant]} ({len(chosen)})", fontsize=9.5,
                 fontweight="bold", ha="left", va="bottom", gid="title")
        fig.text(0.97, 0.95, "Numbers by the points are the row numbers of the table", fontsize=6.5,
                 color=charts.SECONDARY, ha="right", va="bottom")
        ax.set_xlim(-X_LIMIT, X_LIMIT)
        ax.set_xlabel("Effect on the one-year proven re-offending rate (percentage points, "
                      f"{confidence} confidence interval)", fontsize=8)
        ax.set_ylabel("Treatment group size (people, log scale)", fontsize=8)
        ax.axvline(0, color=charts.SECONDARY, lw=0.9)
        ax.grid(axis="x", color=charts.RULE, lw=0.4)
        ax.tick_params(labelsize=7.5)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.text(0.01, 1.01, "\u2190 fewer re-offended", transform=ax.transAxes, fontsize=7,
                color=charts.SECONDARY, ha="left", va="bottom")
        ax.text(0.99, 1.01, "more re-offended \u2192", transform=ax.transAxes, fontsize=7,
                color=charts.SECONDARY, ha="right", va="bottom")
        if not chosen:
            ax.set_yscale("log")
            ax.set_ylim(50, 5000)
            _size_ticks(ax, 50, 5000)
            ax.text(0.5, 0.5, "No results in this group for the period", transform=ax.transAxes,
                    ha="center", va="center", color=charts.SECONDARY, fontsize=9)
            return fig
        sizes = [int(r.entry.n_treated or 0) for r in chosen]
        ax.set_yscale("log")
        lo, hi = min(sizes) / 1.35, max(sizes) * 1.35
        if hi / lo < 10:            # at least a decade, so the log scale reads as one
            mid = (lo * hi) ** 0.5
            lo, hi = mid / 10 ** 0.5, mid * 10 ** 0.5
        ax.set_ylim(lo, hi)
        _size_ticks(ax, lo, hi)
        seen_tones = set()
        points: list[tuple[int, float, float]] = []
        for r in chosen:
            e, y = r.entry, float(r.entry.n_treated or 0)
            colour = _COLOURS[r.tone]
            seen_tones.add(r.tone)
            diff = e.rate_difference
            assert diff is not None, "_select keeps estimated rows only"
            lo = max(e.ci_low if e.ci_low is not None else diff, -X_LIMIT)
            hi = min(e.ci_high if e.ci_high is not None else diff, X_LIMIT)
            ax.plot([lo, hi], [y, y], color=colour, lw=1.4, solid_capstyle="butt")
            # an interval running off the scale ends in an arrow head
            if e.ci_low is not None and e.ci_low < -X_LIMIT:
                ax.plot([-X_LIMIT], [y], "<", color=colour, ms=4)
            if e.ci_high is not None and e.ci_high > X_LIMIT:
                ax.plot([X_LIMIT], [y], ">", color=colour, ms=4)
            x = min(max(e.rate_difference or 0.0, -X_LIMIT), X_LIMIT)
            sig = r.tone != "neutral"
            ax.plot([x], [y], "s" if sig else "o", color=colour, ms=4.5, mfc=colour if sig else "white",
                    mew=1.1, zorder=3)
            points.append((r.number, x, y))
        omitted = _place_labels(fig, ax, points)
        handles = [matplotlib.lines.Line2D([], [], color=_COLOURS[t], marker="s" if t != "neutral" else "o",
                                           mfc=_COLOURS[t] if t != "neutral" else "white", lw=1.4, ms=4.5,
                                           label=_TONE_LABELS[t])
                   for t in ("favourable", "unfavourable", "neutral") if t in seen_tones]
        if omitted:
            fig.text(0.97, 0.925, f"{omitted} label(s) left off where points crowd; every row is in the "
                     "table", fontsize=6.5, color=charts.SECONDARY, ha="right", va="bottom")
        fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=7, frameon=False,
                   bbox_to_anchor=(0.5, 0.0))
        return fig


_NICE_SIZES = tuple(m * 10 ** e for e in range(1, 7) for m in (1, 2, 5))


def _size_ticks(ax: "matplotlib.axes.Axes", lo: float, hi: float) -> None:
    """Group sizes at 1-2-5 steps, written in full (no powers of ten, no unlabelled minor ticks)."""
    from matplotlib.ticker import NullFormatter, NullLocator

    ticks = [v for v in _NICE_SIZES if lo <= v <= hi]
    ax.set_yticks(ticks, [f"{v:,}" for v in ticks])
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_formatter(NullFormatter())


_LABEL_PT = 6.0
# where a label may go relative to its point (points): above, below, right, left
_OFFSETS = ((0.0, 4.0, "center", "bottom"), (0.0, -4.0, "center", "top"),
            (5.0, 0.0, "left", "center"), (-5.0, 0.0, "right", "center"))


def _place_labels(fig: Figure, ax: "matplotlib.axes.Axes", points: list[tuple[int, float, float]]) -> int:
    """Put each point's number where it overlaps no label already placed (greedy, in the order of
    the table); a label that fits nowhere is left off (the table still has the row). Returns how
    many were left off."""
    scale = fig.dpi / 72.0
    placed: list[tuple[float, float, float, float]] = []
    omitted = 0
    for number, x, y in points:
        px, py = ax.transData.transform((x, y))
        w, h = len(str(number)) * _LABEL_PT * 0.62 * scale, _LABEL_PT * 1.1 * scale
        for dx, dy, ha, va in _OFFSETS:
            cx = px + dx * scale - {"center": w / 2, "left": 0.0, "right": w}[ha]
            cy = py + dy * scale - {"bottom": 0.0, "top": h, "center": h / 2}[va]
            box = (cx, cy, cx + w, cy + h)
            if all(box[2] <= b[0] or box[0] >= b[2] or box[3] <= b[1] or box[1] >= b[3] for b in placed):
                placed.append(box)
                ax.annotate(str(number), (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha,
                            va=va, fontsize=_LABEL_PT, color=charts.INK, gid="label")
                break
        else:
            omitted += 1
    return omitted


def summary_forest_png(rows: Sequence[SummaryRow], variant: Variant = "all") -> bytes:
    return charts._png(forest_figure(rows, variant))


# ------------------------------------------------------------------------------------------
# HTML and PDF
# ------------------------------------------------------------------------------------------

COLUMNS = [("no", "No."), ("organisation", "Organisation"), ("programme", "Programme"),
           ("setting", "Setting"), ("n_treated", "Treatment group"), ("n_comparison", "Comparison group"),
           ("rate_treated", "Re-offending rate, treatment"), ("rate_comparison", "Re-offending rate, comparison"),
           ("difference", "Difference (points)"), ("ci", "Confidence interval (points)"), ("p", "p-value"),
           ("verdict", "Result")]


def _key_findings(rows: Sequence[SummaryRow], period: Period, counts: dict[str, int] | None) -> list[str]:
    n = len(rows)
    est = [r for r in rows if r.estimated]
    red = sum(r.tone == "favourable" for r in est)
    inc = sum(r.tone == "unfavourable" for r in est)
    ns = len(est) - red - inc
    people = sum(r.entry.n_treated or 0 for r in rows)

    def many(k: int, one: str, more: str) -> str:
        return f"{k:,} {one if k == 1 else more}"

    out = [f"{many(n, 'report was', 'reports were')} published in {period.label}, covering "
           f"{many(people, 'person', 'people')} who took part in the programmes.",
           f"{many(red, 'showed', 'showed')} a statistically significant reduction in the one-year proven "
           f"re-offending rate, {inc:,} a statistically significant increase, and {ns:,} no "
           f"statistically significant difference (more people would need to be analysed to "
           f"determine the direction of the effect)."]
    if len(est) < n:
        out.append(f"{many(n - len(est), 'report does', 'reports do')} not give an estimate of the rate.")
    if counts:
        out.append(f"In the period {many(counts.get('withdrawn', 0), 'request was', 'requests were')} "
                   f"withdrawn by the organisation before publication and "
                   f"{many(counts.get('refused', 0), 'was', 'were')} refused (counted without detail).")
    return out


@functools.lru_cache(maxsize=1)
def _html_env():
    import jinja2

    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True).from_string(_HTML)


def _rounding_note(rows: Sequence[SummaryRow]) -> str:
    """The JDL's rounding note when a printed difference is not the printed rates' difference."""
    adds_up = all(fmt.difference_adds_up("rate", r.entry.rate_treated, r.entry.rate_comparison,
                                         r.entry.rate_difference) for r in rows)
    return "" if adds_up else fmt.ROUNDING_NOTE


def summary_html(entries: Sequence[CatalogueEntry], period: Period, *,
                 counts: dict[str, int] | None = None) -> str:
    """The summary as one self-contained HTML page (plots embedded)."""
    import base64

    rows = summary_rows(entries, period)
    plots = [(VARIANT_TITLES[v], "data:image/png;base64," + base64.b64encode(summary_forest_png(rows, v)).decode())
             for v in VARIANTS]
    return _html_env().render(period=period, findings=_key_findings(rows, period, counts),
                              columns=COLUMNS, rows=[(r.tone, r.cells(), r.entry.links) for r in rows],
                              plots=plots, note=_rounding_note(rows))


def summary_pdf(entries: Sequence[CatalogueEntry], period: Period, *,
                counts: dict[str, int] | None = None) -> bytes:
    """The summary as an A4 landscape PDF: key findings, the table, the three forest plots."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        Image,
        KeepTogether,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Table,
        TableStyle,
    )

    rows = summary_rows(entries, period)
    body = ParagraphStyle("body", fontName="Helvetica", fontSize=9.5, leading=12.5, spaceAfter=4)
    cell = ParagraphStyle("cell", fontName="Helvetica", fontSize=7, leading=8.4)
    head = ParagraphStyle("head", parent=cell, fontName="Helvetica-Bold")
    h1 = ParagraphStyle("h1", fontName="Helvetica-Bold", fontSize=17, leading=21, spaceAfter=6)
    h2 = ParagraphStyle("h2", fontName="Helvetica-Bold", fontSize=12, leading=15, spaceBefore=8, spaceAfter=4)

    def p(text: str, style: ParagraphStyle) -> Paragraph:
        # every text is escaped: names come from organisations
        return Paragraph(escape(text.replace(fmt.MINUS, "-")), style)

    story: list = [p(f"Justice Data Lab: summary of results published in {period.label}", h1),
                   p(period.span, body), p("Key findings", h2)]
    story += [p("\u2022 " + f, body) for f in _key_findings(rows, period, counts)]
    story.append(p("Results", h2))
    data = [[p(label, head) for _k, label in COLUMNS]]
    styles = [("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
              ("VALIGN", (0, 0), (-1, -1), "TOP"),
              ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor(charts.RULE))]
    for i, r in enumerate(rows, start=1):
        c = r.cells()
        data.append([p(c[k], cell) for k, _l in COLUMNS])
        if r.tone != "neutral":
            styles.append(("TEXTCOLOR", (-1, i), (-1, i), colors.HexColor(_COLOURS[r.tone])))
    widths = [9, 42, 46, 17, 18, 20, 20, 20, 17, 26, 14, 0]
    page_w = landscape(A4)[0] - 24 * mm
    widths[-1] = page_w / mm - sum(widths)
    table = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
    table.setStyle(TableStyle(styles))
    story.append(table)
    if note := _rounding_note(rows):
        story.append(p(note, cell))
    # one plot per page, as large as the page allows (the labels stay readable)
    for i, v in enumerate(VARIANTS):
        png = summary_forest_png(rows, v)
        img = Image(io.BytesIO(png), width=230 * mm, height=230 * mm * 4.6 / (charts.WIDTH_IN + 0.6))
        story += [PageBreak(), KeepTogether([p(f"Forest plot {i + 1} of {len(VARIANTS)}: "
                                              f"{VARIANT_TITLES[v].lower()}", h2), img])]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm,
                            topMargin=12 * mm, bottomMargin=12 * mm,
                            title=f"Justice Data Lab summary {period.label}", author="Justice Data Lab")
    doc.build(story)
    return buf.getvalue()


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Justice Data Lab: results published in {{ period.label }}</title>
<style>
 body{font-family:Arial,Helvetica,sans-serif;max-width:80rem;margin:2rem auto;padding:0 1rem;color:#0b0c0c}
 h1{font-size:1.8rem;border-bottom:6px solid #1d70b8;padding-bottom:.4rem}
 table{border-collapse:collapse;font-size:.85rem}th,td{border-bottom:1px solid #b1b4b6;padding:.25rem .4rem;text-align:left;vertical-align:top}
 td.num{text-align:right;white-space:nowrap}.favourable{color:#12436d;font-weight:bold}.unfavourable{color:#d4351c;font-weight:bold}
 img{max-width:100%;height:auto}nav a{margin-right:1rem}
</style></head><body>
<nav><a href="/">Submit</a><a href="/status">Status</a><a href="/catalogue">Published reports</a><a href="/summaries">Summaries</a></nav>
<h1>Justice Data Lab: summary of results published in {{ period.label }}</h1>
<p>{{ period.span }}</p>
<h2>Key findings</h2>
<ul id="findings">{% for f in findings %}<li>{{ f }}</li>{% endfor %}</ul>
<h2>Results</h2>
<table id="summary-table"><thead><tr>{% for _k, label in columns %}<th scope="col">{{ label }}</th>{% endfor %}</tr></thead>
<tbody>
{% for tone, c, links in rows %}<tr>{% for k, _l in columns %}{% if k == 'verdict' %}<td class="{{ tone }}">{{ c[k] }}</td>{% elif k in ('organisation', 'programme', 'setting') %}<td>{{ c[k] }}</td>{% else %}<td class="num">{{ c[k] }}</td>{% endif %}{% endfor %}</tr>
{% endfor %}</tbody></table>
{% if note %}<p class="note" id="rounding-note">{{ note }}</p>{% endif %}
<h2>Forest plots</h2>
{% for title, src in plots %}<figure><img src="{{ src }}" alt="Forest plot: {{ title }}"><figcaption>{{ title }}</figcaption></figure>
{% endfor %}
</body></html>
"""
