"""history stays put: a violation keeps the site it was recorded at; a camera with history is archived, not deleted

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("violations") as batch:
        batch.add_column(sa.Column("site_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_violations_site_id_sites"), "sites", ["site_id"], ["id"])
        batch.create_index(op.f("ix_violations_site_id"), ["site_id"])
    # Rows recorded before: the site their camera belongs to now is the best knowledge there is.
    op.execute("UPDATE violations SET site_id = (SELECT cameras.site_id FROM cameras "
               "WHERE cameras.id = violations.camera_id)")
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("archived_at")
    with op.batch_alter_table("violations") as batch:
        batch.drop_index(op.f("ix_violations_site_id"))
        batch.drop_constraint(op.f("fk_violations_site_id_sites"), type_="foreignkey")
        batch.drop_column("site_id")
