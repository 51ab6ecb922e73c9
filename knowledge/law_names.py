"""Law names in a question, and which of them the knowledge base does not hold.

A question about 金融商品取引法 must not be answered from 航空法 just because
航空法 mentions it: when a question names a law the knowledge base lacks, the
evidence is insufficient by definition — unless it asks whether that law applies and
a held article says so itself (地方自治法238条の4: 借地借家法 does not apply to the use of
行政財産).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from knowledge.citations import LawTitleIndex
from knowledge.tokenize import normalize

_WORD = r"\u4e00-\u9fff\u30a0-\u30ff々ー"
# A kanji/katakana run ending in 法, or in 法施行令 / 法施行規則 (the order or rule under that act),
# followed by 第 (第5条), a non-kanji character or the end.
_ORDER_SUFFIXES = ("施行令", "施行規則")
_LAW_NAME = re.compile(rf"[{_WORD}]+?法(?:{'|'.join(_ORDER_SUFFIXES)})?(?=第|[^{_WORD}]|$)")
# Words that end in 法 but name no law.
_GENERIC_SUFFIXES = (
    "方法", "手法", "違法", "適法", "合法", "不法", "司法", "立法", "用法", "文法", "作法", "寸法",
    "療法", "工法", "技法", "論法", "製法", "説法", "便法", "算法", "話法", "脱法",
)  # fmt: skip
_REFERRING = frozenset({"本法", "同法", "新法", "旧法", "当法", "前法", "各法", "法"})
# Words for a kind of law, not a law's name: 「生活保護の根拠法は？」 asks which law, 「国の手続法」 means
# 行政手続法 as a category, 「地方自治特別法」 is 憲法95条's. Whole words only: 行政手続法 or 災害対策基本法
# stay names.
_KINDS_OF_LAW = frozenset({
    "根拠法", "特別法", "一般法", "上位法", "下位法", "個別法", "手続法", "実体法", "行政法", "労働法",
    "国内法", "国際法", "改正法", "現行法", "関係法", "関連法", "整備法", "施行法", "成文法", "慣習法",
    "判例法", "制定法", "地方自治特別法",
})  # fmt: skip
_SHORT_LAWS = frozenset({"民法", "商法", "刑法", "憲法"})


def law_names(question: str) -> list[str]:
    """Names in ``question`` that look like law titles or abbreviations (金融商品取引法, 自治法)."""
    names = []
    for match in _LAW_NAME.finditer(normalize(question)):
        name = match.group(0)
        act = name.removesuffix(_ORDER_SUFFIXES[0]).removesuffix(_ORDER_SUFFIXES[1])
        if act in _REFERRING or act.endswith(_GENERIC_SUFFIXES):  # 同法施行令 refers back: not a name
            continue
        if name in _KINDS_OF_LAW:
            continue
        if len(name) < 3 and name not in _SHORT_LAWS:
            continue
        names.append(name)
    return list(dict.fromkeys(names))


def unknown_laws(question: str, index: LawTitleIndex) -> list[str]:
    """Law names in ``question`` that resolve to no law in the knowledge base."""
    return [name for name in law_names(question) if index.lookup(name) is None]


# A question that asks whether a law applies (「借地借家法は適用される？」「…の対象になる？」).
_ASKS_APPLICATION = ("適用", "当てはま", "あてはま", "及ぶ", "対象")
# Between a law's title and 適用 in an article that provides for it: its number in brackets, the articles
# named (第二条、第十四条第二項…, a long list in 地方公務員法58条), 「の規定は、…に関しては」: one sentence.
_UP_TO_APPLIES = r"[^。]*?適用"


def provided_for(laws: Iterable[str], question: str, article_text: str) -> frozenset[str]:
    """Of ``laws`` (named in ``question``, not held), those ``article_text`` says whether or how to apply
    (「借地借家法（平成三年法律第九十号）の規定は、適用しない」) when ``question`` asks whether they apply:
    that article decides the question, the laws are not subjects the knowledge base lacks."""
    text = normalize(question)
    if not any(word in text for word in _ASKS_APPLICATION):
        return frozenset()
    return frozenset(law for law in laws if re.search(re.escape(law) + _UP_TO_APPLIES, article_text))
