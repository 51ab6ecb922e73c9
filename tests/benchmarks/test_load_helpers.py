"""The pure helpers of benchmarks/slack_load.py and benchmarks/digest_load.py (not the benchmarks)."""

from __future__ import annotations

import pytest
from lxml import etree

from adapters.slack.render import digest_messages
from benchmarks.digest_load import make_notices, notice_html, posted_items, rss_feed
from benchmarks.slack_load import Outcome, make_questions, percentile, question_of, summarise
from bot.digest.feeds import parse_feed
from bot.models import Digest, DigestItem
from knowledge.parsers import parse_bytes


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 51.0
    assert percentile(values, 0.95) == 95.0
    assert percentile([3.0], 0.95) == 3.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_questions_are_distinct_and_attributable() -> None:
    pairs = [("民法", "（時効の効力）"), ("航空法", "（保安検査）"), ("民法", "（施行期日）"),
             ("民法", "（x）")]
    questions = make_questions(pairs, 6)
    assert len(set(questions)) == 6
    assert not any("施行期日" in q for q in questions)
    with pytest.raises(ValueError):
        make_questions(pairs, 7)
    index = {q.replace("？", "?"): i for i, q in enumerate(questions)}  # the engine NFKC-normalises
    rewrite = {"messages": [{"role": "user", "content": f"<question>\n{questions[2]}\n</question>"}]}
    answer = {"messages": [{"role": "system", "content": "..."}, {"role": "user", "content": questions[4]}]}
    assert question_of(rewrite, index) == 2
    assert question_of(answer, index) == 4
    assert question_of({"messages": [{"role": "user", "content": "別の質問"}]}, index) is None


def test_summary_subtracts_the_measured_llm_time_and_counts_lost_and_duplicated() -> None:
    outcomes = [
        Outcome(index=0, sent=0.0, acked=0.01, final=2.1, answers=1, llm_s=2.0, llm_calls=1),
        Outcome(index=1, sent=1.0, acked=1.02, final=5.3, answers=2, llm_s=4.0, llm_calls=2),
        Outcome(index=2, sent=2.0),  # never answered
    ]
    report = summarise(outcomes, started=0.0, finished=5.3)
    assert (report["answered"], report["lost"], report["duplicated"]) == (2, 1, 1)
    assert report["overhead_p95_ms"] == pytest.approx(300.0)
    assert report["overhead_p50_ms"] == pytest.approx(100.0)
    assert report["questions_per_s"] == pytest.approx(2 / 5.3, abs=0.01)


def test_feed_pages_and_digest_counting_round_trip() -> None:
    notices = make_notices(3, first=7)
    feed = rss_feed(notices).replace(b"{base}", b"http://127.0.0.1:1")
    items = parse_feed(feed, source="http://127.0.0.1:1/f")
    assert [i.id for i in items] == ["bench-notice-00009", "bench-notice-00008", "bench-notice-00007"]
    assert items[0].url == "http://127.0.0.1:1/tsuchi/00009.html"
    doc = parse_bytes(notice_html(notices[0]), "http://127.0.0.1:1/tsuchi/00007.html")
    assert notices[0].title in doc.title
    assert len(doc.sections) >= 3
    etree.fromstring(rss_feed(notices))  # well-formed XML
    digest = Digest(subscription="s", items=tuple(
        DigestItem(title=f"通知{n}", url=f"https://example.jp/{n}", summary="要旨", published="2025-04-01",
                   source="soumu") for n in range(30)))
    [message] = digest_messages(digest)
    urls, folded = posted_items(message.blocks)
    assert len(urls) + folded == 30
    assert folded > 0 and urls[0] == "https://example.jp/0"
