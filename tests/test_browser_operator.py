"""An operator sets up a compound entirely in the browser, then sees its camera run.

``firelane serve`` as it runs (the app with its background services: camera supervisor, YOLO11n from ../shared) on an
empty database; the camera is an MJPEG stream (tests/faultkit.py) showing the demo sample's parked bus. The operator
adds a site (a refused code first, the refusal in Chinese), a camera (test connection shows a frame at once; the
snapshot is taken on save), a property user, and a zone drawn on that snapshot, closed on its first point and
calibrated on the ground; then the camera page shows the camera running. Screenshots in test-artifacts/browser/.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import uvicorn
from faultkit import MjpegServer, parked_scene_frames
from playwright.sync_api import BrowserContext, Page, expect
from test_browser import (  # noqa: F401 - fixtures: the browser, a context, console watching, cheap hashing
    ADMIN_PASSWORD,
    PASSWORD,
    SECRET,
    Console,
    Served,
    api_json,
    browser,
    cheap_hashing,
    console,
    context,
    login,
    screenshot,
)

from service.api.app import create_app
from service.settings import Settings

DEMO_FRAME = (960, 540)
NEW_PASSWORD = "lane keeper 2024"
LANE = [(34, 500), (926, 500), (818, 335), (142, 335)]  # the demo's fire lane, corners in drawing order


@pytest.fixture
def camera_stream() -> Iterator[MjpegServer]:
    with MjpegServer(parked_scene_frames(2), fps=4) as server:
        yield server


@pytest.fixture
def serving(tmp_path: Path, shared_data: Path) -> Iterator[Served]:
    """The app with its background services (camera workers with YOLO11n), on an empty database."""
    settings = Settings(
        _env_file=None, out_dir=tmp_path / "out", database_url=f"sqlite:///{tmp_path / 'firelane.db'}",
        evidence_dir=tmp_path / "evidence", secret_key=SECRET, admin_password=ADMIN_PASSWORD,
        model=str(shared_data.parent / "models" / "yolo11n_reconstructed.pt"), allow_download=False,
        export_openvino=False, reports_enabled=False,
    )
    app = create_app(settings, background=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", app, settings, datetime.now(timezone.utc))
    server.should_exit = True
    thread.join(timeout=60)
    sock.close()


def click_frame(page: Page, points: list[tuple[float, float]]) -> None:
    """Click frame pixels of the demo frame on the zone editor's snapshot."""
    page.locator("#overlay").scroll_into_view_if_needed()
    box = page.locator("#overlay").bounding_box()
    assert box is not None
    for x, y in points:
        page.mouse.click(box["x"] + x * box["width"] / DEMO_FRAME[0], box["y"] + y * box["height"] / DEMO_FRAME[1])


