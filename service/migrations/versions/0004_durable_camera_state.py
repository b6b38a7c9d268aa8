"""durable camera state: checkpointed occupancy per camera; evidence completeness and last sighting on violations

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # No foreign key to cameras: `firelane run` checkpoints cameras that were never registered, and a state must
    # outlive a camera row deleted while its worker still settles it.
    op.create_table(
        "camera_states",
        sa.Column("camera_id", sa.String(128), nullable=False),
        sa.Column("state", Json, nullable=False),
        sa.Column("capture_at", Timestamp, nullable=True),
        sa.Column("saved_at", Timestamp, nullable=False),
        sa.Column("owner", sa.String(256), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False, server_default="starting"),
        sa.Column("status_detail", sa.Text(), nullable=True),
        sa.Column("status_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("camera_id", name=op.f("pk_camera_states")),
    )
    with op.batch_alter_table("violations") as batch:
        batch.add_column(sa.Column("last_seen_at", Timestamp, nullable=True))
        batch.add_column(sa.Column("evidence_complete", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("evidence_problem", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("violations") as batch:
        batch.drop_column("evidence_problem")
        batch.drop_column("evidence_complete")
        batch.drop_column("last_seen_at")
    op.drop_table("camera_states")
