"""Report charts as PNG bytes (matplotlib, Agg canvas only): one per headline measure, the
propensity overlap plot, the attrition flow and the catalogue's forest plot.

Charts take only disclosure-controlled inputs, so nothing withheld can be drawn. They use
``matplotlib.figure.Figure`` with an Agg canvas directly, never pyplot, so rendering changes no
global matplotlib state and is safe in threads and notebooks.
"""
from __future__ import annotations

import functools
import io
import textwrap
from typing import TYPE_CHECKING, Sequence

import matplotlib
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

from . import _format as fmt
from .disclosure import DisclosedAttrition, DisclosedMeasure, DisclosedOverlap

if TYPE_CHECKING:  # pragma: no cover
    from .catalogue import CatalogueEntry
    from .content import Verdict

__all__ = ["TREATMENT", "COMPARISON", "POOL", "measure_chart", "overlap_chart", "attrition_chart",
           "forest_plot", "DPI"]

# Colours (UK Government Analysis Function palette): one meaning each, everywhere in the report
TREATMENT = "#12436D"     # dark blue: the treatment group
COMPARISON = "#F46A25"    # orange: the matched comparison group
POOL = "#8C8C8C"          # grey: all candidate comparisons
INK = "#0B0C0C"
SECONDARY = "#505A5F"
RULE = "#B1B4B6"
LIGHT = "#F3F2F1"
FAVOURABLE = "#12436D"
UNFAVOURABLE = "#D4351C"
NEUTRAL = "#505A5F"

DPI = 150
WIDTH_IN = 6.9            # fits the A4 text width of the PDF



# Where Debian's fonts-liberation puts Liberation Sans. matplotlib's font list is cached on first
# use, so a font installed after that (e.g. by `make sysdeps`) is added by path.
LIBERATION_DIR = "/usr/share/fonts/truetype/liberation"


@functools.lru_cache(maxsize=1)
def register_system_fonts() -> None:
    """Make Liberation Sans known to matplotlib even when its font cache predates the install."""
    import glob

    known = {f.fname for f in font_manager.fontManager.ttflist}
    for path in sorted(glob.glob(f"{LIBERATION_DIR}/LiberationSans-*.ttf")):
        if path not in known:
            font_manager.fontManager.addfont(path)


@functools.lru_cache(maxsize=1)
def _font_family() -> str:
    """The first installed of an Arial-like sans serif, else matplotlib's bundled DejaVu Sans.

    Resolved once, because matplotlib warns on every text draw for a listed family it lacks.
    """
    register_system_fonts()
    for name in ("Liberation Sans", "Arial", "Helvetica"):
        try:
            font_manager.findfont(font_manager.FontProperties(family=name), fallback_to_default=False)
            return name
        except ValueError:
            continue
    return "DejaVu Sans"


def _rc() -> dict:
    return {**_RC, "font.family": [_font_family()]}


_RC = {
    "font.size": 8.5,
    "axes.edgecolor": RULE,
    "axes.labelcolor": INK,
    "xtick.color": SECONDARY,
    "ytick.color": INK,
    "axes.linewidth": 0.8,
    "axes.unicode_minus": True,
}


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white",
                metadata={"Software": None})   # no version stamp: identical bytes on re-render
    return buf.getvalue()


def _clean(ax: matplotlib.axes.Axes, left: bool = False) -> None:
    for side in ("top", "right") + (() if left else ("left",)):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0)


def _tone_colour(v: "Verdict | None") -> str:
    if v is None or v.favourable is None:
        return NEUTRAL
    return FAVOURABLE if v.favourable else UNFAVOURABLE


def _message_figure(title: str, message: str) -> bytes:
    with matplotlib.rc_context(_rc()):
        lines = textwrap.wrap(message, 110)
        h = 0.5 + 0.19 * len(lines)
        fig = Figure(figsize=(WIDTH_IN, h))
        fig.text(0.01, 1 - 0.08 / h, title, fontsize=9.5, fontweight="bold", color=INK, va="top")
        fig.text(0.01, 1 - 0.36 / h, "\n".join(lines), fontsize=8.5, color=SECONDARY, va="top",
                 linespacing=1.4)
        return _png(fig)


