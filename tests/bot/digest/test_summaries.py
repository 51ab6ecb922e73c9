"""A digest summary starts where a sentence starts and ends where one ends (or is marked with …).

Notices break lines inside sentences: 総務省's HTML notices with <br> where the printed letter
wrapped, text extracted from PDFs at the page width. The opening sentences are put back together
across those breaks; headings and letterhead lines are left out without cutting a sentence.
"""

from __future__ import annotations

import re

import pytest

from bot.digest.summarise import MAX_SUMMARY_CHARS, document_text, opening_sentences
from knowledge.parsers import parse_file
from tests.bot.digest.conftest import (
    FIXTURES,
    NTA,
    RunnerFactory,
    fixture,
    local_feed,
    publish_after_baseline,
    subscription,
)
from tests.fakes.adapters import RecordingAdapter
from tests.fakes.feed_server import FeedServer

NOTICE_PATH = "/menu_news/s-news/01gyosei01_02000123.html"
OPENING = (  # as published: full-width digits and brackets stay
    "標記について、地方自治法施行令の一部を改正する政令（令和７年政令第８０号）が令和７年３月２８日に公布され、"
    "令和７年４月１日から施行されることとなりました。"
    "改正の趣旨及び概要は下記のとおりですので、貴職におかれては、十分御了知の上、その運用に遺漏のないよう御配慮願います。"
    "また、貴都道府県内の市区町村（指定都市を除く。）に対しても、本通知について周知いただくようお願いします。"
)
# 総務省-style letter text as a PDF gives it when its lines are not joined back: wrapped at 34.
WRAPPED_LETTER = """総財務第４５号
令和７年４月１日
各都道府県知事　殿
総務省自治財政局長
地方債同意等基準の一部改正について（通知）
　地方債同意等基準（令和７年総務省告示第１２３号）の一部が別添のとおり
改正され、令和７年４月１日から適用されることとなりましたので、その取扱
いについて下記のとおり通知します。
　貴都道府県内の市町村に対しても速やかにこの旨を周知いただくようお願いし
ます。
記
第１　改正の内容
　公共施設等の除却に係る地方債の充当率を引き上げるものであること。
第２　留意事項
　改正後の基準は、令和７年度に同意等を行う地方債から適用されるものであ
ること。なお、令和６年度以前に同意等を得た地方債の借換えについては、従前
の例によるものであること。
"""


def feed(items: list[tuple[str, str, str]]) -> bytes:
    """An RSS 2.0 feed of (title, path, description), newest first."""
    entries = "".join(
        f"<item><title>{title}</title><link>{{base}}{path}</link><description>{description}</description>"
        "<pubDate>Tue, 01 Apr 2025 17:00:00 +0900</pubDate></item>"
        for title, path, description in items
    )
    channel = f"<channel><title>総務省</title>{entries}</channel>"
    return f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0">{channel}</rss>'.encode()


async def test_a_notice_with_line_breaks_inside_sentences_is_summarised_from_its_first_sentence(
    server: FeedServer, make_runner: RunnerFactory
) -> None:
    server.put(NOTICE_PATH, fixture("soumu_notice_br.html"), "text/html; charset=utf-8")
    notice = "地方自治法施行令の一部を改正する政令等の施行について（通知）"
    gone = "地方債同意等基準の一部改正について"
    # The second document is gone; the feed's description was cut by the publisher's CMS mid-sentence.
    data = feed([
        (notice, NOTICE_PATH, "施行について通知しました。"),
        (gone, "/gone.pdf", "地方債同意等基準を改正しました。なお、令和７年度の同意等に"),
    ])  # fmt: skip
    adapter = RecordingAdapter()
    runner = make_runner([local_feed(server, "soumu", "rss", "/soumu.rss")], [subscription()], adapter)
    result = await publish_after_baseline(server, runner, "/soumu.rss", data, hidden=2)
    assert result.status == "posted"
    summaries = {i.title: i.summary for i in adapter.digests[0].items}
    assert summaries[notice] == OPENING
    assert summaries[gone] == "地方債同意等基準を改正しました。"


