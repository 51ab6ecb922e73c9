"""Redaction benchmark: recall on labelled personal data, false positives on statute text.

    python benchmarks/redaction.py [--corpus ../shared/corpus] [--eval ../shared/eval] [--examples 10]
                                   [--json]

- Recall: ``benchmarks/redaction_cases.py`` generates labelled staff questions holding personal data
  in the forms issue 16 found slipping through (and their neighbours). A value counts as found when
  a finding of its kind covers all of it, and as leaked when any of its characters stays unmasked.
- False positives: every finding in statute text (the laws of the shared corpus: e-Gov XML, e-Gov
  HTML and the Markdown laws, every article, caption and 附則) and in the staff questions of the
  dev sets (which hold no personal data) is a false positive: masking it would change the law the
  bot quotes or the question it answers. Circulars are reported apart: they print real office phone
  numbers and addresses, which are found correctly but are not residents' data.
- Precision = true findings / all findings (labelled cases, statutes and dev questions together).
- Written apart: 100 staff messages about residents (names with their readings, addresses with
  buildings, birth dates, phones, accounts), written and labelled by writers who saw neither the
  detectors nor the cases above (``benchmarks/data/redaction_written_apart.jsonl``): recall and leaks,
  reported apart.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.redaction_cases import Case, labelled_cases, written_apart_cases  # noqa: E402
from bot.redaction import PLACEHOLDERS, Finding, find_personal_data  # noqa: E402
from knowledge.parsers import parse_file  # noqa: E402

LAW_DIRS = ("xml", "egov_html", "markdown_japan-law")
CIRCULAR_DIRS = ("circulars",)
KINDS = tuple(PLACEHOLDERS)


@dataclass
class Tally:
    expected: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    leaked: list[tuple[str, str]] = field(default_factory=list)  # (kind, value)
    true_findings: Counter[str] = field(default_factory=Counter)
    false_findings: Counter[str] = field(default_factory=Counter)  # in the labelled cases
    statute_findings: Counter[str] = field(default_factory=Counter)
    question_findings: Counter[str] = field(default_factory=Counter)
    circular_findings: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    statute_chars: int = 0
    statute_sections: int = 0
    circular_chars: int = 0
    questions: int = 0
    seconds: float = 0.0


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def score_case(case: Case, tally: Tally) -> None:
    text = nfkc(case.text)
    findings = find_personal_data(text)
    spans = []
    for kind, value in case.spans:
        start = text.find(nfkc(value))
        if start < 0:
            raise ValueError(f"labelled value {value!r} not in {case.text!r}")
        spans.append((kind, value, start, start + len(nfkc(value))))
    for kind, value, start, end in spans:
        tally.expected[kind] += 1
        if any(f.kind == kind and f.start <= start and f.end >= end for f in findings):
            tally.found[kind] += 1
        covered: set[int] = set()
        for f in findings:
            covered.update(range(max(f.start, start), min(f.end, end)))
        if any(i not in covered and not text[i].isspace() for i in range(start, end)):
            tally.leaked.append((kind, value))
    for f in findings:
        if any(f.start < end and f.end > start for _, _, start, end in spans):
            tally.true_findings[f.kind] += 1
        else:
            tally.false_findings[f.kind] += 1
            tally.examples.append(f"case {f.kind}: {context(text, f)}")


def context(text: str, finding: Finding, width: int = 25) -> str:
    before = text[max(0, finding.start - width) : finding.start].replace("\n", " ")
    after = text[finding.end : finding.end + width].replace("\n", " ")
    return f"…{before}【{text[finding.start:finding.end]}】{after}…"


def section_texts(paths: Iterable[Path]) -> Iterator[tuple[str, str]]:
    """(where, text) for every section of every parseable file."""
    for path in sorted(paths):
        try:
            doc = parse_file(path)
        except Exception as exc:  # a file the parsers refuse is reported, not counted
            print(f"skipped {path.name}: {exc}", file=sys.stderr)
            continue
        for section in doc.sections:
            yield f"{doc.title} {section.label}", "\n".join(
                t for t in (section.label, section.caption, section.text) if t
            )


def files_in(corpus: Path, dirs: Iterable[str]) -> list[Path]:
    return [p for d in dirs for p in (corpus / d).rglob("*") if p.is_file() and not p.name.startswith(".")]


def scan(texts: Iterable[tuple[str, str]], into: Counter[str], examples: list[str] | None, label: str) -> int:
    chars = 0
    for where, raw in texts:
        text = nfkc(raw)
        chars += len(text)
        for f in find_personal_data(text):
            into[f.kind] += 1
            if examples is not None:
                examples.append(f"{label} {f.kind} ({where}): {context(text, f)}")
    return chars


def dev_questions(eval_dir: Path) -> list[str]:
    questions = []
    for path in sorted(eval_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                questions.append(json.loads(line)["question"])
    return questions


def run(corpus: Path, eval_dir: Path) -> Tally:
    tally = Tally()
    started = time.perf_counter()
    for case in labelled_cases():
        score_case(case, tally)
    sections = list(section_texts(files_in(corpus, LAW_DIRS)))
    tally.statute_sections = len(sections)
    tally.statute_chars = scan(sections, tally.statute_findings, tally.examples, "statute")
    questions = dev_questions(eval_dir)
    tally.questions = len(questions)
    scan((("dev", q) for q in questions), tally.question_findings, tally.examples, "question")
    circulars = section_texts(files_in(corpus, CIRCULAR_DIRS))
    tally.circular_chars = scan(circulars, tally.circular_findings, None, "circular")
    tally.seconds = time.perf_counter() - started
    return tally


def run_written_apart() -> Tally:
    tally = Tally()
    for case in written_apart_cases():
        score_case(case, tally)
    return tally


def apart_summary(t: Tally) -> dict[str, Any]:
    """``summary``'s recall and leaks, and the values leaked (there is no statute text to count)."""
    s = summary(t)
    kinds = s["kinds"]
    assert isinstance(kinds, dict)
    return {
        "values": s["cases_values"],
        "recall": s["recall"],
        "leaked": [[kind, value] for kind, value in t.leaked],
        "leaked_by_kind": {kind: k["leaked"] for kind, k in kinds.items()},
    }


