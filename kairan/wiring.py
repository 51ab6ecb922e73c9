"""Everything a kairan process is built from, in one place: the knowledge side (index, searcher,
digest runner) from the manifest and a data directory, and one ``Runtime`` (state DB, answer engine,
audit log, the question lifecycle) that every chat platform of ``adapters.registry`` is built on."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.ports import Adapter, Answerer
from knowledge.aspects import DEFAULT_ASPECTS, load_aspects
from knowledge.circular_citations import CIRCULAR_ABBREVIATIONS, CircularIndex, find_items
from knowledge.citations import LawTitleIndex, find_citations, load_abbreviations
from knowledge.glossary import DEFAULT_GLOSSARY, Glossary
from knowledge.held_laws import HeldLaws
from knowledge.jargon import DEFAULT_JARGON, Jargon
from knowledge.law_names import unknown_laws
from knowledge.settings import DEFAULT_CACHE_ROWS, SearchSettings
from manifest.loader import default_manifest, load_manifest
from manifest.schema import Manifest
from manifest.secrets import secret_from_env

GENERATED_PHRASINGS = "phrasings"  # under the data directory: phrasings the LLM wrote, for review
PHRASINGS_USAGE_TENANT = "(phrasings)"  # the usage report's row for generating them (no tenant id has "(")

if TYPE_CHECKING:  # LanceDB, the LLM SDKs and SQLAlchemy load only for commands that need them
    from bot.engine import AnswerEngine
    from bot.flow.lifecycle import Lifecycle
    from bot.inquiry.desk import InquiryDesk
    from bot.state.audit import AuditLog
    from bot.state.db import Database
    from bot.state.feedback import FeedbackStore
    from kairan.metrics import Metrics
    from knowledge.phrasing_generation import PhrasingAuthor
    from knowledge.phrasings import PhrasingSources
    from knowledge.search import ArticleRef, Searcher
    from knowledge.store import KnowledgeStore
    from knowledge.vectors import VectorIndex


class StoreCitationFinder:
    """Resolves explicit citations against the laws a search's collections hold (re-read after a refresh)."""

    def __init__(self, store: KnowledgeStore, abbreviations: Mapping[str, str] | None = None) -> None:
        self._store = store
        names = dict(abbreviations) if abbreviations is not None else load_abbreviations()
        self._indexes = HeldLaws(store, lambda pairs: LawTitleIndex.from_titles(pairs, abbreviations=names))
        circulars = load_abbreviations(CIRCULAR_ABBREVIATIONS)
        self._circulars = HeldLaws(store, lambda pairs: CircularIndex.from_titles(pairs, circulars))

    def index(self, collections: Sequence[str] | None = None) -> LawTitleIndex:
        return self._indexes.of(collections)

    def unknown_laws(self, question: str, collections: Sequence[str] | None = None) -> list[str]:
        return unknown_laws(question, self.index(collections))

    def find(self, question: str, collections: Sequence[str] | None = None) -> list[ArticleRef]:
        from knowledge.search import ArticleRef

        circulars = self._circulars.of(collections)
        articles = [  # a circular is cited by its items, never by 第…条
            ArticleRef(c.law_id, c.article, c.paragraph, c.item, c.law_title or "")
            for c in find_citations(question, self.index(collections))
            if c.law_id is not None and not circulars.names(c.law_title)
        ]
        return articles + self._items(question, circulars)

    def _items(self, question: str, circulars: CircularIndex) -> list[ArticleRef]:
        """A circular's cited items, each in the one of its documents (pages) that has it; the first
        document when none has it, so that the search says the item was not found."""
        from knowledge.search import ArticleRef

        refs = []
        for cited in find_items(question, circulars):
            pairs = [(doc_id, key) for key in cited.keys for doc_id in cited.doc_ids]
            held = self._store.get_articles(pairs)
            doc_id, key = next((pair for pair in pairs if pair in held), pairs[0])
            refs.append(ArticleRef(doc_id, key, title=cited.title))
        return refs


@dataclass(frozen=True)
class KnowledgeConfig:
    """What the knowledge commands need: where the index lives and how to search it."""

    manifest: Manifest
    data_dir: Path  # local state (the SQLite default); also the index unless knowledge_uri is set
    knowledge_uri: str | None = None  # the index on object storage, e.g. s3://bucket/kairan

    @property
    def knowledge_location(self) -> Path | str:
        return self.knowledge_uri or self.data_dir


