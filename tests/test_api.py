"""The web service on SQLite and PostgreSQL: login, roles and scoping, zones, reviews, evidence, alerts.

Each test gets a fresh app on an empty database (a new SQLite file, or a clean schema in this session's
PostgreSQL database) and an evidence folder in tmp_path.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import func, insert, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from service.api import security
from service.api.app import create_app
from service.db.alerts import enqueue_violation_alert
from service.db.models import (
    Alert,
    AuditEntry,
    Camera,
    EvidenceFile,
    OutboxMessage,
    Review,
    Site,
    User,
    Violation,
    ZoneVersion,
)
from service.db.session import make_engine
from service.db.violations import replace_evidence, upsert_violation
from service.settings import Settings
from service.signing import SEALED_LATER_HEADER, ManifestSigner
from sealed import seal

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=CST)
SECRET = "test-secret-key-" + "x" * 32
ADMIN_PASSWORD = "admin-password-1"
PASSWORD = "correct horse battery"
ZONES_A = {
    "camera_id": "camA",
    "camera_name": "东门",
    "frame_size": [1280, 720],
    "zones": [{"id": "lane-a", "name": "北侧消防车通道", "polygon": [[100, 400], [1200, 400], [1260, 700], [40, 700]]}],
}
BOW_TIE = [[100, 400], [1200, 700], [1200, 400], [100, 700]]


# --- backends and app ---


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with tiny costs: the production parameters take ~0.3 s per hash (tested once, below)."""
    cheap = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    monkeypatch.setattr(security, "_hasher", lambda: cheap)
    monkeypatch.setattr(security, "_dummy_hash", lambda: cheap.hash("dummy"))


def make_settings(db_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "out_dir": tmp_path / "out",
        "database_url": db_url,
        "evidence_dir": tmp_path / "evidence",
        "secret_key": SECRET,
        "admin_password": ADMIN_PASSWORD,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path)


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    app = create_app(settings)
    yield app
    app.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


def sessions(app: FastAPI) -> sessionmaker[Session]:
    return app.state.sessions


