"""Build the configured LLM provider from the manifest's ``llm`` section.

Returns None (the engine then answers extractively) for provider ``none`` and when the
configured credentials are missing; the latter is logged as a warning, never fatal.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from bot.llm.anthropic_provider import anthropic_from_env, bedrock_provider, vertex_provider
from bot.llm.base import LLMProvider
from bot.llm.openai_compatible import OpenAICompatibleProvider
from manifest.schema import LLMConfig

log = logging.getLogger(__name__)


def provider_from_config(
    llm: LLMConfig, *, environ: Mapping[str, str] = os.environ, retries: int = 2
) -> LLMProvider | None:
    if llm.provider == "none":
        return None
    assert llm.model is not None  # LLMConfig's validator guarantees model for every real provider
    key = _key(llm, environ)
    if llm.api_key_env and not key:
        log.warning(
            "llm.provider is %r but environment variable %s is not set; answering with search results",
            llm.provider, llm.api_key_env,
        )
        return None
    if llm.provider == "anthropic":
        return anthropic_from_env(
            llm.model, api_key_env=llm.api_key_env or "ANTHROPIC_API_KEY", base_url=llm.base_url,
            environ=environ, retries=retries, timeout_s=llm.timeout_s,
        )
    if llm.provider == "bedrock":
        assert llm.region is not None
        if key is None and not _aws_credentials(environ):
            log.warning("llm.provider is 'bedrock' but no AWS credentials were found; "
                        "answering with search results")
            return None
        return bedrock_provider(
            llm.model, llm.region, llm.base_url, api_key=key, retries=retries, timeout_s=llm.timeout_s
        )
    if llm.provider == "vertex":
        assert llm.region is not None and llm.project_id is not None
        # api_key_env, when given, names a variable holding an OAuth access token; otherwise
        # Google application-default credentials are resolved at the first request.
        return vertex_provider(
            llm.model, llm.region, llm.project_id, llm.base_url, access_token=key, retries=retries,
            timeout_s=llm.timeout_s,
        )
    if llm.provider == "openai_compatible":
        assert llm.base_url is not None
        return OpenAICompatibleProvider(
            base_url=llm.base_url, model=llm.model, api_key=key, retries=retries, timeout_s=llm.timeout_s
        )
    raise ValueError(f"unknown llm.provider {llm.provider!r}")


def _key(llm: LLMConfig, environ: Mapping[str, str]) -> str | None:
    if llm.api_key_env is None:
        return None
    return environ.get(llm.api_key_env) or None


def _aws_credentials(environ: Mapping[str, str]) -> bool:
    """Whether the AWS credential chain can find anything (env keys, profile, bearer token, role)."""
    if environ.get("AWS_BEARER_TOKEN_BEDROCK") or environ.get("AWS_ACCESS_KEY_ID"):
        return True
    try:
        import boto3
    except ImportError:
        return False
    return boto3.Session().get_credentials() is not None
