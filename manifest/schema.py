"""The admin manifest as pydantic models.

Every model forbids unknown keys, so a misspelt key is an error rather than a
silently ignored setting. Secrets never appear here: fields ending in ``_env``
hold the *name* of an environment variable. Relative paths are resolved against
the directory passed as ``base_dir`` in the validation context (the loader passes
the manifest file's directory).

New sections (feeds, redaction, budgets, prices) are added as new optional
fields on ``Manifest``; ``version`` is bumped only for incompatible changes.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from knowledge.chunks import LAW_KINDS
from knowledge.documents import DocKind
from knowledge.limits import IngestLimits
from knowledge.settings import DEFAULT_CACHE_ROWS, SearchSettings

_SEARCH_DEFAULTS = SearchSettings()

Loc = tuple[str | int, ...]

# Prefixes of real credentials: OpenAI/Anthropic, Slack, AWS, Google, GitHub, GitLab, PEM keys.
_SECRET_PATTERN = re.compile(
    r"^(sk-|xox[abposre]-|xapp-|AKIA[0-9A-Z]{12}|ASIA[0-9A-Z]{12}|AIza[0-9A-Za-z_-]{16}"
    r"|ghp_|gho_|github_pat_|glpat-|-----BEGIN)"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_IDENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_URL = re.compile(r"^https?://[^\s/@]+(/\S*)?$")


def looks_like_secret(value: str) -> bool:
    return bool(_SECRET_PATTERN.match(value.strip()))


def _env_name(value: str) -> str:
    # The rejected value is never echoed: what sits where a variable name belongs is often the secret.
    if not _ENV_NAME.match(value):
        raise PydanticCustomError(
            "env_name",
            "must be the NAME of an environment variable (e.g. SLACK_BOT_TOKEN), not a value "
            "(the value is not shown: it may be a secret)",
        )
    return value


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)?[^/\s]*@")


def _shown_url(value: str) -> str:
    """A rejected URL for an error message, without its user name and password."""
    return repr(_USERINFO.sub(lambda m: f"{m.group(1) or ''}***@", value.strip(), count=1))


def _identifier(value: str) -> str:
    if not _IDENT.match(value):
        raise PydanticCustomError(
            "identifier",
            "must be lower-case letters, digits, '-' or '_' (at most 64, starting with a letter "
            "or digit), got {value}",
            {"value": repr(value)},
        )
    return value


def _url(value: str) -> str:
    if not _URL.match(value):
        raise PydanticCustomError(
            "url",
            "must be an http(s) URL without embedded credentials, got {value}",
            {"value": _shown_url(value)},
        )
    return value.rstrip("/")


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::(\d{{1,5}}))?$")


def _host(value: str) -> str:
    match = _HOST.match(value)
    if not match or not 0 < int(match.group(1) or 1) < 65536:
        raise PydanticCustomError(
            "host",
            "must be a host name or address, optionally with :port (no scheme or path), e.g. "
            "www.soumu.go.jp or mirror.city.lg.jp:8080, got {value}",
            {"value": repr(value)},
        )
    return value.lower()


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    value = value.expanduser()
    base = (info.context or {}).get("base_dir")
    if base is None or value.is_absolute():
        return value
    return Path(os.path.normpath(Path(base).absolute() / value))


_CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_CRON_ITEM = re.compile(r"^(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?$")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_CRON_NAMES = {n: i for i, n in enumerate(_DAYS)} | {n: i + 1 for i, n in enumerate(_MONTHS)}


def _cron(value: str) -> str:
    """A five-field cron expression (minute hour day month weekday), names like mon/jan allowed."""
    fields = value.split()
    if len(fields) != 5:
        raise PydanticCustomError(
            "cron", "cron needs 5 fields (minute hour day month weekday), got {value}", {"value": repr(value)}
        )
    for text, (label, lo, hi) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.lower().split(","):
            for name, num in _CRON_NAMES.items():
                item = re.sub(rf"\b{name}\b", str(num), item)
            match = _CRON_ITEM.match(item)
            numbers = [int(g) for g in (match.group(2, 3) if match else ()) if g is not None]
            if not match or any(n < lo or n > hi for n in numbers) or match.group(4) == "0":
                raise PydanticCustomError(
                    "cron",
                    "invalid cron {label} {item} (allowed {lo}-{hi}) in {value}",
                    {"label": label, "item": repr(item), "lo": lo, "hi": hi, "value": repr(value)},
                )
    return value


def _pattern(regex: re.Pattern[str]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": regex.pattern})


EnvName = Annotated[str, AfterValidator(_env_name), _pattern(_ENV_NAME)]
Identifier = Annotated[str, AfterValidator(_identifier), _pattern(_IDENT)]
Url = Annotated[str, AfterValidator(_url), _pattern(_URL)]
Host = Annotated[str, AfterValidator(_host), _pattern(_HOST)]

_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")


def _host_name(value: str) -> str:
    if not _HOST_NAME.match(value):
        raise PydanticCustomError(
            "host_name",
            "must be a host name such as kairan.city.example.lg.jp (no scheme, port or path), got {value}",
            {"value": repr(value)},
        )
    return value.lower().rstrip(".")


HostName = Annotated[str, AfterValidator(_host_name), _pattern(_HOST_NAME)]
ResolvedPath = Annotated[Path, AfterValidator(_resolve_path)]
Cron = Annotated[str, AfterValidator(_cron)]


def _raise(title: str, problems: list[tuple[Loc, str]]) -> None:
    """Raise one ValidationError carrying every problem at its own location."""
    if problems:
        details: list[InitErrorDetails] = [
            {"type": PydanticCustomError("manifest", msg), "loc": loc, "input": None} for loc, msg in problems
        ]
        raise ValidationError.from_exception_data(title, details)


def _duplicates(items: list[Any], loc: Loc, what: str) -> list[tuple[Loc, str]]:
    seen: set[Any] = set()
    problems = []
    for i, item in enumerate(items):
        if item in seen:
            problems.append(((*loc, i), f"duplicate {what} {item!r}"))
        seen.add(item)
    return problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_literal_secrets(cls, value: Any) -> Any:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and looks_like_secret(item):
                raise PydanticCustomError(
                    "literal_secret",
                    "this looks like a secret; never put keys or tokens in the manifest: set an "
                    "environment variable and name it in the matching *_env field",
                )
        return value


# --- knowledge -------------------------------------------------------------------------------


class CollectionConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    name: Identifier
    description: str = ""
    kind: DocKind = Field(DocKind.DOCUMENT, description="what the collection mostly holds")
    owner: Identifier | None = Field(
        None, description="tenant id owning this collection; only that tenant may search it"
    )
    public: bool = Field(
        False,
        description="conversations no tenant lists (DMs, 1:1 talks, unlisted or shared channels) may "
        "search it (see unlisted); never set on a collection a tenant owns",
    )


class SourceConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    path: ResolvedPath = Field(description="file or directory to ingest")
    collection: Identifier


class EgovConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    base_url: Url = "https://laws.e-gov.go.jp/api/2"
    collection: Identifier = "laws"
    laws: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="e-Gov law ids (322AC0000000067) or exact titles (地方自治法)"
    )

    @model_validator(mode="after")
    def _unique(self) -> EgovConfig:
        _raise("EgovConfig", _duplicates(self.laws, ("laws",), "law"))
        return self


class SufficiencyConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    min_confidence: float = Field(
        _SEARCH_DEFAULTS.min_confidence,
        ge=0.0,
        le=1.0,
        description="the calibrated score (0-1) the evidence must reach to answer; higher answers less "
        "often and abstains more (trade-off: docs/retrieval.md)",
    )


class IngestLimitsConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    max_file_mb: float = Field(64, gt=0, le=4096, description="a larger file is reported and not read")
    max_seconds_per_file: float = Field(
        45, gt=0, le=3600, description="reading, splitting and indexing one file; a slower file is skipped"
    )
    max_pdf_expansion: int = Field(
        100, ge=10, le=10_000,
        description="a PDF's streams may decompress to at most this many times the file (at least 8 MB, "
        "at most 256 MB); a deflate bomb reaches about 1000",
    )

    def limits(self) -> IngestLimits:
        return IngestLimits(
            max_file_bytes=int(self.max_file_mb * 1024 * 1024),
            max_seconds=self.max_seconds_per_file,
            max_expansion=self.max_pdf_expansion,
        )


class SearchConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    default_k: int = Field(5, ge=1, le=50)
    sufficiency: SufficiencyConfig = Field(default_factory=SufficiencyConfig)


class EmbeddingsConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    model_dir: ResolvedPath | None = Field(None, description="local sentence-transformers model directory")
    batch_size: int = Field(32, ge=1, le=1024)

    @model_validator(mode="after")
    def _model_dir_needed(self) -> EmbeddingsConfig:
        if self.enabled and self.model_dir is None:
            _raise(
                "EmbeddingsConfig",
                [
                    (
                        ("model_dir",),
                        "embeddings.enabled is true: set model_dir "
                        "to a local directory holding a Japanese embedding model",
                    )
                ],
            )
        return self


_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s@?#]*)?$")


def _s3_uri(value: str) -> str:
    if not _S3_URI.match(value):
        raise PydanticCustomError(
            "s3_uri",
            "must be s3://bucket/prefix (credentials and endpoint come from AWS_* variables), got {value}",
            {"value": repr(value)},
        )
    return value.rstrip("/")


S3Uri = Annotated[str, AfterValidator(_s3_uri), _pattern(_S3_URI)]


def _default_collections() -> list[CollectionConfig]:
    return [CollectionConfig(name="laws", description="法令（e-Gov）", kind=DocKind.LAW, public=True)]


class PhrasingsConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    shipped: bool = Field(
        True, description="index the staff phrasings kairan ships for the laws municipal staff use"
    )
    files: list[ResolvedPath] = Field(
        default_factory=list,
        description="your own phrasing files or directories of them (e.g. for your 例規); "
        "format: docs/retrieval.md",
    )
    generate: bool = Field(
        False,
        description="at every ingest, write phrasings with the configured LLM for the stored articles that "
        "have none (cached by content hash in <data_dir>/phrasings, reviewable; kairan phrasings generate "
        "does it on demand)",
    )
    batch_articles: int = Field(
        8, ge=1, le=20,
        description="articles per LLM request when generating phrasings (at most 6,000 characters of "
        "article text); fewer for a model with a small context window",
    )


class KnowledgeBaseConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    uri: S3Uri | None = Field(
        None,
        description="index on object storage shared by several bot processes (s3://bucket/prefix); "
        "omitted = data_dir. Credentials and endpoint only from AWS_* environment variables",
    )
    refresh_seconds: float = Field(
        10.0, ge=0.0, le=3600.0, description="how often a running bot looks for a newer ingest"
    )
    cache_rows: int = Field(
        DEFAULT_CACHE_ROWS, ge=0, le=5_000_000,
        description="articles each bot process keeps in memory (about 6 MB per 1,000); a knowledge base "
        "of at most this many is held whole, a larger one keeps the articles read last. 0 = none",
    )
    collections: list[CollectionConfig] = Field(default_factory=_default_collections)
    sources: list[SourceConfig] = Field(default_factory=list)
    egov: EgovConfig = Field(default_factory=EgovConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    limits: IngestLimitsConfig = Field(
        default_factory=IngestLimitsConfig, description="per-file limits of an ingest (files, feed documents)"
    )
    embeddings: EmbeddingsConfig = Field(default_factory=EmbeddingsConfig)
    glossary: list[ResolvedPath] = Field(
        default_factory=list,
        description="extra glossary files (everyday words → statute wording), read after the built-in one",
    )
    jargon: list[ResolvedPath] = Field(
        default_factory=list,
        description="extra staff-abbreviation files (生保 → 生活保護), read after the built-in one",
    )
    phrasings: PhrasingsConfig = Field(default_factory=PhrasingsConfig)

    def law_collections(self) -> list[str]:
        """Collections whose kind is a statute kind: the only ones law data may be ingested into."""
        return [c.name for c in self.collections if c.kind in LAW_KINDS]


# --- llm -------------------------------------------------------------------------------------

Provider = Literal["none", "anthropic", "bedrock", "vertex", "openai_compatible"]


class LLMConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    provider: Provider = "none"
    model: str | None = None
    api_key_env: EnvName | None = None
    base_url: Url | None = None
    region: str | None = Field(None, description="AWS region (bedrock) or Google Cloud region (vertex)")
    project_id: str | None = Field(None, description="Google Cloud project (vertex)")
    timeout_s: float = Field(60.0, gt=0)
    read_near_misses: bool = Field(
        True,
        description="let the LLM read the sources of a question the search judged insufficient by a small "
        "margin, and answer only what it can quote from them (false: such questions are declined without it)",
    )

    @model_validator(mode="after")
    def _provider_needs(self) -> LLMConfig:
        needs: dict[str, tuple[str, ...]] = {
            "anthropic": ("model", "api_key_env"),
            "bedrock": ("model", "region"),
            "vertex": ("model", "region", "project_id"),
            "openai_compatible": ("model", "base_url"),
        }
        hints = {"api_key_env": " (the NAME of the variable holding the key, e.g. ANTHROPIC_API_KEY)"}
        _raise(
            "LLMConfig",
            [
                (("provider",), f"provider {self.provider!r} needs {name}{hints.get(name, '')}")
                for name in needs.get(self.provider, ())
                if getattr(self, name) is None
            ],
        )
        return self


# --- platforms -------------------------------------------------------------------------------


class SlackConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["socket", "http"] = "socket"
    bot_token_env: EnvName = "SLACK_BOT_TOKEN"
    app_token_env: EnvName | None = "SLACK_APP_TOKEN"
    signing_secret_env: EnvName | None = "SLACK_SIGNING_SECRET"

    @model_validator(mode="after")
    def _mode_needs(self) -> SlackConfig:
        if self.mode == "socket" and self.app_token_env is None:
            _raise("SlackConfig", [(("app_token_env",), "socket mode needs app_token_env")])
        if self.mode == "http" and self.signing_secret_env is None:
            _raise("SlackConfig", [(("signing_secret_env",), "http mode needs signing_secret_env")])
        return self


def _https_url(value: str) -> str:
    if not value.startswith("https://"):
        shown = {"value": _shown_url(value)}
        raise PydanticCustomError("https_url", "must be an https URL, got {value}", shown)
    return value


HttpsUrl = Annotated[Url, AfterValidator(_https_url)]


class TeamsAppPackageConfig(_Strict):
    """The publisher's pages the Teams app package links to (``kairan manifest teams``)."""

    model_config = ConfigDict(extra="forbid")
    website_url: HttpsUrl | None = Field(None, description="the publisher's page about the bot (https)")
    privacy_url: HttpsUrl | None = Field(None, description="its privacy statement (https)")
    terms_url: HttpsUrl | None = Field(None, description="its terms of use (https)")


class TeamsConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    app_id_env: EnvName = "TEAMS_APP_ID"
    app_password_env: EnvName = "TEAMS_APP_PASSWORD"
    tenant_id_env: EnvName | None = Field(None, description="for single-tenant Entra ID apps")
    port: int | None = Field(
        None, ge=1, le=65535,
        description="port of /api/messages on kairan serve's --host; omitted = serve's own --port",
    )
    service_url_hosts: list[HostName] = Field(
        default_factory=list,
        description="hosts (and their subdomains) besides Microsoft's that an activity's serviceUrl may "
        "name, http allowed, e.g. an on-premises test connector; any other service URL is refused",
    )
    app_package: TeamsAppPackageConfig = Field(
        default_factory=TeamsAppPackageConfig,
        description="the pages the Teams app package links to; kairan manifest teams requires all three",
    )
    dev_anonymous: bool = Field(
        False,
        description="development only (Microsoft 365 Agents Playground): accept activities without a "
        "Bot Framework token and post without credentials (the Agents SDK's anonymous mode); the app id "
        "and password are not read; kairan serve refuses to start unless it listens on loopback, and "
        "only requests from this machine, whose serviceUrl is on this machine, are answered",
    )

    @model_validator(mode="after")
    def _anonymous_is_not_single_tenant(self) -> TeamsConfig:
        if self.dev_anonymous and self.tenant_id_env:
            raise PydanticCustomError(
                "dev_anonymous",
                "dev_anonymous accepts activities without a token: it cannot check a tenant "
                "(remove tenant_id_env while developing)",
            )
        return self


