"""The alert board in a real browser (Playwright + Debian's Chromium, the seeded world of test_browser.py) when the
vehicle leaves before anyone acted: shown as 车辆已离开 at once, never as pending or overdue, and closed as ``left``
by the closed-loop job."""

from __future__ import annotations

from datetime import timedelta

from test_browser import (  # noqa: F401 - fixtures and helpers
    PASSWORD,
    Console,
    browser,
    cheap_hashing,
    console,
    context,
    login,
    screenshot,
    served,
)

from playwright.sync_api import BrowserContext, expect  # noqa: E402

from service.db.closed_loop import run_closed_loop  # noqa: E402
from service.db.models import Alert, Violation  # noqa: E402


def test_vehicle_that_left_unattended_is_not_pending(context: BrowserContext, served, console: Console) -> None:  # noqa: ANN001
    with served.app.state.sessions.begin() as session:  # the camera saw the car leave 2 minutes ago; nobody acted
        session.get_one(Violation, "vA").ended_at = served.now - timedelta(minutes=2)
    page = login(context, served, "prop-a", PASSWORD, "/ui/alerts", console)
    card = page.locator(f".alert-card[data-id='{served.alert_id}']")
    expect(card).to_have_attribute("data-status", "left")
    expect(card.locator(".alert-status")).to_have_text("车辆已离开")
    expect(card).not_to_contain_text("已超时")
    expect(card).not_to_contain_text("待处理")
    expect(card.locator("button.ack")).to_be_disabled()
    expect(card.locator("button.clear")).to_be_disabled()
    screenshot(page, "test_vehicle_that_left_unattended_is_not_pending")

    with served.app.state.sessions.begin() as session:
        assert [a.id for a in run_closed_loop(session).left] == [served.alert_id]
    with served.app.state.sessions() as session:
        assert session.get_one(Alert, served.alert_id).status == "left"
    page.click("#refresh-alerts")
    expect(page.locator("#alerts-empty")).to_be_visible()  # nothing waits for property staff
    page.select_option("#alert-filter", "all")
    expect(card).to_have_attribute("data-status", "left")
    expect(card).to_contain_text("车辆离开 Left")
    assert console.errors == []


def test_an_alert_handled_elsewhere_is_refused_in_chinese(context: BrowserContext, served, console: Console) -> None:  # noqa: ANN001
    """A colleague acknowledged the alert after this page loaded: the click is refused (409) and the card says why in
    Chinese, with the server's English after it, then shows the alert as it now is."""
    from service.db import alerts

    page = login(context, served, "prop-a", PASSWORD, "/ui/alerts", console)
    card = page.locator(f".alert-card[data-id='{served.alert_id}']")
    expect(card.locator("button.ack")).to_be_enabled()
    with served.app.state.sessions.begin() as session:
        alerts.acknowledge(session, session.get_one(Alert, served.alert_id), served.users["prop-a"])
    card.locator("button.ack").click()
    message = card.locator(".card-message.bad")
    expect(message).to_contain_text(f"告警 {served.alert_id} 当前为“已确认收到”，不能再改为“已确认收到”")
    expect(message).to_contain_text(f"alert {served.alert_id} is acknowledged; cannot become acknowledged")
    expect(card).to_have_attribute("data-status", "acknowledged")
    screenshot(page, "test_an_alert_handled_elsewhere_is_refused_in_chinese")
    assert console.errors == []
