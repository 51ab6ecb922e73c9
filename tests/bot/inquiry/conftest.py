"""The 照会 loop on toy platforms (tests/fakes/inquiry.py) over a real SQLite state DB."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from bot.flow.lifecycle import Lifecycle, QuestionFlow
from bot.flow.question import Question
from bot.inquiry.desk import InquiryDesk, InquirySettings, ResponderMessage
from bot.inquiry.store import Inquiry, InquiryStore
from bot.models import Answer, ConversationRef, IncomingMessage
from bot.redaction import RedactionPolicy
from bot.state.db import Database, open_database
from bot.state.events import EventLedger
from manifest.schema import Manifest
from manifest.scope import Scope
from tests.fakes.engines import FixedAnswerEngine
from tests.fakes.inquiry import ToyPort

ASK_CHANNEL = "C0ASK"
DEST = "C0HOUMU"
RESPONDER = "U0HOUMU"
ASKER = "U0ASKER"
QUESTION = "職員の名札に旧姓を使ってよいですか"
DRAFT = "件名：「職員の名札に旧姓を使ってよいですか」について（照会）"
ABSTAINED = Answer(
    text="根拠となる資料が見つかりませんでした。", citations=(), abstained=True, inquiry_draft=DRAFT,
    audit_id="audit-1",
)


def manifest(*, dest_platform: str = "slack", responders: dict[str, Any] | None = None) -> Manifest:
    return Manifest.model_validate({
        "platforms": {"slack": {"mode": "http"}, "logo": {"url": "ws://127.0.0.1:9/api"}},
        "knowledge": {"collections": [
            {"name": "laws", "kind": "law", "public": True},
            {"name": "city-qa", "kind": "qa", "owner": "city"},
        ]},
        "tenants": [{
            "id": "city", "name": "テスト市", "collections": ["laws", "city-qa"],
            "inquiries": {
                "destination": {"platform": dest_platform, "channel": DEST, "name": "法務担当"},
                "responders": responders or {"users": [RESPONDER]},
                "collection": "city-qa",
            },
        }],
    })


@dataclass
class KeptAnswers:
    """The knowledge base as the desk sees it: what is kept, and every write."""

    kept: dict[int, str] = field(default_factory=dict)  # inquiry id → answer text
    writes: list[tuple[str, int, int]] = field(default_factory=list)  # (put|remove, inquiry id, revision)

    def put(self, inquiry: Inquiry, *, collection: str, answerer: str, tenant_name: str) -> str:
        assert collection == "city-qa" and answerer == "法務担当" and tenant_name == "テスト市"
        self.kept[inquiry.id] = inquiry.answer or ""
        self.writes.append(("put", inquiry.id, inquiry.revision))
        return f"{collection}/inquiry-{inquiry.id}"

    def remove(self, inquiry: Inquiry, *, collection: str) -> None:
        self.kept.pop(inquiry.id, None)
        self.writes.append(("remove", inquiry.id, inquiry.revision))


@dataclass
class Loop:
    db: Database
    desk: InquiryDesk
    store: InquiryStore
    asker: ToyPort  # the toy "slack" platform the question is asked on (and the destination, by default)
    book: KeptAnswers
    flow: QuestionFlow

    def destination(self) -> ToyPort:
        config = self.desk.config("city")
        assert config is not None
        return self.desk.ports[config.destination.platform]  # type: ignore[return-value]

    async def ask(self, n: int = 1, *, user: str = ASKER, text: str = QUESTION) -> None:
        ref = ConversationRef("slack", "city", ASK_CHANNEL, f"t{n}", f"t{n}")
        message = IncomingMessage(ref=ref, user=user, text=text)
        scope = Scope("city", ("laws", "city-qa"))
        await self.flow.handle(Question(key=f"e{n}", message=message, scope=scope))

    def reply(self, text: str, *, message: str = "r1", user: str = RESPONDER,
              thread: str | None = None) -> ResponderMessage:
        """A message in the destination: by default a reply in the last 照会's thread (LoGo: in its talk)."""
        dest = self.destination()
        root = thread if thread is not None else (dest.published[-1].id if dest.threaded else None)
        return ResponderMessage(platform=dest.platform, channel=DEST, thread=root, message=message, user=user,
                                user_name="法務 一郎", text=text)


def build_loop(
    db: Database, *, manifest: Manifest, answer: Answer = ABSTAINED, store: InquiryStore | None = None,
    redaction: RedactionPolicy | None = None, extra: list[ToyPort] | None = None,
) -> Loop:
    store = store or InquiryStore(db, backoff=timedelta(0))
    book = KeptAnswers()
    desk = InquiryDesk(store=store, manifest=manifest, book=book, redaction=redaction,
                       settings=InquirySettings(sweep_interval=3600))
    asker = ToyPort("slack")
    desk.attach(asker)
    for port in extra or []:
        desk.attach(port)
    lifecycle = Lifecycle(answerer=FixedAnswerEngine(answer), ledger=EventLedger(db), inquiries=desk)
    return Loop(db=db, desk=desk, store=store, asker=asker, book=book, flow=lifecycle.flow(asker.channel))


@pytest.fixture
def db(state_url: str) -> Iterator[Database]:
    """The state DB on SQLite and on PostgreSQL (``state_url``, tests/fakes/postgres.py)."""
    database = open_database(state_url)
    yield database
    database.close()
