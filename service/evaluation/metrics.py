"""Accuracy metrics, pure: per-item occupancy counts and one-to-one matching of events in time."""

from __future__ import annotations

import statistics
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)

    def to_json(self) -> dict:
        rounded = {k: None if v is None else round(v, 4) for k, v in
                   (("precision", self.precision), ("recall", self.recall), ("f1", self.f1))}
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, **rounded}


def occupancy_counts(predicted: Mapping[Hashable, bool], truth: Mapping[Hashable, bool]) -> Counts:
    """Compare occupied flags item by item (e.g. parking spaces of one frame); keys must match."""
    if predicted.keys() != truth.keys():
        raise ValueError("predicted and true flags must cover the same items")
    tp = sum(predicted[k] and truth[k] for k in truth)
    fp = sum(predicted[k] and not truth[k] for k in truth)
    fn = sum(truth[k] and not predicted[k] for k in truth)
    return Counts(tp, fp, fn)


@dataclass(frozen=True)
class Interval:
    zone_id: str
    start: datetime
    end: datetime

    def overlap_s(self, other: Interval) -> float:
        if self.zone_id != other.zone_id:
            return -1.0
        return (min(self.end, other.end) - max(self.start, other.start)).total_seconds()


@dataclass
class EventMatch:
    counts: Counts
    pairs: list[tuple[Interval, Interval]] = field(default_factory=list)  # (predicted, true)

    @property
    def start_errors_s(self) -> list[float]:
        return [(p.start - t.start).total_seconds() for p, t in self.pairs]

    @property
    def end_errors_s(self) -> list[float]:
        return [(p.end - t.end).total_seconds() for p, t in self.pairs]

    def to_json(self) -> dict:
        def summary(errors: list[float]) -> dict | None:
            if not errors:
                return None
            return {"mean_abs_s": round(statistics.fmean(abs(e) for e in errors), 2),
                    "median_s": round(statistics.median(errors), 2), "max_abs_s": round(max(map(abs, errors)), 2)}

        return {**self.counts.to_json(), "start_error": summary(self.start_errors_s),
                "end_error": summary(self.end_errors_s)}


def match_events(predicted: list[Interval], truth: list[Interval]) -> EventMatch:
    """Pair each true event with at most one predicted event of the same zone that overlaps it in time,
    largest overlap first; touching intervals (overlap 0) count, so a still that opens one and closes the other
    still matches."""
    candidates = sorted(
        ((p.overlap_s(t), i, j) for i, p in enumerate(predicted) for j, t in enumerate(truth) if p.overlap_s(t) >= 0),
        reverse=True,
    )
    used_p: set[int] = set()
    used_t: set[int] = set()
    pairs = []
    for _, i, j in candidates:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            pairs.append((predicted[i], truth[j]))
    return EventMatch(Counts(len(pairs), len(predicted) - len(pairs), len(truth) - len(pairs)), pairs)
