from __future__ import annotations

import numpy as np
import pytest

from knowledge.filters import FieldFilter


def test_only_known_fields_and_values_as_literals() -> None:
    assert FieldFilter.of(collection=None) is None
    collections = FieldFilter.of(collection=["laws", "city"], kind="law")
    assert collections is not None
    sql = collections.expr().to_sql()
    assert "collection" in sql and "'city'" in sql and "kind" in sql
    with pytest.raises(ValueError, match="cannot filter"):
        FieldFilter.of(text="x")


def test_rows_in_memory_read_the_same_filter() -> None:
    only = FieldFilter.of(collection=["laws", "city"], kind="law")
    assert only is not None
    assert only.allows({"collection": "city", "kind": "law"})
    assert not only.allows({"collection": "other", "kind": "law"})
    columns = {"collection": np.array(["laws", "other", "city"]), "kind": np.array(["law", "law", "notice"])}
    assert only.mask(columns).tolist() == [True, False, False]
