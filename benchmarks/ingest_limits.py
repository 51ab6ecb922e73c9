"""Hostile files through `kairan ingest`: time and peak memory of the whole process tree.

    .venv/bin/python benchmarks/ingest_limits.py            # 31 KB PDF deflate bomb + 20 MB one-line text
    .venv/bin/python benchmarks/ingest_limits.py --text-mb 5 --no-pdf

Writes the inputs into a temporary folder beside one real law (行政手続法, from ../shared when
present), runs ``kairan ingest`` on it in a subprocess and samples the resident memory of that
process and all its children (the parser workers) every 20 ms from /proc. Prints the elapsed
time, the peak of the summed RSS, the exit code and the ingest report.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.knowledge.bombs import one_line_text, pdf_deflate_bomb  # noqa: E402

LAW = ROOT.parent / "shared" / "corpus" / "xml" / "405AC0000000088_20240401_504AC0100000052.xml"
KAIRAN = Path(sys.executable).with_name("kairan")


def tree_rss(root: int) -> int:
    """Summed VmRSS (bytes) of ``root`` and every descendant."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def run(folder: Path, data_dir: Path) -> tuple[float, int, int, str]:
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(KAIRAN), "ingest", str(folder), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"},
    )
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    sampler.join()
    return time.monotonic() - started, peak[0], proc.returncode, output.decode("utf-8", "replace")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text-mb", type=float, default=20.0, help="size of the one-line text (MB)")
    parser.add_argument("--no-pdf", action="store_true", help="leave the PDF bomb out")
    parser.add_argument("--no-text", action="store_true", help="leave the one-line text out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kairan-limits-") as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        if not args.no_pdf:
            (folder / "bomb.pdf").write_bytes(pdf_deflate_bomb())
        if not args.no_text:
            (folder / "one-line.txt").write_bytes(one_line_text(int(args.text_mb * 1024 * 1024)))
        if LAW.is_file():
            shutil.copy(LAW, folder / LAW.name)
        for file in sorted(folder.iterdir()):
            print(f"input {file.name}: {file.stat().st_size:,} bytes")
        elapsed, peak, code, output = run(folder, Path(tmp) / "data")
        print(output.strip())
        print(f"elapsed {elapsed:.1f} s, peak RSS (process tree) {peak / 2**20:.0f} MiB, exit code {code}")


if __name__ == "__main__":
    main()
