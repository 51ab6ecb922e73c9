"""Chat courtesies around a question are not part of it."""

from __future__ import annotations

import pytest

from knowledge.pleasantries import strip_courtesy
from knowledge.search import Searcher


@pytest.mark.parametrize(
    ("message", "question"),
    [
        (
            "お疲れさまです、市民課の佐藤です。ちょっと教えてください。住民票の写しを代理人に出していい？"
            "お忙しいところすみません。",
            "住民票の写しを代理人に出していい？",
        ),
        ("お疲れ様です。職員の副業は許可制？よろしくお願いします。", "職員の副業は許可制？"),
        ("すみません、質問です。監査請求の期限は？ご教示いただけると助かります。", "監査請求の期限は？"),
        ("子育て支援課です。児童扶養手当の所得制限は？", "児童扶養手当の所得制限は？"),
        ("初歩的な質問で恐縮ですが、専決処分とは？", "専決処分とは？"),
        ("念のため確認です。\n公印の押し方は？", "公印の押し方は？"),
        ("お世話になっております。\n専決処分の報告は？\nよろしくお願いいたします。", "専決処分の報告は？"),
    ],
)
def test_leading_and_trailing_courtesies_are_taken_off(message: str, question: str) -> None:
    assert strip_courtesy(message) == question


@pytest.mark.parametrize(
    "message",
    [
        "住民監査請求の期限を教えてください",  # the request carries the question
        "議会の一般質問です。答弁の準備で確認したいことがある",  # 一般質問 is the subject
        "窓口に来た方が「市民課の担当です」と言っている。これってどうなの？",
        "職員の副業は許可が必要ですか。",
        "お疲れ様です",  # nothing but courtesy: kept, there is nothing else to search for
    ],
)
def test_a_clause_with_content_of_its_own_stays(message: str) -> None:
    assert strip_courtesy(message) == message


def test_a_question_wrapped_in_courtesies_is_searched_as_the_bare_question(searcher: Searcher) -> None:
    bare = searcher.search("職員が休日に家業の農業を手伝って報酬をもらってもいい？")
    wrapped = searcher.search(
        "お疲れさまです。税務課の田中です。職員が休日に家業の農業を手伝って報酬をもらってもいい？"
        "お手数ですがよろしくお願いします。"
    )
    assert [h.chunk_id for h in wrapped.hits] == [h.chunk_id for h in bare.hits]
    assert (wrapped.sufficient, wrapped.reason) == (bare.sufficient, bare.reason)
