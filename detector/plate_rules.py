"""What a Chinese licence plate can say (GA 36), as pure code: the reader proposes, these rules dispose.

A plate is a province abbreviation, the letter of the issuing office, then its serial:
- blue, yellow, white, black plates: 5 letters or digits (at most 2 letters); the last may be a use mark
  (学 learner, 警 police, 挂 trailer, 港/澳 cross-border, 领 consulate);
- green new-energy plates, 6: small vehicles ``D``/``F`` (or another letter up to K) then a letter or digit then
  4 digits; large vehicles 5 digits then ``D``/``F``.
``I`` and ``O`` are never used (they read as 1 and 0). The recogniser gives, for each character it saw, its
candidates with their probability; each position takes the likeliest candidate its place allows, so an ``8`` where
a letter must stand becomes the ``B`` the recogniser also saw (and, with no allowed candidate at all, the usual
look-alike: 8→B, 0→D, 2→Z, 5→S …). A reading that fits no format is no plate: it is never reported as read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, no O
DIGITS = "0123456789"
ALNUM = LETTERS + DIGITS
USE_MARKS = "学警挂港澳领"
NEW_ENERGY_SMALL = "ABCDEFGHJK"
NEW_ENERGY_KIND = "DF"
COLOURS = ("blue", "yellow", "green", "white", "black")
# everything a plate can contain, and the two letters a recogniser may see in their place
PLATE_CHARACTERS = PROVINCES + ALNUM + USE_MARKS + "IO"
MAX_SERIAL_LETTERS = 2

# Look-alikes, by what the position needs (used only when no candidate the position allows was seen)
AS_LETTER = {"0": "D", "1": "J", "2": "Z", "4": "A", "5": "S", "6": "G", "7": "T", "8": "B", "I": "J", "O": "D"}
AS_DIGIT = {"O": "0", "D": "0", "Q": "0", "U": "0", "I": "1", "J": "1", "L": "1", "T": "7", "Z": "2", "S": "5",
            "G": "6", "B": "8", "A": "4"}
AS_ALNUM = {"O": "0", "I": "1"}

Candidates = Sequence[tuple[str, float]]  # one position's (character, probability), likeliest first


@dataclass(frozen=True)
class PlateFormat:
    name: str
    colours: tuple[str, ...]
    positions: tuple[str, ...]  # the characters each position allows

    def __len__(self) -> int:
        return len(self.positions)


FORMATS = (
    PlateFormat("standard", ("blue", "yellow", "white", "black"),
                (PROVINCES, LETTERS, ALNUM, ALNUM, ALNUM, ALNUM, ALNUM + USE_MARKS)),
    PlateFormat("new_energy_small", ("green",),
                (PROVINCES, LETTERS, NEW_ENERGY_SMALL, ALNUM, DIGITS, DIGITS, DIGITS, DIGITS)),
    PlateFormat("new_energy_large", ("green",),
                (PROVINCES, LETTERS, DIGITS, DIGITS, DIGITS, DIGITS, DIGITS, NEW_ENERGY_KIND)),
)


@dataclass(frozen=True)
class PlateText:
    """A reading that is a possible plate: its text, each character's probability, and its format."""

    text: str
    char_confidences: tuple[float, ...]
    format: PlateFormat
    candidates: tuple[tuple[tuple[str, float], ...], ...] = ()  # what each position was read as (for votes)

    @property
    def confidence(self) -> float:
        """A plate is as sure as its least sure character."""
        return min(self.char_confidences)


def _look_alike(char: str, allowed: str) -> str | None:
    for table in (AS_ALNUM, AS_LETTER, AS_DIGIT):
        if table.get(char) is not None and table[char] in allowed:
            return table[char]
    return None