def summary(t: Tally) -> dict[str, object]:
    true = sum(t.true_findings.values())
    false = sum((t.false_findings + t.statute_findings + t.question_findings).values())
    per_kind = {}
    for kind in KINDS:
        kind_false = t.false_findings[kind] + t.statute_findings[kind] + t.question_findings[kind]
        kind_true = t.true_findings[kind]
        per_kind[kind] = {
            "expected": t.expected[kind],
            "found": t.found[kind],
            "recall": round(t.found[kind] / t.expected[kind], 4) if t.expected[kind] else None,
            "leaked": sum(1 for k, _ in t.leaked if k == kind),
            "false_positives_statutes": t.statute_findings[kind],
            "false_positives_questions": t.question_findings[kind],
            "false_positives_cases": t.false_findings[kind],
            "precision": round(kind_true / (kind_true + kind_false), 4) if kind_true + kind_false else None,
            "circular_findings": t.circular_findings[kind],
        }
    expected = sum(t.expected.values())
    return {
        "cases_values": expected,
        "recall": round(sum(t.found.values()) / expected, 4) if expected else None,
        "leaked_values": len(t.leaked),
        "precision": round(true / (true + false), 4) if true + false else None,
        "statute_sections": t.statute_sections,
        "statute_chars": t.statute_chars,
        "statute_false_positives": sum(t.statute_findings.values()),
        "statute_false_positives_per_million_chars": round(
            sum(t.statute_findings.values()) / t.statute_chars * 1_000_000, 3) if t.statute_chars else None,
        "dev_questions": t.questions,
        "dev_question_false_positives": sum(t.question_findings.values()),
        "circular_chars": t.circular_chars,
        "circular_findings": sum(t.circular_findings.values()),
        "seconds": round(t.seconds, 1),
        "kinds": per_kind,
    }


def print_report(s: dict[str, object], t: Tally, examples: int) -> None:
    print(f"labelled values: {s['cases_values']}  recall {s['recall']}  leaked {s['leaked_values']}")
    print(f"precision (labelled + statutes + dev questions): {s['precision']}")
    print(f"statutes: {s['statute_sections']} sections, {s['statute_chars']:,} characters, "
          f"{s['statute_false_positives']} false positives "
          f"({s['statute_false_positives_per_million_chars']} per million characters)")
    print(f"dev questions: {s['dev_questions']}, {s['dev_question_false_positives']} false positives")
    print(f"circulars: {s['circular_chars']:,} characters, {s['circular_findings']} findings "
          "(office phone numbers and addresses; not counted)")
    print(f"{'kind':<17}{'expected':>9}{'found':>7}{'recall':>8}{'leaked':>7}{'FP law':>7}{'FP q':>6}"
          f"{'FP case':>8}{'precision':>10}")
    kinds = s["kinds"]
    assert isinstance(kinds, dict)
    for kind, k in kinds.items():
        recall = "-" if k["recall"] is None else k["recall"]
        precision = "-" if k["precision"] is None else k["precision"]
        print(f"{kind:<17}{k['expected']:>9}{k['found']:>7}{recall:>8}"
              f"{k['leaked']:>7}{k['false_positives_statutes']:>7}{k['false_positives_questions']:>6}"
              f"{k['false_positives_cases']:>8}{precision:>10}")
    for kind, value in t.leaked[:examples]:
        print(f"leaked {kind}: {value}")
    for line in t.examples[:examples]:
        print(line)
    print(f"({s['seconds']} s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--eval", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--examples", type=int, default=10, help="false positives and leaks to show")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    tally = run(args.corpus, args.eval)
    result = summary(tally)
    apart = apart_summary(run_written_apart())
    if args.json:
        print(json.dumps({**result, "written_apart": apart}, ensure_ascii=False, indent=2))
    else:
        print_report(result, tally, args.examples)
        print(f"written apart: {apart['values']} labelled values, recall {apart['recall']}, "
              f"leaked {len(apart['leaked'])}: {apart['leaked']}")


if __name__ == "__main__":
    main()
