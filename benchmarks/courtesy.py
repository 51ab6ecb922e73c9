"""The same questions wrapped in the chat staff write around them: does the answer change?

    python benchmarks/courtesy.py --data-dir DIR [--sets NAME ...] [--keep-asides] [--json]

DIR must hold the ingested corpus (see benchmarks/sufficiency.py, which also describes the question
sets). Every semantic and unanswerable question is asked as written and again inside each wrapping below,
each part on its own line as in a chat message; citations are asked as written. Per set and wrapping:
semantic R@1 / R@5, unanswerable questions judged insufficient, answerable ones judged sufficient.

- Courtesies (a greeting and a closing; a self-introduction; an apology and a request for guidance):
  knowledge/pleasantries.py takes them off before searching, so each should read as the bare question.
- Chat that is not a courtesy (the day at the counter, being new to the post, why one asks): a sentence
  that asks nothing, shares no word with the best hits and names no law's subject is set aside and the
  rest searched again (knowledge/asides.py). The rule was chosen on these three sentences, so they are not
  a check of it; ``written apart`` is: 40 such sentences (benchmarks/data/chat_asides.jsonl, 24 before the
  question, 16 after) written by a writer who saw neither this benchmark, the rule nor any question,
  one per question in turn.

- How the question reached the asker, and what answer they want (who asked, through which channel, the
  question given as the resident's words, 「どう答えればいいですか」): ``frames before`` / ``after`` /
  ``reported`` take, one per question in turn, the 270 frames of benchmarks/data/chat_frames.jsonl,
  written by three writers who saw no code, no rule and no question (90 each: 30 before the question, 30
  after it, 30 giving it as someone else's words). Nothing takes them off: it measures what they cost.
- Placeholders where the redaction took out personal data (［住所］, ［氏名］, ［個人番号］): blanks in square
  brackets are not part of the question (knowledge/search.question_text); what these wrappings still cost
  is their own words (お住まい, 申請書).

``--keep-asides`` measures the same with no sentence set aside (the ablation).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.sufficiency import FIT_SETS, SETS, load  # noqa: E402
from kairan.wiring import open_searcher  # noqa: E402
from knowledge.evaluation import EvalItem, evaluate, summarize  # noqa: E402

WRAPPINGS = {
    "as written": ("", ""),
    "greeting": ("お疲れ様です。", "よろしくお願いします。"),
    "self-introduction": (
        "お疲れさまです、市民課の佐藤です。ちょっと教えてください。",
        "お忙しいところすみません。",
    ),
    "apology": ("すみません、質問です。", "ご教示いただけると助かります。"),
    # chat that says nothing of the question but is not a courtesy: not taken off, measured for what it costs
    "chit-chat": ("今日は窓口がすごく混んでいて、隣の係も手一杯でした。", ""),
    "newcomer": ("今年度異動してきたばかりで分からないことだらけなのですが、", ""),
    "motive": ("", "上司に聞かれて答えられなかったので確認したいです。"),
    # the redaction's placeholders where personal data was (bot/redaction): taken out as blanks
    "placeholders": ("［住所］にお住まいの［氏名］さん（［生年月日］生まれ）の件です。", ""),
    "my-number placeholder": ("申請書に［個人番号］と書いてある方の件で、", ""),
}


WRITTEN_APART = "written apart"
CHAT_ASIDES = ROOT / "benchmarks" / "data" / "chat_asides.jsonl"
CHAT_FRAMES = ROOT / "benchmarks" / "data" / "chat_frames.jsonl"
FRAME_POSITIONS = ("before", "after", "reported")
PLACE = "{Q}"  # where a frame puts the question

Wrap = Callable[[int, str], str]  # (the question's place in its set, the question) → what is asked


def on_lines(before: str, after: str) -> Wrap:
    """The question on its own line between ``before`` and ``after``, as staff write it in chat."""
    return lambda _, question: "\n".join(part for part in (before, question, after) if part)


def chat_asides() -> list[tuple[str, str]]:
    """(before, after) of each sentence in benchmarks/data/chat_asides.jsonl."""
    found = []
    for line in CHAT_ASIDES.read_text(encoding="utf-8").splitlines():
        aside = json.loads(line)
        found.append((aside["text"], "") if aside["position"] == "before" else ("", aside["text"]))
    return found


def chat_frames(path: Path = CHAT_FRAMES) -> dict[str, list[str]]:
    """The frames of ``path`` by position (``FRAME_POSITIONS``); each holds the question's place once."""
    found: dict[str, list[str]] = {position: [] for position in FRAME_POSITIONS}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            frame = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not a JSON object ({exc.msg})") from exc
        if (
            not isinstance(frame, dict)
            or frame.get("position") not in found
            or not isinstance(frame.get("text"), str)
            or frame["text"].count(PLACE) != 1
        ):
            positions = ", ".join(FRAME_POSITIONS)
            raise ValueError(f"{path}:{number}: a frame needs a position ({positions}) and {PLACE} once")
        found[frame["position"]].append(frame["text"])
    return found


