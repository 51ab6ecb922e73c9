"""Staff phrasings per article: what a provision is called and how staff ask about it.

Statutes say 「地縁による団体…認可」; staff type 「町内会の名前で登記したい」. For every article of
the laws staff use, kairan keeps a few short lines in staff words (document-side expansion),
indexed as a search field of their own next to the article text.

A phrasing file is reviewable YAML, one document per file:

    doc_id: 325AC0000000261          # the document's id (e-Gov law id for laws)
    title: 地方公務員法               # checked against the stored document when it is indexed
    articles:
      "38":                          # the article key (e-Gov Num: "238_4"; a section key otherwise)
        - 営利企業への従事等の制限（副業・兼業の許可）
        - 職員が休日にアルバイトをしてもいい？

    words:                           # optional: per article, the everyday words people use for it
      "38": 副収入・家業の手伝い・講演料・内職

The ``words`` are not searched as lines (a list of words would match any question sharing one of
them); they count for how much of a question an article covers (knowledge/rerank.py, the decision).

kairan ships files for the laws municipal staff use (``knowledge/data/phrasings/``); admins add
their own (for their 例規, say) through the manifest's ``knowledge.phrasings``; phrasings written
by the configured LLM are kept in ``<data_dir>/phrasings/`` in the same format.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from knowledge.documents import ParseError
from knowledge.tokenize import normalize

SHIPPED_DIR = Path(__file__).resolve().parent / "data" / "phrasings"
MAX_LINE_CHARS = 80
MAX_LINES_PER_ARTICLE = 10
# An article or item that is only 「削除」: nothing to ask about it. A circular's deleted item keeps its
# history in brackets: 削除（昭46直審（所）19改正…削除）, （削除）（平29課資2－14）.
_DELETED = re.compile(r"^(?:削除|[（(]削除[）)])[。\s]*(?P<history>.*)$", re.S)
_NOTE = re.compile(r"[（(][^（）()]*(?:[（(][^（）()]*[）)][^（）()]*)*[）)]")


def is_deleted(text: str) -> bool:
    """Whether an article's whole text is 「削除」, with nothing after it but its history in brackets."""
    deleted = _DELETED.match(text.strip())
    return deleted is not None and not _NOTE.sub("", deleted["history"]).strip()


@dataclass(frozen=True)
class Phrasing:
    """One line for one article."""

    doc_id: str
    article: str
    text: str
    origin: str  # "shipped" | "admin" | "generated": who wrote it, shown in matched_by details

    @property
    def phrase_id(self) -> str:
        """Stable id: the same line for the same article is the same row across re-indexing."""
        digest = hashlib.sha256(f"{self.doc_id}\x00{self.article}\x00{self.text}".encode()).hexdigest()
        return digest[:32]


@dataclass(frozen=True)
class PhrasingFile:
    path: Path
    doc_id: str
    title: str
    articles: Mapping[str, tuple[str, ...]]
    origin: str
    words: Mapping[str, str] = field(default_factory=dict)  # article key → its everyday words

    def phrasings(self) -> Iterable[Phrasing]:
        for article, lines in self.articles.items():
            for line in lines:
                yield Phrasing(self.doc_id, article, line, self.origin)

    def article_words(self) -> Iterable[Phrasing]:
        """The ``words`` line of each article (kept apart from the searched lines; one per article: a
        later file's, an admin's over the shipped one, replaces an earlier file's)."""
        for article, line in self.words.items():
            yield Phrasing(self.doc_id, article, line, self.origin)

    @property
    def line_count(self) -> int:
        return sum(len(lines) for lines in self.articles.values())