def _fold_unused(candidates: Candidates, allowed: str) -> list[tuple[str, float]]:
    """I and O are the glyphs of 1 and 0 on a plate: where the digit may stand, what was read as the letter is
    counted as the digit (an ``O`` at 0.9 beside a ``0`` at 0.05 is a ``0`` at 0.95)."""
    folded: dict[str, float] = {}
    for char, probability in candidates:
        target = AS_ALNUM.get(char, char)
        key = target if char in AS_ALNUM and target in allowed else char
        folded[key] = folded.get(key, 0.0) + float(probability)
    return sorted(folded.items(), key=lambda item: -item[1])


def _fit(positions: Sequence[Candidates], plate_format: PlateFormat) -> PlateText | None:
    text, confidences = [], []
    for original, allowed in zip(positions, plate_format.positions):
        candidates = _fold_unused(original, allowed)
        choice = next(((c, p) for c, p in candidates if c in allowed), None)
        if choice is None and candidates:
            top, probability = candidates[0]
            replacement = _look_alike(top, allowed)
            # a look-alike the recogniser never proposed is a guess: it counts at half its probability
            choice = (replacement, probability / 2) if replacement else None
        if choice is None:
            return None
        text.append(choice[0])
        confidences.append(float(choice[1]))
    if plate_format.name == "standard" and not _limit_serial_letters(text, confidences, positions):
        return None
    return PlateText("".join(text), tuple(confidences), plate_format,
                     tuple(tuple((c, float(p)) for c, p in options) for options in positions))


def _limit_serial_letters(text: list[str], confidences: list[float], positions: Sequence[Candidates]) -> bool:
    """A serial with more letters than a plate has: its least sure letters become the digits they were also read
    as (S→5 where the recogniser hesitated), as long as that is what the candidates say; False when they don't."""
    letters = [i for i in range(2, 7) if text[i] in LETTERS]
    excess = len(letters) - MAX_SERIAL_LETTERS
    if excess <= 0:
        return True
    options = []
    for i in letters:
        digit = next(((c, p) for c, p in positions[i] if c in DIGITS), None)
        if digit is not None:
            options.append((confidences[i] - digit[1], i, digit))
    if len(options) < excess:
        return False
    for _, i, (char, probability) in sorted(options)[:excess]:
        text[i], confidences[i] = char, float(probability)
    return True


def resolve(positions: Sequence[Candidates], extra: int = 2) -> PlateText | None:
    """The likeliest possible plate a recogniser's characters make, or None when they make no plate.

    A reading up to ``extra`` characters longer than a plate (a bolt or the frame read as a character) is tried in
    every window of a plate's length; the surest fit wins, a character left out counting as the chance it was
    not there (so a sure 8th character keeps a green plate from being cut to a blue one)."""
    best: PlateText | None = None
    best_score = 0.0
    for plate_format in FORMATS:
        size = len(plate_format)
        if not size <= len(positions) <= size + extra:
            continue
        for start in range(len(positions) - size + 1):
            fit = _fit(positions[start:start + size], plate_format)
            if fit is None:
                continue
            left_out = [*positions[:start], *positions[start + size:]]
            score = _product(fit.char_confidences) * _product(1.0 - _top(c) for c in left_out)
            if score > best_score:
                best, best_score = fit, score
    return best


def _top(candidates: Candidates) -> float:
    return float(candidates[0][1]) if candidates else 0.0


def _product(values) -> float:
    product = 1.0
    for value in values:
        product *= value
    return product


def resolve_text(text: str, confidence: float = 1.0) -> PlateText | None:
    """A plate from text alone (typed, or read without candidates): the same rules, every character at
    ``confidence``, no character left out."""
    cleaned = [c for c in text.strip().upper().replace("·", "").replace(" ", "").replace("-", "")]
    return resolve([[(c, confidence)] for c in cleaned], extra=0)


def is_valid_plate(text: str) -> bool:
    """Exactly a possible plate, with no correction."""
    plate = resolve_text(text)
    return plate is not None and plate.text == text


def colour_fits(plate: PlateText, colour: str | None) -> bool:
    """Whether a plate of this format can have this colour (unknown colour: any)."""
    return colour is None or colour in plate.format.colours
