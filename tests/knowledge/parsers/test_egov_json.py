"""e-Gov API v2 law_data JSON: real 民法 fragment, and XML files rebuilt as JSON give identical results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from knowledge.documents import ParseError, Part
from knowledge.parsers import egov_json, egov_xml

GYOTETSU = "405AC0000000088_20240401_504AC0100000052.xml"


def element_to_node(el: etree._Element) -> dict[str, Any]:
    """The API's JSON shape: {"tag", "attr", "children"}, text as strings (independent of the parser)."""
    children: list[Any] = [el.text] if el.text and el.text.strip() else []
    for child in el:
        children.append(element_to_node(child))
        if child.tail and child.tail.strip():
            children.append(child.tail)
    return {"tag": el.tag, "attr": dict(el.attrib), "children": children}


def test_minpo_30_fragment_drops_ruby_readings(shared_corpus: Path) -> None:
    data = (shared_corpus / "json_samples" / "minpo_30.json").read_bytes()
    section = egov_json.parse_fragment(data, "minpo_30.json")
    assert (section.key, section.label, section.part) == ("30", "第三十条", Part.MAIN)
    assert section.caption == "（失踪の宣告）"
    assert section.paragraphs[0] == (
        "不在者の生死が七年間明らかでないときは、家庭裁判所は、利害関係人の請求により、"
        "失踪の宣告をすることができる。"
    )
    assert section.paragraphs[1].startswith("２　戦地に臨んだ者、")
    assert "戦争が止んだ後" in section.paragraphs[1]
    assert "そう" not in section.text
    assert len(section.paragraphs) == 2


def test_full_response_equals_xml_response(shared_corpus: Path) -> None:
    xml_path = shared_corpus / "xml" / "api_v2_law_data_response" / "504CO0000000187.xml"
    root = etree.fromstring(xml_path.read_bytes())
    payload = {
        "attached_files_info": None,
        "law_info": {c.tag: c.text for c in root.find("law_info")},
        "revision_info": {c.tag: c.text for c in root.find("revision_info")},
        "law_full_text": element_to_node(root.find("law_full_text/Law")),
    }
    data = json.dumps(payload, ensure_ascii=False).encode()
    assert egov_json.sniff(data, "504CO0000000187.json")
    from_json = egov_json.parse(data, "504CO0000000187.json")
    from_xml = egov_xml.parse(xml_path.read_bytes(), "504CO0000000187.json")
    assert from_json == from_xml
    assert from_json.revision_id == "504CO0000000187_20220518_000000000000000"
    assert from_json.effective_date == "2022-05-18"
    assert [s.key for s in from_json.sections] == ["main", "suppl0"]


def test_bare_law_node_equals_standard_xml(shared_corpus: Path) -> None:
    xml_bytes = (shared_corpus / "xml" / GYOTETSU).read_bytes()
    node = element_to_node(etree.fromstring(xml_bytes))
    data = json.dumps(node, ensure_ascii=False).encode()
    assert egov_json.sniff(data, GYOTETSU)
    from_json = egov_json.parse(data, GYOTETSU.replace(".xml", ".json"))
    from_xml = egov_xml.parse(xml_bytes, GYOTETSU)
    assert from_json == from_xml
    assert len(from_json.sections) == 71
    assert from_json.abbrev == ("行手法",)


def test_sniff_rejects_other_json() -> None:
    assert not egov_json.sniff(b'[{"question": "q"}]', "qa.json")
    assert not egov_json.sniff(b'{"items": []}', "x.json")
    assert not egov_json.sniff(b"<Law/>", "x.xml")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"law_full_text": {"tag": "Article", "attr": {}, "children": []}}', "must be a Law node"),
        (b'{"law_full_text": "text"}', "must be a Law node"),
        (b'{"tag": "Law", "attr": {}, "children": [42]}', "unexpected int child in <Law>"),
        (b'{"tag": "Law", "attr": {}, "children": [{"attr": {}}]}', "malformed law node"),
        (b'{"tag": "Law", "attr": {}, "children": [{"tag": "a b", "attr": {}, "children": []}]}', "invalid"),
        (b'{"tag": "Law", "attr": {}, "children": []}', "no <LawBody>"),
    ],
)
def test_garbage_raises(data: bytes, message: str) -> None:
    with pytest.raises(ParseError) as err:
        egov_json.parse(data, "405AC0000000088.json")
    assert message in str(err.value)
    assert "405AC0000000088.json" in str(err.value)


def test_fragment_must_be_an_article() -> None:
    with pytest.raises(ParseError, match="expected <Article>, got <Paragraph>"):
        egov_json.parse_fragment(b'{"tag": "Paragraph", "attr": {}, "children": []}', "p.json")
