"""Local stand-ins for the LLM APIs kairan calls, for the real SDK / aiohttp clients to talk to.

Usage::

    async with FakeAnthropicServer(api_key="test-key") as server:
        client = AsyncAnthropic(api_key="test-key", base_url=server.base_url)
        server.script("回答です[1]。", usage={"input_tokens": 120, "cache_read_input_tokens": 80})
        server.fail_next(500, times=2)   # the next two requests fail first
        server.delay_next(1.0)           # the next request waits 1 s before answering

``FakeAnthropicServer`` speaks three dialects of the Messages API on one port:

* Anthropic API: ``POST /v1/messages``: ``anthropic-version`` header required, the key
  accepted as ``x-api-key`` or ``Authorization: Bearer`` (the SDK 2.x sends the latter);
  JSON, or SSE when the body says ``"stream": true``.
* Bedrock: ``POST /model/{model}/invoke`` (JSON) and ``/invoke-with-response-stream``
  (AWS event-stream binary frames whose ``chunk`` payloads carry the base64 SSE events);
  the SigV4 ``Authorization`` must name ``aws_access_key``. The signature itself is not checked.
* Vertex AI: ``POST /v1/projects/{p}/locations/{r}/publishers/anthropic/models/{model}:rawPredict``
  and ``:streamRawPredict`` (SSE), ``Authorization: Bearer {access_token}``. Use ``vertex_base_url``.

``FakeOpenAIServer`` serves ``POST /v1/chat/completions`` (JSON, or SSE ``data:`` chunks
ending in ``data: [DONE]`` with a usage chunk when ``stream_options.include_usage``).

Every request is recorded in ``server.requests`` (``sent_text()`` joins all bodies) so a
test can assert what left the process. A scripted reply stays in force until the next
``script`` call; ``break_after=n`` ends a stream with an error after ``n`` text deltas;
``respond(fn)`` answers each request with ``fn(body)`` instead (replies that depend on the question).
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.llm_fake_base import (
    FakeLLMServer,
    RecordedRequest,
    Reply,
    aws_event_frame,
    retry_headers,
    sse,
)

__all__ = ["FakeAnthropicServer", "FakeOpenAIServer", "RecordedRequest"]

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error", 503: "overloaded_error"}


@dataclass
class FakeAnthropicServer(FakeLLMServer):
    api_key: str = "test-key"
    aws_access_key: str = "AKIDFAKEFORTESTS"
    access_token: str = "ya29.fake-token"
    _ids: int = field(default=0, init=False)

    @property
    def vertex_base_url(self) -> str:
        return f"{self.base_url}/v1"

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/model/{model}/{action}", self._bedrock)
        app.router.add_post("/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{target}",
                            self._vertex)

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if not request.headers.get("anthropic-version"):
            return self._error(400, "anthropic-version: header is required")
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.api_key not in (request.headers.get("x-api-key"), bearer):
            return self._error(401, "invalid x-api-key")
        return await self._answer(request, body, str(body.get("model")), bool(body.get("stream")), "sse")

    async def _bedrock(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        action = request.match_info["action"]
        if action not in ("invoke", "invoke-with-response-stream"):
            raise web.HTTPNotFound()
        auth = request.headers.get("Authorization", "")
        if not auth.startswith(f"AWS4-HMAC-SHA256 Credential={self.aws_access_key}/"):
            return web.json_response({"message": "The security token included in the request is invalid."},
                                     status=403, headers={"x-amzn-ErrorType": "UnrecognizedClientException"})
        if "anthropic_version" not in body or "model" in body:
            return web.json_response({"message": "Malformed input request"}, status=400,
                                     headers={"x-amzn-ErrorType": "ValidationException"})
        stream = action == "invoke-with-response-stream"
        return await self._answer(request, body, request.match_info["model"], stream, "aws")

    async def _vertex(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        model, _, method = request.match_info["target"].rpartition(":")
        if method not in ("rawPredict", "streamRawPredict"):
            raise web.HTTPNotFound()
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            error = {"code": 401, "status": "UNAUTHENTICATED",
                     "message": "Request had invalid authentication credentials."}
            return web.json_response({"error": error}, status=401)
        if "anthropic_version" not in body or "model" in body:
            return self._error(400, "anthropic_version is required; model goes in the URL")
        return await self._answer(request, body, model, method == "streamRawPredict", "sse")

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        error = {"type": ERROR_TYPES.get(status, "api_error"), "message": message}
        return web.json_response({"type": "error", "error": error, "request_id": "req_fake"},
                                 status=status, headers={"request-id": "req_fake", **(headers or {})})

    async def _answer(self, request: web.Request, body: Any, model: str, stream: bool,
                      framing: str) -> web.StreamResponse:
        failure = self._next_failure()
        if failure is not None:
            return self._error(failure.status, f"injected failure {failure.status}", retry_headers(failure))
        reply = self._current_reply(body)
        self._ids += 1
        usage = {"input_tokens": 100, "output_tokens": len(reply.deltas), "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0, **reply.usage}
        message = {"id": f"msg_fake{self._ids:04d}", "type": "message", "role": "assistant",
                   "model": model, "content": [{"type": "text", "text": reply.text}],
                   "stop_reason": reply.stop_reason or "end_turn", "stop_sequence": None, "usage": usage}
        if not stream:
            return web.json_response(message, headers={"request-id": f"req_fake{self._ids:04d}"})
        aws = framing == "aws"
        response = web.StreamResponse(headers={
            "Content-Type": "application/vnd.amazon.eventstream" if aws else "text/event-stream",
            "request-id": f"req_fake{self._ids:04d}"})
        await response.prepare(request)
        for event in self._events(message, reply):
            if aws and event["type"] == "error":
                payload = json.dumps({"message": event["error"]["message"]}).encode()
                frame = aws_event_frame({":exception-type": "modelStreamErrorException",
                                         ":content-type": "application/json",
                                         ":message-type": "exception"}, payload)
            elif aws:
                chunk = {"bytes": base64.b64encode(json.dumps(event, ensure_ascii=False).encode()).decode()}
                frame = aws_event_frame({":event-type": "chunk", ":content-type": "application/json",
                                         ":message-type": "event"}, json.dumps(chunk).encode())
            else:
                frame = sse(event["type"], event)
            await response.write(frame)
        await response.write_eof()
        return response

    @staticmethod
    def _events(message: dict[str, Any], reply: Reply) -> list[dict[str, Any]]:
        usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        events: list[dict[str, Any]] = [
            {"type": "message_start", "message": start},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "ping"},
        ]
        for n, piece in enumerate(reply.deltas):
            if reply.break_after is not None and n == reply.break_after:
                error = {"type": "overloaded_error", "message": "Overloaded"}
                return [*events, {"type": "error", "error": error}]
            events.append({"type": "content_block_delta", "index": 0,
                           "delta": {"type": "text_delta", "text": piece}})
        return [*events, {"type": "content_block_stop", "index": 0},
                {"type": "message_delta",
                 "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                 "usage": {"output_tokens": usage["output_tokens"]}},
                {"type": "message_stop"}]


@dataclass
class FakeOpenAIServer(FakeLLMServer):
    api_key: str | None = "test-key"  # None: no Authorization required (a local Ollama)

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)

    @staticmethod
    def _error(status: int, message: str, kind: str, code: str | None = None,
               headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response({"error": {"message": message, "type": kind, "param": None, "code": code}},
                                 status=status, headers=headers)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.api_key is not None and given != self.api_key:
            masked = f"{given[:3]}***{given[-4:]}" if len(given) > 8 else "***"
            return self._error(401, f"Incorrect API key provided: {masked}.", "invalid_request_error",
                               "invalid_api_key")
        failure = self._next_failure()
        if failure is not None:
            kind = "rate_limit_exceeded" if failure.status == 429 else "server_error"
            return self._error(failure.status, f"injected failure {failure.status}", kind,
                               headers=retry_headers(failure))
        reply = self._current_reply(body)
        usage = {"prompt_tokens": 100, "completion_tokens": len(reply.deltas), **reply.usage}
        usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
        base = {"id": "chatcmpl-fake", "created": 1_700_000_000, "model": body.get("model")}
        finish = reply.stop_reason or "stop"
        if not body.get("stream"):
            message = {"role": "assistant", "content": reply.text}
            choices = [{"index": 0, "message": message, "finish_reason": finish}]
            completion = {**base, "object": "chat.completion", "choices": choices, "usage": usage}
            return web.json_response(completion)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base["object"] = "chat.completion.chunk"

        async def send(data: dict[str, Any] | str) -> None:
            text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
            await response.write(f"data: {text}\n\n".encode())

        await send({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                         "finish_reason": None}]})
        for n, piece in enumerate(reply.deltas):
            if reply.break_after is not None and n == reply.break_after:
                await send({"error": {"message": "model crashed", "type": "server_error", "code": 500}})
                await response.write_eof()
                return response
            if reply.pace:
                await asyncio.sleep(reply.pace)
            choices = [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]
            await send({**base, "choices": choices})
        await send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            await send({**base, "choices": [], "usage": usage})
        await send("[DONE]")
        await response.write_eof()
        return response
