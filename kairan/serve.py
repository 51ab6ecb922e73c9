"""``kairan serve``: one process, one aiohttp application — health, readiness, metrics, the console,
the chat adapters' endpoints and the digest scheduler, on the runtime ``kairan.wiring`` builds.

Start order: runtime (state DB, metered and budget-guarded engine, question lifecycle) → adapters
(``adapters.registry``) → HTTP app (an adapter's endpoint mounted on it, or on a port of its own)
→ listen → adapters start → scheduler start. Stop order is the reverse, on SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url

from adapters.registry import PLATFORMS
from adapters.spec import LoopbackOnly, ServesHttp, is_loopback
from bot.log_context import new_request_id, request_id_var
from bot.ports import Adapter, Answerer
from bot.state.db import Database
from bot.state.outbox import Outbox
from kairan.console import ConsoleAccess, ConsoleHandlers, console_scope
from kairan.console.hosts import HostPolicy, host_guard
from kairan.housekeeping import prune_events, thread_retention
from kairan.metrics import CONTENT_TYPE, Metrics
from kairan.wiring import KnowledgeConfig, Runtime, build_adapters, build_runtime
from knowledge.store import KnowledgeStore

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 5.0
_REQUEST_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class DigestScheduler(Protocol):
    """The digest scheduler's seam: started after the adapters, stopped before them."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def build_digest_scheduler(
    config: KnowledgeConfig,
    *,
    adapters: Sequence[Adapter],
    db: Database,
    metrics: Metrics,
    environ: Mapping[str, str],
) -> DigestScheduler | None:
    """The digest scheduler when the manifest has subscriptions; posts are counted in /metrics."""
    from bot.digest.config import from_manifest
    from bot.digest.scheduler import DigestScheduler as CronScheduler
    from bot.llm.factory import provider_from_config
    from kairan.wiring import build_digest_runner

    _, subscriptions = from_manifest(config.manifest)
    if not subscriptions:
        return None
    runner = build_digest_runner(
        config,
        {a.name: a for a in adapters},
        db=db,
        llm=provider_from_config(config.manifest.llm, environ=environ),
    )

    async def run(subscription_id: str) -> str:
        result = await runner.run(subscription_id)
        if result.posted:
            metrics.digest_posts.inc()
        return result.status

    return CronScheduler(runner=runner, subscriptions=subscriptions, engine=db.engine, run=run)


@dataclass
class Services:
    """Everything the HTTP app and the shutdown need, built once by ``build_services``."""

    runtime: Runtime
    store: KnowledgeStore
    metrics: Metrics
    adapters: list[Adapter] = field(default_factory=list)
    scheduler: DigestScheduler | None = None

    @property
    def config(self) -> KnowledgeConfig:
        return self.runtime.config

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def engine(self) -> Answerer:
        return self.runtime.answerer

    async def stop(self) -> None:
        """Stop the scheduler, then the adapters in reverse order; never raises."""
        stoppers: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        if self.scheduler is not None:
            stoppers.append(("digest scheduler", self.scheduler.stop))
        stoppers += [(f"adapter {a.name}", a.stop) for a in reversed(self.adapters)]
        for name, stop in stoppers:
            try:
                await stop()
            except Exception:
                log.exception("stopping %s failed", name)

    async def close(self) -> None:
        """Release the LLM client and the state DB (after the HTTP server has drained)."""
        try:
            await self.runtime.close()
        except Exception:
            log.exception("closing the LLM provider failed")


def build_services(config: KnowledgeConfig, *, environ: Mapping[str, str] = os.environ) -> Services:
    metrics = Metrics()
    runtime = build_runtime(config, environ=environ, metrics=metrics)
    try:
        adapters = build_adapters(runtime)
        scheduler = build_digest_scheduler(
            config, adapters=adapters, db=runtime.db, metrics=metrics, environ=environ
        )
    except BaseException:
        runtime.db.close()
        raise
    return Services(
        runtime=runtime,
        store=KnowledgeStore(config.knowledge_location),  # own handle: readiness refreshes it
        metrics=metrics,
        adapters=adapters,
        scheduler=scheduler,
    )


# -- readiness --------------------------------------------------------------------------------
def check_index(store: KnowledgeStore) -> None:
    store.refresh()
    if store.is_empty():
        raise RuntimeError("the knowledge base is empty")


def check_state(db: Database) -> None:
    url = make_url(str(db.engine.url))
    database = url.database or ""
    # A deleted or moved SQLite file still answers through open connections; writes would be lost.
    file_based = url.get_backend_name() == "sqlite" and database not in ("", ":memory:")
    if file_based and not database.startswith("file:") and not Path(database).is_file():
        raise RuntimeError("the SQLite state file is missing")
    with db.read() as conn:
        conn.execute(text("SELECT 1")).scalar_one()


