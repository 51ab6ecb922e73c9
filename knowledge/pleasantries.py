"""The question without the chat courtesies around it.

Staff write to the bot as to a colleague:
「お疲れさまです。市民課の佐藤です。…でしょうか？よろしくお願いします。」. The greeting, the
self-introduction and the closing say nothing of the question, yet their words count in what the best hits
must cover and their names (佐藤) match nothing, so a well-found article looked like a weak match. Whole
leading and trailing clauses that are only courtesy are taken off before searching (and before the question
is quoted back); a clause with any content of its own stays, and so does a question that is nothing but
courtesy.
"""

from __future__ import annotations

import re

_HONORIFIC = "(?:です|でございます|になっております|になります|いたします|致します|します)?"
_APOLOGY = (
    "(?:すみません|すいません|申し訳(?:ありません|ございません)|失礼(?:します|いたします|致します)"
    "|恐れ入ります|恐縮です)"
)
_PREFACE = f"(?:お手数(?:です|をおかけします)?が|{_APOLOGY}が|お忙しいところ(?:恐縮ですが)?)?"
_ASKING = (
    "(?:教えて(?:ください|下さい|いただけますか|もらえますか|ほしいです)|質問(?:です|があります|させてください)"
    "|(?:ご)?相談(?:です|があります)|確認させてください"
    "|お(?:聞き|尋ね|伺い)したい(?:のですが|んですが|ことがあります)|お尋ねします)"
)
_REPLY = "(?:ください|下さい|願います|をお願いします|いただ(?:けると|ければ)(?:助かります|幸いです))"
_COURTESY = re.compile(
    "|".join(
        (
            # greetings and apologies for interrupting
            f"(?:いつも)?(?:大変)?お(?:疲れ|つかれ)(?:様|さま){_HONORIFIC}",
            f"(?:いつも)?(?:大変)?お世話{_HONORIFIC}",
            "こんにちは|こんばんは|おはようございます",
            f"(?:突然|度々|たびたび|何度も)?{_APOLOGY}が?",
            f"お忙しい(?:ところ|中){_APOLOGY}?が?",
            # saying that a question follows, and excusing it
            f"(?:ちょっと|少し|一点|1点|ひとつ|一つ)?{_ASKING}",
            f"(?:初歩的な|基本的な|素朴な|変な)(?:質問|こと)(?:かもしれません|で{_APOLOGY}|ですみません|で恐縮です)が?",
            "(?:念のため|念の為)(?:の)?確認(?:です|ですが|なのですが|させてください)|つかぬことを(?:お伺い|お聞き)しますが",
            # closings and thanks
            f"{_PREFACE}(?:どうぞ|何卒|なにとぞ)?(?:よろしく|宜しく)?お願い(?:します|いたします|致します|申し上げます)",
            f"{_PREFACE}(?:ご教示|ご回答|お返事){_REPLY}",
            "(?:どうも)?ありがとうございます|助かります",
            # a self-introduction: 市民課の佐藤です / 子育て支援課の山田と申します
            "[^、。]{1,15}?(?:課|係|室|部|局|センター|担当|支所|出張所|事務所)の?[^、。]{0,8}?"
            "(?:です|と申します|でございます)",
        )
    )
)
_LEADING = re.compile(r"[^、。,!?！？\n]*[、。,!?！？\n]+")  # a clause and the marks after it
_TRAILING = re.compile(r"(?:^|(?<=[。!?！？\n]))[^。!?！？\n]*[。!?！？\n]*$")
_MARKS = "、。,!?！？ 　\n"


def strip_courtesy(question: str) -> str:
    """``question`` without the leading and trailing clauses that are only courtesy; the question itself
    when nothing else would be left."""
    text = question.strip()
    while (clause := _LEADING.match(text)) and _is_courtesy(clause.group()) and clause.end() < len(text):
        text = text[clause.end() :].lstrip()
    while (clause := _TRAILING.search(text)) and clause.start() > 0 and _is_courtesy(clause.group()):
        text = text[: clause.start()].rstrip()
    return text if text.strip(_MARKS) else question.strip()


def _is_courtesy(clause: str) -> bool:
    return _COURTESY.fullmatch(clause.strip(_MARKS)) is not None
