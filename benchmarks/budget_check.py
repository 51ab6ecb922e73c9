"""The monthly-budget check that runs before every answer, with many municipalities' usage recorded.

    python benchmarks/budget_check.py [--tenants 200] [--answers 100000] [--state-url URL]

Records ``--answers`` answers this month spread over ``--tenants`` tenants (each with a monthly
budget) through the real UsageMeter into a fresh state database (SQLite in a temporary
directory, or ``--state-url``), then times ``BudgetGuard.allows_llm`` for every tenant.
Prints p50/p95 of the check. It used to total the whole month's usage of every tenant per
question (~270 ms at 100k answers); it now reads one tenant's range of a covering index.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.progress import Progress  # noqa: E402

from bot.budget import BudgetGuard  # noqa: E402
from bot.models import Usage  # noqa: E402
from bot.state.db import default_database_url, open_database  # noqa: E402
from bot.state.usage import PriceTable, UsageMeter  # noqa: E402
from manifest.schema import Manifest  # noqa: E402

MODEL = "claude-sonnet-4-5"


def percentile_ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--state-url", help="SQLAlchemy URL of an empty state database (default: SQLite)")
    args = parser.parse_args()

    manifest = Manifest.model_validate({
        "tenants": [{"id": f"city{i:03d}", "name": f"市{i}", "monthly_budget": 1_000_000}
                    for i in range(args.tenants)],
        "pricing": {"currency": "USD", "models": {MODEL: {"input_per_mtok": 3.0, "output_per_mtok": 15.0}}},
    })
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(args.state_url or default_database_url(Path(tmp)))
        meter = UsageMeter(db, prices=PriceTable.from_config(manifest.pricing))
        with Progress(transient=True) as progress:
            task = progress.add_task("recording answers", total=args.answers)
            batch = 5_000
            for start in range(0, args.answers, batch):
                with db.write() as conn:
                    for i in range(start, min(start + batch, args.answers)):
                        tenant = f"city{i % args.tenants:03d}"
                        meter.record(tenant, Usage("anthropic", MODEL, 3_000, 300), conn=conn)
                progress.update(task, completed=min(start + batch, args.answers))
        guard = BudgetGuard(db, manifest)
        timings = []
        for t in manifest.tenants:
            started = time.perf_counter()
            assert guard.allows_llm(t.id)
            timings.append(time.perf_counter() - started)
        db.close()
    print(
        f"{args.answers:,} answers this month over {args.tenants} tenants: budget check before each answer "
        f"p50 {percentile_ms(timings, 0.5)} ms, p95 {percentile_ms(timings, 0.95)} ms"
    )


if __name__ == "__main__":
    main()
