"""The outbox workers: deliver pending webhook and MQTT messages, with back-off, at least once.

One dispatcher per channel, each on its own thread: a receiver that hangs costs its own channel up to its
time limit per message and nobody else. ``delivered_at`` (and a retry's back-off) start from the clock read
after the send, so a slow send earlier in a batch does not backdate later deliveries.

Claiming. On PostgreSQL each message is sent inside the transaction that holds its row lock
(``SELECT ... FOR UPDATE SKIP LOCKED``), so concurrent dispatchers never send the same row at once and
a crash before commit just leaves it due. SQLite has no row locks, and holding its single write lock
during a network call would stall the pipeline's writes; there a row is claimed by a compare-and-set
UPDATE that moves ``next_attempt_at`` out by ``lease_s``, then sent outside any transaction (a crash
after the claim delays that message by the lease, it does not lose it).

In a cluster the dispatchers run in one process only, the leader (service.leader). Should it die between the
receiver's answer and its commit, the row stays due and the next leader sends it again under the same
``Idempotency-Key``: delivery is at least once, with at most one repeat per message in flight when a dispatcher
dies; receivers drop repeats by that key.

Dead letters. A permanent failure (HTTP 4xx other than 408/429) or the last allowed attempt leaves a row
with ``delivered_at IS NULL AND attempts >= max_attempts``: kept for inspection, never retried. Nothing is
added to the schema for this; to retry such rows, set their ``attempts`` back to 0 (raising
``max_attempts`` also revives them).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session, sessionmaker

from service.alerts.mqtt import MqttPublisher
from service.alerts.webhook import DeliveryResult, WebhookSender
from service.db.errors import OutageLog
from service.db.models import OutboxMessage
from service.settings import Settings

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class DispatchStats:
    delivered: int = 0
    retried: int = 0  # failed, scheduled again
    dead_lettered: int = 0  # failed permanently or for the last time

    @property
    def attempted(self) -> int:
        return self.delivered + self.retried + self.dead_lettered


class OutboxDispatcher:
    """Delivers the outbox rows of the channel ``sender`` serves: ``webhook`` or ``mqtt``."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        sender: WebhookSender | MqttPublisher,
        clock: Callable[[], datetime] = utc_now,
        max_attempts: int = 12,
        backoff: tuple[float, float] = (2.0, 600.0),
        *,
        batch_size: int = 100,
        lease_s: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = session_factory
        self.sender = sender
        self.channel = "webhook" if isinstance(sender, WebhookSender) else "mqtt"
        self._clock = clock
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.batch_size = batch_size
        self.lease = timedelta(seconds=lease_s)
        self._rng = rng or random.Random()

    def retry_delay(self, attempts_before: int) -> float:
        """``backoff0 * 2**attempts`` seconds (the first retry waits backoff0), capped, plus up to 10 % jitter."""
        base, cap = self.backoff
        delay = min(base * 2.0 ** min(attempts_before, 60), cap)
        return delay + self._rng.uniform(0, delay * 0.1)

    def run_once(self, stop_event: threading.Event | None = None) -> DispatchStats:
        """Send every due message of this channel once (at most ``batch_size``); ``stop_event`` ends the batch
        early, so stopping waits for one send, not for a batch of them."""
        stats = DispatchStats()
        while stats.attempted < self.batch_size and not (stop_event and stop_event.is_set()):
            with self._sessions() as session:
                row = self._claim(session, self._clock())
                if row is None:
                    break
                result = self._send(row)
                self._record(row, result, self._clock(), stats)
                session.commit()
        return stats

    def run_forever(self, stop_event: threading.Event, interval_s: float = 1.0) -> None:
        """Loop until ``stop_event`` is set; an error (database down, bug) is logged, never fatal."""
        outage = OutageLog(log, f"{self.channel} outbox dispatch")
        while not stop_event.is_set():
            busy = False
            try:
                busy = self.run_once(stop_event).attempted >= self.batch_size
            except Exception as error:
                outage.failed(error)
            else:
                outage.ok()
            if not busy:
                stop_event.wait(interval_s)

    def _due(self, now: datetime) -> tuple[ColumnElement[bool], ...]:
        return (
            OutboxMessage.delivered_at.is_(None),
            OutboxMessage.next_attempt_at <= now,
            OutboxMessage.attempts < self.max_attempts,
            OutboxMessage.channel == self.channel,
        )

    def _claim(self, session: Session, now: datetime) -> OutboxMessage | None:
        query = select(OutboxMessage).where(*self._due(now)).order_by(OutboxMessage.id).limit(1)
        if session.get_bind().dialect.name == "postgresql":
            return session.scalar(query.with_for_update(skip_locked=True))
        while (row := session.scalar(query)) is not None:
            claimed = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, *self._due(now))
                .values(next_attempt_at=now + self.lease)
                .execution_options(synchronize_session=False)
            ).rowcount
            session.commit()
            if claimed == 1:
                return row
        return None  # another dispatcher claimed each candidate first

    def _send(self, row: OutboxMessage) -> DeliveryResult:
        try:
            if isinstance(self.sender, WebhookSender):
                return self.sender.send(row.payload, row.idempotency_key)
            if self.sender.publish(row.topic, row.payload, retain=False, qos=1):
                return DeliveryResult(True)
            return DeliveryResult(False, error=self.sender.last_error or "MQTT publish not acknowledged")
        except Exception as error:  # a bug must cost attempts, not loop on the same row forever
            log.exception("sending outbox message %s failed", row.id)
            return DeliveryResult(False, error=f"{type(error).__name__}: {error}"[:1000])

    def _record(self, row: OutboxMessage, result: DeliveryResult, sent_at: datetime, stats: DispatchStats) -> None:
        if result.ok:
            row.delivered_at = sent_at
            row.attempts += 1
            row.last_error = None
            stats.delivered += 1
            return
        attempts_before = row.attempts
        row.attempts = self.max_attempts if result.permanent else attempts_before + 1
        row.last_error = ("permanent: " if result.permanent else "") + (result.error or "failed")
        row.next_attempt_at = sent_at + timedelta(seconds=self.retry_delay(attempts_before))
        if row.attempts >= self.max_attempts:
            stats.dead_lettered += 1
            log.error("outbox message %s (%s %s) dead-lettered after %d attempts: %s",
                      row.id, row.channel, row.idempotency_key, row.attempts, row.last_error)
        else:
            stats.retried += 1
            log.warning("outbox message %s (%s) attempt %d failed: %s", row.id, row.channel, row.attempts, row.last_error)


