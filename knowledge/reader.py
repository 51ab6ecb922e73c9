"""Query-time reads of the chunk table: LanceDB's async API, one thread hop per query, and a row cache.

LanceDB's synchronous table runs every call as several round trips to its own background
event loop (the schema alone is fetched three times per full-text query); through the async
API the same query costs about a third of the CPU. A ``ChunkReader`` serves one committed
version of the table, so everything it returns, cached rows included, belongs to that
version; the store hands out a new reader when it moves to a newer version.

Whole rows (text, URL, caption, …) are needed only for the few hits that are shown. They are
kept in a bounded cache: a knowledge base with at most ``cache_rows`` chunks is read into it
whole at its first use (one scan instead of a lookup per question), a larger one caches the
rows read most recently.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import operator
import threading
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeVar

import lancedb
import numpy as np
import numpy.typing as npt
from lancedb.expr import col, lit
from lancedb.query import MatchQuery

from knowledge.chunks import chunk_id
from knowledge.filters import FieldFilter
from knowledge.memory_index import MemoryFullText
from knowledge.settings import DEFAULT_CACHE_ROWS

log = logging.getLogger(__name__)
T = TypeVar("T")


class _ReadLoop:
    """One daemon thread running the event loop every async LanceDB read of this process awaits on."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._running()).result()

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="kairan-lance-reads", daemon=True).start()
                self._loop = loop
            return self._loop


READ_LOOP = _ReadLoop()
Rows = list[dict[str, Any]]


@dataclass
class PendingQuery:
    """A read not yet run — its coroutine and what turns the raw result into rows — or, answered
    from memory, already done (``coro`` None, the rows in ``done``)."""

    coro: Coroutine[Any, Any, Rows] | None
    finish: Callable[[Rows], Rows]
    done: Rows | None = None

    @classmethod
    def answered(cls, rows: Rows) -> PendingQuery:
        return cls(None, lambda found: found, rows)


def run_queries(*queries: PendingQuery) -> list[Rows]:
    """Run several reads concurrently on the read loop, in one thread hop (none when every one
    was answered from memory); results in order."""
    remote = [q for q in queries if q.coro is not None]

    async def gather() -> list[Rows]:
        return list(await asyncio.gather(*(q.coro for q in remote if q.coro is not None)))

    fetched = iter(READ_LOOP.run(gather()) if remote else [])
    return [q.finish(next(fetched)) if q.coro is not None else (q.done or []) for q in queries]


def term_query(groups: Sequence[tuple[Sequence[str], float]], column: str) -> MatchQuery:
    """One full-text query over ``column`` in which each group's terms count with its weight.

    LanceDB sums BM25 over the query's terms and counts a repeated term again, so the weights
    are written as repetitions (a rational approximation, denominator at most 4) under the
    query's boost: weights 1 and 2/3 are ``a a a b b`` with boost 1/3. A single query keeps
    LanceDB's WAND pruning; a boolean query of weighted clauses scores the same but took p95
    254 ms against 15 ms at a million articles. ``MemoryRows.top`` reads repetitions and boost
    the same way.
    """
    fractions = [(terms, Fraction(weight).limit_denominator(4)) for terms, weight in groups if terms]
    if not fractions:
        return MatchQuery("", column)  # type: ignore[call-arg]  # mypy misses Field(kw_only=True)
    scale = math.lcm(*(f.denominator for _, f in fractions))
    words = [t for terms, f in fractions for _ in range(int(f * scale)) for t in terms]
    return MatchQuery(" ".join(words), column, boost=1 / scale)  # type: ignore[call-arg]


def _weighted_terms(query: MatchQuery) -> tuple[str, list[str], dict[str, float]]:
    """(column, terms, weight per term) of a query built by ``term_query``: each occurrence of a
    term counts the query's boost, as in LanceDB."""
    terms = query.query.split()
    weights: dict[str, float] = {}
    for term in terms:
        weights[term] = weights.get(term, 0.0) + query.boost
    return query.column, terms, weights


