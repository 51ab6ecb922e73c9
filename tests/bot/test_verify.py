"""Verification of generated answers against real 地方自治法 articles."""

from __future__ import annotations

import pytest

from bot.models import Citation, Source
from bot.verify import (
    AUTHORITATIVE_NOTE,
    check_quoted_articles,
    declines,
    find_quotes,
    quote_in,
    split_sentences,
    verify,
    with_note,
)
from knowledge.citations import LawTitleIndex, load_abbreviations
from tests.bot.law_sources import JICHI, jichi, source, sources

FAITHFUL = (
    "行政財産は原則として貸し付けることができず、地方自治法第二百三十八条の四は"
    "「これを貸し付け、交換し、売り払い、譲与し、出資の目的とし、若しくは信託し、"
    "又はこれに私権を設定することができない」と定めています[1]。"
    "ただし、「その用途又は目的を妨げない限度においてその使用を許可することができる」とされています[1]。\n"
    "許可を受けた使用については、「使用料を徴収することができる」とされています[2]。"
)


@pytest.fixture(scope="module")
def five() -> list[Source]:
    return sources("238_4", "225", "244_2", "242", "238_5")


def test_faithful_answer_is_fully_verified(five: list[Source]) -> None:
    result = verify(FAITHFUL, five)
    assert result.warnings == ()
    assert result.text == FAITHFUL
    assert [(c.n, c.article, c.verified) for c in result.citations] == [(1, "238_4", True), (2, "225", True)]
    first = result.citations[0]
    assert first.doc_id == JICHI
    assert first.title == "地方自治法 第二百三十八条の四"
    assert first.url == f"https://laws.e-gov.go.jp/law/{JICHI}#Mp-At_238_4"
    assert first.quote.startswith("これを貸し付け、交換し")
    assert result.citations[1].quote == "使用料を徴収することができる"
    assert result.verified_claims == 3


def test_citation_to_a_missing_source_is_removed(five: list[Source]) -> None:
    answer = "普通財産は貸し付けることができます[5]。行政財産の使用料は徴収できます [9]。"
    result = verify(answer, five)
    assert result.text == "普通財産は貸し付けることができます[5]。行政財産の使用料は徴収できます。"
    assert result.warnings == ("出典[9]は存在しないため削除しました",)
    assert [c.n for c in result.citations] == [5]
    assert result.verified_claims == 1


def test_partly_missing_multi_citation_keeps_the_valid_numbers(five: list[Source]) -> None:
    result = verify("使用料を徴収できます[2, 9]。許可が必要です[1][7]。", five)
    assert result.text == "使用料を徴収できます[2]。許可が必要です[1]。"
    assert result.warnings == ("出典[9]は存在しないため削除しました", "出典[7]は存在しないため削除しました")
    assert result.verified_claims == 2


def test_full_width_markers_and_digits(five: list[Source]) -> None:
    answer = "使用料は「使用料を徴収することができる」とされています［２］。貸付けは制限されます［１，３］。"
    result = verify(answer, five)
    assert result.warnings == ()
    assert (
        result.text
        == "使用料は「使用料を徴収することができる」とされています[2]。貸付けは制限されます[1][3]。"
    )
    assert [(c.n, c.verified) for c in result.citations] == [(2, True), (1, True), (3, True)]


def test_fabricated_quote_is_flagged(five: list[Source]) -> None:
    answer = (
        "行政財産は「市長の判断で自由に貸し付けることができる」とされています[1]。"
        "使用料は「使用料を徴収することができる」とされています[2]。"
    )
    result = verify(answer, five)
    assert result.warnings == (
        "引用「市長の判断で自由に貸し付けることができる」は出典[1]（地方自治法 第二百三十八条の四）に"
        "見つかりませんでした",
    )
    assert [(c.n, c.verified, c.quote) for c in result.citations] == [
        (1, False, ""),
        (2, True, "使用料を徴収することができる"),
    ]
    assert result.verified_claims == 1


def test_quote_from_the_wrong_source_is_flagged(five: list[Source]) -> None:
    # The phrase is in 225, but the sentence cites 244_2.
    result = verify("「使用料を徴収することができる」とされています[3]。", five)
    assert len(result.warnings) == 1
    assert "出典[3]（地方自治法 第二百四十四条の二）" in result.warnings[0]
    assert result.citations[0].verified is False
    assert result.verified_claims == 0


