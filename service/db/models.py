"""Tables for violations and their evidence files: the base every later migration builds on."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

# Deterministic constraint names: Alembic can then drop/alter them by name, and batch mode on
# SQLite (which recreates tables) keeps them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL: plain ``json`` has no equality operator (DISTINCT, UNION and indexes fail).
Json = JSON().with_variant(JSONB(), "postgresql")


def require_aware(value: datetime, what: str = "datetime") -> datetime:
    """Reject naive datetimes: their zone is a guess, and a wrong guess moves evidence by hours."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetime stored as UTC; SQLite keeps no offset, so convert both ways here."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = require_aware(value).astimezone(timezone.utc)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite, and CURRENT_TIMESTAMP there, which is UTC
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base: every ``Mapped[datetime]`` column of every table is a ``UtcDateTime``."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime()}


class Violation(Base):
    """One object that stayed in a zone past its grace time; ``id`` is chosen by the pipeline."""

    __tablename__ = "violations"
    __table_args__ = (Index("ix_violations_camera_zone_started", "camera_id", "zone_id", "started_at"),)
    # Fetch server-set timestamps at flush, so objects stay readable after the session closes.
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(128), index=True)
    camera_name: Mapped[str | None] = mapped_column(String(256))
    zone_id: Mapped[str] = mapped_column(String(128), index=True)
    zone_name: Mapped[str] = mapped_column(String(256))
    zone_kind: Mapped[str] = mapped_column(String(32))
    object_class: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    violation_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    duration_s: Mapped[float] = mapped_column(Float)
    box: Mapped[list[float]] = mapped_column(Json)  # last box, xyxy in pixels
    tracker_ids: Mapped[list[int]] = mapped_column(Json)
    evidence_dir: Mapped[str] = mapped_column(String(1024))  # relative to the evidence root
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(server_default=text("CURRENT_TIMESTAMP"))
    updated_at: Mapped[datetime] = mapped_column(server_default=text("CURRENT_TIMESTAMP"), onupdate=func.now())
    # Police review (migration 0002): NULL is pending, as are rows written before reviews existed.
    review_status: Mapped[str | None] = mapped_column(String(16))
    plate_text: Mapped[str | None] = mapped_column(String(32))
    # Durable camera state (migration 0004): the latest sighting, and whether every evidence file could be written
    # (a full or read-only disk leaves the facts in the database and says what is missing).
    last_seen_at: Mapped[datetime | None]
    evidence_complete: Mapped[bool] = mapped_column(Boolean, server_default=true())
    evidence_problem: Mapped[str | None] = mapped_column(Text)
    # Clear width (migration 0005), in calibrated lanes only: the narrowest free width the occupant left, in metres,
    # and "blocked" (under the zone's minimum, 4.0 m by GB 50016 §7.1.8) or "narrowed".
    clear_width_m: Mapped[float | None] = mapped_column(Float)
    severity: Mapped[str | None] = mapped_column(String(16))
    # The site the camera belonged to when the violation was recorded (migration 0006): history stays with it
    # when the camera moves or is archived. NULL: a camera that was not registered.
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    # The plate reader's vote over the vehicle's frames (migration 0008); ``plate_text`` is what the police
    # confirmed (the reading, or their correction of it): both are kept.
    plate_read: Mapped[str | None] = mapped_column(String(16), index=True)
    plate_read_confidence: Mapped[float | None] = mapped_column(Float)
    plate_read_colour: Mapped[str | None] = mapped_column(String(8))

    evidence: Mapped[list[EvidenceFile]] = relationship(
        back_populates="violation",
        cascade="all, delete-orphan",
        order_by="EvidenceFile.id",
        passive_deletes=True,  # the database's ON DELETE CASCADE removes rows not loaded
    )

    @validates("started_at", "violation_at", "ended_at", "last_seen_at")
    def _aware(self, key: str, value: datetime | None) -> datetime | None:
        return None if value is None else require_aware(value, f"Violation.{key}")

    @validates("box", "tracker_ids", "duration_s")
    def _plain_numbers(self, key: str, value: Any) -> Any:
        """Turn numpy scalars from the pipeline into JSON-serialisable Python numbers."""
        if key == "duration_s":
            return float(value)
        if key == "box":
            if len(value) != 4:
                raise ValueError(f"Violation.box must have 4 numbers (x1, y1, x2, y2), got {len(value)}")
            return [float(v) for v in value]
        return [int(v) for v in value]

    def __repr__(self) -> str:
        return f"Violation(id={self.id!r}, camera_id={self.camera_id!r}, zone_id={self.zone_id!r})"