async def _run_check(name: str, check: Callable[[], None]) -> str:
    try:
        await asyncio.wait_for(asyncio.to_thread(check), CHECK_TIMEOUT_S)
    except Exception as exc:
        log.warning("readiness: %s failed: %s", name, type(exc).__name__)
        return "unavailable"
    return "ok"


async def readiness(services: Services) -> tuple[bool, dict[str, Any]]:
    index, state = await asyncio.gather(
        _run_check("index", lambda: check_index(services.store)),
        _run_check("state", lambda: check_state(services.db)),
    )
    adapters = {a.name: "ok" if _connected(a) else "disconnected" for a in services.adapters}
    body: dict[str, Any] = {"index": index, "state": state, "adapters": adapters}
    failed = [name for name in ("index", "state") if body[name] != "ok"]
    failed += [f"adapters.{name}" for name, status in adapters.items() if status != "ok"]
    if failed:
        body["failed"] = failed
    return not failed, body


def _log_warm_failure(task: asyncio.Task[None]) -> None:
    """A failed warm-up costs the first question its time, nothing else: logged, never raised."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("knowledge base warm-up failed: %s", type(task.exception()).__name__)


def _connected(adapter: Adapter) -> bool:
    try:
        return bool(adapter.connected())
    except Exception:
        log.exception("adapter %s: connected() failed", adapter.name)
        return False


# -- the HTTP application ---------------------------------------------------------------------
SERVICES_KEY = web.AppKey("services", Services)


@web.middleware
async def request_context(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A request id per request (X-Request-Id when sane, else new), echoed back and in every log line."""
    given = request.headers.get("X-Request-Id", "")
    rid = given if 0 < len(given) <= 64 and set(given) <= _REQUEST_ID_CHARS else new_request_id()
    token = request_id_var.set(rid)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = rid
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers["X-Request-Id"] = rid
        raise
    finally:
        if request.path not in ("/healthz", "/readyz", "/metrics") or status >= 400:
            log.info(
                "%s %s %d",
                request.method,
                request.path,
                status,
                extra={"status": status, "ms": round((time.perf_counter() - started) * 1000, 1)},
            )
        request_id_var.reset(token)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def readyz(request: web.Request) -> web.Response:
    ready, body = await readiness(request.app[SERVICES_KEY])
    return web.json_response(body, status=200 if ready else 503)


def outbox_pending(db: Database) -> dict[str, int]:
    """Pending outbox entries per platform (one indexed COUNT each)."""
    outbox = Outbox(db)
    return {spec.name: outbox.pending(spec.name) for spec in PLATFORMS}


