"""``firelane serve`` and ``firelane db upgrade``; ``add_commands`` is hooked into service/cli.py."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from detector.sources import redact_url
from service.settings import Settings


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from service.api.app import create_app

    if args.ray:
        settings = settings.model_copy(update={"ray_address": args.ray})
    if settings.ray_address:
        from service.cluster.config import ClusterConfigError, check_cluster_settings

        try:
            check_cluster_settings(settings)
        except ClusterConfigError as error:
            print(f"firelane: {error}", file=sys.stderr)
            return 2
    host = args.host or settings.host
    port = args.port or settings.port
    if args.no_cameras:
        settings = settings.model_copy(update={"run_cameras": False})
    app = create_app(settings, background=True)
    shown = f"[{host}]" if ":" in host else host
    print(f"firelane: serving on http://{shown}:{port}/ (API docs at http://{shown}:{port}/docs)", flush=True)
    # X-Forwarded-* only from the proxies named in settings: anyone else could claim HTTPS or another address.
    proxies = settings.trusted_proxies.strip()
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=bool(proxies),
                forwarded_allow_ips=proxies or None)
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from alembic.migration import MigrationContext

    from service.db.session import make_engine, upgrade

    url = settings.database_url_for(settings.out_dir)
    engine = make_engine(url)
    try:
        upgrade(engine, args.revision)
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    print(f"database {redact_url(url)} at revision {current}")
    return 0


def add_commands(subparsers: Any) -> None:
    """Register ``serve`` and ``db upgrade`` on the ``firelane`` command's subparsers."""
    serve = subparsers.add_parser("serve", help="run the web service (API and docs)")
    serve.add_argument("--host", help="address to listen on (default FIRELANE_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default FIRELANE_PORT, 8000)")
    serve.add_argument("--no-cameras", action="store_true",
                       help="API only: run no camera (FIRELANE_RUN_CAMERAS=false); camera status comes from the "
                       "database")
    serve.add_argument("--ray", metavar="ADDRESS", help="run the cameras as actors on this Ray cluster (its head, "
                       "host:port; default FIRELANE_RAY_ADDRESS), against PostgreSQL")
    serve.set_defaults(handler=cmd_serve)

    db = subparsers.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    up = db_commands.add_parser("upgrade", help="apply migrations to the settings' database (FIRELANE_DATABASE_URL)")
    up.add_argument("revision", nargs="?", default="head", help="target revision (default head)")
    up.set_defaults(handler=cmd_db_upgrade)
