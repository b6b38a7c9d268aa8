"""Signed webhook delivery of outbox messages to a property-management receiver.

Signing: ``X-Firelane-Signature: sha256=<hex>`` is HMAC-SHA256, keyed with the shared secret, over the
bytes ``f"{timestamp}.".encode() + body``: the ``X-Firelane-Timestamp`` header value (unix seconds),
a dot, then the exact request body bytes. Signing the timestamp lets receivers reject replays of old
requests (``verify_signature`` allows 5 minutes of skew by default); receivers must verify against the
raw body bytes, before any JSON parsing. ``Idempotency-Key`` is the same on every retry of a message:
delivery is at-least-once, so receivers drop keys they have already processed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

SIGNATURE_HEADER = "X-Firelane-Signature"
TIMESTAMP_HEADER = "X-Firelane-Timestamp"
EVENT_HEADER = "X-Firelane-Event"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE_4XX = frozenset({408, 429})


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of one delivery attempt; ``permanent`` failures are never retried (dead-lettered)."""

    ok: bool
    permanent: bool = False
    error: str | None = None


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Firelane-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify_signature(
    secret: str,
    timestamp: int | str,
    body: bytes,
    header: str | None,
    *,
    tolerance_s: float | None = 300.0,
    now: float | None = None,
) -> bool:
    """Check a request's signature (constant-time) and, unless ``tolerance_s`` is None, its freshness."""
    if not header or not header.startswith("sha256="):
        return False
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if tolerance_s is not None and abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body).encode("ascii"), header.encode("ascii", "replace"))


def encode_body(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON (Chinese names stay readable); the bytes sent are the bytes signed."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


class WebhookSender:
    """POSTs outbox payloads to one URL; 2xx delivered, 4xx (but 408/429) permanent, the rest retried."""

    def __init__(
        self, url: str, secret: str, timeout_s: float = 5, *, clock: Callable[[], float] = time.time
    ) -> None:
        if not secret:
            raise ValueError("a webhook secret is required: receivers must be able to verify senders")
        self.url = url
        self._secret = secret
        self._clock = clock
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def send(self, payload: dict[str, Any], idempotency_key: str) -> DeliveryResult:
        body = encode_body(payload)
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            TIMESTAMP_HEADER: str(timestamp),
            IDEMPOTENCY_HEADER: idempotency_key,
            EVENT_HEADER: str(payload.get("event", "violation.started")),
        }
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as error:  # timeouts, refused or reset connections, DNS: all transient
            return DeliveryResult(False, error=f"{type(error).__name__}: {error}"[:1000])
        status = response.status_code
        if 200 <= status < 300:
            return DeliveryResult(True)
        error = f"HTTP {status}: {response.text[:500]}"
        return DeliveryResult(False, permanent=400 <= status < 500 and status not in RETRYABLE_4XX, error=error)

    def close(self) -> None:
        self._client.close()
