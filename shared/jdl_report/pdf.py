"""The PDF report (A4, reportlab platypus) laid out from the content model and chart PNGs."""
from __future__ import annotations

import functools
import io
from typing import Any, Literal, Sequence
from xml.sax.saxutils import escape

from matplotlib import font_manager
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    Image,
    KeepTogether,
    ListFlowable,
    ListItem,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from . import charts as ch
from .content import HEADINGS, ReportContent, TableModel
from .disclosure import SUPPRESSED

__all__ = ["build_pdf", "PAGE_SIZE", "MARGINS"]

PAGE_SIZE = A4
# left, right, top, bottom: the text frame; header and footer live in the top and bottom margins
MARGINS = (18 * mm, 18 * mm, 22 * mm, 18 * mm)
FRAME_WIDTH = PAGE_SIZE[0] - MARGINS[0] - MARGINS[1]

INK = colors.HexColor(ch.INK)
SECONDARY = colors.HexColor(ch.SECONDARY)
RULE = colors.HexColor(ch.RULE)
LIGHT = colors.HexColor(ch.LIGHT)
BLUE = colors.HexColor(ch.TREATMENT)
GREEN = colors.HexColor("#00703C")
RED = colors.HexColor("#D4351C")
TONES = {"favourable": ch.TREATMENT, "unfavourable": "#D4351C", "neutral": ch.SECONDARY,
         "good": "#00703C", "acceptable": "#8F4A00", "poor": "#D4351C"}

# (face, weight, style) of the four faces registered for the report's family
_FACES: tuple[tuple[str, str, Literal["normal", "italic"]], ...] = (
    ("regular", "normal", "normal"), ("bold", "bold", "normal"),
    ("italic", "normal", "italic"), ("bolditalic", "bold", "italic"))


@functools.lru_cache(maxsize=1)
def _fonts() -> tuple[str, str, str]:
    """Register an Arial-like TrueType family (embedded, so any Latin text prints) once.

    Liberation Sans when installed, otherwise the DejaVu Sans that ships with matplotlib.
    """
    ch.register_system_fonts()
    for family in ("Liberation Sans", "DejaVu Sans"):
        try:
            paths = {}
            for key, weight, style in _FACES:
                prop = font_manager.FontProperties(family=family, weight=weight, style=style)
                path = font_manager.findfont(prop, fallback_to_default=False)
                if not path.lower().endswith(".ttf"):
                    raise ValueError(path)
                paths[key] = path
        except ValueError:
            continue
        base = "JDL" + family.replace(" ", "")
        names = {k: f"{base}-{k}" for k in paths}
        for k, path in paths.items():
            pdfmetrics.registerFont(TTFont(names[k], path))
        pdfmetrics.registerFontFamily(base, normal=names["regular"], bold=names["bold"],
                                      italic=names["italic"], boldItalic=names["bolditalic"])
        return names["regular"], names["bold"], names["italic"]
    return "Helvetica", "Helvetica-Bold", "Helvetica-Oblique"   # pragma: no cover


@functools.lru_cache(maxsize=1)
def _styles() -> dict[str, ParagraphStyle]:
    reg, bold, ital = _fonts()
    body = ParagraphStyle("body", fontName=reg, fontSize=9.1, leading=12.6, textColor=INK, spaceAfter=5)
    return {
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=7.8, leading=10, textColor=SECONDARY,
                                spaceAfter=2),
        "kicker": ParagraphStyle("kicker", parent=body, fontName=bold, fontSize=9, textColor=BLUE,
                                 spaceAfter=4),
        "title": ParagraphStyle("title", parent=body, fontName=bold, fontSize=22, leading=26,
                                spaceAfter=3),
        "subtitle": ParagraphStyle("subtitle", parent=body, fontSize=13.5, leading=17, spaceAfter=3),
        "meta": ParagraphStyle("meta", parent=body, fontSize=8.6, leading=11, textColor=SECONDARY,
                               spaceAfter=6),
        "desc": ParagraphStyle("desc", parent=body, fontName=ital, fontSize=8.8, leading=12,
                               textColor=SECONDARY, spaceAfter=8),
        "h2": ParagraphStyle("h2", parent=body, fontName=bold, fontSize=14, leading=18, spaceBefore=8,
                             spaceAfter=5, keepWithNext=1),
        "h3": ParagraphStyle("h3", parent=body, fontName=bold, fontSize=10.5, leading=14, spaceBefore=3,
                             spaceAfter=3, keepWithNext=1),
        "box": ParagraphStyle("box", parent=body, spaceAfter=3),
        "bullet": ParagraphStyle("bullet", parent=body, spaceAfter=2.5),
        "bullet_s": ParagraphStyle("bullet_s", parent=body, fontSize=8.4, leading=11, spaceAfter=2),
        "stat": ParagraphStyle("stat", parent=body, fontName=bold, fontSize=15, leading=17, spaceAfter=0),
        "stat_label": ParagraphStyle("stat_label", parent=body, fontSize=7.8, leading=9.5,
                                     textColor=SECONDARY, spaceAfter=0),
        "th": ParagraphStyle("th", parent=body, fontName=bold, fontSize=7.9, leading=9.6, spaceAfter=0),
        "th_r": ParagraphStyle("th_r", parent=body, fontName=bold, fontSize=7.9, leading=9.6,
                               spaceAfter=0, alignment=TA_RIGHT),
        "td": ParagraphStyle("td", parent=body, fontSize=8.1, leading=10, spaceAfter=0,
                             alignment=TA_LEFT),
        "td_r": ParagraphStyle("td_r", parent=body, fontSize=8.1, leading=10, spaceAfter=0,
                               alignment=TA_RIGHT),
        "caption": ParagraphStyle("caption", parent=body, fontSize=8.2, leading=11, textColor=SECONDARY,
                                  spaceAfter=9),
    }


