"""The ``kairan`` command line: ingest, search, eval, ask, serve, manifest."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from adapters.registry import PLATFORMS
from bot import wording
from bot.models import Answer, ConversationRef, IncomingMessage
from kairan.answer_json import answer_json
from kairan.digest_cli import digest_group
from kairan.inquiry_cli import inquiry_group
from kairan.progress import LineProgress
from kairan.wiring import (
    KnowledgeConfig,
    Runtime,
    build_runtime,
    ingest_phrasing_author,
    open_searcher,
    open_state,
    open_vectors,
    phrasing_sources,
    resolve_config,
)
from knowledge.documents import DEFAULT_COLLECTION
from manifest.cli import manifest_option
from manifest.schema import Manifest
from manifest.scope import Scope, scope_for, tenant_scope

if TYPE_CHECKING:  # LanceDB loads only for commands that open the knowledge base
    from knowledge.ingest import Ingestor, IngestReport, SourceItem
    from knowledge.phrasing_index import PhrasingIndexReport
    from knowledge.search import Searcher
    from knowledge.store import KnowledgeStore
    from knowledge.vectors import VectorIndex

err = Console(stderr=True)
out = Console()

DATA_DIR_HELP = (
    "Knowledge base directory (default: the manifest's data_dir, else env KAIRAN_DATA_DIR, else ./data)."
)
KNOWLEDGE_URI_HELP = (
    "Knowledge base on object storage, e.g. s3://bucket/kairan (default: env KAIRAN_KNOWLEDGE_URI, "
    "else the manifest's knowledge.uri, unless --data-dir is given). "
    "Credentials and endpoint from AWS_* environment variables."
)
MANIFEST_HELP = "Admin manifest (env KAIRAN_MANIFEST); without one the embedded defaults apply."
_STAGES = {
    "parse": "解析 parse",
    "write": "書込 write",
    "index": "索引 index",
    "phrasings": "職員の言い方 phrasings",
    "article_words": "日常の言葉 everyday words",
    "generate": "言い方生成 generate",  # phrasings written by the LLM (knowledge/phrasing_generation.py)
    "article_model": "条の判別 article model",  # trained on the lines (knowledge/article_model.py)
    "absent_model": "未登録法令の判別 absent-law model",  # … and the catalogue (knowledge/absent_model.py)
}


def _remember_knowledge_uri(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        if not value.startswith("s3://"):
            raise click.BadParameter(
                "s3://bucket/prefix の形式で指定してください (must be s3://bucket/prefix)"
            )
        ctx.meta["kairan.knowledge_uri"] = value


def knowledge_options(command: Any) -> Any:
    """--manifest, --data-dir and --knowledge-uri, shared by every command that opens the knowledge base."""
    command = click.option(
        "--knowledge-uri",
        default=None,
        expose_value=False,
        callback=_remember_knowledge_uri,
        help=KNOWLEDGE_URI_HELP,
    )(command)
    command = click.option(
        "--data-dir",
        "data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=DATA_DIR_HELP,
    )(command)
    return manifest_option(command)


def _config(manifest_path: Path | None, data_dir: Path | None) -> KnowledgeConfig:
    from manifest.loader import ManifestError

    try:
        ctx = click.get_current_context(silent=True)
        knowledge_uri = ctx.meta.get("kairan.knowledge_uri") if ctx else None
        return resolve_config(manifest_path, data_dir, knowledge_uri)
    except ManifestError as exc:
        err.print(str(exc), markup=False, highlight=False)
        sys.exit(2)
    except OSError as exc:
        raise click.ClickException(f"{manifest_path}: {exc.strerror}") from exc


def _open_store(config: KnowledgeConfig) -> KnowledgeStore:
    from knowledge.store import KnowledgeStore, StoreError

    try:
        return KnowledgeStore(config.knowledge_location)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc


def _open_vectors(config: KnowledgeConfig, store: KnowledgeStore) -> VectorIndex | None:
    from knowledge.embeddings import EmbeddingError

    try:
        return open_vectors(store, config.manifest)
    except EmbeddingError as exc:
        raise click.ClickException(str(exc)) from exc


def _progress() -> Progress | LineProgress:
    """A live bar on a terminal; plain lines every few seconds when stderr is a log or a pipe."""
    if not err.is_terminal:
        return LineProgress(sys.stderr)
    return Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """kairan — 法令・通知に根拠を示して答える自治体職員向けチャットボット.

    A chat bot for Japanese municipal staff that answers from laws and circulars, citing the article.
    """


# -- ingest -----------------------------------------------------------------
@cli.command(context_settings={"ignore_unknown_options": False})
@click.argument("targets", nargs=-1, required=True)
@knowledge_options
@click.option(
    "--collection", default=DEFAULT_COLLECTION, show_default=True, help="Collection the documents belong to."
)
@click.option("--egov-base-url", default=None, help="e-Gov API v2 base URL (env KAIRAN_EGOV_BASE_URL).")
@click.option("--workers", type=int, default=None, help="Parser processes (default: up to 2).")
@click.option(
    "--reparse",
    is_flag=True,
    help="Read unchanged files again too (after an upgrade that reads documents differently, "
    "e.g. names circulars' pages by their circular).",
)
def ingest(
    targets: tuple[str, ...],
    manifest_path: Path | None,
    data_dir: Path | None,
    collection: str,
    egov_base_url: str | None,
    workers: int | None,
    reparse: bool,
) -> None:
    """Ingest files or directories, or laws from e-Gov.

    \b
    kairan ingest PATH|DIR...            e-Gov XML/JSON/HTML, notices (HTML/PDF), Markdown, text, Q&A CSV/JSON
    kairan ingest egov LAW_ID|TITLE...   fetch laws from the e-Gov API v2 (e.g. 322AC0000000067, 地方自治法)
    """
    config = _config(manifest_path, data_dir)
    from knowledge.ingest import Ingestor, discover

    store = _open_store(config)
    errors: list[tuple[str, str]] = []
    if targets[0] == "egov":
        if len(targets) == 1:
            raise click.UsageError(
                "kairan ingest egov: 法令ID か法令名を指定してください (law id or title required)"
            )
        base = (
            egov_base_url or os.environ.get("KAIRAN_EGOV_BASE_URL") or config.manifest.knowledge.egov.base_url
        )
        items, errors = asyncio.run(_fetch_egov(list(targets[1:]), base, collection))
    else:
        items, errors = discover([Path(t) for t in targets], collection=collection)
    from kairan.phrasings_cli import usage_db

    usage = usage_db(config) if ingest_phrasing_author(config) is not None else None
    ingestor = Ingestor(
        store=store,
        workers=workers,
        vectors=_open_vectors(config, store),
        phrasings=phrasing_sources(config),
        phrasing_author=ingest_phrasing_author(config, db=usage),
        law_collections=config.manifest.knowledge.law_collections(),
        limits=config.manifest.knowledge.limits.limits(),
    )
    registered = store.documents()
    try:
        report = _run_ingest(ingestor, items, reparse=reparse)
    except Exception as exc:
        if not _disk_full(exc):
            raise
        written = store.documents() != registered
        raise click.ClickException(_disk_full_message(str(config.data_dir), written)) from None
    finally:
        if usage is not None:
            usage.close()
    report.errors[:0] = errors
    _print_report(report, store)
    if report.errors and not report.documents_written and not report.unchanged:
        sys.exit(1)


def _disk_full_message(data_dir: str, documents_written: bool) -> str:
    """What a full disk left: the previous state, or the new documents without what is built from them."""
    if not documents_written:
        return (
            "ディスクの空き容量が不足しているため取り込みを中止しました。知識ベースは取り込み前の状態のままです"
            f" / no space left on device in {data_dir}: ingest stopped, the knowledge base keeps its "
            "previous state"
        )
    return (
        "ディスクの空き容量が不足しているため取り込みを中止しました。文書は書き込まれましたが、索引・職員の言い方・"
        "学習モデルの更新が終わっていません。空き容量を確保してから、もう一度取り込んでください（足りない分だけを補います）"
        f" / no space left on device in {data_dir}: the documents were written, but updating the indexes, "
        "phrasings and learned models did not finish; free some space and run the ingest again (it completes "
        "what is missing)"
    )


def _disk_full(exc: BaseException) -> bool:
    """ENOSPC anywhere in the chain, including LanceDB's ``lance error: … (os error 28)``."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        if "os error 28" in str(seen) or "No space left on device" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def _fetch_egov(
    names: list[str], base_url: str, collection: str
) -> tuple[list[SourceItem], list[tuple[str, str]]]:
    from knowledge.egov_client import EgovClient, EgovError
    from knowledge.identity import Provenance
    from knowledge.ingest import SourceItem

    items: list[SourceItem] = []
    errors: list[tuple[str, str]] = []
    async with EgovClient(base_url=base_url) as client:
        with _progress() as progress:
            task = progress.add_task("取得 fetch", total=len(names))
            for name in names:
                try:
                    summary = await client.resolve(name)
                    fetched = await client.fetch_law_data(summary.law_id)
                    items.append(
                        SourceItem(
                            source=f"e-Gov:{summary.law_id}",
                            collection=collection,
                            data=fetched.raw,
                            provenance=Provenance.EGOV,
                        )
                    )
                except EgovError as exc:
                    errors.append((f"e-Gov:{name}", str(exc)))
                progress.advance(task)
    return items, errors


