"""The multi-frame vote: per character, weighted by confidence, always a possible plate."""

from __future__ import annotations

import pytest

from detector.plate_rules import resolve
from detector.plate_vote import vote, vote_colour


def reading(*positions):
    """A reading as the recogniser makes it: a string is one sure character, a list its (char, p) options."""
    plate = resolve([[(p, 0.95)] if isinstance(p, str) else p for p in positions], extra=0)
    assert plate is not None
    return plate


def test_each_frame_wrong_in_a_different_place_votes_to_the_right_plate():
    frames = [
        reading("皖", "A", "G", "7", [("1", 0.48), ("T", 0.28)], "6", "8"),
        reading("皖", "A", "G", "7", [("7", 0.45), ("T", 0.44)], "6", "8"),
        reading("皖", "A", [("6", 0.6), ("G", 0.3)], "7", [("T", 0.7), ("1", 0.1)], "6", "8"),
    ]
    assert [f.text for f in frames] == ["皖AG7168", "皖AG7768", "皖A67T68"]
    plate = vote(frames)
    assert plate.text == "皖AG7T68"
    # T: (0.28 + 0.44 + 0.7) / 3 — disagreement lowers the plate's confidence below its sure characters
    assert plate.char_confidences[4] == pytest.approx((0.28 + 0.44 + 0.7) / 3)
    assert plate.confidence == pytest.approx((0.28 + 0.44 + 0.7) / 3)


def test_confident_readings_outweigh_more_numerous_unsure_ones():
    sure = reading("京", "A", "1", "2", "3", "4", [("5", 0.99)])
    unsure = reading("京", "A", "1", "2", "3", "4", [("6", 0.3), ("5", 0.2)])
    assert vote([sure, unsure, unsure]).text == "京A12345"  # 5: (0.99 + 0.2 + 0.2) / 3 > 6: 0.6 / 3
    assert vote([unsure]).text == "京A12346"


def test_the_length_with_most_confidence_wins_and_colour_rules_lengths_out():
    green = reading("皖", "A", "D", "1", "9", "7", "8", "9")
    missed = reading("皖", "A", "D", "1", "9", "8", "9")  # a character not seen: a blue-plate length
    assert vote([missed, missed, green]).text == "皖AD1989"
    assert vote([missed, missed, green], colour="green").text == "皖AD19789"
    assert vote([missed, missed], colour="green") is None  # a green plate is never reported with 7 characters
    assert vote([missed], colour="blue").text == "皖AD1989"


def test_a_vote_is_always_a_possible_plate():
    assert vote([]) is None
    # each reading has two serial letters, but in different places: the per-position winners B, C, D would be
    # three, so the least sure of them becomes the digit other frames saw there
    a = reading("京", "A", "B", "C", "1", "2", "3")
    b = reading("京", "A", "1", "C", "D", "2", "3")
    c = reading("京", "A", "B", "1", "D", "2", "3")
    plate = vote([a, b, c])
    assert plate.text == "京A1CD23"
    assert plate.char_confidences[2] == pytest.approx(0.95 / 3)


def test_colour_vote_follows_confidence():
    assert vote_colour([("blue", 0.9), ("green", 0.5), ("green", 0.3)]) == "blue"
    assert vote_colour([("blue", 0.3), ("green", 0.5), ("green", 0.3)]) == "green"
    assert vote_colour([]) is None


def test_a_misaligned_reading_is_left_out():
    right = reading("皖", "A", "Y", "L", "2", "5", "0")
    shifted = reading([("皖", 0.03)], "A", "N", "Y", "1", "2", "5")  # a character lost, the rest moved along
    assert vote([right, shifted]).text == "皖AYL250"


def test_crops_of_one_view_are_as_sure_as_their_best_crop():
    tight = reading([("皖", 0.09)], "A", "3", "2", "8", "L", "2")
    grown = reading([("皖", 0.58)], "A", "3", "2", "8", "L", "2")
    assert vote([tight, grown]).confidence == pytest.approx((0.09 + 0.58) / 2)  # frames: disagreement counts
    assert vote([tight, grown], same_view=True).confidence == pytest.approx(0.58)
    # the characters are still chosen by the average: T over 1 and 7 though each crop preferred another
    crops = [reading("皖", "A", "G", "7", [("1", 0.48), ("T", 0.28)], "6", "8"),
             reading("皖", "A", "G", "7", [("7", 0.45), ("T", 0.44)], "6", "8")]
    plate = vote(crops, same_view=True)
    assert plate.text == "皖AG7T68" and plate.char_confidences[4] == pytest.approx(0.44)
