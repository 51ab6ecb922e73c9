"""Recording fake adapters implementing ``bot.ports.Adapter`` (reusable across tests).

* ``RecordingAdapter`` records every ``send`` in ``sent`` (ref, reply). Failure injection:
  ``fail_before_send`` (an exception raised instead of posting) and ``crash_after_send``
  (an exception raised *after* the post was recorded, e.g. a ``BaseException`` that
  simulates the process being killed between posting and recording).
* ``CheckingRecordingAdapter`` additionally answers ``was_posted(ref, marker)`` from what
  it recorded, like an adapter that can search its channel for a digest's marker.
* ``IdempotentRecordingAdapter`` honours the digest marker as an idempotency key: a digest
  whose marker it has posted already is dropped (counted in ``deduplicated``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.digest.compose import digest_marker
from bot.models import Answer, ConversationRef, Digest


@dataclass
class RecordingAdapter:
    name: str = "console"
    sent: list[tuple[ConversationRef, Answer | Digest]] = field(default_factory=list)
    fail_before_send: BaseException | None = None
    crash_after_send: BaseException | None = None
    started: bool = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    def connected(self) -> bool:
        return self.started

    async def send(self, ref: ConversationRef, reply: Answer | Digest) -> None:
        if self.fail_before_send is not None:
            exc, self.fail_before_send = self.fail_before_send, None
            raise exc
        self._post(ref, reply)
        if self.crash_after_send is not None:
            exc, self.crash_after_send = self.crash_after_send, None
            raise exc

    def _post(self, ref: ConversationRef, reply: Answer | Digest) -> None:
        self.sent.append((ref, reply))

    @property
    def digests(self) -> list[Digest]:
        return [reply for _, reply in self.sent if isinstance(reply, Digest)]


@dataclass
class CheckingRecordingAdapter(RecordingAdapter):
    async def was_posted(self, ref: ConversationRef, marker: str) -> bool:
        return any(r == ref and isinstance(d, Digest) and digest_marker(d) == marker for r, d in self.sent)


@dataclass
class IdempotentRecordingAdapter(RecordingAdapter):
    honours_digest_marker: bool = True
    deduplicated: int = 0

    def _post(self, ref: ConversationRef, reply: Answer | Digest) -> None:
        if isinstance(reply, Digest):
            marker = digest_marker(reply)
            if any(isinstance(d, Digest) and digest_marker(d) == marker for _, d in self.sent):
                self.deduplicated += 1
                return
        super()._post(ref, reply)
