"""Cluster mode refuses SQLite before it starts anything: every node must see one database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from faultkit import REPO
from service.cluster.config import ClusterConfigError, check_cluster_settings
from service.settings import Settings


@pytest.mark.parametrize("how", [["--ray", "127.0.0.2:6379"], []])
def test_serve_on_a_cluster_with_sqlite_is_refused_with_the_reason(tmp_path, how):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRELANE_")}
    env.update(FIRELANE_OUT_DIR=str(tmp_path), PYTHONPATH=str(REPO))
    if not how:
        env["FIRELANE_RAY_ADDRESS"] = "127.0.0.2:6379"
    done = subprocess.run([sys.executable, "-m", "service.cli", "serve", *how], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "needs PostgreSQL" in done.stderr and "FIRELANE_DATABASE_URL=postgresql://" in done.stderr
    assert not (tmp_path / "firelane.db").exists(), "nothing was created"


def test_postgresql_is_accepted_and_sqlite_refused():
    check_cluster_settings(Settings(database_url="postgresql://firelane@db.example/firelane"))
    with pytest.raises(ClusterConfigError):
        check_cluster_settings(Settings(database_url="sqlite:///firelane.db"))
