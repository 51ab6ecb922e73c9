"""Which rows a query may return: allowed values per field, from an allow-list of fields.

One description, two uses: LanceDB gets it as an ``Expr`` (values are literals, never spliced
into SQL), rows held in memory as a predicate or a mask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from lancedb.expr import Expr, col, lit

FILTERABLE = frozenset({"doc_id", "kind", "collection", "article", "part", "chunk_id"})


@dataclass(frozen=True)
class FieldFilter:
    fields: tuple[tuple[str, frozenset[str]], ...]

    @classmethod
    def of(cls, **fields: str | Sequence[str] | None) -> FieldFilter | None:
        """None when no field is restricted; a field outside the allow-list is an error."""
        allowed: list[tuple[str, frozenset[str]]] = []
        for name, value in fields.items():
            if value is None:
                continue
            if name not in FILTERABLE:
                raise ValueError(f"cannot filter on {name!r}")
            allowed.append((name, frozenset([value] if isinstance(value, str) else value)))
        return cls(tuple(allowed)) if allowed else None

    def expr(self) -> Expr:
        expr: Expr | None = None
        for name, values in self.fields:
            only = next(iter(values))
            term = col(name) == lit(only) if len(values) == 1 else col(name).isin(sorted(values))
            expr = term if expr is None else expr & term
        assert expr is not None  # ``of`` makes no empty filter
        return expr

    def allows(self, row: Mapping[str, Any]) -> bool:
        return all(row[name] in values for name, values in self.fields)

    def mask(self, columns: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.bool_]:
        """Over rows held in memory: ``columns`` maps each field to its values, one per row."""
        result: npt.NDArray[np.bool_] | None = None
        for name, values in self.fields:
            ok = np.isin(columns[name], list(values))
            result = ok if result is None else result & ok
        assert result is not None
        return result
