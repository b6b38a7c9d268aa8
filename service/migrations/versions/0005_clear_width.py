"""clear width: the narrowest free width a violation left in a calibrated lane, and its severity

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("violations") as batch:
        batch.add_column(sa.Column("clear_width_m", sa.Float(), nullable=True))
        batch.add_column(sa.Column("severity", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("violations") as batch:
        batch.drop_column("severity")
        batch.drop_column("clear_width_m")
