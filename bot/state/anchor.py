"""Anchors: a chain's head (seq, hash), signed with the chain key, kept outside the database.

After each append the new head goes to the JSON log (one INFO line, ``audit chain head``, no
question text) and, when the manifest names one (``state.audit_anchor_file``, best on another
volume or host), to a small JSON file holding the newest head of each chain. ``kairan audit verify``
compares them with the database: an anchored seq the chain no longer reaches means records were cut
off the end (or all deleted); a record at an anchored seq with another hash means it was rewritten.

An anchor is only as safe as the place it is kept: whoever can also rewrite the anchor file and
every copy of the log can roll them back together with the database. The signature (HMAC under the
chain key) stops anchors being forged or moved forward without the key.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bot.state.chain import ChainKey, Link, Problem, canonical_json

log = logging.getLogger("kairan.audit")
ANCHOR_MESSAGE = "audit chain head"
_FILE_VERSION = 1


@dataclass(frozen=True)
class Anchor:
    chain: str  # "audit" | "feedback"
    seq: int
    hash: str
    time: str
    keyed: bool
    sig: str  # HMAC of the other fields under the chain key; "" when written without a key

    @classmethod
    def make(cls, chain: str, seq: int, digest: str, time: str, key: ChainKey) -> Anchor:
        unsigned = cls(chain, seq, digest, time, key.keyed, "")
        return cls(chain, seq, digest, time, key.keyed, key.sign(unsigned.message()))

    def message(self) -> str:
        return canonical_json({"chain": self.chain, "seq": self.seq, "hash": self.hash, "time": self.time,
                               "keyed": self.keyed})

    def signed_by(self, key: ChainKey) -> bool:
        return key.keyed and bool(self.sig) and key.sign(self.message()) == self.sig

    @classmethod
    def from_json(cls, data: Any) -> Anchor | None:
        try:
            return cls(str(data["chain"]), int(data["seq"]), str(data["hash"]), str(data["time"]),
                       bool(data["keyed"]), str(data.get("sig") or ""))
        except (KeyError, TypeError, ValueError):
            return None


def log_anchor(anchor: Anchor) -> None:
    """The anchor as one JSON log line (fields ``anchor_chain``, ``anchor_seq`` …)."""
    log.info(ANCHOR_MESSAGE, extra={f"anchor_{k}": v for k, v in asdict(anchor).items()})


def anchors_from_log(lines: Iterable[str]) -> list[Anchor]:
    """Anchors in JSON log lines (other lines, and lines that are not JSON, are skipped)."""
    found = []
    for line in lines:
        if ANCHOR_MESSAGE not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("message") != ANCHOR_MESSAGE:
            continue
        anchor = Anchor.from_json({k.removeprefix("anchor_"): v for k, v in entry.items()})
        if anchor is not None:
            found.append(anchor)
    return found


class AnchorFile:
    """The newest anchor of each chain in one JSON file, replaced atomically on every write.

    Written by every replica that appends; a replica may overwrite a newer head with its own older
    one (the file is not locked across machines): that loses detection of the records in between,
    never raises a false alarm, since any past head of an intact chain still matches it.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def read(self) -> list[Anchor]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        entries = data.get("anchors", {}) if isinstance(data, dict) else {}
        anchors = [Anchor.from_json(v) for v in entries.values()] if isinstance(entries, dict) else []
        return [a for a in anchors if a is not None]

    def write(self, anchor: Anchor) -> None:
        """Keep ``anchor`` unless the file already holds a later head of its chain; never raises."""
        try:
            with self._lock:
                current = {a.chain: a for a in self.read()}
                kept = current.get(anchor.chain)
                if kept is not None and kept.seq >= anchor.seq:
                    return
                current[anchor.chain] = anchor
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                entries = {c: asdict(a) for c, a in sorted(current.items())}
                body = {"version": _FILE_VERSION, "anchors": entries}
                tmp.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
                os.replace(tmp, self.path)
        except (OSError, ValueError) as exc:
            log.warning("the audit anchor file %s could not be written: %s", self.path, exc)


class AnchorPublisher:
    """Anchors each new head of a chain once, after its append was committed: log line and file."""

    def __init__(self, chain: str, key: ChainKey, file: AnchorFile | None = None) -> None:
        self.chain = chain
        self.key = key
        self.file = file
        self._published = 0
        self._lock = threading.Lock()

    def publish(self, seq: int, digest: str, time: str) -> None:
        with self._lock:
            if seq <= self._published:
                return
            self._published = seq
        anchor = Anchor.make(self.chain, seq, digest, time, self.key)
        log_anchor(anchor)
        if self.file is not None:
            self.file.write(anchor)


def anchor_problems(
    chain: str, anchors: Iterable[Anchor], links: list[Link], key: ChainKey
) -> list[Problem]:
    """What the anchors of ``chain`` show that the database does not: cut-off or rewritten heads."""
    by_seq = {link.seq: link for link in links}
    last = max(by_seq, default=0)
    problems: list[Problem] = []
    for anchor in sorted(anchors, key=lambda a: -a.seq):  # the furthest head first: it names the most
        if anchor.chain != chain:
            continue
        if key.keyed and not anchor.signed_by(key):
            problems.append(Problem(anchor.seq, None, "anchor",
                                    f"an anchor of {anchor.time} for seq {anchor.seq} is not signed with the "
                                    "key: forged, or written without the key"))
            continue
        if anchor.seq > last:
            problems.append(Problem(last + 1, None, "deleted",
                                    f"the chain ends at seq {last}, but an anchor of {anchor.time} recorded "
                                    f"it at seq {anchor.seq}: records were cut off the end"))
            continue
        link = by_seq.get(anchor.seq)
        if link is not None and link.hash != anchor.hash:
            problems.append(Problem(anchor.seq, link.id, "edited",
                                    f"record {link.id} is not the one an anchor of {anchor.time} recorded "
                                    f"at seq {anchor.seq}: rewritten"))
    return problems