class MemoryRows:
    """Rows held in memory in a fixed order, with full-text indexes over their term columns (built
    on first use) and per-field value arrays for filters: queries answered without LanceDB."""

    def __init__(self, rows: Sequence[dict[str, Any]]) -> None:
        self.rows = list(rows)
        self._indexes: dict[str, MemoryFullText] = {}
        self._fields: dict[str, npt.NDArray[Any]] = {}
        self._masks: dict[FieldFilter, npt.NDArray[np.bool_]] = {}
        self._by_document: dict[str, list[dict[str, Any]]] | None = None
        self._projections: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def top(self, query: Any, columns: Sequence[str], *, where: FieldFilter | None, limit: int) -> Rows:
        column, terms, boosts = _weighted_terms(query)
        index = self._index(column)
        allowed = self._mask(where) if where is not None else None
        rows = self._projection(tuple(c for c in columns if c != "_score"))
        return [{**rows[n], "_score": score} for n, score in index.top(terms, limit, allowed, boosts)]

    def _projection(self, columns: tuple[str, ...]) -> list[dict[str, Any]]:
        """Every row cut to ``columns``, made once per column set (a query reads the same few
        columns every time: copying a small dict is cheaper than picking columns per hit)."""
        found = self._projections.get(columns)
        if found is None:
            found = [{c: row[c] for c in columns} for row in self.rows]
            with self._lock:
                self._projections[columns] = found
        return found

    def of_document(self, doc_id: str) -> list[dict[str, Any]]:
        """One document's rows (grouped on first use: a cited article's 施行令 is read this way)."""
        with self._lock:
            if self._by_document is None:
                grouped: dict[str, list[dict[str, Any]]] = {}
                for row in self.rows:
                    grouped.setdefault(row["doc_id"], []).append(row)
                self._by_document = grouped
            return self._by_document.get(doc_id, [])

    def _index(self, column: str) -> MemoryFullText:
        with self._lock:
            index = self._indexes.get(column)
            if index is None:
                index = self._indexes[column] = MemoryFullText(row[column] for row in self.rows)
            return index

    def _mask(self, where: FieldFilter) -> npt.NDArray[np.bool_]:
        with self._lock:
            mask = self._masks.get(where)
            if mask is None:
                for name, _ in where.fields:
                    if name not in self._fields:
                        self._fields[name] = np.asarray([row[name] for row in self.rows], dtype=object)
                if len(self._masks) > 64:  # scopes seen: a handful per deployment
                    self._masks.clear()
                mask = self._masks[where] = where.mask(self._fields)
            return mask


