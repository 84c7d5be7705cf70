"""PNC ID and prison number validation."""
import pytest

from jdl_core.identifiers import (
    InvalidIdentifier,
    canonical_pnc,
    canonical_prison_number,
    format_pnc,
    is_valid_pnc,
    is_valid_prison_number,
    pnc_check_letter,
)


@pytest.mark.parametrize("pnc", ["2008/0056560Z", "2003/0062845E", "1981/0154257C"])
def test_published_examples_are_valid(pnc):
    assert canonical_pnc(pnc) == pnc


@pytest.mark.parametrize("raw,canon", [
    ("08/56560Z", "2008/0056560Z"), ("20080056560z", "2008/0056560Z"),
    (" 2003/62845E ", "2003/0062845E"), ("81/154257C", "1981/0154257C"),
])
def test_short_forms_canonicalise(raw, canon):
    assert canonical_pnc(raw) == canon


def test_every_wrong_check_letter_is_rejected():
    right = pnc_check_letter(2008, 56560)
    for letter in "ABCDEFGHJKLMNPQRTUVWXYZ":
        assert is_valid_pnc(f"2008/0056560{letter}") == (letter == right)


@pytest.mark.parametrize("bad", ["", "2008/", "abcd/0056560Z", "2008/00565601234Z", "2008-0056560Z"])
def test_malformed_pnc_rejected_without_echo(bad):
    with pytest.raises(InvalidIdentifier) as e:
        canonical_pnc(bad)
    if bad.strip():
        assert bad not in str(e.value)


def test_format_pnc_roundtrips():
    for y, s in [(1999, 1), (2010, 9999999), (1975, 123)]:
        assert canonical_pnc(format_pnc(y, s)) == format_pnc(y, s)


def test_prison_numbers():
    assert canonical_prison_number(" a1234bc ") == "A1234BC"
    for bad in ["A123BC", "11234BC", "A1234B1", "", "AB1234C"]:
        assert not is_valid_prison_number(bad)
