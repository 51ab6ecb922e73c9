"""What a chat platform package exports so that kairan runs it: a ``PlatformSpec``.

``kairan.wiring`` builds one runtime per process (state DB, answer engine, audit log, the question
lifecycle) and hands it to each spec of ``adapters.registry``; ``kairan serve`` mounts the HTTP
endpoint of an adapter that has one (``ServesHttp``); ``kairan`` mounts each spec's commands.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # the CLI reads the specs: no SDK, HTTP server or database loads with them
    import click
    from aiohttp import web
    from pydantic import BaseModel

    from bot.flow.lifecycle import Lifecycle
    from bot.ports import Adapter
    from bot.state.audit import AuditLog
    from bot.state.db import Database
    from bot.state.feedback import FeedbackStore
    from manifest.schema import Manifest


class PlatformRuntime(Protocol):
    """What a kairan process shares with every platform (``kairan.wiring.Runtime``)."""

    @property
    def manifest(self) -> Manifest: ...

    @property
    def environ(self) -> Mapping[str, str]: ...

    @property
    def db(self) -> Database: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def feedback(self) -> FeedbackStore: ...

    @property
    def lifecycle(self) -> Lifecycle: ...


@dataclass(frozen=True)
class PlatformSpec:
    name: str  # "slack": its block under the manifest's platforms, its channels' platform
    config: type[BaseModel]  # the model of that block (manifest.schema)
    build: Callable[[PlatformRuntime], Adapter | None]  # None: the manifest does not configure it
    cli: click.Group | None = None  # mounted as ``kairan <name> …``
    app_manifest: click.Command | None = None  # mounted as ``kairan manifest <name>``
    # Items one digest post shows (the adapter's ``max_digest_items``; None: all), known without
    # building the adapter, so that a dry run previews exactly what the post will carry.
    max_digest_items: int | None = None


@runtime_checkable
class ServesHttp(Protocol):
    """An adapter that receives the platform's requests over HTTP."""

    http_port: int | None  # None: on ``kairan serve``'s own port; a number: its own listener there

    def http_endpoint(self) -> tuple[str, web.Application] | None:
        """(path prefix, application) to mount; None: nothing to serve (e.g. Slack's Socket Mode)."""


@runtime_checkable
class LoopbackOnly(Protocol):
    """An adapter in a mode that must only be reachable from this machine (a development mode that
    accepts requests without a platform token): ``kairan serve`` then listens on loopback or not at all."""

    def loopback_only(self) -> str | None:
        """Why the listener must be on loopback (said when refusing another address); None: any address."""


def is_loopback(host: str) -> bool:
    """Whether a listen address (``--host``) is this machine only: ``localhost`` or a loopback literal."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # 0.0.0.0 / :: are not loopback; another name may resolve anywhere