def _p(text: str, style: str) -> Paragraph:
    return Paragraph(escape(text), _styles()[style])


def _heading(key: str) -> Paragraph:
    p = _p(HEADINGS[key], "h2")
    p._jdl_outline = HEADINGS[key]  # picked up for the PDF outline
    return p


def _bullets(items: Sequence[str], style: str = "bullet") -> ListFlowable:
    return ListFlowable([ListItem(_p(s, style), leftIndent=10, value="circle") for s in items],
                        bulletType="bullet", start="\u2022", leftIndent=10, bulletFontSize=6.5,
                        bulletColor=SECONDARY, bulletOffsetY=-1)


def _bullet_paragraphs(items: Sequence[str], style: str = "bullet") -> list[Flowable]:
    """Bullets as separate paragraphs, so a long list can break between items."""
    st = ParagraphStyle("bullet_p", parent=_styles()[style], leftIndent=10, bulletIndent=0,
                        bulletFontSize=6.5, bulletFontName=_fonts()[0])
    return [Paragraph(escape(s), st, bulletText="\u2022") for s in items]


def _boxed(flowables: list[Flowable], bar: colors.Color, background: colors.Color | None = None,
           width: float = FRAME_WIDTH) -> Table:
    """Content in a panel with a coloured bar on its left (the GOV.UK 'inset' look)."""
    t = Table([[flowables]], colWidths=[width])
    style = [("LINEBEFORE", (0, 0), (0, 0), 4, bar), ("LEFTPADDING", (0, 0), (-1, -1), 11),
             ("RIGHTPADDING", (0, 0), (-1, -1), 10), ("TOPPADDING", (0, 0), (-1, -1), 7),
             ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]
    if background is not None:
        style.append(("BACKGROUND", (0, 0), (-1, -1), background))
    t.setStyle(TableStyle(style))
    return t


def _table(tm: TableModel, footnote: str) -> list[Flowable]:
    st = _styles()
    total = sum(tm.widths)
    widths = [FRAME_WIDTH * w / total for w in tm.widths]
    header = [Paragraph(escape(c), st["th_r" if tm.numeric[j] else "th"]) for j, c in enumerate(tm.columns)]
    body = []
    for i, row in enumerate(tm.rows):
        cells = []
        for j, cell in enumerate(row):
            text = escape(cell)
            if i in tm.bold_rows:
                text = f"<b>{text}</b>"
            tone = tm.tones.get((i, j))
            if tone:
                text = f'<font color="{TONES[tone]}"><b>{text}</b></font>'
            cells.append(Paragraph(text, st["td_r" if tm.numeric[j] else "td"]))
        body.append(cells)
    t = Table([header] + body, colWidths=widths, repeatRows=1)
    style: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.9, INK),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 2.2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.4),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    for i in tm.group_starts:
        if i > 0:
            style.append(("LINEABOVE", (0, i + 1), (-1, i + 1), 0.7, SECONDARY))
    t.setStyle(TableStyle(style))
    notes: list[Flowable] = [Spacer(1, 3)]
    for note in tm.notes:
        notes.append(_p(note, "small"))
    if tm.has_suppressed:
        notes.append(_p(footnote, "small"))
    notes.append(Spacer(1, 6))
    # callers wrap short tables in KeepTogether; never nest one (its wrap forces a page break)
    return [t, *notes]