def load_file(path: Path, *, origin: str) -> PhrasingFile:
    """Read and check one phrasing file; every problem names the file and the line."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(f"{path}: cannot read phrasing file: {exc}") from exc
    try:
        return _check(YAML(typ="safe").load(text), path, origin)  # fast C loader
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ParseError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    except ParseError:
        # Again with the round-trip loader, which knows the line of every key, to say where.
        return _check(YAML(typ="rt").load(text), path, origin)


def _check(raw: Any, path: Path, origin: str) -> PhrasingFile:
    if not isinstance(raw, dict):
        raise ParseError(f"{path}: a phrasing file is a mapping with doc_id, title and articles")
    unknown = set(raw) - {"doc_id", "title", "articles", "words"}
    if unknown:
        raise ParseError(f"{path}: unknown keys {sorted(unknown)} (allowed: doc_id, title, articles, words)")
    doc_id, title, articles = raw.get("doc_id"), raw.get("title", ""), raw.get("articles")
    if not isinstance(doc_id, str) or not doc_id.strip():
        raise ParseError(f"{path}: 'doc_id' must be the document's id, e.g. 325AC0000000261")
    if not isinstance(title, str):
        raise ParseError(f"{path}: 'title' must be text")
    if not isinstance(articles, dict) or not articles:
        raise ParseError(f"{path}: 'articles' must map article keys to lists of lines")
    parsed: dict[str, tuple[str, ...]] = {}
    for key, lines in articles.items():
        where = _where(articles, key, path)
        if not isinstance(lines, list) or not lines:
            raise ParseError(f"{where}: article {key}: needs a list of lines")
        if len(lines) > MAX_LINES_PER_ARTICLE:
            raise ParseError(f"{where}: article {key}: at most {MAX_LINES_PER_ARTICLE} lines")
        clean: list[str] = []
        for line in lines:
            if not isinstance(line, str) or not line.strip():
                raise ParseError(f"{where}: article {key}: every line must be non-empty text")
            text = " ".join(normalize(line).split())
            if len(text) > MAX_LINE_CHARS:
                raise ParseError(f"{where}: article {key}: a line is longer than {MAX_LINE_CHARS} characters")
            clean.append(text)
        parsed[key] = tuple(dict.fromkeys(clean))
    return PhrasingFile(path, doc_id.strip(), title.strip(), parsed, origin, _words(raw.get("words"), path))


def _words(words: Any, path: Path) -> dict[str, str]:
    """The optional ``words`` mapping: article key → one line of everyday words."""
    if words is None:
        return {}
    if not isinstance(words, dict):
        raise ParseError(f"{path}: 'words' must map article keys to one line of words each")
    parsed: dict[str, str] = {}
    for key, line in words.items():
        where = _where(words, key, path)
        if not isinstance(line, str) or not line.strip():
            raise ParseError(f"{where}: words of article {key}: must be one non-empty line of text")
        text = " ".join(normalize(line).split())
        if len(text) > MAX_LINE_CHARS:
            raise ParseError(f"{where}: words of article {key}: longer than {MAX_LINE_CHARS} characters")
        parsed[key] = text
    return parsed


def _where(mapping: Any, key: Any, path: Path) -> str:
    """「path:line」 of an article key (the path alone when the line is unknown); ParseError for a key
    that is not quoted text."""
    line_no = _line_of(mapping, key)
    where = f"{path}:{line_no}" if line_no else str(path)
    if not isinstance(key, str):
        raise ParseError(f'{where}: article key {key!r} must be quoted text, e.g. "{key}"')
    return where


def _line_of(mapping: Any, key: Any) -> int | None:
    """1-based line of ``key`` in a round-trip-loaded mapping (None when unknown)."""
    try:
        return int(mapping.lc.key(key)[0]) + 1
    except (AttributeError, KeyError, TypeError):
        return None


def discover(paths: Sequence[Path], *, origin: str) -> list[Path]:
    """Phrasing files at ``paths``: files as given, directories' *.yaml files in name order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.glob("*.yaml") if p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise ParseError(f"{path}: no such phrasing file or directory ({origin})")
    return found


@dataclass(frozen=True)
class PhrasingSources:
    """Where phrasings come from, in order: shipped, the admin's files, the generated directory."""

    shipped: bool = True
    admin: tuple[Path, ...] = ()
    generated: Path | None = None

    def load(self) -> tuple[list[PhrasingFile], list[str]]:
        """Every readable file, and one message per file or path that could not be used."""
        groups: list[tuple[list[Path], str]] = []
        if self.shipped and SHIPPED_DIR.is_dir():
            groups.append(([SHIPPED_DIR], "shipped"))
        groups.append((list(self.admin), "admin"))
        if self.generated is not None and self.generated.is_dir():
            groups.append(([self.generated], "generated"))
        files: list[PhrasingFile] = []
        errors: list[str] = []
        for paths, origin in groups:
            for path in paths:
                try:
                    found = discover([path], origin=origin)
                except ParseError as exc:
                    errors.append(str(exc))
                    continue
                for file in found:
                    try:
                        files.append(load_file(file, origin=origin))
                    except ParseError as exc:
                        errors.append(str(exc))
        return files, errors


