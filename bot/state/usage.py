"""Usage metering: one row per answer, estimated cost from the manifest's price table.

Cost is estimated when the answer is recorded (prices change; a past month keeps the prices it was
charged at) and stored as an integer number of millionths of the currency unit. Months are
calendar months in Japan time (Asia/Tokyo, UTC+9) unless the caller says otherwise.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select

from bot.models import Usage
from bot.state.db import Database, iso_utc, utc_now
from bot.state.tables import usage as usage_table

JST = timezone(timedelta(hours=9), "JST")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_MICROS = Decimal(1_000_000)
_INSERT = insert(usage_table)  # built once; values are bound per call


@dataclass(frozen=True)
class ModelPrice:
    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float | None = None  # None: the input price
    cache_write_per_mtok: float | None = None  # None: the input price


@dataclass(frozen=True)
class PriceTable:
    currency: str = "JPY"
    models: Mapping[str, ModelPrice] | None = None

    @classmethod
    def from_config(cls, config: Any) -> PriceTable:
        """From ``manifest.schema.PricingConfig`` (or anything with the same attributes)."""
        return cls(
            currency=config.currency,
            models={
                name: ModelPrice(p.input_per_mtok, p.output_per_mtok, p.cache_read_per_mtok,
                                 p.cache_write_per_mtok)
                for name, p in config.models.items()
            },
        )

    def cost_micros(self, usage: Usage) -> int | None:
        """Estimated cost in millionths of the currency; None when the model has no price."""
        if usage.provider == "none":
            return 0
        price = (self.models or {}).get(usage.model)
        if price is None:
            return None
        read = price.input_per_mtok if price.cache_read_per_mtok is None else price.cache_read_per_mtok
        write = price.input_per_mtok if price.cache_write_per_mtok is None else price.cache_write_per_mtok
        total = (
            Decimal(usage.input_tokens) * Decimal(str(price.input_per_mtok))
            + Decimal(usage.output_tokens) * Decimal(str(price.output_per_mtok))
            + Decimal(usage.cache_read_tokens) * Decimal(str(read))
            + Decimal(usage.cache_write_tokens) * Decimal(str(write))
        )  # tokens x price per million tokens = millionths of the currency
        return int(total.to_integral_value(ROUND_HALF_UP))


@dataclass(frozen=True)
class UsageRow:
    tenant: str
    provider: str
    model: str
    questions: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost: Decimal  # sum of the priced answers
    unpriced: int = 0  # answers whose model had no price (not in cost)


@dataclass(frozen=True)
class UsageReport:
    month: str
    currency: str
    rows: list[UsageRow]

    @property
    def totals(self) -> UsageRow:
        return UsageRow(
            tenant="", provider="", model="",
            questions=sum(r.questions for r in self.rows),
            input_tokens=sum(r.input_tokens for r in self.rows),
            output_tokens=sum(r.output_tokens for r in self.rows),
            cache_read_tokens=sum(r.cache_read_tokens for r in self.rows),
            cache_write_tokens=sum(r.cache_write_tokens for r in self.rows),
            cost=sum((r.cost for r in self.rows), Decimal(0)),
            unpriced=sum(r.unpriced for r in self.rows),
        )

    def by_tenant(self) -> dict[str, UsageRow]:
        """One summed row per tenant (providers and models merged)."""
        out: dict[str, UsageRow] = {}
        for tenant in dict.fromkeys(r.tenant for r in self.rows):
            part = UsageReport(self.month, self.currency, [r for r in self.rows if r.tenant == tenant]).totals
            out[tenant] = UsageRow(tenant, "", "", part.questions, part.input_tokens, part.output_tokens,
                                   part.cache_read_tokens, part.cache_write_tokens, part.cost, part.unpriced)
        return out


def month_range(month: str, tz: tzinfo = JST) -> tuple[str, str]:
    """[start, end) of a calendar month in ``tz`` as stored UTC timestamps."""
    match = _MONTH.match(month)
    if not match:
        raise ValueError(f"month must look like 2025-05 (YYYY-MM), got {month!r}")
    year, mon = int(match.group(1)), int(match.group(2))
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=tz)
    return iso_utc(start), iso_utc(end)


class UsageMeter:
    def __init__(self, db: Database, *, prices: PriceTable | None = None) -> None:
        self.db = db
        self.prices = prices or PriceTable()

    def record(
        self, tenant: str, usage: Usage, *, time: datetime | None = None, conn: Connection | None = None
    ) -> int | None:
        """Store one answer's usage; returns the estimated cost in millionths (None: no price)."""
        cost = self.prices.cost_micros(usage)
        with self.db.write_in(conn) as conn:
            conn.execute(_INSERT, {
                "time": iso_utc(time or utc_now()),
                "tenant": tenant,
                "provider": usage.provider,
                "model": usage.model,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cache_read_tokens": usage.cache_read_tokens,
                "cache_write_tokens": usage.cache_write_tokens,
                "cost_micros": cost,
                "currency": self.prices.currency,
            })
        return cost


