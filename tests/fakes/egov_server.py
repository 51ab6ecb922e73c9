"""A local stand-in for the e-Gov 法令API Version 2 that serves real corpus files.

Usage::

    async with EgovMockServer(corpus_dir) as server:
        client = EgovClient(base_url=server.base_url)
        server.fail_next(429, times=1, retry_after=0.1)

It listens on 127.0.0.1 (random port) under ``/api/2`` and implements the subset of
the official OpenAPI spec (corpus ``api/lawapi-v2.yaml``) that kairan uses:

* ``GET /laws`` (JSON only): ``law_title`` / ``law_id`` / ``law_num`` partial match,
  ``limit``/``offset``/``next_offset``, ordered by law id like the real default order.
  Laws come from ``index/laws.json`` (8,945 real ids, numbers and titles).
* ``GET /law_data/{law_id|law_num|law_revision_id}`` (``response_format=xml`` only):
  for ``504CO0000000187`` the real API response file verbatim; for the laws in
  ``xml/`` (行政手続法, 航空法) the real standard XML ``<Law>`` wrapped in a
  ``law_data_response`` envelope (see ``_envelope``).
* ``GET /law_revisions/{law_id|law_num}`` (JSON only): the revisions the corpus holds.
* ``GET /law_file/{html|xml}/{law_id|law_revision_id}``: the real ``egov_html`` files
  and the real standard XML files.

What the corpus cannot tell is synthesised and marked as such below: the index has
no 法令分野分類 (``category`` is null), no kana, no promulgation date for laws without
an XML body, no ``updated`` timestamps (the enforcement date is used), and 404 bodies
are not specified by the spec (we use its ``error_info`` shape with code 404001, by
analogy with the spec's attachment example code 404003).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from lxml import etree

from tests.fakes.local_http import LocalServer

API_PREFIX = "/api/2"
REVISION_RE = re.compile(r"^(\d{3}[A-Z][0-9A-Z]{11})_(\d{8})_([0-9A-Z]{15})$")
NO_AMENDMENT = "0" * 15
ERA_BY_DIGIT = {"1": "Meiji", "2": "Taisho", "3": "Showa", "4": "Heisei", "5": "Reiwa"}
ERA_OFFSET = {"Meiji": 1867, "Taisho": 1911, "Showa": 1925, "Heisei": 1988, "Reiwa": 2018}
LAW_TYPE_BY_CODE = {
    "CONSTITUTION": "Constitution",
    "AC": "Act",
    "CO": "CabinetOrder",
    "IO": "ImperialOrder",
    "M": "MinisterialOrdinance",
    "R": "Rule",
}

# Error bodies: the 400/500 texts are the spec's own examples; 404 is synthesised (see module doc).
ERROR_BAD_DATE = ("400004", "日付（asof等）が誤っています。")
ERROR_SERVER = ("500001", "サーバ内処理で異常が発生しました。")
ERROR_NOT_FOUND = ("404001", "指定のパラメータで取得できる法令データは存在しません。")


def law_type_from_id(law_id: str) -> str:
    for code, law_type in LAW_TYPE_BY_CODE.items():
        if law_id[3:].startswith(code):
            return law_type
    return "Misc"


@dataclass(frozen=True)
class MockRevision:
    law_id: str
    revision_id: str
    enforcement_date: str  # ISO, from the revision id
    amendment_law_id: str | None
    xml_path: Path | None = None  # standard <Law> XML
    envelope_path: Path | None = None  # real law_data_response
    html_path: Path | None = None  # law_file/html output

    @property
    def has_body(self) -> bool:
        return self.xml_path is not None or self.envelope_path is not None


@dataclass
class MockCorpus:
    laws: list[dict[str, str]]  # index entries sorted by id
    by_id: dict[str, dict[str, str]]
    revisions: dict[str, list[MockRevision]]  # newest first
    real_envelopes: dict[str, tuple[dict[str, str | None], dict[str, str | None]]]  # revision id -> infos
    law_attrs: dict[str, dict[str, str]]  # revision id -> <Law>/<LawTitle> attributes

    @classmethod
    def load(cls, corpus_dir: Path) -> MockCorpus:
        return _load_corpus(corpus_dir.resolve())

    def find_law(self, key: str) -> dict[str, str] | None:
        if key in self.by_id:
            return self.by_id[key]
        return next((law for law in self.laws if law["lawNum"] == key), None)


@functools.cache
def _load_corpus(corpus_dir: Path) -> MockCorpus:
    index = json.loads((corpus_dir / "index" / "laws.json").read_bytes())
    laws = sorted(index["laws"], key=lambda law: law["id"])
    found: dict[str, dict[str, Path]] = {}
    for kind, pattern in (("xml", "xml/*.xml"), ("envelope", "xml/api_v2_law_data_response/*.xml")):
        for path in corpus_dir.glob(pattern):
            revision_id = path.stem
            if kind == "envelope":
                revision_id = etree.parse(str(path)).findtext("revision_info/law_revision_id") or ""
            found.setdefault(revision_id, {})[kind] = path
    for path in corpus_dir.glob("egov_html/*.html"):
        found.setdefault(path.stem, {})["html"] = path

    revisions: dict[str, list[MockRevision]] = {}
    real_envelopes: dict[str, tuple[dict[str, str | None], dict[str, str | None]]] = {}
    law_attrs: dict[str, dict[str, str]] = {}
    for revision_id, paths in found.items():
        match = REVISION_RE.match(revision_id)
        if not match:
            raise ValueError(f"corpus file name is not a law_revision_id: {revision_id} ({paths})")
        law_id, date, amendment = match.groups()
        revision = MockRevision(
            law_id=law_id,
            revision_id=revision_id,
            enforcement_date=f"{date[:4]}-{date[4:6]}-{date[6:]}",
            amendment_law_id=None if amendment == NO_AMENDMENT else amendment,
            xml_path=paths.get("xml"),
            envelope_path=paths.get("envelope"),
            html_path=paths.get("html"),
        )
        revisions.setdefault(law_id, []).append(revision)
        if revision.envelope_path is not None:
            root = etree.parse(str(revision.envelope_path)).getroot()
            real_envelopes[revision_id] = (
                _children(root.find("law_info")),
                _children(root.find("revision_info")),
            )
        if revision.xml_path is not None:
            root = etree.parse(str(revision.xml_path)).getroot()
            title = root.find("LawBody/LawTitle")
            law_attrs[revision_id] = {**root.attrib, **({} if title is None else title.attrib)}
    for items in revisions.values():
        items.sort(key=lambda r: (r.enforcement_date, r.revision_id), reverse=True)
    return MockCorpus(
        laws=laws,
        by_id={law["id"]: law for law in laws},
        revisions=revisions,
        real_envelopes=real_envelopes,
        law_attrs=law_attrs,
    )


def _children(element: etree._Element | None) -> dict[str, str | None]:
    if element is None:
        return {}
    return {child.tag: child.text for child in element if isinstance(child.tag, str)}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path_qs: str
    user_agent: str


@dataclass
class _Injected:
    status: int
    retry_after: str | None
    body: bytes | None
    content_type: str


@dataclass
class EgovMockServer(LocalServer):
    """Async context manager running the mock API; see the module docstring."""

    corpus_dir: Path
    chunked: bool = False  # serve 200 bodies without Content-Length (chunked encoding)
    requests: list[RecordedRequest] = field(default_factory=list, init=False)
    _injected: deque[_Injected] = field(default_factory=deque, init=False)

    def __post_init__(self) -> None:
        self.corpus = MockCorpus.load(Path(self.corpus_dir))

    # -------------------------------------------------------------- control

    @property
    def base_url(self) -> str:
        if not self._port:
            raise RuntimeError("EgovMockServer is not running; use 'async with'")
        return f"http://127.0.0.1:{self._port}{API_PREFIX}"

    @property
    def request_count(self) -> int:
        return len(self.requests)

    def fail_next(self, status: int, times: int = 1, retry_after: float | str | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (spec error_info body), then behave normally."""
        code, message = ERROR_SERVER if status >= 500 else (str(status * 1000), "mock injected failure")
        body = json.dumps({"code": code, "message": message}, ensure_ascii=False).encode()
        header = None if retry_after is None else str(retry_after)
        for _ in range(times):
            self._injected.append(_Injected(status, header, body, "application/json"))

    def serve_next(self, body: bytes, status: int = 200, content_type: str = "application/xml") -> None:
        """Answer the next request with exactly this body (e.g. a broken 200)."""
        self._injected.append(_Injected(status, None, body, content_type))

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get(f"{API_PREFIX}/laws", self._laws)
        app.router.add_get(f"{API_PREFIX}/law_data/{{key}}", self._law_data)
        app.router.add_get(f"{API_PREFIX}/law_revisions/{{key}}", self._law_revisions)
        app.router.add_get(f"{API_PREFIX}/law_file/{{file_type}}/{{key}}", self._law_file)
        return app

    # -------------------------------------------------------------- plumbing

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests.append(
            RecordedRequest(request.method, request.path_qs, request.headers.get("User-Agent", ""))
        )
        if self._injected:
            injected = self._injected.popleft()
            headers = {} if injected.retry_after is None else {"Retry-After": injected.retry_after}
            return web.Response(
                status=injected.status,
                body=injected.body,
                headers=headers,
                content_type=injected.content_type,
            )
        return await handler(request)

    async def _ok(self, request: web.Request, body: bytes, content_type: str) -> web.StreamResponse:
        if not self.chunked:
            return web.Response(body=body, content_type=content_type, charset="utf-8")
        response = web.StreamResponse()
        response.content_type = content_type
        response.charset = "utf-8"
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 1024):
            await response.write(body[start : start + 1024])
            await asyncio.sleep(0)
        await response.write_eof()
        return response

    @staticmethod
    def _error(status: int, error: tuple[str, str]) -> web.Response:
        code, message = error
        return web.json_response({"code": code, "message": message}, status=status)

    def _json(self, data: Any) -> web.Response:
        return web.json_response(data, dumps=lambda obj: json.dumps(obj, ensure_ascii=False))

    @staticmethod
    def _bad_date(value: str | None) -> bool:
        if value is None:
            return False
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return True
        return False

    @staticmethod
    def _json_only(request: web.Request) -> web.Response | None:
        fmt = request.query.get("response_format", "json")
        if fmt != "json":
            return EgovMockServer._error(
                400, ("400000", f"mock serves response_format=json only here, got {fmt}")
            )
        return None

    # -------------------------------------------------------------- metadata

    def _law_info(self, law: dict[str, str], revision: MockRevision | None) -> dict[str, Any]:
        if revision is not None and revision.revision_id in self.corpus.real_envelopes:
            return dict(self.corpus.real_envelopes[revision.revision_id][0])
        law_id = law["id"]
        attrs = self.corpus.law_attrs.get(revision.revision_id, {}) if revision else {}
        era = attrs.get("Era") or ERA_BY_DIGIT.get(law_id[0])
        year = int(attrs.get("Year") or law_id[1:3])
        promulgation = None
        if era in ERA_OFFSET and attrs.get("PromulgateMonth") and attrs.get("PromulgateDay"):
            promulgation = f"{ERA_OFFSET[era] + year:04d}-{attrs['PromulgateMonth']}-{attrs['PromulgateDay']}"
        number = law_id[-10:]
        return {
            "law_type": law_type_from_id(law_id),
            "law_id": law_id,
            "law_num": law["lawNum"],
            "law_num_era": era,
            "law_num_year": year,
            "law_num_type": law_type_from_id(law_id),
            "law_num_num": f"{int(number):03d}" if number.isdigit() else None,
            "promulgation_date": promulgation,  # only known from the XML body (synthesised)
        }

    def _revision_info(self, law: dict[str, str], revision: MockRevision | None) -> dict[str, Any]:
        if revision is not None and revision.revision_id in self.corpus.real_envelopes:
            return dict(self.corpus.real_envelopes[revision.revision_id][1])
        law_id = law["id"]
        attrs = self.corpus.law_attrs.get(revision.revision_id, {}) if revision else {}
        newest = self.corpus.revisions.get(law_id, [None])[0]
        # Synthesised from the file name and the index; null where the corpus cannot know.
        return {
            "law_revision_id": revision.revision_id if revision else None,
            "law_type": law_type_from_id(law_id),
            "law_title": law["title"],
            "law_title_kana": attrs.get("Kana") or None,
            "abbrev": attrs.get("Abbrev") or None,
            "category": None,
            "updated": f"{revision.enforcement_date}T00:00:00+09:00" if revision else None,
            "amendment_promulgate_date": None,
            "amendment_enforcement_date": revision.enforcement_date if revision else None,
            "amendment_enforcement_comment": None,
            "amendment_scheduled_enforcement_date": None,
            "amendment_law_id": revision.amendment_law_id if revision else None,
            "amendment_law_title": None,
            "amendment_law_title_kana": None,
            "amendment_law_num": None,
            "amendment_type": None
            if revision is None
            else ("1" if revision.amendment_law_id is None else "3"),
            "repeal_status": None,
            "repeal_date": None,
            "remain_in_force": None,
            "mission": "New" if revision else None,
            "current_revision_status": None
            if revision is None
            else ("CurrentEnforced" if revision is newest else "PreviousEnforced"),
        }

    def _listed_revision(self, law_id: str) -> MockRevision | None:
        """The revision /laws reports: the one /law_data serves, else the newest the corpus knows."""
        revisions = self.corpus.revisions.get(law_id, [])
        with_body = [r for r in revisions if r.has_body]
        listed = with_body or revisions
        return listed[0] if listed else None

    # -------------------------------------------------------------- handlers

    async def _laws(self, request: web.Request) -> web.Response:
        if (error := self._json_only(request)) is not None:
            return error
        query = request.query
        if self._bad_date(query.get("asof")):
            return self._error(400, ERROR_BAD_DATE)
        try:
            limit = int(query.get("limit", "100"))
            offset = int(query.get("offset", "0"))
        except ValueError:
            return self._error(400, ("400000", "limit/offset must be integers"))
        matches = [
            law
            for law in self.corpus.laws
            if query.get("law_title", "") in law["title"]
            and query.get("law_id", "") in law["id"]
            and query.get("law_num", "") in law["lawNum"]
        ]
        page = matches[offset : offset + limit]
        items = []
        for law in page:
            revision = self._listed_revision(law["id"])
            revision_info = self._revision_info(law, revision)
            item = {"law_info": self._law_info(law, revision), "revision_info": revision_info}
            if query.get("omit_current_revision_info") != "true":
                item["current_revision_info"] = revision_info
            items.append(item)
        next_offset = offset + len(page) if offset + len(page) < len(matches) else None
        return self._json(
            {"total_count": len(matches), "count": len(page), "next_offset": next_offset, "laws": items}
        )

    async def _law_data(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        query = request.query
        if query.get("response_format") != "xml" or query.get("law_full_text_format", "xml") != "xml":
            return self._error(400, ("400000", "mock serves law_data with response_format=xml only"))
        if self._bad_date(query.get("asof")):
            return self._error(400, ERROR_BAD_DATE)
        revision = self._find_revision(key, asof=query.get("asof"), need=lambda r: r.has_body)
        if revision is None:
            return self._error(404, ERROR_NOT_FOUND)
        if revision.envelope_path is not None:
            return await self._ok(request, revision.envelope_path.read_bytes(), "application/xml")
        return await self._ok(request, self._envelope(revision), "application/xml")

    async def _law_revisions(self, request: web.Request) -> web.Response:
        if (error := self._json_only(request)) is not None:
            return error
        query = request.query
        for name in ("updated_from", "updated_to"):
            if self._bad_date(query.get(name)):
                return self._error(400, ERROR_BAD_DATE)
        law = self.corpus.find_law(request.match_info["key"])
        if law is None:
            return self._error(404, ERROR_NOT_FOUND)
        revisions = []
        for revision in self.corpus.revisions.get(law["id"], []):
            info = self._revision_info(law, revision)
            updated = (info.get("updated") or "")[:10]
            if query.get("updated_from") and updated < query["updated_from"]:
                continue
            if query.get("updated_to") and updated > query["updated_to"]:
                continue
            revisions.append(info)
        return self._json(
            {"law_info": self._law_info(law, self._listed_revision(law["id"])), "revisions": revisions}
        )

    async def _law_file(self, request: web.Request) -> web.StreamResponse:
        file_type = request.match_info["file_type"]
        if file_type not in ("xml", "json", "html", "rtf", "docx"):
            return self._error(400, ("400000", f"file_type {file_type} is not one of xml/json/html/rtf/docx"))
        if file_type not in ("html", "xml"):
            return self._error(404, ("404001", f"mock corpus has no {file_type} files"))
        attr = "html_path" if file_type == "html" else "xml_path"
        revision = self._find_revision(
            request.match_info["key"],
            asof=request.query.get("asof"),
            need=lambda r: getattr(r, attr) is not None,
        )
        if revision is None:
            return self._error(404, ERROR_NOT_FOUND)
        path: Path = getattr(revision, attr)
        return await self._ok(
            request, path.read_bytes(), "text/html" if file_type == "html" else "application/xml"
        )

    def _find_revision(
        self, key: str, *, asof: str | None, need: Callable[[MockRevision], bool]
    ) -> MockRevision | None:
        match = REVISION_RE.match(key)
        if match:
            candidates = self.corpus.revisions.get(match.group(1), [])
            return next((r for r in candidates if r.revision_id == key and need(r)), None)
        law = self.corpus.find_law(key)
        if law is None:
            return None
        for revision in self.corpus.revisions.get(law["id"], []):
            if need(revision) and (asof is None or revision.enforcement_date <= asof):
                return revision
        return None

    def _envelope(self, revision: MockRevision) -> bytes:
        """law_data_response around a real standard-XML <Law>.

        SYNTHESISED: the envelope (law_info / revision_info / attached_files_info) is
        built per the spec's law_data_response schema from the file name and the index;
        the <Law> element inside <law_full_text> is the corpus file byte for byte.
        """
        assert revision.xml_path is not None
        law = self.corpus.by_id[revision.law_id]
        root = etree.Element("law_data_response")
        etree.SubElement(root, "attached_files_info")
        for tag, info in (
            ("law_info", self._law_info(law, revision)),
            ("revision_info", self._revision_info(law, revision)),
        ):
            parent = etree.SubElement(root, tag)
            for name, value in info.items():
                child = etree.SubElement(parent, name)
                if value is not None:
                    child.text = str(value).lower() if isinstance(value, bool) else str(value)
        head = etree.tostring(root, encoding="unicode").removesuffix("</law_data_response>")
        body = re.sub(rb"^\s*<\?xml[^>]*\?>\s*", b"", revision.xml_path.read_bytes())
        return (
            head.encode("utf-8")
            + b"<law_full_text>"
            + body.rstrip()
            + b"</law_full_text></law_data_response>"
        )
