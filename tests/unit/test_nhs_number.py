from hypothesis import given
from hypothesis import strategies as st

from uec_booking.fhir.nhs_number import check_digit, is_valid


def test_published_test_numbers_are_valid() -> None:
    for number in ("9000000009", "9000000017", "9449306621", "943 476 5919", "1234554321"):
        assert is_valid(number), number


def test_invalid_numbers() -> None:
    for number in (
        "9000000001",
        "900000000",
        "90000000090",
        "abcdefghij",
        "",
        "9000000O09",
        "١٢٣٤٥٥٤٣٢١",
    ):
        assert not is_valid(number), number


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_check_digit_round_trip(first_nine: str) -> None:
    digit = check_digit(first_nine)
    if digit is None:  # remainder 1: no valid number has these nine digits
        assert not any(is_valid(first_nine + str(d)) for d in range(10))
    else:
        assert is_valid(first_nine + str(digit))
        assert sum(is_valid(first_nine + str(d)) for d in range(10)) == 1
