from pathlib import Path

from kairan.wiring import open_searcher
from manifest.schema import KnowledgeBaseConfig, Manifest


def test_the_manifest_sets_how_many_articles_stay_in_memory(tmp_path: Path) -> None:
    manifest = Manifest(knowledge=KnowledgeBaseConfig(cache_rows=7, refresh_seconds=30))
    store = open_searcher(tmp_path, manifest=manifest).store
    assert (store._cache_rows, store.refresh_interval) == (7, 30)


def test_the_digest_ingest_generates_phrasings_only_when_the_manifest_asks(tmp_path: Path) -> None:
    from bot.phrasing_author import LLMPhrasingAuthor
    from bot.state.db import open_database
    from kairan.wiring import KnowledgeConfig as Config
    from kairan.wiring import build_digest_runner, ingest_phrasing_author, phrasing_author
    from manifest.schema import LLMConfig, PhrasingsConfig

    llm = LLMConfig(provider="openai_compatible", model="qwen-test", base_url="http://127.0.0.1:9/v1")
    db = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        for generate, llm_config in ((True, llm), (False, llm), (True, LLMConfig())):
            knowledge = KnowledgeBaseConfig(phrasings=PhrasingsConfig(generate=generate, batch_articles=3))
            config = Config(manifest=Manifest(knowledge=knowledge, llm=llm_config), data_dir=tmp_path)
            author = build_digest_runner(config, {}, db=db, llm=None).ingestor.phrasing_author
            expected = generate and llm_config.provider != "none"
            assert (author is not None) == expected
            assert (ingest_phrasing_author(config) is not None) == expected
            # `kairan phrasings generate` needs an LLM, not the generate switch.
            explicit = phrasing_author(config)
            assert (explicit is not None) == (llm_config.provider != "none")
            if isinstance(author, LLMPhrasingAuthor):
                assert author.label == "openai_compatible qwen-test" and author._max_articles == 3
    finally:
        db.close()


def test_the_runtime_runs_the_inquiry_loop_only_when_a_tenant_sends_inquiries(tmp_path: Path) -> None:
    from kairan.metrics import Metrics
    from kairan.wiring import KnowledgeConfig, build_runtime
    from tests.fakes.inquiry import scenario_manifest

    plain = build_runtime(KnowledgeConfig(manifest=Manifest(), data_dir=tmp_path / "plain"), environ={})
    plain.db.close()
    assert plain.inquiries is None and plain.lifecycle.inquiries is None

    manifest = Manifest.model_validate(scenario_manifest(
        {"slack": {"mode": "http"}}, asked_in=("slack", "C1"), destination=("slack", "C2"), responders=["U1"]
    ))
    metrics = Metrics()
    runtime = build_runtime(KnowledgeConfig(manifest=manifest, data_dir=tmp_path / "loop"), environ={},
                            metrics=metrics)
    runtime.db.close()
    desk = runtime.inquiries
    assert desk is not None and runtime.lifecycle.inquiries is desk and desk.book is not None
    assert desk.is_destination("slack", "C2") and not desk.is_destination("slack", "C1")
    assert desk.observer is not None
    desk.observer.opened("testcity")
    desk.observer.answered("testcity", 5400.0)
    text = metrics.render()
    assert 'kairan_inquiries_opened_total{tenant="testcity"} 1' in text
    assert 'kairan_inquiries_answered_total{tenant="testcity"} 1' in text
    assert 'kairan_inquiry_answer_seconds_bucket{le="3600"} 0' in text
    assert 'kairan_inquiry_answer_seconds_bucket{le="14400"} 1' in text


def test_the_manifest_decides_whether_the_llm_reads_near_misses(tmp_path: Path) -> None:
    import math

    from bot.engine import EngineSettings
    from bot.state.db import open_database
    from kairan.wiring import KnowledgeConfig, build_engine
    from manifest.schema import LLMConfig

    db = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        for read, floor in ((True, EngineSettings.llm_reads_from), (False, math.inf)):
            llm = LLMConfig(provider="openai_compatible", model="qwen-test", base_url="http://127.0.0.1:9/v1",
                            read_near_misses=read)
            config = KnowledgeConfig(manifest=Manifest(llm=llm), data_dir=tmp_path)
            assert build_engine(config, db=db, environ={}).settings.llm_reads_from == floor
    finally:
        db.close()


def test_a_searching_process_runs_its_small_matrix_products_on_one_blas_thread(tmp_path: Path) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    with threadpool_limits(2, user_api="blas"):  # put back as it was for the other tests
        open_searcher(tmp_path)
        assert blas_threads() == {1}
