"""Answer-engine benchmark: engine overhead excluding the LLM, and input tokens per answer.

    python benchmarks/answer_engine.py --data-dir DIR [--queries ../shared/eval/dev.jsonl] [--rounds 3]

The knowledge base in DIR must already be built (``kairan ingest ... --data-dir DIR``). The LLM is
an in-process stub with zero latency that answers by quoting the first source verbatim with [1],
so verification runs for real; the query rewrite is on (as with any configured LLM) and the stub
echoes the question. State (thread memory, usage, audit) goes to a temporary SQLite database.

Overhead = wall time of ``AnswerEngine.answer`` per question (redaction, retrieval incl. the
rewrite search, prompt building, verification, state writes), after one warm-up pass.
Input tokens = ``bot.prompt.estimate_tokens`` of system + numbered sources + question for every
question that reached generation, at the default top_k.
Targets (issue 4): overhead p95 < 150 ms; median input tokens <= 6,000.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

from bot.answer_text import statute_sentences  # noqa: E402
from bot.engine import AnswerEngine, EngineSettings  # noqa: E402
from bot.llm.base import Completion, LLMProvider, Prompt, StreamDone, StreamEvent, TextDelta  # noqa: E402
from bot.models import Answer, ConversationRef, IncomingMessage, Usage  # noqa: E402
from bot.prompt import estimate_tokens  # noqa: E402
from bot.state.audit import AuditLog  # noqa: E402
from bot.state.db import open_database  # noqa: E402
from bot.state.threads import ThreadStore  # noqa: E402
from bot.state.usage import PriceTable, UsageMeter  # noqa: E402
from kairan.wiring import open_searcher  # noqa: E402
from knowledge.evaluation import load_dataset  # noqa: E402

console = Console(stderr=True)
TARGET_P95_MS = 150.0
TARGET_MEDIAN_TOKENS = 6_000
_FIRST_SOURCE = re.compile(r"<source n=\"1\"[^>]*>\n(.*?)\n</source>", re.DOTALL)
_QUESTION = re.compile(r"<question>\n(.*?)\n</question>", re.DOTALL)
_QUOTE_CHARS = 60


class StubProvider:
    """An LLMProvider answering instantly and faithfully: the first source's first sentence, quoted."""

    name = "stub"
    model = "stub-faithful"

    def __init__(self) -> None:
        self.input_tokens: list[int] = []  # estimated input tokens of every answer request

    async def complete(self, prompt: Prompt) -> Completion:  # the query rewrite: echo the question
        match = _QUESTION.search(prompt.messages[-1].text)
        text = html.unescape(match.group(1)) if match else prompt.messages[-1].text
        usage = Usage(self.name, self.model, estimate_tokens(prompt.system_fixed), 20)
        return Completion(text, usage, "stop")

    async def stream(self, prompt: Prompt) -> AsyncIterator[StreamEvent]:
        question = prompt.messages[-1].text
        tokens = sum(estimate_tokens(t) for t in (prompt.system_fixed, prompt.system_context, question))
        self.input_tokens.append(tokens)
        text = self._answer(prompt.system_context)
        for i in range(0, len(text), 20):
            yield TextDelta(text[i : i + 20])
        yield StreamDone(Completion(text, Usage(self.name, self.model, tokens, len(text)), "end_turn"))

    async def aclose(self) -> None:
        return None

    @staticmethod
    def _answer(context: str) -> str:
        match = _FIRST_SOURCE.search(context)
        sentences = statute_sentences(html.unescape(match.group(1))) if match else []
        if not sentences:
            return "根拠となる資料が見つかりませんでした。"
        quote = sentences[0][:_QUOTE_CHARS].rstrip("。")
        return f"資料によれば「{quote}」とされています[1]。"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _message(question: str, n: int) -> IncomingMessage:
    ref = ConversationRef(platform="cli", tenant="bench", channel="bench", message=str(n))
    return IncomingMessage(ref=ref, user="bench", text=question)


async def run(data_dir: Path, questions: list[str], rounds: int, state_dir: Path) -> dict[str, object]:
    stub = StubProvider()
    assert isinstance(stub, LLMProvider)
    db = open_database(f"sqlite:///{state_dir / 'state.db'}")
    engine = AnswerEngine(
        searcher=open_searcher(data_dir),
        provider=stub,
        threads=ThreadStore(db),
        audit=AuditLog(db, salt="bench"),
        usage=UsageMeter(db, prices=PriceTable()),
        settings=EngineSettings(),
    )
    answers: list[Answer] = []
    for n, q in enumerate(questions):  # warm-up: dictionaries, index pages; also the token figures
        answers.append(await engine.answer(_message(q, n)))
    tokens = list(stub.input_tokens)
    latencies: list[float] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("engine", total=rounds * len(questions))
        for r in range(rounds):
            for n, q in enumerate(questions):
                start = time.perf_counter()
                await engine.answer(_message(q, (r + 1) * 1000 + n))
                latencies.append((time.perf_counter() - start) * 1000)
                progress.advance(task)
    db.close()
    generated = [a for a in answers if not a.abstained and not a.extractive]
    return {
        "questions": len(questions),
        "answered_by_llm": len(generated),
        "abstained": sum(a.abstained for a in answers),
        "extractive_fallback": sum(a.extractive for a in answers),
        "all_citations_verified": sum(all(c.verified for c in a.citations) for a in generated),
        "overhead_ms": {
            "runs": len(latencies),
            "p50": round(statistics.median(latencies), 2),
            "p95": round(percentile(latencies, 0.95), 2),
            "max": round(max(latencies), 2),
        },
        "input_tokens": {
            "answers": len(tokens),
            "median": statistics.median(tokens) if tokens else 0,
            "max": max(tokens, default=0),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="a built knowledge base")
    parser.add_argument("--queries", type=Path, default=ROOT.parent / "shared" / "eval" / "dev.jsonl")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not (args.data_dir.is_dir() and any(args.data_dir.iterdir())):
        parser.error(f"--data-dir {args.data_dir}: no knowledge base there; run `kairan ingest` first")
    questions = [item.question for item in load_dataset(args.queries)]
    with tempfile.TemporaryDirectory(prefix="kairan-bench-state-") as tmp:
        result = asyncio.run(run(args.data_dir, questions, max(1, args.rounds), Path(tmp)))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    overhead = result["overhead_ms"]
    tokens = result["input_tokens"]
    assert isinstance(overhead, dict) and isinstance(tokens, dict)
    ok_overhead = overhead["p95"] < TARGET_P95_MS
    ok_tokens = tokens["median"] <= TARGET_MEDIAN_TOKENS
    print(
        f"overhead p95 {overhead['p95']} ms "
        f"({'OK' if ok_overhead else 'OVER'} target < {TARGET_P95_MS:g} ms), "
        f"median input tokens {tokens['median']} ({'OK' if ok_tokens else 'OVER'} target <= "
        f"{TARGET_MEDIAN_TOKENS:,})"
    )


if __name__ == "__main__":
    main()
