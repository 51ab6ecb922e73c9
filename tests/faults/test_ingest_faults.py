"""``kairan ingest`` killed with SIGKILL mid-write, and run out of disk: the store stays whole.

Kill: a real ``kairan ingest`` subprocess is SIGKILLed as soon as LanceDB has begun writing the
new batch (a new file appears under the chunks table). The store then opens, every document in
it has exactly the chunks of one revision (its old count or its new count, never in between) and
a re-run completes to the full state.

Disk full: the data directory is a small tmpfs (``mount -t tmpfs -o size=…``, as root) holding a small
ingest. A big one does not fit: one clear error naming the directory and "no space left", exit code 1, no
traceback, and the previous documents are still there and searchable. When the disk fills only after the
documents are written (training the models on them), the error says so, and a rerun with room completes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from knowledge.store import KnowledgeStore
from tests.conftest import CORPUS, REPO

KAIRAN = [str(Path(sys.executable).parent / "kairan")]  # the installed console script
SMALL = CORPUS / "xml" / "405AC0000000088_20240401_504AC0100000052.xml"  # 行政手続法, 71 articles
BIG = [  # two mid-sized laws (1.1 MB and 0.7 MB of e-Gov HTML): quick, yet more than the disk holds
    CORPUS / "egov_html" / "333AC0000000192_20250601_504AC0000000068.html",
    CORPUS / "egov_html" / "325AC0000000144_20250601_504AC0000000068.html",
]
KILLED = BIG[1:]  # the kill needs only a write to interrupt: the smaller law keeps the test short
ENV = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}


def ingest(data: Path, *targets: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KAIRAN, "ingest", *map(str, targets), "--data-dir", str(data), "--workers", "2"],
        capture_output=True, text=True, env=ENV, cwd=REPO, timeout=timeout,
    )  # fmt: skip


def rows_per_document(store: KnowledgeStore) -> Counter[str]:
    if store.chunks is None:
        return Counter()
    rows = store.chunks.search().select(["doc_id"]).limit(None).to_arrow()
    return Counter(rows["doc_id"].to_pylist())


def files_under(directory: Path) -> set[Path]:
    return {p for p in directory.rglob("*") if p.is_file()} if directory.exists() else set()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigkill_during_ingest_leaves_whole_documents_and_a_rerun_completes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = ingest(data, SMALL)
    assert first.returncode == 0, first.stderr
    before = rows_per_document(KnowledgeStore(data))
    assert before == {"405AC0000000088": 71}
    chunk_files = data / "lancedb" / "chunks.lance"
    existing = files_under(chunk_files)

    proc = subprocess.Popen(
        [*KAIRAN, "ingest", *map(str, KILLED), "--data-dir", str(data), "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV, cwd=REPO,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    writing = False
    while proc.poll() is None and time.monotonic() < deadline:
        if files_under(chunk_files) - existing:  # LanceDB has begun writing the new batch
            writing = True
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(timeout=30)
    assert proc.stderr is not None
    proc.stderr.close()
    assert writing and proc.returncode == -signal.SIGKILL, "the ingest finished before its write was seen"

    killed = KnowledgeStore(data)
    interrupted = rows_per_document(killed)
    register = killed.documents()

    rerun = ingest(data, *KILLED)
    assert rerun.returncode == 0, rerun.stderr
    final_store = KnowledgeStore(data)
    final = {doc_id: d.chunk_count for doc_id, d in final_store.documents().items()}
    assert len(final) == 2
    assert rows_per_document(final_store) == Counter(final)

    # After the kill: every document holds exactly one revision's chunks, old or new, nothing between.
    for doc_id, rows in interrupted.items():
        assert rows in {before.get(doc_id), final.get(doc_id)}, (doc_id, rows)
    # The register never claims more than is stored: each registered count is what is there.
    for doc_id, doc in register.items():
        assert interrupted[doc_id] == doc.chunk_count, doc_id
    from kairan.wiring import open_searcher

    hits = open_searcher(data).search("行政手続法5条").hits
    assert hits and hits[0].doc_id == "405AC0000000088"


# -------------------------------------------------------------------------------- disk full


def disk_usage(directory: Path) -> int:
    return sum(p.stat().st_size for p in files_under(directory))


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """行政手続法 ingested once, copied onto each small disk."""
    data = tmp_path_factory.mktemp("small") / "data"
    first = ingest(data, SMALL)
    assert first.returncode == 0, first.stderr
    return data


@pytest.fixture
def small_disk(tmp_path: Path, small_store: Path) -> Iterator[Callable[[int], Path]]:
    """Mounts a tmpfs with room for 行政手続法 ingested (its chunks and learned models, copied in) and
    ``spare`` bytes more; returns the data directory on it. Sized from what the law takes, so the test
    keeps its meaning as the models grow."""
    if sys.platform != "linux" or shutil.which("mount") is None:
        pytest.skip("needs Linux mount(8) for a size-limited tmpfs")
    mounted: list[Path] = []

    def mount(spare: int) -> Path:
        mountpoint = tmp_path / f"disk-{uuid.uuid4().hex[:8]}"
        mountpoint.mkdir()
        size = (disk_usage(small_store) + spare) // 1024 + 256  # KiB, with room for the files' blocks
        command = ["mount", "-t", "tmpfs", "-o", f"size={size}k", "tmpfs", str(mountpoint)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"mounting a size-limited tmpfs is not permitted here: {done.stderr.strip()}")
        mounted.append(mountpoint)
        shutil.copytree(small_store, mountpoint / "data")
        return mountpoint / "data"

    try:
        yield mount
    finally:
        for mountpoint in mounted:
            subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def disk_full_errors(full: subprocess.CompletedProcess[str]) -> list[str]:
    assert full.returncode == 1
    assert "Traceback" not in full.stderr
    return [line for line in full.stderr.splitlines() if "no space left" in line.lower()]


def test_disk_full_during_ingest_fails_clearly_and_keeps_the_previous_state(
    small_disk: Callable[[int], Path],
) -> None:
    data = small_disk(512 * 1024)  # less than the two laws' chunks take
    before = rows_per_document(KnowledgeStore(data))
    register_before = KnowledgeStore(data).documents()

    full = ingest(data, *BIG)

    errors = disk_full_errors(full)
    assert len(errors) == 1, full.stderr
    [error] = errors
    assert error.startswith("Error: ディスクの空き容量が不足しているため取り込みを中止しました")
    assert str(data) in error and "keeps its previous state" in error
    store = KnowledgeStore(data)
    assert rows_per_document(store) == before
    assert store.documents() == register_before
    assert not list(data.glob("*.tmp"))
    from kairan.wiring import open_searcher

    hits = open_searcher(data).search("行政手続法5条").hits
    assert hits and hits[0].doc_id == "405AC0000000088"


def test_a_disk_filled_after_the_documents_are_written_says_so_and_a_rerun_completes(
    tmp_path: Path, small_disk: Callable[[int], Path]
) -> None:
    data = small_disk(3 * 1024 * 1024)  # room for the two laws' chunks, not for the models trained on them
    full = ingest(data, *BIG)

    errors = disk_full_errors(full)
    assert len(errors) == 1, full.stderr
    [error] = errors
    assert "文書は書き込まれましたが" in error and "run the ingest again" in error
    assert "keeps its previous state" not in error
    assert not list(data.glob("*.tmp"))  # no half-written model is left behind
    assert len(KnowledgeStore(data).documents()) == 3

    roomy = tmp_path / "roomy"  # the same store with space again: the rerun completes what is missing
    shutil.copytree(data, roomy)
    rerun = ingest(roomy, *BIG)
    assert rerun.returncode == 0, rerun.stderr
    model = KnowledgeStore(roomy).article_model()
    assert model is not None and any(a.startswith("333AC0000000192:") for a in model.articles)
