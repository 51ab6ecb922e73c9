"""Bounds for laying out a PDF's pages with pdfminer: characters per page, time, box grouping.

pdfminer lays out every character it is given. While pages are read one at a time, the
characters drawn on a page are counted and the file's deadline is checked; and a page whose
text falls into very many boxes is ordered without pdfminer's pairwise box grouping (its
cost grows with the square of the boxes). Decompressed sizes: knowledge.parsers.pdf_streams.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pdfminer.converter import PDFPageAggregator
from pdfminer.layout import LAParams, LTPage, LTTextGroup, LTTextGroupLRTB
from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pdfminer.utils import apply_matrix_rect

from knowledge.limits import Budget

_MAX_GROUPED_BOXES = 400  # pdfminer's hierarchical grouping keeps every pair of boxes in a heap
_CHECK_EVERY = 4096  # characters between two deadline checks


class _BoundedPage(LTPage):
    def group_textboxes(self, laparams: LAParams, boxes: Any) -> list[LTTextGroup]:
        if len(boxes) <= _MAX_GROUPED_BOXES:
            return super().group_textboxes(laparams, boxes)
        return [LTTextGroupLRTB(list(boxes))]  # top-left to bottom-right, no pairwise merging


class _BoundedAggregator(PDFPageAggregator):
    """Collects a page's layout; stops at the page's character limit or the file's deadline."""

    def __init__(self, resources: PDFResourceManager, laparams: LAParams, budget: Budget) -> None:
        super().__init__(resources, laparams=laparams)
        self._budget = budget
        self._chars = 0

    def begin_page(self, page: PDFPage, ctm: Any) -> None:
        (x0, y0, x1, y1) = apply_matrix_rect(ctm, page.mediabox)
        self.cur_item = _BoundedPage(self.pageno, (0, 0, abs(x0 - x1), abs(y0 - y1)))
        self._chars = 0

    def render_char(self, *args: Any, **kwargs: Any) -> float:
        self._chars += 1
        limit = self._budget.limits.max_page_chars
        if self._chars > limit:
            page = self.pageno  # counted from 1, moved on when the page ends
            what = f"{page} ページの文字数", f"the text of page {page}"
            raise self._budget.exceeded(*what, f"{limit:,} characters")
        if self._chars % _CHECK_EVERY == 0:
            self._budget.check()
        return super().render_char(*args, **kwargs)


def bounded_pages(document: PDFDocument, budget: Budget) -> Iterator[LTPage]:
    """The laid-out pages of ``document``, one at a time, within the budget."""
    resources = PDFResourceManager(caching=True)
    device = _BoundedAggregator(resources, LAParams(), budget)
    interpreter = PDFPageInterpreter(resources, device)
    for page in PDFPage.create_pages(document):
        budget.check()
        interpreter.process_page(page)
        yield device.get_result()