_WS_URL = re.compile(r"^wss?://[^\s/@]+(/\S*)?$")


def _ws_url(value: str) -> str:
    if not _WS_URL.match(value):
        raise PydanticCustomError(
            "ws_url",
            "must be a ws(s):// URL without embedded credentials, got {value}",
            {"value": _shown_url(value)},
        )
    return value.rstrip("/")


WsUrl = Annotated[str, AfterValidator(_ws_url), _pattern(_WS_URL)]


# The API version the official LoGo client direct-js 2.1.0 announces in create_session; kairan's
# client speaks what it speaks. The only place it is written.
LOGO_API_VERSION = "1.122"


class LogoConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    url: WsUrl = Field(description="LoGo Chat WebSocket API endpoint (internet or LGWAN host), wss://…")
    api_version: str = Field(LOGO_API_VERSION, min_length=1, description="API version sent in create_session")
    token_env: EnvName = "LOGO_TOKEN"
    proxy: Url | None = Field(
        None, description="HTTP(S) proxy for the WebSocket; omitted = HTTPS_PROXY if set"
    )
    ca_file: ResolvedPath | None = Field(None, description="PEM file of extra CA certificates (LGWAN)")
    max_message_length: int = Field(1024, ge=64, le=100_000, description="longest message; longer are split")
    send_interval_s: float = Field(0.55, ge=0, le=60, description="pause between two messages sent")
    answer_bots: bool = Field(False, description="also answer messages posted by other bots")
    default_tenant: Identifier | None = Field(
        None, description="tenant for talks not listed under tenants.channels (1:1 talks); omitted = ignore"
    )


class PlatformsConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    slack: SlackConfig | None = None
    teams: TeamsConfig | None = None
    logo: LogoConfig | None = None


# --- tenants ---------------------------------------------------------------------------------

Platform = Literal["slack", "teams", "logo", "console"]


class DigestSubscription(_Strict):
    model_config = ConfigDict(extra="forbid")
    id: Identifier
    schedule: Cron = Field(description="cron in Asia/Tokyo, e.g. '30 8 * * mon-fri'")
    keywords: list[str] = Field(default_factory=list, description="only items mentioning one of these")
    max_items: int = Field(10, ge=1, le=50)
    post_when_empty: bool = False
    sources: list[Identifier] = Field(
        default_factory=list, description="ids of feeds (top-level feeds:) to include; empty = all feeds"
    )
    categories: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="only items in one of these categories (empty = any category)"
    )
    answered_inquiries: bool = Field(
        False,
        description="also the tenant's 照会 answered in the last 7 days, each once (a weekly digest: "
        "answered this week); keywords and categories apply to them too (category 照会回答)",
    )


class UnlistedConfig(_Strict):
    """Conversations no tenant lists under channels: DMs, 1:1 talks, unlisted or shared channels."""

    model_config = ConfigDict(extra="forbid")
    access: Literal["public", "none"] = Field(
        "public",
        description="public: answer from those of their tenant's collections that are marked public: true; "
        "none: do not answer them",
    )
    tenant: Identifier | None = Field(
        None,
        description="the tenant they belong to (its budget and usage); omitted = the only tenant "
        "(with several tenants and none named here, they are not answered)",
    )


class ChannelConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    platform: Platform
    id: str = Field(min_length=1, description="channel id on the platform (Slack C0123…, LoGo room id)")
    name: str = ""
    collections: list[Identifier] | None = Field(
        None, description="subset of the tenant's collections; omitted = all of the tenant's"
    )
    digests: list[DigestSubscription] = Field(default_factory=list)


InquiryPlatform = Literal["slack", "teams", "logo"]


class InquiryDestination(_Strict):
    """Where a tenant's 照会 go: a channel (Slack), a channel or chat (Teams) or a talk (LoGo)."""

    model_config = ConfigDict(extra="forbid")
    platform: InquiryPlatform
    channel: str = Field(
        min_length=1,
        description="channel id on the platform (Slack C0123…, Teams 19:…@thread.tacv2, LoGo talk id); "
        "several tenants may name the same one (a prefecture's liaison channel)",
    )
    name: str = Field("", description="how staff call it, e.g. 法務担当 (shown to the asker)")


class InquiryResponders(_Strict):
    """Whose reply in an inquiry's thread is its answer (a role: user ids, or the destination's members)."""

    model_config = ConfigDict(extra="forbid")
    users: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="user ids on the destination's platform (Slack U…, Teams AAD "
        "object id or 29:… id, LoGo user id)"
    )
    channel_members: bool = Field(
        False, description="everyone who writes in the destination (the channel is the group), except the "
        "asker and bots"
    )


class InquiryConfig(_Strict):
    """The 照会 loop of a tenant: where its inquiries go, who answers them, where answers are kept."""

    model_config = ConfigDict(extra="forbid")
    destination: InquiryDestination
    responders: InquiryResponders
    collection: Identifier = Field(
        description="Q&A collection (kind qa) the answers go into, searched like any source: the tenant's "
        "own, or one shared with other tenants; it must be among the tenant's collections"
    )
    label: str = Field(
        "", max_length=40,
        description="who answers, in the answers' citations: 照会回答 2026-12-04 <label>; omitted = "
        "destination.name",
    )

    @model_validator(mode="after")
    def _someone_answers(self) -> InquiryConfig:
        if not self.responders.users and not self.responders.channel_members:
            problem = "name the responders: users, or channel_members: true"
            _raise("InquiryConfig", [(("responders",), problem)])
        return self

    @property
    def answerer(self) -> str:
        """The answering body as citations show it."""
        return self.label or self.destination.name or "照会先"


class TenantConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    id: Identifier
    name: str = Field(min_length=1)
    collections: list[Identifier] = Field(default_factory=lambda: ["laws"])
    channels: list[ChannelConfig] = Field(default_factory=list)
    inquiries: InquiryConfig | None = Field(
        None, description="the 照会 loop: send a question the sources do not answer to people, and keep "
        "their answer as knowledge (README: 照会)"
    )
    monthly_budget: float | None = Field(
        None,
        gt=0,
        description="estimated LLM cost allowed per calendar month (Japan time), in pricing.currency; "
        "omitted = no limit",
    )
    budget_exceeded: Literal["extractive"] = Field(
        "extractive",
        description="what happens past monthly_budget: extractive = answer from search results, no LLM",
    )

    def collections_for(self, channel: ChannelConfig) -> list[str]:
        return list(self.collections if channel.collections is None else channel.collections)

    @model_validator(mode="after")
    def _channel_scope(self) -> TenantConfig:
        problems = _duplicates(self.collections, ("collections",), "collection")
        for i, ch in enumerate(self.channels):
            for j, name in enumerate(ch.collections or []):
                if name not in self.collections:
                    problems.append(
                        (
                            ("channels", i, "collections", j),
                            f"channel {ch.id!r} ({ch.platform}) may only narrow its tenant's "
                            f"collections {self.collections}; {name!r} is not among them",
                        )
                    )
        _raise("TenantConfig", problems)
        return self


