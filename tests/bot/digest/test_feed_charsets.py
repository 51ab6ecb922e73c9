"""Feeds and pages labelled Shift_JIS are decoded as CP932, as browsers do.

Japanese government sites write Shift_JIS and mean Microsoft's CP932: ①, Ⅱ, 髙 and ㈱ are not in
JIS X 0208, so a strict Shift_JIS decoder (libxml2's, Python's ``shift_jis``) rejects the whole
feed over one of them. The 総務省-shaped fixture has one such character in each of three items.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.digest.feeds import parse_feed, parse_index_page
from knowledge.ingest import Ingestor
from knowledge.parsers.charset import charset_from_header, codec_name
from knowledge.store import KnowledgeStore
from tests.bot.digest.conftest import (
    RunnerFactory,
    fixture,
    local_feed,
    publish_after_baseline,
    subscription,
)
from tests.fakes.adapters import RecordingAdapter
from tests.fakes.feed_server import FeedServer

SOUMU = "soumu_news_cp932.rdf"
BASE = "http://127.0.0.1:8080"
TITLES = [
    "地方公共団体情報システムの標準化に関する留意事項（その①）について（通知）",
    "令和7年度 地方財政計画（Ⅱ 歳出）の概要",
    "髙橋総務大臣政務官の地方視察",
    "地方債同意等基準の一部改正",
]
NOTICE_PATH = "/menu_news/s-news/01gyosei02_02000401.html"
# Every label the WHATWG Encoding Standard gives its Shift_JIS decoder (which is CP932).
SHIFT_JIS_LABELS = [
    "csshiftjis", "ms932", "ms_kanji", "shift-jis", "shift_jis", "sjis", "windows-31j", "x-sjis",
]  # fmt: skip


def test_the_fixture_really_needs_cp932() -> None:
    data = fixture(SOUMU)
    assert data.startswith(b'<?xml version="1.0" encoding="Shift_JIS"?>')
    with pytest.raises(UnicodeDecodeError):
        data.decode("shift_jis")
    assert "①" in data.decode("cp932")


def test_a_shift_jis_feed_with_cp932_characters_is_read_whole() -> None:
    items = parse_feed(fixture(SOUMU).replace(b"{base}", BASE.encode()), source="news.rdf")
    assert [i.title for i in items] == TITLES
    assert items[1].summary == "㈱日本政策投資銀行との連携事業に係る経費を含む歳出の概要です。"


@pytest.mark.parametrize("label", [*SHIFT_JIS_LABELS, "Shift_JIS", "csShiftJIS", "Windows-31J"])
def test_every_shift_jis_label_means_cp932(label: str) -> None:
    assert codec_name(label) == "cp932"
    assert charset_from_header(f"application/rss+xml; charset={label}") == "cp932"


@pytest.mark.parametrize("label", ["csShiftJIS", "x-sjis", "Shift_JIS"])
def test_a_declared_or_configured_shift_jis_label_decodes_cp932(label: str) -> None:
    text = fixture(SOUMU).decode("cp932").replace('encoding="Shift_JIS"', f'encoding="{label}"')
    data = text.replace("{base}", BASE).encode("cp932")
    assert [i.title for i in parse_feed(data, source="news.rdf")] == TITLES
    assert [i.title for i in parse_feed(data, source="news.rdf", encoding=label)] == TITLES
    page = (
        '<html><body><ul><li>令和7年4月2日 <a href="/n/1.html">留意事項（その①）について</a></li>'
        '<li><a href="/n/2.html">㈱との契約（Ⅱ）</a></li></ul></body></html>'
    ).encode("cp932")
    listed = parse_index_page(page, source=f"{BASE}/list.html", encoding=label)
    assert [i.title for i in listed] == ["留意事項（その①）について", "㈱との契約（Ⅱ）"]
    served = parse_index_page(page, source=f"{BASE}/list.html", content_type=f"text/html; charset={label}")
    assert [i.title for i in served] == ["留意事項（その①）について", "㈱との契約（Ⅱ）"]


def test_a_feed_without_a_declaration_is_read_in_the_charset_its_server_names() -> None:
    text = fixture(SOUMU).decode("cp932").replace('<?xml version="1.0" encoding="Shift_JIS"?>\n', "")
    data = text.replace("{base}", BASE).encode("cp932")
    items = parse_feed(data, source="news.rdf", content_type="application/rss+xml; charset=Shift_JIS")
    assert [i.title for i in items] == TITLES
    # A declaration in the feed wins over the header (servers often send a default charset).
    declared = fixture(SOUMU).replace(b"{base}", BASE.encode())
    items = parse_feed(declared, source="news.rdf", content_type="text/xml; charset=UTF-8")
    assert [i.title for i in items] == TITLES


async def test_the_soumu_feed_is_announced_with_its_cp932_items_and_documents(
    server: FeedServer, make_runner: RunnerFactory, tmp_path: Path
) -> None:
    store = KnowledgeStore(tmp_path / "kb")
    adapter = RecordingAdapter()
    feed = local_feed(server, "soumu", "rdf", "/news.rdf")
    runner = make_runner([feed], [subscription()], adapter, ingestor=Ingestor(store=store, workers=1))
    # The notice page as 総務省 served it: Shift_JIS in the header and the <meta>, CP932 bytes.
    server.put(NOTICE_PATH, fixture("soumu_notice_cp932.html"), "text/html; charset=Shift_JIS")
    result = await publish_after_baseline(server, runner, "/news.rdf", fixture(SOUMU), hidden=3)
    assert result.polls[0].error is None
    assert result.status == "posted" and result.posted == 3
    assert [i.title for i in adapter.digests[0].items] == TITLES[:3]
    notice = adapter.digests[0].items[0]
    assert notice.url == server.url(NOTICE_PATH)
    assert notice.summary.startswith("地方公共団体情報システムの標準化に関する法律（令和３年法律第40号）")
    # The summary shows the characters as published: ① is not 1, Ⅱ is not II.
    assert "①移行困難システムに該当する場合は、Ⅱの手続により所要の協議を行ってください。" in notice.summary
    # The fetched page decoded whole: its ①, Ⅱ, ㈱ and 髙 are in the knowledge base.
    [stored] = [d for d in store.documents().values() if d.title.startswith("地方公共団体情報システム")]
    text = "".join(r["text"] for r in store.chunks.to_arrow().to_pylist() if r["doc_id"] == stored.doc_id)
    assert all(ch in text for ch in "①Ⅱ㈱髙")


async def test_the_runner_reads_a_feed_in_the_charset_of_its_http_header(
    server: FeedServer, make_runner: RunnerFactory
) -> None:
    undeclared = fixture(SOUMU).decode("cp932").replace('<?xml version="1.0" encoding="Shift_JIS"?>\n', "")
    adapter = RecordingAdapter()
    runner = make_runner([local_feed(server, "soumu", "rdf", "/news.rdf")], [subscription()], adapter)
    header = "application/rdf+xml; charset=Shift_JIS"
    server.put("/news.rdf", re.sub(r"<item .*</item>\n", "", undeclared, flags=re.S).encode("cp932"), header)
    assert (await runner.run("soumu-weekday")).polls[0].baseline  # no items yet
    server.put("/news.rdf", undeclared.encode("cp932"), header)
    result = await runner.run("soumu-weekday")
    assert result.polls[0].error is None
    assert [i.title for i in adapter.digests[0].items] == TITLES
