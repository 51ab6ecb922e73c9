"""Fixtures shared by the knowledge tests."""

from __future__ import annotations

import pytest

from knowledge.tokenize import Segmenter


@pytest.fixture(scope="session")
def segmenter() -> Segmenter:
    """One Sudachi segmenter for the session (loading the dictionary is the slow part)."""
    return Segmenter()
