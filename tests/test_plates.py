"""The plate reader on real plates (../shared/data/plates), the `firelane plate` command, and plates read across
frames while a vehicle is in violation: voted, kept as signed evidence, in the facts and the database."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from detector.detections import Detections
from detector.plate_rules import is_valid_plate, resolve_text
from detector.plates import PlateReader, PlateReading
from detector.sources import Frame
from service.camera.pipeline import CameraPipeline
from service.camera.spool import Spool
from service.camera.store import DatabaseStore
from service.cli import main
from service.db.models import EvidenceFile, Violation
from service.db.session import make_engine, session_factory
from service.evidence import verify_manifest
from service.settings import Settings
from service.signing import ManifestSigner
from service.verify import verify_path
from zones.config import parse_zones

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=TZ)
DEFAULT_MIN_CONFIDENCE = Settings.model_fields["plate_min_confidence"].default


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader(min_confidence=0.0)  # every possible plate; thresholds are applied in the tests


@pytest.fixture(scope="module")
def plates(shared_data) -> Path:
    folder = shared_data / "plates"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    return folder


def surest_readings(reader: PlateReader, labels: Path) -> list[tuple[str, PlateReading | None]]:
    rows = list(csv.DictReader(labels.open(encoding="utf-8")))
    found = []
    for row in rows:
        readings = reader.read(cv2.imread(str(labels.parent / row["file"])))
        found.append((row["plate"], max(readings, key=lambda r: r.confidence, default=None)))
    return found


def scores(found: list[tuple[str, PlateReading | None]], min_confidence: float) -> tuple[float, float]:
    """(exact-match accuracy over all images, share of reported readings that are wrong) at a threshold."""
    reported = [(truth, r) for truth, r in found if r is not None and r.confidence >= min_confidence]
    right = sum(truth == r.text for truth, r in reported)
    return right / len(found), (len(reported) - right) / max(1, len(reported))


@pytest.mark.footage
def test_plate_crops_are_read_exactly(reader, plates):
    """100 LPRNet test crops (94x24, blue): measured 98 % with every reading and at the default threshold
    (the two wrong readings, at 0.65 and 0.80, are a 6 read for a G and a 0 for a D)."""
    found = surest_readings(reader, plates / "crops.csv")
    assert all(r is None or is_valid_plate(r.text) for _, r in found)  # never an impossible plate
    accuracy, _ = scores(found, 0.0)
    assert accuracy >= 0.96
    accuracy, wrong = scores(found, DEFAULT_MIN_CONFIDENCE)
    assert accuracy >= 0.96 and wrong <= 0.03
    # all are blue plates; some are taken under a colour cast (a yellow or green tint): measured 96 of 98 blue
    read = [r for truth, r in found if r is not None and r.text == truth]
    assert sum(r.colour == "blue" for r in read) >= 0.95 * len(read)


@pytest.mark.footage
def test_plates_on_vehicle_photos_are_found_and_read(reader, plates):
    """50 CCPD photos (39 blue, 11 green new-energy): measured 92 % with every reading and at the default
    threshold, none wrong (4 unread); colours right wherever the plate is read."""
    rows = {row["plate"]: row for row in csv.DictReader((plates / "vehicles.csv").open(encoding="utf-8"))}
    found = surest_readings(reader, plates / "vehicles.csv")
    assert all(r is None or is_valid_plate(r.text) for _, r in found)
    accuracy, wrong = scores(found, 0.0)
    assert accuracy >= 0.90 and wrong <= 0.03
    accuracy, wrong = scores(found, DEFAULT_MIN_CONFIDENCE)
    assert accuracy >= 0.90 and wrong <= 0.03
    read = [(rows[truth], r) for truth, r in found if r is not None and r.text == truth]
    assert sum(row["colour"] == r.colour for row, r in read) >= 0.95 * len(read)
    for row, r in read:  # the box is where CCPD says the plate is
        x1, y1, x2, y2 = map(float, row["plate_corners"].split("bbox=")[1].split(";")[0].replace("_", "&").split("&"))
        cx, cy = (r.box[0] + r.box[2]) / 2, (r.box[1] + r.box[3]) / 2
        assert x1 - 10 <= cx <= x2 + 10 and y1 - 10 <= cy <= y2 + 10


@pytest.mark.footage
def test_no_plate_is_read_where_there_is_none(reader, shared_data):
    corridor = cv2.imread(str(shared_data / "obstruction" / "corridor-empty.png"))
    assert reader.read(corridor) == []
    assert reader.read(np.full((24, 94, 3), 200, np.uint8)) == []  # a blank plate-shaped image
    with pytest.raises(ValueError):
        reader.read(np.zeros((4, 4, 3), np.uint8))


@pytest.mark.footage
def test_plate_command_prints_every_plate_as_json(plates, shared_data, capsys):
    assert main(["plate", str(plates / "crops" / "lprnet-001.jpg"), "--json"]) == 0
    [plate] = json.loads(capsys.readouterr().out)["plates"]
    assert plate["text"] == "京PL3N67" and plate["colour"] == "blue" and plate["box"] == [0.0, 0.0, 94.0, 24.0]
    assert 0.4 <= plate["confidence"] <= 1.0
    assert main(["plate", str(shared_data / "obstruction" / "corridor-empty.png"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"plates": []}


@pytest.mark.footage
def test_the_reader_loads_and_reads_without_the_network(plates, monkeypatch):
    """The models are the wheel's own files: nothing is fetched when the reader is made or used."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"the plate reader reached for the network: {args!r}")

    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    [plate] = PlateReader().read(cv2.imread(str(plates / "crops" / "lprnet-003.jpg")))
    assert plate.text == "皖A05279"


