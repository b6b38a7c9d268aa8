"""The occupancy rule: who stands in which lane, for how long, and when that becomes a violation.

Pure code: capture times are passed in, nothing is read or written, so every rule is tested with timestamps
alone. The engine keeps its own occupants instead of trusting tracker IDs, because trackers switch IDs when a
parked car is occluded and a fire-lane violation must survive that.

Rules (per zone):
- an object occupies the zone when at least ``min_overlap`` of its footprint lies inside the polygon and its
  class is one the zone watches;
- it is at rest while its footprint stays within ``max_drift`` of where it came to rest; moving resets its dwell,
  so traffic driving through never accumulates time;
- a violation starts once it has rested ``grace_s`` seconds, seen at rest at least ``min_sightings`` times and
  in at least ``min_presence`` of the frames since (so cars streaming past one spot do not add up to one);
- an occupant missing from a frame is kept for ``leave_s`` (occlusion, missed detection); a detection at the
  same resting place takes it over even under a new tracker ID;
- it ends when the occupant has been missing for ``leave_s``; ``ended_at`` is the last time it was seen.

Durable state: ``snapshot()`` gives the engine's state as plain JSON and ``OccupancyEngine.restore`` takes it back,
so a camera restarted (another process, another machine) goes on with the same occupants and violations.
``expire(at)`` ends whatever has not been seen for ``leave_s`` by ``at``: a camera that was away (restart, stream
gap) longer than that cannot claim the object stayed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

import numpy as np

from detector.detections import Detections
from zones.config import CameraZones, Zone
from zones.geometry import box_iou, footprint_overlap, relative_drift

Box = tuple[float, float, float, float]
EventKind = Literal["entered", "moved", "violation_started", "violation_ended", "left"]
SNAPSHOT_FORMAT = 1


def zone_signature(zone: Zone) -> str:
    """What makes two zones the same for its occupants: a state saved under another signature does not apply."""
    parts = (zone.polygon.wkt, zone.kind, zone.grace_s, zone.leave_s, zone.min_overlap, sorted(zone.classes),
             zone.schedule.windows)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MotionRules:
    max_drift: float = 0.2  # footprint movement, in box diagonals, that counts as moving
    rematch_iou: float = 0.5  # overlap with the resting box that lets a new track take over an occupant
    min_sightings: int = 2  # sightings at rest before anything counts as stationary
    min_presence: float = 0.6  # share of frames since coming to rest in which it was seen


@dataclass(frozen=True)
class Occupant:
    """One object in one zone, as known after the latest frame."""

    key: int
    zone_id: str
    class_name: str
    category: str
    confidence: float
    box: Box
    rest_box: Box
    entered_at: datetime
    still_since: datetime
    last_seen: datetime
    sightings_at_rest: int
    rest_frame: int = 0  # the zone's frame number when it came to rest
    tracker_ids: frozenset[int] = field(default_factory=frozenset)
    violation_at: datetime | None = None

    @property
    def dwell_s(self) -> float:
        """Seconds at rest so far."""
        return (self.last_seen - self.still_since).total_seconds()

    @property
    def in_violation(self) -> bool:
        return self.violation_at is not None

    def to_json(self) -> dict:
        return {
            "key": self.key, "zone_id": self.zone_id, "class_name": self.class_name, "category": self.category,
            "confidence": self.confidence, "box": list(self.box), "rest_box": list(self.rest_box),
            "entered_at": self.entered_at.isoformat(), "still_since": self.still_since.isoformat(),
            "last_seen": self.last_seen.isoformat(), "sightings_at_rest": self.sightings_at_rest,
            "rest_frame": self.rest_frame,
            "violation_at": self.violation_at.isoformat() if self.violation_at else None,
        }

    @classmethod
    def from_json(cls, data: dict) -> Occupant:
        """Tracker IDs are not restored: a new tracker numbers its tracks afresh, and an old ID would match a
        stranger. The occupant is found again by its resting place instead."""
        return cls(
            key=int(data["key"]), zone_id=data["zone_id"], class_name=data["class_name"], category=data["category"],
            confidence=float(data["confidence"]), box=_box(data["box"]), rest_box=_box(data["rest_box"]),
            entered_at=datetime.fromisoformat(data["entered_at"]),
            still_since=datetime.fromisoformat(data["still_since"]),
            last_seen=datetime.fromisoformat(data["last_seen"]),
            sightings_at_rest=int(data["sightings_at_rest"]), rest_frame=int(data["rest_frame"]),
            violation_at=datetime.fromisoformat(data["violation_at"]) if data["violation_at"] else None,
        )


def _box(values: list) -> Box:
    x1, y1, x2, y2 = (float(v) for v in values)
    return (x1, y1, x2, y2)


@dataclass(frozen=True)
class OccupancyEvent:
    kind: EventKind
    at: datetime
    occupant: Occupant


@dataclass
class _Candidate:
    index: int
    box: Box
    tracker_id: int
    class_name: str
    category: str
    confidence: float
    still_since: datetime | None = None  # at rest since before this frame (the lane model says so)


class OccupancyEngine:
    """Occupancy state of one camera's zones; feed it each processed frame's detections in time order."""

    def __init__(self, camera: CameraZones, rules: MotionRules | None = None):
        self.camera = camera
        self.rules = rules or MotionRules()
        self._occupants: dict[str, dict[int, Occupant]] = {zone.id: {} for zone in camera.zones}
        self._frames: dict[str, int] = {zone.id: 0 for zone in camera.zones}  # frames seen while active
        self._next_key = 1
        self._last_at: datetime | None = None

    def snapshot(self) -> dict:
        """The whole state as plain JSON (times ISO-8601), for ``restore``."""
        return {
            "format": SNAPSHOT_FORMAT,
            "last_at": self._last_at.isoformat() if self._last_at else None,
            "next_key": self._next_key,
            "zones": {
                zone.id: {"signature": zone_signature(zone), "frames": self._frames[zone.id],
                          "occupants": [occ.to_json() for occ in self._occupants[zone.id].values()]}
                for zone in self.camera.zones
            },
        }

    @classmethod
    def restore(cls, camera: CameraZones, snapshot: dict,
                rules: MotionRules | None = None) -> tuple[OccupancyEngine, list[OccupancyEvent]]:
        """An engine that goes on from ``snapshot``; occupants of zones that were edited or removed meanwhile end
        (the returned events, at their last sighting)."""
        if snapshot.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unknown occupancy snapshot format {snapshot.get('format')!r}")
        engine = cls(camera, rules)
        engine._next_key = int(snapshot["next_key"])
        engine._last_at = datetime.fromisoformat(snapshot["last_at"]) if snapshot["last_at"] else None
        current = {zone.id: zone_signature(zone) for zone in camera.zones}
        events = []
        for zone_id, saved in snapshot["zones"].items():
            occupants = [Occupant.from_json(data) for data in saved["occupants"]]
            if current.get(zone_id) == saved["signature"]:
                engine._frames[zone_id] = int(saved["frames"])
                engine._occupants[zone_id] = {occ.key: occ for occ in occupants}
            else:
                events += [cls._end(occ) for occ in occupants]
        return engine, events

    @property
    def last_at(self) -> datetime | None:
        """Capture time of the latest frame taken (frames before it are refused)."""
        return self._last_at

    def expire(self, at: datetime) -> list[OccupancyEvent]:
        """End every occupant not seen for its zone's ``leave_s`` by ``at``, whether or not it is back now:
        after a stretch without frames nobody can say it stayed."""
        events = []
        for zone in self.camera.zones:
            occupants = self._occupants[zone.id]
            for key in [k for k, occ in occupants.items() if (at - occ.last_seen).total_seconds() >= zone.leave_s]:
                events.append(self._end(occupants.pop(key)))
        return events

    def reconfigure(self, camera: CameraZones) -> list[OccupancyEvent]:
        """Take new zones (an operator edited them) without a restart.

        Zones whose settings did not change keep their occupants and running violations; occupants of zones
        that changed or were removed end now (at their last sighting), and changed zones start afresh.
        """
        old = {zone.id: zone for zone in self.camera.zones}
        events: list[OccupancyEvent] = []
        kept: dict[str, dict[int, Occupant]] = {}
        for zone in camera.zones:
            if old.get(zone.id) == zone:
                kept[zone.id] = self._occupants[zone.id]
        for zone_id, occupants in self._occupants.items():
            if zone_id not in kept:
                events += [self._end(occ) for occ in occupants.values()]
        self.camera = camera
        self._occupants = {zone.id: kept.get(zone.id, {}) for zone in camera.zones}
        self._frames = {zone.id: self._frames.get(zone.id, 0) if zone.id in kept else 0 for zone in camera.zones}
        return events

    def occupants(self, zone_id: str | None = None) -> list[Occupant]:
        zones = [zone_id] if zone_id else list(self._occupants)
        return [occ for z in zones for occ in self._occupants[z].values()]

    def is_active(self, zone: Zone, at: datetime) -> bool:
        return zone.schedule.is_active(at.astimezone(self.camera.timezone).timetz())

    def update(self, at: datetime, detections: Detections) -> list[OccupancyEvent]:
        """Advance to capture time ``at`` with the detections seen then."""
        if at.tzinfo is None:
            raise ValueError("capture time must be timezone-aware")
        if self._last_at is not None and at < self._last_at:
            raise ValueError(f"capture time went backwards: {at.isoformat()} after {self._last_at.isoformat()}")
        self._last_at = at
        events: list[OccupancyEvent] = []
        for zone in self.camera.zones:
            if self.is_active(zone, at):
                events += self._update_zone(zone, at, self._candidates(zone, detections, at))
            else:
                events += self._end_all(zone)
        return events

    def _candidates(self, zone: Zone, detections: Detections, at: datetime) -> list[_Candidate]:
        if len(detections) == 0:
            return []
        overlap = footprint_overlap(detections.xyxy, zone.polygon)
        found = []
        for i in np.flatnonzero(overlap >= zone.min_overlap):
            name, category = str(detections.class_name[i]), str(detections.category[i])
            if zone.accepts(name, category):
                box = tuple(float(v) for v in detections.xyxy[i])
                since = detections.still_since[i]
                still_since = None if np.isnan(since) else datetime.fromtimestamp(float(since), at.tzinfo)
                found.append(_Candidate(int(i), box, int(detections.tracker_id[i]), name, category,  # type: ignore[arg-type]
                                        float(detections.confidence[i]), still_since))
        return found

    def _presence(self, occ: Occupant) -> float:
        """Share of the zone's frames since it came to rest in which it was seen: a parked car is seen in nearly
        all of them, while a stream of different cars passing one spot is matched there only now and then."""
        return occ.sightings_at_rest / (self._frames[occ.zone_id] - occ.rest_frame + 1)

    def _update_zone(self, zone: Zone, at: datetime, candidates: list[_Candidate]) -> list[OccupancyEvent]:
        self._frames[zone.id] += 1
        occupants = self._occupants[zone.id]
        matches = self._match(occupants, candidates)
        events: list[OccupancyEvent] = []
        for key, cand in matches.items():
            occupants[key], new_events = self._observe(zone, occupants[key], at, cand)
            events += new_events
        matched_candidates = {id(c) for c in matches.values()}
        for cand in candidates:
            if id(cand) not in matched_candidates:
                rested = min(at, cand.still_since) if cand.still_since is not None else at
                self._next_key += 1
                occ = Occupant(
                    key=self._next_key - 1,
                    zone_id=zone.id,
                    class_name=cand.class_name,
                    category=cand.category,
                    confidence=cand.confidence,
                    box=cand.box,
                    rest_box=cand.box,
                    entered_at=rested,
                    still_since=rested,
                    last_seen=at,
                    sightings_at_rest=1,
                    rest_frame=self._frames[zone.id],
                    tracker_ids=frozenset({cand.tracker_id}) if cand.tracker_id >= 0 else frozenset(),
                )
                occupants[occ.key] = occ
                events.append(OccupancyEvent("entered", at, occ))
        for key in [k for k in occupants if k not in matches and occupants[k].last_seen < at]:
            if (at - occupants[key].last_seen).total_seconds() >= zone.leave_s:
                events.append(self._end(occupants.pop(key)))
        return events

    def _match(self, occupants: dict[int, Occupant], candidates: list[_Candidate]) -> dict[int, _Candidate]:
        """Tracker IDs first; then a candidate at an unmatched occupant's resting place takes it over."""
        matches: dict[int, _Candidate] = {}
        taken: set[int] = set()
        for key, occ in occupants.items():
            for cand in candidates:
                if id(cand) not in taken and cand.tracker_id >= 0 and cand.tracker_id in occ.tracker_ids:
                    matches[key] = cand
                    taken.add(id(cand))
                    break
        owned_ids = {tid for occ in occupants.values() for tid in occ.tracker_ids}
        pairs = []
        for key, occ in occupants.items():
            if key in matches:
                continue
            for cand in candidates:
                if id(cand) in taken or cand.tracker_id in owned_ids and cand.tracker_id not in occ.tracker_ids:
                    continue
                iou = box_iou(occ.rest_box, cand.box)
                if iou >= self.rules.rematch_iou and relative_drift(occ.rest_box, cand.box) <= self.rules.max_drift:
                    pairs.append((iou, key, cand))
        for _, key, cand in sorted(pairs, key=lambda p: -p[0]):
            if key not in matches and id(cand) not in taken:
                matches[key] = cand
                taken.add(id(cand))
        return matches

    def _observe(self, zone: Zone, occ: Occupant, at: datetime, cand: _Candidate) -> tuple[Occupant, list[OccupancyEvent]]:
        events: list[OccupancyEvent] = []
        ids = occ.tracker_ids | {cand.tracker_id} if cand.tracker_id >= 0 else occ.tracker_ids
        common = dict(box=cand.box, last_seen=at, tracker_ids=ids, confidence=max(occ.confidence, cand.confidence))
        if cand.still_since is not None:  # the lane model vouches it is the same still object: its box may settle
            common["rest_box"] = cand.box
        elif relative_drift(occ.rest_box, cand.box) > self.rules.max_drift:
            if occ.in_violation:  # a violator shuffling forward stays a violator
                return replace(occ, rest_box=cand.box, **common), events
            occ = replace(occ, rest_box=cand.box, still_since=at, sightings_at_rest=1,
                          rest_frame=self._frames[zone.id], **common)
            return occ, [OccupancyEvent("moved", at, occ)]
        occ = replace(occ, sightings_at_rest=occ.sightings_at_rest + 1, **common)
        if (
            not occ.in_violation
            and occ.sightings_at_rest >= self.rules.min_sightings
            and self._presence(occ) >= self.rules.min_presence
            and occ.dwell_s >= zone.grace_s
        ):
            occ = replace(occ, violation_at=at)
            events.append(OccupancyEvent("violation_started", at, occ))
        return occ, events

    def end_all(self) -> list[OccupancyEvent]:
        """End every occupant at its last sighting (the camera stops watching for good)."""
        return [event for zone in self.camera.zones for event in self._end_all(zone)]

    @staticmethod
    def _end(occ: Occupant) -> OccupancyEvent:
        return OccupancyEvent("violation_ended" if occ.in_violation else "left", occ.last_seen, occ)

    def _end_all(self, zone: Zone) -> list[OccupancyEvent]:
        occupants = self._occupants[zone.id]
        events = [self._end(occ) for occ in occupants.values()]
        occupants.clear()
        return events
