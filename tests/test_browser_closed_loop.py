"""The hotspot and weekly report pages in a real browser (Playwright + Debian's Chromium), on the seeded facts of
closed_loop_world served by uvicorn; the API's clock is set to ``NOW`` (Friday 6 November 2026, 18:00).

Reuses the browser, login and screenshot helpers of test_browser.py; screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from test_browser import (  # noqa: F401 - fixtures and helpers
    ADMIN_PASSWORD,
    SECRET,
    Console,
    api_json,
    browser,
    cheap_hashing,
    console,
    context,
    login,
    screenshot,
)

import uvicorn  # noqa: E402 - after the skip in test_browser when playwright is missing
from playwright.sync_api import BrowserContext, Page, expect  # noqa: E402

from closed_loop_world import NOW, PASSWORD, WEEK, Seeded, escalate_and_decide, seed  # noqa: E402
from service.api.app import create_app  # noqa: E402
from service.api.routes import closed_loop as closed_loop_routes  # noqa: E402
from service.settings import Settings  # noqa: E402


@dataclass
class LoopServed:
    url: str
    app: Any
    settings: Settings
    world: Seeded


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopServed]:
    settings = Settings(
        _env_file=None, out_dir=tmp_path / "out", database_url=f"sqlite:///{tmp_path / 'firelane.db'}",
        evidence_dir=tmp_path / "evidence", secret_key=SECRET, admin_password=ADMIN_PASSWORD,
    )
    monkeypatch.setattr(closed_loop_routes, "_utcnow", lambda: NOW)
    app = create_app(settings)
    world = seed(app.state.sessions, settings.evidence_root)
    escalate_and_decide(app.state.sessions, world, NOW)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield LoopServed(f"http://127.0.0.1:{port}", app, settings, world)
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
    app.state.engine.dispose()


def cells(page: Page, table: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"#{table} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))")


def image_width(page: Page, selector: str) -> int:
    page.wait_for_function(f"() => {{ const i = document.querySelector({selector!r}); "
                           "return i && i.complete && i.naturalWidth > 0; }")
    return page.eval_on_selector(selector, "i => i.naturalWidth")


def test_police_sees_hotspots_heatmaps_and_chart(context: BrowserContext, served: LoopServed,
                                                 console: Console) -> None:
    page = login(context, served, "police", PASSWORD, "/ui/hotspots", console)
    expect(page.locator("h1")).to_contain_text("热点分析")
    expect(page.locator("#hotspots-period[data-days='30']")).to_have_count(1)  # the default: 30 days
    page.select_option("#hotspot-days", "7")  # the seven days before Friday 18:00: all of the seeded week
    expect(page.locator("#hotspots-period[data-days='7']")).to_have_count(1)
    expect(page.locator("#site-ranking tbody tr")).to_have_count(2)
    assert cells(page, "site-ranking") == [
        ["1", "花园A区", "4", "57 小时 44 分", "2", "2"],
        ["2", "B座", "2", "101 小时 11 分", "0", "1"],
    ]
    zones = cells(page, "zone-ranking")
    assert [row[1:4] for row in zones] == [["北侧消防车通道", "东门", "3"], ["北侧消防车通道", "北门", "2"],
                                           ["南侧消防车通道", "东门", "1"], ["北侧消防车通道", "camX", "1"]]
    assert [row[1] for row in cells(page, "camera-ranking")] == ["东门", "北门", "camX"]
    totals = page.locator("#hotspot-totals .cl-fact")
    expect(totals).to_have_count(4)
    expect(totals.nth(0)).to_contain_text("7 起")
    expect(totals.nth(1)).to_contain_text("159 小时 58 分")
    expect(totals.nth(3)).to_contain_text("3 起")
    expect(page.locator("#hotspots-period")).to_contain_text("10/30")

    # one heat map per camera: camA on its zone file's 1280×720 canvas; the chart of blocked minutes
    expect(page.locator("#heatmaps figure")).to_have_count(3)
    assert image_width(page, "#heatmaps figure[data-camera='camA'] img") == 1280
    assert image_width(page, "#heatmaps figure[data-camera='camX'] img") == 1280  # not registered: default canvas
    assert image_width(page, "#blocked-chart") > 400
    expect(page.locator("#heatmaps figure[data-camera='camA'] figcaption")).to_contain_text("东门 · 4 起")
    shot = screenshot(page, "test_police_sees_hotspots_heatmaps_and_chart")
    assert shot.stat().st_size > 20_000
    daily = {d["day"]: d["blocked_minutes"] for d in api_json(page, served, "/api/hotspots?days=7")["daily"]}
    assert [daily[f"2026-11-0{d}"] for d in range(2, 7)] == [736.0, 1474.0, 2340.0, 2888.0, 2160.0]
    assert console.errors == []


def test_property_sees_only_its_site_on_the_hotspot_page(context: BrowserContext, served: LoopServed,
                                                         console: Console) -> None:
    page = login(context, served, "prop-b", PASSWORD, "/ui/hotspots", console)
    page.select_option("#hotspot-days", "7")
    expect(page.locator("#hotspots-period[data-days='7']")).to_have_count(1)
    expect(page.locator("#site-ranking tbody tr")).to_have_count(1)
    assert cells(page, "site-ranking") == [["1", "B座", "2", "101 小时 11 分", "0", "1"]]
    assert [row[1] for row in cells(page, "camera-ranking")] == ["北门"]
    expect(page.locator("#heatmaps figure")).to_have_count(1)
    assert image_width(page, "#heatmaps figure[data-camera='camB'] img") > 0
    response = page.request.get(served.url + "/api/cameras/camA/heatmap.png")
    assert response.status == 404  # another site's camera
    screenshot(page, "test_property_sees_only_its_site_on_the_hotspot_page")
    assert console.errors == []


def test_operator_generates_the_weekly_report(context: BrowserContext, served: LoopServed,
                                              console: Console) -> None:
    page = login(context, served, "operator", PASSWORD, "/ui/reports", console)
    expect(page.locator("h1")).to_contain_text("周报")
    expect(page.locator("#report-schedule")).to_contain_text("每周五 18:00（Asia/Shanghai）")
    expect(page.locator("#report-week")).to_have_value("2026-W44")  # last week, by the API's clock
    expect(page.locator("#reports-empty")).to_be_visible()
    expect(page.locator("#report-site option")).to_have_count(3)  # the district and each site
    page.fill("#report-week", WEEK)
    page.click("#generate-report")
    expect(page.locator("#report-status")).to_contain_text(f"已生成 {WEEK}", timeout=60_000)
    rows = cells(page, "report-numbers")
    assert [row[:7] for row in rows] == [
        ["全辖区 District", "6", "158 小时 55 分", "9 分", "3", "4", "粤B11111"],
        ["花园A区", "4", "57 小时 44 分", "10 分", "2", "3", "粤B11111"],
        ["B座", "2", "101 小时 11 分", "8 分", "1", "1", "—"],
    ]
    expect(page.locator("#report-list tbody tr")).to_have_count(3)
    pdf_link = page.locator("#report-numbers a[data-name='district.pdf']")
    href = pdf_link.get_attribute("href")
    assert href == f"/api/reports/{WEEK}/district.pdf"
    pdf = page.request.get(served.url + href)
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    screenshot(page, "test_operator_generates_the_weekly_report")

    # the HTML report opens in a new tab, charts and all
    with context.expect_page() as opened:
        page.click("#report-numbers a[data-name='site-garden-a.html']")
    report = opened.value
    report.wait_for_load_state()
    expect(report.locator("h1")).to_have_text("消防车通道占用周报：花园A区")
    expect(report.locator("#ledger tr")).to_have_count(5)  # heading + a1..a4
    widths = report.eval_on_selector_all("img.chart", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == 3 and min(widths) > 400
    screenshot(report, "test_operator_generates_the_weekly_report-html")
    assert console.errors == []


def test_property_generates_its_own_report(context: BrowserContext, served: LoopServed, console: Console) -> None:
    page = login(context, served, "prop-a", PASSWORD, "/ui/reports", console)
    expect(page.locator("#report-site option")).to_have_count(1)
    expect(page.locator("#report-site option")).to_have_text("花园A区")
    page.fill("#report-week", WEEK)
    page.click("#generate-report")
    expect(page.locator("#report-numbers tbody tr")).to_have_count(1, timeout=60_000)
    assert cells(page, "report-numbers")[0][:3] == ["花园A区", "4", "57 小时 44 分"]
    links = page.locator("#report-list a")
    expect(links).to_have_count(2)
    assert {links.nth(i).get_attribute("data-name") for i in range(2)} == {"site-garden-a.html", "site-garden-a.pdf"}
    assert page.request.get(served.url + f"/api/reports/{WEEK}/district.pdf").status == 404
    screenshot(page, "test_property_generates_its_own_report")
    assert console.errors == []


def test_closed_loop_pages_are_in_the_navigation(context: BrowserContext, served: LoopServed,
                                                 console: Console) -> None:
    page = login(context, served, "police", PASSWORD, "/ui/review", console)
    links = page.locator("#nav-menu-records a")
    expect(links).to_have_text([re.compile("热点分析"), re.compile("占用台账"), re.compile("反复违停"), re.compile("周报")])
    expect(links.first).to_be_hidden()  # a menu, opened by its button
    page.click(".nav-group-button")
    links.first.click()
    page.wait_for_url(served.url + "/ui/hotspots")
    expect(page.locator(".nav-group.active .nav-group-button")).to_contain_text("统计台账")
    expect(page.locator("#nav-menu-records a.active")).to_have_attribute("aria-current", "page")
    screenshot(page, "test_closed_loop_pages_are_in_the_navigation")
    assert console.errors == []


def test_ledger_page_filters_and_exports(context: BrowserContext, served: LoopServed, console: Console) -> None:
    page = login(context, served, "prop-a", PASSWORD, "/ui/ledger", console)
    expect(page.locator("#ledger-site option")).to_have_text(["花园A区"])  # property staff: their own site only
    page.fill("#ledger-since", "2026-11-02")
    page.fill("#ledger-until", "2026-11-08")
    page.click("#ledger-apply")
    rows = page.locator("#ledger-table tbody tr")
    expect(rows).to_have_count(4)
    assert [rows.nth(i).get_attribute("data-violation") for i in range(4)] == ["a1", "a2", "a3", "a4"]
    a2 = page.locator("#ledger-table tr[data-violation='a2']")
    expect(a2.locator("td[data-label='状态']")).to_have_text("交警确认")
    expect(a2.locator("td[data-label='清理']")).to_have_text("20 分")  # 20 minutes from alert to a clear lane
    expect(a2.locator("td[data-label='响应']")).to_have_text("5 分")
    expect(page.locator("#ledger-summary")).to_contain_text("花园A区：共 4 起")
    page.select_option("#ledger-status", "rejected")  # a3: escalated, then rejected by the police
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-violation", "a3")
    csv_href = page.locator("#ledger-csv").get_attribute("href")
    assert csv_href == f"/api/sites/{served.world.site_a}/ledger?since=2026-11-02&until=2026-11-08&format=csv"
    csv = page.request.get(served.url + csv_href)
    assert csv.ok and csv.headers["content-type"].startswith("text/csv") and csv.text().count("\n") == 5
    pdf = page.request.get(served.url + page.locator("#ledger-pdf").get_attribute("href"))
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    screenshot(page, "test_ledger_page_filters_and_exports")
    assert page.request.get(served.url + "/ui/offenders").status == 403  # not for property staff
    assert console.errors == []


def test_repeat_offenders_page(context: BrowserContext, served: LoopServed, console: Console) -> None:
    page = login(context, served, "police", PASSWORD, "/ui/offenders", console)
    offender = page.locator(".offender[data-plate='粤B11111']")
    expect(offender).to_have_count(1)  # a1, a2 and a4, confirmed in the 30 days before the API's now
    expect(offender.locator("h2")).to_contain_text("3 次")
    expect(offender.locator("tbody tr")).to_have_count(3)
    expect(offender.locator("tbody tr").first.locator("td[data-label='站点']")).to_have_text("花园A区")
    expect(page.locator(".offender")).to_have_count(1)
    page.fill("#offenders-days", "60")
    page.fill("#offenders-min", "2")
    page.click("#offenders-apply")
    expect(page.locator(".offender")).to_have_count(2)  # 粤B22222: b2, old1, old2 within 60 days
    expect(page.locator(".offender[data-plate='粤B22222'] h2")).to_contain_text("3 次")
    csv = page.request.get(served.url + page.locator("#offenders-csv").get_attribute("href"))
    assert csv.ok and csv.text().count("粤B22222") == 3 and csv.text().count("粤B11111") == 3
    pdf = page.request.get(served.url + page.locator("#offenders-pdf").get_attribute("href"))
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    screenshot(page, "test_repeat_offenders_page")
    assert console.errors == []


def test_unconfirmed_readings_are_shown_apart_with_a_link_to_review(context: BrowserContext, served: LoopServed,
                                                                    console: Console) -> None:
    """The plate reader read 粤B22222 on b1 and x1, nobody reviewed them: with b2 and old1 confirmed that would be
    four. They are listed apart from the confirmed offenders, labelled unconfirmed, with each reading's confidence
    and a link to review it; they are in neither the confirmed list nor the CSV."""
    from service.db.models import Violation

    with served.app.state.sessions.begin() as session:
        for vid, confidence in (("b1", 0.91), ("x1", 0.62)):
            violation = session.get(Violation, vid)
            violation.plate_read, violation.plate_read_confidence, violation.plate_read_colour = (
                "粤B22222", confidence, "blue")
    page = login(context, served, "police", PASSWORD, "/ui/offenders", console)
    expect(page.locator(".offender")).to_have_count(1)  # confirmed: 粤B11111 only, as before
    expect(page.locator(".offender[data-plate='粤B22222']")).to_have_count(0)
    section = page.locator("#suggestions")
    expect(section).to_be_visible()
    expect(section.locator("h2")).to_contain_text("未经确认的识别结果")
    card = section.locator(".suggestion[data-plate='粤B22222']")
    expect(card).to_have_count(1)
    expect(card.locator(".badge.unconfirmed")).to_contain_text("未经确认")
    expect(card.locator("[data-counts]")).to_contain_text("识别 2 次（待审核）+ 已确认 2 次 = 4 次")
    rows = card.locator("tbody tr")
    expect(rows).to_have_count(2)
    assert [rows.nth(i).get_attribute("data-violation") for i in range(2)] == ["x1", "b1"]  # Monday 09:30, 13:00
    expect(rows.nth(0).locator("td[data-label='识别置信度']")).to_have_text("62% 请核对")
    expect(rows.nth(1).locator("td[data-label='识别置信度']")).to_have_text("91%")
    expect(page.locator("#offenders-summary")).to_contain_text("另有 1 个车牌的识别结果未经确认")
    csv = page.request.get(served.url + page.locator("#offenders-csv").get_attribute("href"))
    assert csv.ok and "粤B22222" not in csv.text()  # exports carry confirmed offenders only
    screenshot(page, "test_unconfirmed_readings_are_shown_apart_with_a_link_to_review")

    link = rows.nth(1).locator("a.review-link")
    expect(link).to_have_attribute("href", "/ui/review?violation=b1")
    link.click()
    page.wait_for_url(served.url + "/ui/review?violation=b1")
    expect(page.locator("#detail-title")).to_contain_text("b1")
    expect(page.locator("#plate-read")).to_have_text("粤B22222")

    page.goto(served.url + "/ui/offenders")
    page.fill("#offenders-min", "5")  # 4 with the readings: short of 5, nothing to suggest
    page.click("#offenders-apply")
    expect(section).to_be_hidden()
    assert console.errors == []
