"""The web UI in a real browser: Playwright drives Debian's Chromium against the app served by uvicorn.

Each test gets its own server (127.0.0.1, a free port) on a fresh SQLite database and output folder, seeded
with two sites, a camera with a snapshot, users of every role, and violations with real evidence files
(JPEG stills, a WebM clip) and their alerts. Every test asserts what the page shows, checks the outcome
through the API, and saves a screenshot to test-artifacts/browser/<test>.png.

Needs ``apt-get install chromium fonts-noto-cjk`` (the fonts so Chinese renders) and ``pip install playwright``;
``playwright install`` is not used: Chromium comes from Debian. Skipped without them, failed under CI.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

try:
    from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    if os.environ.get("CI"):
        raise
    pytest.skip("playwright is not installed (pip install -e '.[test]')", allow_module_level=True)

import uvicorn

from service.api import security
from service.api.app import create_app
from service.clip import write_webm
from service.db import alerts, cameras, sites, users
from service.db.closed_loop import run_closed_loop
from service.db.violations import replace_evidence, upsert_violation
from service.settings import Settings
from service.camera.workers import CameraStatus
from sealed import seal

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("FIRELANE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SECRET = "browser-test-secret-" + "x" * 32
ADMIN_PASSWORD = "admin-password-1"
PASSWORD = "correct horse battery"
FRAME = (1280, 720)


# --- the browser ---


def _has_chinese_font() -> bool:
    """Chromium on Linux takes its fonts from fontconfig; ask it for one covering Chinese."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    found = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True, check=False)
    return bool(found.stdout.strip())


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    reason = None
    if not CHROMIUM.exists():
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium fonts-noto-cjk)"
    elif not _has_chinese_font():
        reason = "no font with Chinese glyphs: the pages would show boxes (apt-get install fonts-noto-cjk)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with tiny costs, as in test_api: the server runs in this process, so it uses them too."""
    cheap = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    monkeypatch.setattr(security, "_hasher", lambda: cheap)
    monkeypatch.setattr(security, "_dummy_hash", lambda: cheap.hash("dummy"))


# --- the seeded world ---


