"""The demo's embedded setup: one compound, its camera and zones, and a login for each kind of user."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import cv2
from sqlalchemy import Engine

from service.api.security import hash_password
from service.db import audit
from service.db.models import Camera
from service.db.session import session_factory
from service.db.sites import create_site, get_site_by_code
from service.db.users import create_user, get_user_by_username, update_user
from service.db.zones import current_zones, save_zones

DEMO_SITE = ("demo-garden", "示范花园小区")
DEMO_USERS = (("admin", "operator"), ("wuye", "property"), ("jiaojing", "police"))


def seed_demo(engine: Engine, video: Path, zones_file: Path, out_dir: Path) -> dict[str, tuple[str, str]]:
    """Register the sample's camera (disabled: the demo plays the file itself) and give each user a fresh
    password; returns username → (role, password). Safe to run again on the same database."""
    zones = json.loads(zones_file.read_text(encoding="utf-8"))
    logins: dict[str, tuple[str, str]] = {}
    with session_factory(engine).begin() as session:
        site = get_site_by_code(session, DEMO_SITE[0]) or create_site(session, code=DEMO_SITE[0], name=DEMO_SITE[1])
        camera = session.get(Camera, zones["camera_id"])
        if camera is None:
            camera = Camera(id=zones["camera_id"], site_id=site.id, name=zones.get("camera_name", zones["camera_id"]),
                            source_url=str(video.resolve()), fps=2.0, enabled=False,
                            frame_width=zones["frame_size"][0], frame_height=zones["frame_size"][1])
            session.add(camera)
            session.flush()
        if current_zones(session, camera.id) is None:
            save_zones(session, camera, zones, None)
        for username, role in DEMO_USERS:
            password = secrets.token_urlsafe(9)
            user = get_user_by_username(session, username)
            if user is None:
                user = create_user(session, username=username, password_hash=hash_password(password), role=role,
                                   site_id=site.id if role == "property" else None)
            else:
                update_user(session, user, {"password_hash": hash_password(password)})
            audit.record(session, None, "user.demo_password", f"user:{user.id}", {"username": username})
            logins[username] = (role, password)
    _write_snapshot(video, out_dir / "snapshots" / f"{zones['camera_id']}.jpg")
    logins_file = out_dir / "logins.txt"
    logins_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(logins_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.writelines(f"{u}\t{role}\t{pw}\n" for u, (role, pw) in logins.items())
    return logins


def _write_snapshot(video: Path, path: Path) -> None:
    """The empty lane, for drawing zones on."""
    capture = cv2.VideoCapture(str(video))
    ok, image = capture.read()
    capture.release()
    if ok:
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), image)
