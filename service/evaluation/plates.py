"""Exact-match accuracy of the plate reader on a folder of labelled images (a CSV of ``file,plate,...``)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import cv2

from detector.plates import PlateReader


def evaluate_plates(reader: PlateReader, labels_csv: Path) -> dict:
    """Each image counts as read when its surest reading is exactly its plate; wrong readings are listed (a
    wrong plate is worse than none: it names someone else)."""
    rows = list(csv.DictReader(labels_csv.open(encoding="utf-8")))
    right, wrong, unread, seconds = 0, [], [], 0.0
    colours_right = colours_known = 0
    for row in rows:
        image = cv2.imread(str(labels_csv.parent / row["file"]))
        if image is None:
            raise FileNotFoundError(labels_csv.parent / row["file"])
        start = time.perf_counter()
        readings = reader.read(image)
        seconds += time.perf_counter() - start
        best = max(readings, key=lambda r: r.confidence, default=None)
        if best is None:
            unread.append(row["plate"])
        elif best.text == row["plate"]:
            right += 1
        else:
            wrong.append({"plate": row["plate"], "read": best.text, "confidence": round(best.confidence, 3)})
        if best is not None and row.get("colour") in ("blue", "green", "yellow", "white", "black"):
            colours_known += 1
            colours_right += best.colour == row["colour"]
    return {
        "images": len(rows),
        "exact": right,
        "accuracy": right / len(rows) if rows else 0.0,
        "wrong": wrong,
        "unread": unread,
        "ms_per_image": round(1000 * seconds / len(rows), 1) if rows else 0.0,
        "colour_accuracy": colours_right / colours_known if colours_known else None,
    }