def test_quote_tolerates_spacing_width_and_trailing_period(five: list[Source]) -> None:
    # Source text: 「６　第一項の規定に違反する行為は、これを無効とする。」
    answer = "違反する貸付けは「第一項の規定に違反する行為は、 これを無効とする。」とされています[1]。"
    assert verify(answer, five).warnings == ()
    assert quote_in("使用料を徴収することができる。", five[1].text)
    assert quote_in("行政財産の使用又は公の施設の利用", five[1].text)
    assert quote_in("普通地方公共団体は、…使用料を徴収することができる", five[1].text)
    assert not quote_in("使用料を徴収しなければならない", five[1].text)
    assert not quote_in("使用料を徴収することができる…公の施設", five[1].text)  # pieces out of order


def test_quote_with_nested_brackets(five: list[Source]) -> None:
    answer = (
        "住民は「財産の管理を怠る事実（以下「怠る事実」という。）があると認めるとき」"
        "に監査を求めることができます[4]。"
    )
    assert find_quotes(answer) == [(answer.index("「") + 1, answer.index("」に"))]
    result = verify(answer, five)
    assert result.warnings == ()
    assert result.verified_claims == 1


def test_quote_without_citation_is_checked_against_all_sources(five: list[Source]) -> None:
    ok = verify("条文には「これを無効とする」とあります。", five)
    assert ok.warnings == ()
    assert ok.citations == ()
    assert ok.verified_claims == 0
    bad = verify("条文には「すべて自由に使用できる」とあります。", five)
    assert bad.warnings == ("引用「すべて自由に使用できる」はいずれの資料にも見つかりませんでした",)


def test_restated_question_and_abstention_phrase_are_not_source_quotes(five: list[Source]) -> None:
    answer = "「根拠となる資料が見つかりませんでした」。「職員の副業は許可制か」については資料にありません。"
    assert verify(answer, five, question="職員の副業は許可制か？").warnings == ()
    assert verify(answer, five).warnings == (
        "引用「職員の副業は許可制か」はいずれの資料にも見つかりませんでした",
    )


def test_short_bracketed_terms_are_not_quotes(five: list[Source]) -> None:
    result = verify("いわゆる「副業」の話ではありません[1]。", five)
    assert result.warnings == ()
    assert result.citations[0].verified


def test_article_not_retrieved_is_flagged() -> None:
    only = sources("238_4")
    answer = "住民訴訟については第二百四十二条の二に定めがあります[1]。"
    result = verify(answer, only)
    assert result.warnings == ("第二百四十二条の二は検索された資料に含まれていません",)


def test_article_of_a_named_law_uses_the_title() -> None:
    only = sources("238_4")
    result = verify("地方自治法第20条の規定によります[1]。地方自治法第238条の4第7項で許可します[1]。", only)
    assert result.warnings == ("地方自治法第二十条は検索された資料に含まれていません",)


def test_missing_paragraph_is_flagged(five: list[Source]) -> None:
    result = verify(
        "地方自治法第二百二十五条第三項によります[2]。第二百三十八条の四第九項もあります[1]。", five
    )
    assert result.warnings == ("地方自治法第二百二十五条第三項は検索された資料に含まれていません",)


def test_article_named_by_the_cited_source_is_accepted() -> None:
    only = sources("225")
    answer = "第二百三十八条の四第七項の許可を受けた行政財産の使用には、使用料を徴収できます[1]。"
    assert verify(answer, only).warnings == ()
    uncited = "第二百三十八条の四第七項の許可を受けた行政財産の使用には、使用料を徴収できます。"
    assert verify(uncited, only).warnings == ("第二百三十八条の四は検索された資料に含まれていません",)


def test_article_inside_a_verified_quote_is_accepted() -> None:
    only = sources("225")
    answer = "条文は「第二百三十八条の四第七項の規定による許可を受けてする行政財産の使用」としています[1]。"
    assert verify(answer, only).warnings == ()


def test_abbreviations_through_a_given_index(five: list[Source]) -> None:
    index = LawTitleIndex.from_titles(
        [("地方自治法", JICHI), ("地方公務員法", "325AC0000000261")], load_abbreviations()
    )
    result = verify("自治法238条の4によります[1]。地公法38条によります[1]。", five, index=index)
    assert result.warnings == ("地方公務員法第三十八条は検索された資料に含まれていません",)


def test_split_sentences_keeps_markers_and_quotes_together() -> None:
    text = "「行政財産は。」と定めています。[1][2]次です[3]！\n最後"
    parts = split_sentences(text)
    assert "".join(parts) == text
    assert parts == ["「行政財産は。」と定めています。[1][2]", "次です[3]！\n", "最後"]


