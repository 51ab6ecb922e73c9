"""Structured logs: one JSON object per line, with the request id of the HTTP request or chat question
(``bot.log_context``).

Secrets never reach the output: the values of every environment variable the manifest names in an
``*_env`` field (and the console token) are replaced by ``***`` in messages and tracebacks. Question
text is never logged at INFO or above: callers log sizes and ids, and ``QuestionTextFilter`` drops
any record that carries a ``question`` attribute above DEBUG.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.log_context import request_id_var

CONSOLE_TOKEN_ENV = "KAIRAN_CONSOLE_TOKEN"
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words
_HANDLER_NAME = "kairan-json"


def env_names(config: Any) -> list[str]:
    """Every environment variable NAME a manifest (or any of its sections) refers to in *_env fields."""
    names: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(key, str) and key.endswith("_env") and isinstance(item, str):
                    names.append(item)
                else:
                    walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(config.model_dump() if hasattr(config, "model_dump") else config)
    return list(dict.fromkeys(names))


class SecretRedactor:
    """Replaces known secret values with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)

    @classmethod
    def from_env(cls, names: Iterable[str], environ: Mapping[str, str] = os.environ) -> SecretRedactor:
        return cls(environ[n] for n in names if environ.get(n, "").strip())

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text


class SecretFilter(logging.Filter):
    """Renders each record's message with secrets masked (tracebacks are masked by the formatter)."""

    def __init__(self, redactor: SecretRedactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        return True


class QuestionTextFilter(logging.Filter):
    """Drops records above DEBUG that carry question text (``extra={"question": ...}``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno <= logging.DEBUG or not hasattr(record, "question")


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id, then any ``extra`` fields and the traceback."""

    _STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "question"}

    def __init__(self, redactor: SecretRedactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or SecretRedactor(())

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redactor(record.getMessage()),
            "request_id": request_id_var.get(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                plain = isinstance(value, int | float | bool | None)
                entry[key] = value if plain else self.redactor(str(value))
        if record.exc_info:
            entry["exception"] = self.redactor(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self.redactor(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(
    *,
    level: int | str = logging.INFO,
    secret_env_names: Iterable[str] = (),
    environ: Mapping[str, str] = os.environ,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Route every log record through one JSON handler on the root logger (replacing an earlier one)."""
    redactor = SecretRedactor.from_env([*secret_env_names, CONSOLE_TOKEN_ENV], environ)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter(redactor))
    handler.addFilter(QuestionTextFilter())
    handler.addFilter(SecretFilter(redactor))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
