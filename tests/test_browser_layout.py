"""Every page for every role at the widths people use (Playwright + Debian's Chromium, the seeded world of
test_browser.py): the top bar stays one line high from 1024 px up, no page scrolls sideways on a 390 px phone,
and the menus work with the keyboard. Screenshots of every page per role at 1280 and 390 px go to
test-artifacts/layout/<role>-<page>-<width>.png for people to look at."""

from __future__ import annotations


import pytest

from test_browser import (  # noqa: F401 - fixtures and helpers
    ADMIN_PASSWORD,
    PASSWORD,
    REPO,
    Console,
    browser,
    cheap_hashing,
    console,
    login,
    served,
)

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from service.api.routes.ui import PAGES  # noqa: E402

ARTIFACTS = REPO / "test-artifacts" / "layout"
WIDTHS = (1440, 1280, 1024, 390)
SHOT_WIDTHS = (1280, 390)
ROLES = {"operator": ("admin", ADMIN_PASSWORD), "police": ("police", PASSWORD), "property": ("prop-a", PASSWORD)}
SETTLE = "() => !document.querySelector('.nav-list') || document.readyState === 'complete'"


def bar_geometry(page: Page) -> dict:
    """The top bar's height, and every item in it that does not sit on its first line or sticks out of it."""
    return page.evaluate("""() => {
        const bar = document.getElementById('topbar').getBoundingClientRect();
        const items = [...document.querySelectorAll('#topbar .brand, #topbar .nav-list > li, #topbar .whoami')];
        const off = items.filter(i => { const r = i.getBoundingClientRect();
            return r.top < bar.top - 1 || r.bottom > bar.bottom + 1 || r.right > bar.right + 1 || r.height > 48; })
            .map(i => i.textContent.trim().replace(/\\s+/g, ' '));
        const labels = [...document.querySelectorAll('#topbar .nav-list > li > a, .nav-group-button')]
            .filter(a => a.getBoundingClientRect().height > 44).map(a => a.textContent.trim());
        return {height: bar.height, off, labels};
    }""")


