"""Reading kairan's YAML data files (glossary, jargon, aspects, catalogue, abbreviations): one error shape."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


def entries_of(path: Path, what: str, keys: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each entry of a file that is a list of mappings with exactly ``keys``, with where it stands
    ("FILE: entry N", for the caller's own errors); a file that is no such list, or an entry with other
    keys, raises ParseError naming the file and the entry."""
    raw = load_yaml(path, what)
    named = ", ".join(f"'{k}'" for k in keys[:-1]) + f" and '{keys[-1]}'"
    if not isinstance(raw, list):
        raise ParseError(f"{path}: {what} is a list of entries with {named}")
    for number, item in enumerate(raw, start=1):
        where = f"{path}: entry {number}"
        if not isinstance(item, dict) or set(item) != set(keys):
            raise ParseError(f"{where}: needs exactly the keys {named}")
        yield where, item


def is_word_list(value: object) -> bool:
    """A non-empty list of non-blank strings (a glossary's or an aspect's words)."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)