class EvidenceFile(Base):
    """One file in a violation's evidence directory, with its hash so tampering is detectable."""

    __tablename__ = "evidence_files"
    __table_args__ = (UniqueConstraint("violation_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    violation_id: Mapped[str] = mapped_column(ForeignKey("violations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))  # file name inside the violation's evidence_dir
    role: Mapped[str] = mapped_column(String(32))  # begin, grace, latest, begin_clean, crop, clip, manifest
    media_type: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    captured_at: Mapped[datetime | None]

    violation: Mapped[Violation] = relationship(back_populates="evidence")

    @validates("captured_at")
    def _aware(self, key: str, value: datetime | None) -> datetime | None:
        return None if value is None else require_aware(value, f"EvidenceFile.{key}")

    def __repr__(self) -> str:
        return f"EvidenceFile(violation_id={self.violation_id!r}, name={self.name!r}, role={self.role!r})"



# --- The service (migration 0002): sites, cameras, versioned zones, users, reviews, alerts, outbox, audit ---

ROLES = ("operator", "property", "police")
REVIEW_DECISIONS = ("confirmed", "rejected")
REVIEW_STATUSES = ("pending", *REVIEW_DECISIONS)
# left: the vehicle left (the camera saw the lane free) before anyone acknowledged the alert (migration 0010)
ALERT_STATUSES = ("open", "acknowledged", "cleared", "left")
OUTBOX_CHANNELS = ("webhook", "mqtt")
DEFAULT_CLEAR_LIMIT_S = 900  # 15 minutes


def _now_default() -> Any:
    return text("CURRENT_TIMESTAMP")


class Site(Base):
    """A compound (小区 / 园区) with its own property staff."""

    __tablename__ = "sites"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # slug, used in MQTT topics
    name: Mapped[str] = mapped_column(String(256))
    address: Mapped[str] = mapped_column(String(512), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(server_default=_now_default())
    # Closed loop (migration 0003): seconds property staff have, from the alert, until the camera sees the lane
    # clear; after that the violation is escalated to the police review queue.
    clear_limit_s: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_CLEAR_LIMIT_S, server_default=text(str(DEFAULT_CLEAR_LIMIT_S))
    )

    def __repr__(self) -> str:
        return f"Site(id={self.id!r}, code={self.code!r})"


class Camera(Base):
    """A registered camera; ``id`` is the ``camera_id`` of its zone file and of its violations."""

    __tablename__ = "cameras"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    source_url: Mapped[str] = mapped_column(String(2048))  # may hold credentials: operators only
    fps: Mapped[float] = mapped_column(Float, default=2.0, server_default=text("2"))
    imgsz: Mapped[int | None] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai", server_default="Asia/Shanghai")
    frame_width: Mapped[int | None] = mapped_column(Integer)
    frame_height: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # A recorded file's first frame, by the camera's own (burned-in) clock; None: the time in the file name, else
    # the file's modification time minus its length (detector.sources.open_source). Migration 0010.
    recording_start: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=_now_default())
    updated_at: Mapped[datetime] = mapped_column(server_default=_now_default(), onupdate=func.now())
    # Deleted while it had violations (migration 0006): kept, disabled and hidden, so its history keeps its names.
    archived_at: Mapped[datetime | None]

    site: Mapped[Site] = relationship()

    def __repr__(self) -> str:
        return f"Camera(id={self.id!r}, site_id={self.site_id!r})"


class ZoneVersion(Base):
    """One saved zone file of a camera; edits add versions, the highest is current."""

    __tablename__ = "zone_versions"
    __table_args__ = (UniqueConstraint("camera_id", "version"),)
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(Json)  # the whole zone file, as parse_zones accepts it
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(server_default=_now_default())