def bearer(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def count(app: FastAPI, model: type) -> int:
    with sessions(app)() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def audit_actions(app: FastAPI) -> list[tuple[str, str]]:
    with sessions(app)() as session:
        return [(e.action, e.target) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def violation_fields(violation_id: str, camera_id: str, minutes: int = 0, **overrides: Any) -> dict[str, Any]:
    start = T0 + timedelta(minutes=minutes)
    fields: dict[str, Any] = {
        "id": violation_id,
        "camera_id": camera_id,
        "camera_name": camera_id,
        "zone_id": "lane-a",
        "zone_name": "北侧消防车通道",
        "zone_kind": "fire_lane",
        "object_class": "car",
        "category": "vehicle",
        "started_at": start,
        "violation_at": start + timedelta(seconds=180),
        "ended_at": None,
        "duration_s": 180.0,
        "box": [10.0, 20.0, 110.0, 220.0],
        "tracker_ids": [3],
        "evidence_dir": f"{camera_id}/2026-11-02/{violation_id}",
        "manifest_sha256": None,
        "source": f"rtsp://admin:hunter2@10.0.0.{len(camera_id)}/stream",
    }
    fields.update(overrides)
    return fields


def write_evidence(root: Path, fields: dict[str, Any], key_file: Path) -> list[dict[str, Any]]:
    """Files on disk in the violation's folder, and their evidence rows (manifest.json is not a row)."""
    folder = root / fields["evidence_dir"]
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, role, data in [
        ("01-begin.jpg", "begin", b"\xff\xd8begin " + fields["id"].encode()),
        ("crop.jpg", "crop", b"\xff\xd8crop " + fields["id"].encode()),
    ]:
        (folder / name).write_bytes(data)
        rows.append({"name": name, "role": role, "media_type": "image/jpeg", "sha256": "0" * 64,
                     "bytes": len(data), "captured_at": fields["started_at"]})
    seal(folder, fields["id"], key_file)
    return rows


@dataclass
class World:
    """Two sites with a camera each, one camera not registered, a user of every role, three violations."""

    client: TestClient
    app: FastAPI
    evidence_root: Path
    site_a: int = 0
    site_b: int = 0
    users: dict[str, int] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def as_(self, who: str) -> dict[str, str]:
        if who not in self.headers:
            self.headers[who] = bearer(self.client, who, ADMIN_PASSWORD if who == "admin" else PASSWORD)
        return self.headers[who]


@pytest.fixture
def world(client: TestClient, app: FastAPI, settings: Settings) -> World:
    w = World(client, app, settings.evidence_root)
    op = w.as_("admin")
    w.site_a = client.post("/api/sites", json={"code": "garden-a", "name": "花园A区"}, headers=op).json()["id"]
    w.site_b = client.post("/api/sites", json={"code": "tower-b", "name": "B座"}, headers=op).json()["id"]
    for camera_id, site in (("camA", w.site_a), ("camB", w.site_b)):
        response = client.post("/api/cameras", headers=op, json={
            "id": camera_id, "site_id": site, "name": f"camera {camera_id}",
            "source_url": f"rtsp://admin:s3cret@192.168.1.{10 if site == w.site_a else 20}:554/Streaming/101",
        })
        assert response.status_code == 201, response.text
    for username, role, site in (("prop-a", "property", w.site_a), ("prop-b", "property", w.site_b),
                                 ("police", "police", None), ("police2", "police", None)):
        response = client.post("/api/users", headers=op,
                               json={"username": username, "password": PASSWORD, "role": role, "site_id": site})
        assert response.status_code == 201, response.text
        w.users[username] = response.json()["id"]
    with sessions(app).begin() as session:
        for vid, camera, minutes in (("vA", "camA", 10), ("vB", "camB", 0), ("vX", "camX", 5)):
            fields = violation_fields(vid, camera, minutes)
            violation = upsert_violation(session, fields)
            replace_evidence(session, vid, write_evidence(w.evidence_root, fields, settings.signing_key_path))
            alert = enqueue_violation_alert(session, violation)
            if alert is not None:
                w.alerts[vid] = alert.id
    assert set(w.alerts) == {"vA", "vB"}  # camX is not registered: no alert
    return w


# --- login ---


def test_token_login_and_me(world: World) -> None:
    client = world.client
    assert client.post("/api/auth/token", data={"username": "police", "password": "wrong"}).status_code == 401
    assert client.post("/api/auth/token", data={"username": "nobody", "password": PASSWORD}).status_code == 401
    assert client.get("/api/auth/me").status_code == 401
    assert client.get("/api/auth/me", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    response = client.post("/api/auth/token", data={"username": "police", "password": PASSWORD})
    token = response.json()
    assert token["token_type"] == "bearer" and token["expires_in"] == 8 * 3600
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert (me["username"], me["role"], me["site_id"]) == ("police", "police", None)
    assert "password_hash" not in me

    expired = security.create_access_token(world.users["police"], "x", SECRET, -10)
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    forged = security.create_access_token(world.users["police"], "x", "another-secret-" + "y" * 32, 60)
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert ("auth.login_failed", "user:police") in audit_actions(world.app)


def test_password_change_and_deactivation_end_sessions(world: World) -> None:
    client, op = world.client, world.as_("admin")
    police = world.as_("police")
    uid = world.users["police"]
    assert client.patch(f"/api/users/{uid}", json={"password": "a new password"}, headers=op).status_code == 200
    assert client.get("/api/auth/me", headers=police).status_code == 401  # old token no longer valid
    police = bearer(client, "police", "a new password")
    assert client.delete(f"/api/users/{uid}", headers=op).status_code == 204
    assert client.get("/api/auth/me", headers=police).status_code == 401
    assert client.post("/api/auth/token", data={"username": "police", "password": "a new password"}).status_code == 401
    actions = audit_actions(world.app)
    assert ("user.update", f"user:{uid}") in actions and ("user.deactivate", f"user:{uid}") in actions
    with sessions(world.app)() as session:
        details = session.scalars(select(AuditEntry.details).where(AuditEntry.action == "user.update")).all()
    assert details == [{"password_changed": True}]  # never the password or its hash


def test_cookie_login_logout(world: World) -> None:
    client = world.client
    assert client.post("/login", data={"username": "prop-a", "password": "nope"}).status_code == 401
    response = client.post("/login", data={"username": "prop-a", "password": PASSWORD})
    assert response.status_code == 200 and response.json()["role"] == "property"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{security.SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Max-Age=28800" in cookie
    assert client.get("/api/auth/me").json()["username"] == "prop-a"  # the client keeps the cookie
    alert = world.alerts["vA"]
    # a cookie-authenticated write from another site's page is refused; from our own origin it works
    assert client.post(f"/api/alerts/{alert}/ack", headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post(f"/api/alerts/{alert}/ack", headers={"Origin": "http://testserver"}).status_code == 200

    value = client.cookies[security.SESSION_COOKIE]
    assert TestClient(world.app, cookies={security.SESSION_COOKIE: value}).get("/api/auth/me").status_code == 200
    tampered = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    assert TestClient(world.app, cookies={security.SESSION_COOKIE: tampered}).get("/api/auth/me").status_code == 401
    response = client.post("/logout")
    assert response.status_code == 200 and 'firelane_session=""' in response.headers["set-cookie"]
    assert client.get("/api/auth/me").status_code == 401

    redirect = client.post("/login", data={"username": "prop-a", "password": PASSWORD, "next": "/docs"},
                           follow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["location"] == "/docs"
    no_open_redirect = client.post("/login", data={"username": "prop-a", "password": PASSWORD,
                                                   "next": "//evil.example/x"}, follow_redirects=False)
    assert no_open_redirect.status_code == 200 and "location" not in no_open_redirect.headers


def test_bootstrap_operator_once_with_generated_password(db_url: str, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(db_url, tmp_path, admin_password=None, admin_username="root")
    with caplog.at_level(logging.WARNING, logger="firelane.api"):
        app = create_app(settings)
    [message] = [r.getMessage() for r in caplog.records if "first login" in r.getMessage()]
    password = re.search(r"password '([^']+)'", message).group(1)
    client = TestClient(app)
    me = client.get("/api/auth/me", headers=bearer(client, "root", password)).json()
    assert (me["username"], me["role"]) == ("root", "operator")
    app.state.engine.dispose()
    caplog.clear()
    again = create_app(settings)  # users exist: nobody is added, nothing is printed
    assert count(again, User) == 1 and not [r for r in caplog.records if "first login" in r.getMessage()]
    again.state.engine.dispose()


def test_production_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real Argon2 parameters
    hashed = security.hash_password("粤B12345 passphrase")
    assert hashed.startswith("$argon2id$") and "m=65536" in hashed
    assert security.verify_password("粤B12345 passphrase", hashed)
    assert not security.verify_password("wrong", hashed)
    assert not security.verify_password("anything", None)
    assert not security.verify_password("anything", "not a hash")


# --- operators: sites, cameras, users ---


def test_operator_manages_sites_cameras_users_with_audit(world: World) -> None:
    client, op = world.client, world.as_("admin")
    assert client.post("/api/sites", json={"code": "garden-a", "name": "dup"}, headers=op).status_code == 409
    assert client.post("/api/sites", json={"code": "bad/code", "name": "x"}, headers=op).status_code == 422
    site = client.patch(f"/api/sites/{world.site_a}", json={"address": "深圳市南山区"}, headers=op).json()
    assert site["address"] == "深圳市南山区" and site["name"] == "花园A区"
    assert client.patch(f"/api/sites/{world.site_a}", json={"name": None}, headers=op).status_code == 422
    assert client.delete(f"/api/sites/{world.site_a}", headers=op).status_code == 409  # has cameras

    camera = {"id": "camC", "site_id": world.site_a, "name": "C", "source_url": "rtsp://u:pw@h/c", "fps": 1.5,
              "imgsz": 960, "frame_width": 1920, "frame_height": 1080}
    created = client.post("/api/cameras", json=camera, headers=op)
    assert created.status_code == 201
    assert created.json()["fps"] == 1.5 and created.json()["timezone"] == "Asia/Shanghai"
    assert client.post("/api/cameras", json=camera, headers=op).status_code == 409
    unknown_site = client.post("/api/cameras", json={**camera, "id": "camD", "site_id": 999}, headers=op)
    assert unknown_site.status_code == 422 and "site_id" in unknown_site.json()["detail"]["problems"][0]
    assert client.post("/api/cameras", json={**camera, "id": "camD", "timezone": "Mars/Base"},
                       headers=op).status_code == 422
    assert client.post("/api/cameras", json={**camera, "id": "../x"}, headers=op).status_code == 422
    assert client.post("/api/cameras", json={**camera, "id": "camD", "colour": "red"}, headers=op).status_code == 422
    patched = client.patch("/api/cameras/camC", json={"enabled": False, "imgsz": None}, headers=op).json()
    assert (patched["enabled"], patched["imgsz"], patched["name"]) == (False, None, "C")
    assert client.delete("/api/cameras/camC", headers=op).status_code == 204
    assert client.get("/api/cameras/camC", headers=op).status_code == 404
    assert client.delete("/api/cameras/camC", headers=op).status_code == 404

    bad_users = [
        {"username": "p", "password": PASSWORD, "role": "property"},  # property without a site
        {"username": "p", "password": PASSWORD, "role": "police", "site_id": world.site_a},
        {"username": "p", "password": "short", "role": "police"},
        {"username": "p", "password": PASSWORD, "role": "admin"},
    ]
    for body in bad_users:
        assert client.post("/api/users", json=body, headers=op).status_code == 422, body
    assert client.post("/api/users", json={"username": "police", "password": PASSWORD, "role": "police"},
                       headers=op).status_code == 409
    listed = client.get("/api/users", headers=op).json()
    assert {u["username"] for u in listed} == {"admin", "prop-a", "prop-b", "police", "police2"}
    admin_id = next(u["id"] for u in listed if u["username"] == "admin")
    assert client.delete(f"/api/users/{admin_id}", headers=op).status_code == 409  # the last operator stays

    actions = audit_actions(world.app)
    for expected in [("site.create", f"site:{world.site_a}"), ("site.update", f"site:{world.site_a}"),
                     ("camera.create", "camera:camC"), ("camera.update", "camera:camC"),
                     ("camera.delete", "camera:camC"), ("user.create", f"user:{world.users['police']}")]:
        assert expected in actions
    response = client.get("/api/audit", params={"action": "camera.create", "target": "camera:camC"}, headers=op)
    [entry] = response.json()
    assert entry["details"]["source_url"] == "rtsp://***@h/c"  # no credentials in the audit log
    assert entry["user_id"] == admin_id


def test_camera_source_url_only_for_operators(world: World) -> None:
    client = world.client
    raw = "rtsp://admin:s3cret@192.168.1.10:554/Streaming/101"
    assert client.get("/api/cameras/camA", headers=world.as_("admin")).json()["source_url"] == raw
    for who in ("prop-a", "police"):
        shown = client.get("/api/cameras/camA", headers=world.as_(who)).json()["source_url"]
        assert shown == "rtsp://***@192.168.1.10:554/Streaming/101"
        for camera in client.get("/api/cameras", headers=world.as_(who)).json():
            assert "s3cret" not in camera["source_url"]
        for violation in client.get("/api/violations", headers=world.as_(who)).json():
            assert "hunter2" not in violation["source"]
    op = world.as_("admin")
    client.patch("/api/cameras/camA", json={"source_url": "http://cam.local/snap.jpg?user=a&pwd=b"}, headers=op)
    assert client.get("/api/cameras/camA", headers=world.as_("police")).json()["source_url"] == \
        "http://cam.local/snap.jpg?***"


# --- property staff: their own site only ---


def test_property_sees_only_its_site(world: World) -> None:
    client, prop = world.client, world.as_("prop-a")
    assert [c["id"] for c in client.get("/api/cameras", headers=prop).json()] == ["camA"]
    assert [s["code"] for s in client.get("/api/sites", headers=prop).json()] == ["garden-a"]
    assert [v["id"] for v in client.get("/api/violations", headers=prop).json()] == ["vA"]
    assert [v["id"] for v in client.get("/api/violations", params={"site": "tower-b"}, headers=prop).json()] == []
    assert [a["violation_id"] for a in client.get("/api/alerts", headers=prop).json()] == ["vA"]
    detail = client.get("/api/violations/vA", headers=prop).json()
    assert detail["site_code"] == "garden-a" and [e["name"] for e in detail["evidence"]] == ["01-begin.jpg", "crop.jpg"]
    assert client.get(detail["evidence"][0]["url"], headers=prop).content == b"\xff\xd8begin vA"

    # another site's things, and violations of unregistered cameras, do not exist for them
    missing = [
        "/api/cameras/camB", "/api/cameras/camB/zones", "/api/cameras/camB/zones/versions",
        f"/api/sites/{world.site_b}", "/api/violations/vB", "/api/violations/vX",
        "/api/violations/vB/evidence/01-begin.jpg", "/api/violations/vX/evidence/crop.jpg",
        f"/api/alerts/{world.alerts['vB']}",
    ]
    for url in missing:
        response = client.get(url, headers=prop)
        assert response.status_code == 404, url
    for url in (f"/api/alerts/{world.alerts['vB']}/ack", f"/api/alerts/{world.alerts['vB']}/cleared"):
        assert client.post(url, headers=prop).status_code == 404
    # the same answer as for things that really do not exist
    assert client.get("/api/cameras/nope", headers=prop).json()["detail"] == "no camera 'nope'"
    assert client.get("/api/cameras/camB", headers=prop).json()["detail"] == "no camera 'camB'"


def test_property_writes_outside_its_role_are_forbidden(world: World) -> None:
    client, prop = world.client, world.as_("prop-a")
    forbidden = [
        ("post", "/api/sites", {"code": "x", "name": "x"}),
        ("patch", f"/api/sites/{world.site_a}", {"name": "mine now"}),
        ("delete", f"/api/sites/{world.site_b}", None),
        ("post", "/api/cameras", {"id": "camZ", "site_id": world.site_a, "name": "z", "source_url": "rtsp://z"}),
        ("patch", "/api/cameras/camA", {"name": "renamed"}),
        ("patch", "/api/cameras/camB", {"name": "renamed"}),
        ("delete", "/api/cameras/camA", None),
        ("put", "/api/cameras/camA/zones", ZONES_A),
        ("post", "/api/users", {"username": "x", "password": PASSWORD, "role": "operator"}),
        ("patch", f"/api/users/{world.users['prop-a']}", {"role": "operator"}),
        ("delete", f"/api/users/{world.users['police']}", None),
        ("post", "/api/violations/vA/review", {"decision": "rejected", "reason": "mine"}),
        ("get", "/api/violations/vA/export", None),
        ("get", "/api/reviews/queue", None),
        ("get", "/api/users", None),
        ("get", "/api/audit", None),
    ]
    before = {model: count(world.app, model) for model in (Site, Camera, User, ZoneVersion, Review)}
    for method, url, body in forbidden:
        kwargs = {"json": body} if body is not None else {}
        response = client.request(method.upper(), url, headers=prop, **kwargs)
        assert response.status_code == 403, (method, url, response.text)
    assert {model: count(world.app, model) for model in before} == before
    with world.app.state.sessions() as session:
        assert session.get_one(Camera, "camA").name == "camera camA"
        assert session.get_one(User, world.users["prop-a"]).role == "property"


def test_property_acknowledges_and_clears_its_alerts(world: World) -> None:
    client, prop = world.client, world.as_("prop-a")
    alert = world.alerts["vA"]
    acked = client.post(f"/api/alerts/{alert}/ack", headers=prop)
    assert acked.status_code == 200
    body = acked.json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == world.users["prop-a"]
    assert client.post(f"/api/alerts/{alert}/ack", headers=prop).status_code == 409
    # the camera still sees the car: pressing "cleared" is only a claim, the alert stays acknowledged
    claimed = client.post(f"/api/alerts/{alert}/cleared", headers=prop).json()
    assert claimed["status"] == "acknowledged" and claimed["cleared_at"] is None
    assert claimed["claimed_cleared_at"] is not None and claimed["claimed_cleared_by"] == world.users["prop-a"]
    again = client.post(f"/api/alerts/{alert}/cleared", headers=prop).json()  # claiming twice keeps the first claim
    assert again["claimed_cleared_at"] == claimed["claimed_cleared_at"]
    with sessions(world.app).begin() as session:  # the camera sees the lane free: the violation ends
        session.get_one(Violation, "vA").ended_at = T0 + timedelta(minutes=30)
    cleared = client.post(f"/api/alerts/{alert}/cleared", headers=prop).json()
    assert cleared["status"] == "cleared" and cleared["cleared_at"] is not None
    assert client.post(f"/api/alerts/{alert}/cleared", headers=prop).status_code == 409
    assert [a["id"] for a in client.get("/api/alerts", params={"status": "cleared"}, headers=prop).json()] == [alert]
    assert client.post("/api/alerts/999/ack", headers=prop).status_code == 404
    # police do not handle alerts
    assert client.get("/api/alerts", headers=world.as_("police")).status_code == 403
    assert client.post(f"/api/alerts/{world.alerts['vB']}/ack", headers=world.as_("police")).status_code == 403
    actions = audit_actions(world.app)
    assert ("alert.ack", f"alert:{alert}") in actions and ("alert.clear", f"alert:{alert}") in actions
    assert ("alert.clear_claimed", f"alert:{alert}") in actions


# --- police: review queue, decisions, export ---


def test_review_queue_and_decisions(world: World) -> None:
    client, police = world.client, world.as_("police")
    queue = client.get("/api/reviews/queue", headers=police).json()
    assert [v["id"] for v in queue] == ["vB", "vX", "vA"]  # every site, oldest first
    assert {v["review_status"] for v in queue} == {"pending"}

    invalid = [
        {"decision": "confirmed"},
        {"decision": "confirmed", "plate_text": "  "},
        {"decision": "confirmed", "plate_text": "not a plate!"},
        {"decision": "rejected"},
        {"decision": "rejected", "reason": "   "},
        {"decision": "maybe", "reason": "x"},
    ]
    for body in invalid:
        response = client.post("/api/violations/vA/review", json=body, headers=police)
        assert response.status_code == 422, body
    assert count(world.app, Review) == 0

    confirmed = client.post("/api/violations/vA/review", json={"decision": "confirmed", "plate_text": "粤B·12345"},
                            headers=police)
    assert confirmed.status_code == 201
    assert confirmed.json()["plate_text"] == "粤B12345" and confirmed.json()["reviewer_id"] == world.users["police"]
    rejected = client.post("/api/violations/vB/review", json={"decision": "rejected", "reason": "被遮挡，无法辨认"},
                           headers=police)
    assert rejected.status_code == 201 and rejected.json()["reason"] == "被遮挡，无法辨认"

    for vid in ("vA", "vB"):  # decided once: neither police officer can decide again
        for who in ("police", "police2"):
            again = client.post(f"/api/violations/{vid}/review", json={"decision": "rejected", "reason": "x"},
                                headers=world.as_(who))
            assert again.status_code == 409
    assert client.post("/api/violations/nope/review", json={"decision": "rejected", "reason": "x"},
                       headers=police).status_code == 404
    assert client.post("/api/violations/vX/review", json={"decision": "rejected", "reason": "x"},
                       headers=world.as_("admin")).status_code == 403  # reviewing is for the police

    assert [v["id"] for v in client.get("/api/reviews/queue", headers=police).json()] == ["vX"]
    detail = client.get("/api/violations/vA", headers=police).json()
    assert (detail["review_status"], detail["plate_text"]) == ("confirmed", "粤B12345")
    assert detail["review"]["decision"] == "confirmed"
    by_status = client.get("/api/violations", params={"status": "rejected"}, headers=police).json()
    assert [v["id"] for v in by_status] == ["vB"]
    # property staff see the outcome for their site
    assert client.get("/api/violations/vA", headers=world.as_("prop-a")).json()["review_status"] == "confirmed"
    actions = audit_actions(world.app)
    assert ("review.confirm", "violation:vA") in actions and ("review.reject", "violation:vB") in actions
    assert count(world.app, Review) == 2


def test_violation_filters(world: World) -> None:
    client, op = world.client, world.as_("admin")
    assert [v["id"] for v in client.get("/api/violations", headers=op).json()] == ["vA", "vX", "vB"]  # newest first
    assert [v["id"] for v in client.get("/api/violations", params={"camera": "camB"}, headers=op).json()] == ["vB"]
    assert [v["id"] for v in client.get("/api/violations", params={"site": "garden-a"}, headers=op).json()] == ["vA"]
    with sessions(world.app).begin() as session:
        upsert_violation(session, {"id": "vB", "ended_at": T0 + timedelta(minutes=30)})
    open_ids = [v["id"] for v in client.get("/api/violations", params={"open_only": True}, headers=op).json()]
    assert open_ids == ["vA", "vX"]
    page = client.get("/api/violations", params={"limit": 1, "offset": 1}, headers=op).json()
    assert [v["id"] for v in page] == ["vX"]
    assert client.get("/api/violations", params={"status": "unknown"}, headers=op).status_code == 422
    assert client.get("/api/violations", params={"limit": 0}, headers=op).status_code == 422
    vx = client.get("/api/violations/vX", headers=op).json()
    assert vx["site_id"] is None and vx["source"].startswith("rtsp://admin:hunter2@")


def test_export_zip(world: World) -> None:
    client = world.client
    folder = world.evidence_root / "camA/2026-11-02/vA"
    outside = world.evidence_root.parent / "outside.txt"
    outside.write_text("not evidence")
    (folder / "leak.txt").symlink_to(outside)
    (folder / ".clip.webm.partial").write_bytes(b"half")
    response = client.get("/api/violations/vA/export", headers=world.as_("police"))
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert "firelane-vA.zip" in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["vA/01-begin.jpg", "vA/README.txt", "vA/crop.jpg", "vA/decision.json",
                                          "vA/manifest.json", "vA/manifest.sig", "vA/public_key.pem"]
    assert json.loads(archive.read("vA/manifest.json"))["violation"] == {"id": "vA"}
    assert archive.read("vA/crop.jpg") == b"\xff\xd8crop vA"
    assert json.loads(archive.read("vA/decision.json")) is None, "not decided yet"
    key = client.get("/api/evidence/public-key").text
    assert archive.read("vA/public_key.pem").decode() == key and "BEGIN PUBLIC KEY" in key
    assert str(world.evidence_root) not in "".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())
    assert client.get("/api/violations/vB/export", headers=world.as_("admin")).status_code == 200
    assert client.get("/api/violations/nope/export", headers=world.as_("police")).status_code == 404
    assert ("violation.export", "violation:vA") in audit_actions(world.app)


def test_evidence_is_checked_whenever_it_is_shown_or_exported(world: World, tmp_path: Path) -> None:
    client, police = world.client, world.as_("police")
    folder = world.evidence_root / "camA/2026-11-02/vA"
    assert client.get("/api/violations/vA", headers=police).json()["integrity"] == []
    with (folder / "01-begin.jpg").open("ab") as still:
        still.write(b"\0")  # one byte appended
    crop = folder / "crop.jpg"
    copy = tmp_path / "crop-copy.jpg"
    copy.write_bytes(crop.read_bytes())
    crop.unlink()
    crop.symlink_to(copy)  # same bytes, but a link
    problems = client.get("/api/violations/vA", headers=police).json()["integrity"]
    assert problems == ["01-begin.jpg: altered (SHA-256 differs)", "crop.jpg: replaced by a link"]
    chinese = client.get("/api/violations/vA", headers=police).json()["integrity_zh"]
    assert len(chinese) == 2 and chinese[0] == "01-begin.jpg：已被改动（SHA-256 不符）" and "crop.jpg" in chinese[1]
    assert all(re.search(r"[\u4e00-\u9fff]", text) for text in chinese), chinese
    refused = client.get("/api/violations/vA/export", headers=police)
    assert refused.status_code == 409 and refused.json()["detail"]["problems"] == problems
    (folder / "manifest.sig").unlink()
    assert "not signed (manifest.sig missing)" in client.get("/api/violations/vA", headers=police).json()["integrity"]


def test_evidence_sealed_later_says_when(world: World, settings: Settings) -> None:
    """Evidence recorded before the installation signed evidence, sealed afterwards by ``firelane seal``: intact, but
    the detail says when it was sealed (the seal vouches for the files from then on, not from when recorded)."""
    client, police = world.client, world.as_("police")
    first = client.get("/api/violations/vA", headers=police).json()
    assert (first["integrity"], first["sealed_later_at"]) == ([], None), "signed when it was recorded"
    folder = world.evidence_root / "camA/2026-11-02/vA"
    (folder / "manifest.sig").unlink()  # as an installation upgraded to signing finds its older evidence
    unsigned = client.get("/api/violations/vA", headers=police).json()
    assert (unsigned["integrity"], unsigned["sealed_later_at"]) == (["not signed (manifest.sig missing)"], None)

    when = datetime(2026, 12, 1, 8, 30, tzinfo=timezone.utc)
    signer = ManifestSigner.load_or_create(settings.signing_key_path)
    manifest = (folder / "manifest.json").read_bytes()
    (folder / "manifest.sig").write_bytes(signer.signature(manifest, sealed_at=when))  # what `firelane seal` writes
    detail = client.get("/api/violations/vA", headers=police).json()
    assert detail["integrity"] == [] and datetime.fromisoformat(detail["sealed_later_at"]) == when
    assert client.get("/api/violations/vA/export", headers=police).status_code == 200, "sealed evidence exports"
    assert client.get("/api/violations/vB", headers=police).json()["sealed_later_at"] is None, "only vA was sealed"

    # a label that is no time cannot pass for one, even signed with the installation's key
    document = json.loads((folder / "manifest.sig").read_bytes())
    document["sealed_at"] = "last spring"
    document["signature"] = base64.b64encode(signer.private_key.sign(
        SEALED_LATER_HEADER + b"last spring\n" + manifest)).decode("ascii")
    (folder / "manifest.sig").write_text(json.dumps(document), encoding="utf-8")
    odd = client.get("/api/violations/vA", headers=police).json()
    assert (odd["integrity"], odd["sealed_later_at"]) == (["signature file unreadable"], None)


# --- zones ---


def test_zone_versions(world: World) -> None:
    client, op = world.client, world.as_("admin")
    assert client.get("/api/cameras/camA/zones", headers=op).status_code == 404  # none yet
    first = client.put("/api/cameras/camA/zones", json=ZONES_A, headers=op)
    assert first.status_code == 200 and first.json()["version"] == 1

    crossed = {**ZONES_A, "zones": [{**ZONES_A["zones"][0], "polygon": BOW_TIE}]}
    rejected = client.put("/api/cameras/camA/zones", json=crossed, headers=op)
    assert rejected.status_code == 422
    problems = rejected.json()["detail"]["problems"]
    assert any("zone 'lane-a'" in p and "self-intersecting" in p for p in problems), problems
    assert [v["version"] for v in client.get("/api/cameras/camA/zones/versions", headers=op).json()] == [1]

    many_faults = {**ZONES_A, "zones": [{"id": "z1", "polygon": [[0, 0], [10, 0]]},
                                        {"id": "z2", "polygon": [[0, 0], [9000, 0], [0, 10]], "classes": ["ufo"]}]}
    problems = client.put("/api/cameras/camA/zones", json=many_faults, headers=op).json()["detail"]["problems"]
    assert any("zone 'z1'" in p and "3 points" in p for p in problems)
    assert any("zone 'z2'" in p and "outside the frame" in p for p in problems)
    assert any("zone 'z2'" in p and "unknown classes" in p for p in problems)
    wrong_camera = client.put("/api/cameras/camA/zones", json={**ZONES_A, "camera_id": "camB"}, headers=op)
    assert wrong_camera.status_code == 422 and "not this camera" in wrong_camera.json()["detail"]["problems"][-1]
    for body in ([1, 2, 3], "zones", {"zones": []}):
        assert client.put("/api/cameras/camA/zones", json=body, headers=op).status_code == 422
    assert client.put("/api/cameras/nope/zones", json={**ZONES_A, "camera_id": "nope"}, headers=op).status_code == 404
    assert count(world.app, ZoneVersion) == 1

    moved = {**ZONES_A, "zones": [{**ZONES_A["zones"][0], "grace_s": 60}]}
    second = client.put("/api/cameras/camA/zones", json=moved, headers=op)
    assert second.status_code == 200 and second.json()["version"] == 2
    current = client.get("/api/cameras/camA/zones", headers=world.as_("prop-a")).json()
    assert current["version"] == 2 and current["document"]["zones"][0]["grace_s"] == 60
    assert current["created_by"] == client.get("/api/auth/me", headers=op).json()["id"]
    versions = client.get("/api/cameras/camA/zones/versions", headers=op).json()
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["document"] == ZONES_A  # the old version is kept as it was
    assert [t for a, t in audit_actions(world.app) if a == "zone.update"] == ["camera:camA", "camera:camA"]


# --- evidence files: nothing outside the violation's folder ---


def test_evidence_path_tricks_are_404(world: World, tmp_path: Path) -> None:
    client, op = world.client, world.as_("admin")
    folder = world.evidence_root / "camA/2026-11-02/vA"
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    (folder / "link.jpg").symlink_to(secret)
    (folder / "unlisted.jpg").write_bytes(b"on disk but not a row")
    with sessions(world.app).begin() as session:
        rows = [{"name": f.name, "role": f.role, "media_type": f.media_type, "sha256": f.sha256, "bytes": f.bytes,
                 "captured_at": f.captured_at} for f in session.get_one(Violation, "vA").evidence]
        link = {**rows[0], "name": "link.jpg"}
        replace_evidence(session, "vA", [*rows, link])

    good = client.get("/api/violations/vA/evidence/crop.jpg", headers=op)
    assert good.status_code == 200 and good.content == b"\xff\xd8crop vA"
    assert good.headers["content-type"] == "image/jpeg"
    part = client.get("/api/violations/vA/evidence/crop.jpg", headers={**op, "Range": "bytes=2-5"})
    assert part.status_code == 206 and part.content == b"crop", "from disk as from object storage: byte ranges"
    attempts = [
        "..%2F..%2Fetc%2Fpasswd",
        "..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "/etc/passwd",
        "..%2FvB%2Fcrop.jpg",
        "%2E%2E%2F%2E%2E%2FcamB%2F2026-11-02%2FvB%2Fcrop.jpg",
        f"{secret}",
        "unlisted.jpg",
        "manifest.json",  # on disk, not an evidence row (it is in the export)
        "link.jpg",  # listed, but a symlink out of the folder
        "crop.jpg%00.txt",
        "",
    ]
    for name in attempts:
        response = client.get(f"/api/violations/vA/evidence/{name}", headers=op)
        assert response.status_code == 404, name
        assert b"top secret" not in response.content and b"root:" not in response.content

    with sessions(world.app).begin() as session:  # a row whose folder points out of the evidence root
        upsert_violation(session, violation_fields("vEvil", "camA", evidence_dir="../../.."))
        replace_evidence(session, "vEvil", [{**rows[0], "name": "secret.txt"}])
    assert client.get("/api/violations/vEvil/evidence/secret.txt", headers=op).status_code == 404
    assert client.get("/api/violations/vEvil/export", headers=op).status_code == 404


# --- bad input ---


def test_oversized_body_is_413_and_nothing_stored(db_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(db_url, tmp_path, max_upload_bytes=2048))
    client = TestClient(app)
    op = bearer(client, "admin", ADMIN_PASSWORD)
    big = {"code": "big", "name": "x", "address": "x" * 4000}
    response = client.post("/api/sites", json=big, headers=op)
    assert response.status_code == 413 and "2048" in response.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b'{"code": "big", "name": "x", "address": "'
        for _ in range(10):
            yield b"x" * 512
        yield b'"}'

    streamed = client.post("/api/sites", content=chunks(), headers={**op, "Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert count(app, Site) == 0
    assert client.post("/api/sites", json={"code": "small", "name": "x"}, headers=op).status_code == 201
    app.state.engine.dispose()


def test_malformed_json_and_unknown_ids(world: World) -> None:
    client, op = world.client, world.as_("admin")
    for url, method in (("/api/sites", "POST"), ("/api/cameras/camA/zones", "PUT"), ("/api/cameras/camA", "PATCH")):
        headers = {**op, "Content-Type": "application/json"}
        response = client.request(method, url, content=b'{"code": "x", ', headers=headers)
        assert response.status_code == 422, url
        assert response.json()["detail"][0]["type"] == "json_invalid"
    assert count(world.app, Site) == 2 and count(world.app, ZoneVersion) == 0
    for url in ("/api/sites/999", "/api/cameras/nope", "/api/users/999", "/api/violations/nope",
                "/api/alerts/999", "/api/violations/nope/evidence/crop.jpg", "/api/cameras/nope/zones"):
        response = client.get(url, headers=op)
        assert response.status_code == 404 and response.json()["detail"], url
    assert client.get("/api/sites/not-a-number", headers=op).status_code == 422


# --- alerts and outbox ---


def test_enqueue_violation_alert_once(world: World) -> None:
    app = world.app
    with sessions(app).begin() as session:
        violation = upsert_violation(session, violation_fields("vNew", "camA", 20))
        alert = enqueue_violation_alert(session, violation)
        assert alert is not None and alert.id is not None  # in the caller's transaction, flushed
        again = enqueue_violation_alert(session, violation)
        assert again is not None and again.id == alert.id
    with sessions(app).begin() as session:  # and again in a later transaction
        enqueue_violation_alert(session, session.get_one(Violation, "vNew"))
        unknown = upsert_violation(session, violation_fields("vUnknown", "camX"))
        assert enqueue_violation_alert(session, unknown) is None
    with sessions(app)() as session:
        alerts = session.scalars(select(Alert).where(Alert.violation_id == "vNew")).all()
        rows = [(a.site_id, a.camera_id, a.zone_id, a.status) for a in alerts]
        assert rows == [(world.site_a, "camA", "lane-a", "open")]
        messages = session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == "violation-started:vNew")
            .order_by(OutboxMessage.channel)
        ).all()
        assert [m.channel for m in messages] == ["mqtt", "webhook"]
        for message in messages:
            assert message.topic == "firelane/garden-a/camA/violations"
            assert message.attempts == 0 and message.delivered_at is None and message.next_attempt_at.tzinfo
            assert message.payload == {
                "event": "violation.started",
                "id": "vNew",
                "site": "garden-a",
                "camera_id": "camA",
                "zone_id": "lane-a",
                "object_class": "car",
                "started_at": "2026-11-02T01:20:00+00:00",
                "violation_at": "2026-11-02T01:23:00+00:00",
                "evidence_dir": "camA/2026-11-02/vNew",
            }
        assert session.scalar(select(func.count()).select_from(Alert).where(Alert.violation_id == "vUnknown")) == 0
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 6  # vA, vB (world) and vNew
    # the uniqueness the function relies on is also the database's
    with sessions(app)() as session:
        session.add(OutboxMessage(channel="mqtt", topic="t", payload={}, idempotency_key="violation-started:vNew",
                                  next_attempt_at=datetime.now(timezone.utc)))
        with pytest.raises(Exception, match="(?i)unique|duplicate"):
            session.flush()


# --- migrations, settings, CLI ---


def test_migration_0001_to_0002_and_back(db_url: str) -> None:
    from alembic.migration import MigrationContext

    from service.db.session import downgrade, upgrade

    engine = make_engine(db_url)
    upgrade(engine, "0001")
    with engine.begin() as connection:  # a violation recorded before the service existed (0001 columns only)
        connection.execute(insert(Violation.__table__).values(**violation_fields("old", "camA")))
        connection.execute(insert(EvidenceFile.__table__).values(
            violation_id="old", name="a.jpg", role="begin", media_type="image/jpeg", sha256="0" * 64, bytes=1))
    upgrade(engine)
    schema = inspect(engine)
    service_tables = {"sites", "cameras", "zone_versions", "users", "reviews", "alerts", "outbox", "audit_log"}
    assert service_tables <= set(schema.get_table_names())
    assert {"review_status", "plate_text"} <= {c["name"] for c in schema.get_columns("violations")}
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == "0012"
    with sessions_for(engine)() as session:
        old = session.get_one(Violation, "old")
        assert old.review_status is None and [e.name for e in old.evidence] == ["a.jpg"]

    downgrade(engine, "0001")
    schema = inspect(engine)
    assert not service_tables & set(schema.get_table_names())
    assert {"review_status", "plate_text"}.isdisjoint(c["name"] for c in schema.get_columns("violations"))
    assert {i["name"] for i in schema.get_indexes("violations")} == {
        "ix_violations_camera_id", "ix_violations_zone_id", "ix_violations_camera_zone_started"}
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == "0001"
        assert connection.exec_driver_sql("SELECT count(*) FROM evidence_files").scalar() == 1  # kept
        assert connection.exec_driver_sql("SELECT id FROM violations").scalars().all() == ["old"]
    upgrade(engine)
    assert service_tables <= set(inspect(engine).get_table_names())
    engine.dispose()


def sessions_for(engine: Any) -> sessionmaker[Session]:
    from service.db.session import session_factory

    return session_factory(engine)


def test_secret_key_file_is_made_once_owner_only(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, out_dir=tmp_path / "out")
    key = settings.resolved_secret_key()
    path = tmp_path / "out" / "secret_key"
    assert len(key) >= 32 and path.read_text().strip() == key
    assert path.stat().st_mode & 0o777 == 0o600
    assert Settings(_env_file=None, out_dir=tmp_path / "out").resolved_secret_key() == key  # survives restarts
    assert Settings(_env_file=None, out_dir=tmp_path, secret_key=SECRET).resolved_secret_key() == SECRET
    with pytest.raises(ValueError, match="at least 32"):
        Settings(_env_file=None, secret_key="short")
    defaults = Settings(_env_file=None, out_dir=tmp_path / "o")
    assert defaults.evidence_root == tmp_path / "o" / "evidence"
    assert (defaults.host, defaults.port, defaults.max_upload_bytes) == ("127.0.0.1", 8000, 10 * 1024 * 1024)


def test_cli_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    import uvicorn

    from service.api.cli import add_commands

    parser = argparse.ArgumentParser(prog="firelane")
    add_commands(parser.add_subparsers(dest="command", required=True))
    settings = Settings(_env_file=None, out_dir=tmp_path / "out", admin_password=ADMIN_PASSWORD, port=8123)

    args = parser.parse_args(["db", "upgrade"])
    assert args.handler(args, settings) == 0
    assert "at revision 0012" in capsys.readouterr().out
    assert (tmp_path / "out" / "firelane.db").is_file()

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    args = parser.parse_args(["serve"])
    assert args.handler(args, settings) == 0
    assert (served["host"], served["port"]) == ("127.0.0.1", 8123)
    assert "http://127.0.0.1:8123/" in capsys.readouterr().out
    args = parser.parse_args(["serve", "--host", "0.0.0.0", "--port", "9000"])
    args.handler(args, settings)
    assert (served["host"], served["port"]) == ("0.0.0.0", 9000)
    client = TestClient(served["app"])
    assert client.get("/api/health").json() == {"status": "ok"}
    assert client.get("/docs").status_code == 200
    served["app"].state.engine.dispose()


def test_history_stays_with_the_site_it_was_recorded_at(world: World) -> None:
    """camA moves from garden-a to tower-b, then is deleted: vA stays garden-a's, in its ledger and nowhere else."""
    client, op = world.client, world.as_("admin")
    prop_a, prop_b = world.as_("prop-a"), world.as_("prop-b")
    assert client.patch("/api/cameras/camA", json={"site_id": world.site_b}, headers=op).status_code == 200
    assert [v["id"] for v in client.get("/api/violations", headers=prop_a).json()] == ["vA"]
    assert [v["id"] for v in client.get("/api/violations", headers=prop_b).json()] == ["vB"]
    assert client.get("/api/violations/vA", headers=prop_b).status_code == 404
    assert client.get("/api/violations/vA", headers=prop_a).json()["site_code"] == "garden-a"

    assert client.delete("/api/cameras/camA", headers=op).status_code == 204
    assert "camA" not in [c["id"] for c in client.get("/api/cameras", headers=op).json()]
    assert client.get("/api/cameras/camA", headers=op).status_code == 404
    ledger = client.get(f"/api/sites/{world.site_a}/ledger", headers=prop_a).json()
    [row] = [r for r in ledger["rows"] if r["violation_id"] == "vA"]
    assert (row["camera_name"], row["zone_name"]) == ("camA", "北侧消防车通道"), "the names it was recorded under"
    again = client.post("/api/cameras", headers=op, json={"id": "camA", "site_id": world.site_a, "name": "again",
                                                          "source_url": "rtsp://cam/a"})
    assert again.status_code == 409 and "archived" in again.json()["detail"]
    with sessions(world.app)() as session:
        assert session.get(Camera, "camA").archived_at is not None and not session.get(Camera, "camA").enabled
        assert session.get(Violation, "vA").site_id == world.site_a
