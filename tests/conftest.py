"""Shared fixtures: real footage and models from ../shared (never copied into the repository) and databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from service.db.session import make_engine, upgrade

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FIRELANE_SHARED", REPO.parent / "shared"))
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
PG_ADMIN_URL = os.environ.get("FIRELANE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _require(path: Path) -> Path:
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing; CI runs with ../shared beside the checkout")
        pytest.skip(f"{path} not present (set FIRELANE_SHARED to the shared folder)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _require(SHARED / "data")


@pytest.fixture(scope="session")
def yolo():
    """YOLO11n int8 (OpenVINO) at imgsz 1280, loaded once: compiling this dynamic int8 model takes a while."""
    from detector.backends import YoloDetector

    return YoloDetector(_require(SHARED / "models" / "yolo11n_int8_openvino_model"), imgsz=1280)


@pytest.fixture(scope="session")
def ssd():
    from detector.backends import SsdDetector

    return SsdDetector()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database for this test session, dropped afterwards."""
    admin_url = make_url(PG_ADMIN_URL).update_query_dict({"connect_timeout": "3"})
    admin = make_engine(admin_url.render_as_string(hide_password=False))
    admin = admin.execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except OperationalError as error:
        admin.dispose()
        reason = f"PostgreSQL not reachable at {admin_url.render_as_string()}: {error.orig}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"firelane_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database; the SQLite file sits in a directory make_engine must create."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nested' / 'dir' / 'firelane.db'}"
        return
    url = request.getfixturevalue("pg_url")
    yield url
    engine = make_engine(url)  # leave the session database empty for the next test
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated database of each backend."""
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()