def tenant_cost(db: Database, tenant: str, month: str, *, tz: tzinfo = JST) -> tuple[str | None, Decimal]:
    """(currency, estimated cost) recorded for one tenant in ``month``; (None, 0) when nothing was.

    One indexed range per tenant (``ix_usage_tenant_time``): the budget check runs before every
    answer, and the whole month's report across hundreds of tenants took ~270 ms at 100k answers.
    """
    start, end = month_range(month, tz)
    u = usage_table
    query = (
        select(u.c.currency, func.coalesce(func.sum(u.c.cost_micros), 0))
        .where(u.c.tenant == tenant, u.c.time >= start, u.c.time < end)
        .group_by(u.c.currency)
    )
    with db.read() as conn:
        rows = conn.execute(query).all()
    if len(rows) > 1:
        raise ValueError(f"usage of {tenant} in {month} was priced in several currencies "
                         f"{sorted(r[0] for r in rows)}")
    if not rows:
        return None, Decimal(0)
    return rows[0][0], Decimal(int(rows[0][1])) / _MICROS


def usage_report(db: Database, month: str, *, tz: tzinfo = JST, currency: str | None = None) -> UsageReport:
    """Per tenant, provider and model: answers, tokens and estimated cost in ``month`` (YYYY-MM)."""
    start, end = month_range(month, tz)
    u = usage_table
    query = (
        select(
            u.c.tenant, u.c.provider, u.c.model, u.c.currency,
            func.count().label("questions"),
            func.coalesce(func.sum(u.c.input_tokens), 0).label("input_tokens"),
            func.coalesce(func.sum(u.c.output_tokens), 0).label("output_tokens"),
            func.coalesce(func.sum(u.c.cache_read_tokens), 0).label("cache_read_tokens"),
            func.coalesce(func.sum(u.c.cache_write_tokens), 0).label("cache_write_tokens"),
            func.coalesce(func.sum(u.c.cost_micros), 0).label("cost_micros"),
            func.count(u.c.cost_micros).label("priced"),
        )
        .where(u.c.time >= start, u.c.time < end)
        .group_by(u.c.tenant, u.c.provider, u.c.model, u.c.currency)
        .order_by(u.c.tenant, u.c.provider, u.c.model, u.c.currency)
    )
    with db.read() as conn:
        rows = conn.execute(query).all()
    currencies = {r.currency for r in rows}
    if len(currencies) > 1:
        raise ValueError(f"usage in {month} was priced in several currencies {sorted(currencies)}; "
                         "report them separately")
    return UsageReport(
        month=month,
        currency=next(iter(currencies), currency or "JPY"),
        rows=[
            UsageRow(
                tenant=r.tenant, provider=r.provider, model=r.model, questions=int(r.questions),
                input_tokens=int(r.input_tokens), output_tokens=int(r.output_tokens),
                cache_read_tokens=int(r.cache_read_tokens), cache_write_tokens=int(r.cache_write_tokens),
                cost=Decimal(int(r.cost_micros)) / _MICROS, unpriced=int(r.questions) - int(r.priced),
            )
            for r in rows
        ],
    )


# --- rendering ---------------------------------------------------------------------------------

HEADINGS = (
    "テナント (tenant)", "プロバイダ (provider)", "モデル (model)", "質問数 (questions)",
    "入力トークン (input tokens)", "出力トークン (output tokens)",
    "キャッシュ読込 (cache read tokens)", "キャッシュ書込 (cache write tokens)",
    "推定費用 (estimated cost)", "単価未設定 (unpriced)",
)
TOTAL_LABEL = "合計 (total)"


def format_cost(cost: Decimal, currency: str) -> str:
    places = Decimal("1") if currency == "JPY" else Decimal("0.01")
    if cost and cost < places:  # tiny amounts stay visible
        places = Decimal("0.0001")
    return f"{cost.quantize(places, ROUND_HALF_UP)}"


def _cells(row: UsageRow, currency: str, tenant: str | None = None) -> list[str]:
    return [
        row.tenant if tenant is None else tenant, row.provider, row.model, str(row.questions),
        str(row.input_tokens), str(row.output_tokens),
        str(row.cache_read_tokens), str(row.cache_write_tokens),
        format_cost(row.cost, currency), str(row.unpriced),
    ]


def report_table(report: UsageReport) -> list[list[str]]:
    """Headings, one line per tenant/provider/model, then the total line."""
    headings = list(HEADINGS)
    headings[8] = f"推定費用 {report.currency} (estimated cost)"
    lines = [headings] + [_cells(r, report.currency) for r in report.rows]
    lines.append(_cells(report.totals, report.currency, tenant=TOTAL_LABEL))
    return lines


def usage_csv(report: UsageReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(report_table(report))
    return out.getvalue()


def current_month(tz: tzinfo = JST) -> str:
    """This month as YYYY-MM in ``tz``."""
    return datetime.now(UTC).astimezone(tz).strftime("%Y-%m")