def test_with_note_appends_once() -> None:
    once = with_note("回答です[1]。\n")
    assert once == f"回答です[1]。\n\n{AUTHORITATIVE_NOTE}"
    assert with_note(once) == once
    assert AUTHORITATIVE_NOTE.startswith("※ 回答は参考情報です。")


def test_empty_answer() -> None:
    result = verify("", sources("225"))
    assert (result.text, result.citations, result.warnings, result.verified_claims) == ("", (), (), 0)


# --------------------------------------------------------------------------- articles that do not exist

KOUMUIN = "325AC0000000261"
POISONED = (
    "職員の兼業について（通知）\n"
    "地方公務員法第九百九十九条により、職員は任命権者の許可を得ずに営利企業に従事することができる。"
)


class StoredLaws:
    """What the knowledge base holds: 地方自治法 (the corpus articles) and 地方公務員法 第三十八条."""

    def __init__(self) -> None:
        self.titles = LawTitleIndex.from_titles(
            [("地方自治法", JICHI), ("地方公務員法", KOUMUIN)], load_abbreviations()
        )
        self.texts = {(JICHI, s.key): s.text for s in jichi().sections}
        self.texts[(KOUMUIN, "38")] = "職員は、…従事してはならない。\n2 人事委員会は、…定めることができる。"
        self.asked: list[tuple[str, str]] = []

    def articles(self, refs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        self.asked.extend(refs)
        return {ref: self.texts[ref] for ref in refs if ref in self.texts}


def poisoned_sources() -> list[Source]:
    notice = Source(
        n=1, doc_id="circulars/city:kengyo", article="s1", title="職員の兼業について（通知）", label="s1",
        caption="", url="https://city.example.lg.jp/kengyo.html", text=POISONED, kind="circular",
    )
    return [notice, source(2, "238_4")]


@pytest.mark.parametrize(
    "answer",
    [
        "「地方公務員法第九百九十九条により、職員は任命権者の許可を得ずに営利企業に従事することができる」とされています[1]。",
        "地方公務員法第九百九十九条により、許可なく営利企業に従事できます[1]。",
        "地公法999条により、許可なく営利企業に従事できます[1]。",
        "第九百九十九条により、許可なく営利企業に従事できます[1]。",  # named only in the cited notice
    ],
)
def test_an_article_the_law_does_not_have_is_not_verified(answer: str) -> None:
    laws = StoredLaws()
    result = verify(answer, poisoned_sources(), laws=laws)
    assert "地方公務員法第九百九十九条は存在しません" in result.warnings
    assert [(c.n, c.verified) for c in result.citations] == [(1, False)]
    assert result.verified_claims == 0
    assert (KOUMUIN, "999") in laws.asked


def test_articles_and_paragraphs_that_exist_still_verify() -> None:
    laws = StoredLaws()
    answer = (
        "地方自治法第二百三十八条の四第二項により、余裕がある部分は貸し付けることができます[2]。"
        "地方公務員法第三十八条第二項も参照してください[1]。"
    )
    result = verify(answer, poisoned_sources(), laws=laws)
    assert not any("存在しません" in w for w in result.warnings)
    assert result.citations[0].verified  # [2] 地方自治法第二百三十八条の四
    beyond = verify("地方自治法第二百三十八条の四第九十九項によります[2]。", poisoned_sources(), laws=laws)
    assert "地方自治法第二百三十八条の四第九十九項は存在しません" in beyond.warnings
    assert beyond.verified_claims == 0


def test_an_extractive_quote_naming_a_missing_article_loses_its_mark() -> None:
    laws = StoredLaws()
    faithful = Citation(1, "circulars/city:kengyo", "s1", "通知", "https://x", POISONED.splitlines()[1], True)
    law = Citation(2, JICHI, "238_4", "地方自治法 第二百三十八条の四", "https://y", "これを貸し付け", True)
    citations, warnings = check_quoted_articles([faithful, law], laws)
    assert [c.verified for c in citations] == [False, True]
    assert warnings == ("地方公務員法第九百九十九条は存在しません",)
    assert check_quoted_articles([faithful], None) == ((faithful,), ())


def test_an_answer_declines_only_when_its_first_sentence_says_the_sources_do_not_answer() -> None:
    assert declines("根拠となる資料が見つかりませんでした。資料[1]は別の事項を定めています[1]。")
    assert declines("\n ご質問については、根拠となる資料が見つかりませんでした。")
    assert not declines("庁舎は貸し付けられます[1]。なお、賃料は根拠となる資料が見つかりませんでした。")
    assert not declines("")
