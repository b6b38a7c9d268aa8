"""Evidence in object storage: a camera process writes a violation's evidence to a real S3-compatible server
(SeaweedFS), an API process that runs no camera and has no evidence on disk serves and exports it with matching
hashes, and tampering an object or a writer that dies before its manifest is named by verify and the review badge.
The weekly reports the leader writes go there too (``_reports/``), and any API process lists and serves them."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from closed_loop_world import NOW, WEEK, escalate_and_decide, seed
from closed_loop_world import PASSWORD as STAFF_PASSWORD
from service import jobs
from service.api.app import create_app
from service.camera.pipeline import CameraPipeline
from service.camera.spool import Spool
from service.camera.store import DatabaseStore
from service.cli import main
from service.db.models import Camera, Site, Violation
from service.db.session import make_engine, session_factory, upgrade
from service.evidence import MANIFEST, SIGNATURE
from service.evidence import EvidenceSet
from service.evidence_store import LocalEvidenceStore, evidence_store
from service.reports.cli import add_report_command
from service.settings import Settings, get_settings
from service.signing import ManifestSigner
from service.verify import verify_path, verify_store
from test_camera_state import CAMERA, ScriptedDetector, frames

pytest_plugins = ["s3kit"]
pytestmark = pytest.mark.s3
PASSWORD = "object-storage-admin-pw"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Crash(BaseException):
    """The process dies here (not an error the pipeline could handle)."""


class DiesBeforeItsManifest:
    """The store as a camera process that is killed after files are uploaded, at its ``manifests``-th manifest from
    now (1: the next)."""

    def __init__(self, store, manifests: int = 1):
        self.store = store
        self.manifests = manifests

    def __getattr__(self, name):
        return getattr(self.store, name)

    def put(self, key: str, data: bytes) -> None:
        if key.endswith(f"/{MANIFEST}"):
            self.manifests -= 1
            if self.manifests == 0:
                raise Crash(key)
        self.store.put(key, data)


@pytest.fixture
def cluster(s3_server, tmp_path):
    """Settings of a camera process and of an API process on other machines: one database, one bucket, one
    signing key; each its own output folder."""
    bucket = s3_server.new_bucket()
    common = {"database_url": f"sqlite:///{tmp_path / 'firelane.db'}", "evidence_url": f"s3://{bucket}/evidence",
              "signing_key_file": tmp_path / "signing_key.pem", "admin_password": PASSWORD,
              "secret_key": "object-storage-test-secret-" + "s" * 32, **s3_server.settings()}
    camera = Settings(out_dir=tmp_path / "camera-host", **common)
    api = Settings(out_dir=tmp_path / "api-host", **common)
    engine = make_engine(camera.database_url)
    upgrade(engine)
    with session_factory(engine).begin() as session:
        site = Site(code="garden", name="花园小区")
        session.add(site)
        session.flush()
        session.add(Camera(id="gate-3", site_id=site.id, name="3号门", source_url="rtsp://example/stream"))
    yield camera, api, engine, bucket
    engine.dispose()


def run_camera(settings: Settings, engine, start_s: float, store=None) -> CameraPipeline:
    """A car parks past its grace time and leaves: one violation, settled."""
    detector = ScriptedDetector()
    database = DatabaseStore(engine=engine, spool=Spool(settings.out_dir / "spool" / "gate-3"))
    pipeline = CameraPipeline(CAMERA, detector, store or evidence_store(settings), [database], "stream test",
                              sample_fps=2.0, clip_pre_s=1.0, clip_post_s=1.0, gate_max_skip_s=None,
                              state_store=database, signer=ManifestSigner.load_or_create(settings.signing_key_path))
    for frame in frames(start_s, start_s + 30):
        pipeline.process(frame)
    detector.present = False
    for frame in frames(start_s + 30, start_s + 45):
        pipeline.process(frame)
    return pipeline


def api_client(settings: Settings, username: str = "admin", password: str = PASSWORD) -> TestClient:
    client = TestClient(create_app(settings))  # no background: this process runs no camera
    token = client.post("/api/auth/token", data={"username": username, "password": password}).json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def verify_cli(capsys, monkeypatch, settings: Settings, *args: str) -> tuple[int, list[str]]:
    for name, value in {"FIRELANE_S3_ENDPOINT_URL": settings.s3_endpoint_url, "FIRELANE_S3_REGION": "us-east-1",
                        "FIRELANE_S3_ACCESS_KEY_ID": settings.s3_access_key_id,
                        "FIRELANE_S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key.get_secret_value(),
                        "FIRELANE_EVIDENCE_URL": settings.evidence_url,
                        "FIRELANE_SIGNING_KEY_FILE": str(settings.signing_key_file)}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        code = main(["verify", *args])
    finally:
        get_settings.cache_clear()
    return code, [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]


def test_an_api_process_with_no_camera_serves_evidence_from_object_storage(cluster, s3_server, capsys, monkeypatch):
    camera_settings, api_settings, engine, bucket = cluster
    run_camera(camera_settings, engine, 0)
    with session_factory(engine)() as session:
        [violation] = session.scalars(select(Violation)).all()
        rows = {f.name: f.sha256 for f in violation.evidence}
        violation_id, evidence_dir, manifest_sha = violation.id, violation.evidence_dir, violation.manifest_sha256
    assert violation.ended_at is not None
    assert not (camera_settings.out_dir / "evidence").exists(), "nothing on the camera host's disk"
    objects = {o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket, Prefix="evidence/")["Contents"]}
    assert {f"evidence/{evidence_dir}/{n}" for n in ("01-begin.jpg", "02-grace.jpg", "03-last.jpg", "crop.jpg",
                                                       "clip.webm", MANIFEST, SIGNATURE)} <= objects

    client = api_client(api_settings)
    detail = client.get(f"/api/violations/{violation_id}").json()
    assert detail["integrity"] == [], "the review badge: intact and signed"
    manifest_bytes = client.get(f"/api/violations/{violation_id}/evidence/{MANIFEST}").content
    assert sha256(manifest_bytes) == manifest_sha
    listed = {f["name"]: f["sha256"] for f in json.loads(manifest_bytes)["files"]}
    for name, digest in listed.items():
        response = client.get(f"/api/violations/{violation_id}/evidence/{name}")
        assert response.status_code == 200 and sha256(response.content) == digest == rows[name], name
    clip_url = f"/api/violations/{violation_id}/evidence/clip.webm"
    clip = client.get(clip_url)
    assert clip.headers["content-type"] == "video/webm" and clip.headers["accept-ranges"] == "bytes"
    size = len(clip.content)
    part = client.get(clip_url, headers={"Range": "bytes=100-199"})  # a player seeking (Safari plays no other way)
    assert part.status_code == 206 and part.content == clip.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    tail = client.get(clip_url, headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == clip.content[-50:]
    assert client.get(clip_url, headers={"Range": "bytes=0-"}).content == clip.content
    beyond = client.get(clip_url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    assert client.get(clip_url, headers={"Range": "bytes=0-1,5-6"}).content == clip.content, "several: all of it"
    export = client.get(f"/api/violations/{violation_id}/export")
    assert export.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(export.content))
    assert sha256(archive.read(f"{violation_id}/{MANIFEST}")) == manifest_sha
    assert {name: sha256(archive.read(f"{violation_id}/{name}")) for name in listed} == listed
    assert bucket not in "".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())
    assert not (api_settings.out_dir / "evidence").exists(), "served from object storage, not copied to disk"
    code, failures = verify_cli(capsys, monkeypatch, camera_settings, "--db", camera_settings.database_url)
    assert (code, failures) == (0, []), "the configured store, its chain and the database agree"

    tampered = f"evidence/{evidence_dir}/02-grace.jpg"
    original = s3_server.client().get_object(Bucket=bucket, Key=tampered)["Body"].read()
    s3_server.client().put_object(Bucket=bucket, Key=tampered, Body=original + b"\0")
    altered = ["02-grace.jpg: altered (SHA-256 differs)"]
    assert client.get(f"/api/violations/{violation_id}").json()["integrity"] == altered, "the review badge"
    refused = client.get(f"/api/violations/{violation_id}/export")
    assert refused.status_code == 409 and refused.json()["detail"]["problems"] == altered
    code, failures = verify_cli(capsys, monkeypatch, camera_settings, f"s3://{bucket}/evidence/{evidence_dir}")
    assert code == 1 and failures == [f"FAIL {evidence_dir.split('/')[-1]}: 02-grace.jpg: altered (SHA-256 differs)"]


def test_a_camera_on_another_machine_continues_the_chain_and_a_crash_mid_upload_is_named(cluster, s3_server, capsys,
                                                                                          monkeypatch, tmp_path):
    camera_settings, api_settings, engine, bucket = cluster
    first = run_camera(camera_settings, engine, 0)
    # another machine, no checkpoint of this camera: the chain head is read from object storage
    other_host = camera_settings.model_copy(update={"out_dir": tmp_path / "other-host"})
    second = CameraPipeline(CAMERA, ScriptedDetector(), evidence_store(other_host), [], "stream test",
                            sample_fps=2.0, clip_pre_s=0, clip_post_s=0, gate_max_skip_s=None,
                            signer=ManifestSigner.load_or_create(other_host.signing_key_path))
    for frame in frames(100, 130):
        second.process(frame)
    second.finish()
    [earlier], [later] = first.violations, second.violations
    manifest = json.loads(evidence_store(other_host).read(later.evidence.key(MANIFEST)))
    assert manifest["chain"]["previous"] == {"violation_id": earlier.id,
                                             "manifest_sha256": earlier.evidence.manifest_sha256}
    assert verify_cli(capsys, monkeypatch, camera_settings) == (0, [])

    with pytest.raises(Crash):  # a third violation: its stills are uploaded, then the process dies
        run_camera(camera_settings.model_copy(update={"out_dir": tmp_path / "third-host"}), engine, 200,
                   store=DiesBeforeItsManifest(evidence_store(camera_settings)))
    code, failures = verify_cli(capsys, monkeypatch, camera_settings)
    assert code == 1 and len(failures) == 1
    assert "incomplete: no manifest.json beside" in failures[0], "named as incomplete, not as altered"
    assert "01-begin.jpg" in failures[0] and "02-grace.jpg" in failures[0]
    detail = api_client(api_settings).get(f"/api/violations/{earlier.id}").json()
    assert detail["integrity"] == [], "the violations before it are untouched"


def test_reports_the_leader_writes_are_listed_and_served_by_any_api_process(cluster, s3_server, tmp_path, capsys):
    """The leader's weekly job runs on one machine; an API process on another, with no reports on its disk, lists and
    serves them byte for byte, property staff only their own site's (told by the owners recorded in the bucket)."""
    leader_settings, api_settings, engine, bucket = cluster
    sessions = session_factory(engine)
    world = seed(sessions, tmp_path / "seeded-evidence")  # sites garden-a and tower-b beside the fixture's garden
    escalate_and_decide(sessions, world, NOW)
    assert [str(w) for w in jobs.write_scheduled_reports(leader_settings, sessions, NOW)] == ["2026-W44", WEEK]

    s3 = s3_server.client()
    prefix = f"evidence/_reports/{WEEK}/"
    names = [f"{stem}.{fmt}" for stem in ("district", "site-garden", "site-garden-a", "site-tower-b")
             for fmt in ("html", "pdf")]
    stored = {o["Key"][len(prefix):] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]}
    assert stored == {*names, "owners.json"}
    owners = json.loads(s3.get_object(Bucket=bucket, Key=prefix + "owners.json")["Body"].read())
    assert owners["district.pdf"] is None and owners["site-garden-a.pdf"] == world.site_a
    assert owners["site-tower-b.html"] == world.site_b
    assert not leader_settings.reports_dir.exists() and not api_settings.reports_dir.exists()
    assert verify_store(evidence_store(api_settings), ManifestSigner.load_or_create(
        api_settings.signing_key_path).public_key).problems == [], "_reports/ is never taken for a camera's evidence"

    operator = api_client(api_settings, "operator", STAFF_PASSWORD)
    listed = operator.get("/api/reports").json()
    assert [w["week"] for w in listed] == [WEEK, "2026-W44"]
    assert sorted(f["name"] for f in listed[0]["files"]) == sorted(names)
    for item in listed[0]["files"]:
        response = operator.get(item["url"])
        assert response.status_code == 200, item["name"]
        expected = s3.get_object(Bucket=bucket, Key=prefix + item["name"])["Body"].read()
        assert response.content == expected and item["bytes"] == len(expected), item["name"]
        assert response.headers["x-content-type-options"] == "nosniff" and response.headers["cache-control"] == \
            "no-cache" and "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["content-disposition"] == f'inline; filename="{item["name"]}"'
        if item["format"] == "pdf":
            assert response.headers["content-type"] == "application/pdf" and expected.startswith(b"%PDF-")
        else:
            assert response.headers["content-type"] == "text/html; charset=utf-8" and "消防车通道占用周报" in response.text
    assert not api_settings.reports_dir.exists(), "served from object storage, not copied to disk"

    tower = api_client(api_settings, "prop-b", STAFF_PASSWORD)
    assert [(w["week"], [f["name"] for f in w["files"]]) for w in tower.get("/api/reports").json()] == [
        (WEEK, ["site-tower-b.html", "site-tower-b.pdf"]), ("2026-W44", ["site-tower-b.html", "site-tower-b.pdf"])]
    for name in ("district.pdf", "site-garden-a.pdf", "site-garden-a.html", "site-garden.pdf"):
        assert tower.get(f"/api/reports/{WEEK}/{name}").status_code == 404, name
    assert tower.get(f"/api/reports/{WEEK}/site-tower-b.pdf").status_code == 200

    # garden-a's staff write their own again from this API process: the owners the leader recorded stay
    garden = api_client(api_settings, "prop-a", STAFF_PASSWORD)
    mine = garden.post("/api/reports/weekly", json={"week": WEEK})
    assert mine.status_code == 201, mine.text
    assert [f["name"] for f in mine.json()["files"]] == ["site-garden-a.html", "site-garden-a.pdf"]
    assert garden.get(f"/api/reports/{WEEK}/site-garden-a.pdf").content == s3.get_object(
        Bucket=bucket, Key=prefix + "site-garden-a.pdf")["Body"].read()
    assert tower.get(f"/api/reports/{WEEK}/site-tower-b.pdf").status_code == 200
    assert len(operator.get("/api/reports").json()[0]["files"]) == len(names)

    # only <week>/<report name> is ever listed or served: not a deeper key, another file or the owners
    for key in (f"{prefix}notes.txt", f"{prefix}nested/district.pdf", "evidence/_reports/2026-W4x/district.pdf"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"not a report")
    assert sorted(f["name"] for f in operator.get("/api/reports").json()[0]["files"]) == sorted(names)
    assert [w["week"] for w in operator.get("/api/reports").json()] == [WEEK, "2026-W44"]
    for path in (f"{WEEK}/notes.txt", f"{WEEK}/owners.json", f"{WEEK}/nested%2Fdistrict.pdf", "2026-W4x/district.pdf",
                 f"{WEEK}/..%2F..%2Fevidence%2Fdistrict.pdf"):
        assert operator.get(f"/api/reports/{path}").status_code == 404, path

    # firelane report: to the object store by default, to a local folder with --out
    parser = argparse.ArgumentParser(prog="firelane")
    add_report_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", "--week", "2026-W46", "--site", "garden", "--out", str(tmp_path / "mine")])
    assert args.handler(args, leader_settings) == 0
    assert sorted(p.name for p in (tmp_path / "mine" / "2026-W46").iterdir()) == [
        "owners.json", "site-garden.html", "site-garden.pdf"]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="evidence/_reports/2026-W46/")
    args = parser.parse_args(["report", "--week", "2026-W46", "--site", "garden"])
    assert args.handler(args, leader_settings) == 0
    assert f"in s3://{bucket}/evidence/_reports/2026-W46" in capsys.readouterr().out
    assert [(w["week"], [f["name"] for f in w["files"]]) for w in operator.get("/api/reports").json()][0] == (
        "2026-W46", ["site-garden.html", "site-garden.pdf"])
    assert not leader_settings.reports_dir.exists()


