"""Alembic environment shipped inside the package.

Run by ``service.db.session.upgrade`` (which passes a connection in ``config.attributes``) or by
the CLI: ``FIRELANE_DATABASE_URL=... alembic -c service/migrations/alembic.ini upgrade head``.
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from service.db.models import Base, UtcDateTime
from service.db.session import make_engine, sqlite_transactional_ddl

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("FIRELANE_DATABASE_URL")
    if not url:
        raise RuntimeError("no database URL: set sqlalchemy.url in the Alembic config or FIRELANE_DATABASE_URL")
    return url


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write ``UtcDateTime`` columns as plain ``sa.DateTime`` so revisions never import the models."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(sqlite: bool, **kwargs: Any) -> None:
    # Batch mode: SQLite cannot ALTER most things, so Alembic recreates the table instead.
    context.configure(
        target_metadata=Base.metadata,
        render_as_batch=sqlite,
        render_item=_render_item,
        compare_type=True,
        **kwargs,
    )


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    # A batch-mode table rebuild drops the old table; with foreign keys on, dropping a parent would
    # cascade-delete its children. The pragma only changes outside a transaction.
    toggle_fks = sqlite and not connection.in_transaction()
    if toggle_fks:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    try:
        # All the steps of one run in ONE transaction, committed or rolled back as a whole, so a run
        # that stops half-way (a full disk, a failing step) leaves the database at the revision it
        # started from. PostgreSQL has transactional DDL; on SQLite the driver has to be told to
        # really begin (see sqlite_transactional_ddl), and Alembic, which takes SQLite for a
        # non-transactional-DDL backend, to keep the batch-mode table rebuilds inside that
        # transaction instead of committing after each step.
        with sqlite_transactional_ddl(connection):
            _configure(sqlite, connection=connection, transactional_ddl=True, transaction_per_migration=False)
            with context.begin_transaction():
                context.run_migrations()
                if toggle_fks and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()):
                    raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:5]}")
    finally:
        if toggle_fks:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


def run_migrations_offline() -> None:
    url = _url()
    _configure(make_url(url).get_backend_name() == "sqlite", url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
