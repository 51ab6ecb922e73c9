"""Monthly LLM budgets per tenant: past the budget a tenant gets extractive answers only.

The spend is the estimated cost the usage meter recorded for the current calendar month (Japan
time), in the manifest's pricing currency. Answers whose model has no price are not counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import tzinfo
from decimal import Decimal

from bot.state.db import Database
from bot.state.usage import JST, current_month, tenant_cost
from manifest.schema import Manifest

log = logging.getLogger(__name__)

BUDGET_NOTICE = "今月の利用上限に達したため、AIによる要約を行わず検索結果でお答えしています。"


class BudgetGuard:
    """``allows_llm(tenant)``: False once the tenant's spend this month reached its monthly_budget."""

    def __init__(
        self, db: Database, manifest: Manifest, *, month: Callable[[], str] | None = None, tz: tzinfo = JST
    ) -> None:
        self.db = db
        self._budgets = {
            t.id: Decimal(str(t.monthly_budget)) for t in manifest.tenants if t.monthly_budget is not None
        }
        self._currency = manifest.pricing.currency
        self._tz = tz
        self._month = month or (lambda: current_month(tz))

    def spent(self, tenant: str) -> Decimal:
        """Estimated cost recorded for ``tenant`` this month."""
        currency, cost = tenant_cost(self.db, tenant, self._month(), tz=self._tz)
        if currency is not None and currency != self._currency:
            raise ValueError(f"usage this month was priced in {currency}, the budget is in {self._currency}")
        return cost

    def allows_llm(self, tenant: str) -> bool:
        budget = self._budgets.get(tenant)
        if budget is None:
            return True
        try:
            spent = self.spent(tenant)
        except ValueError as exc:  # mixed currencies: cannot tell, so stay within budget
            log.warning("budget check for tenant %s failed, answering extractively: %s", tenant, exc)
            return False
        if spent >= budget:
            log.info("tenant %s reached its monthly budget (%s >= %s)", tenant, spent, budget)
            return False
        return True
