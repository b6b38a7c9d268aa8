"""PDF pages in Chinese with fpdf2: the CJK font from ``service.fonts`` is embedded (subset) so every viewer
shows the same glyphs, with nothing expected on the reader's machine."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from service.fonts import _face_index, find_cjk_font

FAMILY = "cjk"
INK = (33, 37, 41)
MUTED = (108, 117, 125)
ACCENT = (192, 57, 43)
HEAD_FILL = (245, 230, 228)


class ReportPDF(FPDF):
    """A4 with the CJK font, a running footer (title · page n/N) and helpers for headings, facts and tables."""

    def __init__(self, title: str, *, orientation: str = "P", font_path: str | Path | None = None):
        super().__init__(orientation=orientation, unit="mm", format="A4")
        path = find_cjk_font(font_path)
        # A .ttc holds several faces: take the Simplified Chinese one (as the overlays do).
        self.add_font(FAMILY, "", str(path), collection_font_number=_face_index(path))
        self.report_title = title
        self.set_title(title)
        self.set_creator("firelane")
        self.set_lang("zh-CN")
        self.set_auto_page_break(True, margin=16)
        self.set_margins(14, 14, 14)
        self.alias_nb_pages()
        self.add_page()

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(FAMILY, size=8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"{self.report_title} · 第 {self.page_no()}/{{nb}} 页 · firelane", align="C")
        self.set_text_color(*INK)

    def title_block(self, title: str, subtitle: str) -> None:
        self.set_font(FAMILY, size=20)
        self.set_text_color(*ACCENT)
        self.multi_cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
        self.set_font(FAMILY, size=10)
        self.set_text_color(*MUTED)
        self.multi_cell(0, 5.5, subtitle, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(*INK)
        self.ln(3)

    def heading(self, text: str) -> None:
        if self.get_y() > self.h - 40:
            self.add_page()
        self.ln(2)
        self.set_font(FAMILY, size=13)
        self.set_text_color(*ACCENT)
        self.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(*ACCENT)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.set_text_color(*INK)
        self.ln(2)

    def note(self, text: str) -> None:
        self.set_font(FAMILY, size=9)
        self.set_text_color(*MUTED)
        self.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(*INK)

    def facts(self, pairs: Sequence[tuple[str, str]], columns: int = 2) -> None:
        """Label/value pairs in a grid of ``columns`` pairs per row."""
        rows = [pairs[i:i + columns] for i in range(0, len(pairs), columns)]
        widths = []
        for _ in range(columns):
            widths += [1, 1]
        self.table([[cell for pair in row for cell in pair] + [""] * (2 * columns - 2 * len(row)) for row in rows],
                   widths=widths, heading=False, size=10)

    def table(self, rows: Sequence[Sequence[str]], *, widths: Sequence[float] | None = None,
              heading: bool = True, size: float = 9, align: str = "LEFT") -> None:
        if not rows:
            return
        self.set_font(FAMILY, size=size)
        self.set_draw_color(200, 200, 200)
        style = FontFace(emphasis=None, fill_color=HEAD_FILL, color=INK)
        with super().table(col_widths=tuple(widths) if widths else None, first_row_as_headings=heading,
                           headings_style=style, line_height=size * 0.55, text_align=align,
                           padding=1.2) as table:
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(str(value))
        self.ln(2)

    def picture(self, png: bytes, width: float | None = None) -> None:
        """A PNG (a chart) at the full text width, moved to a new page when it does not fit."""
        from PIL import Image

        width = width or (self.w - self.l_margin - self.r_margin)
        with Image.open(io.BytesIO(png)) as image:
            height = width * image.height / image.width
        if self.get_y() + height > self.h - self.b_margin:
            self.add_page()
        self.image(io.BytesIO(png), x=self.l_margin, w=width)
        self.ln(2)

    def to_bytes(self) -> bytes:
        return bytes(self.output())