def _jpeg(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    path.write_bytes(data.tobytes())


def road_image(width: int = FRAME[0], height: int = FRAME[1]) -> np.ndarray:
    """A grey road seen from above at an angle, with lane markings and a yellow fire-lane box."""
    image = np.full((height, width, 3), 150, np.uint8)
    road = np.array([[int(width * 0.15), height], [int(width * 0.42), int(height * 0.25)],
                     [int(width * 0.62), int(height * 0.25)], [int(width * 0.95), height]], np.int32)
    cv2.fillPoly(image, [road], (95, 95, 95))
    for i in range(6):
        y0 = int(height * (0.3 + i * 0.12))
        cv2.line(image, (int(width * 0.52), y0), (int(width * 0.52) + i * 6, y0 + 40), (235, 235, 235), 6)
    cv2.rectangle(image, (int(width * 0.2), int(height * 0.62)), (int(width * 0.88), int(height * 0.97)), (0, 200, 255), 5)
    cv2.putText(image, "FIRE LANE", (int(width * 0.4), int(height * 0.82)), cv2.FONT_HERSHEY_SIMPLEX, 2.2, (0, 200, 255), 5)
    return image


def still(label: str, colour: tuple[int, int, int]) -> np.ndarray:
    image = cv2.resize(road_image(), (320, 180))
    cv2.rectangle(image, (120, 100), (200, 150), colour, -1)  # the "car"
    cv2.putText(image, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return image


def _row(folder: Path, name: str, role: str, captured_at: datetime) -> dict[str, Any]:
    data = (folder / name).read_bytes()
    media = {".jpg": "image/jpeg", ".webm": "video/webm"}[Path(name).suffix]
    return {"name": name, "role": role, "media_type": media, "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data), "captured_at": captured_at}


def write_evidence(root: Path, fields: dict[str, Any], latest_at: datetime, key_file: Path) -> list[dict[str, Any]]:
    """Real stills, crop and clip in the violation's folder; rows listed out of time order on purpose."""
    folder = root / fields["evidence_dir"]
    start, grace = fields["started_at"], fields["violation_at"]
    _jpeg(folder / "01-begin.jpg", still("BEGIN", (40, 40, 220)))
    _jpeg(folder / "02-grace.jpg", still("GRACE", (40, 160, 240)))
    _jpeg(folder / "03-latest.jpg", still("LATEST", (60, 60, 200)))
    _jpeg(folder / "crop.jpg", cv2.resize(still("", (40, 40, 220))[90:160, 100:220], (120, 70)))
    frames = [still(f"t+{i}s", (40, 40, 220)) for i in range(12)]
    assert write_webm(frames, folder / "clip.webm", fps=4) == 12
    seal(folder, fields["id"], key_file)
    return [
        _row(folder, "03-latest.jpg", "latest", latest_at),
        _row(folder, "crop.jpg", "crop", grace),
        _row(folder, "clip.webm", "clip", start),
        _row(folder, "02-grace.jpg", "grace", grace),
        _row(folder, "01-begin.jpg", "begin", start),
    ]


@dataclass
class Served:
    url: str
    app: Any
    settings: Settings
    now: datetime
    alert_id: int = 0
    users: dict[str, int] = field(default_factory=dict)


def violation_fields(violation_id: str, started: datetime, ended: datetime | None, now: datetime) -> dict[str, Any]:
    return {
        "id": violation_id, "camera_id": "camA", "camera_name": "东门", "zone_id": "lane-a",
        "zone_name": "北侧消防车通道", "zone_kind": "fire_lane", "object_class": "car", "category": "vehicle",
        "started_at": started, "violation_at": started + timedelta(minutes=3), "ended_at": ended,
        "duration_s": ((ended or now) - started).total_seconds(), "box": [400.0, 300.0, 700.0, 520.0],
        "tracker_ids": [7], "evidence_dir": f"camA/{started:%Y-%m-%d}/{violation_id}", "manifest_sha256": None,
        "source": "rtsp://admin:s3cret@192.168.1.10/stream",
    }


def seed(app: Any, settings: Settings) -> Served:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    served = Served("", app, settings, now)
    with app.state.sessions.begin() as session:
        site_a = sites.create_site(session, code="garden-a", name="花园A区")
        site_b = sites.create_site(session, code="tower-b", name="B座")
        for camera_id, name, site in (("camA", "东门", site_a), ("camB", "B座地库口", site_b)):
            cameras.create_camera(session, {"id": camera_id, "site_id": site.id, "name": name,
                                            "source_url": f"rtsp://admin:s3cret@192.168.1.{site.id}/stream"})
        for username, role, site_id in (("police", "police", None), ("prop-a", "property", site_a.id),
                                        ("prop-b", "property", site_b.id)):
            user = users.create_user(session, username=username, password_hash=security.hash_password(PASSWORD),
                                     role=role, site_id=site_id)
            served.users[username] = user.id
        admin = users.get_user_by_username(session, "admin")
        assert admin is not None
        # an earlier violation, over and its alert cleared; and one going on now, 40 minutes in
        earlier = upsert_violation(session, violation_fields("vA-earlier", now - timedelta(hours=5),
                                                             now - timedelta(hours=4, minutes=30), now))
        replace_evidence(session, earlier.id, write_evidence(settings.evidence_root, violation_fields(
            "vA-earlier", now - timedelta(hours=5), None, now), now - timedelta(hours=4, minutes=31),
            settings.signing_key_path))
        alerts.mark_cleared(session, alerts.enqueue_violation_alert(session, earlier), admin.id)
        current = upsert_violation(session, violation_fields("vA", now - timedelta(minutes=40), None, now))
        replace_evidence(session, "vA", write_evidence(settings.evidence_root, violation_fields(
            "vA", now - timedelta(minutes=40), None, now), now - timedelta(minutes=1), settings.signing_key_path))
        alert = alerts.enqueue_violation_alert(session, current)
        assert alert is not None
        served.alert_id = alert.id
    _jpeg(settings.out_dir / "snapshots" / "camA.jpg", road_image())
    return served


class FakeSupervisor:
    """What ``service.camera.workers.WorkerSupervisor`` offers the live endpoint: camA running, a car in lane-a."""

    problems = {"camB": "no zones drawn yet"}

    def status(self, camera_id: str) -> CameraStatus | None:
        if camera_id != "camA":
            return None
        return CameraStatus(
            "camA", state="running", frames=321, last_frame_at=datetime.now(timezone.utc), zone_version=1,
            objects=[{"class": "car", "category": "vehicle", "score": 0.91, "box": [420.0, 470.0, 720.0, 640.0],
                      "zones": ["lane-a"]},
                     {"class": "person", "category": "other", "score": 0.6, "box": [900.0, 200.0, 960.0, 330.0],
                      "zones": []}],
            zones=[{"id": "lane-a", "name": "北侧消防车通道", "occupied": True, "violations": 1,
                    "longest_dwell_s": 2400.0}],
        )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    settings = Settings(
        _env_file=None, out_dir=tmp_path / "out", database_url=f"sqlite:///{tmp_path / 'firelane.db'}",
        evidence_dir=tmp_path / "evidence", secret_key=SECRET, admin_password=ADMIN_PASSWORD,
    )
    app = create_app(settings)
    world = seed(app, settings)
    app.state.supervisor = FakeSupervisor()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # lifespan off: whatever background work the lifespan starts (camera workers, alert delivery) stays off
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    world.url = f"http://127.0.0.1:{port}"
    yield world
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
    app.state.engine.dispose()


# --- pages ---


@dataclass
class Console:
    """Uncaught script errors and console errors (CSP refusals included), but not failed HTTP answers,
    which the pages show themselves (a refused save is a 422)."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", lambda message: self.errors.append(f"console: {message.text}")
                if message.type == "error" and "Failed to load resource" not in message.text else None)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1440, "height": 960}, locale="zh-CN")
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def console() -> Console:
    return Console()


def login(context: BrowserContext, served: Served, username: str, password: str, path: str,
          console: Console) -> Page:
    """Open ``path`` logged out: the page sends us to the login form, which brings us back."""
    page = context.new_page()
    console.watch(page)
    page.goto(served.url + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.locator("h1")).to_contain_text("登录")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(served.url + path)
    expect(page.locator("#whoami")).to_contain_text(username)
    return page


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def api_json(page: Page, served: Served, url: str) -> Any:
    """The JSON API with the page's session cookie."""
    response = page.request.get(served.url + url)
    assert response.ok, (url, response.status, response.text())
    return response.json()


def click_on_frame(page: Page, points: list[tuple[float, float]]) -> None:
    """Click frame pixels ``points`` on the snapshot (it is scaled to the page's width)."""
    page.locator("#overlay").scroll_into_view_if_needed()  # filling the side panel's fields may have scrolled it away
    box = page.locator("#overlay").bounding_box()
    assert box is not None
    for x, y in points:
        page.mouse.click(box["x"] + x * box["width"] / FRAME[0], box["y"] + y * box["height"] / FRAME[1])


def screen_point(page: Page, x: float, y: float) -> tuple[float, float]:
    box = page.locator("#overlay").bounding_box()
    assert box is not None
    return box["x"] + x * box["width"] / FRAME[0], box["y"] + y * box["height"] / FRAME[1]


# --- tests ---


def test_operator_draws_saves_and_gets_refused(context: BrowserContext, served: Served, console: Console) -> None:
    page = login(context, served, "admin", ADMIN_PASSWORD, "/ui/zones", console)
    expect(page.locator("nav.nav .nav-list > li > a")).to_have_text([re.compile("概览"), re.compile("违法审核"),
                                                                     re.compile("告警处理")])
    expect(page.locator("#nav-menu-admin a")).to_have_text([re.compile("小区"), re.compile("摄像头"),
                                                           re.compile("区域编辑"), re.compile("用户")])
    expect(page.locator("#camera-select")).to_have_value("camA")
    page.wait_for_function("() => document.getElementById('snapshot').naturalWidth === 1280")
    expect(page.locator("#frame-size")).to_contain_text("1280×720")
    expect(page.locator("#zones-version")).to_have_text("未保存")

    # four clicks, then drag the second vertex somewhere else, close, fill the fields
    click_on_frame(page, [(250, 450), (1000, 440), (1200, 700), (120, 700)])
    expect(page.locator("#overlay g.zone.selected circle.vertex")).to_have_count(4)
    page.mouse.move(*screen_point(page, 1000, 440))
    page.mouse.down()
    page.mouse.move(*screen_point(page, 1050, 420), steps=5)
    page.mouse.move(*screen_point(page, 1100, 400), steps=5)
    page.mouse.up()
    page.click("#close-polygon")
    expect(page.locator("#overlay g.zone.selected polygon.shape")).to_have_count(1)
    page.fill("#zone-id", "lane-a")
    page.fill("#zone-name", "北侧消防车通道")
    page.select_option("#zone-kind", "fire_lane")
    page.fill("#zone-grace", "120")
    page.fill("#zone-leave", "20")
    page.fill("#zone-overlap", "0.4")
    expect(page.locator("#class-obstruction")).to_be_checked()  # new fire-lane zones watch all three categories
    page.uncheck("#class-obstacle")
    page.click("#save-zones")
    expect(page.locator("#save-status")).to_contain_text("已保存：版本 v1")
    expect(page.locator("#zones-version")).to_have_text("版本 v1")
    expect(page.locator("#problems")).to_be_hidden()

    saved = api_json(page, served, "/api/cameras/camA/zones")
    assert saved["version"] == 1
    document = saved["document"]
    assert document["camera_id"] == "camA" and document["frame_size"] == [1280, 720] and document["units"] == "px"
    [zone] = document["zones"]
    assert (zone["id"], zone["name"], zone["kind"]) == ("lane-a", "北侧消防车通道", "fire_lane")
    assert (zone["grace_s"], zone["leave_s"], zone["min_overlap"], zone["classes"]) == (120, 20, 0.4, ["vehicle", "obstruction"])
    expected = [(250, 450), (1100, 400), (1200, 700), (120, 700)]  # the second point as dragged
    assert len(zone["polygon"]) == 4
    for (x, y), (ex, ey) in zip(zone["polygon"], expected):
        assert abs(x - ex) <= 3 and abs(y - ey) <= 3, (zone["polygon"], expected)

    # the live preview: the worker's boxes over the snapshot, the occupied zone marked
    expect(page.locator("#overlay rect.live-box.in-zone")).to_have_count(1)
    expect(page.locator("#overlay rect.live-box")).to_have_count(2)
    expect(page.locator("#zone-list")).to_contain_text("占用中")
    expect(page.locator("#live-status")).to_contain_text("2 个目标")

    # a second zone drawn as a bow-tie: refused with the reason, nothing stored
    page.click("#add-zone")
    page.fill("#zone-id", "lane-b")
    page.fill("#zone-name", "交叉错误")
    click_on_frame(page, [(100, 100), (500, 300), (500, 100), (100, 300)])
    page.click("#close-polygon")
    page.click("#save-zones")
    problems = page.locator("#problem-list li")
    expect(page.locator("#problems")).to_be_visible()
    expect(problems.first).to_contain_text("zone 'lane-b': polygon is invalid (Self-intersection")
    expect(problems.first).to_contain_text("区域 'lane-b'：多边形无效（自相交")  # Chinese first
    expect(page.locator("#save-status")).to_contain_text("未保存")
    expect(page.locator("#zone-list")).to_contain_text("有错误")
    assert [v["version"] for v in api_json(page, served, "/api/cameras/camA/zones/versions")] == [1]
    screenshot(page, "test_operator_draws_saves_and_gets_refused")
    assert console.errors == []


def test_police_reviews_with_evidence(context: BrowserContext, served: Served, console: Console) -> None:
    page = login(context, served, "police", PASSWORD, "/ui/review", console)
    expect(page.locator("nav.nav .nav-list > li > a")).to_have_text([re.compile("概览"), re.compile("违法审核")])
    queue = page.locator("#queue-list .queue-item")
    expect(queue).to_have_count(2)
    assert [queue.nth(i).get_attribute("data-id") for i in range(2)] == ["vA-earlier", "vA"]  # oldest first
    page.click("#queue-list .queue-item[data-id='vA']")
    expect(page.locator("#detail-title")).to_contain_text("vA")
    expect(page.locator("#detail-title")).not_to_contain_text("earlier")

    stills = page.locator("#stills figure.still")
    expect(stills).to_have_count(3)
    assert [stills.nth(i).get_attribute("data-role") for i in range(3)] == ["begin", "grace", "latest"]
    captured = [datetime.fromisoformat(stills.nth(i).get_attribute("data-captured")) for i in range(3)]
    assert captured == sorted(captured) and len(set(captured)) == 3
    expect(stills.nth(0)).to_contain_text("开始占用")
    expect(stills.nth(1)).to_contain_text("超过允许停留时间")
    expect(stills.nth(2)).to_contain_text("最新画面")
    shanghai = timezone(timedelta(hours=8))
    expect(stills.nth(1).locator("time")).to_have_text(captured[1].astimezone(shanghai).strftime("%Y/%m/%d %H:%M:%S"))
    page.wait_for_function("() => [...document.querySelectorAll('#stills img, #crop')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator("#stills img").nth(0).get_attribute("src").endswith("/evidence/01-begin.jpg")

    clip = page.locator("video#clip")
    expect(clip).to_be_visible()
    assert clip.get_attribute("src") == "/api/violations/vA/evidence/clip.webm"
    page.wait_for_function("() => document.getElementById('clip').readyState >= 1 && document.getElementById('clip').duration > 0")
    assert page.evaluate("document.getElementById('clip').duration") == pytest.approx(3.0, abs=0.5)  # 12 frames at 4 fps

    timeline = page.locator("#detail-timeline")
    expect(timeline).to_contain_text("允许停留 3 分")
    expect(timeline).to_contain_text("违停 37 分")
    expect(timeline.locator("[data-point='ended']")).to_contain_text("仍在占用")
    assert page.locator("#export-link").get_attribute("href") == "/api/violations/vA/export"
    expect(page.locator("#integrity.ok")).to_contain_text("证据完整，已签名")

    # the evidence of the earlier violation has been tampered with: one byte appended to a still
    earlier = next(served.settings.evidence_root.rglob("vA-earlier/02-grace.jpg"))
    with earlier.open("ab") as still:
        still.write(b"\0")
    page.click("#queue-list .queue-item[data-id='vA-earlier']")
    expect(page.locator("#integrity.failed")).to_contain_text("02-grace.jpg：已被改动")  # Chinese, then English
    expect(page.locator("#integrity.failed")).to_contain_text("02-grace.jpg: altered")
    expect(page.locator("#export-link")).to_be_hidden()
    page.click("#queue-list .queue-item[data-id='vA']")
    expect(page.locator("#integrity.ok")).to_be_visible()

    page.click("#confirm")  # no plate yet: refused on the page
    expect(page.locator("#decision-error")).to_contain_text("车牌号")
    page.fill("#plate", "粤B·12345")
    page.click("#confirm")
    expect(page.locator("#outcome")).to_contain_text("已确认违法：vA，车牌 粤B12345")
    expect(page.locator("#outcomes li[data-id='vA']")).to_contain_text("已确认")
    expect(queue).to_have_count(1)  # moved on to the next one
    expect(page.locator("#detail-title")).to_contain_text("vA-earlier")
    page.click("#reject")  # rejecting needs a reason
    expect(page.locator("#decision-error")).to_contain_text("理由")

    detail = api_json(page, served, "/api/violations/vA")
    assert (detail["review_status"], detail["plate_text"]) == ("confirmed", "粤B12345")
    assert detail["review"]["reviewer_id"] == served.users["police"]
    assert [v["id"] for v in api_json(page, served, "/api/reviews/queue")] == ["vA-earlier"]
    screenshot(page, "test_police_reviews_with_evidence")
    assert console.errors == []


def test_police_see_evidence_sealed_later_beside_the_badge(context: BrowserContext, served: Served,
                                                           console: Console) -> None:
    """vA was recorded before the installation signed evidence and sealed afterwards (``firelane seal``): the badge
    is the same green one, with 事后补签 and the sealing time beside it; vA-earlier, signed when recorded, has none."""
    from service.signing import ManifestSigner

    folder = next(served.settings.evidence_root.rglob("vA/manifest.json")).parent
    sealed_at = datetime(2026, 12, 1, 8, 30, tzinfo=timezone.utc)
    signer = ManifestSigner.load_or_create(served.settings.signing_key_path)
    (folder / "manifest.sig").write_bytes(signer.signature((folder / "manifest.json").read_bytes(), sealed_at=sealed_at))

    page = login(context, served, "police", PASSWORD, "/ui/review?violation=vA", console)
    expect(page.locator("#detail-title")).to_contain_text("vA")
    expect(page.locator("#integrity.ok")).to_contain_text("证据完整，已签名")
    label = page.locator("#integrity .sealed-later")
    expect(label).to_have_text("事后补签 · sealed later at 2026/12/01 16:30:00")  # Beijing time
    assert "not when recorded" in label.get_attribute("title")
    expect(page.locator("#export-link")).to_be_visible()  # sealed evidence is intact: it exports
    detail = api_json(page, served, "/api/violations/vA")
    assert datetime.fromisoformat(detail["sealed_later_at"]) == sealed_at
    screenshot(page, "test_police_see_evidence_sealed_later_beside_the_badge")

    page.click("#queue-list .queue-item[data-id='vA-earlier']")
    expect(page.locator("#detail-title")).to_contain_text("vA-earlier")
    expect(page.locator("#integrity.ok")).to_be_visible()
    expect(page.locator("#integrity .sealed-later")).to_have_count(0)
    assert api_json(page, served, "/api/violations/vA-earlier")["sealed_later_at"] is None
    assert console.errors == []


def test_police_form_is_prefilled_with_the_plate_reading_and_keeps_the_correction(
        context: BrowserContext, served: Served, console: Console) -> None:
    from service.db.models import EvidenceFile, Violation

    folder = next(served.settings.evidence_root.rglob("vA/01-begin.jpg")).parent
    plate = np.full((40, 140, 3), (160, 60, 20), np.uint8)  # a blue plate crop, as the reader saves it
    cv2.putText(plate, "B12345", (8, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
    _jpeg(folder / "plate.jpg", plate)
    seal(folder, "vA", served.settings.signing_key_path)
    with served.app.state.sessions.begin() as session:
        row = _row(folder, "plate.jpg", "plate", served.now - timedelta(minutes=30))
        session.add(EvidenceFile(violation_id="vA", **row))
        violation = session.get(Violation, "vA")
        violation.plate_read, violation.plate_read_confidence, violation.plate_read_colour = "粤B12845", 0.62, "blue"

    page = login(context, served, "police", PASSWORD, "/ui/review?violation=vA", console)
    expect(page.locator("#detail-title")).to_contain_text("vA")
    expect(page.locator("#plate-reading")).to_be_visible()
    expect(page.locator("#plate-read")).to_have_text("粤B12845")
    expect(page.locator("#plate-read-meta")).to_contain_text("蓝牌")
    expect(page.locator("#plate-read-meta")).to_contain_text("62%")
    expect(page.locator("#plate-read-meta")).to_contain_text("请核对")  # not sure: the officer is asked to check
    expect(page.locator("#plate")).to_have_value("粤B12845")  # prefilled
    assert page.locator("#plate-crop").get_attribute("src") == "/api/violations/vA/evidence/plate.jpg"
    page.wait_for_function("() => document.getElementById('plate-crop').naturalWidth > 0")
    expect(page.locator("#plate-corrected")).to_be_hidden()
    expect(page.locator("#integrity.ok")).to_be_visible()  # the plate crop is part of the sealed evidence
    screenshot(page, "test_police_form_is_prefilled_with_the_plate_reading")

    page.fill("#plate", "粤B12345")  # the crop shows a 3 where the reader saw an 8
    expect(page.locator("#plate-corrected")).to_be_visible()
    page.click("#confirm")
    expect(page.locator("#outcome")).to_contain_text("车牌 粤B12345")
    expect(page.locator("#outcome")).to_contain_text("更正自机器识别 粤B12845")
    detail = api_json(page, served, "/api/violations/vA")
    assert (detail["plate_text"], detail["plate_read"], detail["plate_read_confidence"]) == ("粤B12345", "粤B12845", 0.62)
    assert console.errors == []


def test_property_acknowledges_and_clears(browser: Browser, context: BrowserContext, served: Served,
                                          console: Console) -> None:
    page = login(context, served, "prop-a", PASSWORD, "/ui/alerts", console)
    expect(page.locator("nav.nav .nav-list > li > a")).to_have_text([re.compile("概览"), re.compile("告警处理")])
    cards = page.locator("#alert-list .alert-card")
    expect(cards).to_have_count(1)  # the earlier alert is cleared already
    card = cards.first
    assert card.get_attribute("data-id") == str(served.alert_id)
    expect(card.locator("h2")).to_have_text("东门 · 北侧消防车通道")
    expect(card.locator(".alert-status")).to_have_text("待处理")
    expect(card).to_contain_text("仍在占用")
    expect(card).to_contain_text("清理期限 Clear by")
    expect(card).to_contain_text("剩余 1")  # the default limit is 15 minutes from the alert
    expect(card).not_to_contain_text("花园A区")  # property staff see their own site only: no site column
    thumb = card.locator(".thumb img")
    assert thumb.get_attribute("src") == "/api/violations/vA/evidence/02-grace.jpg"
    page.wait_for_function("() => document.querySelector('.alert-card .thumb img').naturalWidth > 0")

    card.locator("button.ack").click()
    expect(card.locator(".alert-status")).to_have_text("已确认收到")
    expect(card).to_have_attribute("data-status", "acknowledged")
    expect(card.locator("button.ack")).to_be_disabled()
    expect(card.locator(".card-message")).to_contain_text("已确认收到")
    assert api_json(page, served, f"/api/alerts/{served.alert_id}")["status"] == "acknowledged"

    # "lane cleared" while the camera still sees the car is a claim: the status stays until the camera confirms
    card.locator("button.clear").click()
    expect(card.locator(".badge.claim")).to_have_text("已报清理 · 待摄像头确认")
    expect(card.locator(".alert-status")).to_have_text("已确认收到")
    expect(card.locator(".card-message")).to_contain_text("已报告清理")
    expect(card.locator("button.clear")).to_be_disabled()
    alert = api_json(page, served, f"/api/alerts/{served.alert_id}")
    assert (alert["status"], alert["claimed_cleared_by"]) == ("acknowledged", served.users["prop-a"])
    screenshot(page, "test_property_acknowledges_and_clears-claimed")

    # the camera sees the lane free (the violation ends) and the closed loop confirms the claim
    with served.app.state.sessions.begin() as session:
        upsert_violation(session, {"id": "vA", "ended_at": datetime.now(timezone.utc)})
        run_closed_loop(session)
    page.click("#refresh-alerts")
    expect(card.locator(".alert-status")).to_have_text("已清理")
    expect(card).to_have_attribute("data-status", "cleared")
    expect(card.locator(".badge.claim")).to_have_count(0)
    expect(card.locator("button.clear")).to_be_disabled()
    expect(card).to_contain_text("已清理 Cleared")
    expect(card.locator(".card-message")).to_contain_text("摄像头已确认通道畅通")
    expect(card).not_to_contain_text("仍在占用")
    alert = api_json(page, served, f"/api/alerts/{served.alert_id}")
    assert alert["status"] == "cleared" and alert["cleared_by"] == served.users["prop-a"]
    screenshot(page, "test_property_acknowledges_and_clears")

    # staff of the other site see nothing of it
    other_context = browser.new_context(viewport={"width": 1440, "height": 700}, locale="zh-CN")
    try:
        other = login(other_context, served, "prop-b", PASSWORD, "/ui/alerts", console)
        page_all = other.locator("#alert-filter")
        expect(other.locator("#alerts-empty")).to_contain_text("当前没有未处理的告警")
        page_all.select_option("all")
        expect(other.locator("#alerts-empty")).to_contain_text("没有告警")
        expect(other.locator("#alert-list .alert-card")).to_have_count(0)
        response = other.request.get(f"{served.url}/api/alerts/{served.alert_id}")
        assert response.status == 404
        assert other.request.get(f"{served.url}/api/cameras/camA/snapshot").status == 404
        screenshot(other, "test_property_acknowledges_and_clears-other-site")
    finally:
        other_context.close()
    assert console.errors == []


def test_login_lockout_says_in_chinese_how_long_to_wait(context: BrowserContext, served: Served,
                                                       console: Console) -> None:
    page = context.new_page()
    console.watch(page)
    page.goto(served.url + "/login")
    for attempt in range(6):  # five wrong passwords lock the account; the sixth try, right or wrong, waits
        page.fill("#username", "prop-a")
        page.fill("#password", PASSWORD if attempt == 5 else "wrong password")
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_be_visible()
        expect(page.locator("#login-submit")).to_be_enabled()
    expect(page.locator("#login-error")).to_contain_text("密码错误次数过多，此账号已被锁定，请 15 分钟后再试 (429)")
    assert page.url == served.url + "/login"
    assert console.errors == []


def test_dashboard_counts_and_timeline(browser: Browser, context: BrowserContext, served: Served,
                                       console: Console) -> None:
    page = context.new_page()
    console.watch(page)
    page.goto(served.url + "/ui/dashboard")
    page.fill("#username", "admin")
    page.fill("#password", "wrong password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_contain_text("用户名或密码错误")
    screenshot(page, "test_dashboard_counts_and_timeline-login")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(served.url + "/ui/dashboard")

    site_a = page.locator("#site-table tr[data-site='garden-a']")
    expect(site_a.locator("th")).to_have_text("花园A区")
    expect(site_a.locator("td.open")).to_have_text("1")
    expect(site_a.locator("td.pending")).to_have_text("2")
    expect(site_a.locator("td.total")).to_have_text("2")
    expect(page.locator("#site-table tr[data-site='tower-b'] td.open")).to_have_text("0")
    expect(page.locator("#camera-table tr[data-camera='camA'] td.open")).to_have_text("1")
    expect(page.locator("#camera-table tr[data-camera='camB'] td.total")).to_have_text("0")

    lane = page.locator("#timeline-chart svg g.lane[data-camera='camA'][data-zone='lane-a']")
    expect(lane).to_have_count(1)
    expect(lane.locator("text.lane-label")).to_have_text("东门 · 北侧消防车通道")
    expect(lane.locator("g.span")).to_have_count(2)
    expect(lane.locator("rect.violation.ongoing")).to_have_count(1)
    expect(lane.locator("rect.grace")).to_have_count(2)
    expect(page.locator("#timeline-chart svg line.now")).to_have_count(1)
    screenshot(page, "test_dashboard_counts_and_timeline")

    # property staff of the other site: their site only, nothing open
    other_context = browser.new_context(viewport={"width": 1440, "height": 700}, locale="zh-CN")
    try:
        other = login(other_context, served, "prop-b", PASSWORD, "/ui/dashboard", console)
        expect(other.locator("#site-table tbody tr")).to_have_count(1)
        expect(other.locator("#site-table tr[data-site='tower-b'] td.open")).to_have_text("0")
        expect(other.locator("#timeline-chart")).to_contain_text("没有违停记录")
        other.goto(served.url + "/ui/zones")  # not for property staff
        expect(other.locator("h1")).to_contain_text("无权访问")
    finally:
        other_context.close()
    assert console.errors == []
