"""Signed, chained evidence: `firelane verify` names a tampered still, a removed violation and a forged one."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from detector.detections import Detections
from detector.sources import Frame
from service.camera.pipeline import CameraPipeline
from service.camera.store import DatabaseStore
from service.cli import main
from service.settings import get_settings
from service.signing import ManifestSigner, public_key_pem
from zones.config import parse_zones

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
CAMERA = parse_zones({
    "camera_id": "gate-3", "frame_size": [960, 540],
    "zones": [{"id": "lane-1", "polygon": [[142, 335], [818, 335], [926, 500], [34, 500]], "grace_s": 10,
               "leave_s": 4}],
})


class Visits:
    """A car parks, leaves, and another parks, three times: three violations, one after another."""

    name, class_names = "visits", ["car"]
    at = 0.0

    def detect(self, image, imgsz=None):
        if int(self.at) % 40 < 20:
            return Detections([(300 + 10 * (int(self.at) // 40), 330, 520, 470)], [0.9], ["car"], ["vehicle"])
        return Detections.empty()


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, Path, str]:
    """An evidence store with three settled violations of one camera, signed; and its database."""
    out = tmp_path_factory.mktemp("evidence")
    signer = ManifestSigner.load_or_create(out / "signing_key.pem")
    (out / "public_key.pem").write_text(public_key_pem(signer.public_key), encoding="utf-8")
    db_url = f"sqlite:///{out / 'firelane.db'}"
    database = DatabaseStore(db_url)
    visits = Visits()
    pipeline = CameraPipeline(CAMERA, visits, out / "evidence", [database], "test", sample_fps=2.0, clip_pre_s=0,
                              clip_post_s=0, gate_max_skip_s=None, find_obstructions=False, signer=signer)
    image = np.full((540, 960, 3), 80, np.uint8)
    for i in range(240):
        visits.at = i / 2
        pipeline.process(Frame(image, T0 + timedelta(seconds=visits.at), i))
    pipeline.finish()
    database.close()
    assert len(pipeline.violations) == 3 and all(v.ended_at for v in pipeline.violations)
    return out, out / "evidence", db_url


def verify(capsys, path: Path, out: Path, *extra: str) -> tuple[int, list[str]]:
    code = main(["verify", str(path), "--public-key", str(out / "public_key.pem"), *extra])
    return code, [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]


def folders(evidence: Path) -> list[Path]:
    return sorted(p for p in (evidence / "gate-3").iterdir() if p.is_dir() and not p.name.startswith("_"))


def test_intact_evidence_is_signed_and_chained(store, capsys):
    out, evidence, db_url = store
    assert verify(capsys, evidence, out, "--db", db_url) == (0, [])
    first, second, third = (json.loads((f / "manifest.json").read_text("utf-8")) for f in folders(evidence))
    assert first["chain"]["previous"] is None
    assert second["chain"]["previous"]["violation_id"] == first["violation"]["id"]
    assert third["chain"]["previous"]["violation_id"] == second["violation"]["id"]


def test_verify_names_a_tampered_still_a_removed_and_a_forged_violation(store, capsys, tmp_path):
    out, evidence, db_url = store
    copy = tmp_path / "evidence"
    shutil.copytree(evidence, copy)
    first, second, third = folders(copy)
    with (first / "02-grace.jpg").open("ab") as still:
        still.write(b"\0")  # one byte appended
    shutil.rmtree(second)  # a violation removed from the record
    forged = copy / "gate-3" / "20261201-090500-lane-1-forged00"
    shutil.copytree(third, forged)  # a violation inserted, re-signed with another key
    manifest = json.loads((forged / "manifest.json").read_text("utf-8"))
    manifest["violation"]["id"] = "forged00"
    data = json.dumps(manifest).encode("utf-8")
    (forged / "manifest.json").write_bytes(data)
    (forged / "manifest.sig").write_bytes(ManifestSigner.load_or_create(tmp_path / "other.pem").signature(data))

    code, problems = verify(capsys, copy, out, "--db", db_url)
    assert code == 1
    text = "\n".join(problems)
    assert f"{first.name}: 02-grace.jpg: altered" in text
    assert f"{third.name} follows a violation whose settled manifest" in text and "removed" in text
    assert "forged00: signed with another key" in text
    assert f"its evidence gate-3/{second.name} is missing" in text


def test_an_exported_zip_verifies_offline_and_a_changed_one_does_not(store, capsys, tmp_path):
    out, evidence, _ = store
    folder = folders(evidence)[0]
    archive = tmp_path / "case.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in folder.iterdir():
            zipped.write(path, path.name)
    assert verify(capsys, archive, out) == (0, [])
    changed = tmp_path / "changed.zip"
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(changed, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(item, data.replace(b'"final": true', b'"final": false') if item.filename == "manifest.json"
                            else data)
    code, problems = verify(capsys, changed, out)
    assert code == 1 and any("signature does not match the manifest" in p for p in problems)


def test_evidence_recorded_before_signing_is_sealed_later_and_says_so(store, capsys, tmp_path, monkeypatch, request):
    """An upgraded installation: its older evidence has no manifest.sig, so export refuses it. ``firelane seal``
    signs what still matches its manifest, with the sealing time inside the signature, and leaves the rest."""
    out, evidence, _ = store
    copy = tmp_path / "evidence"
    shutil.copytree(evidence, copy)
    first, second, third = folders(copy)
    for folder in (first, second):
        (folder / "manifest.sig").unlink()  # recorded before the installation signed evidence
    with (second / "02-grace.jpg").open("ab") as still:
        still.write(b"\0")  # and one of them altered since
    code, problems = verify(capsys, copy, out)
    assert code == 1 and sum("not signed" in p for p in problems) == 2

    monkeypatch.setenv("FIRELANE_EVIDENCE_DIR", str(copy))
    monkeypatch.setenv("FIRELANE_SIGNING_KEY_FILE", str(out / "signing_key.pem"))
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    assert main(["seal", "--dry-run"]) == 1
    assert not (first / "manifest.sig").exists(), "a dry run writes nothing"
    capsys.readouterr()
    assert main(["seal"]) == 1, "the altered one is named and left unsigned"
    said = capsys.readouterr().out
    assert f"{first.name}: sealed" in said and f"{second.name}: not sealed: 02-grace.jpg: altered" in said
    assert "1 unsigned violation(s) sealed; 1 problem(s) left unsigned" in said
    assert (third / "manifest.sig").read_bytes() == (evidence / "gate-3" / third.name / "manifest.sig").read_bytes()

    code, problems = verify(capsys, copy, out)
    assert [p for p in problems if first.name in p] == [], "sealed evidence verifies"
    assert any(second.name in p and "not signed" in p for p in problems)
    main(["verify", str(first), "--public-key", str(out / "public_key.pem")])
    assert "recorded before evidence was signed; sealed on" in capsys.readouterr().out

    signature = json.loads((first / "manifest.sig").read_text("utf-8"))
    del signature["sealed_at"]  # pass it off as signed when recorded
    (first / "manifest.sig").write_text(json.dumps(signature), encoding="utf-8")
    code, problems = verify(capsys, first, out)
    assert code == 1 and "signature does not match the manifest" in problems[0]
