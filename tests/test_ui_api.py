"""The endpoints and pages of the web UI, without a browser: login redirects, roles, and the same site scoping
as the rest of the API for snapshots, live state, dashboard statistics and the alert board (SQLite and
PostgreSQL, on test_api's world: two sites with a camera each, one unregistered camera, three violations)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
from fastapi.testclient import TestClient
from test_api import (  # noqa: F401 - fixtures used by name
    ADMIN_PASSWORD,
    PASSWORD,
    World,
    app,
    cheap_hashing,
    client,
    settings,
    world,
)

from service.api import security
from service.camera.workers import CameraStatus
from service.db import camera_states


def cookie_client(world: World, username: str) -> TestClient:
    """A browser-like client: logged in with the session cookie."""
    client = TestClient(world.app)
    password = ADMIN_PASSWORD if username == "admin" else PASSWORD
    assert client.post("/login", data={"username": username, "password": password}).status_code == 200
    return client


def write_snapshot(world: World, camera_id: str) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((72, 128, 3), 120, np.uint8))
    assert ok
    path = world.app.state.settings.out_dir / "snapshots" / f"{camera_id}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.tobytes())
    return data.tobytes()


def test_pages_need_login_and_the_right_role(world: World) -> None:
    anonymous = TestClient(world.app)
    for path in ("/ui/zones", "/ui/review", "/ui/alerts", "/ui/dashboard", "/ui/sites", "/ui/cameras", "/ui/users", "/ui"):
        response = anonymous.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == f"/login?next={path}", path
    assert anonymous.get("/ui/zones?camera=camA", follow_redirects=False).headers["location"] == \
        "/login?next=/ui/zones%3Fcamera%3DcamA"
    login = anonymous.get("/login", params={"next": "/ui/review"})
    assert login.status_code == 200 and 'name="next" value="/ui/review"' in login.text and "登录" in login.text
    assert 'value="/ui"' in anonymous.get("/login", params={"next": "//evil.example"}).text  # no open redirect
    assert "frame-ancestors 'none'" in login.headers["content-security-policy"]

    homes = {"admin": "/ui/dashboard", "police": "/ui/review", "prop-a": "/ui/alerts"}
    allowed = {
        "admin": {"/ui/zones", "/ui/review", "/ui/alerts", "/ui/dashboard", "/ui/sites", "/ui/cameras", "/ui/users"},
        "police": {"/ui/review", "/ui/dashboard"},
        "prop-a": {"/ui/alerts", "/ui/dashboard"},
    }
    for username, pages in allowed.items():
        client = cookie_client(world, username)
        assert client.get("/ui", follow_redirects=False).headers["location"] == homes[username]
        for path in ("/ui/zones", "/ui/review", "/ui/alerts", "/ui/dashboard", "/ui/sites", "/ui/cameras", "/ui/users"):
            response = client.get(path)
            if path in pages:
                assert response.status_code == 200, (username, path)
                assert f'id="whoami">{username}' in response.text
                assert response.headers["cache-control"] == "no-store"
                for other in {"/ui/zones", "/ui/review", "/ui/alerts", "/ui/sites", "/ui/cameras", "/ui/users"} - pages:
                    assert f'href="{other}"' not in response.text, (username, path, other)
            else:
                assert response.status_code == 403 and "无权访问" in response.text, (username, path)
    # a user whose session ended is sent to the login page again
    client = cookie_client(world, "police")
    client.cookies.set(security.SESSION_COOKIE, "forged")
    assert client.get("/ui/review", follow_redirects=False).status_code == 303


def test_static_files(world: World) -> None:
    client = TestClient(world.app)
    for name, kind in (("app.css", "text/css"), ("common.js", "javascript"), ("zones.js", "javascript")):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"], name
        assert response.headers["x-content-type-options"] == "nosniff"
    for path in ("/static/../routes/ui.py", "/static/%2e%2e/routes/ui.py", "/static/nope.js", "/static/"):
        assert client.get(path).status_code == 404, path


def test_snapshot_scoped_like_cameras(world: World) -> None:
    data = write_snapshot(world, "camA")
    admin, prop_a, prop_b = (cookie_client(world, u) for u in ("admin", "prop-a", "prop-b"))
    for client in (admin, prop_a):
        response = client.get("/api/cameras/camA/snapshot")
        assert response.status_code == 200 and response.content == data
        assert response.headers["content-type"] == "image/jpeg" and response.headers["cache-control"] == "no-store"
    assert prop_b.get("/api/cameras/camA/snapshot").status_code == 404  # another site's camera does not exist
    assert prop_b.get("/api/cameras/camB/snapshot").json()["detail"] == "camera 'camB' has no snapshot yet"
    assert admin.get("/api/cameras/nope/snapshot").status_code == 404
    assert cookie_client(world, "police").get("/api/cameras/camA/snapshot").status_code == 403
    assert TestClient(world.app).get("/api/cameras/camA/snapshot").status_code == 401


class FakeSupervisor:
    problems = {"camB": "no zones drawn yet"}

    def status(self, camera_id: str) -> CameraStatus | None:
        if camera_id != "camA":
            return None
        return CameraStatus(
            "camA", state="reconnecting", frames=12, last_frame_at=datetime(2026, 11, 2, 1, tzinfo=timezone.utc),
            error="cannot open rtsp://admin:s3cret@192.168.1.10:554/Streaming/101", zone_version=3,
            objects=[{"class": "car", "category": "vehicle", "score": 0.9, "box": [1.0, 2.0, 3.0, 4.0],
                      "zones": ["lane-a"]}],
            zones=[{"id": "lane-a", "name": "北侧", "occupied": True, "violations": 1, "longest_dwell_s": 200.0}],
        )


def test_live_state(world: World) -> None:
    admin, prop_a = cookie_client(world, "admin"), cookie_client(world, "prop-a")
    idle = admin.get("/api/cameras/camA/live").json()  # no supervisor in this app: nothing runs
    assert (idle["running"], idle["objects"], idle["zones"], idle["problem"]) == (False, [], [], None)

    world.app.state.supervisor = FakeSupervisor()
    live = admin.get("/api/cameras/camA/live").json()
    assert live["running"] and live["state"] == "reconnecting" and live["zone_version"] == 3
    assert live["objects"] == [{"class": "car", "category": "vehicle", "score": 0.9, "box": [1.0, 2.0, 3.0, 4.0],
                                "zones": ["lane-a"]}]
    assert live["zones"][0]["occupied"] is True and "s3cret" in live["error"]  # operators see the source
    shown = prop_a.get("/api/cameras/camA/live").json()
    assert shown["error"] == "cannot open rtsp://***@192.168.1.10:554/Streaming/101"
    assert admin.get("/api/cameras/camB/live").json()["problem"] == "no zones drawn yet"
    assert prop_a.get("/api/cameras/camB/live").status_code == 404
    assert cookie_client(world, "police").get("/api/cameras/camA/live").status_code == 403


def test_live_state_from_another_process(world: World) -> None:
    """An API process that runs no camera shows what the camera's process last wrote to the shared state."""
    admin = cookie_client(world, "admin")
    zones = [{"id": "lane-a", "name": "北侧", "occupied": True, "violations": 1, "longest_dwell_s": 80.0}]
    frame_at = datetime.now(timezone.utc) - timedelta(seconds=1)
    with world.app.state.sessions.begin() as session:
        camera_states.set_status(session, "camA", "running", None, datetime.now(timezone.utc), frame_at, zones)
    live = admin.get("/api/cameras/camA/live").json()
    assert (live["running"], live["here"], live["state"], live["zones"]) == (True, False, "running", zones)
    assert datetime.fromisoformat(live["last_frame_at"]) == frame_at and live["objects"] == []
    with world.app.state.sessions.begin() as session:  # its process stopped reporting 40 s ago (killed, cut off)
        camera_states.set_status(session, "camA", "running", None, datetime.now(timezone.utc) - timedelta(seconds=40))
    stale = admin.get("/api/cameras/camA/live").json()
    assert (stale["running"], stale["state"], stale["zones"]) == (False, "stale", [])


