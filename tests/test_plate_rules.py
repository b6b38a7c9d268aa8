"""Chinese plate rules: formats, letters never used, look-alikes resolved by position, impossible plates refused."""

from __future__ import annotations

import pytest

from detector.plate_rules import colour_fits, is_valid_plate, resolve, resolve_text


def read(*positions):
    """Candidates as a recogniser gives them: a string is one sure character, a list its (char, p) options."""
    return [[(p, 0.99)] if isinstance(p, str) else p for p in positions]


@pytest.mark.parametrize("text, kind", [
    ("京A12345", "standard"), ("皖AB766W", "standard"), ("粤B1234学", "standard"), ("沪A0001警", "standard"),
    ("皖AD11166", "new_energy_small"), ("苏EFA1234", "new_energy_small"), ("浙B12345D", "new_energy_large"),
])
def test_possible_plates_are_read_as_they_are(text, kind):
    plate = resolve_text(text)
    assert plate is not None and plate.text == text and plate.format.name == kind
    assert is_valid_plate(text)


@pytest.mark.parametrize("text", [
    "A12345", "京12345", "皖A1234", "皖A123456X", "X A12345", "皖ABCD12",  # no province, short, long, 3 letters
    "皖AD1234X", "皖A12345学学", "皖AP2345Q6", "",  # green serial broken, mark misplaced, empty
    "15A123", "消防通道",  # a manhole cover's number, a sign
])
def test_impossible_plates_are_never_read(text):
    assert resolve_text(text) is None
    assert not is_valid_plate(text)


def test_letters_plates_never_use_become_the_digits_they_look_like():
    plate = resolve_text("皖AOH627", 0.9)
    assert plate.text == "皖A0H627"
    assert plate.char_confidences[2] == pytest.approx(0.9)  # on a plate an O is the glyph of 0: no guess
    # what the recogniser gave the letter counts for the digit where the digit may stand
    folded = resolve(read("皖", "A", [("O", 0.9), ("0", 0.05)], "N", "7", "1", "8"))
    assert folded.text == "皖A0N718" and folded.char_confidences[2] == pytest.approx(0.95)
    assert resolve_text("皖AW5VOO").text == "皖AW5V00"
    assert resolve_text("京AI2345").text == "京A12345"
    assert not is_valid_plate("皖AOH627")  # a plate as typed is valid only without correction
    assert resolve_text("浙B1234DD").text == "浙B12340D" and not is_valid_plate("浙B1234DD")


def test_digit_where_a_letter_must_stand_takes_the_recognisers_own_letter():
    # the office letter read as 8, with B as second choice: position 2 allows letters only
    plate = resolve(read("京", [("8", 0.7), ("B", 0.25)], "1", "2", "3", "4", "5"))
    assert plate.text == "京B12345"
    assert plate.char_confidences[1] == pytest.approx(0.25)


def test_look_alike_table_when_no_allowed_candidate_was_seen():
    assert resolve(read("苏", [("2", 0.8)], "1", "2", "3", "4", "5")).text == "苏Z12345"
    assert resolve(read("苏", [("0", 0.8)], "1", "2", "3", "4", "5")).text == "苏D12345"
    # a look-alike nobody proposed is a guess, and counts half
    assert resolve(read("苏", [("0", 0.8)], "1", "2", "3", "4", "5")).char_confidences[1] == pytest.approx(0.4)
    # green small plate: the last four are digits, so S and B there are 5 and 8
    assert resolve(read("皖", "A", "D", "1", [("S", 0.9)], "1", [("B", 0.9)], "6")).text == "皖AD15186"


def test_too_many_serial_letters_become_the_digits_the_recogniser_hesitated_over():
    # W, S, V: three letters; S was also read as 5 (0.41) and is the least sure letter
    plate = resolve(read("皖", "A", "W", [("S", 0.58), ("5", 0.41)], "V", "0", "0"))
    assert plate.text == "皖AW5V00"
    assert resolve(read("皖", "A", "W", "S", "V", "0", "0")) is None  # no digit proposed: no plate


def test_province_position_takes_a_province_candidate():
    plate = resolve(read([("K", 0.5), ("皖", 0.4)], "A", "1", "2", "3", "4", "5"))
    assert plate.text == "皖A12345" and plate.confidence == pytest.approx(0.4)
    assert resolve(read([("K", 0.9), ("M", 0.1)], "A", "1", "2", "3", "4", "5")) is None


def test_a_stray_character_at_an_edge_is_dropped_but_a_sure_one_is_not():
    stray = resolve(read([("1", 0.2)], "皖", "A", "1", "2", "3", "4", "5"))
    assert stray.text == "皖A12345"
    # eight sure characters make a green plate, not a blue one with the last cut off
    assert resolve(read("皖", "A", "D", "1", "1", "1", "6", "6")).text == "皖AD11166"


def test_confidence_is_the_least_sure_character():
    plate = resolve(read("京", [("A", 0.6)], "1", "2", "3", "4", [("5", 0.8)]))
    assert plate.confidence == pytest.approx(0.6)


def test_colour_must_fit_the_format():
    assert colour_fits(resolve_text("皖AD11166"), "green")
    assert not colour_fits(resolve_text("皖AD11166"), "blue")
    assert colour_fits(resolve_text("京A12345"), "yellow")
    assert not colour_fits(resolve_text("京A12345"), "green")
    assert colour_fits(resolve_text("京A12345"), None)
