"""What cluster mode needs of the settings, checked before anything starts (no Ray import here)."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from service.settings import Settings


class ClusterConfigError(ValueError):
    """Settings cluster mode cannot run with."""


def check_cluster_settings(settings: Settings) -> None:
    url = settings.database_url
    if not url or make_url(url).get_backend_name() != "postgresql":
        raise ClusterConfigError(
            "cluster mode (FIRELANE_RAY_ADDRESS / --ray) needs PostgreSQL as the one source of truth for every node: "
            "set FIRELANE_DATABASE_URL=postgresql://… (SQLite is a file on one machine)")
