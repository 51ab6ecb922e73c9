"""Reading kairan's YAML data files (glossary, topic catalogue, abbreviations): one error shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from knowledge.documents import ParseError


def load_yaml(path: Path, what: str) -> Any:
    """The parsed file; an unreadable or malformed one raises ParseError naming the file and ``what``."""
    try:
        return YAML(typ="safe").load(path.read_text("utf-8"))
    except (OSError, YAMLError) as exc:
        raise ParseError(f"{path}: cannot read {what}: {exc}") from exc


def is_word_list(value: object) -> bool:
    """A non-empty list of non-blank strings (a glossary's or an aspect's words)."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)
