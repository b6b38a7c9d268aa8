"""The database layer on SQLite and PostgreSQL: migrations, upserts, time zones, evidence rows."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, delete, func, insert, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from service.db import (
    Base,
    EvidenceFile,
    Violation,
    downgrade,
    list_violations,
    make_engine,
    replace_evidence,
    session_factory,
    upgrade,
    upsert_violation,
)
from service.db.session import MIGRATIONS_DIR, alembic_config

REPO = Path(__file__).resolve().parent.parent
CST = timezone(timedelta(hours=8))


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session


def violation_fields(violation_id: str = "cam1-lane-0001", **overrides: Any) -> dict[str, Any]:
    start = datetime(2024, 5, 1, 20, 30, 15, 123456, tzinfo=CST)
    fields: dict[str, Any] = {
        "id": violation_id,
        "camera_id": "cam1",
        "camera_name": "东门 North gate",
        "zone_id": "lane",
        "zone_name": "消防通道 fire lane",
        "zone_kind": "fire_lane",
        "object_class": "car",
        "category": "vehicle",
        "started_at": start,
        "violation_at": start + timedelta(seconds=60),
        "ended_at": None,
        "duration_s": 60.0,
        "box": [10.5, 20.0, 110.25, 220.0],
        "tracker_ids": [3, 7],
        "evidence_dir": "cam1/2024-05-01/cam1-lane-0001",
        "manifest_sha256": None,
        "source": "rtsp://cam1/stream",
    }
    fields.update(overrides)
    return fields


def evidence(name: str, role: str, sha: str = "a" * 64, size: int = 1234) -> dict[str, Any]:
    return {
        "name": name,
        "role": role,
        "media_type": "image/jpeg" if name.endswith(".jpg") else "application/octet-stream",
        "sha256": sha,
        "bytes": size,
        "captured_at": datetime(2024, 5, 1, 12, 31, tzinfo=timezone.utc),
    }


def evidence_rows(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as connection:
        query = select(EvidenceFile.violation_id, EvidenceFile.name, EvidenceFile.sha256).order_by(EvidenceFile.id)
        return [tuple(row) for row in connection.execute(query)]


def test_upgrade_creates_tables_and_downgrade_upgrade_roundtrip(db_url: str) -> None:
    engine = make_engine(db_url)
    assert "violations" not in inspect(engine).get_table_names()
    upgrade(engine)

    schema = inspect(engine)
    assert {"violations", "evidence_files", "alembic_version"} <= set(schema.get_table_names())
    assert {c["name"] for c in schema.get_columns("violations")} == set(Violation.__table__.columns.keys())
    assert {i["name"] for i in schema.get_indexes("violations")} == {
        "ix_violations_camera_id",
        "ix_violations_zone_id",
        "ix_violations_camera_zone_started",
        "ix_violations_site_id",
        "ix_violations_plate_read",
    }
    [fk] = schema.get_foreign_keys("evidence_files")
    assert (fk["referred_table"], fk["constrained_columns"]) == ("violations", ["violation_id"])
    assert fk["options"].get("ondelete") == "CASCADE"
    uniques = [u["column_names"] for u in schema.get_unique_constraints("evidence_files")]
    assert ["violation_id", "name"] in uniques
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == "0012"
    if engine.dialect.name == "sqlite":
        assert Path(make_url(db_url).database or "").is_file()

    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert {"violations", "evidence_files"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_models_match_migrations(engine: Engine) -> None:
    """Autogenerate finds nothing to do: the next revision starts from an accurate base."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_alembic_cli_uses_env_url_from_any_directory(db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "FIRELANE_DATABASE_URL": db_url}
    ini = MIGRATIONS_DIR / "alembic.ini"
    cli = [sys.executable, "-m", "alembic", "-c", str(ini)]
    subprocess.run([*cli, "upgrade", "head"], cwd=tmp_path, env=env, check=True, capture_output=True)
    engine = make_engine(db_url)
    assert {"violations", "evidence_files"} <= set(inspect(engine).get_table_names())
    done = subprocess.run([*cli, "current"], cwd=tmp_path, env=env, check=True, capture_output=True, text=True)
    assert "0012 (head)" in done.stdout
    engine.dispose()


