"""Hostile inputs for the bounded-ingest tests and benchmark, generated (nothing large is committed).

``pdf_deflate_bomb``: a valid one-page PDF whose content stream is ``(A) Tj`` text operators
repeated, FlateDecode-compressed about 1000:1 (31 KB → 20 MB of operators).
``one_line_text``: statute wording repeated on a single line, no line break, ``size`` bytes.
"""

from __future__ import annotations

import base64
import zlib

_SENTENCE = (
    "行政財産は、次項から第四項までに定めるものを除くほか、これを貸し付け、交換し、売り払い、譲与し、"
    "出資の目的とし、若しくは信託し、又はこれに私権を設定することができない。"
)


def pdf_deflate_bomb(
    decompressed_bytes: int = 20 * 1024 * 1024, filters: tuple[str, ...] = ("FlateDecode",)
) -> bytes:
    """``filters`` as the stream dictionary lists them (the first is undone first)."""
    operators = b"BT /F1 12 Tf 72 712 Td " + b"(A) Tj " * (decompressed_bytes // 7) + b"ET\n"
    stream = operators
    for name in reversed(filters):
        stream = zlib.compress(stream, 9) if name == "FlateDecode" else base64.a85encode(stream) + b"~>"
    listed = b" ".join(b"/" + name.encode() for name in filters)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter [%s] >>\nstream\n" % (len(stream), listed) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def one_line_text(size: int = 20 * 1024 * 1024) -> bytes:
    unit = _SENTENCE.encode("utf-8")
    return (unit * (size // len(unit) + 1))[:size].decode("utf-8", "ignore").encode("utf-8")