def measure_chart(m: DisclosedMeasure, verdict: "Verdict | None" = None, threshold: int = 5,
                  level: float = 0.95) -> bytes:
    """Both groups' values (bars) and the difference with its interval (point and line)."""
    dec = fmt.decimals(m.name)
    if not m.estimable or m.withheld or m.difference is None:
        why = verdict.estimate if verdict else (m.reason or "No estimate was produced.")
        return _message_figure(m.label, why)
    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(WIDTH_IN, 1.45))
        fig.text(0.01, 0.95, m.label, fontsize=9.5, fontweight="bold", color=INK, va="top")
        # left panel: the two groups
        ax = fig.add_axes((0.2, 0.14, 0.27, 0.6))
        _clean(ax)
        labels = ["Treatment group", "Comparison group"]
        if m.treated_value is None or m.comparison_value is None:
            ax.set_axis_off()
            ax.text(0.3, 0.5, f"Values for each group withheld:\nfewer than {threshold} people "
                    "in one group\nre-offended, or did not",
                    ha="center", va="center", color=SECONDARY, fontsize=8, transform=ax.transAxes)
        else:
            vals = [m.treated_value, m.comparison_value]
            ax.barh([1, 0], vals, color=[TREATMENT, COMPARISON], height=0.62)
            top = max(max(vals), 1e-9)
            ax.set_xlim(0, top * 1.32)
            ax.set_yticks([1, 0], labels)
            ax.set_ylim(-0.55, 1.55)
            for y, v in zip([1, 0], vals):
                ax.text(v + top * 0.03, y, fmt.value(m.name, v, m.unit), va="center", fontsize=8.5,
                        color=INK)
            ax.set_xticks([])
            ax.spines["bottom"].set_visible(False)
        # right panel: the difference and its interval
        ax2 = fig.add_axes((0.56, 0.25, 0.41, 0.45))
        _clean(ax2)
        d, lo, hi = m.difference, m.ci_low, m.ci_high
        span = max(abs(x) for x in (d, lo if lo is not None else d, hi if hi is not None else d, 1e-9))
        ax2.set_xlim(-span * 1.35, span * 1.35)
        ax2.set_ylim(-1, 1)
        ax2.set_yticks([])
        ax2.axvline(0, color=SECONDARY, lw=0.9)
        colour = _tone_colour(verdict)
        if lo is not None and hi is not None:
            ax2.plot([lo, hi], [0, 0], color=colour, lw=2.2, solid_capstyle="butt")
            ax2.plot([lo, lo], [-0.28, 0.28], color=colour, lw=1.4)
            ax2.plot([hi, hi], [-0.28, 0.28], color=colour, lw=1.4)
        ax2.plot([d], [0], "o", color=colour, ms=7, mec="white", mew=1.0)
        ci_txt = (f" ({round(level * 100, 1):g}% CI {fmt.ci(lo, hi, dec)})"
                  if lo is not None and hi is not None else "")
        fig.text(0.56, 0.74, f"Difference {fmt.number(d, dec, signed=True)}{ci_txt}", fontsize=8,
                 color=INK, ha="left", va="bottom")
        ax2.tick_params(axis="x", labelsize=7.5)
        ax2.set_xlabel(m.difference_unit, fontsize=7.5, color=SECONDARY, labelpad=2)
        # which side is better, in the empty top corners of the difference panel
        better_left = m.higher_is_worse
        left_txt, right_txt = (("\u2190 favours programme", "favours comparison \u2192") if better_left
                               else ("\u2190 favours comparison", "favours programme \u2192"))
        ax2.text(0.0, 0.97, left_txt, transform=ax2.transAxes, fontsize=7, color=SECONDARY,
                 ha="left", va="top")
        ax2.text(1.0, 0.97, right_txt, transform=ax2.transAxes, fontsize=7, color=SECONDARY,
                 ha="right", va="top")
        if verdict is not None:
            fig.text(0.99, 0.95, verdict.badge, fontsize=8.5, fontweight="bold", color=colour,
                     ha="right", va="top")
        return _png(fig)


