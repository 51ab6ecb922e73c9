"""Claude through the official anthropic SDK: Anthropic API, Amazon Bedrock or Google Vertex AI.

Retries: the SDK client is used with ``max_retries=0`` and every retry goes through
``bot.llm.retry``, so all providers share one policy (backoff, retry-after, timeouts,
stream retries only before the first delta), retries are logged in one place and
tests can count requests exactly.

Prompt layout: ``system`` is two text blocks. The first holds the fixed instructions
and carries ``cache_control: {"type": "ephemeral"}``, so the cached prefix is identical
for every question; the second holds this question's numbered sources, after the
breakpoint. Keeping the sources out of ``messages`` leaves the turns a plain
conversation (thread memory replays them without stale sources).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anthropic
from anthropic import AsyncAnthropic, AsyncAnthropicBedrock, AsyncAnthropicVertex

from bot.llm.base import (
    Completion,
    LLMError,
    LLMRejected,
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

AnthropicClient = AsyncAnthropic | AsyncAnthropicBedrock | AsyncAnthropicVertex


def _credential_errors() -> tuple[type[BaseException], ...]:
    """Exceptions the Bedrock/Vertex clients raise while resolving credentials (outside AnthropicError)."""
    errors: list[type[BaseException]] = []
    try:
        from botocore.exceptions import BotoCoreError

        errors.append(BotoCoreError)
    except ImportError:  # bedrock extra not installed
        pass
    try:
        from google.auth.exceptions import GoogleAuthError

        errors.append(GoogleAuthError)
    except ImportError:  # vertex extra not installed
        pass
    return tuple(errors)


_CREDENTIAL_ERRORS = _credential_errors()


class AnthropicProvider:
    def __init__(
        self,
        *,
        client: AnthropicClient,
        provider_name: str,
        model: str,
        retries: int = 2,
        timeout_s: float = 60.0,
        backoff_s: float = 0.5,
    ) -> None:
        self.name = provider_name
        self.model = model
        self._client = client.with_options(max_retries=0)
        self._policy = RetryPolicy(retries=retries, timeout_s=timeout_s, backoff_s=backoff_s)

    async def complete(self, prompt: Prompt) -> Completion:
        params = self._params(prompt)

        async def attempt() -> Completion:
            try:
                message = await self._client.messages.create(**params)
            except Exception as exc:
                raise self._translate(exc) from None
            return self._completion(message)

        return await call_with_retries(self._policy, self.name, attempt)

    def stream(self, prompt: Prompt) -> AsyncIterator[StreamEvent]:
        params = self._params(prompt)
        return stream_with_retries(self._policy, self.name, lambda: self._stream_once(params))

    async def aclose(self) -> None:
        await self._client.close()

    async def _stream_once(self, params: dict[str, Any]) -> AsyncIterator[StreamEvent]:
        try:
            async with self._client.messages.stream(**params) as events:
                async for event in events:
                    if event.type == "text" and event.text:
                        yield TextDelta(event.text)
                message = await events.get_final_message()
        except Exception as exc:
            raise self._translate(exc) from None
        yield StreamDone(self._completion(message))

    def _params(self, prompt: Prompt) -> dict[str, Any]:
        system: list[dict[str, Any]] = [
            {"type": "text", "text": prompt.system_fixed, "cache_control": {"type": "ephemeral"}}
        ]
        if prompt.system_context:
            system.append({"type": "text", "text": prompt.system_context})
        return {
            "model": self.model,
            "max_tokens": prompt.max_tokens,
            "system": system,
            "messages": [{"role": turn.role, "content": turn.text} for turn in prompt.messages],
            "timeout": self._policy.timeout_s,
        }

    def _completion(self, message: Any) -> Completion:
        text = "".join(block.text for block in message.content if block.type == "text")
        usage = message.usage
        return Completion(
            text=text,
            usage=Usage(
                provider=self.name,
                model=self.model,
                input_tokens=usage.input_tokens or 0,
                output_tokens=usage.output_tokens or 0,
                cache_read_tokens=usage.cache_read_input_tokens or 0,
                cache_write_tokens=usage.cache_creation_input_tokens or 0,
            ),
            stop_reason=message.stop_reason or "",
        )

    def _translate(self, exc: Exception) -> Exception:
        """Map SDK and credential errors onto LLMError; anything else is a bug and passes through."""
        secret = getattr(self._client, "api_key", None)
        if isinstance(exc, LLMError):
            return exc
        if isinstance(exc, anthropic.APITimeoutError):
            detail = f"request timed out after {self._policy.timeout_s:g}s"
            return LLMTimeout(self.name, detail, retryable=True)
        if isinstance(exc, anthropic.APIConnectionError):
            return LLMUnavailable(self.name, f"connection failed: {scrub(str(exc), secret)}", retryable=True)
        if isinstance(exc, anthropic.APIStatusError):
            body = exc.body if isinstance(exc.body, dict) else {}
            found = body.get("error")
            error = found if isinstance(found, dict) else {}
            detail = scrub(f"{error.get('type', 'error')}: {error.get('message') or exc.message}", secret)
            if exc.status_code < 400:  # an `error` event inside a 200 stream (e.g. overloaded_error)
                return LLMUnavailable(self.name, f"stream error {detail}", retryable=True)
            headers = exc.response.headers if exc.response is not None else None
            return status_error(self.name, exc.status_code, detail, retry_after=parse_retry_after(headers))
        if isinstance(exc, anthropic.AnthropicError):
            return LLMUnavailable(self.name, scrub(f"{type(exc).__name__}: {exc}", secret))
        if isinstance(exc, _CREDENTIAL_ERRORS) or (
            isinstance(exc, RuntimeError) and "could not resolve" in str(exc).lower()
        ):
            return LLMRejected(self.name, scrub(f"credentials: {type(exc).__name__}: {exc}", secret))
        return exc


def _http_client() -> anthropic.DefaultAioHttpClient:
    """The SDK's aiohttp transport: under 50 concurrent requests it costs ~2 ms of CPU per call
    against ~5 ms for the default httpx pool (which scans every pooled connection per request).
    Proxies come from the environment (HTTPS_PROXY, NO_PROXY) either way."""
    return anthropic.DefaultAioHttpClient()


def anthropic_from_env(
    model: str,
    *,
    api_key_env: str = "ANTHROPIC_API_KEY",
    base_url: str | None = None,
    environ: Mapping[str, str] = os.environ,
    retries: int = 2,
    timeout_s: float = 60.0,
) -> AnthropicProvider:
    """The Anthropic API with the key from ``environ[api_key_env]``; base URL from ANTHROPIC_BASE_URL."""
    api_key = environ.get(api_key_env)
    if not api_key:
        raise ValueError(f"environment variable {api_key_env} is not set")
    client = AsyncAnthropic(
        api_key=api_key, base_url=base_url or environ.get("ANTHROPIC_BASE_URL"), max_retries=0,
        http_client=_http_client(),
    )
    return AnthropicProvider(
        client=client, provider_name="anthropic", model=model, retries=retries, timeout_s=timeout_s
    )


def bedrock_provider(
    model: str,
    region: str,
    base_url: str | None = None,
    *,
    api_key: str | None = None,
    retries: int = 2,
    timeout_s: float = 60.0,
) -> AnthropicProvider:
    """Claude on Bedrock: SigV4 with the standard AWS credential chain, or a Bedrock API key."""
    client = AsyncAnthropicBedrock(
        aws_region=region, base_url=base_url, api_key=api_key, max_retries=0, http_client=_http_client()
    )
    return AnthropicProvider(
        client=client, provider_name="bedrock", model=model, retries=retries, timeout_s=timeout_s
    )


def vertex_provider(
    model: str,
    region: str,
    project_id: str,
    base_url: str | None = None,
    *,
    access_token: str | None = None,
    retries: int = 2,
    timeout_s: float = 60.0,
) -> AnthropicProvider:
    """Claude on Vertex AI: Google application-default credentials, or a given OAuth access token."""
    client = AsyncAnthropicVertex(
        region=region, project_id=project_id, base_url=base_url, access_token=access_token, max_retries=0,
        http_client=_http_client(),
    )
    return AnthropicProvider(
        client=client, provider_name="vertex", model=model, retries=retries, timeout_s=timeout_s
    )
