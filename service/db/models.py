"""Tables for violations and their evidence files: the base every later migration builds on."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
    func,
    text,
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

    evidence: Mapped[list[EvidenceFile]] = relationship(
        back_populates="violation",
        cascade="all, delete-orphan",
        order_by="EvidenceFile.id",
        passive_deletes=True,  # the database's ON DELETE CASCADE removes rows not loaded
    )

    @validates("started_at", "violation_at", "ended_at")
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


__all__ = ["Base", "EvidenceFile", "NAMING_CONVENTION", "UtcDateTime", "Violation", "require_aware"]
