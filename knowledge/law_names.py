"""Law names in a question, and which of them the knowledge base does not hold.

A question about 金融商品取引法 must not be answered from 航空法 just because
航空法 mentions it: when a question names a law the knowledge base lacks, the
evidence is insufficient by definition.
"""

from __future__ import annotations

import re

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
_SHORT_LAWS = frozenset({"民法", "商法", "刑法", "憲法"})


def law_names(question: str) -> list[str]:
    """Names in ``question`` that look like law titles or abbreviations (金融商品取引法, 自治法)."""
    names = []
    for match in _LAW_NAME.finditer(normalize(question)):
        name = match.group(0)
        act = name.removesuffix(_ORDER_SUFFIXES[0]).removesuffix(_ORDER_SUFFIXES[1])
        if act in _REFERRING or act.endswith(_GENERIC_SUFFIXES):  # 同法施行令 refers back: not a name
            continue
        if len(name) < 3 and name not in _SHORT_LAWS:
            continue
        names.append(name)
    return list(dict.fromkeys(names))


def unknown_laws(question: str, index: LawTitleIndex) -> list[str]:
    """Law names in ``question`` that resolve to no law in the knowledge base."""
    return [name for name in law_names(question) if index.lookup(name) is None]
