"""closing the loop: per-site time limit to clear a lane, escalation and cleared claims on alerts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Existing sites get the default limit (15 minutes) through the server default.
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("clear_limit_s", sa.Integer(), server_default=sa.text("900"), nullable=False))

    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("claimed_cleared_at", Timestamp, nullable=True))
        batch.add_column(sa.Column("claimed_cleared_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("escalated_at", Timestamp, nullable=True))
        batch.create_foreign_key(
            op.f("fk_alerts_claimed_cleared_by_users"), "users", ["claimed_cleared_by"], ["id"]
        )
        batch.create_index(op.f("ix_alerts_escalated_at"), ["escalated_at"])


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index(op.f("ix_alerts_escalated_at"))
        batch.drop_constraint(op.f("fk_alerts_claimed_cleared_by_users"), type_="foreignkey")
        batch.drop_column("escalated_at")
        batch.drop_column("claimed_cleared_by")
        batch.drop_column("claimed_cleared_at")

    with op.batch_alter_table("sites") as batch:
        batch.drop_column("clear_limit_s")
