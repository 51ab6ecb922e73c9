"""What a platform is built from (``adapters.spec.PlatformRuntime``), assembled from parts for tests.

``kairan.wiring.build_runtime`` builds the real one from a manifest and a data directory; adapter
tests build theirs around the engine and the state DB of the test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.flow.lifecycle import Lifecycle
from bot.ports import Answerer
from bot.state.audit import AuditLog
from bot.state.db import Database
from bot.state.feedback import FeedbackStore
from manifest.schema import Manifest


@dataclass
class PartsRuntime:
    manifest: Manifest
    db: Database
    lifecycle: Lifecycle
    audit: AuditLog
    feedback: FeedbackStore
    environ: Mapping[str, str] = field(default_factory=dict)


def platform_runtime(
    manifest: Manifest | None,
    db: Database,
    answerer: Answerer,
    *,
    environ: Mapping[str, str] | None = None,
    audit: AuditLog | None = None,
    lifecycle: Lifecycle | None = None,
) -> PartsRuntime:
    """The runtime a platform gets: ``lifecycle`` defaults to the state DB's around ``answerer``."""
    audit = audit or AuditLog(db, salt="test-salt")
    return PartsRuntime(
        manifest=manifest if manifest is not None else Manifest(),
        db=db,
        lifecycle=lifecycle or Lifecycle.on(db, answerer),
        audit=audit,
        feedback=FeedbackStore(db, key=audit.key, anchor_file=audit.anchor_file),
        environ=dict(environ or {}),
    )
