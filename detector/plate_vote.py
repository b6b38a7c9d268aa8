"""Many readings of one plate made into one: a vote per character, weighted by the recogniser's confidence.

A parked vehicle is seen in many frames (and each plate region is read from a few crops); each reading may get
one character wrong, rarely the same one. Readings of the plate's length vote position by position with every
candidate they saw (a ``T`` read at 0.44 beside a ``7`` at 0.45 still counts), the summed candidates go through
the plate rules again, so what wins is always a possible plate. Pure code: readings in, plate out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from detector.plate_rules import PlateText, resolve

PLATE_LENGTH_COLOURS = {7: ("blue", "yellow", "white", "black"), 8: ("green",)}
MAX_DIFFERENCES = 2  # a reading differing from the surest one in more places is misaligned, not a second opinion


def vote(readings: Sequence[PlateText], colour: str | None = None, same_view: bool = False) -> PlateText | None:
    """The plate the readings agree on, or None when there is none.

    ``colour`` (the plate's background, when seen) keeps out readings of a length that colour cannot have: a
    green plate read with a character missing is not a blue plate. The length with the most confidence wins;
    readings of it that differ from its surest reading in more than 2 places (a character lost and the rest
    shifted) are left out. Each position's candidates are averaged over the remaining readings (a reading that
    did not see a character adds nothing to it, so disagreement lowers the confidence). ``same_view``: the
    readings are crops of one image, not independent frames; the characters are still chosen by the average, but
    each is as sure as the crop that shows it best."""
    usable = [r for r in readings if r.candidates]
    if colour is not None:
        usable = [r for r in usable if colour in PLATE_LENGTH_COLOURS.get(len(r.text), ())]
    if not usable:
        return None
    by_length: dict[int, list[PlateText]] = defaultdict(list)
    for reading in usable:
        by_length[len(reading.candidates)].append(reading)
    group = max(by_length.values(), key=lambda rs: sum(r.confidence for r in rs))
    anchor = max(group, key=lambda r: r.confidence)
    group = [r for r in group if sum(a != b for a, b in zip(r.text, anchor.text)) <= MAX_DIFFERENCES]
    positions = []
    for i in range(len(group[0].candidates)):
        summed: dict[str, float] = defaultdict(float)
        for reading in group:
            for char, probability in reading.candidates[i]:
                summed[char] += probability / len(group)
        positions.append(sorted(summed.items(), key=lambda item: -item[1]))
    plate = resolve(positions, extra=0)
    if plate is None or not same_view:
        return plate
    best = tuple(max([confidence, *(p for r in group for c, p in r.candidates[i] if c == plate.text[i])])
                 for i, confidence in enumerate(plate.char_confidences))
    return replace(plate, char_confidences=best)


def vote_colour(colours: Sequence[tuple[str, float]]) -> str | None:
    """The colour with the most confidence behind it, from (colour, confidence) pairs."""
    weights: dict[str, float] = defaultdict(float)
    for colour, confidence in colours:
        weights[colour] += confidence
    return max(weights, key=weights.__getitem__) if weights else None