def overlap_chart(o: DisclosedOverlap) -> bytes:
    """Share of each group per unit of the logit propensity score, as step histograms."""
    edges = o.bin_edges
    widths = [b - a for a, b in zip(edges, edges[1:])]

    def density(counts: Sequence[float]) -> list[float]:
        total = sum(counts) or 1.0
        return [c / total / w if w > 0 else 0.0 for c, w in zip(counts, widths)]

    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(WIDTH_IN, 2.3))
        ax = fig.add_axes((0.08, 0.19, 0.9, 0.68))
        _clean(ax, left=True)
        ax.stairs(density(o.pool_counts), edges, color=POOL, lw=1.3, ls=(0, (4, 2)),
                  label="All candidate comparisons")
        # the matched group mirrors the treated one by design: draw it dashed and underneath, so
        # the treatment group's line stays visible where the two coincide
        ax.stairs(density(o.treated_counts), edges, color=TREATMENT, lw=0, fill=True, alpha=0.18)
        ax.stairs(density(o.matched_counts), edges, color=COMPARISON, lw=2.4, ls=(0, (3, 1.5)),
                  label="Matched comparison group (weighted)", zorder=2)
        ax.stairs(density(o.treated_counts), edges, color=TREATMENT, lw=1.3, label="Treatment group",
                  zorder=3)
        ax.set_xlabel("Propensity score (logit scale)")
        ax.set_ylabel("Share of each group")
        ax.tick_params(axis="both", labelsize=7.5)
        ax.set_ylim(bottom=0)
        ax.legend(loc="lower left", frameon=False, fontsize=7.5, ncol=3, bbox_to_anchor=(0, 1.0),
                  borderaxespad=0.2)
        if o.merged:
            fig.text(0.98, 0.015, "Sparse bins merged for disclosure control", ha="right",
                     va="bottom", fontsize=7, color=SECONDARY)
        return _png(fig)


def attrition_chart(a: DisclosedAttrition) -> bytes:
    """A flow from people submitted to people analysed, with a side box for each reason removed."""
    exits = [s for s in a.steps if s.removed != 0]
    row = 0.4
    height = 1.3 + row * max(len(exits), 1)
    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(WIDTH_IN, height))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, WIDTH_IN)
        ax.set_ylim(0, height)
        ax.set_axis_off()
        x_main, w_main = 0.35, 2.3
        cx = x_main + w_main / 2

        def box(x: float, y: float, w: float, h: float, text: str, main: bool) -> None:
            ax.add_patch(Rectangle((x, y), w, h, facecolor=TREATMENT if main else LIGHT,
                                   edgecolor=TREATMENT if main else RULE, lw=0.8))
            ax.text(x + 0.1, y + h / 2, text, va="center", ha="left", fontsize=8,
                    color="white" if main else INK, fontweight="bold" if main else "normal")

        top_y = height - 0.55
        box(x_main, top_y, w_main, 0.42, f"People submitted: {fmt.count(a.submitted)}", True)
        bottom_y = 0.13
        box(x_main, bottom_y, w_main, 0.42, f"People analysed: {fmt.count(a.analysed)}", True)
        ax.add_patch(FancyArrowPatch((cx, top_y), (cx, bottom_y + 0.42), arrowstyle="-|>",
                                     mutation_scale=10, color=SECONDARY, lw=1.0))
        x_side = x_main + w_main + 0.55
        w_side = WIDTH_IN - x_side - 0.1
        for i, s in enumerate(exits):
            y = top_y - 0.1 - row * (i + 1) + 0.05
            ax.add_patch(FancyArrowPatch((cx, y + 0.15), (x_side, y + 0.15), arrowstyle="-|>",
                                         mutation_scale=8, color=RULE, lw=0.8))
            label = textwrap.shorten(s.label, 62, placeholder="...")
            box(x_side, y, w_side, 0.3, f"{label}: {fmt.count(s.removed)}", False)
            # the running total after this removal, just below its arrow
            ax.text(cx - 0.08, y + 0.02, f"{fmt.count(s.remaining)} remaining", ha="right",
                    va="center", fontsize=7, color=SECONDARY)
        if not exits:
            ax.text(x_side, height / 2, "No one was removed.", fontsize=8, color=SECONDARY,
                    va="center")
        return _png(fig)


