"""alerts keep the deadline they were sent with (due_at), and a state for a vehicle that left before anyone acted;
cameras playing a recorded file can be given its real start (recording_start)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 13:00:00

``due_at`` of existing alerts is their creation time plus their site's clear limit today (the best left to know).
Downgrading turns ``left`` alerts into ``cleared`` ones (the lane was free) and drops ``due_at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)
WITH_LEFT = "status IN ('open', 'acknowledged', 'cleared', 'left')"
WITHOUT_LEFT = "status IN ('open', 'acknowledged', 'cleared')"


def upgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("recording_start", Timestamp, nullable=True))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("due_at", Timestamp, nullable=True))
    alerts = sa.table("alerts", sa.column("id", sa.Integer), sa.column("site_id", sa.Integer),
                      sa.column("created_at", Timestamp), sa.column("due_at", Timestamp))
    sites = sa.table("sites", sa.column("id", sa.Integer), sa.column("clear_limit_s", sa.Integer))
    bind = op.get_bind()
    rows = bind.execute(sa.select(alerts.c.id, alerts.c.created_at, sites.c.clear_limit_s)
                        .join(sites, sites.c.id == alerts.c.site_id)).all()
    for alert_id, created_at, limit_s in rows:  # in Python: the same on SQLite (naive UTC text) and PostgreSQL
        bind.execute(sa.update(alerts).where(alerts.c.id == alert_id)
                     .values(due_at=created_at + timedelta(seconds=limit_s)))
    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("due_at", existing_type=Timestamp, nullable=False)
        batch.drop_constraint(op.f("ck_alerts_status"), type_="check")
        batch.create_check_constraint(op.f("ck_alerts_status"), sa.text(WITH_LEFT))


def downgrade() -> None:
    op.execute("UPDATE alerts SET status = 'cleared' WHERE status = 'left'")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint(op.f("ck_alerts_status"), type_="check")
        batch.create_check_constraint(op.f("ck_alerts_status"), sa.text(WITHOUT_LEFT))
        batch.drop_column("due_at")
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("recording_start")
