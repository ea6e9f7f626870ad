"""The one PDF writer: the funders' report and the receipts are documents of headings, paragraphs, tables and
charts under the association's letterhead (its name and, when configured, its logo).

Written with fpdf2 in DejaVu Sans (Debian's fonts-dejavu-core, installed with the appliance and the hub), which
has every letter of French and the euro sign. Charts are the same SVG the pages show, drawn by fpdf2 as vectors.
Text is real text: `pdftotext` reads the figures back, and so does a funder's screen reader.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import TableCellFillMode, XPos, YPos

from common.config import Association
from common.pdf_error import PdfError as PdfError  # still raised and caught as common.pdf.PdfError

FONT_FOLDER = Path("/usr/share/fonts/truetype/dejavu")
FONT = "DejaVu"
# Sizes in points; widths in millimetres (A4: 210 x 297, 15 mm margins).
BODY, SMALL, TITLE, HEADING = 10, 8, 16, 12
MARGIN = 15
LOGO_HEIGHT = 18


class Document:
    """An A4 document, page after page as content is added; `bytes()` gives the finished file.

    Every page carries the association's name and the page number at its foot, and the first page its letterhead
    (`[association]` in the config: name, address lines, logo)."""

    def __init__(self, title: str, association: Association, *, footer: str = "", created: dt.datetime | None = None):
        pdf = _Pdf(footer or association.name)
        pdf.set_title(title)
        pdf.set_author(association.name)
        pdf.set_creator("halfday")
        if created is not None:
            pdf.set_creation_date(created)
        _add_fonts(pdf)
        pdf.set_margins(MARGIN, MARGIN, MARGIN)
        pdf.set_auto_page_break(True, margin=MARGIN + 5)
        pdf.add_page()
        self._pdf = pdf
        try:
            self._letterhead(association)
        except PdfError:
            self._close_fonts()
            raise
        pdf.set_font(FONT, "B", TITLE)
        pdf.multi_cell(0, 8, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)

    def _letterhead(self, head: Association) -> None:
        pdf = self._pdf
        top = pdf.get_y()
        if head.logo is not None:
            try:
                pdf.image(str(head.logo), x=pdf.w - MARGIN - 40, y=top, h=LOGO_HEIGHT, keep_aspect_ratio=True, w=40)
            except (OSError, ValueError, RuntimeError) as exc:
                raise PdfError(f"le logo {head.logo} ne peut pas être lu : {exc}") from None
        pdf.set_font(FONT, "B", HEADING)
        pdf.cell(0, 6, head.name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FONT, "", SMALL)
        for line in head.address:
            pdf.cell(0, 4, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_y(max(pdf.get_y(), top + (LOGO_HEIGHT if head.logo is not None else 0)) + 4)

    def heading(self, text: str) -> None:
        pdf = self._pdf
        pdf.ln(2)
        pdf.set_font(FONT, "B", HEADING)
        pdf.multi_cell(0, 6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1)

    def paragraph(self, text: str, *, small: bool = False) -> None:
        pdf = self._pdf
        pdf.set_font(FONT, "", SMALL if small else BODY)
        pdf.multi_cell(0, 4 if small else 5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1)

    def table(
        self,
        header: Sequence[str],
        rows: Iterable[Sequence[object]],
        *,
        widths: Sequence[int] | None = None,
        numeric: Sequence[int] = (),
    ) -> None:
        """A table with a header row repeated on each page; the columns at `numeric` indexes are right-aligned."""
        pdf = self._pdf
        pdf.set_font(FONT, "", BODY)
        align = tuple("RIGHT" if i in numeric else "LEFT" for i in range(len(header)))
        with pdf.table(
            col_widths=tuple(widths) if widths else None,
            text_align=align,
            cell_fill_color=245,
            cell_fill_mode=TableCellFillMode.ROWS,
            line_height=5,
            first_row_as_headings=True,
        ) as table:
            table.row([str(h) for h in header])
            for row in rows:
                table.row(["" if cell is None else str(cell) for cell in row])
        pdf.ln(2)

    def svg(self, svg: str, *, width: float = 180) -> None:
        """A chart, as the page draws it (an SVG with a viewBox), `width` mm wide."""
        pdf = self._pdf
        try:
            pdf.image(io.BytesIO(svg.encode("utf-8")), x=MARGIN, w=width)
        except (ValueError, KeyError, RuntimeError) as exc:
            raise PdfError(f"le graphique ne peut pas être dessiné : {exc}") from None
        pdf.ln(2)

    def bytes(self) -> bytes:
        try:
            return bytes(self._pdf.output())
        finally:
            self._close_fonts()

    def _close_fonts(self) -> None:
        """fpdf2 reads the fonts lazily and keeps their files open until its font objects are collected: closed
        here, or a busy kiosk holds a descriptor per document until the garbage collector passes."""
        for font in self._pdf.fonts.values():
            ttfont = getattr(font, "ttfont", None)
            if ttfont is not None:
                ttfont.close()


class _Pdf(FPDF):
    def __init__(self, footer: str) -> None:
        super().__init__(format="A4")
        self._footer_text = footer

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", SMALL)
        self.cell(0, 5, f"{self._footer_text} — {self.page_no()}/{{nb}}", align="C")


def _add_fonts(pdf: FPDF) -> None:
    for style, file in (("", "DejaVuSans.ttf"), ("B", "DejaVuSans-Bold.ttf")):
        path = FONT_FOLDER / file
        if not path.is_file():
            raise PdfError(f"police absente : {path} (paquet Debian fonts-dejavu-core)")
        pdf.add_font(FONT, style, str(path))
