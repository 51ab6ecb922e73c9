"""Q&A collections (照会回答集, FAQ) in CSV or JSON → ParsedDocument, one section per pair.

CSV: a header row, then one pair per row (UTF-8 with or without BOM, or cp932).
JSON: a list of objects, or ``{"title": ..., "url": ..., "items": [...]}`` (the url, when http(s), is
where every pair links to: an answered 照会 links to the answer in its chat).
Column names may be English or Japanese (質問/問, 回答/答, 根拠/出典, 分類, ...).
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from knowledge.documents import DocKind, ParsedDocument, ParsedSection, ParseError
from knowledge.parsers.charset import decode_text
from knowledge.parsers.notice_html import doc_id_for

FIELDS: dict[str, tuple[str, ...]] = {
    "question": ("question", "q", "質問", "問", "問い", "質問内容", "照会", "照会内容", "照会事項"),
    "answer": ("answer", "a", "回答", "答", "答え", "回答内容"),
    "source": ("source", "basis", "reference", "根拠", "出典", "根拠法令", "根拠条文"),
    "url": ("url", "link", "リンク"),
    "id": ("id", "no", "no.", "番号", "問番号", "通番"),
    "category": ("category", "分類", "カテゴリ", "カテゴリー", "区分"),
}


def _norm(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip().lower()


_ALIAS = {_norm(alias): field for field, aliases in FIELDS.items() for alias in aliases}


def sniff(data: bytes, source: str) -> bool:
    suffix = _suffix(source)
    if suffix in {".csv", ".tsv"}:
        return True
    if suffix != ".json":
        return False
    try:
        _, items = _json_items(json.loads(decode_text(data)), source)
    except (ParseError, ValueError):
        return False
    return bool(items) and isinstance(items[0], Mapping) and "question" in _columns(items[0].keys())


def parse(data: bytes, source: str) -> ParsedDocument:
    if not data.strip():
        raise ParseError(f"{source}: empty input")
    text = decode_text(data)
    if _suffix(source) == ".json" or text.lstrip().startswith(("[", "{")):
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParseError(
                f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from exc
        title, items = _json_items(payload, source)
        rows = [(f"item {n}", _item(obj, n, source)) for n, obj in enumerate(items, start=1)]
        url = _json_url(payload)
    else:
        title, url = "", ""
        rows = _csv_rows(text, source, "\t" if _suffix(source) == ".tsv" else ",")
    sections = _sections(rows, source)
    return ParsedDocument(
        doc_id=doc_id_for(source, ""),
        kind=DocKind.QA,
        title=title or _stem(source),
        sections=tuple(sections),
        url=source if source.startswith(("http://", "https://")) else url,
    )


def _json_url(payload: Any) -> str:
    url = payload.get("url") if isinstance(payload, dict) else None
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else ""


def _suffix(source: str) -> str:
    return PurePosixPath(urlsplit(source).path if "://" in source else source).suffix.lower()


def _stem(source: str) -> str:
    return PurePosixPath(urlsplit(source).path if "://" in source else source).stem


def _columns(names: Any) -> dict[str, str]:
    """Map our field names to the first matching column name as written in the file."""
    found: dict[str, str] = {}
    for name in names:
        field = _ALIAS.get(_norm(str(name)))
        if field and field not in found:
            found[field] = str(name)
    return found


def _require(columns: dict[str, str], names: list[str], source: str, where: str) -> None:
    for field in ("question", "answer"):
        if field not in columns:
            aliases = "/".join(FIELDS[field][:4])
            found = ", ".join(names) or "none"
            raise ParseError(f"{source}: {where} has no {field} column ({aliases}…); columns found: {found}")


def _json_items(payload: Any, source: str) -> tuple[str, list[Any]]:
    if isinstance(payload, list):
        return "", payload
    if isinstance(payload, dict) and isinstance(payload.get("items"), list):
        title = payload.get("title")
        return (title if isinstance(title, str) else ""), payload["items"]
    raise ParseError(f'{source}: JSON must be a list of Q&A objects or an object with an "items" list')


def _item(obj: Any, n: int, source: str) -> dict[str, str]:
    if not isinstance(obj, Mapping):
        raise ParseError(f"{source}: item {n} is {type(obj).__name__}, not an object")
    columns = _columns(obj.keys())
    _require(columns, [str(k) for k in obj], source, f"item {n}")
    return {field: _cell(obj.get(column)) for field, column in columns.items()}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "、".join(str(v).strip() for v in value if str(v).strip())
    return str(value).strip()


def _csv_rows(text: str, source: str, delimiter: str) -> list[tuple[str, dict[str, str]]]:
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise ParseError(f"{source}: malformed CSV: {exc}") from exc
    if not records:
        raise ParseError(f"{source}: CSV without a header row")
    header = [h.strip() for h in records[0]]
    columns = _columns(header)
    _require(columns, header, source, "header row")
    index = {field: header.index(column) for field, column in columns.items()}
    rows: list[tuple[str, dict[str, str]]] = []
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank spreadsheet row
        values = {field: record[i].strip() if i < len(record) else "" for field, i in index.items()}
        rows.append((f"row {number}", values))
    return rows


def _sections(rows: list[tuple[str, dict[str, str]]], source: str) -> list[ParsedSection]:
    if not rows:
        raise ParseError(f"{source}: no Q&A pairs (only a header)")
    sections: list[ParsedSection] = []
    seen: set[str] = set()
    for n, (where, values) in enumerate(rows, start=1):
        for field, printed in (("question", "question (質問)"), ("answer", "answer (回答)")):
            if not values.get(field):
                raise ParseError(f"{source}: {where} has an empty {printed}")
        given = values.get("id", "")
        key = given or f"q{n}"
        if key in seen:
            raise ParseError(f"{source}: {where} repeats id {key!r}")
        seen.add(key)
        lines = [f"問　{values['question']}", f"答　{values['answer']}"]
        if values.get("source"):
            lines.append(f"根拠　{values['source']}")
        if values.get("url"):
            lines.append(f"参照　{values['url']}")
        category = values.get("category", "")
        sections.append(
            ParsedSection(
                key=key,
                label=given or f"問{n}",
                text="\n".join(lines),
                caption=values["question"],
                path=(category,) if category else (),
            )
        )
    return sections
