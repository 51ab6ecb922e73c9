"""Checks on an Events API request before Bolt sees it: signature, timestamp, body. Pure.

Bolt parses the body before it verifies the signature, so a body that is not JSON (or not UTF-8)
and a timestamp that is not a number raised inside it (500 with a traceback), and a request with
an invalid signature was logged at INFO with its whole body, the question included. Here the
timestamp is read as a number (400 otherwise), the signature is verified over the raw bytes (401,
logged without the body), and only then is the body read as a Slack payload (400 otherwise).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

log = logging.getLogger(__name__)

MAX_AGE_S = 5 * 60  # Slack's replay window

Refusal = tuple[int, str]  # (HTTP status, reason for the log: never any part of the body)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _payload(body: bytes) -> Any:
    """The JSON payload of an event (JSON body) or an interaction (form field ``payload``)."""
    text = body.decode("utf-8")
    if text.lstrip().startswith(("{", "[")):
        return json.loads(text)
    fields = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
    return json.loads(fields["payload"]) if "payload" in fields else fields


def check_request(
    body: bytes, headers: Mapping[str, str], *, signing_secret: str, now: float
) -> Refusal | None:
    """None when Bolt may handle the request, else why it is refused."""
    timestamp = _header(headers, "x-slack-request-timestamp")
    signature = _header(headers, "x-slack-signature")
    if timestamp is None or signature is None:
        return 401, "missing signature"
    if not (timestamp.isascii() and timestamp.isdigit()):
        return 400, "timestamp not a number"
    if abs(now - int(timestamp)) > MAX_AGE_S:
        return 401, "stale timestamp"
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return 401, "invalid signature"
    try:
        payload = _payload(body)
    except (ValueError, KeyError):  # not UTF-8, not JSON, a broken form
        return 400, "body not a Slack payload"
    if not isinstance(payload, dict):
        return 400, "body not a Slack payload"
    return None


async def refusal_response(request: web.Request, *, signing_secret: str) -> web.Response | None:
    """The 400/401 response for a request Bolt must not see (logged without its body), else None."""
    body = await request.read()
    refused = check_request(body, request.headers, signing_secret=signing_secret, now=time.time())
    if refused is None:
        return None
    status, reason = refused
    log.warning("Slack request refused with HTTP %d: %s", status, reason)
    return web.json_response({"error": "invalid request"}, status=status)