def wrappings(asides: list[tuple[str, str]], frames: dict[str, list[str]]) -> dict[str, Wrap]:
    """Every wrapping by label: the fixed ones, then those that take a sentence or frame in turn."""
    found = {label: on_lines(before, after) for label, (before, after) in WRAPPINGS.items()}
    found[WRITTEN_APART] = lambda n, question: on_lines(*asides[n % len(asides)])(n, question)
    for position, texts in frames.items():
        found[f"frames {position}"] = _framed(texts)
    return found


def _framed(texts: list[str]) -> Wrap:
    return lambda n, question: texts[n % len(texts)].replace(PLACE, question)


def asked(items: list[EvalItem], wrap: Wrap) -> list[EvalItem]:
    """``items`` as ``wrap`` asks them; citations as written."""
    return [
        item if item.kind == "citation" else replace(item, question=wrap(n, item.question))
        for n, item in enumerate(items)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--sets", nargs="*", default=[name for name in FIT_SETS if name != "probe"])
    parser.add_argument("--keep-asides", action="store_true", help="set no sentence aside (the ablation)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    unknown = [name for name in args.sets if name not in SETS or name == "probe"]
    if unknown:
        parser.error(f"unknown question set(s): {', '.join(unknown)}; choose from {', '.join(SETS)}")
    searcher = open_searcher(args.data_dir)
    if args.keep_asides:
        searcher.settings = replace(searcher.settings, set_asides_aside=False)
    wraps = wrappings(chat_asides(), chat_frames())
    rows: list[dict[str, Any]] = []
    console = Console(stderr=True)
    with Progress(console=console) as progress:
        task = progress.add_task("wrappings", total=len(args.sets) * len(wraps))
        for name in args.sets:
            items = load(name)
            for label, wrap in wraps.items():
                questions = asked(items, wrap)
                summary = summarize(evaluate(questions, lambda q: searcher.search(q, k=10)))
                semantic, abstention = summary["by_kind"].get("semantic", {}), summary["abstention"]
                rows.append(
                    {
                        "set": name,
                        "wrapping": label,
                        "R@1": semantic.get("R@1"),
                        "R@5": semantic.get("R@5"),
                        "unanswerable_insufficient": abstention["accuracy"],
                        "answerable_sufficient": abstention["answerable_sufficient_rate"],
                    }
                )
                progress.advance(task)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("set", "wrapping", "R@1", "R@5", "unanswerable insufficient", "answerable sufficient")
    for row in rows:
        cells = [row["R@1"], row["R@5"], row["unanswerable_insufficient"], row["answerable_sufficient"]]
        table.add_row(row["set"], row["wrapping"], *("—" if c is None else f"{c:.2f}" for c in cells))
    Console().print(table)


if __name__ == "__main__":
    main()
