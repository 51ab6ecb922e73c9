"""e-Gov API v2 ``law_data`` JSON response (``response_format=json``) → ``ParsedDocument``.

``law_full_text`` is the law as a tree of ``{"tag", "attr", "children"}`` nodes
whose children are nodes or text strings. The tree is rebuilt as an lxml element
tree and handed to the XML walker, so JSON and XML give identical sections.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

from knowledge.documents import ParsedDocument, ParsedSection, ParseError
from knowledge.parsers.egov_xml import LawMeta, article_section, law_document, meta_from_info

_MAX_DEPTH = 200


def sniff(data: bytes, source: str) -> bool:
    """True for an API v2 law_data JSON response or a bare law-tree node."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{"):
        return False
    return b'"law_full_text"' in head or re.search(rb'"tag"\s*:\s*"Law"', head) is not None


def parse(data: bytes, source: str) -> ParsedDocument:
    """Parse a full response or a bare ``Law`` node."""
    payload = load_json(data, source)
    if "law_full_text" in payload:
        node = payload["law_full_text"]
        meta = meta_from_info(_strings(payload.get("law_info")), _strings(payload.get("revision_info")))
    else:
        node, meta = payload, LawMeta()
    if not isinstance(node, Mapping) or node.get("tag") != "Law":
        tag = node.get("tag") if isinstance(node, Mapping) else type(node).__name__
        raise ParseError(f"{source}: law_full_text must be a Law node, got {tag!r}")
    return law_document(node_to_element(node, source), meta, source)


def parse_fragment(data: bytes, source: str) -> ParsedSection:
    """A bare ``Article`` node (as in tests/fixtures of other projects) → one section."""
    payload = load_json(data, source)
    return article_section(node_to_element(payload, source), source)


def load_json(data: bytes, source: str) -> dict[str, Any]:
    try:
        payload = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"{source}: malformed JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ParseError(f"{source}: expected a JSON object, got {type(payload).__name__}")
    return payload


def node_to_element(node: Mapping[str, Any], source: str = "", _depth: int = 0) -> etree._Element:
    """Rebuild ``{"tag", "attr", "children"}`` as an lxml element; strings become text / tails."""
    if _depth > _MAX_DEPTH:
        raise ParseError(f"{source}: law tree nested deeper than {_MAX_DEPTH} levels")
    tag, attr, children = node.get("tag"), node.get("attr") or {}, node.get("children") or []
    if not isinstance(tag, str) or not isinstance(attr, Mapping) or not isinstance(children, list):
        raise ParseError(f"{source}: malformed law node {str(node)[:80]!r} (needs tag, attr, children)")
    try:
        element = etree.Element(tag, {str(k): str(v) for k, v in attr.items()})
    except ValueError as exc:
        raise ParseError(f"{source}: invalid tag or attribute in node <{tag}>: {exc}") from exc
    last: etree._Element | None = None
    for child in children:
        if isinstance(child, str):
            if last is None:
                element.text = (element.text or "") + child
            else:
                last.tail = (last.tail or "") + child
        elif isinstance(child, Mapping):
            last = node_to_element(child, source, _depth + 1)
            element.append(last)
        else:
            raise ParseError(f"{source}: unexpected {type(child).__name__} child in <{tag}>")
    return element


def _strings(block: object) -> dict[str, str]:
    if not isinstance(block, Mapping):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in block.items()}