# --- feeds (digest sources) ------------------------------------------------------------------

FeedKind = Literal["rss", "atom", "rdf", "index_page", "egov_revisions"]


class FeedConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    id: Identifier
    kind: FeedKind = Field(
        description="rss (RSS 2.0), rdf (RSS 1.0), atom, index_page (new links on an HTML list page), "
        "egov_revisions (e-Gov API v2 law revisions of law_ids)"
    )
    url: Url = Field(description="feed or list page URL; for egov_revisions the API base URL")
    collection: Identifier = Field(description="knowledge collection the fetched documents go into")
    category: str | None = Field(None, description="category for items that carry none of their own")
    encoding: str | None = Field(
        None, description="charset to use instead of the declared one (for mislabelled feeds/pages)"
    )
    law_ids: list[Annotated[str, Field(pattern=r"^\d{3}[A-Z][0-9A-Z]{11}$")]] = Field(
        default_factory=list, description="e-Gov law ids to watch (egov_revisions only)"
    )
    allowed_hosts: list[Host] = Field(
        default_factory=list,
        description="other hosts the feed's item links (and redirects) may point to; the feed's own "
        "host is always allowed. host or host:port (without a port: 80 and 443)",
    )
    internal_hosts: list[Host] = Field(
        default_factory=list,
        description="hosts that may be on an internal address (loopback, private, link-local), e.g. an "
        "on-premises mirror; every other host must resolve to a public address",
    )

    @model_validator(mode="after")
    def _kind_needs(self) -> FeedConfig:
        problems: list[tuple[Loc, str]] = []
        if self.kind == "egov_revisions" and not self.law_ids:
            problems.append((("law_ids",), "kind egov_revisions needs law_ids (e-Gov law ids to watch)"))
        if self.kind != "egov_revisions" and self.law_ids:
            problems.append((("law_ids",), f"law_ids only applies to kind egov_revisions, not {self.kind}"))
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                problems.append((("encoding",), f"unknown encoding {self.encoding!r}"))
        _raise("FeedConfig", problems)
        return self


# --- redaction, pricing, state ---------------------------------------------------------------


class RedactionConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["mask", "block"] = Field(
        "mask", description="mask: replace personal data with placeholders; block: refuse the question"
    )
    mynumber: bool = Field(
        True, description="個人番号 (12 digits, also grouped, in kanji or with a wrong check digit)"
    )
    corporate_number: bool = Field(True, description="法人番号 (13 digits with a valid check digit)")
    phone: bool = True
    email: bool = True
    bank_account: bool = Field(True, description="account numbers after 口座 / 普通 / 当座 / 記号番号")
    birth_date: bool = Field(True, description="dates after 生年月日 or before 生まれ / 生")
    address: bool = Field(True, description="street addresses down to the block number (…町11番地, 2-1-2)")
    name: bool = Field(True, description="person names before 様 / さん / 氏 / 殿 / 君 / くん / ちゃん")


class ModelPrice(_Strict):
    model_config = ConfigDict(extra="forbid")
    input_per_mtok: float = Field(ge=0, description="price per million input tokens")
    output_per_mtok: float = Field(ge=0, description="price per million output tokens")
    cache_read_per_mtok: float | None = Field(
        None, ge=0, description="price per million cache-read tokens; omitted = input_per_mtok"
    )
    cache_write_per_mtok: float | None = Field(
        None, ge=0, description="price per million cache-write tokens; omitted = input_per_mtok"
    )


class PricingConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    currency: Literal["JPY", "USD"] = "JPY"
    models: dict[Annotated[str, Field(min_length=1)], ModelPrice] = Field(
        default_factory=dict, description="model name (as in llm.model) -> prices"
    )


_URL_PASSWORD = re.compile(r"^[A-Za-z0-9+._-]+://[^/@\s]*:[^/@\s]*@")


def _no_password(value: str | None) -> str | None:
    if value is not None and _URL_PASSWORD.match(value):
        raise PydanticCustomError(
            "url_password",
            "the database URL contains a password; put the whole URL in an environment variable "
            "and name it in state.url_env",
        )
    return value


class StateConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    url: Annotated[str | None, AfterValidator(_no_password)] = Field(
        None, description="SQLAlchemy URL without a password; omitted = sqlite:///{data_dir}/state.db"
    )
    url_env: EnvName | None = Field(None, description="variable holding the URL (PostgreSQL with a password)")
    audit_salt_env: EnvName = Field(
        "KAIRAN_AUDIT_SALT",
        description="variable holding the salt for hashing user ids; unset = generated, kept in the database",
    )
    audit_key_env: EnvName = Field(
        "KAIRAN_AUDIT_KEY",
        description="variable holding the key (16+ characters) of the audit and feedback hash chains and "
        "their anchors; unset = unkeyed chains, whose wholesale rewrite cannot be detected",
    )
    audit_anchor_file: ResolvedPath | None = Field(
        None,
        description="file (best on another volume or host) that keeps the newest signed head of each chain, "
        "for audit verify; the head is also logged as an 'audit chain head' JSON line",
    )
    thread_max_turns: int = Field(6, ge=0, le=50, description="earlier turns a follow-up question sees")
    thread_max_chars: int = Field(4000, ge=0, le=100_000, description="characters of earlier turns at most")
    thread_retention_days: int | None = Field(
        30, ge=1, le=3650, description="days thread turns (redacted) are kept; null = kept forever"
    )

    @model_validator(mode="after")
    def _one_url(self) -> StateConfig:
        if self.url is not None and self.url_env is not None:
            _raise("StateConfig", [(("url_env",), "set either url or url_env, not both")])
        return self


# --- server --------------------------------------------------------------------------------


class ServerConfig(_Strict):
    model_config = ConfigDict(extra="forbid")
    allowed_hosts: list[HostName] = Field(
        default_factory=list,
        description="host names (besides localhost and IP addresses) under which the console, /metrics "
        "and /readyz answer, e.g. the name of a reverse proxy; any other Host header gets 403 "
        "(DNS rebinding)",
    )


# --- manifest --------------------------------------------------------------------------------