async def _read_counts(
    db: Database, read: Callable[[Database], dict[str, int]], what: str
) -> dict[str, int] | None:
    """Counts read from the state DB at scrape time; None (no samples) when it does not answer."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(read, db), CHECK_TIMEOUT_S)
    except Exception as exc:
        log.warning("metrics: reading %s from the state DB failed: %s", what, type(exc).__name__)
        return None


def inquiries_open(db: Database) -> dict[str, int]:
    """Inquiries posted (or being posted) and not answered yet, per tenant."""
    from bot.inquiry.store import OPEN, SENDING, InquiryStore

    counts: dict[str, int] = {}
    for (tenant, state), n in InquiryStore(db).counts().items():
        if state in (SENDING, OPEN):
            counts[tenant] = counts.get(tenant, 0) + n
    return counts


async def metrics_view(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    services.metrics.set_outbox_pending(await _read_counts(services.db, outbox_pending, "the outbox"))
    if services.runtime.inquiries is not None:
        services.metrics.set_inquiries_open(await _read_counts(services.db, inquiries_open, "the inquiries"))
    body = services.metrics.render()
    return web.Response(body=body.encode(), headers={"Content-Type": CONTENT_TYPE})


async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console")


def _digest_preview(runner: Any) -> Callable[[str], Awaitable[tuple[str, int]]]:
    """A dry run of the digest runner: polls and composes, posts nothing."""
    from bot.digest.compose import render_text

    async def preview(subscription_id: str) -> tuple[str, int]:
        result = await runner.run(subscription_id, dry_run=True)
        return render_text(result.digest, waiting=result.waiting), len(result.digest.items)

    return preview


def _inquiry_list(services: Services) -> Callable[[str], Awaitable[list[dict[str, Any]]]]:
    """A tenant's inquiries as the console lists them (newest 50, with their age)."""
    from bot.inquiry.listing import row
    from bot.inquiry.store import InquiryStore
    from bot.state.db import utc_now
    from kairan.inquiry_cli import destinations

    names = destinations(services.config.manifest)

    def read(tenant: str) -> list[dict[str, Any]]:
        now, found = utc_now(), InquiryStore(services.db).listing(tenant=tenant, limit=50)
        return [row(inquiry, destinations=names, now=now) for inquiry in found]

    async def listing(tenant: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(read, tenant)

    return listing


def build_app(services: Services, *, host: str, environ: Mapping[str, str] = os.environ) -> web.Application:
    """The one aiohttp application; ``host`` is the bind address (it decides console access)."""
    hosts = HostPolicy.for_bind(host, services.config.manifest.server.allowed_hosts)
    app = web.Application(middlewares=[request_context, host_guard(hosts)], client_max_size=64 * 1024)
    app[SERVICES_KEY] = services
    runner = getattr(services.scheduler, "runner", None)
    console = ConsoleHandlers(
        engine=services.engine,
        access=ConsoleAccess.for_bind(host, environ),
        scope=console_scope(services.config.manifest),
        errors=services.metrics.errors,
        digests=[s.id for s in getattr(services.scheduler, "subscriptions", [])],
        digest_preview=_digest_preview(runner) if runner is not None else None,
        inquiries=_inquiry_list(services) if services.runtime.inquiries is not None else None,
    )
    app.add_routes(
        [
            web.get("/", root),
            web.get("/healthz", healthz),
            web.get("/readyz", readyz),
            web.get("/metrics", metrics_view),
            *console.routes(),
        ]
    )
    for prefix, endpoint in _endpoints(services.adapters, on_own_port=False):
        app.add_subapp(prefix, endpoint)
    return app


def _endpoints(adapters: Sequence[Adapter], *, on_own_port: bool) -> list[tuple[str, web.Application]]:
    """The adapters' HTTP endpoints served on kairan's own port, or (``on_own_port``) on theirs."""
    found = []
    for adapter in adapters:
        if isinstance(adapter, ServesHttp) and (adapter.http_port is not None) == on_own_port:
            endpoint = adapter.http_endpoint()
            if endpoint is not None:
                found.append(endpoint)
    return found


async def start_own_listeners(adapters: Sequence[Adapter], host: str) -> list[web.AppRunner]:
    """A listener on ``host`` for each adapter whose endpoint has a port of its own (Teams' port)."""
    runners: list[web.AppRunner] = []
    for adapter in adapters:
        if not isinstance(adapter, ServesHttp) or adapter.http_port is None:
            continue
        endpoint = adapter.http_endpoint()
        if endpoint is None:
            continue
        app = web.Application(middlewares=[request_context])
        app.add_subapp(*endpoint)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, host, adapter.http_port).start()
        log.info("%s endpoint listening on %s:%d%s", adapter.name, host, adapter.http_port, endpoint[0])
    return runners


def refuse_exposure(adapters: Sequence[Adapter], host: str) -> None:
    """Refuse (before anything listens) to serve an adapter that must stay on this machine, such as
    Teams' development mode without tokens, on any address but loopback."""
    if is_loopback(host):
        return
    for adapter in adapters:
        if isinstance(adapter, LoopbackOnly) and (why := adapter.loopback_only()):
            raise PermissionError(
                f"{why}: kairan serve then listens only on this machine (--host 127.0.0.1), not on {host!r}"
            )


# -- running ----------------------------------------------------------------------------------
def console_banner(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"ブラウザで http://{shown}:{port}/console を開いてください"


async def serve(
    config: KnowledgeConfig,
    *,
    host: str,
    port: int,
    environ: Mapping[str, str] = os.environ,
    ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until SIGINT/SIGTERM (or ``stop`` is set); ``ready`` gets the console banner once listening."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests) or no signals
            pass
    services = await asyncio.to_thread(build_services, config, environ=environ)
    runner = web.AppRunner(build_app(services, host=host, environ=environ), access_log=None)
    housekeeping: asyncio.Task[None] | None = None
    own: list[web.AppRunner] = []
    try:
        refuse_exposure(services.adapters, host)  # a PermissionError: the CLI says it cannot listen there
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        own = await start_own_listeners(services.adapters, host)
        for adapter in services.adapters:
            await adapter.start()
        if services.scheduler is not None:
            await services.scheduler.start()
        housekeeping = asyncio.create_task(
            prune_events(services.db, stop, threads_keep=thread_retention(config.manifest))
        )
        warming = asyncio.create_task(asyncio.to_thread(services.runtime.engine.searcher.warm))
        warming.add_done_callback(_log_warm_failure)
        log.info("kairan serving on %s:%d", host, port, extra={"adapters": len(services.adapters)})
        if ready is not None:
            ready(console_banner(host, port))
        await stop.wait()
        log.info("shutting down")
    finally:
        if housekeeping is not None:
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
        await services.stop()
        for listener in own:
            await listener.cleanup()
        await runner.cleanup()  # finishes in-flight requests
        await services.close()
        for sig in handled:
            loop.remove_signal_handler(sig)
        log.info("stopped")
