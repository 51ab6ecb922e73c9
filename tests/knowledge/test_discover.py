"""An ingested folder is read as a tree: no link leads out of it (issue 16, Low)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from knowledge.ingest import discover

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX symlinks")


def test_links_out_of_the_folder_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "secrets").mkdir(parents=True)
    (outside / "secrets" / "token.txt").write_text("秘密のトークン", "utf-8")
    (outside / "memo.md").write_text("# 外のメモ\n\n外のメモです。\n", "utf-8")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "manual.md").write_text("# マニュアル\n\n本文です。\n", "utf-8")
    (tree / "passwd.txt").symlink_to("/etc/passwd")
    (tree / "memo.md").symlink_to(outside / "memo.md")
    (tree / "linked-dir").symlink_to(outside / "secrets", target_is_directory=True)
    (tree / "sub" / "same.md").symlink_to(tree / "manual.md")  # a link that stays inside
    (tree / "sub" / "up").symlink_to(tree, target_is_directory=True)  # a loop back into the tree

    items, errors = discover([tree], collection="city-a")

    assert sorted(Path(i.source).relative_to(tree).as_posix() for i in items) == ["manual.md", "sub/same.md"]
    refused = {Path(source).name: message for source, message in errors}
    assert set(refused) == {"passwd.txt", "memo.md", "linked-dir"}
    for name, message in refused.items():
        assert "フォルダの外" in message and "outside the folder" in message, name
    assert os.path.realpath(tree / "passwd.txt") == "/etc/passwd"  # the link is there, just not followed


def test_a_folder_given_as_a_link_is_read(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.md").write_text("# A\n\n本文。\n", "utf-8")
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    items, errors = discover([tmp_path / "alias"], collection="city-a")
    assert errors == [] and [Path(i.source).name for i in items] == ["a.md"]