def forest_plot(entries: "Sequence[CatalogueEntry]") -> bytes:
    """Difference in the one-year re-offending rate with its 95% interval, one row per report."""
    rows = list(entries)
    with matplotlib.rc_context(_rc()):
        n = max(len(rows), 1)
        height = 1.05 + 0.3 * n
        fig = Figure(figsize=(WIDTH_IN + 1.2, height))
        bottom = 0.62 / height
        top = 1 - 0.3 / height
        ax = fig.add_axes((0.36, bottom, 0.4, top - bottom))
        _clean(ax)
        if not rows:
            ax.set_axis_off()
            ax.text(0.5, 0.5, "No published reports yet", ha="center", va="center", color=SECONDARY,
                    transform=ax.transAxes)
            return _png(fig)
        ys = list(range(n - 1, -1, -1))
        bounds = [abs(v) for e in rows for v in (e.rate_difference, e.ci_low, e.ci_high) if v is not None]
        span = max(bounds + [1.0]) * 1.15
        ax.set_xlim(-span, span)
        ax.set_ylim(-0.7, n - 0.3)
        ax.axvline(0, color=SECONDARY, lw=0.9)
        labels = []
        for y, e in zip(ys, rows):
            labels.append(textwrap.shorten(f"{e.organisation}: {e.programme}", 52, placeholder="..."))
            if e.rate_difference is None:
                ax.text(0, y, "not estimated", ha="center", va="center", fontsize=7.5, color=SECONDARY)
                continue
            sig = bool(e.significant)
            colour = (FAVOURABLE if e.rate_difference < 0 else UNFAVOURABLE) if sig else NEUTRAL
            if e.ci_low is not None and e.ci_high is not None:
                ax.plot([e.ci_low, e.ci_high], [y, y], color=colour, lw=1.8, solid_capstyle="butt")
            ax.plot([e.rate_difference], [y], "s" if sig else "o", color=colour, ms=6,
                    mfc=colour if sig else "white", mew=1.4)
            txt = f"{fmt.number(e.rate_difference, 1, signed=True)} ({fmt.ci(e.ci_low, e.ci_high, 1)})"
            ax.text(1.03, y, txt, transform=ax.get_yaxis_transform(), va="center", fontsize=7.5,
                    color=INK)
        ax.set_yticks(ys, labels, fontsize=7.5)
        ax.tick_params(axis="x", labelsize=7.5)
        ax.set_xlabel("Difference in one-year proven re-offending rate (percentage points)", fontsize=8)
        ax.text(0.0, 1.0 + 0.12 / (top - bottom) / height, "\u2190 fewer re-offended", transform=ax.transAxes,
                fontsize=7.5, color=SECONDARY, ha="left", va="bottom")
        ax.text(1.0, 1.0 + 0.12 / (top - bottom) / height, "more re-offended \u2192", transform=ax.transAxes,
                fontsize=7.5, color=SECONDARY, ha="right", va="bottom")
        ax.text(1.03, 1.0 + 0.12 / (top - bottom) / height, "Difference (95% CI)", transform=ax.transAxes,
                fontsize=7.5, color=INK, ha="left", va="bottom", fontweight="bold")
        return _png(fig)
