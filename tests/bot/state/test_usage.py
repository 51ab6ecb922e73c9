from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.models import Usage
from bot.state.commands import usage_report_text
from bot.state.db import Database
from bot.state.usage import ModelPrice, PriceTable, UsageMeter, UsageRow, month_range, usage_csv, usage_report
from manifest.loader import ManifestError, load_manifest_text

PRICES = PriceTable(currency="USD", models={
    "claude-sonnet-4-5": ModelPrice(3.0, 15.0, cache_read_per_mtok=0.3, cache_write_per_mtok=3.75),
    "qwen2.5-32b": ModelPrice(0.0, 0.0),
    "cheap": ModelPrice(1.0, 2.0),  # cache prices default to the input price
})
SONNET = Usage("anthropic", "claude-sonnet-4-5", input_tokens=4000, output_tokens=500,
               cache_read_tokens=2000, cache_write_tokens=1000)


def at(day: int, hour: int = 3, month: int = 5) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


def test_cost_estimate_in_millionths() -> None:
    # 4000×3 + 500×15 + 2000×0.3 + 1000×3.75 = 12000 + 7500 + 600 + 3750 = 23850 millionths of USD
    assert PRICES.cost_micros(SONNET) == 23_850
    assert PRICES.cost_micros(Usage("openai_compatible", "cheap", 10, 10, 100, 100)) == 10 + 20 + 100 + 100
    assert PRICES.cost_micros(Usage("anthropic", "unknown-model", 10, 10)) is None
    assert PRICES.cost_micros(Usage("none", "", 0, 0)) == 0


def test_report_sums_per_tenant_for_the_month_only(db: Database) -> None:
    meter = UsageMeter(db, prices=PRICES)
    for day in (2, 10, 20):
        meter.record("yokosuka", SONNET, time=at(day))
    meter.record("kamakura", SONNET, time=at(3))
    meter.record("kamakura", Usage("openai_compatible", "qwen2.5-32b", 7000, 900), time=at(4))
    meter.record("kamakura", Usage("anthropic", "unknown-model", 100, 10), time=at(5))
    meter.record("yokosuka", SONNET, time=at(15, month=4))  # other months are excluded
    meter.record("yokosuka", SONNET, time=at(1, month=6))
    report = usage_report(db, "2025-05")
    assert report.currency == "USD"
    assert [(r.tenant, r.provider, r.model, r.questions) for r in report.rows] == [
        ("kamakura", "anthropic", "claude-sonnet-4-5", 1),
        ("kamakura", "anthropic", "unknown-model", 1),
        ("kamakura", "openai_compatible", "qwen2.5-32b", 1),
        ("yokosuka", "anthropic", "claude-sonnet-4-5", 3),
    ]
    tenants = report.by_tenant()
    assert tenants["yokosuka"] == UsageRow(
        "yokosuka", "", "", 3, 12000, 1500, 6000, 3000, Decimal("0.07155"), 0
    )
    assert tenants["kamakura"].questions == 3
    assert tenants["kamakura"].input_tokens == 4000 + 7000 + 100
    assert tenants["kamakura"].cost == Decimal("0.02385")
    assert tenants["kamakura"].unpriced == 1
    totals = report.totals
    assert (totals.questions, totals.input_tokens, totals.cost, totals.unpriced) == (
        6, 23100, Decimal("0.09540"), 1)


def test_months_are_japan_time(db: Database) -> None:
    meter = UsageMeter(db, prices=PRICES)
    meter.record("yokosuka", SONNET, time=datetime(2025, 5, 31, 15, 30, tzinfo=UTC))  # 6/1 00:30 JST
    meter.record("yokosuka", SONNET, time=datetime(2025, 4, 30, 15, 0, tzinfo=UTC))  # 5/1 00:00 JST
    assert [r.questions for r in usage_report(db, "2025-05").rows] == [1]
    assert [r.questions for r in usage_report(db, "2025-06").rows] == [1]
    assert month_range("2025-12") == ("2025-11-30T15:00:00.000000Z", "2025-12-31T15:00:00.000000Z")


@pytest.mark.parametrize("month", ["2025-13", "2025-5", "May 2025", ""])
def test_bad_month_is_rejected(db: Database, month: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        usage_report(db, month)


def test_csv_and_text_rendering(db: Database) -> None:
    meter = UsageMeter(db, prices=PRICES)
    meter.record("yokosuka", SONNET, time=at(2))
    meter.record("kamakura", Usage("anthropic", "unknown-model", 100, 10), time=at(5))
    csv_text = usage_report_text(db, "2025-05", csv=True)
    assert csv_text == usage_csv(usage_report(db, "2025-05"))
    assert csv_text.splitlines() == [
        "テナント (tenant),プロバイダ (provider),モデル (model),質問数 (questions),"
        "入力トークン (input tokens),出力トークン (output tokens),キャッシュ読込 (cache read tokens),"
        "キャッシュ書込 (cache write tokens),推定費用 USD (estimated cost),単価未設定 (unpriced)",
        "kamakura,anthropic,unknown-model,1,100,10,0,0,0.00,1",
        "yokosuka,anthropic,claude-sonnet-4-5,1,4000,500,2000,1000,0.02,0",
        "合計 (total),,,2,4100,510,2000,1000,0.02,1",
    ]
    table = usage_report_text(db, "2025-05").splitlines()
    assert table[0].startswith("利用状況 2025-05")
    assert table[1].startswith("テナント (tenant)")
    assert table[2].split() == [
        "kamakura", "anthropic", "unknown-model", "1", "100", "10", "0", "0", "0.00", "1"
    ]
    assert table[4].split()[:4] == ["合計", "(total)", "2", "4100"]
    assert "1 件はマニフェストの pricing に単価がない" in table[5]
    empty = usage_report_text(db, "2024-01").splitlines()
    assert empty[1] == "この月の利用はありません / no usage in 2024-01"


def test_price_table_from_manifest() -> None:
    m = load_manifest_text(
        "pricing:\n  currency: JPY\n  models:\n    claude-sonnet-4-5:\n      input_per_mtok: 450\n"
        "      output_per_mtok: 2250\n", "m.yaml")
    table = PriceTable.from_config(m.pricing)
    assert table.currency == "JPY"
    assert table.models == {"claude-sonnet-4-5": ModelPrice(450.0, 2250.0, None, None)}
    assert table.cost_micros(Usage("anthropic", "claude-sonnet-4-5", 1_000_000, 0)) == 450_000_000
    with pytest.raises(ManifestError, match=r"pricing\.models\.m\.input_per_mtok"):
        load_manifest_text(
            "pricing:\n  models:\n    m:\n      input_per_mtok: -1\n      output_per_mtok: 1\n", "m.yaml"
        )
