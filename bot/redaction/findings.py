"""What a detector reports: a kind of personal data and where it is (offsets in the NFKC text)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal[
    "mynumber", "corporate_number", "phone", "email", "bank_account", "birth_date", "address", "name",
]


@dataclass(frozen=True)
class Finding:
    kind: Kind
    start: int  # offsets in the NFKC-normalised input
    end: int
