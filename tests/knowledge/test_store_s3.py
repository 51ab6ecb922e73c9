"""The knowledge store on object storage: real ingest and search against a local S3 server (moto)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.fs as pafs
import pytest
from click.testing import CliRunner

from kairan.cli import cli
from kairan.wiring import open_searcher, resolve_config
from knowledge.ingest import Ingestor, discover
from knowledge.search import Searcher
from knowledge.store import KnowledgeStore, StoreError
from knowledge.term_stats import FILE_NAME, TermStats
from manifest.schema import Manifest
from tests.fakes import s3_server as s3
from tests.fakes.s3_server import SECRET_KEY, S3Server

s3_server, s3_env, s3_bucket = s3.s3_server, s3.s3_env, s3.s3_bucket  # fixtures

TETSUZUKI = "405AC0000000088"  # 行政手続法
QUESTIONS = ("行手法5条", "審査基準を公にしておかなければならない", "標準処理期間")


@pytest.fixture(scope="module")
def corpus_files(shared_corpus: Path) -> list[Path]:
    circulars = sorted((shared_corpus / "circulars" / "nta").glob("*shohi_01*.htm"))[:2]
    return [shared_corpus / "xml" / "405AC0000000088_20240401_504AC0100000052.xml", *circulars]


def _ingest(location: Path | str, files: list[Path]) -> int:
    items, errors = discover(files, collection="laws")
    assert not errors
    report = Ingestor(store=KnowledgeStore(location), workers=1).ingest(items)
    assert not report.errors, report.errors
    return report.documents_written


def _hits(searcher: Searcher, question: str) -> list[tuple[str, str, str]]:
    return [(h.doc_id, h.article, h.text) for h in searcher.search(question, k=3).hits]


def test_ingest_and_search_on_s3_match_a_local_store(
    s3_bucket: str, corpus_files: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may land in a local "s3:" directory
    uri = f"{s3_bucket}/kb"
    assert _ingest(uri, corpus_files) == len(corpus_files)  # the writer's spawn pool: test_s3_replicas
    assert _ingest(tmp_path / "local", corpus_files) == len(corpus_files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["local"]

    fs, root = pafs.FileSystem.from_uri(uri)
    names = {Path(i.path).name for i in fs.get_file_info(pafs.FileSelector(root))}
    assert {"lancedb", FILE_NAME} <= names
    assert TermStats.load(uri) == TermStats.load(tmp_path / "local")
    assert TermStats.load(uri).doc_count > 60

    on_s3, local = open_searcher(uri), open_searcher(tmp_path / "local")
    for question in QUESTIONS:
        s3_hits = _hits(on_s3, question)
        assert s3_hits, question
        assert s3_hits == _hits(local, question)
    assert _hits(on_s3, "行手法5条")[0][:2] == (TETSUZUKI, "5")

    again = Ingestor(store=KnowledgeStore(uri)).ingest(discover(corpus_files, collection="laws")[0])
    assert again.documents_written == 0 and len(again.unchanged) == len(corpus_files)


def test_a_reader_sees_a_later_ingest_after_refresh(s3_bucket: str, corpus_files: list[Path]) -> None:
    uri = f"{s3_bucket}/kb"
    _ingest(uri, corpus_files[1:])  # circulars only: the law is not there yet
    reader = open_searcher(uri)
    reader.store.refresh_interval = 0.0  # check on every search
    before = reader.search("行手法5条", k=3)
    assert not before.sufficient and all(h.doc_id != TETSUZUKI for h in before.hits)
    stats_before = reader.term_stats.doc_count
    generation = reader.store.generation

    _ingest(uri, corpus_files[:1])  # another store handle, as another process would

    after = reader.search("行手法5条", k=3)
    assert after.hits[0].doc_id == TETSUZUKI and after.hits[0].article == "5"
    assert after.sufficient  # the citation finder re-read the law titles
    assert reader.term_stats.doc_count > stats_before  # and the term statistics were reloaded
    assert reader.store.generation > generation
    assert reader.store.refresh() is False  # nothing newer now


def test_without_refresh_a_reader_keeps_its_snapshot(s3_bucket: str, corpus_files: list[Path]) -> None:
    uri = f"{s3_bucket}/kb"
    _ingest(uri, corpus_files[1:])
    reader = KnowledgeStore(uri)
    count = reader.stats()["chunks"]
    _ingest(uri, corpus_files[:1])
    assert reader.chunks.count_rows() == count
    assert reader.refresh() is True
    assert reader.chunks.count_rows() > count


def test_a_missing_bucket_names_the_uri_and_the_cause(s3_env: dict[str, str]) -> None:
    with pytest.raises(StoreError) as raised:
        KnowledgeStore("s3://kairan-no-such-bucket/kb")
    message = str(raised.value)
    assert "s3://kairan-no-such-bucket/kb" in message and "NoSuchBucket" in message
    assert s3_env["AWS_ENDPOINT_URL"] in message
    assert SECRET_KEY not in message


def test_wrong_credentials_are_reported_without_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    with S3Server(auth=True) as server:  # moto checks access keys: ours do not exist there
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        with pytest.raises(StoreError) as raised:
            KnowledgeStore("s3://kairan-kb/kb")
    message = str(raised.value)
    assert "s3://kairan-kb/kb" in message and "credentials rejected" in message
    assert SECRET_KEY not in message


def test_cli_search_reports_a_missing_bucket_in_one_line(s3_env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["search", "行手法5条", "--knowledge-uri", "s3://kairan-nothing/kb"])
    assert result.exit_code == 1
    assert "s3://kairan-nothing/kb" in result.stderr and "NoSuchBucket" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert SECRET_KEY not in result.output + result.stderr


def test_cli_rejects_a_knowledge_uri_that_is_not_s3() -> None:
    result = CliRunner().invoke(cli, ["search", "x", "--knowledge-uri", "/tmp/kb"])
    assert result.exit_code == 2 and "s3://bucket/prefix" in result.stderr


def test_the_knowledge_location_comes_from_option_env_or_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "kairan.yaml"
    manifest.write_text("version: 1\nknowledge:\n  uri: s3://from-manifest/kb/\n", "utf-8")
    env = {"KAIRAN_KNOWLEDGE_URI": "s3://from-env/kb"}

    assert resolve_config(manifest, None, environ={}).knowledge_location == "s3://from-manifest/kb"
    assert resolve_config(manifest, None, environ=env).knowledge_location == "s3://from-env/kb"
    assert resolve_config(manifest, None, "s3://from-cli/kb", environ=env).knowledge_location == (
        "s3://from-cli/kb"
    )
    local = resolve_config(manifest, tmp_path / "data", environ=env)  # --data-dir keeps it local
    assert local.knowledge_location == tmp_path / "data" and local.knowledge_uri is None
    assert resolve_config(None, None, environ={}).knowledge_location == Path("data")


@pytest.mark.parametrize(
    "uri", ["http://bucket/kb", "s3://AKIAIOSFODNN7EXAMPLE:secret@bucket/kb", "s3://B/kb", "s3:///kb"]
)
def test_the_manifest_rejects_a_knowledge_uri_that_is_not_a_plain_s3_uri(uri: str) -> None:
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        Manifest.model_validate({"version": 1, "knowledge": {"uri": uri}})


def test_the_article_model_is_stored_read_again_and_removed_on_s3(s3_bucket: str) -> None:
    from knowledge.article_model import FILE_NAME as ARTICLE_MODEL_FILE
    from knowledge.article_model import train

    uri = f"{s3_bucket}/article-model"
    lines = {"a:1": "職員の副業の許可", "b:2": "庁舎の貸付け"}
    examples = [(article, f"{text} {n}") for article, text in lines.items() for n in range(3)]
    model = train(examples)
    writer = KnowledgeStore(uri)
    assert writer.article_model() is None
    writer.save_article_model(model)
    fs, root = pafs.FileSystem.from_uri(uri)
    assert fs.get_file_info(f"{root}/{ARTICLE_MODEL_FILE}").type == pafs.FileType.File
    reader = KnowledgeStore(uri)
    stored = reader.article_model()
    assert stored is not None and stored.digest == model.digest
    question = "職員が副業したい"
    assert stored.read(question).log_probabilities(["a:1", "b:2"]) == pytest.approx(
        model.read(question).log_probabilities(["a:1", "b:2"]), abs=1e-3
    )
    writer.save_article_model(None)
    assert fs.get_file_info(f"{root}/{ARTICLE_MODEL_FILE}").type == pafs.FileType.NotFound
    assert reader.refresh() and reader.article_model() is None  # another process sees it gone