def _run_ingest(ingestor: Ingestor, items: list[SourceItem], *, reparse: bool = False) -> IngestReport:
    with _progress() as progress:
        return ingestor.ingest(items, progress=_stage_progress(progress), reparse=reparse)


def _stage_progress(progress: Progress | LineProgress) -> Callable[[str, int, int], None]:
    """The ``progress(stage, done, total)`` callback of the knowledge side, one task per stage."""
    tasks: dict[str, Any] = {}

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(_STAGES.get(stage, stage), total=total)
        progress.update(tasks[stage], completed=done, total=total)

    return on_progress


def _print_report(report: IngestReport, store: KnowledgeStore) -> None:
    stats = store.stats()
    err.print(
        f"取り込み完了: 追加 {len(report.added)} 件, 更新 {len(report.updated)} 件, "
        f"変更なし {len(report.unchanged)} 件, "
        f"チャンク {report.chunks_written:,} 件書込, エラー {len(report.errors)} 件 "
        f"(knowledge base: {stats['documents']} documents, {stats['chunks']:,} chunks)"
    )
    if report.generated is not None:
        from kairan.phrasings_cli import print_generation

        print_generation(report.generated)
    if report.phrasings is not None:
        print_phrasing_index(report.phrasings)
    for note in report.superseded:
        err.print(f"  [yellow]旧版のため省略 superseded:[/] {note}")
    for source, message in report.errors:
        err.print(f"  [red]エラー error:[/] {message if source in message else f'{source}: {message}'}")


