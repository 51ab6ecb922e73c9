"""Any OpenAI-compatible chat endpoint (vLLM, Ollama, LiteLLM, ...) over plain aiohttp.

POST ``{base_url}/chat/completions``; streaming is SSE ``data: {chunk}`` lines ending in
``data: [DONE]``, with usage in the last chunk (``stream_options.include_usage``).
The fixed instructions and the sources go in one system message: several chat
templates (vLLM) refuse a second system message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from bot.llm.base import (
    Completion,
    LLMTimeout,
    LLMUnavailable,
    Prompt,
    StreamDone,
    StreamEvent,
    TextDelta,
    scrub,
    status_error,
)
from bot.llm.retry import RetryPolicy, call_with_retries, parse_retry_after, stream_with_retries
from bot.models import Usage

PROVIDER = "openai_compatible"


class OpenAICompatibleProvider:
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        session: aiohttp.ClientSession | None = None,
        retries: int = 2,
        timeout_s: float = 60.0,
        backoff_s: float = 0.5,
    ) -> None:
        self.name = PROVIDER
        self.model = model
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._api_key = api_key
        self._session = session
        self._owns_session = session is None
        self._policy = RetryPolicy(retries=retries, timeout_s=timeout_s, backoff_s=backoff_s)

    async def complete(self, prompt: Prompt) -> Completion:
        body = self._body(prompt, stream=False)

        async def attempt() -> Completion:
            async with self._request(body) as response:
                data = await self._json(response)
            try:
                choice = data["choices"][0]
                text = choice["message"].get("content") or ""
            except (KeyError, IndexError, TypeError, AttributeError):
                raise LLMUnavailable(self.name, f"malformed response: {scrub(str(data))}") from None
            return Completion(text, self._usage(data.get("usage")), choice.get("finish_reason") or "")

        return await call_with_retries(self._policy, self.name, attempt)

    def stream(self, prompt: Prompt) -> AsyncIterator[StreamEvent]:
        body = self._body(prompt, stream=True)
        return stream_with_retries(self._policy, self.name, lambda: self._stream_once(body))

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _stream_once(self, body: dict[str, Any]) -> AsyncIterator[StreamEvent]:
        parts: list[str] = []
        usage: dict[str, Any] | None = None
        stop_reason = ""
        done = False
        async with self._request(body) as response:
            async for raw in response.content:
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue  # blank separators, comments (": keep-alive"), event: lines
                payload = line[5:].strip()
                if payload == "[DONE]":
                    done = True
                    break
                chunk = self._chunk(payload)
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or ():
                    stop_reason = choice.get("finish_reason") or stop_reason
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        parts.append(text)
                        yield TextDelta(text)
        if not done:
            raise LLMUnavailable(self.name, "stream ended without [DONE]", retryable=True)
        yield StreamDone(Completion("".join(parts), self._usage(usage), stop_reason))

    def _chunk(self, payload: str) -> dict[str, Any]:
        try:
            chunk = json.loads(payload)
        except json.JSONDecodeError:
            raise LLMUnavailable(self.name, f"malformed stream chunk: {scrub(payload, limit=120)}") from None
        if not isinstance(chunk, dict):
            raise LLMUnavailable(self.name, f"malformed stream chunk: {scrub(payload, limit=120)}")
        if "error" in chunk:  # servers report failures mid-stream this way
            raise LLMUnavailable(self.name, f"stream error: {self._error_text(chunk)}", retryable=True)
        return chunk

    def _body(self, prompt: Prompt, *, stream: bool) -> dict[str, Any]:
        system = "\n\n".join(part for part in (prompt.system_fixed, prompt.system_context) if part)
        messages = [{"role": "system", "content": system}]
        messages += [{"role": turn.role, "content": turn.text} for turn in prompt.messages]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": prompt.max_tokens,
            "temperature": prompt.temperature,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    @asynccontextmanager
    async def _request(self, body: dict[str, Any]) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST the body; transport failures become LLMTimeout/LLMUnavailable, HTTP errors LLMError."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        limit = self._policy.timeout_s
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=limit, sock_read=limit)
        try:
            async with self._session.post(self._url, json=body, headers=headers, timeout=timeout) as response:
                await self._check(response)
                yield response
        except TimeoutError:
            raise LLMTimeout(self.name, f"no data within {limit:g}s", retryable=True) from None
        except aiohttp.ClientError as exc:
            detail = f"connection failed: {type(exc).__name__}"
            raise LLMUnavailable(self.name, detail, retryable=True) from None

    async def _check(self, response: aiohttp.ClientResponse) -> None:
        if response.status < 400:
            return
        try:
            detail = self._error_text(json.loads(await response.text()))
        except (json.JSONDecodeError, UnicodeDecodeError, aiohttp.ClientError):
            detail = response.reason or "error"
        retry_after = parse_retry_after(response.headers)
        raise status_error(self.name, response.status, detail, retry_after=retry_after)

    async def _json(self, response: aiohttp.ClientResponse) -> dict[str, Any]:
        try:
            data = json.loads(await response.text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise LLMUnavailable(self.name, f"HTTP {response.status} body is not JSON") from None
        if not isinstance(data, dict):
            raise LLMUnavailable(self.name, "response body is not a JSON object")
        return data

    def _error_text(self, data: Any) -> str:
        error = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(error, dict):
            kind = error.get("type") or error.get("code") or "error"
            error = f"{kind}: {error.get('message', '')}"
        return scrub(str(error), self._api_key)

    def _usage(self, raw: dict[str, Any] | None) -> Usage:
        raw = raw or {}
        details = raw.get("prompt_tokens_details") or {}
        return Usage(
            provider=self.name,
            model=self.model,
            input_tokens=int(raw.get("prompt_tokens") or 0),
            output_tokens=int(raw.get("completion_tokens") or 0),
            cache_read_tokens=int(details.get("cached_tokens") or 0),
        )
