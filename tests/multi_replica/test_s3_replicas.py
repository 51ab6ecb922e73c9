"""One ingest writer and several reader processes sharing the knowledge base on S3 (moto).

Every process is a real subprocess (``kairan ingest`` / ``kairan search`` / a long-lived
searcher) talking to the moto server over HTTP, as replicas on different machines would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from knowledge.chunks import chunks_from_document
from knowledge.parsers import parse_bytes
from tests.fakes import s3_server as s3

s3_server, s3_env, s3_bucket = s3.s3_server, s3.s3_env, s3.s3_bucket  # fixtures

TETSUZUKI = "405AC0000000088"  # 行政手続法
OLD_NAME = "405AC0000000088_20240401_504AC0100000052.xml"
NEW_NAME = "405AC0000000088_20250401_507AC0000000099.xml"  # a newer revision (made up for the test)
OLD_SENTENCE = "行政庁は、審査基準を定めるものとする。"
NEW_SENTENCE = "行政庁は、審査基準を定め、これを電子的方法により公表するものとする。"
KAIRAN = [sys.executable, "-m", "kairan.cli"]
TIMEOUT_S = 120

# A replica that keeps its searcher open and checks for a newer version before every search.
# Each line it prints is one observation: the rows of the law read in one query (one snapshot)
# and the top hit of a search. It stops once it has seen the new revision a few times.
READER = r"""
import json, sys, time
from lancedb.expr import col, lit
from kairan.wiring import open_searcher

uri, doc_id, new_revision = sys.argv[1:4]
searcher = open_searcher(uri)
searcher.store.refresh_interval = 0.0
deadline = time.monotonic() + 100
seen_new = 0
while time.monotonic() < deadline and seen_new < 3:
    hit = searcher.search("行手法5条", k=1).hits[0]
    rows = (
        searcher.store.chunks.search().where(col("doc_id") == lit(doc_id))
        .select(["chunk_id", "revision_id", "text"]).limit(None).to_arrow().to_pylist()
    )
    article5 = [r["text"] for r in rows if r["chunk_id"] == f"{doc_id}#5"]
    revisions = sorted({r["revision_id"] for r in rows})
    print(json.dumps({"revisions": revisions, "count": len(rows), "article5": article5,
                      "hit": [hit.doc_id, hit.article, hit.text]}, ensure_ascii=False), flush=True)
    seen_new += new_revision in revisions
"""


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def _search(env: dict[str, str], uri: str, question: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*KAIRAN, "search", question, "--json", "-k", "3", "--knowledge-uri", uri],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _cited(proc: subprocess.Popen[str]) -> list[tuple[str, str, str, str]]:
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 0, err
    return [(h["doc_id"], h["article"], h["url"], h["text"]) for h in json.loads(out)["hits"]]


def _expected(data: bytes, name: str) -> tuple[int, str]:
    """(chunk count, article 5 text) of a revision, from the parser itself."""
    chunks = chunks_from_document(parse_bytes(data, name), collection="laws")
    return len(chunks), next(c.text for c in chunks if c.article == "5")


@pytest.fixture
def env(s3_env: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KAIRAN_"))}
    return {**base, **s3_env}


def test_one_writer_two_readers_and_a_newer_revision(
    s3_bucket: str, env: dict[str, str], shared_corpus: Path, tmp_path: Path
) -> None:
    uri = f"{s3_bucket}/kb"
    old_xml = shared_corpus / "xml" / OLD_NAME
    circulars = sorted((shared_corpus / "circulars" / "nta").glob("*shohi_01*.htm"))[:2]

    # The writer process (its parse workers never touch the store: only the parent writes to S3).
    writer = _run(
        [*KAIRAN, "ingest", str(old_xml), *map(str, circulars), "--workers", "1", "--knowledge-uri", uri], env
    )
    assert writer.returncode == 0, writer.stderr
    assert "追加 3 件" in writer.stderr

    # Two readers at once get the same cited hits, the explicit citation first.
    readers = [_search(env, uri, "行手法5条"), _search(env, uri, "行手法5条")]
    first, second = (_cited(p) for p in readers)
    assert first == second
    assert first[0][:2] == (TETSUZUKI, "5") and first[0][2].endswith("#Mp-At_5")
    assert OLD_SENTENCE in first[0][3]

    # A newer revision: article 5 reworded, article 46 repealed.
    text = old_xml.read_text("utf-8")
    start = text.index('<Article Num="46">')
    new_text = (text[:start] + text[text.index("</Article>", start) + len("</Article>") :]).replace(
        OLD_SENTENCE, NEW_SENTENCE
    )
    assert new_text != text
    new_xml = tmp_path / NEW_NAME
    new_xml.write_text(new_text, "utf-8")
    old_count, old_article5 = _expected(old_xml.read_bytes(), OLD_NAME)
    new_count, new_article5 = _expected(new_xml.read_bytes(), NEW_NAME)
    assert new_count == old_count - 1 and NEW_SENTENCE in new_article5

    # A long-lived reader watches while the writer commits the new revision.
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, uri, TETSUZUKI, NEW_NAME.removesuffix(".xml")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None
        before = json.loads(reader.stdout.readline() or "null")
        assert before is not None, reader.stderr.read() if reader.stderr else ""
        update = _run([*KAIRAN, "ingest", str(new_xml), "--knowledge-uri", uri], env)
        assert update.returncode == 0, update.stderr
        assert "更新 1 件" in update.stderr
        out, err = reader.communicate(timeout=TIMEOUT_S)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert reader.returncode == 0, err
    observations: list[dict[str, Any]] = [before, *(json.loads(line) for line in out.splitlines())]

    old_state = {"revisions": [OLD_NAME.removesuffix(".xml")], "count": old_count, "article5": [old_article5]}
    new_state = {"revisions": [NEW_NAME.removesuffix(".xml")], "count": new_count, "article5": [new_article5]}
    states = [{k: o[k] for k in ("revisions", "count", "article5")} for o in observations]
    assert states[0] == old_state
    assert states[-1] == new_state  # the reader saw the new ingest without restarting
    assert all(s in (old_state, new_state) for s in states)  # never a mix of the two
    first_new = states.index(new_state)
    assert all(s == new_state for s in states[first_new:])  # and never went back
    for o in observations:
        assert o["hit"][:2] == [TETSUZUKI, "5"] and o["hit"][2] in (old_article5, new_article5)
    assert observations[-1]["hit"][2] == new_article5
