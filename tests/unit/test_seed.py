from datetime import date, datetime

from fhir.resources.STU3 import get_fhir_model_class

from uec_booking import sample_data
from uec_booking.provider.seed import directory_resources, generate_slots


def test_directory_resources_are_valid_stu3() -> None:
    resources = directory_resources(sample_data.load())
    for resource in resources:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    schedules = [r for r in resources if r["resourceType"] == "Schedule"]
    assert schedules and all(
        any(a["reference"].startswith("HealthcareService/") for a in s["actor"]) for s in schedules
    )


def test_generated_slots_follow_the_templates() -> None:
    sample = sample_data.load()
    monday = date(2026, 11, 23)
    slots = generate_slots(sample, first_day=monday, days=7)
    dental = [s for s in slots if s["healthcare_service_id"] == "2000100003"]
    # Dental: Mon-Sat 09:00-17:00 local, 20-minute slots, one dentist: 24 a day, 6 days.
    assert len(dental) == 24 * 6
    assert not [s for s in dental if s["start"].date() == date(2026, 11, 29)]  # Sunday closed
    assert dental[0]["start"] == datetime(2026, 11, 23, 9, 0)  # GMT in November
    ooh = [s for s in slots if s["healthcare_service_id"] == "2000100002"]
    assert {(s["end"] - s["start"]).seconds for s in ooh} == {600}
    assert len({s["id"] for s in slots}) == len(slots)


def test_summer_time_is_applied() -> None:
    slots = generate_slots(sample_data.load(), first_day=date(2026, 7, 1), days=1)
    dental = [s for s in slots if s["healthcare_service_id"] == "2000100003"]
    assert dental[0]["start"] == datetime(2026, 7, 1, 8, 0)  # 09:00 BST is 08:00 UTC
