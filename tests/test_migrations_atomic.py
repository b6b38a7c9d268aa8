"""Migrations are all or nothing: a run that stops half-way leaves the database at the revision it started from.

The issue: a disk that filled during the SQLite migration left some tables created and the version row
behind, and every later start died on "table sites already exists". pysqlite ran each DDL statement in
autocommit, whatever transaction SQLAlchemy thought it had begun.
"""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, inspect
from sqlalchemy.exc import OperationalError

from service.db import session as db_session
from service.db.session import alembic_config, make_engine, upgrade

SCRIPT = ScriptDirectory.from_config(alembic_config())
HEAD = SCRIPT.get_current_head()
FIRST = SCRIPT.get_base()
assert HEAD and FIRST and HEAD != FIRST

ROW = (  # a violation recorded at the first revision, with the columns that revision has
    "INSERT INTO violations (id, camera_id, zone_id, zone_name, zone_kind, object_class, category, started_at,"
    " violation_at, duration_s, box, tracker_ids, evidence_dir, source) VALUES ('old', 'camA', 'lane', 'lane',"
    " 'fire_lane', 'car', 'vehicle', '2024-05-01 12:00:00+00:00', '2024-05-01 12:01:00+00:00', 60, '[]', '[]',"
    " 'camA/old', 'rtsp://camA')"
)
EVIDENCE = (
    "INSERT INTO evidence_files (violation_id, name, role, media_type, sha256, bytes)"
    " VALUES ('old', 'a.jpg', 'begin', 'image/jpeg', '" + "0" * 64 + "', 1)"
)

# A last revision that does real work (a new table, a table rebuild that copies rows) and then fails.
BOOM_REVISION = '''
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("boom_partial", sa.Column("id", sa.Integer(), primary_key=True))
    # On SQLite "always" forces the batch rebuild (new table, copy rows, drop, rename) to run here.
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("violations", recreate="always" if sqlite else "auto") as batch:
        batch.add_column(sa.Column("boom", sa.Integer(), nullable=True))
    op.execute("UPDATE violations SET boom = 1")
    raise RuntimeError("boom: a migration step failed half-way")


def downgrade() -> None:
    raise NotImplementedError
'''


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def alembic_current(engine: Engine) -> str:
    """What ``alembic current`` prints for this database (through env.py, like the CLI)."""
    config = alembic_config()
    config.stdout = io.StringIO()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.current(config)
    return config.stdout.getvalue().strip()


def sqlite_integrity(engine: Engine) -> str:
    with engine.connect() as connection:
        return connection.exec_driver_sql("PRAGMA integrity_check").scalar()


@pytest.fixture
def failing_migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The packaged migrations (env.py included) plus one revision after head that raises half-way."""
    copy = tmp_path / "migrations"
    shutil.copytree(db_session.MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "versions" / "9999_boom.py").write_text(BOOM_REVISION.format(down=HEAD))
    monkeypatch.setattr(db_session, "MIGRATIONS_DIR", copy)
    return copy


@pytest.mark.parametrize("start", [None, FIRST], ids=["empty", "first-revision"])
def test_failing_migration_leaves_previous_revision(
    db_url: str, start: str | None, failing_migrations: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(db_url)
    if start is not None:
        upgrade(engine, start)
        with engine.begin() as connection:
            connection.exec_driver_sql(ROW)
            connection.exec_driver_sql(EVIDENCE)
    before = tables(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("violations")} if start else set()
    assert alembic_current(engine) == (start or "")

    # Every revision from start to head, and the failing one, run in the one transaction that fails.
    with pytest.raises(RuntimeError, match="boom"):
        upgrade(engine)

    assert alembic_current(engine) == (start or "")
    assert tables(engine) == before  # no partial tables: none of 0002.., no boom_partial, no _alembic_tmp_*
    if start is not None:
        assert {c["name"] for c in inspect(engine).get_columns("violations")} == columns
        with engine.connect() as connection:  # the rebuilt-then-rolled-back table kept its rows and children
            assert connection.exec_driver_sql("SELECT id FROM violations").scalars().all() == ["old"]
            assert connection.exec_driver_sql("SELECT count(*) FROM evidence_files").scalar() == 1
    if engine.dialect.name == "sqlite":
        assert sqlite_integrity(engine) == "ok"
        with engine.connect() as connection:  # the pooled connection env.py used is back to normal
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.connection.driver_connection.isolation_level == ""

    monkeypatch.undo()  # the real migrations: the next start upgrades cleanly
    upgrade(engine)
    assert alembic_current(engine) == f"{HEAD} (head)"
    assert {"sites", "alerts", "violations"} <= tables(engine)
    engine.dispose()


FREE_BYTES = 64 * 1024  # room for the WAL index (-shm, 32 KiB), not for the migration's WAL frames


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted afterwards; skipped where mounting is not permitted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("no mount/umount binaries: cannot make a small disk to fill")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here (needs root/CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path, leave: int) -> Path:
    filler = disk / "filler"
    stat = os.statvfs(disk)
    with filler.open("wb") as out:
        out.write(b"\0" * (stat.f_bavail * stat.f_frsize - leave))
    assert os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize == leave
    return filler


@pytest.mark.parametrize(
    "cache_pages",
    [None, 2],
    ids=[
        "fails-at-commit",  # default page cache: the WAL frames are all written when the transaction commits
        "fails-mid-statement",  # a tiny cache spills dirty pages into the WAL in the middle of a CREATE
    ],
)
def test_sqlite_disk_full_mid_migration_rolls_back_and_retries(
    small_disk: Path, tmp_path: Path, cache_pages: int | None
) -> None:
    roomy = make_engine(f"sqlite:///{tmp_path / 'roomy.db'}")
    upgrade(roomy)
    complete = tables(roomy)
    roomy.dispose()

    engine = make_engine(f"sqlite:///{small_disk / 'firelane.db'}")
    if cache_pages is not None:
        event.listen(engine, "connect", lambda dbapi, _record: dbapi.execute(f"PRAGMA cache_size={cache_pages}"))
    upgrade(engine, FIRST)  # an existing database at its first revision, with a row
    with engine.begin() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        connection.exec_driver_sql(ROW)
    before = tables(engine)
    ddl: list[str] = []
    event.listen(
        engine,
        "after_cursor_execute",
        lambda _c, _cur, statement, *_: ddl.append(statement)
        if statement.lstrip().upper().startswith(("CREATE", "ALTER", "DROP"))
        else None,
    )

    filler = fill(small_disk, FREE_BYTES)
    with pytest.raises(OperationalError) as failed:
        upgrade(engine)
    assert isinstance(failed.value.orig, sqlite3.OperationalError)
    assert "database or disk is full" in str(failed.value.orig)
    assert ddl, "the disk must fill during the migration, not before it started"
    if cache_pages is not None:
        assert (failed.value.statement or "").lstrip().upper().startswith(("CREATE", "ALTER", "DROP", "INSERT"))
    engine.dispose()

    # Still full: the file opens, is intact and sits at the revision it had.
    engine = make_engine(f"sqlite:///{small_disk / 'firelane.db'}")
    assert sqlite_integrity(engine) == "ok"
    assert alembic_current(engine) == FIRST
    assert tables(engine) == before

    filler.unlink()
    upgrade(engine)
    assert tables(engine) == complete
    assert alembic_current(engine) == f"{HEAD} (head)"
    assert sqlite_integrity(engine) == "ok"
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT id FROM violations").scalars().all() == ["old"]
    engine.dispose()
