"""EgovClient against the local e-Gov API v2 mock over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from knowledge.egov_client import (
    AmbiguousLaw,
    EgovApiError,
    EgovBadResponse,
    EgovClient,
    EgovConnectionError,
    EgovError,
    EgovRateLimited,
    EgovResponseTooLarge,
    EgovServerError,
    LawNotFound,
    is_law_id,
    is_revision_id,
    parse_retry_after,
)
from tests.fakes.egov_server import EgovMockServer

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
ENVELOPE_504CO = SHARED / "xml" / "api_v2_law_data_response" / "504CO0000000187.xml"
GYOSEI_TETSUZUKI_XML = SHARED / "xml" / "405AC0000000088_20240401_504AC0100000052.xml"
KOKU_XML = SHARED / "xml" / "327AC0000000231_20240401_505AC0000000063.xml"


@pytest.fixture
async def server() -> AsyncIterator[EgovMockServer]:
    async with EgovMockServer(SHARED) as srv:
        yield srv


@pytest.fixture
async def client(server: EgovMockServer) -> AsyncIterator[EgovClient]:
    async with EgovClient(base_url=server.base_url, user_agent="kairan-test/1", backoff_s=0.001) as c:
        yield c


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ pure helpers


def test_law_id_pattern_accepts_every_indexed_id_and_rejects_titles() -> None:
    ids = [law["id"] for law in json.loads((SHARED / "index" / "laws.json").read_bytes())["laws"]]
    assert len(ids) == 8945
    assert all(is_law_id(law_id) for law_id in ids)
    assert not is_law_id("地方自治法")
    assert not is_law_id("322AC000000006")  # one digit short
    assert is_revision_id("405AC0000000088_20240926_506AC0000000065")
    assert not is_revision_id("405AC0000000088")


def test_parse_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("0.1") == pytest.approx(0.1)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# ------------------------------------------------------------------ mock speaks the spec


async def test_mock_laws_response_has_spec_shape(server: EgovMockServer) -> None:
    titles = [law["title"] for law in json.loads((SHARED / "index" / "laws.json").read_bytes())["laws"]]
    expected_total = sum("地方自治法" in title for title in titles)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{server.base_url}/laws", params={"law_title": "地方自治法", "limit": "2"}) as resp,
    ):
        assert resp.status == 200
        data = await resp.json()
    assert set(data) == {"total_count", "count", "next_offset", "laws"}
    assert data["total_count"] == expected_total == 11
    assert data["count"] == 2
    assert data["next_offset"] == 2
    first = data["laws"][0]
    assert set(first) == {"law_info", "revision_info", "current_revision_info"}
    assert first["law_info"]["law_id"] == "322AC0000000067"
    assert first["law_info"]["law_num"] == "昭和二十二年法律第六十七号"
    assert first["revision_info"]["law_revision_id"] == "322AC0000000067_20250601_504AC0000000068"


# ------------------------------------------------------------------ search / resolve


async def test_search_laws_returns_all_partial_matches_by_law_id(client: EgovClient) -> None:
    laws = await client.search_laws("行政手続法")
    assert [law.law_id for law in laws] == ["405AC0000000088", "406CO0000000265", "507M60000008103"]
    act = laws[0]
    assert act.title == "行政手続法"
    assert act.law_num == "平成五年法律第八十八号"
    assert act.law_type == "Act"
    assert act.revision_id == "405AC0000000088_20240401_504AC0100000052"
    assert act.promulgation_date == "1993-11-12"
    assert act.abbrev == ("行手法",)
    assert laws[1].law_type == "CabinetOrder"
    assert laws[2].law_type == "MinisterialOrdinance"


async def test_search_laws_follows_next_offset(client: EgovClient, server: EgovMockServer) -> None:
    laws = await client.search_laws("地方自治法", page_size=4)
    assert len(laws) == 11
    assert len({law.law_id for law in laws}) == 11
    assert all("地方自治法" in law.title for law in laws)
    assert server.request_count == 3  # offsets 0, 4, 8
    assert "offset=8" in server.requests[-1].path_qs


async def test_resolve_by_id(client: EgovClient, server: EgovMockServer) -> None:
    law = await client.resolve("322AC0000000067")
    assert (law.law_id, law.title, law.law_num) == (
        "322AC0000000067",
        "地方自治法",
        "昭和二十二年法律第六十七号",
    )
    assert law.revision_id == "322AC0000000067_20250601_504AC0000000068"
    assert "law_id=322AC0000000067" in server.requests[0].path_qs
    assert server.requests[0].user_agent == "kairan-test/1"
    constitution = await client.resolve("321constitution")
    assert constitution.title == "日本国憲法"


async def test_resolve_by_title_prefers_exact_match(client: EgovClient) -> None:
    chiho = await client.resolve("地方自治法")  # 11 partial matches, 1 exact
    assert chiho.law_id == "322AC0000000067"
    gyosei = await client.resolve(" 行政手続法 ")
    assert gyosei.law_id == "405AC0000000088"


async def test_resolve_by_law_number(client: EgovClient) -> None:
    law = await client.resolve("平成五年法律第八十八号")
    assert law.law_id == "405AC0000000088"


async def test_resolve_ambiguous_title_lists_candidates(client: EgovClient) -> None:
    with pytest.raises(AmbiguousLaw) as info:
        await client.resolve("日本学術会議法")
    assert sorted(law.law_id for law in info.value.candidates) == ["323AC0000000121", "507AC0000000070"]
    assert "323AC0000000121" in str(info.value) and "507AC0000000070" in str(info.value)


async def test_resolve_without_exact_title_lists_partial_matches(client: EgovClient) -> None:
    with pytest.raises(LawNotFound) as info:
        await client.resolve("行政手続")
    ids = [law.law_id for law in info.value.candidates]
    assert "405AC0000000088" in ids
    assert len(ids) == 20
    assert "行政手続法 (平成五年法律第八十八号, 405AC0000000088)" in str(info.value)


async def test_resolve_nonexistent_title_and_id(client: EgovClient) -> None:
    with pytest.raises(LawNotFound) as info:
        await client.resolve("存在しない架空の法律")
    assert info.value.candidates == ()
    assert "存在しない架空の法律" in str(info.value)
    with pytest.raises(LawNotFound) as by_id:
        await client.resolve("999AC0000000999")
    assert by_id.value.query == "999AC0000000999"


# ------------------------------------------------------------------ law_data / revisions / files


async def test_fetch_law_data_returns_real_response_bytes(client: EgovClient, server: EgovMockServer) -> None:
    law = await client.fetch_law_data("504CO0000000187")
    assert law.sha256 == _sha(ENVELOPE_504CO)
    assert law.raw == ENVELOPE_504CO.read_bytes()
    assert (law.law_id, law.law_num, law.law_type) == (
        "504CO0000000187",
        "令和四年政令第百八十七号",
        "CabinetOrder",
    )
    assert law.promulgation_date == "2022-05-02"
    assert law.title == "借地借家法施行令"
    rev = law.revision
    assert rev.law_revision_id == "504CO0000000187_20220518_000000000000000"
    assert rev.category == "民事"
    assert rev.updated == "2024-07-21T15:23:20+09:00"
    assert rev.amendment_enforcement_date == "2022-05-18"
    assert rev.amendment_law_id is None
    assert (rev.amendment_type, rev.mission, rev.repeal_status) == ("1", "New", "None")
    assert rev.current_revision_status == "CurrentEnforced"
    assert rev.abbrev == ()
    assert not rev.is_repealed
    path_qs = server.requests[0].path_qs
    assert path_qs.startswith("/api/2/law_data/504CO0000000187?")
    assert "response_format=xml" in path_qs
    assert law.url.endswith(path_qs)


async def test_fetch_law_data_keeps_the_real_law_body_verbatim(client: EgovClient) -> None:
    law = await client.fetch_law_data("405AC0000000088")
    corpus_body = re.sub(rb"^<\?xml[^>]*\?>\s*", b"", GYOSEI_TETSUZUKI_XML.read_bytes()).rstrip()
    assert law.raw.startswith(b"<law_data_response>")
    assert corpus_body in law.raw
    assert law.revision_id == "405AC0000000088_20240401_504AC0100000052"
    assert law.revision.amendment_law_id == "504AC0100000052"
    assert law.revision.abbrev == ("行手法",)
    assert law.promulgation_date == "1993-11-12"


async def test_fetch_law_data_by_revision_id(client: EgovClient) -> None:
    law = await client.fetch_law_data("327AC0000000231_20240401_505AC0000000063")
    assert law.title == "航空法"
    assert law.law_num == "昭和二十七年法律第二百三十一号"
    assert law.promulgation_date == "1952-07-15"
    assert len(law.raw) > KOKU_XML.stat().st_size - 100


async def test_fetch_law_data_unknown_id_is_law_not_found_without_retry(
    client: EgovClient, server: EgovMockServer
) -> None:
    with pytest.raises(LawNotFound) as info:
        await client.fetch_law_data("999AC0000000999")
    err = info.value
    assert err.status == 404
    assert err.query == "999AC0000000999"
    assert "999AC0000000999" in str(err) and "HTTP 404" in str(err)
    assert f"{server.base_url}/law_data/999AC0000000999" in str(err)
    assert "法令データは存在しません" in str(err)
    assert server.request_count == 1


async def test_bad_request_surfaces_the_api_error_message(client: EgovClient, server: EgovMockServer) -> None:
    with pytest.raises(EgovApiError) as info:
        await client.fetch_law_data("405AC0000000088", asof="2024-13-45")
    err = info.value
    assert type(err) is EgovApiError
    assert (err.status, err.code, err.api_message) == (400, "400004", "日付（asof等）が誤っています。")
    assert (
        "HTTP 400" in str(err)
        and "日付（asof等）が誤っています。" in str(err)
        and "asof=2024-13-45" in str(err)
    )
    assert server.request_count == 1


async def test_fetch_law_revisions_newest_first_and_updated_from(client: EgovClient) -> None:
    revisions = await client.fetch_law_revisions("405AC0000000088")
    assert [r.law_revision_id for r in revisions] == [
        "405AC0000000088_20240926_506AC0000000065",
        "405AC0000000088_20240401_504AC0100000052",
    ]
    assert revisions[0].current_revision_status == "CurrentEnforced"
    recent = await client.fetch_law_revisions("405AC0000000088", updated_from="2024-06-01")
    assert [r.law_revision_id for r in recent] == ["405AC0000000088_20240926_506AC0000000065"]
    with pytest.raises(LawNotFound):
        await client.fetch_law_revisions("999AC0000000999")


async def test_fetch_law_file_html_is_the_real_file(client: EgovClient) -> None:
    path = SHARED / "egov_html" / "405AC0000000088_20240926_506AC0000000065.html"
    body = await client.fetch_law_file("405AC0000000088_20240926_506AC0000000065", "html")
    assert hashlib.sha256(body).hexdigest() == _sha(path)
    with pytest.raises(EgovError, match="unsupported e-Gov file_type 'pdf'"):
        await client.fetch_law_file("405AC0000000088", "pdf")


# ------------------------------------------------------------------ retries and limits


async def test_429_waits_for_retry_after_then_succeeds(server: EgovMockServer) -> None:
    server.fail_next(429, times=1, retry_after=0.2)
    async with EgovClient(base_url=server.base_url, backoff_s=0.001) as client:
        started = time.monotonic()
        law = await client.fetch_law_data("504CO0000000187")
        elapsed = time.monotonic() - started
    assert law.sha256 == _sha(ENVELOPE_504CO)
    assert server.request_count == 2
    assert elapsed >= 0.2


async def test_429_beyond_retries_raises_rate_limited(server: EgovMockServer) -> None:
    server.fail_next(429, times=3, retry_after=0.01)
    async with EgovClient(base_url=server.base_url, retries=2, backoff_s=0.001) as client:
        with pytest.raises(EgovRateLimited) as info:
            await client.fetch_law_data("504CO0000000187")
    assert info.value.status == 429
    assert "after 3 attempt(s)" in str(info.value)
    assert server.request_count == 3


async def test_retry_after_longer_than_allowed_fails_fast(server: EgovMockServer) -> None:
    server.fail_next(429, times=1, retry_after=3600)
    async with EgovClient(base_url=server.base_url, max_retry_after_s=60) as client:
        with pytest.raises(EgovRateLimited, match="Retry-After was 3600 s"):
            await client.fetch_law_data("504CO0000000187")
    assert server.request_count == 1


async def test_5xx_is_retried_until_success(server: EgovMockServer) -> None:
    server.fail_next(500, times=3)
    async with EgovClient(base_url=server.base_url, retries=3, backoff_s=0.001) as client:
        law = await client.fetch_law_data("504CO0000000187")
    assert law.law_id == "504CO0000000187"
    assert server.request_count == 4


async def test_5xx_three_times_exhausts_retries(server: EgovMockServer) -> None:
    server.fail_next(500, times=3)
    async with EgovClient(base_url=server.base_url, retries=2, backoff_s=0.001) as client:
        with pytest.raises(EgovServerError) as info:
            await client.fetch_law_data("504CO0000000187")
    err = info.value
    assert isinstance(err, EgovError)
    assert (err.status, err.code) == (500, "500001")
    assert "HTTP 500" in str(err) and "after 3 attempt(s)" in str(err)
    assert "サーバ内処理で異常が発生しました。" in str(err)
    assert f"{server.base_url}/law_data/504CO0000000187" in str(err)
    assert server.request_count == 3


async def test_backoff_doubles_between_attempts(server: EgovMockServer) -> None:
    server.fail_next(503, times=3)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async with EgovClient(base_url=server.base_url, retries=3, backoff_s=0.5, sleep=record) as client:
        await client.fetch_law_data("504CO0000000187")
    assert waits == [0.5, 1.0, 2.0]


@pytest.mark.parametrize("chunked", [False, True])
async def test_oversize_body_is_rejected(server: EgovMockServer, chunked: bool) -> None:
    server.chunked = chunked  # True: no Content-Length, the cap must hold while streaming
    async with EgovClient(base_url=server.base_url, max_bytes=1000) as client:
        with pytest.raises(EgovResponseTooLarge, match="1000-byte limit") as info:
            await client.fetch_law_data("504CO0000000187")
    assert "law_data/504CO0000000187" in str(info.value)
    assert server.request_count == 1


async def test_chunked_body_within_limit_is_complete(server: EgovMockServer) -> None:
    server.chunked = True
    async with EgovClient(base_url=server.base_url) as client:
        law = await client.fetch_law_data("327AC0000000231")
    assert law.revision_id == "327AC0000000231_20240401_505AC0000000063"
    assert law.raw.count(b"<Article ") == KOKU_XML.read_bytes().count(b"<Article ") > 100


async def test_garbage_200_body_is_bad_response(server: EgovMockServer, client: EgovClient) -> None:
    server.serve_next(b"<html><body>maintenance</body></html>", content_type="text/html")
    with pytest.raises(EgovBadResponse, match="expected <law_data_response>"):
        await client.fetch_law_data("504CO0000000187")
    server.serve_next(b"not json", content_type="application/json")
    with pytest.raises(EgovBadResponse, match="not valid JSON"):
        await client.search_laws("地方自治法")


async def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async with EgovClient(
        base_url=f"http://127.0.0.1:{port}/api/2", retries=2, backoff_s=0.1, sleep=record
    ) as c:
        with pytest.raises(EgovConnectionError, match=r"after 3 attempt\(s\)") as info:
            await c.fetch_law_data("504CO0000000187")
    assert f"127.0.0.1:{port}/api/2/law_data/504CO0000000187" in str(info.value)
    assert waits == [0.1, 0.2]


# ------------------------------------------------------------------ session ownership


async def test_owned_session_is_closed_and_external_one_is_not(server: EgovMockServer) -> None:
    client = EgovClient(base_url=server.base_url)
    async with client:
        await client.resolve("322AC0000000067")
        owned = client._session
        assert owned is not None and not owned.closed
    assert owned.closed

    async with aiohttp.ClientSession() as session:
        async with EgovClient(base_url=server.base_url, session=session) as shared:
            await shared.resolve("322AC0000000067")
        assert not session.closed