def test_plate_command_refuses_what_is_not_an_image(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("京A12345")
    assert main(["plate", str(text)]) == 3
    assert "not a readable image" in capsys.readouterr().err


# --- read across frames while a vehicle is in violation ---

VEHICLE = (150.0, 330.0, 560.0, 640.0)  # around the car's front in ccpd-001 (plate at 220-341 x 469-511)
CAMERA = parse_zones({
    "camera_id": "street-1", "camera_name": "路口", "frame_size": [720, 1160],
    "zones": [{"id": "lane", "name": "消防车通道", "polygon": [[0, 500], [720, 500], [720, 800], [0, 800]],
               "grace_s": 3, "leave_s": 5}],
})


class ParkedCar:
    name = "scripted"
    class_names = ["car"]

    def detect(self, image: np.ndarray, imgsz: int | None = None) -> Detections:
        return Detections([VEHICLE], [0.9], ["car"], ["vehicle"])


class CountingReader:
    """Wraps a reader, or gives fixed readings, and records when it was asked."""

    def __init__(self, inner=None, readings: list[PlateReading] | None = None):
        self.inner, self.readings, self.calls = inner, readings or [], []

    def read(self, image):
        self.calls.append(image.shape)
        return self.inner.read(image) if self.inner is not None else list(self.readings)


def run(tmp_path: Path, image: np.ndarray, seconds: int, store=None, **plates) -> CameraPipeline:
    pipeline = CameraPipeline(CAMERA, ParkedCar(), tmp_path / "evidence", [store] if store else [], "test",
                              sample_fps=1.0, clip_pre_s=0, clip_post_s=0, gate_max_skip_s=None, tiles="off",
                              find_obstructions=False, **plates)
    for i in range(seconds):
        pipeline.process(Frame(image, T0 + timedelta(seconds=i), i))
    pipeline.finish()
    return pipeline


@pytest.mark.footage
def test_a_violating_vehicles_plate_is_voted_kept_as_evidence_and_stored(tmp_path, reader, plates):
    image = cv2.imread(str(plates / "vehicles" / "ccpd-001.jpg"))
    counting = CountingReader(reader)
    store = DatabaseStore(f"sqlite:///{tmp_path / 'db.sqlite'}", spool=Spool(tmp_path / "spool"))
    signer = ManifestSigner.load_or_create(tmp_path / "signing_key.pem")
    pipeline = run(tmp_path, image, 20, store, plate_reader=counting, plate_every_s=4.0, plate_max_readings=3,
                   plate_min_confidence=0.4, signer=signer)
    [record] = pipeline.violations
    # throttled: from the violation on (t=3 s), every 4 s, 3 at most, on the vehicle's crop only
    assert len(counting.calls) == 3
    assert all(shape[0] < 400 and shape[1] < 480 for shape in counting.calls)
    facts = record.facts()
    assert facts["plate"]["text"] == "苏CFY773" and facts["plate"]["colour"] == "blue"
    assert facts["plate"]["readings"] == 3 and facts["plate"]["confidence"] >= 0.4
    folder = record.evidence.folder
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["violation"]["plate"] == facts["plate"]
    [plate_file] = [f for f in manifest["files"] if f["name"] == "plate.jpg"]
    assert plate_file["role"] == "plate"
    assert verify_manifest(folder) == []
    report = verify_path(folder, signer.public_key)  # hashed, signed and chained with the plate crop in it
    assert report.ok, report.problems
    crop = cv2.imread(str(folder / "plate.jpg"))
    assert 2.0 <= crop.shape[1] / crop.shape[0] <= 5.0  # the plate, not the car
    assert resolve_text(reader.read(crop)[0].text).text == "苏CFY773"
    store.close()
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with session_factory(engine)() as session:
        row = session.get(Violation, record.id)
        assert (row.plate_read, row.plate_read_colour) == ("苏CFY773", "blue")
        assert row.plate_read_confidence == pytest.approx(facts["plate"]["confidence"], abs=1e-3)
        assert row.plate_text is None  # nobody confirmed it yet
        names = session.scalars(select(EvidenceFile.name).where(EvidenceFile.violation_id == record.id)).all()
        assert "plate.jpg" in names
    engine.dispose()


def reading(text: str, confidence: float) -> PlateReading:
    plate = resolve_text(text, confidence)
    return PlateReading(plate, "blue", (0.0, 0.0, 94.0, 24.0), np.full((24, 94, 3), 120, np.uint8))


def test_readings_stop_once_the_vote_is_sure_and_nothing_is_read_without_a_reader(tmp_path):
    image = np.full((1160, 720, 3), 90, np.uint8)
    sure = CountingReader(readings=[reading("京A12345", 0.99)])
    [record] = run(tmp_path / "a", image, 40, plate_reader=sure, plate_every_s=2.0, plate_max_readings=10).violations
    assert len(sure.calls) == 3  # three agreeing sure readings: no more are needed
    assert record.facts()["plate"] == {"text": "京A12345", "confidence": 0.99, "colour": "blue", "readings": 3}

    unsure = CountingReader(readings=[reading("京A12345", 0.2)])
    [record] = run(tmp_path / "b", image, 40, plate_reader=unsure, plate_every_s=2.0, plate_max_readings=5).violations
    assert len(unsure.calls) == 5  # the cost bound
    assert record.facts()["plate"] is None  # less sure than the threshold: no plate is named
    assert "plate.jpg" not in record.evidence.files

    [record] = run(tmp_path / "c", image, 10).violations  # no reader: as before plates existed
    assert record.facts()["plate"] is None and record.db_fields()["plate_read"] is None


def test_a_restarted_camera_keeps_the_plate_it_had_voted(tmp_path):
    image = np.full((1160, 720, 3), 90, np.uint8)
    pipeline = CameraPipeline(CAMERA, ParkedCar(), tmp_path / "evidence", [], "test", sample_fps=1.0,
                              clip_pre_s=0, clip_post_s=0, gate_max_skip_s=None, tiles="off",
                              find_obstructions=False, plate_reader=CountingReader(readings=[reading("京A12345", 0.9)]))
    for i in range(6):
        pipeline.process(Frame(image, T0 + timedelta(seconds=i), i))
    [record] = pipeline.open_violations
    state = record.state()
    assert state["plate"]["text"] == "京A12345"
    from service.camera.plates import PlateResult, ViolationPlate

    resumed = ViolationPlate(min_confidence=0.4, prior=PlateResult.from_json(state["plate"]))
    assert resumed.reported.text == "京A12345"
    resumed.read(CountingReader(readings=[reading("京A12845", 0.5)]), image, VEHICLE, T0 + timedelta(seconds=30))
    assert resumed.reported.text == "京A12345"  # the earlier vote still counts against a weaker new reading


def test_the_plate_crop_kept_is_the_surest_one_of_the_plate_as_voted():
    from service.camera.plates import ViolationPlate

    image = np.full((1160, 720, 3), 90, np.uint8)
    plate = ViolationPlate(min_confidence=0.3)
    wrong = reading("京A12845", 0.9)
    right = [reading("京A12345", 0.8), reading("京A12345", 0.7)]
    for i, found in enumerate([wrong, *right]):
        plate.read(CountingReader(readings=[found]), image, VEHICLE, T0 + timedelta(seconds=10 * i))
    assert plate.reported.text == "京A12345"
    assert plate.best_crop_at == T0 + timedelta(seconds=10)  # the first crop read as the voted plate, the surest
