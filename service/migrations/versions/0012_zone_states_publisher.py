"""who publishes a camera's MQTT zone states: its own process (a single-process serve) or the cluster's leader,
relaying them from the shared camera status

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("camera_states") as batch:
        batch.add_column(sa.Column("publishes_zone_states", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("camera_states") as batch:
        batch.drop_column("publishes_zone_states")
