"""Dates of documents: only days that exist become an effective date."""

from __future__ import annotations

from knowledge.dates import checked_iso_date, iso_date
from knowledge.parsers import parse_bytes
from knowledge.parsers.egov_common import revision_from_name


def test_iso_dates_exist_or_are_empty() -> None:
    assert iso_date(2024, 2, 29) == "2024-02-29"
    assert iso_date(2025, 2, 29) == iso_date(2025, 13, 45) == ""
    assert checked_iso_date("2025-04-01") == "2025-04-01"
    assert checked_iso_date("2025-13-45") == checked_iso_date("2025-04-01T00:00") == ""


def test_a_notice_date_that_does_not_exist_is_not_its_effective_date() -> None:
    page = (
        "<html><head><title>事務連絡</title></head><body><h1>事務連絡</h1>"
        '<p style="text-align:right">令和7年13月45日</p><p>新しい様式を使用してください。</p></body></html>'
    ).encode()
    assert parse_bytes(page, "https://x.lg.jp/a.html").effective_date == ""
    revision = revision_from_name("405AC0000000088_20251345_506AC0000000065")
    assert revision is not None and revision.effective_date == ""
