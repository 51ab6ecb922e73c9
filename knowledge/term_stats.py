"""Document frequencies of search terms, for judging how much of a question the hits cover.

Written next to the index after each ingest (knowledge/stored_files.py).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from knowledge.stored_files import Location, read_file, write_file

FILE_NAME = "term_stats.json"


@dataclass(frozen=True)
class TermStats:
    doc_count: int
    df: dict[str, int]

    def idf(self, term: str) -> float:
        """BM25-style idf; a term never seen gets the highest weight."""
        n = self.df.get(term, 0)
        return math.log(1 + (self.doc_count - n + 0.5) / (n + 0.5))

    @classmethod
    def from_term_strings(cls, rows: Iterable[str]) -> TermStats:
        df: Counter[str] = Counter()
        count = 0
        for row in rows:
            count += 1
            df.update(set(row.split()))
        return cls(doc_count=count, df=dict(df))

    def save(self, location: Location) -> None:
        data = json.dumps({"doc_count": self.doc_count, "df": self.df}, ensure_ascii=False).encode("utf-8")
        write_file(location, FILE_NAME, data)

    @classmethod
    def load(cls, location: Location) -> TermStats:
        data = read_file(location, FILE_NAME)
        if data is None:
            return cls(doc_count=0, df={})
        raw = json.loads(data.decode("utf-8"))
        return cls(doc_count=int(raw["doc_count"]), df={str(k): int(v) for k, v in raw["df"].items()})
