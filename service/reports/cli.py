"""``firelane report``: the weekly report of a week, per site and for the district (HTML and PDF)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from service.settings import Settings


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from service.db.session import make_engine, session_factory, upgrade
    from service.reports.store import LocalReportStore, report_store
    from service.reports.week import Week
    from service.reports.weekly import generate_weekly

    tz = ZoneInfo(settings.report_timezone)
    try:
        now = datetime.fromisoformat(args.as_of) if args.as_of else datetime.now(timezone.utc)
    except ValueError:
        print(f"firelane: --as-of: {args.as_of!r} is not an ISO-8601 time", file=sys.stderr)
        return 2
    now = now if now.tzinfo is not None else now.replace(tzinfo=tz)
    try:
        week = Week.parse(args.week) if args.week else Week.of(now, tz).previous()
    except ValueError as error:
        print(f"firelane: --week: {error}", file=sys.stderr)
        return 2
    store = LocalReportStore(Path(args.out)) if args.out else report_store(settings)
    engine = make_engine(settings.database_url_for(settings.out_dir))
    try:
        upgrade(engine)
        with session_factory(engine)() as session:
            try:
                written = generate_weekly(session, settings, week, store, district=not args.site, now=now,
                                          site_codes=[args.site] if args.site else None)
            except LookupError as error:
                print(f"firelane: --site: {error}", file=sys.stderr)
                return 2
    finally:
        engine.dispose()
    print(f"weekly report {week} ({week.label()}) in {store.location(str(week))}")
    for item in written:
        if item.format == "pdf":
            n = item.numbers
            median = f"{n['median_clear_minutes']:.1f} min" if n["median_clear_minutes"] is not None else "-"
            print(f"  {item.site_code or 'district'}: {n['violations']} violations, {n['blocked_minutes']:.0f} blocked "
                  f"minutes, median time to clear {median}, {n['escalations']} escalated, "
                  f"{n['confirmations']} confirmed, repeat offenders: {', '.join(n['repeat_offenders']) or '-'}")
        print(f"    {item.location}")
    return 0


def add_report_command(subparsers: Any) -> None:
    """Register ``report`` on the ``firelane`` command's subparsers."""
    report = subparsers.add_parser("report", help="write the weekly report (HTML and PDF, per site and district)")
    report.add_argument("--week", help="ISO week YYYY-Www, e.g. 2026-W45 (default: last week)")
    report.add_argument("--site", metavar="CODE", help="only this site (default: every site and the district)")
    report.add_argument("--out", help="folder; the report goes to OUT/<week>/ (default <out_dir>/reports, or "
                                      "_reports/ beside the evidence in object storage)")
    report.add_argument("--as-of", metavar="ISO", help="count occupations still going on until this time "
                                                      "(default now; a time without offset is in report_timezone)")
    report.set_defaults(handler=cmd_report)