def _settings_grid(tm: TableModel) -> list[Flowable]:
    """Setting/value pairs two to a row; long values (lists, hashes) get a full-width row."""
    st = _styles()
    short = [r for r in tm.rows if len(r[1]) <= 34]
    long = [r for r in tm.rows if len(r[1]) > 34]
    w = FRAME_WIDTH
    widths = [w * 0.24, w * 0.26, w * 0.24, w * 0.26]

    def cell(text: str, bold: bool = False) -> Paragraph:
        return Paragraph(f"<b>{escape(text)}</b>" if bold else escape(text), st["td"])
    data: list[list[Any]] = []
    style: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEABOVE", (0, 0), (-1, 0), 0.9, INK),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 2.2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.4),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3)]
    for i in range(0, len(short), 2):
        pair = short[i:i + 2]
        row = [cell(pair[0][0], True), cell(pair[0][1])]
        row += [cell(pair[1][0], True), cell(pair[1][1])] if len(pair) > 1 else ["", ""]
        data.append(row)
    for name, value in long:
        data.append([cell(name, True), cell(value), "", ""])
        style.append(("SPAN", (1, len(data) - 1), (3, len(data) - 1)))
    if not data:
        return []
    t = Table(data, colWidths=widths)
    t.setStyle(TableStyle(style))
    return [t, Spacer(1, 8)]


def _profile_columns(tm: TableModel, footnote: str) -> list[Flowable]:
    """The profile as two side-by-side tables, each characteristic a block under a bold header."""
    st = _styles()
    groups: list[tuple[str, list[tuple[str, ...]]]] = []
    for row in tm.rows:
        if row[0]:
            groups.append((row[0], []))
        groups[-1][1].append(row[1:])
    total = sum(1 + len(g[1]) for g in groups)
    left: list[tuple[str, list[tuple[str, ...]]]] = []
    right: list[tuple[str, list[tuple[str, ...]]]] = []
    seen = 0
    for g in groups:   # split between whole characteristics, as evenly as possible
        (left if seen + (1 + len(g[1])) / 2 <= total / 2 else right).append(g)
        seen += 1 + len(g[1])
    gap = 10
    half = (FRAME_WIDTH - gap) / 2
    widths = [half * w for w in (0.42, 0.17, 0.16, 0.25)]

    def block(gs: list[tuple[str, list[tuple[str, ...]]]]) -> tuple[list[list[Any]], list[tuple[Any, ...]]]:
        """Rows of one half (4 cells each) and their styles, columns 0-3 (shifted later)."""
        data: list[list[Any]] = []
        style: list[tuple[Any, ...]] = []
        for name, rows in gs:
            r = len(data)
            data.append([Paragraph(f"<b>{escape(name)}</b>", st["td"]), "", "", ""])
            style += [("SPAN", (0, r), (3, r)), ("TOPPADDING", (0, r), (3, r), 5),
                      # never split the table between a heading and its first rows (a heading
                      # alone at the foot of a page)
                      ("NOSPLIT", (0, r), (3, r + min(2, len(rows))))]
            if r > 0:
                style.append(("LINEABOVE", (0, r), (3, r), 0.7, SECONDARY))
            for cells in rows:
                data.append([Paragraph(escape(x), st["td_r" if j else "td"]) for j, x in enumerate(cells)])
                style.append(("LINEBELOW", (0, len(data) - 1), (3, len(data) - 1), 0.25, RULE))
        return data, style

    def shift(style: list[tuple[Any, ...]], dc: int, dr: int) -> list[tuple[Any, ...]]:
        return [(name, (a[0] + dc, a[1] + dr), (b[0] + dc, b[1] + dr), *rest)
                for name, a, b, *rest in style]

    # one table of 9 columns (4 + a gap + 4) so that it can split across pages between rows
    ld, ls = block(left)
    rd, rs = block(right)
    n = max(len(ld), len(rd))
    ld += [["", "", "", ""]] * (n - len(ld))
    rd += [["", "", "", ""]] * (n - len(rd))
    head = [["", Paragraph("Treatment group", st["th_r"]), "", Paragraph("Comparison group", st["th_r"])],
            [Paragraph(escape(h), st["th_r" if j else "th"]) for j, h in enumerate(("Group", "Number", "%", "%"))]]
    data = [a + [""] + b for a, b in zip(head + ld, head + rd)]
    style: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("VALIGN", (0, 0), (-1, 1), "BOTTOM"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.8), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.0),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("LEFTPADDING", (4, 0), (4, -1), 0), ("RIGHTPADDING", (4, 0), (4, -1), 0)]
    for c0 in (0, 5):
        style += [("SPAN", (c0 + 1, 0), (c0 + 2, 0)), ("LINEBELOW", (c0 + 1, 0), (c0 + 2, 0), 0.4, RULE),
                  ("LINEBELOW", (c0, 1), (c0 + 3, 1), 0.9, INK)]
    style += shift(ls, 0, 2) + shift(rs, 5, 2)
    t = Table(data, colWidths=widths + [gap] + widths, repeatRows=2)
    t.setStyle(TableStyle(style))
    notes: list[Flowable] = [Spacer(1, 3)] + [_p(n, "small") for n in tm.notes]
    if tm.has_suppressed:
        notes.append(_p(footnote, "small"))
    return [t, *notes, Spacer(1, 6)]