def print_phrasing_index(p: PhrasingIndexReport) -> None:
    if p.kept_stored:
        err.print(
            f"職員の言い方: 読めないファイルがあるため、索引と判別モデルは前回のままです ({p.lines:,} 行)。"
            "直して取り込み直してください "
            f"/ staff phrasings: a file cannot be read, so the index and models stay as they were "
            f"({p.lines:,} lines); fix it and ingest again"
        )
        return
    err.print(
        f"職員の言い方: {p.lines:,} 行を索引 (追加 {p.added:,}, 削除 {p.removed:,}) "
        f"/ staff phrasings: {p.lines:,} lines indexed ({p.added:,} added, {p.removed:,} removed)"
    )
    if p.words:
        err.print(f"日常の言葉: {p.words:,} 条 / everyday words: {p.words:,} articles")
    if p.article_model == "trained":
        articles = p.article_model_articles
        err.print(
            f"条の判別: {articles:,} 条の言い方で学習 "
            f"/ article model: trained on the lines of {articles:,} articles"
        )
    if p.absent_model == "trained":
        held, absent = p.absent_model_laws
        err.print(
            f"未登録法令の判別: 登録済みの {held:,} 法令と未登録の {absent:,} 法令で学習 "
            f"/ absent-law model: trained on {held:,} held laws and {absent:,} laws not held"
        )
    for note in p.unknown[:20]:
        err.print(f"  [yellow]該当する条がありません no such article:[/] {note}")
    if len(p.unknown) > 20:
        err.print(f"  [yellow]… ほか {len(p.unknown) - 20} 件 / {len(p.unknown) - 20} more[/]")