def test_object_storage_that_is_down_marks_the_evidence_incomplete_and_keeps_the_violation(tmp_path):
    settings = Settings(out_dir=tmp_path, evidence_url="s3://firelane-down/evidence",
                        s3_endpoint_url="http://127.0.0.1:9", s3_region="us-east-1", s3_access_key_id="k",
                        s3_secret_access_key="s", signing_key_file=tmp_path / "key.pem")
    database = DatabaseStore(f"sqlite:///{tmp_path / 'firelane.db'}")
    pipeline = CameraPipeline(CAMERA, ScriptedDetector(), evidence_store(settings), [database], "stream test",
                              sample_fps=2.0, clip_pre_s=0, clip_post_s=0, gate_max_skip_s=None,
                              find_obstructions=False, signer=ManifestSigner.load_or_create(settings.signing_key_path))
    for frame in frames(0, 30):
        pipeline.process(frame)
    [record] = pipeline.violations
    assert not record.evidence.complete and "01-begin.jpg" in record.evidence.problems[0]
    with session_factory(database.engine)() as session:
        [row] = session.scalars(select(Violation)).all()
    assert row.id == record.id and row.evidence_complete is False and "s3://firelane-down" in row.evidence_problem
    database.close()


def test_reports_while_object_storage_is_down_are_refused_for_now(tmp_path):
    """An API process whose object store does not answer says so (503, try again), neither an empty list nor a 500."""
    settings = Settings(out_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'firelane.db'}",
                        evidence_url="s3://firelane-down/evidence", s3_endpoint_url="http://127.0.0.1:9",
                        s3_region="us-east-1", s3_access_key_id="k", s3_secret_access_key="s",
                        signing_key_file=tmp_path / "key.pem", admin_password=PASSWORD,
                        secret_key="object-storage-test-secret-" + "s" * 32)
    client = api_client(settings)
    for path in ("/api/reports", f"/api/reports/{WEEK}/district.pdf"):
        response = client.get(path)
        assert response.status_code == 503 and response.headers["retry-after"] == "5", path
        assert response.json() == {"detail": "object storage unavailable; try again shortly",
                                   "detail_zh": ["对象存储暂时不可用，请稍后再试"]}
    assert not (tmp_path / "reports").exists()