def _can_cannot(c: ReportContent) -> Table:
    st = _styles()
    gap = 8
    half = (FRAME_WIDTH - gap) / 2

    def item(text: str | None) -> Any:
        if text is None:
            return ""
        return Paragraph(escape(text), ParagraphStyle("cc", parent=st["bullet_s"], leftIndent=9,
                                                      bulletIndent=0, bulletFontSize=6.5),
                         bulletText="\u2022")
    can, cannot = list(c.can_say), list(c.cannot_say)
    n = max(len(can), len(cannot))
    rows: list[list[Any]] = [[_heading("can_say"), "", _heading("cannot_say")]]
    for i in range(n):
        rows.append([item(can[i] if i < len(can) else None), "",
                     item(cannot[i] if i < len(cannot) else None)])
    t = Table(rows, colWidths=[half, gap, half], repeatRows=1)
    t.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBEFORE", (0, 0), (0, -1), 4, GREEN), ("LINEBEFORE", (2, 0), (2, -1), 4, RED),
        ("LEFTPADDING", (0, 0), (-1, -1), 11), ("RIGHTPADDING", (0, 0), (-1, -1), 8),
        ("LEFTPADDING", (1, 0), (1, -1), 0), ("RIGHTPADDING", (1, 0), (1, -1), 0),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("TOPPADDING", (0, 0), (-1, 0), 6), ("BOTTOMPADDING", (0, -1), (-1, -1), 6)]))
    return t


def _key_figures(c: ReportContent) -> Table:
    """The key counts as a row of large figures with small labels."""
    cells = [[_p(v, "stat"), _p(k, "stat_label")] for k, v in c.key_figures]
    t = Table([cells], colWidths=[(FRAME_WIDTH - 30) / len(cells)] * len(cells))
    t.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                           ("LINEBEFORE", (1, 0), (-1, 0), 0.4, RULE),
                           ("LEFTPADDING", (1, 0), (-1, 0), 8)]))
    return t


def _image(png: bytes, width: float = FRAME_WIDTH) -> Image:
    iw, ih = ImageReader(io.BytesIO(png)).getSize()
    return Image(io.BytesIO(png), width=width, height=width * ih / iw)


