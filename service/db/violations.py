"""Repository functions the pipeline calls; the caller owns the transaction (no commits here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import Camera, EvidenceFile, Violation

# created_at/updated_at are set by the database; id/violation_id of evidence rows by the ORM.
_VIOLATION_FIELDS = frozenset(Violation.__table__.columns.keys()) - {"created_at", "updated_at"}
_EVIDENCE_FIELDS = frozenset(EvidenceFile.__table__.columns.keys()) - {"id", "violation_id"}


def _check_keys(fields: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = fields.keys() - allowed
    if unknown:
        raise ValueError(f"unknown {what} fields: {', '.join(sorted(unknown))}")


def upsert_violation(session: Session, fields: Mapping[str, Any]) -> Violation:
    """Insert the violation ``fields["id"]`` or update only the given fields of the existing row.

    The pipeline writes a row when a violation starts and updates it when it ends or its evidence
    is finalised. Ids are deterministic and each camera has one writer, so get-then-insert is safe.
    """
    _check_keys(fields, _VIOLATION_FIELDS, "violation")
    if "id" not in fields:
        raise ValueError("violation fields need an 'id'")
    violation = session.get(Violation, fields["id"])
    if violation is None:
        violation = Violation(**fields)
        if violation.site_id is None:  # recorded at the site its camera belongs to now, for good
            camera = session.get(Camera, violation.camera_id)
            violation.site_id = camera.site_id if camera is not None else None
        session.add(violation)
    else:
        for key, value in fields.items():
            if key != "site_id":  # where it was recorded does not change
                setattr(violation, key, value)
    session.flush()  # surface missing columns and constraint errors here, not at the caller's commit
    return violation


def replace_evidence(session: Session, violation_id: str, files: Sequence[Mapping[str, Any]]) -> list[EvidenceFile]:
    """Make ``files`` the complete evidence list of a violation (rows not listed are deleted)."""
    for fields in files:
        _check_keys(fields, _EVIDENCE_FIELDS, "evidence file")
    violation = session.get(Violation, violation_id)
    if violation is None:
        raise LookupError(f"no violation with id {violation_id!r}")
    new = [EvidenceFile(**fields) for fields in files]
    violation.evidence.clear()
    # The unit of work inserts before it deletes; flush the deletes first so a file that keeps its
    # name does not collide with its old row on the (violation_id, name) unique constraint.
    session.flush()
    violation.evidence.extend(new)
    session.flush()
    return list(violation.evidence)


def list_violations(
    session: Session,
    camera_id: str | None = None,
    zone_id: str | None = None,
    open_only: bool = False,
) -> list[Violation]:
    """Violations oldest first, optionally of one camera/zone, or only those not ended yet."""
    query = select(Violation).order_by(Violation.started_at, Violation.id)
    if camera_id is not None:
        query = query.where(Violation.camera_id == camera_id)
    if zone_id is not None:
        query = query.where(Violation.zone_id == zone_id)
    if open_only:
        query = query.where(Violation.ended_at.is_(None))
    return list(session.scalars(query))
