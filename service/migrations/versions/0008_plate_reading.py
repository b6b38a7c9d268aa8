"""plate reading: what the plate reader voted for a violation's vehicle, beside the plate the police confirm

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("violations") as batch:
        batch.add_column(sa.Column("plate_read", sa.String(16), nullable=True))
        batch.add_column(sa.Column("plate_read_confidence", sa.Float(), nullable=True))
        batch.add_column(sa.Column("plate_read_colour", sa.String(8), nullable=True))
        batch.create_index("ix_violations_plate_read", ["plate_read"])


def downgrade() -> None:
    with op.batch_alter_table("violations") as batch:
        batch.drop_index("ix_violations_plate_read")
        batch.drop_column("plate_read_colour")
        batch.drop_column("plate_read_confidence")
        batch.drop_column("plate_read")