def test_alembic_config_points_at_packaged_migrations() -> None:
    assert Path(alembic_config().get_main_option("script_location") or "") == REPO / "service" / "migrations"
    assert (MIGRATIONS_DIR / "env.py").is_file()


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'firelane.db'}"
    migrated = make_engine(url)
    upgrade(migrated)
    fresh = make_engine(url)
    for engine in (fresh, migrated):  # a new connection, and the pooled one env.py switched off and on
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        engine.dispose()


def test_make_engine_picks_psycopg_for_plain_postgresql_urls() -> None:
    assert make_engine("postgresql://u@db.example/firelane").url.drivername == "postgresql+psycopg"
    assert make_engine("postgresql+psycopg://u@db.example/x").url.drivername == "postgresql+psycopg"


def test_upsert_inserts_then_updates(engine: Engine) -> None:
    factory = session_factory(engine)
    with factory.begin() as session:
        created = upsert_violation(session, violation_fields(box=np.array([1, 2, 3, 4], dtype=np.float32)))
        assert created.created_at is not None and created.created_at.tzinfo is not None
    with factory() as session:
        [row] = list_violations(session, open_only=True)
        assert (row.id, row.ended_at, row.tracker_ids) == ("cam1-lane-0001", None, [3, 7])
        assert row.box == [1.0, 2.0, 3.0, 4.0]  # numpy float32 stored as plain JSON numbers
        assert row.camera_name == "东门 North gate"

    end = datetime(2024, 5, 1, 12, 45, tzinfo=timezone.utc)
    with factory.begin() as session:
        updated = upsert_violation(
            session,
            {"id": "cam1-lane-0001", "ended_at": end, "duration_s": np.float64(885.5), "manifest_sha256": "f" * 64},
        )
        assert updated.ended_at == end
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Violation)) == 1
        row = session.get_one(Violation, "cam1-lane-0001")
        assert (row.ended_at, row.duration_s, row.manifest_sha256) == (end, 885.5, "f" * 64)
        assert row.camera_id == "cam1" and row.zone_name == "消防通道 fire lane"  # untouched fields kept
        assert row.updated_at >= row.created_at
        assert list_violations(session, open_only=True) == []


def test_upsert_rejects_unknown_fields_and_missing_id(session: Session) -> None:
    with pytest.raises(ValueError, match="unknown violation fields: colour"):
        upsert_violation(session, violation_fields(colour="red"))
    with pytest.raises(ValueError, match="'id'"):
        upsert_violation(session, {k: v for k, v in violation_fields().items() if k != "id"})
    with pytest.raises(ValueError, match="4 numbers"):
        upsert_violation(session, violation_fields(box=[1, 2, 3]))


def test_timezone_aware_datetimes_roundtrip_exactly(engine: Engine) -> None:
    fields = violation_fields()
    with session_factory(engine).begin() as session:
        upsert_violation(session, fields)
    with session_factory(engine)() as session:
        row = session.get_one(Violation, fields["id"])
        assert row.started_at == fields["started_at"]  # same instant as the +08:00 input
        assert row.violation_at == fields["violation_at"]
        assert row.started_at.utcoffset() == timedelta(0)  # returned as aware UTC
        assert row.started_at == datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)
        before = datetime(2024, 5, 1, 20, 31, tzinfo=CST)  # comparisons in SQL use the instant too
        assert session.scalars(select(Violation.id).where(Violation.started_at < before)).all() == [fields["id"]]


def test_naive_datetime_rejected(session: Session) -> None:
    naive = datetime(2024, 5, 1, 12, 30)
    with pytest.raises(ValueError, match="timezone-aware"):
        upsert_violation(session, violation_fields(started_at=naive))
    # Core statements bypass the ORM validators; the column type still refuses.
    with pytest.raises(StatementError) as raised:
        session.execute(insert(Violation).values(**violation_fields("core-1", violation_at=naive)))
    assert isinstance(raised.value.orig, ValueError)
    session.rollback()
    upsert_violation(session, violation_fields())
    with pytest.raises(ValueError, match="EvidenceFile.captured_at"):
        replace_evidence(session, "cam1-lane-0001", [{**evidence("a.jpg", "begin"), "captured_at": naive}])


