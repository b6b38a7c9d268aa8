"""Repeat offenders (plates with repeated confirmed violations) as CSV and PDF, for the police and operators."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime, tzinfo
from pathlib import Path

from service.analytics import Offender
from service.db.closed_loop import Fact
from service.reports.ledger import local_iso, local_short, spreadsheet_safe
from service.reports.pdf import ReportPDF

CSV_COLUMNS = ("plate", "count", "violation_id", "site_code", "site_name", "camera_id", "camera_name", "zone_id",
               "zone_name", "started_at", "violation_at", "ended_at")


def offenders_csv(found: Sequence[Offender[Fact]], tz: tzinfo) -> bytes:
    """UTF-8 with a byte-order mark (spreadsheets read the Chinese right), one row per confirmed violation."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for offender in found:
        for fact in offender.items:
            v = fact.violation
            writer.writerow({key: spreadsheet_safe(str(value)) for key, value in {
                "plate": offender.plate, "count": offender.count, "violation_id": v.id,
                "site_code": fact.site_code or "", "site_name": fact.site_name or "", "camera_id": v.camera_id,
                "camera_name": v.camera_name or "", "zone_id": v.zone_id, "zone_name": v.zone_name,
                "started_at": local_iso(v.started_at, tz), "violation_at": local_iso(v.violation_at, tz),
                "ended_at": local_iso(v.ended_at, tz),
            }.items()})
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def offenders_pdf(found: Sequence[Offender[Fact]], *, since: datetime, until: datetime, min_count: int,
                  now: datetime, tz: tzinfo,
                  font_path: str | Path | None = None) -> bytes:
    title = "反复违停车辆"
    pdf = ReportPDF(title, orientation="L", font_path=font_path)
    pdf.title_block(title, f"{local_short(since, tz)} 至 {local_short(until, tz)} 期间交警确认 {min_count} 起及以上 · "
                           f"生成于 {local_short(now, tz)}（{getattr(tz, 'key', tz)}）")
    if not found:
        pdf.note("本期没有反复违停车辆。")
    table = [["车牌", "次数", "开始", "站点", "摄像头", "区域", "结束"]]
    for offender in found:
        for i, fact in enumerate(offender.items):
            v = fact.violation
            table.append([offender.plate if i == 0 else "", str(offender.count) if i == 0 else "",
                          local_short(v.started_at, tz), fact.site_name or "未登记", v.camera_name or v.camera_id, v.zone_name,
                          local_short(v.ended_at, tz)])
    if found:
        pdf.table(table, widths=(30, 14, 30, 45, 50, 60, 30), size=9)
    return pdf.to_bytes()
