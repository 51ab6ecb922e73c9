"""Japanese numerals and article numbers.

Pure functions converting between the ways statutes write numbers:
kanji (二百三十八), full-width (２３８) and Arabic (238), and between an
article title (第二百三十八条の四) and e-Gov's ``Num`` form ("238_4").
"""

from __future__ import annotations

import re
import unicodedata

_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_LARGE_UNITS = {"万": 10_000, "億": 100_000_000}

KANJI_NUMBER_CHARS = "〇零一二三四五六七八九十百千万億"
NUMBER_PATTERN = rf"(?:[0-9０-９]+|[{KANJI_NUMBER_CHARS}]+)"

ARTICLE_NUM = re.compile(r"[0-9]+(?:_[0-9]+)*")  # e-Gov's Num form of an article: 238_4
_ARTICLE_TITLE = re.compile(rf"^第(?P<main>{NUMBER_PATTERN})条(?P<branches>(?:の{NUMBER_PATTERN})*)$")
_BRANCH = re.compile(rf"の({NUMBER_PATTERN})")


def kanji_to_int(text: str) -> int:
    """Convert a kanji numeral (positional or with units) to an int.

    >>> kanji_to_int("二百三十八")
    238
    >>> kanji_to_int("一〇五")
    105
    """
    if not text:
        raise ValueError("empty numeral")
    if all(ch in _DIGITS for ch in text):
        # Positional form such as 一〇五 (used in some circulars).
        value = 0
        for ch in text:
            value = value * 10 + _DIGITS[ch]
        return value
    total = 0
    section = 0
    digit: int | None = None
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _SMALL_UNITS:
            section += (1 if digit is None else digit) * _SMALL_UNITS[ch]
            digit = None
        elif ch in _LARGE_UNITS:
            section += 0 if digit is None else digit
            total += (section or 1) * _LARGE_UNITS[ch]
            section = 0
            digit = None
        else:
            raise ValueError(f"not a kanji numeral: {text!r}")
    return total + section + (digit or 0)


def parse_number(text: str) -> int:
    """Parse a number written in Arabic, full-width or kanji digits."""
    normalized = unicodedata.normalize("NFKC", text).strip()
    if normalized.isdigit():
        return int(normalized)
    return kanji_to_int(normalized)


def int_to_kanji(value: int) -> str:
    """Write a positive int the way statutes do (238 → 二百三十八)."""
    if value <= 0:
        raise ValueError("statute numbers are positive")
    digits = "〇一二三四五六七八九"

    def below_10000(n: int) -> str:
        out = []
        for unit, mark in ((1000, "千"), (100, "百"), (10, "十")):
            q, n = divmod(n, unit)
            if q:
                out.append(("" if q == 1 else digits[q]) + mark)
        if n:
            out.append(digits[n])
        return "".join(out)

    high, low = divmod(value, 10_000)
    return (below_10000(high) + "万" if high else "") + (below_10000(low) if low else "")


def article_title_to_num(title: str) -> str:
    """Convert an article title to e-Gov's Num form.

    >>> article_title_to_num("第二百三十八条の四")
    '238_4'
    >>> article_title_to_num("第１６７条の２")
    '167_2'
    """
    match = _ARTICLE_TITLE.match(title.strip())
    if not match:
        raise ValueError(f"not an article title: {title!r}")
    parts = [str(parse_number(match["main"]))]
    parts += [str(parse_number(b)) for b in _BRANCH.findall(match["branches"])]
    return "_".join(parts)


def num_to_article_title(num: str) -> str:
    """Convert e-Gov's Num form back to the title statutes print ("238_4" → 第二百三十八条の四)."""
    main, *branches = num.split("_")
    return "第" + int_to_kanji(int(main)) + "条" + "".join("の" + int_to_kanji(int(b)) for b in branches)


_DASHES = str.maketrans({c: "-" for c in "－‐‑–—−ー"})


def item_key(label: str) -> str:
    """A circular's item number as printed (1－1－4, 183～193共－6, or typed 183〜193共-6) as stored (1-1-4,
    183~193共-6)."""
    key = unicodedata.normalize("NFKC", label).translate(_DASHES).replace("〜", "~")
    return key.replace(" ", "").replace("\u3000", "")
