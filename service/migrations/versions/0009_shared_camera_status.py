"""shared camera status: the last frame's capture time and zone occupancy, so any API process shows a camera's
state whichever process runs it

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("camera_states") as batch:
        batch.add_column(sa.Column("last_frame_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("zones", Json))


def downgrade() -> None:
    with op.batch_alter_table("camera_states") as batch:
        batch.drop_column("zones")
        batch.drop_column("last_frame_at")
