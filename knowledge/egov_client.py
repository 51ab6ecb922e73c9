"""Async client for the e-Gov 法令API Version 2 (https://laws.e-gov.go.jp/api/2).

Only what ingest and digests need: search laws by title, resolve a title or id
to one law, fetch a law's full text as the API's XML envelope
(``law_data_response``), list a law's revisions and download a rendered file.
The client does not parse law bodies: ``FetchedLaw.raw`` is the response body
byte for byte, for ``knowledge/parsers/egov_xml.py``; only the metadata in
``<law_info>`` / ``<revision_info>`` is read here.

Every failure is an ``EgovError`` whose message names the URL, the HTTP status
and, when the API sent one, its own (Japanese) error message, so that an
administrator can tell a typo in a law id from an outage.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import aiohttp
from lxml import etree
from yarl import URL

DEFAULT_BASE_URL = "https://laws.e-gov.go.jp/api/2"
DEFAULT_USER_AGENT = "kairan/0.1 (e-Gov law API client)"
MAX_BODY_BYTES = 50 * 1024 * 1024
MAX_ERROR_BODY_BYTES = 64 * 1024
FILE_TYPES = ("xml", "json", "html", "rtf", "docx")

# Every e-Gov law id is 15 characters: era+year digits, a type code and a number
# (322AC0000000067, 322CO0000000016, 507M60000008103, 321CONSTITUTION).
LAW_ID_RE = re.compile(r"^\d{3}[A-Z][0-9A-Z]{11}$")
# law_revision_id = {law_id}_{enforcement yyyymmdd}_{amending law id or 15 zeros}
REVISION_ID_RE = re.compile(r"^(\d{3}[A-Z][0-9A-Z]{11})_(\d{8})_([0-9A-Z]{15})$")
# 法令番号 such as 昭和二十二年法律第六十七号, 令和四年政令第百八十七号, 昭和二十一年憲法
LAW_NUM_RE = re.compile(r"^(明治|大正|昭和|平成|令和)[元〇一二三四五六七八九十百]+年\S+$")
REPEALED_STATUSES = frozenset({"Repeal", "Expire", "LossOfEffectiveness"})

Sleep = Callable[[float], Awaitable[None]]


# --------------------------------------------------------------------------- errors


class EgovError(Exception):
    """Base of every error this client raises; ``url`` and ``status`` when known."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class EgovConnectionError(EgovError):
    """The API could not be reached (DNS, refused connection, timeout) even after retries."""


