"""Answers written without an LLM: the extractive answer, the abstention and the 照会 draft.

All functions are pure. The extractive answer quotes the deciding sentences
verbatim, so every citation it returns is verified by construction (and
``bot.verify.verify`` agrees; the tests check it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.models import Citation, Source
from bot.prompt import ABSTENTION_PHRASE, CLIP, OMITTED, OMITTED_TAIL, paragraph_lines, term_score, term_stems
from knowledge.law_topics import LOCAL_RULES
from knowledge.pleasantries import strip_courtesy
from knowledge.sentences import split_closed

EXTRACTIVE_LEAD = "AIによる要約ではなく、検索結果です。該当する規定は次のとおりです。"
ABSTENTION_LEAD = f"{ABSTENTION_PHRASE}。"
FALLBACK_NOTICE = "生成AIが応答しなかったため、検索結果をそのままお示しします。"
# Beside an answer the LLM found in sources the search alone judged too weak to answer from.
READ_BY_LLM_NOTICE = (
    "検索だけでは根拠が十分と判断できなかったため、生成AIが資料を読んで回答しました。引用元の条文を特にご確認ください。"
)

MAX_EXTRACTIVE_SOURCES = 3
# Besides the best source, the extractive answer shows only sources the search's second stage finds at
# least this share as probable as the best (benchmarks/answer_sources.py) …
CLOSE_LIKELIHOOD = 0.1
# … or, where it did not weigh them both, sources scoring at least this share of the best's score.
CLOSE_TO_BEST = 0.75
MAX_QUOTE_CHARS = 200
_SECOND_QUOTE_TOTAL = 320  # a second sentence is added only while both stay this short

_LINE_NUMBER = re.compile(
    r"^[ \t\u3000]*(?:[0-9０-９]+|[一二三四五六七八九十]+|[イロハニホヘトチリヌルヲワカヨタレソツネナラム]"
    r"|[（(][0-9０-９一二三四五六七八九十]+[）)])[ \t\u3000]+"
)
_QUESTION_TAIL = re.compile(r"[\s\u3000]*[?？]+$")


# --------------------------------------------------------------------------- statute sentences


def statute_sentences(text: str) -> list[str]:
    """Sentences of a statute text, each an exact substring of ``text``.

    Lines are paragraphs or items; their leading number (２　, 一　, イ　) is
    dropped. A sentence ends at 。 outside brackets, so （以下「庁舎等」という。）
    stays inside its sentence. Omission markers left by trimming are skipped.
    """
    out: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped or stripped in (OMITTED, OMITTED_TAIL):
            continue
        match = _LINE_NUMBER.match(line)
        done, rest = split_closed(line[match.end() :] if match else line)
        out += [*done, rest] if rest else done
    return [s for s in out if CLIP not in s]


def _clip_sentence(sentence: str, stems: Sequence[str], limit: int = MAX_QUOTE_CHARS) -> str:
    """At most ``limit`` chars of ``sentence``, cut after a 、 where possible, … marking cuts."""
    if len(sentence) <= limit:
        return sentence
    room = limit - 2 * len(CLIP)
    starts = [0] + [i + 1 for i, ch in enumerate(sentence) if ch == "、" and i + 1 < len(sentence)]
    best = max(starts, key=lambda s: (term_score(sentence[s : s + room], stems), -s))
    end = min(len(sentence), best + room)
    if end < len(sentence):
        comma = sentence.rfind("、", best, end)
        if comma > best + room // 2:
            end = comma + 1
    return (CLIP if best > 0 else "") + sentence[best:end] + (CLIP if end < len(sentence) else "")


def deciding_sentences(source: Source, stems: Sequence[str]) -> list[str]:
    """The sentence(s) of ``source`` sharing the most query terms, in text order (at most two); from
    the paragraph a question cited (自治法242条の2第1項), when its text holds that paragraph."""
    cited = paragraph_lines(source.text, source.paragraph) if source.paragraph else []
    sentences = statute_sentences("\n".join(cited)) or statute_sentences(source.text)
    if not sentences:
        return []
    scored = sorted(range(len(sentences)), key=lambda i: (-term_score(sentences[i], stems), i))
    best = scored[0]
    picked = [best]
    best_score = term_score(sentences[best], stems)
    if len(scored) > 1 and best_score > 0:
        second = scored[1]
        score = term_score(sentences[second], stems)
        if score > 0 and score * 2 >= best_score:
            total = len(sentences[best]) + len(sentences[second])
            if total <= _SECOND_QUOTE_TOTAL:
                picked.append(second)
    return [_clip_sentence(sentences[i], stems) for i in sorted(picked)]


# --------------------------------------------------------------------------- answers


def _heading(source: Source) -> str:
    caption = source.caption.strip()
    if caption and not caption.startswith(("（", "(")):
        caption = f"（{caption}）"
    return f"{source.citation_label}{caption}"


def extractive_answer(
    question: str, sources: Sequence[Source], *, query_terms: Sequence[str]
) -> tuple[str, tuple[Citation, ...]]:
    """A search-result answer: the top sources with their deciding sentences quoted verbatim.

    ``question`` is not interpreted (the ranking already did that); ``query_terms``
    pick the sentences. Returns the text and one verified citation per source shown.
    """
    stems = term_stems(query_terms)
    blocks: list[str] = []
    citations: list[Citation] = []
    for source in relevant_sources(sources):
        quotes = deciding_sentences(source, stems)
        lines = [f"■ {_heading(source)}[{source.n}]"]
        lines += [f"「{q}」" for q in quotes]
        blocks.append("\n".join(lines))
        citations.append(
            Citation(
                n=source.n,
                doc_id=source.doc_id,
                article=source.article,
                title=source.citation_label,
                url=source.url,
                quote=quotes[0] if quotes else "",
                verified=True,
            )
        )
    if not blocks:
        return abstention_text(question, ()), ()
    return EXTRACTIVE_LEAD + "\n\n" + "\n\n".join(blocks), tuple(citations)


def relevant_sources(
    sources: Sequence[Source], *, likelihood: float | None = CLOSE_LIKELIHOOD, score: float = CLOSE_TO_BEST
) -> list[Source]:
    """The best source and those close to it (at most ``MAX_EXTRACTIVE_SOURCES``): at least ``likelihood``
    times as probable by the search's second stage, or, where it did not weigh both (or ``likelihood`` is
    None), scoring at least ``score`` times as high.

    Sources come best first, so the result is a prefix and keeps the sources' numbers 1, 2, ….
    Unscored sources (score 0) are all kept, as before scores were known.
    """
    head = list(sources)[:MAX_EXTRACTIVE_SOURCES]
    if not head or head[0].score <= 0:
        return head
    best = head[0]
    shown = []
    for source in head:
        if likelihood is not None and best.likelihood and source.likelihood is not None:
            close = source.likelihood >= likelihood * best.likelihood
        else:
            close = source.score >= score * best.score
        if not close:
            break
        shown.append(source)
    return shown


def _question_core(question: str) -> str:
    """The question as quoted back: one line, without its courtesies or its final question mark."""
    return _QUESTION_TAIL.sub("", " ".join(strip_courtesy(question).split()))


def _provision_lines(sources: Sequence[Source], *, with_url: bool) -> list[str]:
    lines = []
    for i, source in enumerate(sources, start=1):
        lines.append(f"（{i}）{_heading(source)}")
        if with_url and source.url:
            lines.append(f"　　{source.url}")
    return lines


def abstention_text(
    question: str,
    sources_considered: Sequence[Source],
    absent_laws: Sequence[str] = (),
    possible_laws: Sequence[str] = (),
) -> str:
    """The reply when the sources do not support an answer, saying briefly what was searched, or
    which law the question is about that is not registered (``absent_laws``: then the articles looked
    at are beside the point), or may be about (``possible_laws``: named beside the articles looked at)."""
    core = _question_core(question)
    parts = [ABSTENTION_LEAD]
    if absent_laws:
        parts.append(f"ご質問「{core}」は{_unregistered(absent_laws, sure=True)}")
    else:
        if possible_laws:
            parts.append(f"ご質問「{core}」は{_unregistered(possible_laws, sure=False)}")
        if sources_considered:
            searched = f"ご質問「{core}」について登録済みの法令・通知を検索し、"
            if possible_laws:
                searched = "登録済みの法令・通知では"
            parts.append(f"{searched}次の規定を確認しましたが、回答の根拠となる記載は見当たりませんでした。")
            parts.append("\n".join(f"・{_heading(s)}" for s in sources_considered))
        elif not possible_laws:
            parts.append(f"ご質問「{core}」に関係する規定は、登録済みの法令・通知の中に見つかりませんでした。")
    parts.append(_where_to_ask([*absent_laws, *possible_laws]))
    return "\n".join(parts)


def _unregistered(laws: Sequence[str], *, sure: bool) -> str:
    """「地方税法に関するものと思われますが、地方税法は…含まれていないため…」: what the question is about
    and that it is not registered; a municipality's own rules (LOCAL_RULES) are named as such."""
    national = [law for law in laws if law != LOCAL_RULES]
    about = [f"{'、'.join(national)}に関するもの"] if national else []
    missing = ["、".join(national)] if national else []
    if LOCAL_RULES in laws:
        about.append("各団体の条例・規則・要綱で定める事項")
        missing.append("自団体の例規")
    subject, absent = "、または".join(about), "と".join(missing)
    if sure:
        return (
            f"{subject}と思われますが、{absent}は登録済みの法令・通知に含まれていないため、"
            "根拠を示してお答えすることができません。"
        )
    return f"{subject}かもしれませんが、{absent}は登録済みの法令・通知に含まれていません。"


