"""Monthly budgets: BudgetGuard over real usage rows, and the engine answering extractively past it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.budget import BUDGET_NOTICE, BudgetGuard
from bot.engine import AnswerEngine, EngineSettings
from bot.llm.base import Completion, Prompt, StreamDone, StreamEvent, TextDelta
from bot.models import ConversationRef, IncomingMessage, Usage
from bot.state.db import Database, default_database_url, open_database
from bot.state.usage import ModelPrice as Price
from bot.state.usage import PriceTable, UsageMeter
from knowledge.search import Searcher
from manifest.schema import Manifest

MODEL = "claude-sonnet-4-5"


def manifest(budget: float | None) -> Manifest:
    return Manifest.model_validate(
        {
            "tenants": [
                {"id": "yokosuka", "name": "横須賀市", "monthly_budget": budget},
                {"id": "zushi", "name": "逗子市"},
            ],
            "pricing": {
                "currency": "USD",
                "models": {MODEL: {"input_per_mtok": 3.0, "output_per_mtok": 15.0}},
            },
        }
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(default_database_url(tmp_path))
    yield database
    database.close()


def spend(db: Database, tenant: str, output_tokens: int, when: datetime) -> None:
    """Record an answer; at 15 USD per million output tokens, 100,000 tokens cost 1.50 USD."""
    meter = UsageMeter(db, prices=PriceTable("USD", {MODEL: Price(3.0, 15.0)}))
    meter.record(tenant, Usage("anthropic", MODEL, output_tokens=output_tokens), time=when)


def test_budget_guard_counts_only_this_month_and_this_tenant(db: Database) -> None:
    guard = BudgetGuard(db, manifest(2.0), month=lambda: "2026-11")
    assert guard.allows_llm("yokosuka")
    spend(db, "yokosuka", 100_000, datetime(2026, 10, 31, 12, tzinfo=UTC))  # last month: 1.50
    spend(db, "zushi", 1_000_000, datetime(2026, 11, 2, tzinfo=UTC))  # another tenant: 15.00
    spend(db, "yokosuka", 100_000, datetime(2026, 11, 3, tzinfo=UTC))  # 1.50 this month
    assert str(guard.spent("yokosuka")) == "1.5"
    assert guard.allows_llm("yokosuka")
    spend(db, "yokosuka", 40_000, datetime(2026, 11, 4, tzinfo=UTC))  # + 0.60 = 2.10 >= 2.00
    assert str(guard.spent("yokosuka")) == "2.1"
    assert not guard.allows_llm("yokosuka")
    assert guard.allows_llm("zushi")  # no budget set
    assert guard.allows_llm("unknown-tenant")


def test_the_spend_is_read_from_one_tenant_index_also_in_an_older_database(tmp_path: Path) -> None:
    # A database created before the tenant index existed gets it when it is opened again, and the
    # budget check reads that index only (not the month's rows of every tenant).
    first = open_database(default_database_url(tmp_path))
    with first.write() as conn:
        conn.exec_driver_sql("DROP INDEX ix_usage_tenant_time")
    first.close()
    db = open_database(default_database_url(tmp_path))
    try:
        spend(db, "yokosuka", 100_000, datetime(2026, 11, 3, tzinfo=UTC))
        spend(db, "zushi", 100_000, datetime(2026, 11, 3, tzinfo=UTC))
        assert str(BudgetGuard(db, manifest(2.0), month=lambda: "2026-11").spent("yokosuka")) == "1.5"
        with db.read() as conn:
            plan = " ".join(
                str(row[-1]) for row in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT currency, SUM(cost_micros) FROM usage "
                    "WHERE tenant = 'yokosuka' AND time >= '2026-10-31' AND time < '2026-11-30' "
                    "GROUP BY currency"
                )
            )
        assert "COVERING INDEX ix_usage_tenant_time" in plan
    finally:
        db.close()


def test_no_budget_means_no_limit(db: Database) -> None:
    spend(db, "yokosuka", 10_000_000, datetime.now(UTC))
    assert BudgetGuard(db, manifest(None)).allows_llm("yokosuka")
    assert not BudgetGuard(db, manifest(1.0)).allows_llm("yokosuka")


def test_manifest_rejects_a_non_positive_budget() -> None:
    with pytest.raises(ValueError, match="monthly_budget"):
        manifest(0)


class RecordingProvider:
    name = "anthropic"
    model = MODEL

    def __init__(self) -> None:
        self.prompts: list[Prompt] = []

    async def complete(self, prompt: Prompt) -> Completion:  # engine.answer(): one response
        self.prompts.append(prompt)
        text = "行政財産は、貸し付けることができる場合があります[1]。"
        return Completion(text, Usage(self.name, self.model, 100, 20), "end_turn")

    async def stream(self, prompt: Prompt) -> AsyncIterator[StreamEvent]:
        completion = await self.complete(prompt)
        yield TextDelta(completion.text)
        yield StreamDone(completion)

    async def aclose(self) -> None:
        return None


def message(tenant: str) -> IncomingMessage:
    return IncomingMessage(
        ref=ConversationRef(platform="cli", tenant=tenant, channel="cli"), user="u1", text="自治法238条の4"
    )


async def test_engine_answers_extractively_when_the_budget_forbids_the_llm(searcher: Searcher) -> None:
    provider = RecordingProvider()
    asked: list[str] = []

    def allowed(tenant: str) -> bool:
        asked.append(tenant)
        return tenant != "over-budget"

    engine = AnswerEngine(
        searcher=searcher,
        provider=provider,
        settings=EngineSettings(rewrite=False),
        llm_allowed=allowed,
    )
    over = await engine.answer(message("over-budget"))
    assert asked == ["over-budget"]
    assert provider.prompts == []
    assert over.extractive and not over.abstained
    assert over.warnings == (BUDGET_NOTICE,)
    assert over.citations[0].url == "https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_238_4"

    within = await engine.answer(message("within"))
    assert asked == ["over-budget", "within"]
    assert len(provider.prompts) == 1
    assert not within.extractive
    assert within.usage is not None and within.usage.output_tokens == 20
