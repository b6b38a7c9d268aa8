"""violations and their evidence files

Revision ID: 0001
Revises:
Create Date: 2026-11-22 14:41:13.976279
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types: a revision must not change when the models do.
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "violations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=128), nullable=False),
        sa.Column("camera_name", sa.String(length=256), nullable=True),
        sa.Column("zone_id", sa.String(length=128), nullable=False),
        sa.Column("zone_name", sa.String(length=256), nullable=False),
        sa.Column("zone_kind", sa.String(length=32), nullable=False),
        sa.Column("object_class", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("violation_at", Timestamp, nullable=False),
        sa.Column("ended_at", Timestamp, nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("box", Json, nullable=False),
        sa.Column("tracker_ids", Json, nullable=False),
        sa.Column("evidence_dir", sa.String(length=1024), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("created_at", Timestamp, server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.Column("updated_at", Timestamp, server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_violations")),
    )
    op.create_index(op.f("ix_violations_camera_id"), "violations", ["camera_id"])
    op.create_index(op.f("ix_violations_zone_id"), "violations", ["zone_id"])
    op.create_index("ix_violations_camera_zone_started", "violations", ["camera_id", "zone_id", "started_at"])

    op.create_table(
        "evidence_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("violation_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("captured_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["violation_id"],
            ["violations.id"],
            name=op.f("fk_evidence_files_violation_id_violations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_files")),
        sa.UniqueConstraint("violation_id", "name", name=op.f("uq_evidence_files_violation_id_name")),
    )
    op.create_index(op.f("ix_evidence_files_violation_id"), "evidence_files", ["violation_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_evidence_files_violation_id"), table_name="evidence_files")
    op.drop_table("evidence_files")
    op.drop_index("ix_violations_camera_zone_started", table_name="violations")
    op.drop_index(op.f("ix_violations_zone_id"), table_name="violations")
    op.drop_index(op.f("ix_violations_camera_id"), table_name="violations")
    op.drop_table("violations")
