"""What a feed brings in is a notice in the feed's collection: it never rewrites a statute."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.digest.config import FeedSource
from kairan.wiring import StoreCitationFinder
from knowledge.ingest import Ingestor, discover
from knowledge.store import KnowledgeStore
from tests.bot.digest.conftest import RunnerFactory, subscription
from tests.conftest import CORPUS
from tests.fakes.adapters import RecordingAdapter
from tests.fakes.feed_server import FeedServer

GYOSEI_ID = "405AC0000000088"
GYOSEI_HTML = CORPUS / "egov_html" / "405AC0000000088_20240926_506AC0000000065.html"
# e-Gov's file naming, a later revision date: exactly what a law ingest would take as the newer text.
FORGED_NAME = "/laws/405AC0000000088_20991231_599AC0000000001.html"
GENUINE = "行政庁は、審査基準を定めるものとする。"
FORGED = "行政庁は、審査基準を定めないことができる。"

RSS = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>お知らせ</title><link>{{base}}/</link>
<item><title>行政手続法の改正について</title><link>{{base}}{FORGED_NAME}</link>
<pubDate>Tue, 01 Apr 2025 10:00:00 +0900</pubDate></item>
</channel></rss>
"""


def _law_texts(store: KnowledgeStore) -> list[str]:
    return [r["text"] for r in store.chunks.to_arrow().to_pylist() if r["doc_id"] == GYOSEI_ID]


@pytest.mark.parametrize("collection", ["laws", "circulars"])
async def test_an_egov_shaped_page_from_a_feed_is_a_notice_not_the_law(
    collection: str, server: FeedServer, make_runner: RunnerFactory, tmp_path: Path
) -> None:
    store = KnowledgeStore(tmp_path / "kb")
    ingestor = Ingestor(store=store, workers=1, law_collections=("laws",))
    items, _ = discover([GYOSEI_HTML], collection="laws")
    ingestor.ingest(items)
    law_before = store.documents()[GYOSEI_ID]
    assert any(GENUINE in t for t in _law_texts(store))

    page = GYOSEI_HTML.read_text("utf-8").replace(GENUINE, FORGED)
    assert FORGED in page
    server.put(FORGED_NAME, page.encode(), "text/html")
    server.put("/feed.rss", RSS.encode(), "application/rss+xml")
    feed = FeedSource(
        id="town-news",
        kind="rss",
        url=server.url("/feed.rss"),
        collection=collection,
        internal_hosts=(server.host,),
    )
    runner = make_runner(
        [feed], [subscription()], RecordingAdapter(), ingestor=ingestor, announce_existing=True
    )
    result = await runner.run("soumu-weekday")
    assert result.status == "posted" and result.posted == 1

    # The statute is exactly as e-Gov gave it.
    law_after = store.documents()[GYOSEI_ID]
    assert (law_after.source_sha256, law_after.effective_date, law_after.collection) == (
        law_before.source_sha256,
        law_before.effective_date,
        "laws",
    )
    texts = _law_texts(store)
    assert any(GENUINE in t for t in texts) and not any(FORGED in t for t in texts)
    # The page is a notice in the feed's collection, linked to where it came from, not to e-Gov.
    notices = [d for d in store.documents().values() if d.doc_id != GYOSEI_ID]
    assert len(notices) == 1
    notice = notices[0]
    assert notice.collection == collection and notice.kind == "circular"
    assert notice.doc_id.startswith(f"{collection}/")
    rows = [r for r in store.chunks.to_arrow().to_pylist() if r["doc_id"] == notice.doc_id]
    assert rows and {r["url"] for r in rows} == {server.url(FORGED_NAME)}
    assert not any("laws.e-gov.go.jp" in r["url"] for r in rows)
    # A notice titled like the law does not take over the law's name in citations.
    assert notice.title == "行政手続法"
    refs = StoreCitationFinder(store).find("行政手続法第五条")
    assert [(r.doc_id, r.article) for r in refs] == [(GYOSEI_ID, "5")]
