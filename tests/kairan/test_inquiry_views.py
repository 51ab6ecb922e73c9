"""Seeing the 照会 work: ``kairan inquiry list|show`` and the console's list, with each inquiry's age."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from bot.inquiry.store import ANSWER, InquiryStore, Offer
from bot.state.db import open_database, utc_now
from kairan.cli import cli
from kairan.serve import Services, build_app, build_services
from kairan.wiring import KnowledgeConfig
from manifest.schema import Manifest
from tests.fakes.inquiry import scenario_manifest

API = {"X-Kairan-Console": "1"}
NAMEPLATE, CAR = "職員の名札に旧姓を使ってよいですか", "公用車の私用は懲戒の対象ですか"
ENV = {"SLACK_BOT_TOKEN": "xoxb-test-0000", "SLACK_SIGNING_SECRET": "not-a-real-secret"}


@pytest.fixture
def manifest_file(tmp_path: Path) -> Path:
    data = scenario_manifest({"slack": {"mode": "http"}}, asked_in=("slack", "C0ASK"),
                             destination=("slack", "C0HOUMU"), responders=["U0HOUMU"])
    data["data_dir"] = str(tmp_path / "data")
    path = tmp_path / "kairan.yaml"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    db = open_database(f"sqlite:///{tmp_path / 'data' / 'state.db'}")
    store = InquiryStore(db)
    now = utc_now()
    for n, question in enumerate((NAMEPLATE, CAR), start=1):
        store.add_offer(Offer(
            key=f"a{n}", tenant="testcity", platform="slack", channel="C0ASK", thread=f"{n}.0",
            message=f"{n}.0", user="U0ASKER", user_name="山田 太郎", question=question,
            reply="見つかりませんでした。", draft=f"件名：「{question}」について（照会）", sources=(),
            abstained=True, created=now,
        ))
        offer = store.offer(f"a{n}")
        assert offer is not None
        inquiry, _ = store.open(offer, text=offer.draft, dest_platform="slack", dest_channel="C0HOUMU",
                                now=now - timedelta(hours=3 * n))
        store.posted(inquiry, message=f"9{n}.0", link=f"https://x.slack.com/archives/C0HOUMU/p9{n}0",
                     now=now - timedelta(hours=3 * n))
    store.capture(1, platform="slack", channel="C0HOUMU", message="91.5", kind=ANSWER, user="U0HOUMU",
                  user_name="法務 一郎", text="本人の申出により旧姓を使用して差し支えありません。",
                  link="https://x.slack.com/archives/C0HOUMU/p915", now=now - timedelta(hours=1))
    db.close()
    return path


def test_kairan_inquiry_list_and_show(manifest_file: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["inquiry", "list", "--manifest", str(manifest_file)])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["番号", "テナント", "状態", "経過", "送り先", "質問"]
    assert lines[1].split()[:5] == ["照会#2", "testcity", "回答待ち", "6時間0分", "法務担当"]
    assert lines[2].split()[:5] == ["照会#1", "testcity", "回答済み", "2時間0分", "法務担当"]  # to the answer
    options = ["--state", "open", "--json", "--manifest", str(manifest_file)]
    waiting = runner.invoke(cli, ["inquiry", "list", *options])
    [only] = [json.loads(line) for line in waiting.stdout.splitlines()]
    assert (only["number"], only["state_label"], only["question"]) == ("照会#2", "回答待ち", CAR)

    shown = runner.invoke(cli, ["inquiry", "show", "照会#1", "--manifest", str(manifest_file)])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("照会#1  回答済み（answered）  テナント testcity\n")
    assert "送り先: 法務担当  https://x.slack.com/archives/C0HOUMU/p910" in shown.stdout
    assert "現在の回答（第1版、法務 一郎、" in shown.stdout
    assert "旧姓を使用して差し支えありません" in shown.stdout
    assert runner.invoke(cli, ["inquiry", "show", "99", "--manifest", str(manifest_file)]).exit_code == 1
    assert runner.invoke(cli, ["inquiry", "show", "abc", "--manifest", str(manifest_file)]).exit_code == 2


@pytest.fixture
def services(manifest_file: Path) -> Iterator[Services]:
    from manifest.loader import load_manifest

    manifest: Manifest = load_manifest(manifest_file)
    built = build_services(KnowledgeConfig(manifest=manifest, data_dir=manifest.data_dir), environ=ENV)
    yield built
    built.db.close()


async def test_the_console_lists_its_tenants_inquiries_with_their_age(services: Services) -> None:
    app = build_app(services, host="127.0.0.1", environ={})
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        response = await client.get("/console/api/inquiries", headers=API)
        assert response.status == 200
        rows = (await response.json())["inquiries"]
        assert [(r["number"], r["state_label"], r["age"]) for r in rows] == [
            ("照会#2", "回答待ち", "6時間0分"), ("照会#1", "回答済み", "2時間0分")
        ]
        assert rows[1]["answer"] == "本人の申出により旧姓を使用して差し支えありません。"
        assert (await client.get("/console/api/inquiries")).status == 403  # no CSRF header
        metrics = await (await client.get("/metrics")).text()
        assert 'kairan_inquiries_open{tenant="testcity"} 1' in metrics
    finally:
        await client.close()