class _NumberedCanvas(rl_canvas.Canvas):
    """Defers page output so each footer can say 'Page x of y'."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._saved: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 (reportlab API)
        self._saved.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._saved)
        for state in self._saved:
            self.__dict__.update(state)
            self._draw_page_number(total)
            super().showPage()
        super().save()

    def _draw_page_number(self, total: int) -> None:
        reg = _fonts()[0]
        self.setFont(reg, 7.5)
        self.setFillColor(SECONDARY)
        self.drawRightString(PAGE_SIZE[0] - MARGINS[1], 9 * mm, f"Page {self._pageNumber} of {total}")


class _Doc(BaseDocTemplate):
    def __init__(self, buf: io.BytesIO, content: ReportContent) -> None:
        super().__init__(buf, pagesize=PAGE_SIZE, leftMargin=MARGINS[0], rightMargin=MARGINS[1],
                         topMargin=MARGINS[2], bottomMargin=MARGINS[3], title=content.title,
                         author=f"Justice Data Lab for {content.organisation}",
                         subject="One-year proven re-offending: treatment group and matched comparison group",
                         creator="jdl_report", invariant=1)
        self.content = content
        frame = Frame(self.leftMargin, self.bottomMargin, self.width, self.height, id="body",
                      leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
        self.addPageTemplates([PageTemplate(id="first", frames=[frame], onPage=self._first),
                               PageTemplate(id="later", frames=[frame], onPage=self._later)])

    def handle_pageBegin(self) -> None:  # noqa: N802 (reportlab API)
        super().handle_pageBegin()
        self._handle_nextPageTemplate("later")

    def afterFlowable(self, flowable: Flowable) -> None:  # noqa: N802 (reportlab API)
        title = getattr(flowable, "_jdl_outline", None)
        if title:
            key = f"s{len(title)}{abs(hash(title)) % 10**8}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(title, key, level=0)

    def _chrome(self, canv: rl_canvas.Canvas, running_head: bool) -> None:
        reg = _fonts()[0]
        w, h = PAGE_SIZE
        canv.saveState()
        canv.setFillColor(BLUE)
        canv.rect(0, h - 5 * mm, w, 5 * mm, stroke=0, fill=1)
        canv.setFont(reg, 7.5)
        canv.setFillColor(SECONDARY)
        if running_head:
            canv.drawString(MARGINS[0], h - 12 * mm, "Justice Data Lab: re-offending analysis")
            org = self.content.organisation
            canv.drawRightString(w - MARGINS[1], h - 12 * mm, org if len(org) < 70 else org[:67] + "...")
            canv.setStrokeColor(RULE)
            canv.setLineWidth(0.4)
            canv.line(MARGINS[0], h - 14 * mm, w - MARGINS[1], h - 14 * mm)
        canv.drawString(MARGINS[0], 9 * mm,
                        (f"Reference {self.content.submission_id}  \u00b7  " if self.content.submission_id else "")
                        + f"Prepared {self.content.prepared}"
                        f"  \u00b7  Counts below {self.content.threshold} people are withheld ({SUPPRESSED})")
        canv.restoreState()

    def _first(self, canv: rl_canvas.Canvas, _doc: BaseDocTemplate) -> None:
        self._chrome(canv, running_head=False)

    def _later(self, canv: rl_canvas.Canvas, _doc: BaseDocTemplate) -> None:
        self._chrome(canv, running_head=True)


def _section(key: str, *flowables: Flowable) -> list[Flowable]:
    """A heading kept with the first flowable after it (never nests whole sections: a long
    section in one KeepTogether jumps to the next page and leaves half a page empty)."""
    if not flowables:
        return [_heading(key)]
    return [KeepTogether([_heading(key), flowables[0]]), *flowables[1:]]


def _text_block(title: str | None, text: str, style: str = "body") -> list[Flowable]:
    out: list[Flowable] = []
    if title:
        out.append(_p(title, "h3"))
    for para in [x.strip() for x in text.split("\n") if x.strip()]:
        out.append(_p(para, style))
    return out


def _story(c: ReportContent, png: dict[str, bytes]) -> list[Flowable]:
    st = _styles()
    story: list[Flowable] = []
    # --- page 1: title, summary, overall measurements and estimates, what you can and cannot say
    story += [_p("JUSTICE DATA LAB  \u00b7  RE-OFFENDING ANALYSIS", "kicker"), _p(c.programme, "title"),
              _p(c.organisation, "subtitle"),
              _p(f"{c.setting_label} programme  \u00b7  Prepared {c.prepared}"
                 + (f"  \u00b7  Reference {c.submission_id}" if c.submission_id else ""), "meta")]
    summary: list[Flowable] = [_heading("summary"), _bullets(c.summary_facts, "box"), Spacer(1, 3),
                               Paragraph(f"<b>{escape(c.overall)}</b>", st["box"]), Spacer(1, 4),
                               _key_figures(c)]
    story += [_boxed(summary, BLUE if c.reliable else RED, LIGHT), Spacer(1, 4)]
    story += [KeepTogether([_heading("measurements"), *_table(c.headline_table, c.footnote)])]
    story += [KeepTogether([_heading("estimates"), _p(c.summary_lead, "body"),
                            _bullets(c.estimates, "bullet_s")]), Spacer(1, 4)]
    # what you can and cannot say, side by side as in published JDL reports; one row per pair of
    # bullets so the panel can continue on the next page instead of leaving page 1 half empty
    story.append(_can_cannot(c))

    # --- charts
    charts = [KeepTogether([_image(png[f"measure_{v.measure}"]), _p(v.detail, "caption")])
              for v in c.verdicts]
    story += [CondPageBreak(12 * 14), *_section("charts", _p(c.charts_text, "body"), *charts)]

    # --- the organisation's voice
    voice: list[Flowable] = []
    if c.description:
        voice.append(_p(c.description, "body"))
    if c.own_words:
        voice += [_p(f"{c.organisation} in their own words", "h3"), *_text_block(None, c.own_words)]
    if c.selection:
        voice += [_p("How people came to be on the programme", "h3"), *_text_block(None, c.selection)]
    if not voice:
        voice.append(_p("The organisation did not supply a description of the programme.", "body"))
    story += _section("own_words", *voice)
    if c.response:
        story += _section("response", *_text_block(None, c.response))

    # --- results in detail, with the sub-analyses
    detail: list[Flowable] = [_p(x, "body") for x in c.detail_text]
    detail += [_p("Statistically significant results", "h3"), _bullets(c.significant_results, "bullet_s")]
    detail += [_p("Sub-analyses", "h3"), _p(c.subgroup_text, "body")]
    if c.subgroup_table is not None:
        detail += _table(c.subgroup_table, c.footnote)
    detail += [_p(n, "small") for n in c.subgroup_notes]
    story += _section("detail", *detail)
    if c.further_table is not None:
        # the heading stays with its introduction; the table may continue on the next page
        story += _section("tables", _p(c.further_text, "body"), *_table(c.further_table, c.footnote))

    # --- profile, matching summary, attrition
    profile: list[Flowable] = [_p(c.profile_text, "body")]
    if c.profile_table is not None:
        profile += _profile_columns(c.profile_table, c.footnote)
    if c.not_included_table is not None:
        profile.append(KeepTogether([_p("People who were not included", "h3"),
                                     _p("The people submitted who could not be analysed: the "
                                        "results may not apply to them.", "body"),
                                     *_table(c.not_included_table, c.footnote)]))
    story += [CondPageBreak(12 * 12), *_section("profile", *profile)]
    story += _section("matching", _p(c.matching_text, "body"))
    # the attrition section is short: keep its heading, text, table and the table's notes (rows
    # combined, withheld) together
    story += [KeepTogether([_heading("attrition"), _p(c.attrition_text, "body"),
                            *_table(c.attrition_table, c.footnote)]),
              KeepTogether([_image(png["attrition"], FRAME_WIDTH * 0.62)])]
    items = _bullet_paragraphs(c.caveats, "bullet_s")
    story += [KeepTogether([_heading("caveats"), *items[:1]]), *items[1:]]

    # --- annex for statisticians, on its own pages
    story += [PageBreak(), _heading("annex"),
              _p("Detail for statisticians: the full balance table, the overlap of propensity scores, "
                 "the tests and the settings needed to reproduce the result.", "body")]
    balance: list[Flowable] = [_p("Balance of each characteristic", "h3"), _p(c.balance_text, "body")]
    if c.balance_table is not None:
        balance += _table(c.balance_table, c.footnote)
    story += [KeepTogether(balance[:3]), *balance[3:]]
    over: list[Flowable] = [_p("Overlap of propensity scores", "h3"), _p(c.overlap_text, "body")]
    if "overlap" in png:
        over.append(_image(png["overlap"]))
    story.append(KeepTogether(over))
    if c.tests_table is not None:
        story.append(KeepTogether([_p("Tests", "h3"), *_table(c.tests_table, c.footnote)]))
    story += [CondPageBreak(12 * 12), _p("Method, data and settings", "h3"), _p(c.method_text, "body"),
              *_settings_grid(c.method_table)]
    story += [_p("Disclosure control", "h3"), _p(c.disclosure_text, "body")]
    if c.disclosure_notes:
        story.append(_bullets(c.disclosure_notes))
    if c.warnings:
        warn = _bullet_paragraphs(c.warnings)
        story += [KeepTogether([_p("Warnings from the analysis", "h3"), *warn[:1]]), *warn[1:]]
    return story


def build_pdf(content: ReportContent, png: dict[str, bytes]) -> bytes:
    """The PDF bytes of a report from its content and chart PNGs (keys as made by render)."""
    buf = io.BytesIO()
    doc = _Doc(buf, content)
    doc.build(_story(content, png), canvasmaker=_NumberedCanvas)
    return buf.getvalue()
