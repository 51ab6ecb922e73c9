"""Per-file limits of an ingest: size, decompressed size and time.

A file over a limit raises ``LimitExceeded`` (a ParseError): the ingest reports it with the
limit it hit and skips it; the other files are ingested. ``Budget`` is one file's clock,
checked between the steps whose cost grows with the input (PDF pages and characters, the
segmentation of each chunk).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from knowledge.documents import ParseError

MIB = 1024 * 1024


def size_text(n: int) -> str:
    return f"{n / MIB:g} MB" if n >= MIB else f"{n:,} bytes"


class LimitExceeded(ParseError):
    """A file over an ingest limit: reported and skipped, nothing stored is touched."""


@dataclass(frozen=True)
class IngestLimits:
    max_file_bytes: int = 64 * MIB  # a larger file is not read at all
    max_seconds: float = 45.0  # parse, chunk and segment one file
    # Decompressed PDF streams, in all: at most this many times the file (a deflate bomb
    # reaches ~1000x), and never below the floor nor above the ceiling.
    max_expansion: int = 100
    decompressed_floor: int = 8 * MIB
    decompressed_ceiling: int = 256 * MIB
    max_page_chars: int = 50_000  # text characters drawn on one PDF page (a dense real page: ~5,000)

    def decompressed_limit(self, file_bytes: int) -> int:
        return min(self.decompressed_ceiling, max(self.decompressed_floor, self.max_expansion * file_bytes))


DEFAULT_LIMITS = IngestLimits()


class Budget:
    """One file's limits and its deadline."""

    def __init__(
        self, source: str, limits: IngestLimits = DEFAULT_LIMITS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.source = source
        self.limits = limits
        self._clock = clock
        self._deadline = clock() + limits.max_seconds

    def check(self) -> None:
        """LimitExceeded once the file has taken longer than ``max_seconds``."""
        if self._clock() > self._deadline:
            seconds = f"{self.limits.max_seconds:g}"
            raise LimitExceeded(
                f"{self.source}: 処理が 1 ファイルの上限 {seconds} 秒を超えたため取り込みません / "
                f"took longer than the {seconds} s limit per file; skipped"
            )

    def exceeded(self, ja: str, en: str, limit: str) -> LimitExceeded:
        """The error for a file whose ``ja``/``en`` (what was measured) is over ``limit``."""
        return LimitExceeded(
            f"{self.source}: {ja}が上限（{limit}）を超えるため取り込みません / {en} exceeds the {limit} "
            "limit; skipped"
        )
