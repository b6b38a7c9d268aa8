"""The weekly report: per site and for the district, as HTML (one self-contained file) and PDF.

Numbers of a week count the violations that *started* in it (Monday 00:00 to Monday 00:00 in the report time
zone): how many, the minutes the lanes were blocked (start → end, or → the generation time while still
occupied), the median time from alert to the camera seeing the lane clear, escalations to the police,
police confirmations and rejections, repeat offenders (plates with ``repeat_offender_min`` confirmed violations
in the ``repeat_offender_window_days`` before the week's end) and hotspots.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import charts
from service.analytics import Offender, Tally, median
from service.closed_loop import LEDGER_STATUSES, STATUS_LABELS
from service.db.closed_loop import Fact
from service.db.insights import Hotspots, hotspots, offenders
from service.db.models import Site
from service.humanize import duration_zh, minutes_zh
from service.reports.ledger import local_short
from service.reports.pdf import ReportPDF
from service.reports.store import OWNERS, ReportStore
from service.reports.week import Week
from service.settings import Settings

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
REPORT_TITLE = "消防车通道占用周报"
DISTRICT_NAME = "全辖区"
FORMATS = ("html", "pdf")
SEVERITY_LABELS = {"blocked": "堵塞", "narrowed": "变窄"}


@dataclass
class Section:
    """One report: a site's, or the district's (every registered site)."""

    week: Week
    since: datetime
    until: datetime
    now: datetime
    tz: ZoneInfo
    site: Site | None  # None: the district
    spots: Hotspots
    offenders: list[Offender[Fact]]
    offender_min: int
    offender_window_days: int
    unregistered: int = 0  # district: violations of cameras no site has (not counted above)
    sites: list[tuple[Site, Tally, float | None, int]] = field(default_factory=list)  # district: per site
    charts: dict[str, bytes] = field(default_factory=dict)

    # --- the numbers ---

    @property
    def name(self) -> str:
        return self.site.name if self.site is not None else DISTRICT_NAME

    @property
    def violations(self) -> int:
        return self.spots.total.violations

    @property
    def blocked_minutes(self) -> float:
        return self.spots.total.blocked_s / 60.0

    @property
    def escalations(self) -> int:
        return self.spots.total.escalations

    @property
    def rebounds(self) -> int:
        return self.spots.total.rebounds

    def _status_count(self, status: str) -> int:
        return sum(1 for s in self.spots.states if s.status == status)

    @property
    def confirmations(self) -> int:
        return sum(1 for f in self.spots.facts if f.violation.review_status == "confirmed")

    @property
    def rejections(self) -> int:
        return sum(1 for f in self.spots.facts if f.violation.review_status == "rejected")

    @property
    def cleared_in_time(self) -> int:
        return sum(1 for s in self.spots.states if s.state == "cleared_in_time")

    @property
    def cleared_late(self) -> int:
        return sum(1 for s in self.spots.states if s.state == "cleared_late")

    @property
    def ongoing(self) -> int:
        return sum(1 for f in self.spots.facts if f.violation.ended_at is None)

    @property
    def blocked_lanes(self) -> int:
        """Violations that left less than the zone's minimum clear width (only calibrated zones measure it)."""
        return sum(1 for f in self.spots.facts if f.violation.severity == "blocked")

    @property
    def narrowed_lanes(self) -> int:
        return sum(1 for f in self.spots.facts if f.violation.severity == "narrowed")

    @property
    def narrowest_clear_m(self) -> float | None:
        widths = [f.violation.clear_width_m for f in self.spots.facts if f.violation.clear_width_m is not None]
        return min(widths) if widths else None

    @property
    def median_clear_minutes(self) -> float | None:
        value = median(s.time_to_clear_s for s in self.spots.states if s.time_to_clear_s is not None)
        return value / 60.0 if value is not None else None

    @property
    def median_ack_minutes(self) -> float | None:
        value = median(s.time_to_ack_s for s in self.spots.states if s.time_to_ack_s is not None)
        return value / 60.0 if value is not None else None

    def status_counts(self) -> list[tuple[str, str, int]]:
        return [(status, STATUS_LABELS[status], self._status_count(status)) for status in LEDGER_STATUSES
                if status != "ended" or self._status_count(status)]

    def numbers(self) -> dict[str, object]:
        """The headline numbers, machine-readable (the CLI prints them; tests compare them with the facts)."""
        median_clear = self.median_clear_minutes
        return {
            "site": self.site.code if self.site is not None else None,
            "week": str(self.week),
            "violations": self.violations,
            "blocked_minutes": round(self.blocked_minutes, 2),
            "median_clear_minutes": round(median_clear, 2) if median_clear is not None else None,
            "cleared_in_time": self.cleared_in_time,
            "cleared_late": self.cleared_late,
            "escalations": self.escalations,
            "confirmations": self.confirmations,
            "rejections": self.rejections,
            "ongoing": self.ongoing,
            "rebounds": self.rebounds,
            "blocked_lanes": self.blocked_lanes,
            "narrowed_lanes": self.narrowed_lanes,
            "narrowest_clear_m": round(self.narrowest_clear_m, 2) if self.narrowest_clear_m is not None else None,
            "repeat_offenders": [o.plate for o in self.offenders],
        }

    def facts_table(self) -> list[tuple[str, str]]:
        fmt = minutes_zh
        return [
            ("违停次数", f"{self.violations} 起"),
            ("占用总时长", fmt(self.blocked_minutes)),
            ("清理用时中位数", fmt(self.median_clear_minutes)),
            ("确认收到用时中位数", fmt(self.median_ack_minutes)),
            ("按时清理", f"{self.cleared_in_time} 起"),
            ("超时清理", f"{self.cleared_late} 起"),
            ("超时移交交警", f"{self.escalations} 起"),
            ("交警确认 / 驳回", f"{self.confirmations} / {self.rejections} 起"),
            ("仍在占用", f"{self.ongoing} 起"),
            ("清理后复发", f"{self.rebounds} 起"),
            ("净宽不足（堵塞）", f"{self.blocked_lanes} 起"),
            ("通道变窄", f"{self.narrowed_lanes} 起"),
            ("最窄剩余净宽", clear_width_text(self.narrowest_clear_m)),
            ("反复违停车辆", f"{len(self.offenders)} 辆"),
            ("清理时限", duration_zh(self.site.clear_limit_s) if self.site is not None else "按站点设定"),
        ]

    @property
    def subtitle(self) -> str:
        return (f"{self.name} · {self.week} · {self.week.label()} · "
                f"生成于 {self.now.astimezone(self.tz):%Y-%m-%d %H:%M}（{self.tz.key}）")

    @property
    def stem(self) -> str:
        return f"site-{self.site.code}" if self.site is not None else "district"