class ChunkReader:
    """Full-text queries and rows by id at one version of the chunk table."""

    def __init__(
        self,
        uri: str,
        table: str,
        version: int,
        *,
        storage_options: dict[str, str] | None = None,
        cache_rows: int = DEFAULT_CACHE_ROWS,
    ) -> None:
        self.version = version
        self._table: Any = READ_LOOP.run(_open(uri, table, version, storage_options))
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._cache_rows = cache_rows
        self._lock = threading.Lock()
        self._whole: bool | None = None  # None until the first read decides
        self._memory: MemoryRows | None = None  # the whole table, queried in memory

    def full_text(
        self, query: Any, columns: Sequence[str], *, where: FieldFilter | None = None, limit: int
    ) -> list[dict[str, Any]]:
        """The best ``limit`` rows for a full-text ``MatchQuery``, ``columns`` only."""
        return run_queries(self.full_text_query(query, columns, where=where, limit=limit))[0]

    def full_text_query(
        self, query: Any, columns: Sequence[str], *, where: FieldFilter | None = None, limit: int
    ) -> PendingQuery:
        """``full_text`` as a query to run together with others (``run_queries``: one thread hop).

        When the whole table is held in memory, the query is answered there (knowledge/
        memory_index.py: LanceDB's own scores, no round trip); otherwise LanceDB answers it.
        """
        if self._whole is None:
            self._fill()
        return _text_query(self._table, self._memory, query, columns, where=where, limit=limit)

    def rows(self, chunk_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Whole rows by chunk id; ids that are not in this version are absent from the result."""
        wanted = list(dict.fromkeys(chunk_ids))
        if not wanted:
            return {}
        if self._whole is None:
            self._fill()
        with self._lock:
            found = {cid: self._cache[cid] for cid in wanted if cid in self._cache}
            if not self._whole:
                for cid in found:
                    self._cache.move_to_end(cid)
        missing = [cid for cid in wanted if cid not in found]
        if missing and not self._whole:
            fetched = READ_LOOP.run(self._fetch(missing))
            with self._lock:
                for row in fetched:
                    self._cache[row["chunk_id"]] = row
                while len(self._cache) > self._cache_rows:
                    self._cache.popitem(last=False)
            found.update((row["chunk_id"], row) for row in fetched)
        return found

    def rows_containing(self, doc_id: str, needle: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """Whole rows of one document whose text contains ``needle`` (in document order)."""
        if self._whole is None:
            self._fill()
        if self._whole and self._memory is not None:
            found = [r for r in self._memory.of_document(doc_id) if needle in r["text"]]
        else:
            where = col("doc_id").eq(lit(doc_id)) & col("text").contains(lit(needle))
            query = self._table.query().where(where)
            found = READ_LOOP.run(query.limit(limit).to_list())
        found.sort(key=lambda r: r["ordinal"])
        return found[:limit]

    def _fill(self) -> None:
        """Read the whole table into the cache when it fits (decided once per version)."""
        with self._lock:
            if self._whole is not None:
                return
            count = READ_LOOP.run(self._table.count_rows())
            if count > self._cache_rows:
                self._whole = False
                return
            rows = READ_LOOP.run(self._table.query().to_list())
            self._cache = OrderedDict((row["chunk_id"], row) for row in rows)
            self._memory = MemoryRows(rows)
            self._whole = True
            log.debug("chunk rows cached whole: %d at version %d", len(rows), self.version)

    async def _fetch(self, chunk_ids: list[str]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (
            await self._table.query().where(col("chunk_id").isin(chunk_ids)).limit(len(chunk_ids)).to_list()
        )
        return result


def _text_query(
    table: Any,
    memory: MemoryRows | None,
    query: Any,
    columns: Sequence[str],
    *,
    where: FieldFilter | None,
    limit: int,
) -> PendingQuery:
    """A full-text query answered in memory when the table is held there, else by LanceDB."""
    if memory is not None:
        return PendingQuery.answered(memory.top(query, columns, where=where, limit=limit))

    async def run() -> Rows:
        builder = table.query().nearest_to_text(query).select(list(columns))
        if where is not None:
            builder = builder.where(where.expr())
        result: Rows = await builder.limit(limit).to_list()
        return result

    return PendingQuery(run(), lambda found: found)


async def _open(uri: str, table: str, version: int, storage_options: dict[str, str] | None) -> Any:
    db = await lancedb.connect_async(uri, storage_options=storage_options)
    handle = await db.open_table(table)
    if await handle.version() != version:
        await handle.checkout(version)  # the version the store's synchronous handle holds
    return handle


class PhrasingReader:
    """Full-text queries over the staff phrasing lines at one version of their table.

    Like the chunk rows, the lines are held in memory when there are at most ``cache_rows`` of
    them, and queries are then answered there.
    """

    COLUMNS = ("doc_id", "article", "text", "origin", "terms")

    def __init__(
        self,
        uri: str,
        table: str,
        version: int,
        *,
        storage_options: dict[str, str] | None = None,
        cache_rows: int = DEFAULT_CACHE_ROWS * 10,
    ) -> None:
        self.version = version
        self._table: Any = READ_LOOP.run(_open(uri, table, version, storage_options))
        self._cache_rows = cache_rows
        self._memory: MemoryRows | None = None
        self._vocabulary: dict[str, frozenset[str]] | None = None  # chunk id → the terms of all its lines
        self._lock = threading.Lock()
        self._decided = False

    def full_text_query(self, query: Any, *, limit: int) -> PendingQuery:
        """The best ``limit`` lines for a full-text query, with their article and ``_score``."""
        self._fill()
        columns = [*self.COLUMNS, "_score"]
        return _text_query(self._table, self._memory, query, columns, where=None, limit=limit)

    def has_lines(self, chunk_id: str) -> bool | None:
        """Whether the article has phrasing lines (None when the table is too large to hold in memory)."""
        self._fill()
        return None if self._vocabulary is None else chunk_id in self._vocabulary

    def vocabulary(self, chunk_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        """chunk id → every term of the article's lines, for the articles that have lines."""
        self._fill()
        if self._vocabulary is not None:
            return {cid: self._vocabulary[cid] for cid in chunk_ids if cid in self._vocabulary}
        wanted = [tuple(cid.split("#", 1)) for cid in dict.fromkeys(chunk_ids) if "#" in cid]
        if not wanted:
            return {}
        where = functools.reduce(
            operator.or_, (col("doc_id").eq(lit(doc)) & col("article").eq(lit(art)) for doc, art in wanted)
        )
        query = self._table.query().where(where).select(["doc_id", "article", "terms"])
        return _vocabulary(READ_LOOP.run(query.to_list()))

    def _fill(self) -> None:
        with self._lock:
            if self._decided:
                return
            self._decided = True
            if READ_LOOP.run(self._table.count_rows()) > self._cache_rows:
                return
            rows = READ_LOOP.run(self._table.query().select(list(self.COLUMNS)).to_list())
            self._memory = MemoryRows(rows)
            self._vocabulary = _vocabulary(rows)


def _vocabulary(lines: Rows) -> dict[str, frozenset[str]]:
    """chunk id → the terms of all the given phrasing lines of that article."""
    found: dict[str, set[str]] = {}
    for line in lines:
        found.setdefault(chunk_id(line["doc_id"], line["article"]), set()).update(line["terms"].split())
    return {cid: frozenset(terms) for cid, terms in found.items()}