def sideways(page: Page) -> dict:
    """How far the page is wider than the window, and the widest elements that make it so."""
    return page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        const culprits = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > width + 1
            && !e.closest('[hidden]') && getComputedStyle(e).position !== 'fixed')
            .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + [...e.classList].join('.'));
        return {over: document.documentElement.scrollWidth - width, culprits};
    }""")


def timeline_overflow(page: Page) -> dict:
    """The dashboard's timeline card: how far it or its chart scrolls sideways, what sticks out of the card, how many
    tick labels run into the one before, and the chart's scale (drawn pixels per unit of its viewBox: a chart
    squeezed to fit would be unreadable)."""
    return page.evaluate("""() => {
        const chart = document.getElementById('timeline-chart');
        const card = chart.closest('.card');
        const box = card.getBoundingClientRect();
        const out = [...card.querySelectorAll('*')].filter(e => { const r = e.getBoundingClientRect();
            return r.width > 0 && (r.right > box.right + 1 || r.left < box.left - 1); })
            .slice(0, 5).map(e => e.tagName.toLowerCase() + '.' + [...e.classList].join('.') + ' ' +
                (e.textContent || '').trim().slice(0, 30));
        const svg = chart.querySelector('svg');
        const ticks = [...chart.querySelectorAll('g.axis text')].map(t => t.getBoundingClientRect())
            .sort((a, b) => a.left - b.left);
        const crowded = ticks.filter((t, i) => i > 0 && ticks[i - 1].right > t.left).length;
        return {card: card.scrollWidth - card.clientWidth, chart: chart.scrollWidth - chart.clientWidth, crowded,
                page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
                right: box.right - document.documentElement.clientWidth, out,
                lanes: chart.querySelectorAll('g.lane').length,
                scale: svg ? svg.getBoundingClientRect().width / svg.viewBox.baseVal.width : null};
    }""")


def settle(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => [...document.images].every(i => i.complete)")


@pytest.mark.parametrize("role", ROLES)
def test_every_page_fits_every_width(browser: Browser, served, role: str, console: Console) -> None:  # noqa: ANN001
    username, password = ROLES[role]
    pages = [p for p in PAGES.values() if role in p.roles]
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    context.set_default_timeout(15_000)
    try:
        page = login(context, served, username, password, pages[0].path, console)
        problems = []
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            for item in pages:
                page.goto(served.url + item.path)
                settle(page)
                expect(page.locator("h1").first).to_be_visible()
                if width >= 1024:
                    bar = bar_geometry(page)
                    if bar["height"] > 64 or bar["off"] or bar["labels"]:
                        problems.append((width, item.name, "top bar", bar))
                    expect(page.locator("#menu-toggle")).to_be_hidden()
                else:
                    expect(page.locator("#menu-toggle")).to_be_visible()
                    expect(page.locator("nav.nav")).to_be_hidden()
                over = sideways(page)
                if over["over"] > 0:
                    problems.append((width, item.name, "sideways", over))
                if item.name == "dashboard":
                    timeline = timeline_overflow(page)
                    if (timeline["card"] > 0 or timeline["chart"] > 0 or timeline["right"] > 0 or timeline["out"]
                            or timeline["crowded"]):
                        problems.append((width, item.name, "timeline card", timeline))
                if width in SHOT_WIDTHS:
                    ARTIFACTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(ARTIFACTS / f"{role}-{item.name}-{width}.png"), full_page=True)
        assert problems == []
        assert console.errors == []
    finally:
        context.close()


def test_menus_work_with_the_keyboard(browser: Browser, served, console: Console) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        page = login(context, served, "admin", ADMIN_PASSWORD, "/ui/dashboard", console)
        # desktop: Tab reaches the menu button, Enter opens it with focus on its first link, Escape closes it
        page.keyboard.press("Tab")
        expect(page.locator(".skip-link")).to_be_focused()
        button = page.locator(".nav-group-button").first
        for _ in range(12):
            page.keyboard.press("Tab")
            if button.evaluate("b => b === document.activeElement"):
                break
        expect(button).to_be_focused()
        page.keyboard.press("Enter")
        expect(button).to_have_attribute("aria-expanded", "true")
        expect(page.locator("#nav-menu-records a").first).to_be_focused()
        page.keyboard.press("Escape")
        expect(button).to_have_attribute("aria-expanded", "false")
        expect(button).to_be_focused()
        expect(page.locator("#nav-menu-records")).to_be_hidden()
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")  # the second link of the menu
        page.keyboard.press("Enter")
        page.wait_for_url(served.url + "/ui/ledger")

        # phone: the menu button opens the whole menu, every page and the logout inside it
        page.set_viewport_size({"width": 390, "height": 844})
        toggle = page.locator("#menu-toggle")
        toggle.focus()
        page.keyboard.press("Enter")
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(page.locator("nav.nav a")).to_have_count(sum(1 for p in PAGES.values() if "operator" in p.roles))
        expect(page.locator("nav.nav a[href='/ui/zones']")).to_be_visible()
        expect(page.locator(".whoami button")).to_be_visible()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "operator-menu-open-390.png"), full_page=True)
        page.keyboard.press("Escape")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(page.locator("nav.nav")).to_be_hidden()
        assert console.errors == []
    finally:
        context.close()


def test_login_and_refusal_pages_fit_a_phone(browser: Browser, served, console: Console) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    try:
        page = context.new_page()
        console.watch(page)
        page.goto(served.url + "/login")
        expect(page.locator("#login-submit")).to_be_visible()
        assert sideways(page)["over"] <= 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "login-390.png"), full_page=True)
        page.fill("#username", "prop-a")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(served.url + "/ui/alerts")
        response = page.goto(served.url + "/ui/zones")
        assert response is not None and response.status == 403
        expect(page.locator("h1")).to_contain_text("无权访问")
        expect(page.locator("main a")).to_have_attribute("href", "/ui/alerts")  # back to their home page
        assert sideways(page)["over"] <= 0
        page.screenshot(path=str(ARTIFACTS / "property-forbidden-390.png"), full_page=True)
        assert console.errors == []
    finally:
        context.close()


def test_dashboard_timeline_fits_a_phone(browser: Browser, served, console: Console) -> None:  # noqa: ANN001
    """390×844: the zone timeline is drawn at the card's width (names above their bars, real pixels), nothing in the
    card scrolls or sticks out; it is drawn again when the window changes width, in real pixels at 1024 and 1280
    too (scaled, its text was 9 px at 800)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    try:
        page = login(context, served, "admin", ADMIN_PASSWORD, "/ui/dashboard", console)
        expect(page.locator("#timeline-chart svg.timeline-svg.narrow g.lane")).to_have_count(1)  # camA's lane-a
        expect(page.locator("#timeline-chart g.lane text.lane-label")).to_have_text("东门 · 北侧消防车通道")
        expect(page.locator("#timeline-chart g.lane g.span")).to_have_count(2)
        fit = timeline_overflow(page)
        assert fit["lanes"] == 1 and fit["scale"] == pytest.approx(1.0, abs=0.02), fit
        assert (fit["card"], fit["chart"], fit["page"], fit["out"], fit["crowded"]) == (0, 0, 0, [], 0), fit
        assert fit["right"] <= 0, fit
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator("#timeline-chart").screenshot(path=str(ARTIFACTS / "operator-dashboard-timeline-390.png"))

        for wide in (1024, 1280):  # wide: names left of the bars, still in real pixels (text as legible)
            page.set_viewport_size({"width": wide, "height": 844})
            expect(page.locator("#timeline-chart svg.timeline-svg:not(.narrow)")).to_have_count(1)
            page.wait_for_function("() => { const chart = document.getElementById('timeline-chart');"
                                   " const svg = chart.querySelector('svg');"
                                   " return svg && svg.viewBox.baseVal.width === Math.floor(chart.clientWidth); }")
            fit = timeline_overflow(page)
            assert fit["scale"] == pytest.approx(1.0, abs=0.02) and fit["crowded"] == 0, (wide, fit)
            assert (fit["card"], fit["chart"], fit["page"], fit["out"]) == (0, 0, 0, []), (wide, fit)
            page.locator("#timeline-chart").screenshot(path=str(ARTIFACTS / f"operator-dashboard-timeline-{wide}.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        expect(page.locator("#timeline-chart svg.timeline-svg.narrow")).to_have_count(1)
        fit = timeline_overflow(page)
        assert (fit["card"], fit["chart"], fit["page"], fit["out"]) == (0, 0, 0, []), fit
        assert console.errors == []
    finally:
        context.close()
