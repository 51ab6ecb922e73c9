"""Extractive answers, abstention and the 照会 draft, built from real 地方自治法 articles."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from bot.answer_text import (
    ABSTENTION_LEAD,
    EXTRACTIVE_LEAD,
    FALLBACK_NOTICE,
    MAX_QUOTE_CHARS,
    abstention_text,
    extractive_answer,
    fallback_notice,
    inquiry_draft,
    relevant_sources,
    statute_sentences,
)
from bot.models import Source
from bot.prompt import grounding_hits, sources_from_hits
from bot.verify import quote_in, verify
from knowledge.law_topics import LOCAL_RULES
from tests.bot.law_sources import JICHI, section_text, sources
from tests.bot.test_prompt import hit

CASES = [
    (
        "行政財産を民間に貸し付けることはできますか",
        ["行政財産", "貸し付ける", "民間"],
        ("238_4", "238_5", "225"),
    ),
    ("庁舎の空きスペースを貸せますか", ["庁舎", "余裕", "貸し付ける"], ("238_4", "225")),
    ("公の施設の指定管理者について", ["公の施設", "指定", "管理"], ("244_2", "238_4")),
    (
        "住民監査請求で損害の補塡を求められますか",
        ["住民", "監査", "請求", "損害", "補塡"],
        ("242", "242_2", "238_4"),
    ),
    ("使用料は徴収できますか", ["使用料", "徴収"], ("225", "238_4", "244_2", "242")),
]


@pytest.mark.parametrize(("question", "terms", "keys"), CASES)
def test_extractive_answer_verifies_clean(question: str, terms: list[str], keys: tuple[str, ...]) -> None:
    srcs = sources(*keys)
    text, citations = extractive_answer(question, srcs, query_terms=terms)
    shown = srcs[:3]
    assert text.startswith(EXTRACTIVE_LEAD + "\n\n")
    assert [c.n for c in citations] == [s.n for s in shown]
    for source, citation in zip(shown, citations, strict=True):
        assert f"■ {source.citation_label}{source.caption}[{source.n}]" in text
        assert citation.verified and citation.quote
        assert quote_in(citation.quote, source.text)
        assert (citation.doc_id, citation.article, citation.url) == (
            source.doc_id,
            source.article,
            source.url,
        )
    quotes = re.findall(r"^「(.*)」$", text, flags=re.MULTILINE)
    assert quotes and all(len(q) <= MAX_QUOTE_CHARS for q in quotes)
    result = verify(text, srcs)
    assert result.warnings == ()
    assert result.text == text
    assert [(c.n, c.verified) for c in result.citations] == [(s.n, True) for s in shown]
    assert result.verified_claims == len(shown)


def test_extractive_answer_picks_the_sentence_with_the_question_terms() -> None:
    srcs = sources("238_4")
    text, citations = extractive_answer("庁舎の空きスペースを貸せますか", srcs, query_terms=["庁舎", "余裕"])
    item4 = next(line for line in section_text("238_4").split("\n") if line.startswith("四\u3000"))
    assert citations[0].quote == item4.removeprefix("四\u3000")
    assert len(citations[0].quote) <= MAX_QUOTE_CHARS
    assert f"「{citations[0].quote}」" in text


def test_long_deciding_sentence_is_clipped_around_the_terms() -> None:
    srcs = sources("242")
    text, citations = extractive_answer("損害の補塡", srcs, query_terms=["損害", "補塡"])
    quote = citations[0].quote
    assert len(quote) <= MAX_QUOTE_CHARS < len(statute_sentences(section_text("242"))[0])
    assert quote.startswith("…") and "補塡" in quote
    assert verify(text, srcs).warnings == ()


def test_extractive_answer_on_trimmed_sources_verifies_clean() -> None:
    terms = ["住民", "監査", "請求", "期間"]
    srcs = sources_from_hits(
        [hit(1, "242"), hit(2, "242_2"), hit(3, "238_4")], query_terms=terms, max_total_chars=1_500
    )
    assert "（中略）" in srcs[0].text or "（以下略）" in srcs[0].text
    text, citations = extractive_answer("住民監査請求の期間は", srcs, query_terms=terms)
    result = verify(text, srcs)
    assert result.warnings == ()
    assert all(c.verified for c in result.citations)
    assert "（中略）" not in "".join(c.quote for c in citations)


def test_extractive_answer_without_sources_abstains() -> None:
    text, citations = extractive_answer("何でも", [], query_terms=["何"])
    assert text.startswith(ABSTENTION_LEAD)
    assert citations == ()


def test_statute_sentences_keep_inner_brackets_and_drop_numbers() -> None:
    text = section_text("238_4")
    sentences = statute_sentences(text)
    assert sentences[0].startswith("行政財産は、次項から第四項まで")
    assert all(s in text for s in sentences)
    assert not any(re.match(r"^[０-９一二三四五六七八九]\u3000", s) for s in sentences)
    # （以下この号において「庁舎等」という。） stays inside item 四.
    item4 = next(s for s in sentences if s.startswith("行政財産のうち庁舎"))
    assert "「庁舎等」という。）" in item4 and item4.endswith("。")


def test_abstention_text_names_what_was_searched() -> None:
    srcs = sources("238_4", "225")
    text = abstention_text("職員の副業は許可が必要ですか？", srcs)
    assert text.startswith("根拠となる資料が見つかりませんでした。\n")
    assert "「職員の副業は許可が必要ですか」" in text
    assert "・地方自治法 第二百三十八条の四（行政財産の管理及び処分）" in text
    assert "・地方自治法 第二百二十五条（使用料）" in text
    empty = abstention_text("職員の副業は許可が必要ですか", [])
    assert empty.startswith(ABSTENTION_LEAD)
    assert "見つかりませんでした。\nご質問「職員の副業は許可が必要ですか」に関係する規定は" in empty


def test_abstention_text_names_the_law_that_is_not_registered() -> None:
    text = abstention_text("住民税の特別徴収の通知はいつ送る？", sources("238_4"), ["地方税法"])
    assert text.startswith(ABSTENTION_LEAD)
    assert "ご質問「住民税の特別徴収の通知はいつ送る」は地方税法に関するものと思われますが" in text
    assert "地方税法は登録済みの法令・通知に含まれていない" in text
    assert "第二百三十八条の四" not in text  # the articles looked at are beside the point
    assert text.endswith("所管の都道府県または省庁への照会をご検討ください。")


def test_abstention_text_points_a_question_on_the_municipalitys_own_rules_to_its_reiki() -> None:
    text = abstention_text("印鑑登録は代理人でもできますか？", sources("238_4"), [LOCAL_RULES])
    assert text.startswith(ABSTENTION_LEAD)
    assert "ご質問「印鑑登録は代理人でもできますか」は各団体の条例・規則・要綱で定める事項" in text
    assert text.endswith("例規集をご確認いただくか、例規を登録してからお尋ねください。")
    assert "省庁" not in text and "第二百三十八条の四" not in text


def test_abstention_text_names_a_law_the_question_may_be_about_beside_the_articles_looked_at() -> None:
    text = abstention_text("住民税の申告はいつまで？", sources("238_4"), possible_laws=["地方税法"])
    assert "ご質問「住民税の申告はいつまで」は地方税法に関するものかもしれませんが、" in text
    assert "登録済みの法令・通知では次の規定を確認しましたが、" in text
    assert "・地方自治法 第二百三十八条の四" in text
    assert text.endswith("所管の都道府県または省庁への照会をご検討ください。")
    both = abstention_text("質問", [], possible_laws=["地方税法", LOCAL_RULES])
    assert "地方税法に関するもの、または各団体の条例・規則・要綱で定める事項かもしれませんが、" in both
    assert "地方税法と自団体の例規は登録済みの法令・通知に含まれていません。" in both
    assert both.endswith("例規集をご確認いただくか、所管の都道府県または省庁への照会をご検討ください。")
    assert "見つかりませんでした。\nご質問「質問」に関係する規定は" not in both


def test_inquiry_draft_lists_a_possible_law_for_reference_after_the_articles() -> None:
    draft = inquiry_draft("住民税の申告はいつまで？", sources("238_4"), possible_laws=["地方税法"])
    relevant = draft.split("２　関係規定")[1].split("３　照会事項")[0]
    reference = "（参考）地方税法（未登録のため条文は確認していません）"
    assert relevant.index("第二百三十八条の四") < relevant.index(reference)
    assert "　地方税法の規定は、未登録のため確認していません。" in draft


def test_the_question_is_quoted_back_without_its_courtesies() -> None:
    text = abstention_text("お疲れ様です。\n職員の副業は許可が必要ですか？\nよろしくお願いします。", [])
    assert "ご質問「職員の副業は許可が必要ですか」に関係する規定は" in text
    draft = inquiry_draft("お疲れ様です。職員の副業は許可が必要ですか？よろしくお願いします。", [])
    assert draft.startswith("件名：「職員の副業は許可が必要ですか」について（照会）")


def test_inquiry_draft_names_the_law_that_is_not_registered() -> None:
    draft = inquiry_draft("住民税の特別徴収の通知はいつ送る？", sources("238_4"), absent_laws=["地方税法"])
    assert "２　関係規定\n　（1）地方税法（未登録のため条文は確認していません）\n" in draft
    assert "第二百三十八条の四" not in draft  # the registered articles that matched are beside the point
    assert "　地方税法の規定を確認することができませんでした。" in draft


def test_inquiry_draft_contains_question_and_provisions() -> None:
    srcs: list[Source] = sources("238_4", "225", "244_2")
    draft = inquiry_draft("庁舎の空きスペースを民間に貸せますか？", srcs)
    assert draft.startswith("件名：「庁舎の空きスペースを民間に貸せますか」について（照会）\n")
    for heading in ("１　照会の趣旨", "２　関係規定", "３　照会事項", "４　規定上明らかでない点"):
        assert f"\n{heading}\n" in draft
    assert "　（１）庁舎の空きスペースを民間に貸せますか。" in draft
    for source in srcs:
        assert source.url in draft
        assert f"{source.citation_label}{source.caption}" in draft
    assert draft.count(f"https://laws.e-gov.go.jp/law/{JICHI}#Mp-At_") == 3
    for placeholder in ("［所属］", "［担当者］", "［電話番号］", "［団体名］"):
        assert placeholder in draft


def test_inquiry_draft_with_tenant_and_no_sources() -> None:
    draft = inquiry_draft("会計年度任用職員に期末手当は出ますか", [], tenant_name="回覧市")
    assert "［照会元］　回覧市　［所属］　［担当者］" in draft
    assert "［団体名］" not in draft
    assert "　回覧市において事務を進めるに当たり" in draft
    assert "該当する規定は確認できませんでした。" in draft
    assert "https://" not in draft


def test_fallback_notice() -> None:
    assert FALLBACK_NOTICE == "生成AIが応答しなかったため、検索結果をそのままお示しします。"
    assert fallback_notice() == FALLBACK_NOTICE
    assert fallback_notice("本文") == f"{FALLBACK_NOTICE}\n\n本文"


def test_the_extractive_answer_shows_only_sources_close_to_the_best() -> None:
    ranked = zip(sources("238_4", "225", "244_2"), (40.0, 31.0, 12.0), strict=True)
    scored = [replace(s, score=score) for s, score in ranked]
    text, citations = extractive_answer("庁舎を貸せますか", scored, query_terms=["庁舎", "貸し付ける"])
    assert [c.article for c in citations] == ["238_4", "225"]  # 12 is far below 0.75 × 40
    assert "第二百四十四条の二" not in text
    assert [s.n for s in relevant_sources(scored)] == [1, 2]
    unscored = sources("238_4", "225", "244_2")
    assert len(relevant_sources(unscored)) == 3  # without scores every source up to the cap


def test_the_second_stages_probability_decides_which_sources_are_close_to_the_best() -> None:
    weighed = zip(sources("238_4", "225", "244_2"), (40.0, 39.0, 38.0), (1.0, 0.25, 0.05), strict=True)
    close = [replace(s, score=score, likelihood=p) for s, score, p in weighed]
    assert [s.n for s in relevant_sources(close)] == [1, 2]  # 0.05 is below a tenth of the best's 1.0
    # probabilities over another best than the first source's are read against the first's
    halved = [replace(s, likelihood=s.likelihood / 2) for s in close if s.likelihood]
    assert [s.n for s in relevant_sources(halved)] == [1, 2]
    # a source the stage did not weigh (an admin's 例規 beside statutes) is judged by its score
    unweighed = [close[0], replace(close[1], likelihood=None, score=20.0), close[2]]
    assert [s.n for s in relevant_sources(unweighed)] == [1]  # 20 is below 0.75 × 40
    assert [s.n for s in relevant_sources([replace(close[0], likelihood=None), *close[1:]])] == [1, 2, 3]


def test_a_cited_article_is_the_only_ground_of_the_answer() -> None:
    cited = replace(hit(1, "238_4"), matched_by="citation")
    delegated = replace(hit(2, "225"), matched_by="delegated")
    other = hit(3, "244_2")
    assert grounding_hits([cited, delegated, other]) == [cited, delegated]
    assert grounding_hits([other, delegated]) == [delegated]
    assert grounding_hits([other]) == [other]


def test_a_cited_paragraph_is_what_the_answer_quotes() -> None:
    """「自治法238条の4第7項」: the quote comes from paragraph 7, though paragraph 1's words match the
    question's terms better; trimmed to a small budget the cited paragraph is still the one quoted."""
    terms = ["行政", "財産", "貸し付け", "交換"]
    for budget in (10_000, 400):
        cited = [hit(1, "238_4", paragraph=7)]
        (source,) = sources_from_hits(cited, query_terms=terms, max_total_chars=budget)
        text, citations = extractive_answer("自治法238条の4第7項", [source], query_terms=terms)
        seventh = next(line for line in section_text("238_4").split("\n") if line.startswith("７\u3000"))
        assert citations[0].quote in seventh
        assert verify(text, [source]).warnings == ()
    (uncited,) = sources_from_hits([hit(1, "238_4")], query_terms=terms)
    assert extractive_answer("自治法238条の4", [uncited], query_terms=terms)[1][0].quote not in seventh
