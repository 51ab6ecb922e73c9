"""Personal-data redaction, applied before a question leaves the process or is logged.

Pure functions only. The text is normalised with NFKC first (full-width digits and ＠ become
ASCII); ``Finding`` offsets refer to that normalised text, and the redacted text is built from it.

Detected kinds:

- ``mynumber``: 個人番号, 12 digits (optionally 4-4-4 with spaces or hyphens) whose last digit is
  the check digit of the official formula. 12-digit numbers with a wrong check digit are left
  alone: they are more likely an account or document number than a My Number.
- ``corporate_number``: 法人番号, 13 digits (optionally 1-4-4-4) whose FIRST digit is the check
  digit of the official formula; the invoice registration form ``T`` + 13 digits is caught too.
- ``phone``: Japanese numbers, domestic (``03-1234-5678``, ``090-1234-5678``, ``0120-123-456``,
  ``(03)1234-5678``, ``0312345678``) and international (``+81-3-1234-5678``, ``+81 (0)90 …``).
- ``email``: ``local@domain.tld``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Any, Literal

Kind = Literal["mynumber", "corporate_number", "phone", "email"]

PLACEHOLDERS: dict[str, str] = {
    "mynumber": "［個人番号］",
    "corporate_number": "［法人番号］",
    "phone": "［電話番号］",
    "email": "［メールアドレス］",
}

KIND_LABELS: dict[str, str] = {
    "mynumber": "マイナンバー（個人番号）",
    "corporate_number": "法人番号",
    "phone": "電話番号",
    "email": "メールアドレス",
}

BLOCKED_MESSAGE = (
    "ご質問に個人情報（マイナンバー・法人番号・電話番号・メールアドレスなど）が含まれているため、"
    "この質問はお受けできません。該当する部分を削除するか「〇〇」などに置き換えてから、"
    "もう一度お尋ねください。"
)

# Hyphen-like characters people type between digit groups (NFKC keeps all but the ASCII one).
_DASH = "\\-‐‑‒–—―−ー"
_SEP = f"[ {_DASH}]"

_MYNUMBER = re.compile(rf"(?<![0-9])[0-9]{{4}}{_SEP}?[0-9]{{4}}{_SEP}?[0-9]{{4}}(?![0-9])")
_CORPORATE = re.compile(rf"(?<![0-9])[0-9]{_SEP}?[0-9]{{4}}{_SEP}?[0-9]{{4}}{_SEP}?[0-9]{{4}}(?![0-9])")
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
# A phone candidate: +81 or a leading 0 (maybe in parentheses), then digits where each digit may be
# preceded by one or two separator characters (space, dash, parenthesis). Validated afterwards.
_PHONE_START = re.compile(rf"(?<![0-9A-Za-z+])(?:\+81(?:[ {_DASH}]?\(0\))?|\(0|0)")
_PHONE_BODY = re.compile(rf"(?:[ {_DASH}()]{{0,2}}[0-9])+")
_MOBILE_PREFIXES = ("020", "050", "060", "070", "080", "090")


@dataclass(frozen=True)
class RedactionPolicy:
    mode: Literal["mask", "block"] = "mask"
    mynumber: bool = True
    corporate_number: bool = True
    phone: bool = True
    email: bool = True

    @classmethod
    def from_config(cls, config: Any) -> RedactionPolicy:
        """From ``manifest.schema.RedactionConfig`` (or anything with the same attributes)."""
        return cls(
            mode=config.mode,
            mynumber=config.mynumber,
            corporate_number=config.corporate_number,
            phone=config.phone,
            email=config.email,
        )

    def enabled(self, kind: str) -> bool:
        return bool(getattr(self, kind))


@dataclass(frozen=True)
class Finding:
    kind: Kind
    start: int  # offsets in the NFKC-normalised input
    end: int


@dataclass(frozen=True)
class RedactionResult:
    text: str  # NFKC-normalised input with every finding replaced by its placeholder
    findings: tuple[Finding, ...]
    blocked: bool  # True in block mode when anything was found: refuse with BLOCKED_MESSAGE

    @property
    def kinds(self) -> tuple[str, ...]:
        """Distinct kinds found, in order of first appearance."""
        return tuple(dict.fromkeys(f.kind for f in self.findings))


# --- check digits ------------------------------------------------------------------------------


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


# --- detectors ---------------------------------------------------------------------------------


def _only_digits(text: str) -> str:
    return "".join(c for c in text if c.isascii() and c.isdigit())


def _find_mynumbers(text: str) -> list[Finding]:
    return [Finding("mynumber", m.start(), m.end()) for m in _MYNUMBER.finditer(text)
            if is_valid_mynumber(_only_digits(m.group()))]


def _find_corporate_numbers(text: str) -> list[Finding]:
    return [Finding("corporate_number", m.start(), m.end()) for m in _CORPORATE.finditer(text)
            if is_valid_corporate_number(_only_digits(m.group()))]


def _find_emails(text: str) -> list[Finding]:
    return [Finding("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]


def _valid_phone_digits(digits: str) -> bool:
    """``digits`` is the national number with its leading 0 (restored for +81 forms)."""
    if not digits.startswith("0") or digits.startswith("00"):
        return False
    if len(digits) == 11:
        return digits.startswith((*_MOBILE_PREFIXES, "0800"))
    return len(digits) == 10 and not digits.startswith(_MOBILE_PREFIXES)


def _phone_at(text: str, start: re.Match[str]) -> Finding | None:
    """The phone number starting at ``start`` (a +81 or leading-0 prefix), if the digits fit one."""
    # (digit, offset just after it) for every digit of the national number, leading 0 included.
    digits: list[tuple[str, int]] = [("0", start.end())]
    body = _PHONE_BODY.match(text, start.end())
    if body is not None:
        digits += [(c, body.start() + i + 1) for i, c in enumerate(body.group()) if c.isdigit()]
    for length in (11, 10):
        if len(digits) < length:
            continue
        end = digits[length - 1][1]
        if text[end : end + 1].isdigit():  # the number would end inside a group of digits
            continue
        if _valid_phone_digits("".join(d for d, _ in digits[:length])):
            begin = start.start()
            if text[begin] == "(" and ")" not in text[begin:end]:  # "(090-1234-5678)": keep the brackets
                begin += 1
            return Finding("phone", begin, end)
    return None


def _find_phones(text: str) -> list[Finding]:
    found = []
    for start in _PHONE_START.finditer(text):
        finding = _phone_at(text, start)
        if finding is not None:
            found.append(finding)
    return found


# Earlier detectors win where spans overlap.
_DETECTORS = (
    ("email", _find_emails),
    ("mynumber", _find_mynumbers),
    ("corporate_number", _find_corporate_numbers),
    ("phone", _find_phones),
)


def find_personal_data(text: str, policy: RedactionPolicy | None = None) -> tuple[Finding, ...]:
    """Non-overlapping findings in ``text`` (already NFKC-normalised), sorted by position."""
    policy = policy or RedactionPolicy()
    chosen: list[Finding] = []
    for kind, detect in _DETECTORS:
        if not policy.enabled(kind):
            continue
        for f in detect(text):
            if all(f.end <= c.start or f.start >= c.end for c in chosen):
                chosen.append(f)
    return tuple(sorted(chosen, key=lambda f: f.start))


def redact(text: str, policy: RedactionPolicy | None = None) -> RedactionResult:
    """NFKC-normalise ``text`` and replace the personal data the policy enables with placeholders."""
    policy = policy or RedactionPolicy()
    normalised = unicodedata.normalize("NFKC", text)
    findings = find_personal_data(normalised, policy)
    parts: list[str] = []
    pos = 0
    for f in findings:
        parts += [normalised[pos : f.start], PLACEHOLDERS[f.kind]]
        pos = f.end
    parts.append(normalised[pos:])
    return RedactionResult(
        text="".join(parts), findings=findings, blocked=policy.mode == "block" and bool(findings)
    )


def redact_for_storage(text: str, policy: RedactionPolicy | None = None) -> str:
    """``text`` as it may be stored: the personal data the policy covers masked (in block mode too)."""
    return redact(text, replace(policy or RedactionPolicy(), mode="mask")).text
