"""A camera's picture on demand: grabbed from a real MJPEG stream or a video file, stored with its real frame size,
audited; a source that cannot be opened is a clear refusal (English and Chinese) in bounded time."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from faultkit import (
    DEMO_VIDEO,
    MjpegServer,
    TcpProxy,
    parked_scene_frames,
    refusing_port,
)

from service.api.app import create_app
from service.db.models import AuditEntry, Camera
from service.settings import Settings

ADMIN_PASSWORD = "admin-password-1"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, out_dir=tmp_path / "out", database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                        evidence_dir=tmp_path / "evidence", secret_key="s" * 40, admin_password=ADMIN_PASSWORD,
                        snapshot_timeout_s=2.0)
    with TestClient(create_app(settings)) as client:
        token = client.post("/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield client


@pytest.fixture
def camera_stream() -> Iterator[MjpegServer]:
    with MjpegServer(parked_scene_frames(2), fps=5) as server:
        yield server


def _site(client: TestClient) -> int:
    return client.post("/api/sites", json={"code": "garden", "name": "花园"}).json()["id"]


def test_probe_shows_a_stream_frame_before_the_camera_is_saved(client: TestClient, camera_stream: MjpegServer) -> None:
    probe = client.post("/api/cameras/probe", json={"source_url": camera_stream.url})
    assert probe.status_code == 200, probe.text
    body = probe.json()
    assert (body["width"], body["height"]) == (960, 540)
    header, encoded = body["image"].split(",", 1)
    assert header == "data:image/jpeg;base64"
    image = cv2.imdecode(np.frombuffer(base64.b64decode(encoded), np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (540, 960, 3)
    assert client.get("/api/cameras").json() == []  # a probe stores nothing


def test_snapshot_is_stored_with_its_frame_size_and_audited(client: TestClient, tmp_path: Path) -> None:
    site_id = _site(client)
    created = client.post("/api/cameras", json={"id": "gate", "site_id": site_id, "name": "东门",
                                                 "source_url": str(DEMO_VIDEO)})
    assert created.status_code == 201
    assert client.get("/api/cameras/gate/snapshot").status_code == 404  # nothing yet: the camera never ran
    taken = client.post("/api/cameras/gate/snapshot")
    assert taken.status_code == 200, taken.text
    assert (taken.json()["width"], taken.json()["height"]) == (960, 540)
    picture = client.get("/api/cameras/gate/snapshot")
    assert picture.headers["content-type"] == "image/jpeg"
    stored = cv2.imdecode(np.frombuffer(picture.content, np.uint8), cv2.IMREAD_COLOR)
    assert stored.shape == (540, 960, 3)
    camera = client.get("/api/cameras/gate").json()
    assert (camera["frame_width"], camera["frame_height"]) == (960, 540)
    with client.app.state.sessions() as session:
        actions = [a.action for a in session.query(AuditEntry).filter(AuditEntry.target == "camera:gate")]
        assert actions == ["camera.create", "camera.snapshot"]
        assert session.get(Camera, "gate").frame_width == 960


def test_an_unusable_source_is_refused_clearly(client: TestClient, tmp_path: Path) -> None:
    missing = client.post("/api/cameras/probe", json={"source_url": str(tmp_path / "none.mp4")})
    assert missing.status_code == 422
    assert missing.json()["detail"]["problems"] == [f"{tmp_path / 'none.mp4'}: no such file or folder"]
    assert missing.json()["detail_zh"] == [f"{tmp_path / 'none.mp4'}：文件或文件夹不存在"]
    closed = client.post("/api/cameras/probe",
                         json={"source_url": f"http://user:secret@127.0.0.1:{refusing_port()}/stream.mjpg"})
    assert closed.status_code == 422
    problem = closed.json()["detail"]["problems"][0]
    assert "secret" not in problem and "could not open http://***@127.0.0.1" in problem
    assert "秒内无法打开视频源" in closed.json()["detail_zh"][0]
    not_video = tmp_path / "notes.txt"
    not_video.write_text("not a video")
    refused = client.post("/api/cameras/probe", json={"source_url": str(not_video)})
    assert refused.status_code == 422
    assert "无法解码的视频" in refused.json()["detail_zh"][0]


def test_only_operators_grab_pictures(client: TestClient) -> None:
    site_id = _site(client)
    client.post("/api/users", json={"username": "prop", "password": "correct horse battery", "role": "property",
                                    "site_id": site_id})
    token = client.post("/api/auth/token", data={"username": "prop", "password": "correct horse battery"}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.post("/api/cameras/probe", json={"source_url": str(DEMO_VIDEO)}, headers=headers).status_code == 403


def test_a_camera_that_hangs_is_refused_in_bounded_time(client: TestClient, camera_stream: MjpegServer) -> None:
    """A network that silently drops every byte (the connection opens, nothing comes): refused after the timeout."""
    with TcpProxy(camera_stream.host, camera_stream.port) as proxy:
        proxy.stall()
        url = f"http://{proxy.address[0]}:{proxy.address[1]}{camera_stream.path}"
        refused = client.post("/api/cameras/probe", json={"source_url": url})
    assert refused.status_code == 422
    [problem] = refused.json()["detail"]["problems"]
    assert problem in (f"no frame from {url} within 2 s", f"could not open {url} within 2 s")
    assert "2 秒内" in refused.json()["detail_zh"][0]