class User(Base):
    """Someone who logs in: an operator, property staff of one site, or traffic police."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('operator', 'property', 'police')", name="role"),
        CheckConstraint(
            "(role = 'property' AND site_id IS NOT NULL) OR (role <> 'property' AND site_id IS NULL)",
            name="site_for_property",
        ),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(server_default=_now_default())

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, username={self.username!r}, role={self.role!r})"


class LoginSession(Base):
    """One login: a browser's session cookie or an API client's bearer token (migration 0011).

    Cookies and tokens name their row, so logging out ends that one session on the server (a copied cookie stops
    working) while the user's other devices stay logged in; a password change revokes them all."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # random, carried inside the signed cookie/token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    via: Mapped[str] = mapped_column(String(8))  # "cookie" | "bearer"
    client: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class Review(Base):
    """A police decision on a violation; one per violation (a decided violation is not decided again)."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("decision IN ('confirmed', 'rejected')", name="decision"),
        CheckConstraint(
            "(decision = 'confirmed' AND plate_text IS NOT NULL) OR (decision = 'rejected' AND reason IS NOT NULL)",
            name="decision_grounds",
        ),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    violation_id: Mapped[str] = mapped_column(ForeignKey("violations.id", ondelete="CASCADE"), unique=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    plate_text: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=_now_default())


class Alert(Base):
    """What property staff act on: one per violation of a registered camera."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'acknowledged', 'cleared', 'left')", name="status"),
        Index("ix_alerts_site_status", "site_id", "status"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    violation_id: Mapped[str] = mapped_column(ForeignKey("violations.id", ondelete="CASCADE"), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    camera_id: Mapped[str] = mapped_column(String(128))
    zone_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(server_default=_now_default())
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cleared_at: Mapped[datetime | None]
    cleared_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Closed loop (migration 0003). Staff pressing "cleared" while the camera still sees the occupant is only a
    # claim: the alert stays open/acknowledged with the claim until the violation ends (service.closed_loop).
    claimed_cleared_at: Mapped[datetime | None]
    claimed_cleared_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # sent to the police queue: the lane was not cleared in the site's clear_limit_s
    escalated_at: Mapped[datetime | None] = mapped_column(index=True)
    # When the lane has to be clear: fixed when the alert is sent (created_at + the site's clear limit then), so
    # changing a site's limit later moves no deadline already announced (migration 0010).
    due_at: Mapped[datetime]

    @validates("acknowledged_at", "cleared_at", "claimed_cleared_at", "escalated_at", "due_at")
    def _aware(self, key: str, value: datetime | None) -> datetime | None:
        return None if value is None else require_aware(value, f"Alert.{key}")


class OutboxMessage(Base):
    """A message to deliver (webhook POST or MQTT publish), written in the same transaction as its cause."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("channel", "idempotency_key"),
        CheckConstraint("channel IN ('webhook', 'mqtt')", name="channel"),
        Index("ix_outbox_due", "delivered_at", "next_attempt_at"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(server_default=_now_default())
    channel: Mapped[str] = mapped_column(String(16))
    topic: Mapped[str] = mapped_column(String(512))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    @validates("next_attempt_at", "delivered_at")
    def _aware(self, key: str, value: datetime | None) -> datetime | None:
        return None if value is None else require_aware(value, f"OutboxMessage.{key}")


class AuditEntry(Base):
    """Who changed what, when: every write through the API adds one."""

    __tablename__ = "audit_log"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(server_default=_now_default(), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)  # camera.create, zone.update, review.confirm...
    target: Mapped[str] = mapped_column(String(256))  # camera:gate-3, violation:<id>, ...
    details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


CAMERA_STATUSES = ("starting", "running", "reconnecting", "error", "finished", "stopped")


class CameraState(Base):
    """A camera's occupancy state as last checkpointed, and its health: what a restarted or moved camera resumes
    from, and what the UI and the escalation job read to know whether the camera is watching."""

    __tablename__ = "camera_states"

    camera_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(Json)  # service.camera.checkpoint format
    capture_at: Mapped[datetime | None]  # capture time of the last frame the state includes
    saved_at: Mapped[datetime]  # wall clock of the writer
    owner: Mapped[str] = mapped_column(String(256), default="", server_default="")  # host:pid of the writer
    status: Mapped[str] = mapped_column(String(16), default="starting", server_default="starting")
    status_detail: Mapped[str | None] = mapped_column(Text)
    status_at: Mapped[datetime | None]  # when the camera's process last reported (at least every HEARTBEAT_S)
    # what the UI shows of the camera from any API process (migration 0009): the capture time of its latest frame
    # and each zone's occupancy ({"id", "name", "occupied", "violations", "longest_dwell_s"})
    last_frame_at: Mapped[datetime | None]
    zones: Mapped[list[dict[str, Any]] | None] = mapped_column(Json)
    # the camera's own process publishes its MQTT zone states (a single-process serve, migration 0012); the others'
    # are relayed from this row by the cluster's leader (service.alerts.zone_relay)
    publishes_zone_states: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @validates("capture_at", "saved_at", "status_at", "last_frame_at")
    def _aware(self, key: str, value: datetime | None) -> datetime | None:
        return None if value is None else require_aware(value, f"CameraState.{key}")


__all__ = [
    "CAMERA_STATUSES",
    "CameraState",
    "ALERT_STATUSES",
    "DEFAULT_CLEAR_LIMIT_S",
    "OUTBOX_CHANNELS",
    "REVIEW_DECISIONS",
    "REVIEW_STATUSES",
    "ROLES",
    "Alert",
    "AuditEntry",
    "Base",
    "Camera",
    "EvidenceFile",
    "NAMING_CONVENTION",
    "OutboxMessage",
    "Review",
    "Site",
    "User",
    "UtcDateTime",
    "LoginSession",
    "Violation",
    "ZoneVersion",
    "require_aware",
]