# -- search -----------------------------------------------------------------
@cli.command()
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 100), default=5, show_default=True, help="Number of hits.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--collection", "collections", multiple=True, help="Only these collections (repeatable).")
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    help="Only these kinds: law, cabinet_order, circular, qa … (repeatable).",
)
@knowledge_options
def search(
    query: str,
    k: int,
    as_json: bool,
    collections: tuple[str, ...],
    kinds: tuple[str, ...],
    manifest_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Search the knowledge base (質問を検索)."""
    searcher = _open_searcher(_config(manifest_path, data_dir))
    result = searcher.search(query, k=k, collections=collections or None, kinds=kinds or None)
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
        return
    verdict = "[green]根拠あり sufficient[/]" if result.sufficient else "[yellow]根拠不十分 insufficient[/]"
    out.print(f"{verdict}  ({result.reason})")
    for aside in result.asides:
        out.print(f"[dim]質問と関係のない文として除外 set aside: {escape(aside)}[/]")
    for hit in result.hits:
        out.print(
            f"[bold]{hit.rank}. {hit.title} {hit.label}[/] {hit.caption}  "
            f"[dim]{hit.score:.2f} {hit.matched_by}[/]"
        )
        out.print(f"   {hit.url}")
        out.print(f"   {hit.text[:160].replace(chr(10), ' ')}")


def _open_searcher(config: KnowledgeConfig) -> Searcher:
    from knowledge.store import StoreError

    if _open_store(config).is_empty():
        err.print(f"[red]知識ベースが空です[/] ({escape(str(config.knowledge_location))}):")
        err.print("まず `kairan ingest` で法令を取り込んでください. / Ingest laws first.")
        sys.exit(2)
    from knowledge.documents import ParseError
    from knowledge.embeddings import EmbeddingError

    try:
        return open_searcher(config.knowledge_location, manifest=config.manifest)
    except (EmbeddingError, ParseError, StoreError) as exc:
        raise click.ClickException(str(exc)) from exc


# -- eval -------------------------------------------------------------------
@cli.group(name="eval")
def eval_group() -> None:
    """Measure quality (評価)."""


@eval_group.command(name="retrieval")
@click.argument("dataset", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-k", "k", type=click.IntRange(1, 100), default=10, show_default=True, help="Hits retrieved per question."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (always with the figures per law).")
@click.option(
    "--by-law",
    is_flag=True,
    help="Also print the semantic questions' figures per law (that of their first gold article).",
)
@knowledge_options
def eval_retrieval(
    dataset: Path, k: int, as_json: bool, by_law: bool, manifest_path: Path | None, data_dir: Path | None
) -> None:
    """R@1/R@5/R@10/MRR by kind, abstention accuracy, and the misses; with --by-law, per law too."""
    from knowledge.evaluation import DatasetError, evaluate, load_dataset, summarize

    try:
        items = load_dataset(dataset)
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    searcher = _open_searcher(_config(manifest_path, data_dir))
    with _progress() as progress:
        task = progress.add_task("評価 eval", total=len(items))
        outcomes = evaluate(
            items, lambda q: searcher.search(q, k=k), progress=lambda n: progress.update(task, completed=n)
        )
    summary = summarize(outcomes)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    _print_summary(summary, by_law=by_law)


def _print_summary(summary: dict[str, Any], *, by_law: bool) -> None:
    out.print(_metrics_table("retrieval", "kind", list(summary["by_kind"].items())))
    if by_law:
        laws = [(law["law"], law) for law in summary["by_law"]]
        out.print(_metrics_table("semantic questions by law", "law", laws))
    a = summary["abstention"]
    out.print(
        f"abstention: {a['correctly_insufficient']}/{a['unanswerable']} unanswerable insufficient; "
        f"answerable sufficient rate {a['answerable_sufficient_rate']} (gold article first "
        f"{a['answered_right_first_rate']}, another first {a['answered_other_first_rate']})"
    )
    if summary["misses"]:
        misses = Table(title="misses (gold not in top 5, or wrong sufficiency)")
        for column in ("id", "kind", "rank", "suff", "question", "gold", "top3"):
            misses.add_column(column)
        for m in summary["misses"]:
            misses.add_row(
                m["id"],
                m["kind"],
                str(m["rank"] or "-"),
                "Y" if m["sufficient"] else "N",
                m["question"],
                " ".join(m["gold"]),
                " ".join(m["top3"]),
            )
        out.print(misses)


def _metrics_table(title: str, first: str, rows: list[tuple[str, dict[str, Any]]]) -> Table:
    table = Table(title=title)
    for column in (first, "n", "R@1", "R@5", "R@10", "MRR", "sufficient"):
        table.add_column(column, justify="right" if column != first else "left")
    for name, m in rows:
        table.add_row(
            name,
            str(m["count"]),
            f"{m['R@1']:.2f}",
            f"{m['R@5']:.2f}",
            f"{m['R@10']:.2f}",
            f"{m['MRR']:.3f}",
            f"{m['sufficient_rate']:.2f}",
        )
    return table


@eval_group.command(name="answers")
@click.argument("dataset", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--tenant",
    default=None,
    help="Tenant the questions are asked for (its collections); as for `kairan ask`.",
)
@click.option(
    "--concurrency", type=click.IntRange(1, 16), default=4, show_default=True,
    help="Questions answered at once (each may be an LLM call).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@knowledge_options
def eval_answers(
    dataset: Path,
    tenant: str | None,
    concurrency: int,
    as_json: bool,
    manifest_path: Path | None,
    data_dir: Path | None,
) -> None:
    """What staff would see: answered or not, and the gold article cited, by kind (with the manifest's LLM).

    Unlike `eval retrieval`, this runs the whole answer engine: with an LLM configured, its refusals
    abstain and the near misses it can quote from are answered. Nothing is recorded in the state
    database (no audit entries, no usage, no budget).
    """
    from bot.answer_eval import AnswerOutcome, answer_all, score
    from kairan.wiring import build_engine
    from knowledge.evaluation import DatasetError, load_dataset

    try:
        items = load_dataset(dataset)
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    config = _config(manifest_path, data_dir)
    scope = _cli_scope(config.manifest, tenant)
    _open_searcher(config)  # fails early, in Japanese, when the knowledge base is empty
    engine = build_engine(config, db=None)
    llm = f"{engine.provider.name} {engine.provider.model}" if engine.provider else "none (extractive)"

    async def run() -> list[AnswerOutcome]:
        try:
            with _progress() as progress:
                task = progress.add_task("回答 answers", total=len(items))
                return await answer_all(
                    engine, items, tenant=scope.tenant, collections=scope.searchable, concurrency=concurrency,
                    progress=lambda n: progress.update(task, completed=n),
                )
        finally:
            if engine.provider is not None:
                await engine.provider.aclose()

    summary = {"llm": llm, **score(asyncio.run(run()))}
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    _print_answer_summary(summary)


def _print_answer_summary(summary: dict[str, Any]) -> None:
    table = Table(title=f"answers (LLM: {summary['llm']})")
    for column in ("kind", "n", "answered", "gold first", "gold cited", "near misses answered"):
        table.add_column(column, justify="right" if column != "kind" else "left")
    for kind, m in summary["by_kind"].items():
        near = str(m["near_miss_answered"])
        if "near_miss_gold_cited" in m:
            near += f" (gold {m['near_miss_gold_cited']})"
        table.add_row(
            kind, str(m["count"]), f"{m['answered']} ({m['answered_rate']:.2f})",
            str(m.get("gold_first", "-")), str(m.get("gold_cited", "-")), near,
        )
    out.print(table)
    if summary["llm_failures"]:
        out.print(f"LLM failures answered from the search results: {summary['llm_failures']}")
    if summary["misses"]:
        misses = Table(title="misses (answerable: gold article not cited; unanswerable: answered)")
        for column in ("id", "kind", "answered", "first citation", "gold", "question"):
            misses.add_column(column)
        for m in summary["misses"]:
            misses.add_row(
                m["id"], m["kind"], "Y" if m["answered"] else "N", m["first"] or "-", " ".join(m["gold"]),
                m["question"],
            )
        out.print(misses)


# -- ask / audit / usage ----------------------------------------------------------
@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--thread", default=None, help="Thread id: follow-up questions in the same thread see earlier turns."
)
@click.option(
    "--tenant",
    default=None,
    help="Tenant the question is asked for (its collections). Default: the manifest's rule for "
    "conversations no tenant lists (only public collections), or 'local' without tenants.",
)
@knowledge_options
def ask(
    question: str,
    as_json: bool,
    thread: str | None,
    tenant: str | None,
    manifest_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Ask a question and get a cited answer (質問に根拠つきで回答)."""
    import logging

    config = _config(manifest_path, data_dir)
    scope = _cli_scope(config.manifest, tenant)
    _open_searcher(config)  # fails early, in Japanese, when the knowledge base is empty
    message = IncomingMessage(
        ref=ConversationRef(platform="cli", tenant=scope.tenant, channel="cli", thread=thread),
        user=os.environ.get("USER", "cli"),
        text=question,
    )
    try:
        answer = asyncio.run(_answer_once(build_runtime(config), message, scope.searchable))
    except Exception:  # never a traceback for the person asking; the log has it
        logging.getLogger("kairan").exception("answering failed")
        err.print(wording.APOLOGY, style="red", markup=False, highlight=False)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(answer_json(answer), ensure_ascii=False, indent=2))
        return
    # soft_wrap: no hard line breaks inside the answer or the URLs when the output is piped.
    out.print(answer.text, markup=False, highlight=False, soft_wrap=True)
    for c in answer.citations:
        mark = "✓" if c.verified else "？"
        out.print(f"[{c.n}] {mark} {c.title}  {c.url}", markup=False, highlight=False, soft_wrap=True)
    for warning in answer.warnings:  # may quote LLM output: never read it as rich markup
        err.print(f"[yellow]注意:[/] {escape(warning)}", soft_wrap=True)
    if answer.inquiry_draft:
        out.print("\n--- 照会文案 / inquiry draft ---", markup=False)
        out.print(answer.inquiry_draft, markup=False, highlight=False, soft_wrap=True)


async def _answer_once(runtime: Runtime, message: IncomingMessage, collections: list[str] | None) -> Answer:
    """One answer, then the runtime is closed inside the loop that opened the LLM client's connections."""
    try:
        return await runtime.answerer.answer(message, collections=collections)
    finally:
        await runtime.close()


def _cli_scope(manifest: Manifest, tenant: str | None) -> Scope:
    """The named tenant's scope, else the manifest's rule for unlisted conversations."""
    scope = scope_for(manifest, "cli", []) if tenant is None else tenant_scope(manifest, tenant)
    if scope is not None:
        return scope
    if tenant is not None:
        known = ", ".join(t.id for t in manifest.tenants)
        raise click.UsageError(
            f"テナント {tenant!r} はマニフェストにありません / no such tenant (tenants: {known})"
        )
    raise click.UsageError(
        "マニフェストがテナントを指定しない質問に回答しない設定です。--tenant を指定してください / "
        "the manifest answers no question without a tenant: give --tenant"
    )


@cli.group(name="audit")
def audit_group() -> None:
    """Audit log (監査ログ)."""


@audit_group.command(name="verify")
@click.option("--anchor", "anchor_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="An anchor file (besides the manifest's state.audit_anchor_file). Repeatable.")
@click.option("--log", "log_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A JSON log file whose 'audit chain head' lines anchor the chains. Repeatable.")
@knowledge_options
def audit_verify_command(
    anchor_files: tuple[Path, ...],
    log_files: tuple[Path, ...],
    manifest_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Check the hash chains against their key and anchors; name every tampered record."""
    from bot.state.chain import ChainKey
    from bot.state.commands import audit_verify, collect_anchors

    config = _config(manifest_path, data_dir)
    state = config.manifest.state
    try:
        key = ChainKey.from_env(os.environ, state.audit_key_env)
        configured = [state.audit_anchor_file] if state.audit_anchor_file else []
        anchors = collect_anchors([*configured, *anchor_files], log_files)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    db = open_state(config)
    try:
        code, text = audit_verify(db, key=key, anchors=anchors)
    finally:
        db.close()
    (out if code == 0 else err).print(text, markup=False, highlight=False, end="")
    sys.exit(code)


@cli.group(name="usage")
def usage_group() -> None:
    """LLM usage and estimated cost per tenant (利用状況)."""


@usage_group.command(name="report")
@click.option("--month", default=None, help="YYYY-MM (default: this month, Japan time).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV instead of a table.")
@knowledge_options
def usage_report_command(
    month: str | None, as_csv: bool, manifest_path: Path | None, data_dir: Path | None
) -> None:
    """Tokens and estimated cost per tenant, provider and model for a month."""
    from bot.state.commands import usage_report_text
    from bot.state.usage import current_month

    db = open_state(_config(manifest_path, data_dir))
    try:
        text = usage_report_text(db, month or current_month(), csv=as_csv)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.close()
    click.echo(text, nl=False)


# -- serve --------------------------------------------------------------------
@cli.command()
@knowledge_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="TCP port.")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    help="JSON logs on stderr from this level up.",
)
def serve(manifest_path: Path | None, data_dir: Path | None, host: str, port: int, log_level: str) -> None:
    """Run the bot: chat adapters, /healthz, /readyz, /metrics and the browser console (/console).

    The console is open from this computer when bound to localhost; elsewhere it needs env
    KAIRAN_CONSOLE_TOKEN. Stops cleanly on Ctrl+C / SIGTERM.
    """
    from kairan import event_loop
    from kairan.logging import configure_logging, env_names
    from kairan.serve import serve as run_server

    config = _config(manifest_path, data_dir)
    configure_logging(level=log_level.upper(), secret_env_names=env_names(config.manifest))
    _open_searcher(config)  # fails early, in Japanese, when the knowledge base is empty

    def announce(banner: str) -> None:
        err.print(banner, markup=False, highlight=False)

    from bot.state.chain import ChainKeyError

    try:
        event_loop.run(run_server(config, host=host, port=port, ready=announce))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    except ChainKeyError as exc:
        raise click.ClickException(str(exc)) from None


# -- manifest ---------------------------------------------------------------
@cli.group(name="manifest")
def manifest_group() -> None:
    """Admin manifest tools (設定ファイル)."""


@manifest_group.command(name="validate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-env", is_flag=True, help="Do not check that the environment variables it names are set.")
def manifest_validate(path: Path, no_env: bool) -> None:
    """Check a manifest and report every error with its line (and every secret variable that is unset)."""
    from manifest.loader import ManifestError, load_manifest

    try:
        load_manifest(path, environ=None if no_env else os.environ)
    except ManifestError as exc:
        err.print(str(exc), markup=False, highlight=False)
        sys.exit(1)
    out.print(f"{path}: OK")


cli.add_command(digest_group)
cli.add_command(inquiry_group)
for _spec in PLATFORMS:  # each chat platform's own commands (adapters.registry)
    if _spec.cli is not None:
        cli.add_command(_spec.cli)
    if _spec.app_manifest is not None:
        manifest_group.add_command(_spec.app_manifest)
import kairan.phrasings_cli  # noqa: E402,F401  registers `kairan phrasings` on cli (uses the helpers above)

if __name__ == "__main__":  # pragma: no cover
    cli()