def _where_to_ask(laws: Sequence[str]) -> str:
    """Where staff can find the answer instead: their own 例規集 for a municipality's own rules."""
    if laws and all(law == LOCAL_RULES for law in laws):
        return "例規集をご確認いただくか、例規を登録してからお尋ねください。"
    if LOCAL_RULES in laws:
        return "例規集をご確認いただくか、所管の都道府県または省庁への照会をご検討ください。"
    return "所管の都道府県または省庁への照会をご検討ください。"


def missing_article_text(labels: Sequence[str]) -> str:
    """The reply when a question cites only articles (or a circular's items) the knowledge base does not
    have (a wrong number, or a branch article that does not exist): say which, instead of answering from
    other articles."""
    return (
        f"{ABSTENTION_LEAD}\nご質問の{'、'.join(labels)}は、登録済みの法令・通知に見当たりませんでした。"
        "条番号・項目番号（「の二」などの枝番号を含む）をご確認ください。"
    )


def _subject(core: str) -> str:
    subject = core.rstrip("。、 ")
    return subject if len(subject) <= 40 else subject[:40] + "…"


def inquiry_draft(
    question: str,
    sources_considered: Sequence[Source],
    *,
    tenant_name: str | None = None,
    absent_laws: Sequence[str] = (),
    possible_laws: Sequence[str] = (),
) -> str:
    """A draft 照会 to the prefecture or ministry, with placeholders for what the bot cannot know. A
    question about a law that is not registered (``absent_laws``) names that law as the provision
    concerned, not the registered articles that happened to match its words; one it may be about
    (``possible_laws``) is named for reference after them."""
    core = _question_core(question)
    body = core if core.endswith("。") else core + "。"
    sender = tenant_name or "［団体名］"
    lines = [
        f"件名：「{_subject(core)}」について（照会）",
        "",
        "［照会先］　［都道府県名・省庁名］［担当課］　御中",
        f"［照会元］　{sender}　［所属］　［担当者］",
        "　　　　　　電話：［電話番号］　メール：［メールアドレス］",
        "［日付］　　令和［　］年［　］月［　］日",
        "",
        "１　照会の趣旨",
        f"　{sender}において事務を進めるに当たり、下記の事項について関係規定の解釈に疑義が生じましたので、"
        "ご教示くださいますようお願いいたします。",
        "",
        "２　関係規定",
    ]
    if absent_laws:
        numbered = enumerate(absent_laws, start=1)
        lines += [f"　（{n}）{law}（未登録のため条文は確認していません）" for n, law in numbered]
    elif sources_considered:
        lines += ["　" + line for line in _provision_lines(sources_considered, with_url=True)]
    elif not possible_laws:
        lines.append("　該当する規定は確認できませんでした。［確認した法令・通知があれば記載してください］")
    if not absent_laws:
        lines += [f"　（参考）{law}（未登録のため条文は確認していません）" for law in possible_laws]
    lines += [
        "",
        "３　照会事項",
        "　次の点について、関係規定をどのように解すべきか、ご教示願います。",
        f"　（１）{body}",
        "　［具体的な事実関係（対象者、期間、経緯など）を記載してください］",
        "",
        "４　規定上明らかでない点",
    ]
    if absent_laws:
        lines.append(f"　{'、'.join(absent_laws)}の規定を確認することができませんでした。")
    elif sources_considered:
        lines.append(
            "　上記の規定には、本件のような場合にどのように取り扱うべきかについての明示的な定めが"
            "見当たらず、その適用の可否を判断することができませんでした。"
        )
    else:
        lines.append("　本件について直接定めた規定を確認することができませんでした。")
    if possible_laws and not absent_laws:
        lines.append(f"　{'、'.join(possible_laws)}の規定は、未登録のため確認していません。")
    lines += [
        "　［当団体としての考え方（案）があれば記載してください］",
        "",
        "５　回答希望日",
        "　令和［　］年［　］月［　］日までにご回答いただけますと幸いです。",
    ]
    return "\n".join(lines)


def fallback_notice(answer_text: str | None = None) -> str:
    """The notice shown when the LLM failed, optionally followed by the extractive answer."""
    return f"{FALLBACK_NOTICE}\n\n{answer_text}" if answer_text else FALLBACK_NOTICE
