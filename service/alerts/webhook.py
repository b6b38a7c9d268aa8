"""Signed webhook delivery of outbox messages to a property-management receiver.

Signing: ``X-Firelane-Signature: sha256=<hex>`` is HMAC-SHA256, keyed with the shared secret, over the
bytes ``f"{timestamp}.".encode() + body``: the ``X-Firelane-Timestamp`` header value (unix seconds),
a dot, then the exact request body bytes. Signing the timestamp lets receivers reject replays of old
requests (``verify_signature`` allows 5 minutes of skew by default); receivers must verify against the
raw body bytes, before any JSON parsing. ``Idempotency-Key`` is the same on every retry of a message:
delivery is at-least-once, so receivers drop keys they have already processed.

Time limits. httpx bounds each step (connect, each wait for the receiver's next bytes, each write, a free
pooled connection) but not their sum: a receiver that trickles a byte every few seconds would hold the sender
forever. So every request also has an overall deadline, enforced by running it on the sender's own event loop
under ``asyncio.wait_for`` (cancelling closes the connection).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
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
DEFAULT_TIMEOUT = httpx.Timeout(connect=3.0, read=5.0, write=5.0, pool=5.0)
DEFAULT_DEADLINE_S = 10.0


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
    """POSTs outbox payloads to one URL; 2xx delivered, 4xx (but 408/429) permanent, the rest retried.

    ``send`` blocks the calling thread for at most ``deadline_s`` (plus scheduling), whatever the receiver does.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        deadline_s: float = DEFAULT_DEADLINE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("a webhook secret is required: receivers must be able to verify senders")
        self.url = url
        self.timeout = timeout
        self.deadline_s = deadline_s
        self._secret = secret
        self._clock = clock
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="webhook-http", daemon=True)
        self._loop_thread.start()

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
        request = asyncio.run_coroutine_threadsafe(self._post(body, headers), self._loop)
        try:
            response = request.result()
        except httpx.HTTPError as error:  # timeouts, refused or reset connections, DNS: all transient
            return DeliveryResult(False, error=f"{type(error).__name__}: {error}"[:1000])
        except asyncio.TimeoutError:
            return DeliveryResult(False, error=f"DeadlineExceeded: no complete response within {self.deadline_s} s")
        status = response.status_code
        if 200 <= status < 300:
            return DeliveryResult(True)
        error = f"HTTP {status}: {response.text[:500]}"
        return DeliveryResult(False, permanent=400 <= status < 500 and status not in RETRYABLE_4XX, error=error)

    async def _post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return await asyncio.wait_for(self._client.post(self.url, content=body, headers=headers), self.deadline_s)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._client.aclose(), self._loop).result(self.deadline_s)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join(self.deadline_s)
        self._loop.close()