def test_operator_sets_up_a_site_in_the_browser(
    context: BrowserContext,  # noqa: F811 - test_browser's fixture
    serving: Served,
    console: Console,  # noqa: F811 - test_browser's fixture
    camera_stream: MjpegServer,
) -> None:
    # a site: a bad code is refused in Chinese (the English beneath), then saved
    page = login(context, serving, "admin", ADMIN_PASSWORD, "/ui/sites", console)
    expect(page.locator("#no-sites")).to_be_visible()
    page.fill("#site-name", "花园小区")
    page.fill("#site-code", "garden a!")
    page.fill("#site-limit", "10")
    page.click("#save-site")
    expect(page.locator("#site-problems")).to_be_visible()
    expect(page.locator("#site-problems li").first).to_contain_text("编码：格式不对")
    expect(page.locator("#site-problems li").first).to_contain_text("String should match pattern")
    page.fill("#site-code", "garden-a")
    page.click("#save-site")
    expect(page.locator("#site-status")).to_contain_text("已保存：花园小区")
    expect(page.locator("#site-rows tr[data-code='garden-a']")).to_contain_text("10 分钟")
    [site] = api_json(page, serving, "/api/sites")
    assert (site["code"], site["name"], site["clear_limit_s"]) == ("garden-a", "花园小区", 600)

    # a camera: test connection shows the stream's frame at once; saving takes its snapshot
    page.goto(serving.url + "/ui/cameras")
    expect(page.locator("#camera-site")).to_have_value(str(site["id"]))
    page.fill("#camera-name", "东门")
    page.fill("#camera-id", "gate")
    page.fill("#camera-source", camera_stream.url)
    page.fill("#camera-fps", "1")
    page.click("#test-connection")
    expect(page.locator("#camera-status")).to_contain_text("连接成功")
    expect(page.locator("#preview-size")).to_contain_text("960×540")
    page.wait_for_function("() => document.getElementById('preview-image').naturalWidth === 960")
    page.click("#save-camera")
    expect(page.locator("#camera-status")).to_contain_text("快照已拍摄", timeout=30_000)
    page.wait_for_function("() => document.getElementById('preview-image').src.includes('/api/cameras/gate/snapshot')"
                           " && document.getElementById('preview-image').naturalWidth === 960")
    row = page.locator("#camera-rows tr[data-camera='gate']")
    expect(row).to_contain_text("未运行")
    expect(row).to_contain_text("尚未绘制区域")  # the supervisor's reason, in Chinese
    camera = api_json(page, serving, "/api/cameras/gate")
    assert (camera["frame_width"], camera["frame_height"], camera["fps"]) == (960, 540, 1.0)
    screenshot(page, "test_operator_sets_up_a_site_cameras")

    # a property login for the site, from the sites page's link: role and site come preset, and what is typed
    # while the page still loads stays
    page.goto(serving.url + f"/ui/users?role=property&site={site['id']}")
    page.fill("#user-name", "garden-staff")
    page.fill("#user-password", PASSWORD)
    expect(page.locator("#user-site")).to_have_value(str(site["id"]))
    expect(page.locator("#user-role")).to_have_value("property")
    expect(page.locator("#user-name")).to_have_value("garden-staff")
    page.click("#save-user")
    expect(page.locator("#user-status")).to_contain_text("已保存：garden-staff")
    expect(page.locator("#user-rows tr[data-username='garden-staff']")).to_contain_text("花园小区")
    staff = next(u for u in api_json(page, serving, "/api/users") if u["username"] == "garden-staff")
    assert (staff["role"], staff["site_id"], staff["active"]) == ("property", site["id"], True)
    # a password reset: too short is refused in Chinese, then the new one works
    page.click("#user-rows tr[data-username='garden-staff'] button")
    page.fill("#user-password", "short")
    page.click("#save-user")
    expect(page.locator("#user-problems li").first).to_contain_text("密码：密码至少 10 个字符")
    page.fill("#user-password", NEW_PASSWORD)
    page.click("#save-user")
    expect(page.locator("#user-status")).to_contain_text("密码已重置")
    token = page.request.post(serving.url + "/api/auth/token",
                              form={"username": "garden-staff", "password": NEW_PASSWORD})
    assert token.ok, token.text()
    page.goto(serving.url + "/ui/sites")
    expect(page.locator("#site-rows tr[data-code='garden-a']")).to_contain_text("garden-staff")  # its staff

    # the zone, drawn on the snapshot taken when the camera was added; closed by clicking its first point
    page.goto(serving.url + "/ui/zones?camera=gate")
    page.wait_for_function("() => document.getElementById('snapshot').naturalWidth === 960")
    expect(page.locator("#frame-size")).to_contain_text("960×540")
    click_frame(page, [*LANE, LANE[0]])
    expect(page.locator("#overlay g.zone.selected polygon.shape")).to_have_count(1)
    expect(page.locator("#overlay g.zone.selected circle.vertex")).to_have_count(4)  # no duplicate point
    page.fill("#zone-id", "lane-1")
    page.fill("#zone-name", "北侧消防车通道")
    page.fill("#zone-grace", "60")
    for category in ("vehicle", "obstacle", "obstruction"):
        expect(page.locator(f"#class-{category}")).to_be_checked()
    # calibrated on the ground: the lane's corners are a 7.5 m × 20 m rectangle
    page.click("#mark-ground")
    click_frame(page, LANE)
    expect(page.locator("#overlay circle.ground-corner")).to_have_count(4)
    expect(page.locator("#ground-min")).to_have_value("4")
    page.fill("#ground-width", "7.5")
    page.fill("#ground-length", "20")
    page.click("#save-zones")
    expect(page.locator("#save-status")).to_contain_text("已保存：版本 v1")
    [zone] = api_json(page, serving, "/api/cameras/gate/zones")["document"]["zones"]
    assert len(zone["polygon"]) == 4 and zone["classes"] == ["vehicle", "obstacle", "obstruction"]
    for (x, y), (ex, ey) in zip(zone["polygon"], LANE):
        assert abs(x - ex) <= 2 and abs(y - ey) <= 2, zone["polygon"]
    ground = zone["ground"]
    assert (ground["width_m"], ground["length_m"], ground["min_clear_width_m"]) == (7.5, 20, 4)
    assert all(abs(x - ex) <= 2 and abs(y - ey) <= 2 for (x, y), (ex, ey) in zip(ground["corners"], LANE))
    screenshot(page, "test_operator_sets_up_a_site_zones")

    # with zones the camera runs: the cameras page says so
    page.goto(serving.url + "/ui/cameras")
    row = page.locator("#camera-rows tr[data-camera='gate']")
    expect(row.locator(".badge.state-running")).to_have_text("运行中", timeout=90_000)
    expect(row).to_contain_text(re.compile(r"\d+ 帧"))
    screenshot(page, "test_operator_sets_up_a_site_running")

    # on a phone the pages' own content fits the screen (wide tables scroll inside their card)
    page.set_viewport_size({"width": 390, "height": 844})
    for name in ("sites", "cameras", "users", "zones"):
        page.goto(f"{serving.url}/ui/{name}")
        expect(page.locator("h1")).to_be_visible()
        page.wait_for_load_state("networkidle")  # the tables are filled
        overflow = page.evaluate("() => [...document.querySelectorAll('main .card, main .page-head')]"
                                 ".map((e) => e.getBoundingClientRect().right).filter((r) => r > innerWidth + 1)")
        assert overflow == [], (name, overflow)
        stacked = page.evaluate("""() => [...document.querySelectorAll('main .badge, main .role')].filter((e) => {
            const style = getComputedStyle(e);
            const line = parseFloat(style.lineHeight) || 1.5 * parseFloat(style.fontSize);
            return e.getBoundingClientRect().height > 1.8 * line; }).map((e) => e.textContent)""")
        assert stacked == [], (name, "badges broken over lines", stacked)
        screenshot(page, f"test_operator_sets_up_a_site_390_{name}")
    assert console.errors == []