class Manifest(_Strict):
    model_config = ConfigDict(extra="forbid", title="kairan manifest")
    version: Literal[1] = 1
    data_dir: ResolvedPath = Field(
        Path("./data"), validate_default=True, description="index and state; relative to this file"
    )
    knowledge: KnowledgeBaseConfig = Field(default_factory=KnowledgeBaseConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    platforms: PlatformsConfig = Field(default_factory=PlatformsConfig)
    tenants: list[TenantConfig] = Field(default_factory=list)
    unlisted: UnlistedConfig = Field(default_factory=UnlistedConfig)
    feeds: list[FeedConfig] = Field(default_factory=list, description="digest sources (feeds, list pages)")
    redaction: RedactionConfig = Field(default_factory=RedactionConfig)
    pricing: PricingConfig = Field(default_factory=PricingConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)

    def find_channel(self, platform: str, channel_id: str) -> tuple[TenantConfig, ChannelConfig] | None:
        for tenant in self.tenants:
            for channel in tenant.channels:
                if channel.platform == platform and channel.id == channel_id:
                    return tenant, channel
        return None

    def tenant(self, tenant_id: str) -> TenantConfig | None:
        return next((t for t in self.tenants if t.id == tenant_id), None)

    def platform_default_tenant(self, platform: str) -> str | None:
        """The tenant a platform's own settings give its unlisted conversations (LoGo's default_tenant)."""
        if platform == "logo" and self.platforms.logo is not None:
            return self.platforms.logo.default_tenant
        return None

    @model_validator(mode="after")
    def _cross_references(self) -> Manifest:
        colls = {c.name: c for c in self.knowledge.collections}
        k = self.knowledge
        problems = _duplicates([c.name for c in k.collections], ("knowledge", "collections"), "collection")
        tenant_ids = [t.id for t in self.tenants]
        problems += _duplicates(tenant_ids, ("tenants",), "tenant id")
        for i, c in enumerate(k.collections):
            if c.owner is not None and c.owner not in tenant_ids:
                problems.append((("knowledge", "collections", i, "owner"), f"no tenant with id {c.owner!r}"))
            if c.owner is not None and c.public:
                problems.append(
                    (("knowledge", "collections", i, "public"),
                     f"collection {c.name!r} belongs to tenant {c.owner!r} and cannot be public")
                )
        if self.unlisted.tenant is not None and self.unlisted.tenant not in tenant_ids:
            unknown = f"no tenant with id {self.unlisted.tenant!r} (tenants: {tenant_ids})"
            problems.append((("unlisted", "tenant"), unknown))
        for i, s in enumerate(k.sources):
            if s.collection not in colls:
                problems.append((("knowledge", "sources", i, "collection"), _unknown(s.collection, colls)))
        if k.egov.laws and k.egov.collection not in colls:
            problems.append((("knowledge", "egov", "collection"), _unknown(k.egov.collection, colls)))
        elif k.egov.laws and colls[k.egov.collection].kind not in LAW_KINDS:
            problems.append((("knowledge", "egov", "collection"), _not_for_laws(colls[k.egov.collection])))
        seen_channels: dict[tuple[str, str], str] = {}
        seen_subs: set[str] = set()
        feed_ids = {f.id for f in self.feeds}
        problems += _duplicates([f.id for f in self.feeds], ("feeds",), "feed id")
        for i, f in enumerate(self.feeds):
            if f.collection not in colls:
                problems.append((("feeds", i, "collection"), _unknown(f.collection, colls)))
            elif f.kind == "egov_revisions" and colls[f.collection].kind not in LAW_KINDS:
                problems.append((("feeds", i, "collection"), _not_for_laws(colls[f.collection])))
        for i, t in enumerate(self.tenants):
            for j, name in enumerate(t.collections):
                owner = colls[name].owner if name in colls else None
                if name not in colls:
                    problems.append((("tenants", i, "collections", j), _unknown(name, colls)))
                elif owner is not None and owner != t.id:
                    problems.append(
                        (("tenants", i, "collections", j), f"collection {name!r} belongs to tenant {owner!r}")
                    )
            if t.inquiries is not None:
                problems += _inquiry_problems(self, i, t, colls)
            for j, ch in enumerate(t.channels):
                loc: Loc = ("tenants", i, "channels", j)
                if ch.platform != "console" and getattr(self.platforms, ch.platform) is None:
                    problems.append(
                        (
                            (*loc, "platform"),
                            f"channel {ch.id!r} is on {ch.platform} but "
                            f"platforms.{ch.platform} is not configured",
                        )
                    )
                if (ch.platform, ch.id) in seen_channels:
                    problems.append(
                        (
                            (*loc, "id"),
                            f"{ch.platform} channel {ch.id!r} is already mapped to "
                            f"tenant {seen_channels[ch.platform, ch.id]!r}",
                        )
                    )
                seen_channels[ch.platform, ch.id] = t.id
                for n, sub in enumerate(ch.digests):
                    if sub.answered_inquiries and t.inquiries is None:
                        problems.append(((*loc, "digests", n, "answered_inquiries"),
                                         f"tenant {t.id!r} sends no inquiries (set its inquiries)"))
                    if sub.id in seen_subs:
                        problems.append(((*loc, "digests", n, "id"), f"duplicate subscription id {sub.id!r}"))
                    seen_subs.add(sub.id)
                    for m, source in enumerate(sub.sources):
                        if source not in feed_ids:
                            problems.append(
                                (
                                    (*loc, "digests", n, "sources", m),
                                    f"unknown feed {source!r}; feeds defines {sorted(feed_ids)}",
                                )
                            )
        _raise("Manifest", problems)
        return self


def _inquiry_problems(
    manifest: Manifest, i: int, tenant: TenantConfig, colls: dict[str, CollectionConfig]
) -> list[tuple[Loc, str]]:
    """Where a tenant's inquiries go must be configured; where their answers go must be a Q&A collection
    the tenant searches, not public (internal answers) and not another tenant's."""
    assert tenant.inquiries is not None
    loc: Loc = ("tenants", i, "inquiries")
    problems: list[tuple[Loc, str]] = []
    platform = tenant.inquiries.destination.platform
    if getattr(manifest.platforms, platform) is None:
        problems.append(((*loc, "destination", "platform"),
                         f"inquiries go to {platform} but platforms.{platform} is not configured"))
    name = tenant.inquiries.collection
    collection = colls.get(name)
    where = (*loc, "collection")
    if collection is None:
        problems.append((where, _unknown(name, colls)))
    elif collection.kind != DocKind.QA:
        problems.append((where, f"collection {name!r} is a {collection.kind} collection; answers to "
                                "inquiries go into a Q&A collection (kind qa)"))
    elif collection.public:
        problems.append((where, f"collection {name!r} is public; answers to inquiries are internal"))
    elif collection.owner is not None and collection.owner != tenant.id:
        problems.append((where, f"collection {name!r} belongs to tenant {collection.owner!r}"))
    elif name not in tenant.collections:
        problems.append((where, f"add {name!r} to the tenant's collections, or its answers are never "
                                "searched"))
    return problems


def _not_for_laws(collection: CollectionConfig) -> str:
    return (
        f"{collection.name!r} is a {collection.kind} collection; statutes go only into a law collection "
        "(kind law, cabinet_order or ministerial_ordinance)"
    )


def _unknown(name: str, known: dict[str, Any]) -> str:
    return f"unknown collection {name!r}; knowledge.collections defines {sorted(known)}"


def json_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def write_json_schema(path: Path) -> None:
    path.write_text(json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":  # python -m manifest.schema  → regenerate manifest/kairan.schema.json
    write_json_schema(Path(__file__).with_name("kairan.schema.json"))