def test_text_wrapped_at_the_page_width_is_joined_back_into_sentences() -> None:
    assert opening_sentences(WRAPPED_LETTER) == (
        "地方債同意等基準（令和７年総務省告示第１２３号）の一部が別添のとおり改正され、令和７年４月１日から"
        "適用されることとなりましたので、その取扱いについて下記のとおり通知します。"
        "貴都道府県内の市町村に対しても速やかにこの旨を周知いただくようお願いします。"
        "公共施設等の除却に係る地方債の充当率を引き上げるものであること。"
    )


@pytest.mark.parametrize(
    ("text", "summary"),
    [
        # A break after a bracket, the sentence going on with a particle.
        (
            "改正政令（令和７年政令第８０号）\nが公布されました。",
            "改正政令（令和７年政令第８０号）が公布されました。",
        ),
        # A break inside a bracket.
        (
            "標記の法律（以下「法」\nという。）を施行します。",
            "標記の法律（以下「法」という。）を施行します。",
        ),
        # A sentence that begins at the end of one line and goes on in the next.
        (
            "令和７年４月１日から施行された。改正の趣旨\n及び概要は別紙のとおり。",
            "令和７年４月１日から施行された。改正の趣旨及び概要は別紙のとおり。",
        ),
        # 改正… at the start of a continued line is prose, not a 改正 date line of the letterhead.
        (
            "標記の省令の一部を\n改正する省令が公布されました。",
            "標記の省令の一部を改正する省令が公布されました。",
        ),
        # A letterhead line before the first sentence is left out, though it ends with a kana.
        (
            "改正　令和７年４月１日\n各都道府県知事　あて\n標記について、下記のとおり通知します。",
            "標記について、下記のとおり通知します。",
        ),
        # A sentence that begins with 改正 is a sentence, not a 改正 date line.
        (
            "記\n改正後の規定は、令和７年４月１日\nから適用する。",
            "改正後の規定は、令和７年４月１日から適用する。",
        ),
        # Too long for a summary: cut and marked.
        ("あ" * 300 + "。", "あ" * (MAX_SUMMARY_CHARS - 1) + "…"),
    ],
)
def test_breaks_inside_a_sentence_do_not_cut_it(text: str, summary: str) -> None:
    assert opening_sentences(text) == summary


def documents() -> list[tuple[str, str]]:
    """(name, text) of every real 国税庁 page and of the notice fixtures."""
    notices = [FIXTURES / "soumu_notice_br.html", FIXTURES / "soumu_notice_cp932.html"]
    pages = [*sorted(NTA.glob("*.htm")), *notices]
    return [*((p.name, document_text(parse_file(p))) for p in pages), ("wrapped letter", WRAPPED_LETTER)]


def test_every_summary_starts_at_a_sentence_start_and_ends_at_a_sentence_end() -> None:
    checked = 0
    for name, text in documents():
        summary = opening_sentences(text)
        if " / " in summary or "。" not in summary:  # a list page: its first lines, not sentences
            continue
        lines = [line.strip() for line in text.splitlines()]
        head = summary[:12]
        at_start = [
            n for n, line in enumerate(lines) if line and (line.startswith(head) or summary.startswith(line))
        ]
        inside = [line for line in lines if re.search(rf"。[」』)）]*{re.escape(head)}", line)]
        assert at_start or inside, (name, summary[:40])
        # Where it begins the line, the line before ends a sentence or is no prose (a heading):
        # it does not break off after a comma or a particle.
        before = lines[at_start[0] - 1] if at_start and at_start[0] else ""
        assert not re.search(r"[、，,\u3041-\u309f]$", before), (name, before, summary[:40])
        assert summary.endswith(("。", "…")), (name, summary[-40:])
        assert len(summary) <= MAX_SUMMARY_CHARS, name
        checked += 1
    assert checked >= 30
