"""Personal-data redaction, applied before a question leaves the process, is logged or is stored.

Pure functions (names need Sudachi's dictionary, loaded once). The text is normalised with NFKC
first (full-width digits and ＠ become ASCII); ``Finding`` offsets refer to that normalised text,
and the redacted text is built from it. Numbers are also read with kanji digits as digits
(``digits.digit_view``: 〇九〇ー一二三四…).

Detected kinds (see the modules for the forms each one covers):

- ``numbers``: ``mynumber`` (個人番号, any check digit), ``corporate_number`` (法人番号, valid check
  digit), ``phone``, ``bank_account`` (after 口座 / 普通 / 当座 …);
- ``text``: ``email``, ``birth_date`` (after 生年月日, before 生まれ / 生), ``address`` (down to the
  block number);
- ``names``: ``name`` (a person's name before 様 / さん / 氏 / 殿 / 君 / くん / ちゃん).

``redact_for_storage`` and ``redact_payload`` are what the state stores call before they write.
How precise the detectors are on statute text is measured by ``benchmarks/redaction.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from bot.redaction.digits import (
    corporate_check_digit,
    digit_view,
    is_valid_corporate_number,
    is_valid_mynumber,
    mynumber_check_digit,
)
from bot.redaction.findings import Finding, Kind
from bot.redaction.names import NameFinder
from bot.redaction.numbers import find_bank_accounts, find_corporate_numbers, find_mynumbers, find_phones
from bot.redaction.text import find_addresses, find_birth_dates, find_emails
from knowledge.tokenize import normalize_question

__all__ = [
    "BLOCKED_MESSAGE", "KIND_LABELS", "PLACEHOLDERS", "Finding", "Kind", "RedactionPolicy", "RedactionResult",
    "corporate_check_digit", "find_personal_data", "is_valid_corporate_number", "is_valid_mynumber",
    "mynumber_check_digit", "redact", "redact_for_storage", "redact_payload",
]

PLACEHOLDERS: dict[str, str] = {
    "mynumber": "［個人番号］",
    "corporate_number": "［法人番号］",
    "phone": "［電話番号］",
    "email": "［メールアドレス］",
    "bank_account": "［口座番号］",
    "birth_date": "［生年月日］",
    "address": "［住所］",
    "name": "［氏名］",
}

KIND_LABELS: dict[str, str] = {
    "mynumber": "マイナンバー（個人番号）",
    "corporate_number": "法人番号",
    "phone": "電話番号",
    "email": "メールアドレス",
    "bank_account": "口座番号",
    "birth_date": "生年月日",
    "address": "住所",
    "name": "氏名",
}

BLOCKED_MESSAGE = (
    "ご質問に個人情報（マイナンバー・電話番号・メールアドレス・氏名・住所・生年月日・口座番号など）が"
    "含まれているため、この質問はお受けできません。該当する部分を削除するか「〇〇」などに置き換えてから、"
    "もう一度お尋ねください。"
)

# Keys of a platform payload whose string values are text someone wrote (or a link they pasted);
# every other string (ids, timestamps, URLs of the service) is kept as it is.
PAYLOAD_TEXT_KEYS = frozenset({
    "text", "content", "value", "comment", "fallback", "pretext", "title", "url", "feedbackText", "message",
})


@dataclass(frozen=True)
class RedactionPolicy:
    mode: Literal["mask", "block"] = "mask"
    mynumber: bool = True
    corporate_number: bool = True
    phone: bool = True
    email: bool = True
    bank_account: bool = True
    birth_date: bool = True
    address: bool = True
    name: bool = True

    @classmethod
    def from_config(cls, config: Any) -> RedactionPolicy:
        """From ``manifest.schema.RedactionConfig`` (or anything with the same attributes)."""
        return cls(mode=config.mode, **{kind: bool(getattr(config, kind)) for kind in PLACEHOLDERS})

    def enabled(self, kind: str) -> bool:
        return bool(getattr(self, kind))


@dataclass(frozen=True)
class RedactionResult:
    text: str  # NFKC-normalised input with every finding replaced by its placeholder
    findings: tuple[Finding, ...]
    blocked: bool  # True in block mode when anything was found: refuse with BLOCKED_MESSAGE

    @property
    def kinds(self) -> tuple[str, ...]:
        """Distinct kinds found, in order of first appearance."""
        return tuple(dict.fromkeys(f.kind for f in self.findings))


@functools.cache
def _names() -> NameFinder:
    """Sudachi's dictionary, loaded on first use (a read-only resource, like a compiled pattern)."""
    return NameFinder()


def _find_names(text: str, view: str) -> list[Finding]:
    return _names().find(text)


# Earlier detectors win where spans overlap. Each gets the NFKC text and its digit view.
_DETECTORS: tuple[tuple[Kind, Callable[[str, str], list[Finding]]], ...] = (
    ("email", lambda text, view: find_emails(text)),
    ("mynumber", lambda text, view: find_mynumbers(view)),
    ("corporate_number", lambda text, view: find_corporate_numbers(view)),
    ("bank_account", lambda text, view: find_bank_accounts(view)),
    ("phone", lambda text, view: find_phones(view)),
    ("birth_date", lambda text, view: find_birth_dates(view)),
    ("address", lambda text, view: find_addresses(text)),
    ("name", _find_names),
)


def find_personal_data(text: str, policy: RedactionPolicy | None = None) -> tuple[Finding, ...]:
    """Non-overlapping findings in ``text`` (already NFKC-normalised), sorted by position. Where findings
    overlap the earlier detector's wins, and the later one keeps its parts outside it (an address up to
    the phone number written into it): nothing found is left unmasked."""
    policy = policy or RedactionPolicy()
    view = digit_view(text)
    chosen: list[Finding] = []
    for kind, detect in _DETECTORS:
        if not policy.enabled(kind):
            continue
        for f in detect(text, view):
            chosen += [replace(f, start=a, end=b) for a, b in _outside(f, chosen) if text[a:b].strip()]
    return tuple(sorted(chosen, key=lambda f: f.start))


def _outside(f: Finding, chosen: list[Finding]) -> list[tuple[int, int]]:
    """The parts of ``f`` no finding of ``chosen`` covers."""
    parts = [(f.start, f.end)]
    for c in chosen:
        parts = [
            piece
            for a, b in parts
            for piece in (((a, b),) if c.end <= a or c.start >= b else ((a, c.start), (c.end, b)))
            if piece[0] < piece[1]
        ]
    return parts


def redact(text: str, policy: RedactionPolicy | None = None) -> RedactionResult:
    """NFKC-normalise ``text`` as a question is (``normalize_question``: 242条の2① stays a paragraph) and
    replace the personal data the policy enables with placeholders."""
    policy = policy or RedactionPolicy()
    normalised = normalize_question(text)
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
    """``text`` as it may be stored: the personal data the policy covers masked (in block mode too).

    Text with nothing to mask is returned exactly as given (not NFKC-normalised), so what is stored
    is what was said.
    """
    result = redact(text, replace(policy or RedactionPolicy(), mode="mask"))
    return result.text if result.findings else text


def redact_payload(payload: Any, policy: RedactionPolicy | None = None) -> Any:
    """A copy of a platform payload (JSON-like) whose text fields are redacted for storage."""

    def walk(value: Any, key: str | None) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, key) for v in value]
        if isinstance(value, str) and key in PAYLOAD_TEXT_KEYS:
            return redact_for_storage(value, policy)
        return value

    return walk(payload, None)