@dataclass(frozen=True)
class CoverageRow:
    doc_id: str
    title: str
    covered: int
    articles: int
    lines: int
    words: int = 0  # articles with a line of everyday words

    @property
    def share(self) -> float:
        return self.covered / self.articles if self.articles else 0.0


def coverage(
    files: Sequence[PhrasingFile], articles: Mapping[str, tuple[str, Sequence[str]]]
) -> list[CoverageRow]:
    """Per document in ``articles`` (doc_id → (title, main-provision article keys)): keys with phrasings,
    their lines, and keys with everyday words."""
    by_doc: dict[str, dict[str, int]] = {}
    worded: dict[str, set[str]] = {}
    for f in files:
        counts = by_doc.setdefault(f.doc_id, {})
        for key, lines in f.articles.items():
            counts[key] = counts.get(key, 0) + len(lines)
        worded.setdefault(f.doc_id, set()).update(f.words)
    rows = []
    for doc_id, (title, keys) in articles.items():
        counts = by_doc.get(doc_id, {})
        rows.append(
            CoverageRow(
                doc_id=doc_id,
                title=title,
                covered=sum(1 for k in keys if k in counts),
                articles=len(keys),
                lines=sum(counts.values()),
                words=sum(1 for k in keys if k in worded.get(doc_id, ())),
            )
        )
    return rows


def unknown_articles(
    files: Sequence[PhrasingFile], existing: Mapping[str, set[str]]
) -> list[tuple[PhrasingFile, str]]:
    """(file, article) pairs naming an article its document does not have (documents that are stored)."""
    return [
        (f, key)
        for f in files
        if f.doc_id in existing
        for key in dict.fromkeys([*f.articles, *f.words])
        if key not in existing[f.doc_id]
    ]


def file_stem(doc_id: str) -> str:
    """A file name for ``doc_id``: e-Gov ids as they are, other characters (``/``, ``:``) escaped."""
    return quote(doc_id, safe="-_.")


def dump_file(
    doc_id: str,
    title: str,
    articles: Mapping[str, Sequence[str]],
    *,
    header: str = "",
    comments: Mapping[str, str] | None = None,
    words: Mapping[str, str] | None = None,
) -> str:
    """The phrasing file format as text, in the style of the shipped files (``load_file`` reads it back).

    ``header`` becomes the opening comment lines; ``comments`` (article key → e.g. 第一条（目的）) the
    comment after each key; ``words`` the everyday words per article. Articles without lines are left
    out. Lines stay plain YAML where that reads back unchanged, and are double-quoted otherwise.
    """
    out = [f"# {_one_line(line)}" for line in header.splitlines()]
    out += [f"doc_id: {_scalar(doc_id)}", f"title: {_scalar(title)}", "articles:"]
    for key, lines in articles.items():
        if not lines:
            continue
        note = _one_line((comments or {}).get(key, ""))
        out.append(f"  {_quoted(key)}:" + (f"  # {note}" if note else ""))
        out += [f"    - {_scalar(line)}" for line in lines]
    if words:
        out.append("words:")
        out += [f"  {_quoted(key)}: {_scalar(line)}" for key, line in words.items()]
    return "\n".join(out) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")


def _scalar(text: str) -> str:
    """``text`` plain when YAML reads it back as the same string, else double-quoted."""
    if not text or text != text.strip() or any(c in text for c in "\n\t\r"):
        return _quoted(text)
    if ": " in text or " #" in text or text.endswith(":") or text[0] in _INDICATORS:
        return _quoted(text)
    if not text.isascii():  # Japanese text never resolves to a number, a date, a boolean or null
        return text
    try:
        return text if YAML(typ="safe").load(f"- {text}") == [text] else _quoted(text)
    except YAMLError:
        return _quoted(text)
