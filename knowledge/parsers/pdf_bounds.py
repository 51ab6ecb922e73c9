"""Bounds for reading a PDF with pdfminer: decompressed size, characters per page, time.

pdfminer inflates every stream in memory and lays out every character it is given, so a
small file can ask for gigabytes (a deflate bomb of text operators). Before pdfminer sees
the bytes, every zlib stream in the file is inflated once, in bounded pieces, and counted
(nested layers too); past the budget the file is refused. While pages are read, the
characters drawn on a page are counted and the file's deadline is checked; and a page whose
text falls into very many boxes is ordered without pdfminer's pairwise box grouping (its
cost grows with the square of the boxes).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import Any

from pdfminer.converter import PDFPageAggregator
from pdfminer.layout import LAParams, LTPage, LTTextGroup, LTTextGroupLRTB
from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pdfminer.pdftypes import LITERALS_FLATE_DECODE, PDFStream
from pdfminer.utils import apply_matrix_rect

from knowledge.limits import MIB, Budget, size_text

_STREAM = re.compile(rb"stream\r?\n")
_ZLIB_HEADER = frozenset({b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda"})
_IN = 64 * 1024
_OUT = MIB
_MAX_LAYERS = 4
_MAX_GROUPED_BOXES = 400  # pdfminer's hierarchical grouping keeps every pair of boxes in a heap
_CHECK_EVERY = 4096  # characters between two deadline checks


class _Over(Exception):
    pass


def check_decompressed_size(data: bytes, budget: Budget) -> None:
    """Refuse ``data`` when its zlib streams, inflated, exceed the budget's decompressed limit."""
    limit = budget.limits.decompressed_limit(len(data))
    total = 0
    try:
        for match in _STREAM.finditer(data):
            start = match.end()
            if data[start : start + 2] in _ZLIB_HEADER:
                total += _inflated_size(memoryview(data)[start:], limit - total)
                budget.check()
    except _Over:
        raise _too_large(budget, limit) from None


def check_encrypted_streams(document: PDFDocument, data_size: int, budget: Budget) -> None:
    """For an encrypted PDF (its streams are not zlib until deciphered): count each stream's
    inflated size after deciphering, without decoding any object stream."""
    if document.decipher is None:
        return
    limit = budget.limits.decompressed_limit(data_size)
    total = 0
    try:
        for xref in document.xrefs:
            for objid in xref.get_objids():
                stream = _direct_stream(document, xref, objid)
                if stream is None or stream.rawdata is None:
                    continue
                if not any(f in LITERALS_FLATE_DECODE for f, _ in stream.get_filters()):
                    continue
                raw = document.decipher(objid, stream.genno, stream.rawdata, stream.attrs)
                total += _inflated_size(memoryview(raw), limit - total)
                budget.check()
    except _Over:
        raise _too_large(budget, limit) from None


def _too_large(budget: Budget, limit: int) -> Exception:
    return budget.exceeded("展開後のデータ量", "the decompressed content", size_text(limit))


def _direct_stream(document: PDFDocument, xref: Any, objid: int) -> PDFStream | None:
    try:
        strmid, _, _ = xref.get_pos(objid)
        if strmid is not None:  # inside an object stream: never a stream itself
            return None
        obj = document.getobj(objid)
    except Exception:  # a damaged entry: pdfminer reports it when it matters
        return None
    return obj if isinstance(obj, PDFStream) and obj.get("Subtype") is None else None


def _inflated_size(data: memoryview, budget: int) -> int:
    """Bytes that ``data`` (a zlib stream, maybe holding further zlib layers) inflates to.

    Works in bounded pieces: memory stays at a few MB whatever the ratio; raises _Over past ``budget``.
    """
    layers = [zlib.decompressobj()]
    total = 0

    def feed(level: int, chunk: bytes | memoryview) -> None:
        nonlocal total
        decoder = layers[level]
        while chunk and not decoder.eof:
            out = decoder.decompress(chunk, _OUT)
            chunk = decoder.unconsumed_tail
            total += len(out)
            if total > budget:
                raise _Over
            if not out:
                continue
            if level + 1 == len(layers) and level + 1 < _MAX_LAYERS and out[:2] in _ZLIB_HEADER:
                layers.append(zlib.decompressobj())
            if level + 1 < len(layers):
                try:
                    feed(level + 1, out)
                except zlib.error:
                    del layers[level + 1 :]  # it only looked like zlib

    try:
        for start in range(0, len(data), _IN):
            if layers[0].eof:
                break
            feed(0, data[start : start + _IN])
    except zlib.error:
        pass  # damaged or not zlib after all: pdfminer decides what that means
    return total


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

