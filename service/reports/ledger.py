"""A site's ledger (every occupation, its status and response times) as CSV and PDF."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime, tzinfo
from pathlib import Path

from service.db.insights import LedgerRow
from service.db.models import Site
from service.humanize import duration_zh
from service.reports.pdf import ReportPDF

CSV_COLUMNS = (
    "violation_id", "camera_id", "camera_name", "zone_id", "zone_name", "category", "object_class", "clear_width_m",
    "severity", "started_at",
    "violation_at", "alerted_at", "acknowledged_at", "claimed_cleared_at", "ended_at", "due_at", "escalated_at",
    "status", "status_label", "review_status", "plate_text", "time_to_ack_s", "time_to_clear_s", "blocked_s",
)


def local_iso(value: datetime | None, tz: tzinfo) -> str:
    return value.astimezone(tz).isoformat(timespec="seconds") if value is not None else ""


def local_short(value: datetime | None, tz: tzinfo) -> str:
    return value.astimezone(tz).strftime("%m-%d %H:%M") if value is not None else "—"


def _seconds(value: float | None) -> str:
    return f"{value:.0f}" if value is not None else ""


def _metres(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else ""


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula (a zone named ``=HYPERLINK(…)``) gets a
    leading apostrophe, as OWASP advises for CSV exports."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def row_values(row: LedgerRow, tz: tzinfo) -> dict[str, str]:
    v, a, s = row.violation, row.fact.alert, row.state
    return {
        "violation_id": v.id,
        "camera_id": v.camera_id,
        "camera_name": v.camera_name or "",
        "zone_id": v.zone_id,
        "zone_name": v.zone_name,
        "category": v.category,
        "object_class": v.object_class,
        "clear_width_m": _metres(v.clear_width_m),
        "severity": v.severity or "",
        "started_at": local_iso(v.started_at, tz),
        "violation_at": local_iso(v.violation_at, tz),
        "alerted_at": local_iso(a.created_at if a else None, tz),
        "acknowledged_at": local_iso(a.acknowledged_at if a else None, tz),
        "claimed_cleared_at": local_iso(a.claimed_cleared_at if a else None, tz),
        "ended_at": local_iso(v.ended_at, tz),
        "due_at": local_iso(s.due_at, tz),
        "escalated_at": local_iso(a.escalated_at if a else None, tz),
        "status": s.status,
        "status_label": row.status_label,
        "review_status": v.review_status or "pending",
        "plate_text": v.plate_text or "",
        "time_to_ack_s": _seconds(s.time_to_ack_s),
        "time_to_clear_s": _seconds(s.time_to_clear_s),
        "blocked_s": _seconds(s.blocked_s),
    }


def ledger_csv(rows: Sequence[LedgerRow], tz: tzinfo) -> bytes:
    """UTF-8 with a byte-order mark (so spreadsheet programs read the Chinese right), one row per occupation.

    Times are ISO-8601 in ``tz``, durations in whole seconds; ``ended_at`` is when the camera last saw the
    occupant before the lane was free (the lane counts as cleared then)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: spreadsheet_safe(value) for key, value in row_values(row, tz).items()})
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def ledger_pdf(site: Site, rows: Sequence[LedgerRow], *, since: datetime | None, until: datetime | None,
               now: datetime, tz: tzinfo, font_path: str | Path | None = None) -> bytes:
    title = f"{site.name} 消防车通道占用台账"
    period = f"{local_short(since, tz) if since else '最早'} 至 {local_short(until, tz) if until else '现在'}"
    pdf = ReportPDF(title, orientation="L", font_path=font_path)
    pdf.title_block(title, f"{period} · 清理时限 {duration_zh(site.clear_limit_s)}（告警发出时确定）· "
                           f"生成于 {local_short(now, tz)}（{getattr(tz, 'key', tz)}）")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status_label] = counts.get(row.status_label, 0) + 1
    pdf.note(f"共 {len(rows)} 起：" + "，".join(f"{k} {v}" for k, v in counts.items()) if rows else "本期无占用。")
    pdf.ln(1)
    table = [["开始", "摄像头", "区域", "剩余宽(m)", "告警", "确认收到", "摄像头确认清理", "升级交警", "状态", "车牌",
              "响应用时", "清理用时", "占用时长"]]
    for row in rows:
        v, a, s = row.violation, row.fact.alert, row.state
        table.append([
            local_short(v.started_at, tz), v.camera_name or v.camera_id, v.zone_name,
            f"{v.clear_width_m:.1f}" if v.clear_width_m is not None else "—",
            local_short(a.created_at if a else None, tz), local_short(a.acknowledged_at if a else None, tz),
            local_short(v.ended_at, tz), local_short(a.escalated_at if a else None, tz), row.status_label,
            v.plate_text or "—", duration_zh(s.time_to_ack_s), duration_zh(s.time_to_clear_s), duration_zh(s.blocked_s),
        ])
    pdf.table(table, widths=(20, 22, 28, 14, 20, 19, 23, 20, 22, 22, 18, 18, 18), size=8)
    return pdf.to_bytes()