def clear_width_text(metres: float | None, severity: str | None = None) -> str:
    """A clear width for people: metres with one decimal and what it means; — where the zone is not calibrated."""
    if metres is None:
        return "—"
    label = SEVERITY_LABELS.get(severity or "", "")
    return f"{metres:.1f} 米（{label}）" if label else f"{metres:.1f} 米"


def build_section(session: Session, settings: Settings, week: Week, *, now: datetime, site: Site | None) -> Section:
    tz = ZoneInfo(settings.report_timezone)
    since, until = week.bounds(tz)
    spots = hotspots(session, since=since, until=until, now=now, tz=tz,
                     rebound_window=timedelta(days=settings.rebound_window_days),
                     site_id=site.id if site is not None else None, registered_only=True)
    found = offenders(session, until=until, window_days=settings.repeat_offender_window_days,
                      min_count=settings.repeat_offender_min, site_id=site.id if site is not None else None)
    section = Section(week, since, until, now, tz, site, spots, found, settings.repeat_offender_min,
                      settings.repeat_offender_window_days)
    if site is None:
        everything = hotspots(session, since=since, until=until, now=now, tz=tz,
                              rebound_window=timedelta(days=settings.rebound_window_days))
        section.unregistered = everything.total.violations - spots.total.violations
        for key, tally in spots.sites:
            row = session.get(Site, key.site_id)
            clear = [s.time_to_clear_s for f, s in zip(spots.facts, spots.states)
                     if f.site_id == key.site_id and s.time_to_clear_s is not None]
            med = median(clear)
            section.sites.append((row, tally, med / 60.0 if med is not None else None, sum(
                1 for f in spots.facts if f.site_id == key.site_id and f.violation.review_status == "confirmed")))
    font = settings.font
    section.charts = {
        "daily": charts.blocked_minutes_chart(spots.daily, title=f"{section.name} 每日占用时长（分钟）",
                                              font_path=font),
        "status": charts.status_chart(section.status_counts(), title="处置结果（有交警审核的以审核为准）", font_path=font),
        "zones": charts.ranking_chart(
            [(f"{z.zone_name}（{z.camera_name or z.camera_id}）", t.violations, t.blocked_minutes)
             for z, t in spots.zones], title="热点区域（按违停次数）", font_path=font),
    }
    return section


# --- rendering ---


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["b64"] = lambda data: base64.b64encode(data).decode("ascii")
    env.filters["duration"] = duration_zh
    env.filters["fmt_minutes"] = minutes_zh
    env.globals["clear_width"] = clear_width_text
    return env


def render_html(section: Section) -> str:
    return _environment().get_template("weekly.html").render(
        s=section, title=REPORT_TITLE, local=lambda value: local_short(value, section.tz),
        status_label=lambda status: STATUS_LABELS.get(status, status),
    )


