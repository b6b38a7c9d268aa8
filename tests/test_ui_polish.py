"""The web UI's polish that needs no browser: /docs without a CDN, durations and names for people, the alert
state that follows the vehicle, the pages' navigation per role."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from service.api.app import create_app
from service.settings import Settings

SECRET = "ui-polish-secret-" + "x" * 32


def test_docs_load_only_local_assets(tmp_path: Path) -> None:
    """/docs names no other host, and every script, style and icon it names is served here."""
    settings = Settings(_env_file=None, out_dir=tmp_path / "out", database_url=f"sqlite:///{tmp_path / 'f.db'}",
                        evidence_dir=tmp_path / "evidence", secret_key=SECRET, admin_password="admin-password-1")
    app = create_app(settings)
    try:
        client = TestClient(app)
        page = client.get("/docs")
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
        assert not [u for u in urls if re.match(r"^(https?:)?//", u)], urls
        assets = [u for u in urls if u.startswith("/docs/assets/")]
        assert {u.rsplit("/", 1)[1] for u in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}
        for url in assets + ["/openapi.json", "/docs/oauth2-redirect"]:
            response = client.get(url)
            assert response.status_code == 200, url
            assert response.content, url
        assert "SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js").text
        assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN: not offered
    finally:
        app.state.engine.dispose()


def test_camera_recording_start_is_validated_stored_and_used_by_its_worker(tmp_path: Path) -> None:
    """An operator gives a recorded file's real start (with its offset); the worker's capture times count from it,
    and the live state says where the start came from."""
    import json
    import shutil
    from datetime import datetime, timedelta, timezone

    from service.camera.workers import CameraWorker
    from service.settings import PROJECT_ROOT
    from zones.config import parse_zones

    settings = Settings(_env_file=None, out_dir=tmp_path / "out", database_url=f"sqlite:///{tmp_path / 'f.db'}",
                        evidence_dir=tmp_path / "evidence", secret_key=SECRET, admin_password="admin-password-1")
    app = create_app(settings)
    try:
        client = TestClient(app)
        token = client.post("/api/auth/token", data={"username": "admin", "password": "admin-password-1"}).json()
        op = {"Authorization": f"Bearer {token['access_token']}"}
        site = client.post("/api/sites", json={"code": "g", "name": "花园"}, headers=op).json()["id"]
        body = {"id": "gate", "site_id": site, "name": "大门", "source_url": "/recordings/gate.mp4"}
        naive = client.post("/api/cameras", json={**body, "recording_start": "2026-12-02T08:30:00"}, headers=op)
        assert naive.status_code == 422  # a time without its offset is ambiguous
        typo = client.post("/api/cameras", json={**body, "recording_start": "0001-01-01T00:00:00+14:00"}, headers=op)
        assert typo.status_code == 422 and "recording_start" in typo.text
        made = client.post("/api/cameras", json={**body, "recording_start": "2026-12-02T08:30:00+08:00"}, headers=op)
        assert made.status_code == 201, made.text
        start = datetime(2026, 12, 2, 0, 30, tzinfo=timezone.utc)
        assert datetime.fromisoformat(made.json()["recording_start"]) == start
        cleared = client.patch("/api/cameras/gate", json={"recording_start": None}, headers=op).json()
        assert cleared["recording_start"] is None
    finally:
        app.state.engine.dispose()

    samples = PROJECT_ROOT / "samples"
    zones = parse_zones(json.loads((samples / "fire-lane-demo.zones.json").read_text("utf-8")), "demo zones")
    clip = tmp_path / "copied.webm"  # a copy: its file time is now, not the recording's
    shutil.copy(samples / "fire-lane-demo.webm", clip)

    def opened(recording_start: datetime | None) -> CameraWorker:
        worker = CameraWorker("gate", str(clip), 2.0, zones, 1, None, None, settings, None,  # type: ignore[arg-type]
                              recording_start=recording_start)
        first = next(iter(worker._open().frames()))
        assert first.captured_at == worker.status.recording_start
        return worker

    given = opened(start)
    assert (given.status.recording_start, given.status.recording_start_origin) == (start, "given")
    guessed = opened(None)
    assert guessed.status.recording_start_origin == "file time"
    assert abs(guessed.status.recording_start - datetime.now(timezone.utc)) < timedelta(minutes=10)


def test_durations_read_like_people_say_them() -> None:
    from service.humanize import duration_zh, minutes_zh

    assert [duration_zh(s) for s in (0, 8, 60, 97, 97.4, 900, 3600, 3660, 207_840)] == [
        "0 秒", "8 秒", "1 分", "1 分 37 秒", "1 分 37 秒", "15 分", "1 小时", "1 小时 1 分", "57 小时 44 分"]
    assert duration_zh(None) == "—" and duration_zh(float("nan")) == "—" and duration_zh(-5) == "0 秒"
    assert minutes_zh(16.9333) == "16 分 56 秒" and minutes_zh(1.62) == "1 分 37 秒" and minutes_zh(None) == "—"