def dead_letters(session: Session, max_attempts: int) -> list[OutboxMessage]:
    """Messages that will not be retried (see the module docstring), oldest first."""
    query = select(OutboxMessage).where(OutboxMessage.delivered_at.is_(None), OutboxMessage.attempts >= max_attempts)
    return list(session.scalars(query.order_by(OutboxMessage.id)))


def mqtt_publisher(settings: Settings, purpose: str = "") -> MqttPublisher:
    """A connection to the configured broker; ``purpose`` tells a second connection of this process apart."""
    assert settings.mqtt_host is not None
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    client_id = "-".join(filter(None, ("firelane", socket.gethostname(), str(os.getpid()), purpose)))
    return MqttPublisher(settings.mqtt_host, settings.mqtt_port, client_id, settings.mqtt_username, password,
                         connect_timeout_s=settings.mqtt_connect_timeout_s,
                         publish_timeout_s=settings.mqtt_ack_timeout_s)  # unique id: brokers drop duplicates


def dispatchers_from_settings(settings: Settings, session_factory: sessionmaker[Session]) -> list[OutboxDispatcher]:
    """The dispatchers the server runs, one per channel; a channel is on when its URL/host is set."""
    senders: list[WebhookSender | MqttPublisher] = []
    if settings.webhook_url:
        if settings.webhook_secret is None:
            raise ValueError("FIRELANE_WEBHOOK_URL is set but FIRELANE_WEBHOOK_SECRET is not")
        timeout = httpx.Timeout(connect=settings.webhook_connect_timeout_s, read=settings.webhook_read_timeout_s,
                                write=settings.webhook_write_timeout_s, pool=settings.webhook_pool_timeout_s)
        senders.append(WebhookSender(settings.webhook_url, settings.webhook_secret.get_secret_value(),
                                     timeout=timeout, deadline_s=settings.webhook_deadline_s))
    if settings.mqtt_host:
        senders.append(mqtt_publisher(settings))
    return [OutboxDispatcher(session_factory, sender, max_attempts=settings.outbox_max_attempts) for sender in senders]