def render_pdf(section: Section, font_path: str | Path | None = None) -> bytes:
    tz = section.tz
    pdf = ReportPDF(f"{REPORT_TITLE} · {section.name} · {section.week}", font_path=font_path)
    pdf.title_block(f"{REPORT_TITLE}：{section.name}", section.subtitle)
    pdf.heading("一、本周概况")
    pdf.facts(section.facts_table())
    if section.site is None and section.unregistered:
        pdf.note(f"另有 {section.unregistered} 起违停来自未登记到站点的摄像头，未计入以上数字。")
    pdf.heading("二、每日占用时长")
    pdf.picture(section.charts["daily"])
    pdf.heading("三、处置结果")
    pdf.picture(section.charts["status"], width=150)
    if section.site is None and section.sites:
        pdf.heading("四、各站点")
        rows = [["站点", "违停", "占用时长", "清理用时中位数", "超时移交", "交警确认", "复发"]]
        for site, tally, med, confirmed in section.sites:
            rows.append([site.name, str(tally.violations), minutes_zh(tally.blocked_minutes), minutes_zh(med), str(tally.escalations), str(confirmed),
                         str(tally.rebounds)])
        pdf.table(rows, widths=(50, 16, 24, 30, 20, 20, 16))
    pdf.heading("热点排行")
    pdf.picture(section.charts["zones"])
    rows = [["排名", "站点", "摄像头", "区域", "违停", "占用时长", "复发", "超时移交"]]
    for rank, (zone, tally) in enumerate(section.spots.zones[:10], 1):
        rows.append([str(rank), zone.site_name or "未登记", zone.camera_name or zone.camera_id, zone.zone_name,
                     str(tally.violations), minutes_zh(tally.blocked_minutes), str(tally.rebounds),
                     str(tally.escalations)])
    if len(rows) > 1:
        pdf.table(rows, widths=(12, 24, 30, 40, 14, 22, 14, 20))
    pdf.heading("反复违停车辆")
    pdf.note(f"{section.offender_window_days} 天内经交警确认违停 {section.offender_min} 次及以上的车辆"
             f"（截至 {section.week.sunday}）。")
    if section.offenders:
        rows = [["车牌", "次数", "首次", "最近一次", "地点"]]
        for offender in section.offenders:
            places = sorted({f"{f.site_name or '未登记'}/{f.violation.zone_name}" for f in offender.items})
            rows.append([offender.plate, str(offender.count), local_short(offender.items[0].violation.started_at, tz),
                         local_short(offender.items[-1].violation.started_at, tz), "、".join(places)])
        pdf.table(rows, widths=(30, 14, 28, 28, 82))
    else:
        pdf.note("无。")
    if section.site is not None:
        pdf.heading("违停明细")
        rows = [["开始", "区域", "状态", "响应用时", "清理用时", "占用时长", "剩余净宽", "车牌"]]
        for fact, state in zip(section.spots.facts, section.spots.states):
            v = fact.violation
            rows.append([local_short(v.started_at, tz), v.zone_name, STATUS_LABELS.get(state.status, state.status),
                         duration_zh(state.time_to_ack_s), duration_zh(state.time_to_clear_s), duration_zh(state.blocked_s),
                         clear_width_text(v.clear_width_m, v.severity), v.plate_text or "—"])
        if len(rows) > 1:
            pdf.table(rows, widths=(22, 36, 22, 18, 18, 18, 26, 26))
        else:
            pdf.note("本周无违停。")
    return pdf.to_bytes()


# --- files ---


@dataclass(frozen=True)
class ReportFile:
    week: str
    name: str  # file name inside <reports>/<week>/
    location: str  # where a person finds it: a path, or an s3:// URL
    site_code: str | None  # None: the district report
    format: str
    numbers: dict[str, object]


def generate_weekly(
    session: Session,
    settings: Settings,
    week: Week,
    store: ReportStore,
    *,
    site_codes: list[str] | None = None,
    district: bool = True,
    now: datetime | None = None,
) -> list[ReportFile]:
    """Write ``<week>/district.{html,pdf}`` and ``site-<code>.{html,pdf}`` for every site (or only ``site_codes``)
    to ``store``; returns what was written. Files are replaced whole (readers never see half a file)."""
    now = now or datetime.now(timezone.utc)
    query = select(Site).order_by(Site.code)
    if site_codes is not None:
        query = query.where(Site.code.in_(site_codes))
    sites: list[Site | None] = list(session.scalars(query))
    if site_codes is not None and len(sites) != len(set(site_codes)):
        missing = sorted(set(site_codes) - {s.code for s in sites if s is not None})
        raise LookupError(f"no site {', '.join(missing)}")
    if district:
        sites.insert(0, None)
    written = []
    owners: dict[str, int | None] = {}
    for site in sites:
        section = build_section(session, settings, week, now=now, site=site)
        numbers = section.numbers()
        for fmt, data in (("html", render_html(section).encode("utf-8")), ("pdf", render_pdf(section, settings.font))):
            name = f"{section.stem}.{fmt}"
            store.put(str(week), name, data)
            code = section.site.code if section.site is not None else None
            written.append(ReportFile(str(week), name, store.location(str(week), name), code, fmt, numbers))
            owners[name] = section.site.id if section.site is not None else None
        log.debug("weekly report %s %s: %s", week, section.stem, numbers)
    # read just before writing: another process (the leader's job, another API) may have added its own meanwhile
    merged = {**store.owners(str(week)), **owners}
    store.put(str(week), OWNERS, json.dumps(merged, indent=1).encode("utf-8"))
    return written
