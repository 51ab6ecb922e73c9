"""Digits as people write them, and the official check digits. Pure.

``digit_view`` turns kanji digits (〇一二…九, and ○ ◯ 零 used for zero) into ASCII digits without
changing the length of the text, so number detectors run on one string and their offsets still
point into the text they redact. Positional numerals (十 百 千) are left alone: 二百三十八 does not
become a run of digits, 二三八 does.
"""

from __future__ import annotations

_KANJI_DIGITS = str.maketrans({
    "〇": "0", "○": "0", "◯": "0", "零": "0", "一": "1", "二": "2", "三": "3", "四": "4", "五": "5",
    "六": "6", "七": "7", "八": "8", "九": "9",
})
# Hyphen-like characters people type between digit groups (NFKC keeps all but the ASCII one;
# ー is the katakana long vowel mark, ― the horizontal bar, both common in Japanese input).
DASHES = "\\-‐‑‒–—―−ー"


def digit_view(text: str) -> str:
    """``text`` with kanji digits as ASCII digits; same length, same offsets."""
    return text.translate(_KANJI_DIGITS)


def only_digits(text: str) -> str:
    return "".join(c for c in text if c.isascii() and c.isdigit())


def _digits(value: str, count: int, what: str) -> list[int]:
    if len(value) != count or not value.isascii() or not value.isdigit():
        raise ValueError(f"{what} needs exactly {count} ASCII digits, got {value!r}")
    return [int(c) for c in value]


def mynumber_check_digit(first11: str) -> int:
    """Check digit of a 個人番号 from its first 11 digits.

    Official formula (行政手続における特定の個人を識別するための番号の利用等に関する法律施行令 第8条):
    with P(n) the n-th digit counted from the right of the 11 digits and Q(n) = n+1 for n ≤ 6,
    n-5 for n ≥ 7: r = Σ P(n)·Q(n) mod 11; check digit = 0 if r ≤ 1 else 11 - r.
    """
    digits = _digits(first11, 11, "a My Number body")
    total = sum(p * (n + 1 if n <= 6 else n - 5) for n, p in enumerate(reversed(digits), start=1))
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def is_valid_mynumber(number: str) -> bool:
    """True for 12 ASCII digits whose last digit is the My Number check digit."""
    if len(number) != 12 or not number.isascii() or not number.isdigit():
        return False
    return mynumber_check_digit(number[:11]) == int(number[11])


def corporate_check_digit(base12: str) -> int:
    """Check digit (the FIRST digit) of a 法人番号 from the 12 digits after it.

    Official formula (法人番号の指定等に関する省令 第2条): with P(n) the n-th digit counted from the
    right of the 12 digits and Q(n) = 1 for odd n, 2 for even n: 9 - (Σ P(n)·Q(n) mod 9).
    """
    digits = _digits(base12, 12, "a corporate number body")
    total = sum(p * (1 if n % 2 else 2) for n, p in enumerate(reversed(digits), start=1))
    return 9 - total % 9


def is_valid_corporate_number(number: str) -> bool:
    """True for 13 ASCII digits whose first digit is the 法人番号 check digit."""
    if len(number) != 13 or not number.isascii() or not number.isdigit():
        return False
    return corporate_check_digit(number[1:]) == int(number[0])
