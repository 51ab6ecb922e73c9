"""Audit the topic catalogue against a knowledge base: topics only laws not held are given, that a held law
uses itself.

    python benchmarks/catalogue_audit.py --data-dir DIR [--min-length 3] [--text-only] [--json]

The catalogue (knowledge/data/law_topics.yaml) says which law governs what staff ask about. A question that
names a topic only laws the knowledge base does not hold are given counts against sufficiency, so a gap
there costs answers: 最低制限価格 was given to 品確法 alone, and a question on it was judged insufficient
beside 地方自治法施行令167条の10, which sets it. Each row printed is a topic given only to laws not held,
with the held laws whose article text uses it — by default only articles whose staff phrasings or
everyday words use it too (what the article is about, not a passing mention); ``--text-only`` lists
the passing mentions as well.

A row is a question for a reviewer, not a verdict: either the held law governs the topic too (add it to
that law's entry: 施行令 ← 最低制限価格), or the word is an everyday word of the statutes given to a law as
if it were its subject (負担金, 対策本部: make it specific, 国庫帰属の負担金), or it is a passing mention
(公民館 in 公職選挙法's polling places: leave it). DIR must hold the ingested corpus (see
benchmarks/sufficiency.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from knowledge.law_topics import TopicCatalogue, is_held  # noqa: E402
from knowledge.store import ARTICLE_WORDS, PHRASINGS, KnowledgeStore  # noqa: E402
from knowledge.tokenize import normalize  # noqa: E402

console = Console(stderr=True)


@dataclass(frozen=True)
class Finding:
    topic: str
    absent_law: str  # the law not held the catalogue gives the topic to
    held_uses: dict[str, int]  # held law → articles using the topic (in text, and lines unless --text-only)


def audit(
    catalogue: TopicCatalogue,
    articles: dict[str, list[tuple[str, str]]],
    *,
    min_length: int = 3,
) -> list[Finding]:
    """``articles``: per held law's title, (normalised article text, normalised lines and words) pairs;
    an empty second part counts the text alone."""
    titles = list(articles)
    held_topics = {
        normalize(t) for e in catalogue.entries if is_held(e.law, titles) for t in e.topics
    }
    findings = []
    for entry in catalogue.entries:
        if is_held(entry.law, titles):
            continue
        for topic in entry.topics:
            word = normalize(topic)
            if len(word) < min_length or word in held_topics:
                continue
            uses = Counter(
                law
                for law, rows in articles.items()
                for text, lines in rows
                if word in text and (not lines or word in lines)
            )
            if uses:
                findings.append(Finding(topic, entry.law, dict(uses.most_common())))
    return findings


def held_articles(store: KnowledgeStore, *, text_only: bool) -> dict[str, list[tuple[str, str]]]:
    """Per law title: each article's normalised text with its phrasing lines and everyday words."""
    lines: dict[tuple[str, str], list[str]] = defaultdict(list)
    if not text_only:
        for table in (PHRASINGS, ARTICLE_WORDS):
            for doc_id, article, text in store.line_texts(table):
                lines[(doc_id, article)].append(text)
    data = store.chunks.to_arrow().select(["doc_id", "article", "title", "text"]).to_pylist()
    by_law: dict[str, list[tuple[str, str]]] = defaultdict(list)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("条文を読む articles", total=len(data))
        for row in data:
            said = lines.get((row["doc_id"], row["article"]))
            if text_only or said:
                by_law[row["title"]].append((normalize(row["text"]), normalize(" ".join(said or ()))))
            progress.advance(task)
    return dict(by_law)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--min-length", type=int, default=3, help="shortest topic read (characters)")
    parser.add_argument("--text-only", action="store_true", help="count every article whose text uses it")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    store = KnowledgeStore(args.data_dir)
    if store.chunks is None:
        parser.error(f"{args.data_dir}: no knowledge base here (run kairan ingest first)")
    findings = audit(
        TopicCatalogue.load(), held_articles(store, text_only=args.text_only), min_length=args.min_length
    )
    if args.json:
        print(json.dumps([f.__dict__ for f in findings], ensure_ascii=False, indent=1))
        return
    table = Table(title=f"{len(findings)} topics given only to laws not held, used by a held law")
    for column in ("topic", "given to (not held)", "held laws using it (articles)"):
        table.add_column(column)
    for f in findings:
        table.add_row(f.topic, f.absent_law, "、".join(f"{law} {n}" for law, n in f.held_uses.items()))
    Console().print(table)


if __name__ == "__main__":
    main()
