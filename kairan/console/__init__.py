"""The browser console at /console: a Japanese chat page on the same answer engine as the chat adapters.

Access: open from this machine when the server is bound to localhost; otherwise only with
``Authorization: Bearer <KAIRAN_CONSOLE_TOKEN>`` (disabled when that variable is unset). The API
also requires the ``X-Kairan-Console: 1`` header, which a cross-site form cannot send (CSRF).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot import wording
from bot.models import Answer, ConversationRef, IncomingMessage
from bot.ports import Answerer
from kairan.answer_json import answer_json
from kairan.logging import CONSOLE_TOKEN_ENV
from manifest.schema import Manifest
from manifest.scope import Scope, scope_for

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
CSRF_HEADER = "X-Kairan-Console"
MAX_QUESTION_CHARS = 2000
MAX_THREAD_CHARS = 100
CONSOLE_PLATFORM = "console"
CONSOLE_CHANNEL = "console"

DISABLED_MESSAGE = (
    "コンソールはこのコンピュータ（localhost）からのみ利用できます。"
    f"ほかの場所から使うには、環境変数 {CONSOLE_TOKEN_ENV} にトークンを設定してください。"
)
TOKEN_MESSAGE = (
    "コンソールのトークンが正しくありません。Authorization: Bearer <トークン> を指定してください。"
)
NOT_CONFIGURED_MESSAGE = (
    "コンソールはどのテナントにも割り当てられていません。マニフェストの tenants[].channels に "
    "platform: console, id: console を追加するか、unlisted.tenant を設定してください。"
)
CSRF_MESSAGE = f"不正なリクエストです（{CSRF_HEADER} ヘッダーがありません）。"


def is_loopback_host(host: str) -> bool:
    """True for a bind address only this machine can reach (127.0.0.1, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ConsoleAccess:
    """Who may use the console: localhost callers of a localhost-bound server, or token holders."""

    local_only_bind: bool  # the server listens on a loopback address only
    token: str | None  # KAIRAN_CONSOLE_TOKEN; None: console off except from localhost

    @classmethod
    def for_bind(cls, host: str, environ: Mapping[str, str] = os.environ) -> ConsoleAccess:
        token = environ.get(CONSOLE_TOKEN_ENV, "").strip() or None
        return cls(local_only_bind=is_loopback_host(host), token=token)

    def is_local(self, request: web.Request) -> bool:
        if not self.local_only_bind or request.remote is None:
            return False
        try:
            return ipaddress.ip_address(request.remote).is_loopback
        except ValueError:
            return False

    def page_allowed(self, request: web.Request) -> bool:
        """The page and its static files hold no data: shown to anyone who could use the API."""
        return self.is_local(request) or self.token is not None

    def api_denial(self, request: web.Request) -> str | None:
        """None when the API call may proceed, else the Japanese reason for a 403."""
        if request.headers.get(CSRF_HEADER) != "1":
            return CSRF_MESSAGE
        if self.is_local(request):
            return None
        if self.token is None:
            return DISABLED_MESSAGE
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            return TOKEN_MESSAGE
        return None


def console_scope(manifest: Manifest) -> Scope | None:
    """The tenant and collections console questions are asked for: the manifest's ``console`` channel,
    else the rule for unlisted conversations (``manifest.scope``); None: the console may not answer."""
    return scope_for(manifest, CONSOLE_PLATFORM, [CONSOLE_CHANNEL])


class ConsoleError(ValueError):
    pass


def parse_question(body: Any) -> tuple[str, str | None]:
    """(question, thread) from the API's JSON body; ConsoleError says what is wrong."""
    if not isinstance(body, dict):
        raise ConsoleError('JSON オブジェクトを送ってください（{"question": "..."}）。')
    question = body.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ConsoleError("question（質問）を入力してください。")
    if len(question) > MAX_QUESTION_CHARS:
        raise ConsoleError(f"質問は {MAX_QUESTION_CHARS} 文字以内にしてください。")
    thread = body.get("thread")
    if thread is not None and (not isinstance(thread, str) or not 0 < len(thread) <= MAX_THREAD_CHARS):
        raise ConsoleError(f"thread は {MAX_THREAD_CHARS} 文字以内の文字列にしてください。")
    return question.strip(), thread


NOT_JSON_MESSAGE = "本文が JSON ではありません。"


async def read_json(request: web.Request) -> Any:
    """The request's JSON body; ConsoleError (a 400) for a body that is not UTF-8 JSON."""
    try:
        return json.loads((await request.read()).decode("utf-8"))
    except ValueError:  # json.JSONDecodeError and UnicodeDecodeError alike
        raise ConsoleError(NOT_JSON_MESSAGE) from None


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


DigestPreview = Callable[[str], Awaitable[tuple[str, int]]]  # subscription id → (Japanese text, item count)
InquiryList = Callable[[str], Awaitable[list[dict[str, Any]]]]  # tenant → its inquiries, newest first


class ConsoleHandlers:
    def __init__(
        self,
        *,
        engine: Answerer,
        access: ConsoleAccess,
        scope: Scope | None,
        errors: Any = None,
        digests: Sequence[str] = (),
        digest_preview: DigestPreview | None = None,
        inquiries: InquiryList | None = None,
    ) -> None:
        self.engine = engine
        self.access = access
        self.scope = scope
        self.errors = errors  # a kairan.metrics.Counter for errors by kind, when metrics are on
        self.digests = list(digests) if digest_preview is not None else []
        self.digest_preview = digest_preview
        self.inquiries = inquiries  # the 照会 loop's list (bot.inquiry.listing rows), when it runs

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/console", self.page),
            web.get("/console/", self.page),
            web.get("/console/static/{name}", self.static),
            web.post("/console/api/ask", self.ask),
            web.post("/console/api/stream", self.stream),
            web.get("/console/api/digests", self.digest_list),
            web.post("/console/api/digest-preview", self.digest_preview_handler),
            web.get("/console/api/inquiries", self.inquiry_list),
        ]

    async def inquiry_list(self, request: web.Request) -> web.Response:
        """The console tenant's inquiries, newest first, with their age (none without the 照会 loop)."""
        denial = self.access.api_denial(request)
        if denial is not None:
            return _json_error(403, denial)
        if self.inquiries is None or self.scope is None:
            return web.json_response({"inquiries": []}, dumps=_dumps)
        try:
            rows = await self.inquiries(self.scope.tenant)
        except Exception:
            log.exception("listing the inquiries failed")
            self._count_error()
            return _json_error(500, wording.APOLOGY)
        return web.json_response({"inquiries": rows}, dumps=_dumps)

    async def digest_list(self, request: web.Request) -> web.Response:
        denial = self.access.api_denial(request)
        if denial is not None:
            return _json_error(403, denial)
        return web.json_response({"subscriptions": self.digests}, dumps=_dumps)

    async def digest_preview_handler(self, request: web.Request) -> web.Response:
        """What a subscription's next digest would say; nothing is posted."""
        denial = self.access.api_denial(request)
        if denial is not None:
            return _json_error(403, denial)
        try:
            body = await read_json(request)
        except ConsoleError as exc:
            return _json_error(400, str(exc))
        subscription = body.get("subscription") if isinstance(body, dict) else None
        if self.digest_preview is None or subscription not in self.digests:
            return _json_error(404, "その購読は設定されていません。")
        try:
            text, count = await self.digest_preview(subscription)
        except Exception:
            log.exception("digest preview failed")
            self._count_error()
            return _json_error(500, wording.APOLOGY)
        return web.json_response({"subscription": subscription, "items": count, "text": text}, dumps=_dumps)

    async def page(self, request: web.Request) -> web.StreamResponse:
        if not self.access.page_allowed(request):
            return web.Response(status=403, text=DISABLED_MESSAGE)
        return web.FileResponse(STATIC_DIR / "index.html", headers=_SECURITY_HEADERS)

    async def static(self, request: web.Request) -> web.StreamResponse:
        if not self.access.page_allowed(request):
            return web.Response(status=403, text=DISABLED_MESSAGE)
        name = request.match_info["name"]
        if name not in _STATIC_FILES:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC_DIR / name, headers=_SECURITY_HEADERS)

    async def _message(self, request: web.Request) -> IncomingMessage | web.Response:
        denial = self.access.api_denial(request)
        if denial is not None:
            log.warning("console API refused from %s", request.remote)
            return _json_error(403, denial)
        try:
            question, thread = parse_question(await read_json(request))
        except ConsoleError as exc:
            return _json_error(400, str(exc))
        if self.scope is None:
            return _json_error(403, NOT_CONFIGURED_MESSAGE)
        log.info("console question received", extra={"chars": len(question), "thread_set": bool(thread)})
        log.debug("console question", extra={"question": question})
        return IncomingMessage(
            ref=ConversationRef(
                platform=CONSOLE_PLATFORM,
                tenant=self.scope.tenant,
                channel=CONSOLE_CHANNEL,
                thread=thread,
                message=uuid.uuid4().hex,
            ),
            user=f"console:{request.remote or 'unknown'}",
            text=question,
        )

    async def ask(self, request: web.Request) -> web.Response:
        message = await self._message(request)
        if isinstance(message, web.Response):
            return message
        try:
            answer = await self.engine.answer(message, collections=self._collections)
        except Exception:
            log.exception("console answer failed")
            self._count_error()
            return _json_error(500, wording.APOLOGY)
        return web.json_response(answer_json(answer), dumps=_dumps)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: ``delta`` (text pieces while an LLM writes), then ``answer`` or ``error``."""
        message = await self._message(request)
        if isinstance(message, web.Response):
            return message
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        try:
            async for event in self.engine.stream(message, collections=self._collections):
                if isinstance(event, Answer):
                    await response.write(_sse("answer", answer_json(event)))
                else:
                    await response.write(_sse("delta", {"text": event}))
        except (ConnectionResetError, ConnectionError):
            log.info("console client went away during streaming")
            return response
        except Exception:
            log.exception("console answer failed")
            self._count_error()
            await response.write(_sse("error", {"error": wording.APOLOGY}))
        await response.write_eof()
        return response

    @property
    def _collections(self) -> list[str] | None:
        return None if self.scope is None else self.scope.searchable

    def _count_error(self) -> None:
        if self.errors is not None:
            self.errors.inc(kind="console")


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {_dumps(data)}\n\n".encode()


_STATIC_FILES = frozenset({"app.js", "app.css"})
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
