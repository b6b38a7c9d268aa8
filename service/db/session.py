"""Engines, sessions and programmatic migrations, the same for SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """SQLite ignores foreign keys (and so ON DELETE CASCADE) unless asked, per connection."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (the review UI) do not block the pipeline
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create an engine; plain ``postgresql://`` means psycopg 3, the driver we ship."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _begin_immediate(connection: Connection) -> None:
    # IMMEDIATE takes the write lock up front (waiting out the busy timeout), so a WAL reader that
    # wrote in between cannot fail the migration half-way with SQLITE_BUSY_SNAPSHOT.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def sqlite_transactional_ddl(connection: Connection) -> Iterator[None]:
    """While the block runs, SQLAlchemy transactions on this pysqlite connection are real, DDL included.

    pysqlite (legacy transaction control) only opens a transaction by itself before INSERT, UPDATE,
    DELETE or REPLACE: a CREATE TABLE, DROP or ALTER issued before one runs in autocommit and is on
    disk at once, whatever ``begin()``/``rollback()`` say. A migration stopped half-way (a full disk, a
    failing step) thus left tables behind without the version row, and the next run died on "table
    ... already exists". The fix is SQLAlchemy's documented recipe (SQLite dialect, "Serializable
    isolation / Savepoints / Transactional DDL"): turn the driver's own transaction handling off and
    emit BEGIN from the ``begin`` event. It is scoped to this one connection and this block; the
    application's sessions keep the driver's default behaviour, and the connection goes back to the
    pool as it came. Other backends (PostgreSQL has transactional DDL) pass through untouched.
    """
    dbapi = connection.connection.driver_connection if connection.dialect.name == "sqlite" else None
    if (
        not isinstance(dbapi, sqlite3.Connection)
        # Python 3.12+ explicit autocommit (make_engine never sets it): False already keeps a
        # transaction open around DDL, True ignores commit()/rollback() altogether.
        or getattr(dbapi, "autocommit", -1) != getattr(sqlite3, "LEGACY_TRANSACTION_CONTROL", -1)
        # The driver already began one (before a write); DDL joins it, and setting isolation_level
        # to None now would commit it.
        or dbapi.in_transaction
    ):
        yield
        return
    saved = dbapi.isolation_level
    dbapi.isolation_level = None
    event.listen(connection, "begin", _begin_immediate)
    try:
        if connection.in_transaction():  # begun by SQLAlchemy (autobegin), never by the driver
            _begin_immediate(connection)
        yield
    finally:
        event.remove(connection, "begin", _begin_immediate)
        if not connection.closed and not connection.invalidated:
            # Does not commit: only setting it *to* None would. An open transaction stays open for
            # its owner to commit or roll back.
            dbapi.isolation_level = saved


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (the pipeline hands them on)."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    """An Alembic ``Config`` for the packaged migrations, independent of the working directory."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


_ALEMBIC = threading.Lock()  # alembic's migration context is one global per process: one migration at a time


def _migrate(url_or_engine: str | Engine, revision: str, *, down: bool) -> None:
    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        with _ALEMBIC, engine.connect() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        if engine is not url_or_engine:
            engine.dispose()


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Apply the packaged migrations up to ``revision``."""
    _migrate(url_or_engine, revision, down=False)


def downgrade(url_or_engine: str | Engine, revision: str) -> None:
    """Revert the packaged migrations down to ``revision`` (``"base"`` drops everything)."""
    _migrate(url_or_engine, revision, down=True)
