"""Prometheus metrics (text exposition format 0.0.4), written out by hand, and a metered engine.

Counters and histograms cover what an operator watches: questions, abstentions, answer latency,
LLM tokens, digest posts, errors by kind, and the 照会 loop (inquiries opened, answered, time to
answer); gauges show the replies waiting in the outbox per platform and the unanswered inquiries per
tenant (set from the state DB at scrape time, see ``kairan.serve``). ``MeteredEngine`` wraps the
answer engine without changing it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import AsyncIterator, Sequence

from bot.models import Answer, IncomingMessage
from bot.ports import Answerer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ANSWER_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
HOUR, DAY = 3600.0, 86400.0
INQUIRY_BUCKETS = (HOUR, 4 * HOUR, DAY, 3 * DAY, 7 * DAY, 14 * DAY, 30 * DAY)

LabelValues = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str], extra: tuple[str, str] | None = None) -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra is not None:
        pairs.append(f'{extra[0]}="{_escape(extra[1])}"')
    return "{" + ",".join(pairs) + "}" if pairs else ""


class Counter:
    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self._values: dict[LabelValues, float] = {} if labels else {(): 0.0}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError(f"{self.name}: a counter only goes up, got {amount}")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def _key(self, labels: dict[str, str]) -> LabelValues:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {tuple(labels)}")
        return tuple(str(labels[n]) for n in self.label_names)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with self._lock:
            items = sorted(self._values.items())
        lines += [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]
        return lines


class Gauge:
    """A value that goes up and down; ``replace`` sets every labelled value at once."""

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self._values: dict[LabelValues, float] = {}
        self._lock = threading.Lock()

    def replace(self, values: dict[LabelValues, float]) -> None:
        for key in values:
            if len(key) != len(self.label_names):
                raise ValueError(f"{self.name} takes labels {self.label_names}, got {key}")
        with self._lock:
            self._values = dict(values)

    def value(self, *labels: str) -> float | None:
        return self._values.get(tuple(labels))

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge"]
        with self._lock:
            items = sorted(self._values.items())
        lines += [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]
        return lines


class Histogram:
    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        self.name, self.help = name, help_text
        self.buckets = tuple(sorted(buckets))
        self._counts = [0] * len(self.buckets)
        self._sum = 0.0
        self._count = 0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    self._counts[i] += 1
            self._sum += value
            self._count += 1

    @property
    def count(self) -> int:
        return self._count

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            for bound, n in zip(self.buckets, self._counts, strict=True):
                lines.append(f'{self.name}_bucket{{le="{_number(bound)}"}} {n}')
            lines.append(f'{self.name}_bucket{{le="+Inf"}} {self._count}')
            lines.append(f"{self.name}_sum {_number(self._sum)}")
            lines.append(f"{self.name}_count {self._count}")
        return lines


class Metrics:
    """Every metric kairan exports; one instance per process, passed to whoever records."""

    def __init__(self) -> None:
        self.questions = Counter(
            "kairan_questions_total", "Questions answered, by tenant and platform.", ("tenant", "platform")
        )
        self.abstentions = Counter(
            "kairan_abstentions_total",
            "Questions answered with 'no supporting source found', by tenant and platform.",
            ("tenant", "platform"),
        )
        self.answer_seconds = Histogram(
            "kairan_answer_seconds", "Time to a final answer in seconds.", ANSWER_BUCKETS
        )
        self.llm_tokens = Counter("kairan_llm_tokens_total", "LLM tokens by direction.", ("direction",))
        self.digest_posts = Counter("kairan_digest_posts_total", "Digests posted to channels.")
        self.errors = Counter("kairan_errors_total", "Errors by kind.", ("kind",))
        self.outbox_pending = Gauge(
            "kairan_outbox_pending",
            "Replies a chat platform refused during an outage, waiting in the outbox to be posted again, "
            "by platform.",
            ("platform",),
        )
        self.inquiries_opened = Counter(
            "kairan_inquiries_opened_total", "照会 (inquiries) posted to their destination, by tenant.",
            ("tenant",),
        )
        self.inquiries_answered = Counter(
            "kairan_inquiries_answered_total", "照会 given their first answer, by tenant.", ("tenant",)
        )
        self.inquiry_answer_seconds = Histogram(
            "kairan_inquiry_answer_seconds", "Time from posting a 照会 to its first answer in seconds.",
            INQUIRY_BUCKETS,
        )
        self.inquiries_waiting = Gauge(
            "kairan_inquiries_open", "照会 posted and not answered yet, by tenant (read from the state DB).",
            ("tenant",),
        )

    def observe_answer(self, message: IncomingMessage, answer: Answer, seconds: float) -> None:
        ref = message.ref
        self.questions.inc(tenant=ref.tenant, platform=ref.platform)
        if answer.abstained:
            self.abstentions.inc(tenant=ref.tenant, platform=ref.platform)
        self.answer_seconds.observe(seconds)
        usage = answer.usage
        if usage is not None and usage.provider != "none":
            for direction, n in (
                ("input", usage.input_tokens),
                ("output", usage.output_tokens),
                ("cache_read", usage.cache_read_tokens),
                ("cache_write", usage.cache_write_tokens),
            ):
                if n:
                    self.llm_tokens.inc(n, direction=direction)

    def set_inquiries_open(self, counts: dict[str, int] | None) -> None:
        """Unanswered inquiries per tenant, read at scrape time; None: unknown (no samples)."""
        self.inquiries_waiting.replace({(t,): float(n) for t, n in (counts or {}).items()})

    def set_outbox_pending(self, counts: dict[str, int] | None) -> None:
        """The pending outbox entries per platform, read at scrape time; None: unknown (no samples)."""
        self.outbox_pending.replace({(p,): float(n) for p, n in (counts or {}).items()})

    def render(self) -> str:
        lines: list[str] = []
        for metric in (
            self.questions,
            self.abstentions,
            self.answer_seconds,
            self.llm_tokens,
            self.digest_posts,
            self.errors,
            self.outbox_pending,
            self.inquiries_opened,
            self.inquiries_answered,
            self.inquiry_answer_seconds,
            self.inquiries_waiting,
        ):
            lines += metric.render()
        return "\n".join(lines) + "\n"


class InquiryMeter:
    """The 照会 loop's events as metrics (``bot.inquiry.desk.InquiryObserver``)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def opened(self, tenant: str) -> None:
        self.metrics.inquiries_opened.inc(tenant=tenant)

    def answered(self, tenant: str, seconds: float) -> None:
        self.metrics.inquiries_answered.inc(tenant=tenant)
        self.metrics.inquiry_answer_seconds.observe(seconds)


class MeteredEngine:
    """An answerer (``bot.ports.Answerer``) with metrics: the same calls, counted and timed."""

    def __init__(self, engine: Answerer, metrics: Metrics) -> None:
        self.inner = engine
        self.metrics = metrics

    async def answer(self, message: IncomingMessage, *, collections: Sequence[str] | None = None) -> Answer:
        started = time.perf_counter()
        try:  # the engine's own non-streaming path (it asks the LLM without a stream)
            answer = await self.inner.answer(message, collections=collections)
        except Exception:
            self.metrics.errors.inc(kind="answer")
            raise
        self.metrics.observe_answer(message, answer, time.perf_counter() - started)
        return answer

    async def stream(
        self, message: IncomingMessage, *, collections: Sequence[str] | None = None
    ) -> AsyncIterator[str | Answer]:
        started = time.perf_counter()
        try:
            async for event in self.inner.stream(message, collections=collections):
                if isinstance(event, Answer):
                    self.metrics.observe_answer(message, event, time.perf_counter() - started)
                yield event
        except Exception:
            self.metrics.errors.inc(kind="answer")
            raise
