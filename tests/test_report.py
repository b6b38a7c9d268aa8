"""The weekly report: its numbers against the seeded facts (closed_loop_world), the PDF (Chinese text, embedded
font) and the HTML, the ``firelane report`` command, the API button and the Friday 18:00 schedule.

A sample report (PDF, HTML and a PNG of the PDF's first page) is kept in test-artifacts/report/.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from closed_loop_world import CST, NOW, WEEK, Seeded, escalate_and_decide, seed
from service import jobs
from service.api.routes import closed_loop as closed_loop_routes
from service.db.models import AuditEntry
from service.reports.cli import add_report_command
from service.reports.store import LocalReportStore
from service.reports.week import Week, next_report_run
from service.reports.weekly import generate_weekly
from service.settings import Settings
from test_api import ADMIN_PASSWORD, app, bearer, cheap_hashing, client, settings  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "report"
TITLE = "消防车通道占用周报"
SHANGHAI = ZoneInfo("Asia/Shanghai")

# What the seeded facts give for 2026-W45, worked out by hand (minutes; see closed_loop_world):
# blocked: a1 13, a2 23, a3 3420 (Wed 09:00 → Fri 18:00), a4 8 | b1 6060 (Mon 13:00 → Fri 18:00), b2 11
# time from alert to the camera seeing the lane clear: a1 10, a2 20, a4 5 | b2 8
EXPECTED = {
    None: {"violations": 6, "blocked_minutes": 9535.0, "median_clear_minutes": 9.0, "cleared_in_time": 3,
           "cleared_late": 1, "escalations": 3, "confirmations": 4, "rejections": 1, "ongoing": 2, "rebounds": 2,
           "blocked_lanes": 1, "narrowed_lanes": 1, "narrowest_clear_m": 2.3, "repeat_offenders": ["粤B11111"]},
    "garden-a": {"violations": 4, "blocked_minutes": 3464.0, "median_clear_minutes": 10.0, "cleared_in_time": 2,
                 "cleared_late": 1, "escalations": 2, "confirmations": 3, "rejections": 1, "ongoing": 1,
                 "rebounds": 2, "blocked_lanes": 1, "narrowed_lanes": 1, "narrowest_clear_m": 2.3,
                 "repeat_offenders": ["粤B11111"]},
    "tower-b": {"violations": 2, "blocked_minutes": 6071.0, "median_clear_minutes": 8.0, "cleared_in_time": 1,
                "cleared_late": 0, "escalations": 1, "confirmations": 1, "rejections": 0, "ongoing": 1,
                "rebounds": 0, "blocked_lanes": 0, "narrowed_lanes": 0, "narrowest_clear_m": None,
                "repeat_offenders": []},
}


@pytest.fixture
def world(app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    monkeypatch.setattr(closed_loop_routes, "_utcnow", lambda: NOW)
    seeded = seed(app.state.sessions, settings.evidence_root)
    escalate_and_decide(app.state.sessions, seeded, NOW)
    return seeded


def pdf_text(path: Path) -> str | None:
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        return None
    return subprocess.run([pdftotext, "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_weekly_report_numbers_pdf_and_html(world: Seeded, app: FastAPI, settings: Settings, tmp_path: Path,
                                            db_url: str) -> None:
    with app.state.sessions() as session:
        written = generate_weekly(session, settings, Week.parse(WEEK), LocalReportStore(tmp_path / "reports"),
                                  now=NOW)
    folder = tmp_path / "reports" / WEEK
    assert sorted(f.name for f in written) == ["district.html", "district.pdf", "site-garden-a.html",
                                               "site-garden-a.pdf", "site-tower-b.html", "site-tower-b.pdf"]
    assert all(Path(f.location) == folder / f.name and (folder / f.name).is_file() for f in written)
    for item in written:
        numbers = {k: v for k, v in item.numbers.items() if k not in ("site", "week")}
        assert numbers == EXPECTED[item.site_code], item.name
        assert item.numbers["week"] == WEEK

    district = folder / "district.pdf"
    data = district.read_bytes()
    assert data.startswith(b"%PDF-") and b"/FontFile3" in data and b"NotoSansCJK" in data  # CJK font embedded
    text = pdf_text(district)
    if text is not None:
        flat = re.sub(r"\s+", "", text)
        assert f"{TITLE}：全辖区" in flat
        for expected in ("2026年第45周（11月2日—11月8日）", "违停次数6起", "清理用时中位数9分",
                         "超时移交交警3起", "交警确认/驳回4/1起", "粤B11111", "另有1起违停来自未登记到站点的摄像头",
                         "花园A区", "B座"):
            assert expected in flat, expected
    site_text = pdf_text(folder / "site-garden-a.pdf")
    if site_text is not None:
        flat = re.sub(r"\s+", "", site_text)
        assert f"{TITLE}：花园A区" in flat and "违停明细" in flat and "清理时限15分" in flat
        assert flat.count("交警确认") >= 3 and "交警驳回" in flat  # a1, a2, a4 confirmed; a3 rejected

    html = (folder / "site-garden-a.html").read_text(encoding="utf-8")
    assert f"<h1>{TITLE}：花园A区</h1>" in html and "<script" not in html
    assert html.count('src="data:image/png;base64,') == 3  # daily minutes, outcomes, hotspot zones
    facts = dict(re.findall(r'<div class="fact"><span>([^<]+)</span><b>([^<]+)</b>', html))
    assert facts["违停次数"] == "4 起" and facts["超时移交交警"] == "2 起" and facts["反复违停车辆"] == "1 辆"
    assert facts["占用总时长"] == "57 小时 44 分" and facts["清理用时中位数"] == "10 分"
    assert re.search(r"<td>粤B11111</td><td class=\"num\">3</td>", html)
    assert facts["净宽不足（堵塞）"] == "1 起" and facts["通道变窄"] == "1 起" and facts["最窄剩余净宽"] == "2.3 米"
    assert "2.3 米（堵塞）" in html and "4.6 米（变窄）" in html  # per violation in the detail table

    if db_url.startswith("sqlite"):  # keep one sample for people to look at
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for name in ("district.pdf", "district.html", "site-garden-a.pdf", "site-garden-a.html"):
            shutil.copy(folder / name, ARTIFACTS / f"{WEEK}-{name}")
        pdftoppm = shutil.which("pdftoppm")
        if pdftoppm is not None:
            subprocess.run([pdftoppm, "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                            str(ARTIFACTS / f"{WEEK}-district.pdf"), str(ARTIFACTS / f"{WEEK}-district-page1")],
                           check=True)
            assert (ARTIFACTS / f"{WEEK}-district-page1.png").stat().st_size > 10_000


def test_report_counts_a_partial_week_as_of_now(world: Seeded, app: FastAPI, settings: Settings,
                                                tmp_path: Path) -> None:
    """Generated on Tuesday 12:00 the same week: only what had started, blocked time counted to that moment."""
    tuesday = datetime(2026, 11, 3, 12, 0, tzinfo=CST)
    with app.state.sessions() as session:
        [html, pdf] = generate_weekly(session, settings, Week.parse(WEEK), LocalReportStore(tmp_path),
                                      site_codes=["tower-b"], district=False, now=tuesday)
    assert (html.name, pdf.name) == ("site-tower-b.html", "site-tower-b.pdf")
    # b1 from Monday 13:00 to Tuesday 12:00 (23 h) and b2 (11 min, Tuesday 11:00)
    assert pdf.numbers["violations"] == 2 and pdf.numbers["blocked_minutes"] == 23 * 60 + 11


def test_report_command(world: Seeded, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser(prog="firelane")
    add_report_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", "--week", WEEK, "--site", "garden-a", "--out", str(tmp_path / "r"),
                              "--as-of", "2026-11-06T18:00:00"])  # NOW, in the report time zone
    assert args.handler(args, settings) == 0
    out = capsys.readouterr().out
    assert f"weekly report {WEEK}" in out and "garden-a: 4 violations, 3464 blocked minutes" in out
    assert "2 escalated, 3 confirmed, repeat offenders: 粤B11111" in out
    assert sorted(p.name for p in (tmp_path / "r" / WEEK).iterdir()) == ["owners.json", "site-garden-a.html",
                                                                          "site-garden-a.pdf"]

    args = parser.parse_args(["report", "--week", "2026-W99"])
    assert args.handler(args, settings) == 2 and "no ISO week 99" in capsys.readouterr().err
    args = parser.parse_args(["report", "--week", WEEK, "--site", "nowhere", "--out", str(tmp_path / "r")])
    assert args.handler(args, settings) == 2 and "nowhere" in capsys.readouterr().err

    args = parser.parse_args(["report", "--week", WEEK])  # default folder: <out_dir>/reports/<week>/
    assert args.handler(args, settings) == 0
    assert (settings.reports_dir / WEEK / "district.pdf").is_file()

    from service.cli import build_parser  # hooked into the real command
    assert build_parser().parse_args(["report", "--week", WEEK]).handler.__name__ == "cmd_report"


def test_generate_from_the_api(world: Seeded, app: FastAPI, client: TestClient, settings: Settings) -> None:
    police = bearer(client, "police")
    response = client.post("/api/reports/weekly", json={"week": WEEK}, headers=police)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["week"] == WEEK
    assert [(f["site_code"], f["format"]) for f in body["files"]] == [
        (None, "html"), (None, "pdf"), ("garden-a", "html"), ("garden-a", "pdf"), ("tower-b", "html"),
        ("tower-b", "pdf")]
    assert [n["violations"] for n in body["numbers"]] == [6, 4, 2]
    pdf_url = body["files"][1]["url"]
    assert pdf_url == f"/api/reports/{WEEK}/district.pdf"
    pdf = client.get(pdf_url, headers=police)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and pdf.headers["content-type"] == "application/pdf"
    html = client.get(f"/api/reports/{WEEK}/district.html", headers=police)
    assert html.headers["content-type"].startswith("text/html") and TITLE in html.text
    assert "script-src" not in html.headers["content-security-policy"] and "default-src 'none'" in html.headers[
        "content-security-policy"]

    # property staff: their own site's report only
    prop = bearer(client, "prop-a")
    mine = client.post("/api/reports/weekly", json={"week": WEEK}, headers=prop).json()
    assert {f["name"] for f in mine["files"]} == {"site-garden-a.html", "site-garden-a.pdf"}
    assert [n["site"] for n in mine["numbers"]] == ["garden-a"]
    listed = client.get("/api/reports", headers=prop).json()
    assert [(w["week"], [f["name"] for f in w["files"]]) for w in listed] == [
        (WEEK, ["site-garden-a.html", "site-garden-a.pdf"])]
    for name in ("district.pdf", "site-tower-b.pdf", "site-tower-b.html"):
        assert client.get(f"/api/reports/{WEEK}/{name}", headers=prop).status_code == 404
    assert client.get(f"/api/reports/{WEEK}/site-garden-a.pdf", headers=prop).status_code == 200
    assert client.post("/api/reports/weekly", json={"week": WEEK, "site_id": world.site_b},
                       headers=prop).status_code == 404
    assert len(client.get("/api/reports", headers=police).json()[0]["files"]) == 6
    for bad in ("../../secret_key", "district.txt", "site-..%2f.pdf", "district.pdf%0A", "owners.json"):
        assert client.get(f"/api/reports/{WEEK}/{bad}", headers=police).status_code == 404
    assert client.get("/api/reports/2026-W45x/district.pdf", headers=police).status_code == 404
    assert client.post("/api/reports/weekly", json={"week": "2026-45"}, headers=police).status_code == 422
    with app.state.sessions() as session:
        assert session.scalars(select(AuditEntry.target).where(AuditEntry.action == "report.generate")).all() == [
            f"report:{WEEK}", f"report:{WEEK}"]


def test_reports_follow_the_site_not_its_code_and_never_a_link(world: Seeded, app: FastAPI, client: TestClient,
                                                               settings: Settings) -> None:
    police = bearer(client, "police")
    assert client.post("/api/reports/weekly", json={"week": WEEK}, headers=police).status_code == 201
    # garden-a's code is renamed, and tower-b takes the old code: its staff must not get garden-a's report
    op = bearer(client, "admin", ADMIN_PASSWORD)
    assert client.patch(f"/api/sites/{world.site_a}", json={"code": "garden-a-old"}, headers=op).status_code == 200
    assert client.patch(f"/api/sites/{world.site_b}", json={"code": "garden-a"}, headers=op).status_code == 200
    prop_b = bearer(client, "prop-b")
    assert client.get(f"/api/reports/{WEEK}/site-garden-a.pdf", headers=prop_b).status_code == 404
    assert [f["name"] for w in client.get("/api/reports", headers=prop_b).json() for f in w["files"]] == [
        "site-tower-b.html", "site-tower-b.pdf"]
    prop_a = bearer(client, "prop-a")
    assert client.get(f"/api/reports/{WEEK}/site-garden-a.pdf", headers=prop_a).status_code == 200

    folder = settings.reports_dir / WEEK
    secret = settings.out_dir / "secret_key"
    (folder / "site-garden-a.html").unlink()
    (folder / "site-garden-a.html").symlink_to(secret)  # a link out of the reports folder
    assert client.get(f"/api/reports/{WEEK}/site-garden-a.html", headers=police).status_code == 404
    assert "site-garden-a.html" not in [f["name"] for w in client.get("/api/reports", headers=police).json()
                                        for f in w["files"]]
    (settings.reports_dir / "2026-W44").symlink_to(folder)  # a week folder that is a link to another week's
    assert client.get("/api/reports/2026-W44/district.pdf", headers=police).status_code == 404
    assert [w["week"] for w in client.get("/api/reports", headers=police).json()] == [WEEK]


# --- the schedule ---


def test_next_report_run() -> None:
    friday_6pm = datetime(2026, 11, 6, 18, 0, tzinfo=SHANGHAI)
    assert next_report_run(datetime(2026, 11, 6, 17, 59, 59, tzinfo=SHANGHAI)) == friday_6pm
    assert next_report_run(friday_6pm) == friday_6pm + timedelta(days=7)  # strictly after now
    assert next_report_run(datetime(2026, 11, 7, 9, 0, tzinfo=SHANGHAI)) == friday_6pm + timedelta(days=7)
    assert next_report_run(datetime(2026, 11, 2, 0, 0, tzinfo=SHANGHAI)) == friday_6pm
    # the same instant in UTC (Friday 09:59 UTC is 17:59 in Shanghai)
    utc = next_report_run(datetime(2026, 11, 6, 9, 59, tzinfo=timezone.utc))
    assert utc == friday_6pm and utc.utcoffset() == timedelta(hours=8)
    assert next_report_run(datetime(2026, 11, 6, 10, 0, tzinfo=timezone.utc)) == friday_6pm + timedelta(days=7)
    # another weekday, time and zone
    assert next_report_run(friday_6pm, weekday=0, at="08:30") == datetime(2026, 11, 9, 8, 30, tzinfo=SHANGHAI)
    berlin = ZoneInfo("Europe/Berlin")
    assert next_report_run(datetime(2026, 3, 28, 12, 0, tzinfo=berlin), weekday=6, at="02:30", tz="Europe/Berlin") \
        == datetime(2026, 3, 29, 2, 30, tzinfo=berlin)  # a wall time the DST change skips still gives a run
    with pytest.raises(ValueError):
        next_report_run(datetime(2026, 11, 6, 12, 0))  # naive
    with pytest.raises(ValueError):
        next_report_run(friday_6pm, at="25:00")
    with pytest.raises(ValueError):
        next_report_run(friday_6pm, weekday=7)


def test_weeks() -> None:
    week = Week.parse("2026-W45")
    assert (week.monday.isoformat(), week.sunday.isoformat(), str(week.previous())) == (
        "2026-11-02", "2026-11-08", "2026-W44")
    assert week.bounds(SHANGHAI) == (datetime(2026, 11, 2, tzinfo=SHANGHAI), datetime(2026, 11, 9, tzinfo=SHANGHAI))
    assert str(Week.of(datetime(2026, 11, 8, 16, 30, tzinfo=timezone.utc), SHANGHAI)) == "2026-W46"  # Mon 00:30
    assert str(Week.parse("2027-W01").previous()) == "2026-W53"
    for bad in ("2026-45", "2026-W54", "W45", "2026-W4"):
        with pytest.raises(ValueError):
            Week.parse(bad)


def test_scheduled_reports_run_on_time_without_sleeping(world: Seeded, app: FastAPI, settings: Settings,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop waits for Friday 18:00 on an injected clock, writes this week and last week, and goes on."""
    ticks = iter([datetime(2026, 11, 6, 17, 59, 30, tzinfo=CST),  # start: next run is today 18:00
                  datetime(2026, 11, 6, 17, 59, 59, tzinfo=CST),  # not yet: waits (stop.wait, returns at once)
                  datetime(2026, 11, 6, 18, 0, 1, tzinfo=CST)])  # due: writes
    runs: list[datetime] = []
    waits: list[float] = []

    class InstantEvent(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            return self.is_set()

    stop = InstantEvent()

    def write(settings_: Settings, sessions, run_at: datetime) -> list[Week]:  # noqa: ANN001
        runs.append(run_at)
        weeks = jobs.scheduled_weeks(run_at, ZoneInfo(settings_.report_timezone))
        stop.set()
        return weeks

    monkeypatch.setattr(jobs, "write_scheduled_reports", write)
    jobs.report_loop(settings, app.state.sessions, stop, clock=lambda: next(ticks, NOW + timedelta(days=1)))
    assert runs == [datetime(2026, 11, 6, 18, 0, tzinfo=CST)]
    assert waits == [1.0]  # one short wait (min(remaining, 60 s)) before the run
    assert [str(w) for w in jobs.scheduled_weeks(runs[0], SHANGHAI)] == ["2026-W44", "2026-W45"]


def test_scheduled_reports_are_written(world: Seeded, app: FastAPI, settings: Settings) -> None:
    weeks = jobs.write_scheduled_reports(settings, app.state.sessions, NOW)
    assert [str(w) for w in weeks] == ["2026-W44", "2026-W45"]
    for week in ("2026-W44", "2026-W45"):
        assert (settings.reports_dir / week / "district.pdf").is_file()
        assert (settings.reports_dir / week / "site-tower-b.html").is_file()
    assert jobs.escalate_once(app.state.sessions, NOW) == (0, 0)  # already escalated by the fixture
