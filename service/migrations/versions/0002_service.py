"""the service: sites, cameras, versioned zones, users, reviews, alerts, outbox, audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types: a revision must not change when the models do.
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def _created_at(name: str = "created_at") -> sa.Column:
    return sa.Column(name, Timestamp, server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("address", sa.String(length=512), server_default="", nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.UniqueConstraint("code", name=op.f("uq_sites_code")),
    )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        _created_at(),
        sa.CheckConstraint("role IN ('operator', 'property', 'police')", name=op.f("ck_users_role")),
        sa.CheckConstraint(
            "(role = 'property' AND site_id IS NOT NULL) OR (role <> 'property' AND site_id IS NULL)",
            name=op.f("ck_users_site_for_property"),
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_users_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_index(op.f("ix_users_site_id"), "users", ["site_id"])

    op.create_table(
        "cameras",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("source_url", sa.String(length=2048), nullable=False),
        sa.Column("fps", sa.Float(), server_default=sa.text("2"), nullable=False),
        sa.Column("imgsz", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.String(length=64), server_default="Asia/Shanghai", nullable=False),
        sa.Column("frame_width", sa.Integer(), nullable=True),
        sa.Column("frame_height", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        _created_at(),
        _created_at("updated_at"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_cameras_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cameras")),
    )
    op.create_index(op.f("ix_cameras_site_id"), "cameras", ["site_id"])

    op.create_table(
        "zone_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", Json, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_zone_versions_camera_id_cameras"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_zone_versions_created_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zone_versions")),
        sa.UniqueConstraint("camera_id", "version", name=op.f("uq_zone_versions_camera_id_version")),
    )

    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("violation_id", sa.String(length=64), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("plate_text", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        _created_at(),
        sa.CheckConstraint("decision IN ('confirmed', 'rejected')", name=op.f("ck_reviews_decision")),
        sa.CheckConstraint(
            "(decision = 'confirmed' AND plate_text IS NOT NULL) OR (decision = 'rejected' AND reason IS NOT NULL)",
            name=op.f("ck_reviews_decision_grounds"),
        ),
        sa.ForeignKeyConstraint(["reviewer_id"], ["users.id"], name=op.f("fk_reviews_reviewer_id_users")),
        sa.ForeignKeyConstraint(
            ["violation_id"], ["violations.id"], name=op.f("fk_reviews_violation_id_violations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("violation_id", name=op.f("uq_reviews_violation_id")),
    )
    op.create_index(op.f("ix_reviews_reviewer_id"), "reviews", ["reviewer_id"])

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("violation_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.String(length=128), nullable=False),
        sa.Column("zone_id", sa.String(length=128), nullable=False),
        _created_at(),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("acknowledged_at", Timestamp, nullable=True),
        sa.Column("acknowledged_by", sa.Integer(), nullable=True),
        sa.Column("cleared_at", Timestamp, nullable=True),
        sa.Column("cleared_by", sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'cleared')", name=op.f("ck_alerts_status")),
        sa.ForeignKeyConstraint(["acknowledged_by"], ["users.id"], name=op.f("fk_alerts_acknowledged_by_users")),
        sa.ForeignKeyConstraint(["cleared_by"], ["users.id"], name=op.f("fk_alerts_cleared_by_users")),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_alerts_site_id_sites")),
        sa.ForeignKeyConstraint(
            ["violation_id"], ["violations.id"], name=op.f("fk_alerts_violation_id_violations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("violation_id", name=op.f("uq_alerts_violation_id")),
    )
    op.create_index("ix_alerts_site_status", "alerts", ["site_id", "status"])

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _created_at(),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=512), nullable=False),
        sa.Column("payload", Json, nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", Timestamp, nullable=False),
        sa.Column("delivered_at", Timestamp, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint("channel IN ('webhook', 'mqtt')", name=op.f("ck_outbox_channel")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("channel", "idempotency_key", name=op.f("uq_outbox_channel_idempotency_key")),
    )
    op.create_index("ix_outbox_due", "outbox", ["delivered_at", "next_attempt_at"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _created_at("at"),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("details", Json, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_audit_log_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_user_id"), "audit_log", ["user_id"])
    op.create_index(op.f("ix_audit_log_action"), "audit_log", ["action"])

    # Adding nullable columns needs no table rebuild, on SQLite either; NULL review_status means pending.
    with op.batch_alter_table("violations") as batch:
        batch.add_column(sa.Column("review_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("plate_text", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_action"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_user_id"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_alerts_site_status", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index(op.f("ix_reviews_reviewer_id"), table_name="reviews")
    op.drop_table("reviews")
    op.drop_table("zone_versions")
    op.drop_index(op.f("ix_cameras_site_id"), table_name="cameras")
    op.drop_table("cameras")
    op.drop_index(op.f("ix_users_site_id"), table_name="users")
    op.drop_table("users")
    op.drop_table("sites")
    # Dropping columns rebuilds the table on SQLite; env.py turns foreign keys off around it so the
    # evidence_files rows that point at violations survive.
    with op.batch_alter_table("violations") as batch:
        batch.drop_column("plate_text")
        batch.drop_column("review_status")
