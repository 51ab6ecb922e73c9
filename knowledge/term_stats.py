"""Document frequencies of search terms, for judging how much of a question the hits cover.

Written next to the index after each ingest and read when a searcher opens (and
again when the index changes). The location is a local directory or an object
store URI (``s3://bucket/kb``): locally the file is replaced atomically (temp file
+ rename); on object storage a single PUT replaces the object atomically, so a
reader on another machine gets either the old file or the new one.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE_NAME = "term_stats.json"

Location = Path | str  # a local directory, or an object store URI such as s3://bucket/kb


def is_uri(location: Location) -> bool:
    return isinstance(location, str) and "://" in location


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
        if is_uri(location):
            fs, path = _object_store(str(location))
            with fs.open_output_stream(path, compression=None) as stream:
                stream.write(data)
            return
        target = Path(location) / FILE_NAME
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)

    @classmethod
    def load(cls, location: Location) -> TermStats:
        if is_uri(location):
            fs, path = _object_store(str(location))
            try:
                with fs.open_input_stream(path, compression=None) as stream:
                    data = stream.read()
            except FileNotFoundError:
                return cls(doc_count=0, df={})
        else:
            file = Path(location) / FILE_NAME
            if not file.exists():
                return cls(doc_count=0, df={})
            data = file.read_bytes()
        raw = json.loads(data.decode("utf-8"))
        return cls(doc_count=int(raw["doc_count"]), df={str(k): int(v) for k, v in raw["df"].items()})


def stats_marker(location: Location) -> tuple[int, int] | None:
    """(modification time in ns, size) of the stored file, None if absent: tells a reader to reload."""
    if is_uri(location):
        import pyarrow.fs as pafs

        fs, path = _object_store(str(location))
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            return None
        return (info.mtime_ns or 0, info.size or 0)
    try:
        st = (Path(location) / FILE_NAME).stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _object_store(uri: str) -> tuple[Any, str]:
    """The pyarrow filesystem for ``uri`` (credentials and endpoint from the standard AWS_* variables)."""
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(uri.rstrip("/"))
    return fs, f"{root.rstrip('/')}/{FILE_NAME}"
