"""Database layer: models, engines/migrations and the repository functions the pipeline calls."""

from service.db.models import Base, EvidenceFile, UtcDateTime, Violation
from service.db.session import downgrade, make_engine, session_factory, upgrade
from service.db.violations import list_violations, replace_evidence, upsert_violation

__all__ = [
    "Base",
    "EvidenceFile",
    "UtcDateTime",
    "Violation",
    "downgrade",
    "list_violations",
    "make_engine",
    "replace_evidence",
    "session_factory",
    "upgrade",
    "upsert_violation",
]