def test_replace_evidence_replaces_rows_and_cascade_delete(engine: Engine) -> None:
    factory = session_factory(engine)
    with factory.begin() as session:
        upsert_violation(session, violation_fields("v1"))
        upsert_violation(session, violation_fields("v2"))
        v1_files = [evidence("begin.jpg", "begin"), evidence("grace.jpg", "grace"), evidence("clip.mp4", "clip")]
        replace_evidence(session, "v1", v1_files)
        replace_evidence(session, "v2", [evidence("begin.jpg", "begin")])
    assert [name for vid, name, _ in evidence_rows(engine) if vid == "v1"] == ["begin.jpg", "grace.jpg", "clip.mp4"]

    with factory.begin() as session:  # "begin.jpg" keeps its name: must not trip the unique constraint
        new_files = [evidence("begin.jpg", "begin", sha="b" * 64), evidence("manifest.json", "manifest")]
        files = replace_evidence(session, "v1", new_files)
        assert [f.name for f in files] == ["begin.jpg", "manifest.json"]
    assert [(name, sha) for vid, name, sha in evidence_rows(engine) if vid == "v1"] == [
        ("begin.jpg", "b" * 64),
        ("manifest.json", "a" * 64),
    ]
    with factory() as session:
        assert [f.role for f in session.get_one(Violation, "v1").evidence] == ["begin", "manifest"]
        with pytest.raises(LookupError):
            replace_evidence(session, "missing", [])

    with factory.begin() as session:  # ORM delete
        session.delete(session.get_one(Violation, "v1"))
    assert [vid for vid, _, _ in evidence_rows(engine)] == ["v2"]
    with engine.begin() as connection:  # plain SQL delete: the database's ON DELETE CASCADE
        connection.execute(delete(Violation).where(Violation.id == "v2"))
    assert evidence_rows(engine) == []


def test_evidence_name_unique_per_violation(engine: Engine) -> None:
    factory = session_factory(engine)
    with factory.begin() as session:
        upsert_violation(session, violation_fields("v1"))
        upsert_violation(session, violation_fields("v2"))
    with factory() as session:
        with pytest.raises(IntegrityError):
            replace_evidence(session, "v1", [evidence("begin.jpg", "begin"), evidence("begin.jpg", "begin_clean")])
        session.rollback()
        session.add(EvidenceFile(violation_id="v1", **evidence("crop.jpg", "crop")))
        session.add(EvidenceFile(violation_id="v2", **evidence("crop.jpg", "crop")))  # other violation: fine
        session.commit()
        session.add(EvidenceFile(violation_id="v1", **evidence("crop.jpg", "crop")))
        with pytest.raises(IntegrityError):
            session.commit()
    assert sorted(vid for vid, name, _ in evidence_rows(engine) if name == "crop.jpg") == ["v1", "v2"]


def test_list_violations_filters_and_orders(engine: Engine) -> None:
    t0 = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
    ended = t0 + timedelta(hours=2)
    with session_factory(engine).begin() as session:
        upsert_violation(session, violation_fields("c", started_at=t0 + timedelta(minutes=30)))
        upsert_violation(session, violation_fields("a", started_at=t0 + timedelta(minutes=10), ended_at=ended))
        upsert_violation(session, violation_fields("b", started_at=t0, camera_id="cam2"))
        upsert_violation(session, violation_fields("d", started_at=t0 + timedelta(minutes=5), zone_id="gate"))
    with session_factory(engine)() as session:
        assert [v.id for v in list_violations(session)] == ["b", "d", "a", "c"]
        assert [v.id for v in list_violations(session, camera_id="cam1")] == ["d", "a", "c"]
        assert [v.id for v in list_violations(session, camera_id="cam1", zone_id="lane")] == ["a", "c"]
        assert [v.id for v in list_violations(session, zone_id="lane", open_only=True)] == ["b", "c"]