def test_a_still_replaced_while_the_writer_dies_reads_as_incomplete_not_altered(tmp_path):
    """A violation's "latest" still is replaced every 30 s: it leaves the manifest before its new copy is uploaded."""
    signer = ManifestSigner.load_or_create(tmp_path / "key.pem")
    store = DiesBeforeItsManifest(LocalEvidenceStore(tmp_path / "evidence"), manifests=0)
    evidence = EvidenceSet(store, Path("gate-3/v1"), CAMERA, CAMERA.zones[0], None, signer)
    evidence.add_file("03-latest.jpg", "latest", b"first latest", None)
    evidence.write_manifest({"id": "v1", "final": False})
    assert verify_path(tmp_path / "evidence", signer.public_key).problems == []
    store.manifests = 2  # the manifest that unlists the old copy is written; the one after it never is
    evidence.add_file("03-latest.jpg", "latest", b"second latest", None)
    with pytest.raises(Crash):
        evidence.write_manifest({"id": "v1", "final": False})
    problems = verify_path(tmp_path / "evidence", signer.public_key).problems
    assert "gate-3/v1: files the manifest does not list: 03-latest.jpg (written after it: incomplete, or added)" \
        in problems and not any("SHA-256 differs" in p or "missing" in p for p in problems), problems
    # the signature goes just before its manifest: dying between the two is said as such
    assert [p for p in problems if "signature" in p] == [
        "gate-3/v1: signature does not match the manifest (altered, forged, or its writer stopped between the two)"]
