"""How much a PDF's streams decode to, measured in bounded pieces before pdfminer decodes any.

pdfminer decodes a stream whole, in memory (while opening the file, for cross-reference
and object streams), so a 31 KB file can ask for gigabytes. Here every stream is found in
the file's bytes with the filters its dictionary names, decoded stage by stage (ASCII85
and hex shrink; Flate, LZW and RunLength are counted piece by piece, nested zlib layers
too) and counted against a budget. Encrypted PDFs are measured again after deciphering,
from the parsed document. Image filters (DCT, JPX, JBIG2, CCITT) end the measurement:
pdfminer does not decode images to extract text.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterator, Sequence

from pdfminer.ascii85 import ascii85decode, asciihexdecode
from pdfminer.lzw import LZWDecoder
from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdftypes import PDFStream

from knowledge.limits import MIB, Budget, LimitExceeded, size_text

_STREAM = re.compile(rb"stream\r?\n")
_FILTER = re.compile(rb"/Filter\s*(\[[^\]]*\]|/[A-Za-z0-9]+)")
_NAME = re.compile(rb"/([A-Za-z0-9]+)")
_FILTERS = {
    "FlateDecode": "flate", "Fl": "flate",
    "ASCII85Decode": "a85", "A85": "a85",
    "ASCIIHexDecode": "ahx", "AHx": "ahx",
    "LZWDecode": "lzw", "LZW": "lzw",
    "RunLengthDecode": "rl", "RL": "rl",
}  # fmt: skip
_ZLIB_HEADER = frozenset({b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda"})
_DICT_WINDOW = 2048  # bytes before "stream" searched for the stream's /Filter
_IN = 64 * 1024
_OUT = MIB
_MAX_LAYERS = 4


class _Over(Exception):
    pass


def check_decompressed_size(data: bytes, budget: Budget) -> None:
    """LimitExceeded when the file's streams decode to more than the budget allows."""
    limit = budget.limits.decompressed_limit(len(data))
    total = 0
    try:
        for filters, raw in _raw_streams(data):
            total += decoded_size(filters, raw, limit - total)
            budget.check()
    except _Over:
        raise _too_large(budget, limit) from None


def check_encrypted_streams(document: PDFDocument, data_size: int, budget: Budget) -> None:
    """For an encrypted PDF (its streams are noise until deciphered): measure each stream after
    deciphering, without decoding any object stream."""
    if document.decipher is None:
        return
    limit = budget.limits.decompressed_limit(data_size)
    total = 0
    try:
        for objid, stream in _direct_streams(document):
            if stream.rawdata is None or stream.genno is None:
                continue
            filters = [_FILTERS.get(getattr(f, "name", ""), "") for f, _ in stream.get_filters()]
            raw = document.decipher(objid, stream.genno, stream.rawdata, stream.attrs)
            total += decoded_size(filters, raw, limit - total)
            budget.check()
    except _Over:
        raise _too_large(budget, limit) from None


def decoded_size(filters: Sequence[str], data: bytes | memoryview, budget: int) -> int:
    """Bytes ``data`` decodes to through ``filters`` (short names); raises _Over past ``budget``."""
    stage = data
    for n, name in enumerate(filters):
        if name in ("a85", "ahx"):
            try:
                stage = (ascii85decode if name == "a85" else asciihexdecode)(bytes(stage))
            except (ValueError, TypeError):
                return 0  # not that encoding (still encrypted, or damaged): pdfminer decides
        elif name == "flate":
            return _inflated_size(memoryview(stage), budget)
        elif name == "lzw":
            return _counted(LZWDecoder(io.BytesIO(bytes(stage))).run(), budget)
        elif name == "rl":
            return _run_length_size(stage, budget)
        else:
            return 0  # an image or unknown filter: not decoded for text
        if len(stage) > budget:
            raise _Over
        if n == len(filters) - 1:
            return len(stage)
    return 0  # stored as is: its size is the file's


def _raw_streams(data: bytes) -> Iterator[tuple[list[str], memoryview]]:
    """Each stream in the file's bytes, with the filters named in the dictionary before it."""
    view = memoryview(data)
    for match in _STREAM.finditer(data):
        keyword = match.start()
        if data[keyword - 3 : keyword] == b"end":
            continue  # "endstream"
        start = match.end()
        end = data.find(b"endstream", start)
        head = data[max(0, keyword - _DICT_WINDOW) : keyword]
        head = head[head.rfind(b"obj") :] if b"obj" in head else head
        named = list(_FILTER.finditer(head))
        names = _NAME.findall(named[-1].group(1)) if named else []
        filters = [_FILTERS.get(n.decode("latin-1"), "") for n in names]
        if not filters and data[start : start + 2] in _ZLIB_HEADER:
            filters = ["flate"]  # a /Filter given by reference: what the bytes look like
        if filters:
            yield filters, view[start : end if end != -1 else len(data)]


def _direct_streams(document: PDFDocument) -> Iterator[tuple[int, PDFStream]]:
    for xref in document.xrefs:
        for objid in xref.get_objids():
            try:
                strmid, _, _ = xref.get_pos(objid)
                if strmid is not None:  # inside an object stream: never a stream itself
                    continue
                obj = document.getobj(objid)
            except Exception:  # a damaged entry: pdfminer reports it when it matters
                continue
            if isinstance(obj, PDFStream) and obj.get("Subtype") is None:
                yield objid, obj


def _inflated_size(data: memoryview, budget: int) -> int:
    """Bytes a zlib stream (maybe holding further zlib layers) inflates to, a few MB at a time."""
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


def _counted(pieces: Iterator[bytes], budget: int) -> int:
    total = 0
    for piece in pieces:
        total += len(piece)
        if total > budget:
            raise _Over
    return total


def _run_length_size(data: bytes | memoryview, budget: int) -> int:
    """RunLengthDecode's output size, without building the output."""
    total, i, n = 0, 0, len(data)
    while i < n:
        length = data[i]
        if length == 128:
            break
        total += length + 1 if length < 128 else 257 - length
        i += length + 2 if length < 128 else 2
        if total > budget:
            raise _Over
    return total


def _too_large(budget: Budget, limit: int) -> LimitExceeded:
    return budget.exceeded("展開後のデータ量", "the decompressed content", size_text(limit))