class EgovApiError(EgovError):
    """The API answered with an error status; ``code``/``api_message`` come from its error_info body."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        code: str | None = None,
        api_message: str | None = None,
    ) -> None:
        super().__init__(message, url=url, status=status)
        self.code = code
        self.api_message = api_message


class EgovServerError(EgovApiError):
    """HTTP 5xx still returned after all retries."""


class EgovRateLimited(EgovApiError):
    """HTTP 429 still returned after all retries, or a Retry-After longer than we are willing to wait."""


class EgovResponseTooLarge(EgovError):
    """The response body exceeds the configured size cap."""


class EgovBadResponse(EgovError):
    """HTTP 200 but a body that is not the documented JSON/XML shape."""


class LawNotFound(EgovError):
    """No law matches the id, number or title; ``candidates`` lists near matches (may be empty)."""

    def __init__(
        self,
        message: str,
        *,
        query: str,
        candidates: Sequence[LawSummary] = (),
        url: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, url=url, status=status)
        self.query = query
        self.candidates = tuple(candidates)


class AmbiguousLaw(EgovError):
    """Several laws carry exactly this title; ``candidates`` lists them."""

    def __init__(self, message: str, *, query: str, candidates: Sequence[LawSummary]) -> None:
        super().__init__(message)
        self.query = query
        self.candidates = tuple(candidates)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class RevisionInfo:
    """One version of a law (the spec's ``revision_info``); empty/null fields are ``None``."""

    law_revision_id: str
    law_title: str
    law_type: str | None = None
    law_title_kana: str | None = None
    abbrev: tuple[str, ...] = ()
    category: str | None = None  # 法令分野分類 such as 地方自治, 民事
    updated: str | None = None
    amendment_promulgate_date: str | None = None
    amendment_enforcement_date: str | None = None
    amendment_scheduled_enforcement_date: str | None = None
    amendment_law_id: str | None = None
    amendment_law_title: str | None = None
    amendment_law_num: str | None = None
    amendment_type: str | None = None
    repeal_status: str | None = None
    repeal_date: str | None = None
    mission: str | None = None
    current_revision_status: str | None = None

    @property
    def is_repealed(self) -> bool:
        return self.repeal_status in REPEALED_STATUSES or self.amendment_type == "8"


@dataclass(frozen=True)
class LawSummary:
    """One hit of ``GET /laws``: the law and the revision the API considers current."""

    law_id: str
    law_num: str | None
    title: str
    law_type: str | None
    revision_id: str | None
    promulgation_date: str | None
    category: str | None
    abbrev: tuple[str, ...] = ()
    repeal_status: str | None = None

    @property
    def is_repealed(self) -> bool:
        return self.repeal_status in REPEALED_STATUSES

    def describe(self) -> str:
        return f"{self.title} ({self.law_num or '?'}, {self.law_id})"


@dataclass(frozen=True)
class FetchedLaw:
    """A ``law_data`` response: the raw XML body plus the metadata read from its envelope."""

    law_id: str
    law_num: str | None
    law_type: str | None
    promulgation_date: str | None
    revision: RevisionInfo
    raw: bytes
    url: str

    @property
    def title(self) -> str:
        return self.revision.law_title

    @property
    def revision_id(self) -> str:
        return self.revision.law_revision_id

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


# --------------------------------------------------------------------------- pure helpers


def is_law_id(value: str) -> bool:
    return bool(LAW_ID_RE.match(value))


def is_revision_id(value: str) -> bool:
    return bool(REVISION_ID_RE.match(value))


def is_law_num(value: str) -> bool:
    return bool(LAW_NUM_RE.match(value))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/invalid."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds)


def _scalar(value: object) -> str | None:
    """A JSON/XML field as text: null and blank become None, booleans their lowercase name."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    raise TypeError(f"expected a scalar, got {type(value).__name__}")


def _abbrevs(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def revision_from_mapping(data: Mapping[str, object], *, where: str) -> RevisionInfo:
    """Build a ``RevisionInfo`` from a spec ``revision_info`` object (JSON or XML children)."""
    try:
        fields = {key: _scalar(data.get(key)) for key in _REVISION_FIELDS}
    except TypeError as exc:
        raise EgovBadResponse(f"malformed revision_info in {where}: {exc}", url=where) from exc
    revision_id, title = fields.pop("law_revision_id"), fields.pop("law_title")
    if not revision_id or not title:
        raise EgovBadResponse(
            f"revision_info in {where} lacks law_revision_id or law_title: {dict(data)!r:.300}", url=where
        )
    abbrev = _abbrevs(fields.pop("abbrev"))
    return RevisionInfo(law_revision_id=revision_id, law_title=title, abbrev=abbrev, **fields)


_REVISION_FIELDS = (
    "law_revision_id",
    "law_title",
    "law_type",
    "law_title_kana",
    "abbrev",
    "category",
    "updated",
    "amendment_promulgate_date",
    "amendment_enforcement_date",
    "amendment_scheduled_enforcement_date",
    "amendment_law_id",
    "amendment_law_title",
    "amendment_law_num",
    "amendment_type",
    "repeal_status",
    "repeal_date",
    "mission",
    "current_revision_status",
)


def summary_from_mapping(item: Mapping[str, Any], *, where: str) -> LawSummary:
    """Build a ``LawSummary`` from one element of ``laws_response.laws``."""
    law_info = item.get("law_info")
    revision = item.get("revision_info") or item.get("current_revision_info") or {}
    if not isinstance(law_info, Mapping) or not isinstance(revision, Mapping):
        raise EgovBadResponse(f"laws entry in {where} lacks law_info/revision_info: {item!r:.300}", url=where)
    law_id = _scalar(law_info.get("law_id"))
    title = _scalar(revision.get("law_title"))
    if not law_id or not title:
        raise EgovBadResponse(f"laws entry in {where} lacks law_id or law_title: {item!r:.300}", url=where)
    return LawSummary(
        law_id=law_id,
        law_num=_scalar(law_info.get("law_num")),
        title=title,
        law_type=_scalar(law_info.get("law_type")) or _scalar(revision.get("law_type")),
        revision_id=_scalar(revision.get("law_revision_id")),
        promulgation_date=_scalar(law_info.get("promulgation_date")),
        category=_scalar(revision.get("category")),
        abbrev=_abbrevs(_scalar(revision.get("abbrev"))),
        repeal_status=_scalar(revision.get("repeal_status")),
    )


_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_comments=True)


def _children_text(element: etree._Element) -> dict[str, str | None]:
    return {child.tag: (child.text or None) for child in element if isinstance(child.tag, str)}


def parse_law_data_xml(raw: bytes, *, url: str) -> FetchedLaw:
    """Read the envelope metadata of a ``law_data_response`` XML body (the body itself stays raw)."""
    try:
        root = etree.fromstring(raw, _XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise EgovBadResponse(f"law_data response from {url} is not well-formed XML: {exc}", url=url) from exc
    if root.tag != "law_data_response":
        raise EgovBadResponse(
            f"law_data response from {url} has root <{root.tag}>, expected <law_data_response>", url=url
        )
    law_info = root.find("law_info")
    revision = root.find("revision_info")
    if law_info is None or revision is None:
        raise EgovBadResponse(f"law_data response from {url} lacks <law_info> or <revision_info>", url=url)
    if root.find("law_full_text/Law") is None:
        raise EgovBadResponse(f"law_data response from {url} has no <law_full_text><Law> body", url=url)
    info = _children_text(law_info)
    law_id = _scalar(info.get("law_id"))
    if not law_id:
        raise EgovBadResponse(f"law_data response from {url} has an empty <law_info><law_id>", url=url)
    return FetchedLaw(
        law_id=law_id,
        law_num=_scalar(info.get("law_num")),
        law_type=_scalar(info.get("law_type")),
        promulgation_date=_scalar(info.get("promulgation_date")),
        revision=revision_from_mapping(_children_text(revision), where=url),
        raw=raw,
        url=url,
    )


def _error_info(body: bytes) -> tuple[str | None, str | None]:
    """(code, message) from an error_info body in JSON or XML; (None, None) if neither."""
    text = body.strip()
    if not text:
        return None, None
    if text.startswith(b"{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None, None
        if isinstance(data, dict):
            return _scalar_or_none(data.get("code")), _scalar_or_none(data.get("message"))
        return None, None
    if text.startswith(b"<"):
        try:
            root = etree.fromstring(text, _XML_PARSER)
        except etree.XMLSyntaxError:
            return None, None
        return root.findtext("code"), root.findtext("message")
    return None, None


def _scalar_or_none(value: object) -> str | None:
    try:
        return _scalar(value)
    except TypeError:
        return None


# --------------------------------------------------------------------------- client


class EgovClient:
    """e-Gov 法令API v2 client. Use ``async with EgovClient(...) as client:``.

    ``timeout_s`` bounds connecting and each socket read (not the whole transfer, so a
    large law keeps downloading while bytes flow). ``retries`` is the number of extra
    attempts after the first one for connection errors, HTTP 429 and HTTP 5xx; the wait
    is ``backoff_s * 2**attempt`` (capped at ``max_backoff_s``) or the server's
    Retry-After. Bodies larger than ``max_bytes`` raise ``EgovResponseTooLarge``.
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 30,
        retries: int = 3,
        user_agent: str = DEFAULT_USER_AGENT,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_retry_after_s: float = 120.0,
        max_bytes: int = MAX_BODY_BYTES,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self._base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s)
        self._retries = retries
        self._user_agent = user_agent
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._max_retry_after_s = max_retry_after_s
        self._max_bytes = max_bytes
        self._sleep = sleep

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this client created it; a session passed in is left open."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # ----------------------------------------------------------------- public API

    async def search_laws(
        self, title: str, *, page_size: int = 100, max_results: int = 1000
    ) -> list[LawSummary]:
        """Laws whose title or abbreviation contains ``title`` (``GET /laws?law_title=``), by law id.

        Follows ``next_offset`` until the end or ``max_results`` hits.
        """
        laws, _total = await self._list_laws(
            {"law_title": title}, page_size=page_size, max_results=max_results
        )
        return laws

    async def resolve(self, law_id_or_title: str) -> LawSummary:
        """One law from a law id (322AC0000000067), a law number (昭和二十二年法律第六十七号) or a title.

        A title must match exactly (after NFKC); several exact matches that are not all
        repealed raise ``AmbiguousLaw``; no exact match raises ``LawNotFound`` listing
        the partial matches.
        """
        query = unicodedata.normalize("NFKC", law_id_or_title).strip()
        if not query:
            raise LawNotFound("empty law id or title given to resolve()", query=law_id_or_title)
        if is_law_id(query.upper()):
            law_id = query.upper()
            laws, _ = await self._list_laws({"law_id": law_id}, page_size=100, max_results=1000)
            exact = [law for law in laws if law.law_id == law_id]
            if not exact:
                raise LawNotFound(
                    f"e-Gov has no law with id {law_id} (searched {self._base_url}/laws?law_id={law_id}). "
                    "Check the id on https://laws.e-gov.go.jp/ .",
                    query=law_id,
                )
            return exact[0]
        if is_law_num(query):
            laws, _ = await self._list_laws({"law_num": query}, page_size=100, max_results=1000)
            return self._pick_exact(query, laws, key=lambda law: law.law_num or "", what="law number")
        laws, total = await self._list_laws({"law_title": query}, page_size=100, max_results=1000)
        return self._pick_exact(query, laws, key=lambda law: law.title, what="title", total=total)

    async def fetch_law_data(self, law_id_or_revision: str, *, asof: str | None = None) -> FetchedLaw:
        """Full text as the XML ``law_data_response``: latest, as of ``asof``, or one revision id."""
        key = law_id_or_revision.strip()
        params = {"response_format": "xml", "law_full_text_format": "xml"}
        if asof:
            params["asof"] = asof
        url = self._url("law_data", key)
        raw = await self._get(url, params, not_found=key)
        return parse_law_data_xml(raw, url=str(url.with_query(params)))

    async def fetch_law_revisions(self, law_id: str, updated_from: str | None = None) -> list[RevisionInfo]:
        """Revisions, newest first (``GET /law_revisions/{law_id}``); ``updated_from`` is YYYY-MM-DD."""
        key = law_id.strip()
        params = {"response_format": "json"}
        if updated_from:
            params["updated_from"] = updated_from
        url = self._url("law_revisions", key)
        shown = str(url.with_query(params))
        data = self._json(await self._get(url, params, not_found=key), url=shown)
        revisions = data.get("revisions")
        if not isinstance(revisions, list) or not isinstance(data.get("law_info"), Mapping):
            raise EgovBadResponse(
                f"law_revisions response from {shown} lacks law_info or revisions", url=shown
            )
        for item in revisions:
            if not isinstance(item, Mapping):
                raise EgovBadResponse(
                    f"law_revisions response from {shown} has a non-object revision", url=shown
                )
        return [revision_from_mapping(item, where=shown) for item in revisions]

    async def fetch_law_file(self, law_id_or_revision: str, file_type: str = "html") -> bytes:
        """A rendered law file (``GET /law_file/{file_type}/{id}``), returned as raw bytes."""
        if file_type not in FILE_TYPES:
            raise EgovError(
                f"unsupported e-Gov file_type {file_type!r}; expected one of {', '.join(FILE_TYPES)}"
            )
        key = law_id_or_revision.strip()
        return await self._get(self._url("law_file", file_type, key), {}, not_found=key)

    # ----------------------------------------------------------------- internals

    def _url(self, *segments: str) -> URL:
        path = "/".join(quote(segment, safe="") for segment in segments)
        return URL(f"{self._base_url}/{path}", encoded=True)

    def _pick_exact(
        self,
        query: str,
        laws: list[LawSummary],
        *,
        key: Callable[[LawSummary], str],
        what: str,
        total: int | None = None,
    ) -> LawSummary:
        exact = [law for law in laws if unicodedata.normalize("NFKC", key(law)) == query]
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:
            in_force = [law for law in exact if not law.is_repealed]
            if len(in_force) == 1:
                return in_force[0]
            listing = "; ".join(law.describe() for law in exact)
            raise AmbiguousLaw(
                f"{len(exact)} e-Gov laws have the {what} {query!r}: {listing}. Use the law id instead.",
                query=query,
                candidates=exact,
            )
        listing = "; ".join(law.describe() for law in laws[:10]) or "none"
        more = f" (showing 10 of {len(laws)})" if len(laws) > 10 else ""
        partial = ""
        if total is not None and total > len(laws):
            partial = f" Only the first {len(laws)} of {total} partial matches were checked."
        raise LawNotFound(
            f"no e-Gov law has exactly the {what} {query!r}.{partial} Partial matches{more}: {listing}. "
            "Use the exact title or the law id.",
            query=query,
            candidates=laws,
        )

    async def _list_laws(
        self, criteria: Mapping[str, str], *, page_size: int, max_results: int
    ) -> tuple[list[LawSummary], int]:
        url = self._url("laws")
        laws: list[LawSummary] = []
        offset = 0
        total = 0
        while len(laws) < max_results:
            params = {**criteria, "response_format": "json", "limit": str(page_size), "offset": str(offset)}
            shown = str(url.with_query(params))
            data = self._json(await self._get(url, params, not_found=None), url=shown)
            items = data.get("laws")
            if not isinstance(items, list):
                raise EgovBadResponse(f"laws response from {shown} has no 'laws' list", url=shown)
            for item in items:
                if not isinstance(item, Mapping):
                    raise EgovBadResponse(f"laws response from {shown} has a non-object entry", url=shown)
                laws.append(summary_from_mapping(item, where=shown))
            total_count = data.get("total_count")
            total = total_count if isinstance(total_count, int) else len(laws)
            next_offset = data.get("next_offset")
            if not items or not isinstance(next_offset, int) or next_offset <= offset:
                break
            offset = next_offset
        return laws[:max_results], total

    @staticmethod
    def _json(body: bytes, *, url: str) -> dict[str, Any]:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise EgovBadResponse(f"response from {url} is not valid JSON: {body[:200]!r}", url=url) from exc
        if not isinstance(data, dict):
            raise EgovBadResponse(f"response from {url} is JSON but not an object", url=url)
        return data

    async def _session_for_request(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    async def _get(self, url: URL, params: Mapping[str, str], *, not_found: str | None) -> bytes:
        """GET with retries; the body on 200, else the matching ``EgovError``."""
        full_url = url.with_query(params) if params else url
        shown = str(full_url)
        attempt = 0
        while True:
            try:
                status, retry_after, body = await self._attempt(full_url, shown)
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
                if attempt >= self._retries:
                    raise EgovConnectionError(
                        f"cannot reach the e-Gov API at {shown} after {attempt + 1} attempt(s): "
                        f"{type(exc).__name__}: {exc or 'timed out'}. Check network/proxy settings "
                        "(LGWAN hosts usually need a proxy) and the base URL.",
                        url=shown,
                    ) from exc
                await self._sleep(self._backoff(attempt))
                attempt += 1
                continue
            if status == 200:
                return body
            retryable = status == 429 or status >= 500
            if retryable and attempt < self._retries:
                wait = self._backoff(attempt)
                if status == 429 and retry_after is not None:
                    if retry_after > self._max_retry_after_s:
                        raise self._status_error(status, body, shown, not_found, attempt + 1, retry_after)
                    wait = retry_after
                await self._sleep(wait)
                attempt += 1
                continue
            raise self._status_error(status, body, shown, not_found, attempt + 1, retry_after)

    async def _attempt(self, url: URL, shown: str) -> tuple[int, float | None, bytes]:
        session = await self._session_for_request()
        headers = {
            "User-Agent": self._user_agent,
            "Accept": "application/json, application/xml;q=0.9, */*;q=0.5",
        }
        async with session.get(url, headers=headers, timeout=self._timeout, allow_redirects=True) as resp:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            if resp.status == 200:
                return resp.status, retry_after, await self._read_capped(resp, shown)
            return resp.status, retry_after, await self._read_error_body(resp)

    async def _read_capped(self, resp: aiohttp.ClientResponse, url: str) -> bytes:
        limit = self._max_bytes
        if resp.content_length is not None and resp.content_length > limit:
            raise EgovResponseTooLarge(
                f"response from {url} announces {resp.content_length} bytes, over the {limit}-byte limit "
                "(raise max_bytes if this law really is that large)",
                url=url,
                status=resp.status,
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise EgovResponseTooLarge(
                    f"response from {url} exceeded the {limit}-byte limit while downloading "
                    "(raise max_bytes if this law really is that large)",
                    url=url,
                    status=resp.status,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    async def _read_error_body(resp: aiohttp.ClientResponse) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(16 * 1024):
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_ERROR_BODY_BYTES:
                break
        return b"".join(chunks)[:MAX_ERROR_BODY_BYTES]

    def _backoff(self, attempt: int) -> float:
        return min(self._max_backoff_s, self._backoff_s * (2**attempt))

    def _status_error(
        self,
        status: int,
        body: bytes,
        url: str,
        not_found: str | None,
        attempts: int,
        retry_after: float | None,
    ) -> EgovError:
        code, api_message = _error_info(body)
        said = ""
        if api_message:
            said = f" The API says: {api_message}" + (f" (code {code})." if code else ".")
        tried = f" after {attempts} attempt(s)" if attempts > 1 else ""
        if status == 404:
            subject = f"law {not_found!r}" if not_found else "resource"
            return LawNotFound(
                f"e-Gov has no {subject}: HTTP 404 from GET {url}.{said} "
                "Check the law id / law_revision_id on https://laws.e-gov.go.jp/ .",
                query=not_found or url,
                url=url,
                status=status,
            )
        if status == 429:
            wait = f" Retry-After was {retry_after:g} s." if retry_after is not None else ""
            return EgovRateLimited(
                f"e-Gov API rate limit: HTTP 429 from GET {url}{tried}.{wait}{said} "
                "Wait a few minutes and run the job again, or fetch fewer laws at once.",
                url=url,
                status=status,
                code=code,
                api_message=api_message,
            )
        if status >= 500:
            return EgovServerError(
                f"e-Gov API server error: HTTP {status} from GET {url}{tried}.{said} "
                "e-Gov may be under maintenance (see https://laws.e-gov.go.jp/); try again later.",
                url=url,
                status=status,
                code=code,
                api_message=api_message,
            )
        return EgovApiError(
            f"e-Gov API rejected the request: HTTP {status} from GET {url}.{said} "
            "Check the parameters (law id, dates as YYYY-MM-DD).",
            url=url,
            status=status,
            code=code,
            api_message=api_message,
        )