def test_violation_counts_scoped(world: World) -> None:
    def table(client: TestClient) -> dict:
        return {
            site["site_code"]: (site["counts"], {c["camera_id"]: c["counts"] for c in site["cameras"]})
            for site in client.get("/api/stats/counts").json()
        }

    one = {"open": 1, "pending": 1, "total": 1}
    everything = {"garden-a": (one, {"camA": one}), "tower-b": (one, {"camB": one}), None: (one, {"camX": one})}
    assert table(cookie_client(world, "admin")) == everything
    assert table(cookie_client(world, "police")) == everything
    assert table(cookie_client(world, "prop-a")) == {"garden-a": (one, {"camA": one})}

    client = cookie_client(world, "police")
    client.post("/api/violations/vA/review", json={"decision": "confirmed", "plate_text": "粤B12345"})
    with world.app.state.sessions.begin() as session:
        from service.db.violations import upsert_violation

        upsert_violation(session, {"id": "vB", "ended_at": datetime(2026, 11, 2, 10, tzinfo=timezone.utc)})
    counts = table(cookie_client(world, "prop-b"))
    assert counts == {"tower-b": ({"open": 0, "pending": 1, "total": 1}, {"camB": {"open": 0, "pending": 1, "total": 1}})}
    assert table(cookie_client(world, "prop-a"))["garden-a"][0] == {"open": 1, "pending": 0, "total": 1}


