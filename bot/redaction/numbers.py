"""Detectors for numbers: 個人番号, 法人番号, phone numbers, bank account numbers. Pure.

They run on ``digit_view`` of the NFKC text (kanji digits as ASCII, same offsets).

- ``mynumber``: 12 digits, together or grouped 4-4-4 or 3-3-3-3 with one kind of separator (space,
  hyphen or dash, dot, slash, ・), whatever the check digit: a mistyped My Number is still one.
- ``corporate_number``: 13 digits (optionally 1-4-4-4) whose FIRST digit is the check digit; the
  invoice registration form ``T`` + 13 digits is caught too.
- ``phone``: Japanese numbers, domestic (``03-1234-5678``, ``03.1234.5678``, ``(03)1234-5678``,
  ``0120-123-456`` …) and international (``+81-90-…``, ``+81 (0)90 …``, ``+81-090-…``), also
  right after a label (``TEL03-…``).
- ``bank_account``: 6-8 digits (ゆうちょ: 5 + 6-8) shortly after 口座 / 普通 / 当座 / 預金 / 記号番号, and
  ゆうちょ's 記号 and 番号 written apart (記号14050 番号12345671).
"""

from __future__ import annotations

import re

from bot.redaction.digits import DASHES, is_valid_corporate_number, only_digits
from bot.redaction.findings import Finding

_SEP = f"[ {DASHES}./・]"
_SEPARATORS = f" {DASHES.replace(chr(92), '')}./・"


def _grouped(sep: str) -> str:
    """4-4-4 or 3-3-3-3 digits joined by ``sep``, not part of a longer number grouped the same way
    (a card number), but possibly next to another number written another way."""
    s = re.escape(sep)
    groups = f"(?:[0-9]{{4}}{s}[0-9]{{4}}{s}[0-9]{{4}}|[0-9]{{3}}{s}[0-9]{{3}}{s}[0-9]{{3}}{s}[0-9]{{3}})"
    return f"(?<![0-9+])(?<![0-9]{s}){groups}(?![0-9])(?!{s}[0-9])"


# The lookahead first: most positions fail on it at once (the alternatives carry lookbehinds).
_MYNUMBER = re.compile(
    "(?=[0-9]{3})(?:" + "|".join(["(?<![0-9+])[0-9]{12}(?![0-9])", *map(_grouped, _SEPARATORS)]) + ")"
)
_CORPORATE = re.compile(
    rf"(?<![0-9])[0-9][ {DASHES}]?[0-9]{{4}}[ {DASHES}]?[0-9]{{4}}[ {DASHES}]?[0-9]{{4}}(?![0-9])"
)
# A phone candidate: +81 or a leading 0 (maybe in parentheses), then digits where each digit may be
# preceded by one or two separator characters (space, dash, dot, parenthesis). Validated afterwards.
_PHONE_START = re.compile(rf"(?<![0-9+])(?:\+81(?:[ {DASHES}.]?\(0\))?|\(0|0)")
_PHONE_BODY = re.compile(rf"(?:[ {DASHES}().]{{0,2}}[0-9])+")
_MOBILE_PREFIXES = ("020", "050", "060", "070", "080", "090")
_PHONE_LABELS = frozenset({"tel", "fax", "phone", "mobile", "mob", "cell", "ph", "t", "f", "m", "p"})
_ACCOUNT_CUE = re.compile(
    r"口座番号|総合口座|口座|普通預金|貯蓄預金|当座預金|普通|当座|預金|貯金|記号番号|記号・番号"
)
_ACCOUNT_NUMBER = re.compile(rf"(?<![0-9])(?:[0-9]{{5}}{_SEP}?[0-9]{{6,8}}|[0-9]{{6,8}})(?![0-9])")
_ACCOUNT_GAP_CHARS = 8  # 口座番号は / 普通預金 口座 … : what may stand between the cue and the number
# ゆうちょ's two labelled parts written apart: 記号14050 番号12345671
_POSTAL_ACCOUNT = re.compile(r"記号\s*[:：]?\s*[0-9]{5}[\s、,・/]*番号\s*[:：]?\s*[0-9]{6,8}(?![0-9])")


def find_mynumbers(view: str) -> list[Finding]:
    return [Finding("mynumber", m.start(), m.end()) for m in _MYNUMBER.finditer(view)]


def find_corporate_numbers(view: str) -> list[Finding]:
    return [Finding("corporate_number", m.start(), m.end()) for m in _CORPORATE.finditer(view)
            if is_valid_corporate_number(only_digits(m.group()))]


def find_bank_accounts(view: str) -> list[Finding]:
    found = [Finding("bank_account", m.start(), m.end()) for m in _POSTAL_ACCOUNT.finditer(view)]
    for cue in _ACCOUNT_CUE.finditer(view):
        for at in range(cue.end(), min(cue.end() + _ACCOUNT_GAP_CHARS, len(view)) + 1):
            number = _ACCOUNT_NUMBER.match(view, at)
            if number is not None:
                found.append(Finding("bank_account", number.start(), number.end()))
                break
            if at < len(view) and (view[at].isdigit() or view[at] in "。\n"):
                break  # another number, or the sentence ends: no account number after this cue
    return found


def _valid_phone_digits(digits: str) -> bool:
    """``digits`` is the national number with its leading 0 (restored for +81 forms)."""
    if not digits.startswith("0") or digits.startswith("00"):
        return False
    if len(digits) == 11:
        return digits.startswith((*_MOBILE_PREFIXES, "0800"))
    return len(digits) == 10 and not digits.startswith(_MOBILE_PREFIXES)


def _labelled_or_free(view: str, begin: int) -> bool:
    """A number glued to letters is a phone only after a label such as TEL or FAX."""
    if begin == 0 or not (view[begin - 1].isascii() and view[begin - 1].isalpha()):
        return True
    word = begin
    while word > 0 and view[word - 1].isascii() and view[word - 1].isalpha():
        word -= 1
    return view[word:begin].lower() in _PHONE_LABELS


def _phone_at(view: str, start: re.Match[str]) -> Finding | None:
    """The phone number starting at ``start`` (a +81 or leading-0 prefix), if the digits fit one."""
    if not _labelled_or_free(view, start.start()):
        return None
    # (digit, offset just after it) for every digit of the national number, leading 0 included.
    digits: list[tuple[str, int]] = [("0", start.end())]
    body = _PHONE_BODY.match(view, start.end())
    if body is not None:
        digits += [(c, body.start() + i + 1) for i, c in enumerate(body.group()) if c.isdigit()]
    if start.group().startswith("+") and len(digits) > 1 and digits[1][0] == "0":
        del digits[1]  # +81-090-…: the trunk 0 written after the country code
    for length in (11, 10):
        if len(digits) < length:
            continue
        end = digits[length - 1][1]
        if view[end : end + 1].isdigit():  # the number would end inside a group of digits
            continue
        if _valid_phone_digits("".join(d for d, _ in digits[:length])):
            begin = start.start()
            if view[begin] == "(" and ")" not in view[begin:end]:  # "(090-1234-5678)": keep the brackets
                begin += 1
            if begin > 0 and view[begin - 1] == "(" and view[begin] == "+" and ")" in view[begin:end]:
                begin -= 1  # "(+81)90-…": the bracket belongs to the number
            return Finding("phone", begin, end)
    return None


def find_phones(view: str) -> list[Finding]:
    found = []
    for start in _PHONE_START.finditer(view):
        finding = _phone_at(view, start)
        if finding is not None:
            found.append(finding)
    return found
