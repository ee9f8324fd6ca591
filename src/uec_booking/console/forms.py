"""The call handler's first form: read, normalised and checked before any national
service is asked (a malformed postcode or date never reaches PDS or DoS)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from uec_booking.consumer.dispositions import TIMEFRAMES
from uec_booking.consumer.request import BookingRequest

FIELDS = (
    "nhs_number",
    "location_postcode",
    "postcode",
    "family",
    "birth_date",
    "disposition",
    "symptom_group",
)
SYMPTOM_GROUPS = (1010, 1011, 1040, 1050, 1220)  # the sandbox DoS's; a deployment lists its own
POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")


def normal_postcode(value: str) -> str | None:
    """`ls16ae` → `LS1 6AE`; None when it is not shaped like a UK postcode."""
    match = POSTCODE.match(re.sub(r"\s+", "", value).upper())
    return f"{match[1]} {match[2]}" if match else None


def parse_birth_date(value: str) -> str | None:
    """`22/10/1985` (the hint's form) or `1985-10-22` → ISO; None when not a real date."""
    value = value.strip()
    try:
        if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", value):
            d, m, y = (int(p) for p in value.split("/"))
            born = date(y, m, d)
        else:
            born = date.fromisoformat(value)
    except ValueError:
        return None
    return born.isoformat() if born <= datetime.now(UTC).date() else None


def read_start_form(
    submitted: Any,
) -> tuple[dict[str, str], dict[str, str], BookingRequest | None]:
    """(what was entered, normalised; errors by field; the request, or None on errors).
    The request's `postcode` is checked against PDS; `location_postcode`, where the patient
    is now, drives the DoS search only."""
    raw = {k: str(v) for k, v in submitted.items() if k != "csrf_token"}
    form = {k: raw.get(k, "").strip() for k in FIELDS}
    errors: dict[str, str] = {}
    nhs_number = form["nhs_number"].replace(" ", "")
    if not re.fullmatch(r"\d{10}", nhs_number):
        errors["nhs_number"] = "Enter the patient's 10-digit NHS number"
    location = normal_postcode(form["location_postcode"])
    if not form["location_postcode"]:
        errors["location_postcode"] = "Enter the postcode where the patient is now"
    elif location is None:
        errors["location_postcode"] = "Enter a real postcode, like LS1 6AE"
    else:
        form["location_postcode"] = location
    home = normal_postcode(form["postcode"]) if form["postcode"] else None
    if form["postcode"] and home is None:
        errors["postcode"] = "Enter a real postcode, like LS1 6AE, or leave it blank"
    elif home:
        form["postcode"] = home
    born = parse_birth_date(form["birth_date"]) if form["birth_date"] else None
    if form["birth_date"] and born is None:
        errors["birth_date"] = "Enter the date of birth as day/month/year, like 22/10/1985"
    if form["disposition"] not in TIMEFRAMES:
        form["disposition"] = "Dx05"
    try:
        symptom_group = int(form["symptom_group"] or SYMPTOM_GROUPS[0])
    except ValueError:
        symptom_group = -1
    if symptom_group not in SYMPTOM_GROUPS:
        errors["symptom_group"] = "Choose a symptom group from the list"
    if errors:
        return form, errors, None
    return (
        form,
        errors,
        BookingRequest(
            nhs_number=nhs_number,
            postcode=home,
            location_postcode=location,
            family=form["family"] or None,
            birth_date=born,
            disposition=form["disposition"],
            symptom_group=symptom_group,
        ),
    )