def test_timeline_scoped_and_fitted(world: World) -> None:
    admin = cookie_client(world, "admin")
    timeline = admin.get("/api/stats/timeline", params={"hours": 24}).json()
    # the world's violations have not ended: they still occupy their lanes, so they are in the last 24 hours
    assert timeline["fitted"] is False
    since, now = datetime.fromisoformat(timeline["since"]), datetime.fromisoformat(timeline["now"])
    assert now - since == timedelta(hours=24) and timeline["until"] == timeline["now"]
    lanes = {(lane["camera_id"], lane["zone_id"]): lane for lane in timeline["lanes"]}
    assert set(lanes) == {("camA", "lane-a"), ("camB", "lane-a"), ("camX", "lane-a")}
    [span] = lanes[("camA", "lane-a")]["spans"]
    assert span["violation_id"] == "vA" and span["ended_at"] is None and span["review_status"] == "pending"
    mine = cookie_client(world, "prop-a").get("/api/stats/timeline").json()
    assert [(lane["camera_id"], lane["site_code"]) for lane in mine["lanes"]] == [("camA", "garden-a")]

    # all over three days ago: nothing in the last day, so the window fits the newest violations (relative to
    # today: a fixed date falls out of the longest window, 31 days, a month later)
    from service.db.violations import upsert_violation

    ended = (datetime.now(timezone.utc) - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    with world.app.state.sessions.begin() as session:
        for vid in ("vA", "vB", "vX"):
            upsert_violation(session, {"id": vid, "ended_at": ended})
    fitted = admin.get("/api/stats/timeline", params={"hours": 24}).json()
    assert fitted["fitted"] is True and len(fitted["lanes"]) == 3
    since, until = datetime.fromisoformat(fitted["since"]), datetime.fromisoformat(fitted["until"])
    assert since <= datetime(2026, 11, 2, 1, tzinfo=timezone.utc)
    assert ended < until < datetime.now(timezone.utc) - timedelta(days=1)  # the data's range (padded), not today
    assert admin.get("/api/stats/timeline", params={"hours": 24 * 31}).json()["fitted"] is False
    assert admin.get("/api/stats/timeline", params={"hours": 0}).status_code == 422


def test_alert_board_scoped(world: World) -> None:
    prop_a, prop_b = cookie_client(world, "prop-a"), cookie_client(world, "prop-b")
    [item] = prop_a.get("/api/board/alerts").json()
    assert (item["id"], item["violation_id"], item["site_code"], item["camera_name"]) == \
        (world.alerts["vA"], "vA", "garden-a", "camera camA")
    assert item["zone_name"] == "北侧消防车通道" and item["status"] == "open" and item["claim_unconfirmed"] is False
    assert item["still_url"] == "/api/violations/vA/evidence/01-begin.jpg"  # no grace still: the first one
    assert prop_a.get(item["still_url"]).status_code == 200
    created = datetime.fromisoformat(item["created_at"])
    assert datetime.fromisoformat(item["due_at"]) - created == timedelta(seconds=900)  # the default clear limit

    assert [a["violation_id"] for a in prop_b.get("/api/board/alerts").json()] == ["vB"]
    assert prop_b.get("/api/board/alerts", params={"id": world.alerts["vA"]}).json() == []  # not theirs
    admin = cookie_client(world, "admin")
    assert [a["violation_id"] for a in admin.get("/api/board/alerts").json()] == ["vB", "vA"]  # newest first
    assert cookie_client(world, "police").get("/api/board/alerts").status_code == 403

    assert prop_a.post(f"/api/alerts/{world.alerts['vA']}/cleared").status_code == 200  # the car is still there
    [claimed] = prop_a.get("/api/board/alerts").json()
    assert claimed["status"] == "open" and claimed["claim_unconfirmed"] is True
    assert prop_a.get("/api/board/alerts", params={"status": "cleared"}).json() == []
    assert [a["id"] for a in prop_a.get("/api/board/alerts", params={"id": world.alerts["vA"]}).json()] == \
        [world.alerts["vA"]]