def resolve_config(
    manifest_path: Path | None,
    data_dir: Path | None,
    knowledge_uri: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> KnowledgeConfig:
    """``--data-dir`` wins, then the manifest's data_dir, then KAIRAN_DATA_DIR, then ./data.

    The index itself: ``--knowledge-uri``, else the local ``--data-dir`` when given, else
    KAIRAN_KNOWLEDGE_URI, else the manifest's ``knowledge.uri``, else the data directory.
    """
    manifest = load_manifest(manifest_path) if manifest_path else default_manifest()
    explicit_dir = data_dir is not None
    if data_dir is None:
        env = environ.get("KAIRAN_DATA_DIR")
        data_dir = manifest.data_dir if manifest_path else Path(env) if env else Path("data")
    if knowledge_uri is None and not explicit_dir:
        knowledge_uri = environ.get("KAIRAN_KNOWLEDGE_URI") or manifest.knowledge.uri
    return KnowledgeConfig(manifest=manifest, data_dir=data_dir, knowledge_uri=knowledge_uri or None)


def search_settings(manifest: Manifest) -> SearchSettings:
    sufficiency = manifest.knowledge.search.sufficiency
    return SearchSettings(min_confidence=sufficiency.min_confidence)


def phrasing_sources(config: KnowledgeConfig) -> PhrasingSources:
    """Shipped phrasings, the admin's files and the LLM-written ones kept beside the local state."""
    from knowledge.phrasings import PhrasingSources

    cfg = config.manifest.knowledge.phrasings
    return PhrasingSources(
        shipped=cfg.shipped, admin=tuple(cfg.files), generated=config.data_dir / GENERATED_PHRASINGS
    )


def phrasing_author(
    config: KnowledgeConfig, *, db: Database | None = None, environ: Mapping[str, str] = os.environ
) -> PhrasingAuthor | None:
    """The configured LLM as the writer of staff phrasings (None with ``llm.provider: none``).

    With ``db``, every request's tokens go to the usage meter under PHRASINGS_USAGE_TENANT.
    """
    llm = config.manifest.llm
    if llm.provider == "none":
        return None
    from bot.phrasing_author import LLMPhrasingAuthor

    def provider() -> Any:  # made inside the author's own event loop; SDKs load only now
        from bot.llm.factory import provider_from_config

        return provider_from_config(llm, environ=environ)

    on_usage = None
    if db is not None:
        from bot.state.usage import PriceTable, UsageMeter

        meter = UsageMeter(db, prices=PriceTable.from_config(config.manifest.pricing))

        def on_usage(usage: Any) -> None:
            meter.record(PHRASINGS_USAGE_TENANT, usage)

    return LLMPhrasingAuthor(
        provider_factory=provider,
        label=f"{llm.provider} {llm.model}",
        on_usage=on_usage,
        max_articles=config.manifest.knowledge.phrasings.batch_articles,
    )


def ingest_phrasing_author(
    config: KnowledgeConfig, *, db: Database | None = None, environ: Mapping[str, str] = os.environ
) -> PhrasingAuthor | None:
    """The phrasing author for ingest: only when the manifest sets ``knowledge.phrasings.generate``."""
    if not config.manifest.knowledge.phrasings.generate:
        return None
    return phrasing_author(config, db=db, environ=environ)


def open_vectors(store: KnowledgeStore, manifest: Manifest) -> VectorIndex | None:
    """The dense index when the manifest enables a local embedding model (loading it takes seconds)."""
    cfg = manifest.knowledge.embeddings
    if not cfg.enabled or cfg.model_dir is None:
        return None
    from knowledge.embeddings import SentenceTransformerEmbedder
    from knowledge.vectors import VectorIndex

    embedder = SentenceTransformerEmbedder(model_dir=cfg.model_dir, batch_size=cfg.batch_size)
    return VectorIndex(store=store, embedder=embedder)


def open_searcher(
    location: Path | str,
    *,
    settings: SearchSettings | None = None,
    manifest: Manifest | None = None,
) -> Searcher:
    """A searcher over a local directory or an s3:// URI; with a manifest it follows new ingests."""
    from knowledge.search import Searcher
    from knowledge.store import KnowledgeStore
    from knowledge.tokenize import Segmenter

    _small_products_on_one_thread()
    store = KnowledgeStore(
        location,
        refresh_interval=manifest.knowledge.refresh_seconds if manifest else None,
        cache_rows=manifest.knowledge.cache_rows if manifest else DEFAULT_CACHE_ROWS,
    )
    from knowledge.law_topics import StoreTopicJudge, TopicCatalogue

    segmenter = Segmenter()
    extra_glossaries = manifest.knowledge.glossary if manifest else []
    extra_jargon = manifest.knowledge.jargon if manifest else []
    abbreviations = load_abbreviations()  # read once: citations resolve them, the jargon leaves them be
    return Searcher(
        store=store,
        segmenter=segmenter,
        citations=StoreCitationFinder(store, abbreviations),
        topics=StoreTopicJudge(store, TopicCatalogue.load(), segmenter=segmenter),
        glossary=Glossary.load([DEFAULT_GLOSSARY, *extra_glossaries], segmenter=segmenter),
        aspects=load_aspects(DEFAULT_ASPECTS, segmenter=segmenter),
        jargon=Jargon.load([DEFAULT_JARGON, *extra_jargon], segmenter=segmenter, protected=abbreviations),
        vectors=open_vectors(store, manifest) if manifest else None,
        settings=settings or (search_settings(manifest) if manifest else None),
    )


def _small_products_on_one_thread() -> None:
    """BLAS on one thread in a process that searches. A question's matrix products are one row against a few
    thousand (the article model's 5,626 articles): split over threads they cost more in handing over than
    they save, and on a busy machine a thread waits for its turn (the article model read 0.52 against 0.36
    ms a question on two cores, 1.41 against 0.67 ms with other work running). Trainings hold their own
    limit; an embedding model's own threads (OpenMP) are left as they are."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


# -- answer engine ---------------------------------------------------------------------------
def state_url(config: KnowledgeConfig, environ: Mapping[str, str] = os.environ) -> str:
    from bot.state.db import default_database_url

    state = config.manifest.state
    if state.url_env:
        return secret_from_env(state.url_env, field="state.url_env", environ=environ)
    return state.url or default_database_url(config.data_dir)


def open_state(config: KnowledgeConfig, environ: Mapping[str, str] = os.environ) -> Database:
    from bot.state.db import open_database

    config.data_dir.mkdir(parents=True, exist_ok=True)
    return open_database(state_url(config, environ))


def build_engine(
    config: KnowledgeConfig, *, db: Database | None, environ: Mapping[str, str] = os.environ
) -> AnswerEngine:
    """The answer engine as the manifest describes it: LLM (or extractive, past a tenant's budget),
    redaction, state. Without ``db`` it records nothing and keeps no budget: thread memory, the audit
    log and the usage meter are left out (``kairan eval answers`` measures the answers, not the staff)."""
    from bot.budget import BudgetGuard
    from bot.engine import AnswerEngine, EngineSettings
    from bot.llm.factory import provider_from_config
    from bot.redaction import RedactionPolicy
    from bot.state.audit import AuditLog
    from bot.state.threads import ThreadStore
    from bot.state.usage import PriceTable, UsageMeter

    manifest = config.manifest
    state = manifest.state
    return AnswerEngine(
        searcher=open_searcher(config.knowledge_location, manifest=manifest),
        provider=provider_from_config(manifest.llm, environ=environ),
        redaction=RedactionPolicy.from_config(manifest.redaction),
        threads=ThreadStore(db) if db is not None else None,
        # the audit log's salt, chain key and anchor file come from the manifest and the environment
        audit=AuditLog.from_config(db, state, environ) if db is not None else None,
        usage=UsageMeter(db, prices=PriceTable.from_config(manifest.pricing)) if db is not None else None,
        settings=EngineSettings(
            top_k=manifest.knowledge.search.default_k,
            history_turns=state.thread_max_turns,
            history_chars=state.thread_max_chars,
            llm_reads_from=EngineSettings.llm_reads_from if manifest.llm.read_near_misses else math.inf,
        ),
        llm_allowed=BudgetGuard(db, manifest).allows_llm if db is not None else None,
    )


# -- the runtime every platform is built on ------------------------------------------------------
@dataclass
class Runtime:
    """What a kairan process shares: one state DB, one engine, one audit log, one question lifecycle.

    Satisfies ``adapters.spec.PlatformRuntime``: each platform's spec builds its adapter from it.
    """

    config: KnowledgeConfig
    environ: Mapping[str, str]
    db: Database
    engine: AnswerEngine
    answerer: Answerer  # the engine, metered when the process exports metrics
    audit: AuditLog
    feedback: FeedbackStore  # votes on answers, chained like the audit log
    lifecycle: Lifecycle
    inquiries: InquiryDesk | None = None  # the 照会 loop, when a tenant names where its inquiries go

    @property
    def manifest(self) -> Manifest:
        return self.config.manifest

    async def close(self) -> None:
        """Release the LLM client and the state DB (once nothing answers any more)."""
        try:
            if self.engine.provider is not None:
                await self.engine.provider.aclose()
        finally:
            self.db.close()


def build_runtime(
    config: KnowledgeConfig, *, environ: Mapping[str, str] = os.environ, metrics: Metrics | None = None
) -> Runtime:
    """The runtime the manifest describes; with ``metrics`` every answer is counted and timed."""
    from bot.flow.lifecycle import Lifecycle
    from bot.state.feedback import FeedbackStore
    from kairan.metrics import MeteredEngine

    db = open_state(config, environ)
    try:
        engine = build_engine(config, db=db, environ=environ)
    except BaseException:
        db.close()
        raise
    assert engine.audit is not None  # build_engine always keeps an audit log
    answerer: Answerer = engine if metrics is None else MeteredEngine(engine, metrics)
    audit: AuditLog = engine.audit
    inquiries = build_inquiry_desk(config, db=db, engine=engine, metrics=metrics)
    return Runtime(
        config=config, environ=environ, db=db, engine=engine, answerer=answerer, audit=audit,
        feedback=FeedbackStore(db, key=audit.key, anchor_file=audit.anchor_file),
        lifecycle=Lifecycle.on(db, answerer, inquiries=inquiries), inquiries=inquiries,
    )


def build_inquiry_desk(
    config: KnowledgeConfig, *, db: Database, engine: AnswerEngine, metrics: Metrics | None = None
) -> InquiryDesk | None:
    """The 照会 loop when some tenant's manifest entry has ``inquiries`` (else None): answers are written
    into the knowledge base through an ingestor of its own, and the engine's searcher sees them at once."""
    manifest = config.manifest
    if not any(t.inquiries is not None for t in manifest.tenants):
        return None
    from bot.inquiry.desk import InquiryDesk
    from bot.inquiry.knowledge import AnswerBook
    from bot.inquiry.similar import similar_answers
    from bot.inquiry.store import InquiryStore
    from bot.redaction import RedactionPolicy
    from kairan.metrics import InquiryMeter
    from knowledge.ingest import Ingestor
    from knowledge.store import KnowledgeStore
    from knowledge.vectors import VectorIndex

    store = KnowledgeStore(config.knowledge_location)
    searched = engine.searcher
    dense = searched.vectors  # its embedding model, loaded once, embeds the answers too
    vectors = None if dense is None else VectorIndex(store=store, embedder=dense.embedder)
    ingestor = Ingestor(
        store=store, workers=1, vectors=vectors, law_collections=manifest.knowledge.law_collections(),
        limits=manifest.knowledge.limits.limits(),
    )
    redaction = RedactionPolicy.from_config(manifest.redaction)
    return InquiryDesk(
        similar=partial(similar_answers, searched),
        store=InquiryStore(db, redaction=redaction),
        manifest=manifest,
        book=AnswerBook(store=store, ingestor=ingestor, refreshed=searched.store.refresh),
        redaction=redaction,
        observer=None if metrics is None else InquiryMeter(metrics),
    )


def build_adapters(runtime: Runtime) -> list[Adapter]:
    """The adapter of every platform (``adapters.registry``) the manifest configures."""
    from adapters.registry import PLATFORMS

    return [adapter for spec in PLATFORMS if (adapter := spec.build(runtime)) is not None]


# -- digests -----------------------------------------------------------------------------------
def build_digest_runner(
    config: KnowledgeConfig, adapters: Mapping[str, Any], *, db: Database, llm: Any, ingest: bool = True
) -> Any:
    """The digest runner over the manifest's feeds and subscriptions (new documents are ingested)."""
    from adapters.registry import PLATFORMS
    from bot.digest.config import from_manifest
    from bot.digest.fetch import Fetcher
    from bot.digest.runner import DigestRunner
    from bot.digest.summarise import Summariser

    feeds, subscriptions = from_manifest(config.manifest)
    ingestor = None
    if ingest:
        from knowledge.ingest import Ingestor
        from knowledge.store import KnowledgeStore

        store = KnowledgeStore(config.knowledge_location)
        ingestor = Ingestor(
            store=store,
            workers=1,
            vectors=open_vectors(store, config.manifest),
            phrasings=phrasing_sources(config),
            phrasing_author=ingest_phrasing_author(config, db=db),
            law_collections=config.manifest.knowledge.law_collections(),
            limits=config.manifest.knowledge.limits.limits(),
        )
    return DigestRunner(
        db=db,
        feeds=feeds,
        subscriptions=subscriptions,
        adapters=adapters,
        fetcher=Fetcher(),
        summariser=Summariser(llm=llm),
        ingestor=ingestor,
        items_per_post={spec.name: spec.max_digest_items for spec in PLATFORMS if spec.max_digest_items},
    )
