"""The DoS stand-in's CheckCapacitySummary search over the sample directory, in the order of
`ccs_search_logic_v1_5.md`: search distance, postcode, symptom group, gender, symptom
discriminators, disposition, age, capacity; then the catch-all (`ccs_catch-all_v1_5.md`).

The directory's `dos` section is this DoS's reference data: its disposition ids (by NHS
Pathways Dx code), the symptom discriminators it knows, and optional postcode search
distances (by full postcode, sector or district, in km).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from uec_booking.spine.dos_soap import DosFault

NATIONAL_DISTANCE_KM = 60
MAX_DISTANCE_KM = 99  # "a configuration parameter set in DoS - currently 99"
DAYS_IN_YEAR, DAYS_IN_MONTH = 365.25, 30.4375  # summary_1.5_changes.md
# Published ranges per age format (codes 115-118).
AGE_LIMITS = {"Days": (0, 31, 115), "Months": (1, 23, 116), "Years": (2, 129, 117)}
# AgeGroup 1-4: the pages name the groups but not their bounds; the sandbox's own, in days.
AGE_GROUP_DAYS = {1: (0, 364), 2: (365, 1825), 3: (1826, 5843), 4: (5844, 47481)}
DAY_NAMES = {
    "sun": "Sunday",
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
}


@dataclass(frozen=True)
class SearchCase:
    postcode: str
    age: int
    age_format: str
    disposition: int
    symptom_group: int
    discriminators: list[int]
    search_distance: int | None
    force_distance: bool
    gender: str


@dataclass(frozen=True)
class Found:
    service: dict[str, Any]
    miles: float
    catch_all: bool = False


@dataclass(frozen=True)
class Result:
    services: list[Found]
    distance_km: int
    distance_source: str
    age_in_days: float | None


def haversine_miles(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h)) * 0.621371


def _box_km(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """North and east offsets in km: DoS searches a square, not a circle."""
    north = (b[0] - a[0]) * 111.2
    east = (b[1] - a[1]) * 111.32 * math.cos(math.radians((a[0] + b[0]) / 2))
    return abs(north), abs(east)


def _key(postcode: str) -> str:
    return postcode.replace(" ", "").upper()


def _spaced(postcode: str) -> str:
    """`LS1 6AE`, `LS1 6` or `LS1`: a sector key must not read as a district (LS1 6 vs LS16)."""
    key = _key(postcode)
    return (
        f"{key[:-3]} {key[-3:]}"
        if len(key) >= 5 and key[-3].isdigit()
        else postcode.upper().strip()
    )


def organization(directory: dict[str, Any], service: dict[str, Any]) -> dict[str, Any]:
    return next((o for o in directory["organizations"] if o["id"] == service["organization"]), {})


def address(directory: dict[str, Any], service: dict[str, Any]) -> str:
    location = next(
        (loc for loc in directory.get("locations", []) if loc["id"] == service.get("location")),
        None,
    )
    if location is None:
        return ""
    return ", ".join([*location.get("lines", []), location.get("city", "")]).strip(", ")


def rota_sessions(service: dict[str, Any]) -> list[tuple[str, tuple[int, int], tuple[int, int]]]:
    """The weekly opening sessions (day, start, end) from the service's availability."""
    availability = service.get("availability") or {}
    if not availability:
        return []
    start = tuple(int(p) for p in availability["open"].split(":"))
    end = tuple(int(p) for p in availability["close"].split(":"))
    return [(DAY_NAMES[d], start, end) for d in availability["days"]]  # type: ignore[misc]


def open_all_hours(service: dict[str, Any]) -> bool:
    sessions = rota_sessions(service)
    return len(sessions) == 7 and all(
        s == (0, 0) and e in ((23, 59), (24, 0)) for _, s, e in sessions
    )


def age_range_days(service: dict[str, Any]) -> tuple[float, float]:
    low = math.floor(service.get("age_min", 0) * DAYS_IN_YEAR)
    high = math.floor((service.get("age_max", 129) + 1) * DAYS_IN_YEAR) - 1
    return float(low), float(high)


def by_id_or_ods(directory: dict[str, Any], wanted: str) -> list[dict[str, Any]]:
    """ServiceDetailsById: "DoS ID or ODS code for the required service"."""
    services: list[dict[str, Any]] = directory["healthcare_services"]
    by_id = [s for s in services if s["id"] == wanted]
    if by_id:
        return by_id
    return [
        s for s in services if organization(directory, s).get("ods", "").upper() == wanted.upper()
    ]


def _age_days(case: SearchCase) -> tuple[float | None, tuple[float, float]]:
    """CalculatedAgeInDays (None for AgeGroup) and the day range to match services on."""
    if case.age_format == "AgeGroup":
        if case.age not in AGE_GROUP_DAYS:
            raise DosFault(118, detail=f"age {case.age}")
        low, high = AGE_GROUP_DAYS[case.age]
        return None, (float(low), float(high))
    low_limit, high_limit, code = AGE_LIMITS[case.age_format]
    if not low_limit <= case.age <= high_limit:
        raise DosFault(code, detail=f"age {case.age} {case.age_format}")
    per = {"Days": 1.0, "Months": DAYS_IN_MONTH, "Years": DAYS_IN_YEAR}[case.age_format]
    days = float(math.floor(case.age * per))
    return days, (days, days)


def _distance(directory: dict[str, Any], case: SearchCase) -> tuple[int, str]:
    """The distance to search and its source (the search-logic page's order)."""
    if case.force_distance:
        if case.search_distance is None:
            raise DosFault(113)
        return _checked(case.search_distance), "Override"
    table = {_spaced(k): v for k, v in directory.get("dos", {}).get("search_distances", {}).items()}
    full = _spaced(case.postcode)
    outward, _, inward = full.partition(" ")
    sector = f"{outward} {inward[:1]}"
    for key, source in ((full, "Postcode"), (sector, "Sector"), (outward, "District")):
        if key in table:
            return int(table[key]), source
    if case.search_distance is not None:
        # The search-logic page calls this source "Web Service", which the v1.5 schema's
        # DistanceSource enumeration lacks: the request's own distance is reported as Override.
        return _checked(case.search_distance), "Override"
    return NATIONAL_DISTANCE_KM, "National"


def _checked(km: int) -> int:
    if not 1 <= km <= MAX_DISTANCE_KM:
        raise DosFault(105, detail=f"{km} km")
    return km


def search(directory: dict[str, Any], case: SearchCase) -> Result:
    reference = directory.get("dos", {})
    distance_km, source = _distance(directory, case)
    postcodes = {_key(k): tuple(v) for k, v in directory["postcodes"].items()}
    origin = postcodes.get(_key(case.postcode))
    if origin is None:
        raise DosFault(101, detail=case.postcode)
    services: list[dict[str, Any]] = directory["healthcare_services"]
    known_groups = {g for s in services for g in s["symptom_groups"]}
    known_groups |= set(reference.get("symptom_groups", []))
    if case.symptom_group not in known_groups:
        raise DosFault(120, detail=str(case.symptom_group))
    known_sds = set(reference.get("symptom_discriminators", []))
    discriminators = sorted({d for d in case.discriminators if d in known_sds})
    if not discriminators:
        raise DosFault(104, detail=f"{case.discriminators or 'none'} for {case.symptom_group}")
    dispositions: dict[str, int] = reference.get("disposition_ids", {})
    if case.disposition not in dispositions.values():
        raise DosFault(121, detail=str(case.disposition))
    age_in_days, (age_low, age_high) = _age_days(case)
    found = []
    for s in services:
        north, east = _box_km(origin, (s["latitude"], s["longitude"]))  # type: ignore[arg-type]
        low, high = age_range_days(s)
        if (
            north > distance_km
            or east > distance_km
            or case.symptom_group not in s["symptom_groups"]
            or case.gender not in s.get("genders", ["M", "F", "I"])
            or not set(discriminators) <= set(s.get("symptom_discriminators", discriminators))
            or case.disposition not in {dispositions.get(dx) for dx in s["dispositions"]}
            or high < age_low
            or low > age_high
            or s.get("capacity", "High") == "None"  # red: never returned
        ):
            continue
        miles = haversine_miles(origin, (s["latitude"], s["longitude"]))  # type: ignore[arg-type]
        found.append(Found(s, round(miles, 1)))
    if not found:
        found = _catch_all(services, origin)  # type: ignore[arg-type]
    if not found:
        raise DosFault(102)
    found.sort(key=lambda f: (f.miles, f.service["id"]))
    return Result(found, distance_km, source, age_in_days)


def _catch_all(services: list[dict[str, Any]], origin: tuple[float, float]) -> list[Found]:
    """Up to the two nearest Emergency Departments within the default 60 km, any capacity."""
    near = []
    for s in services:
        if s.get("type") != "Emergency Department":
            continue
        north, east = _box_km(origin, (s["latitude"], s["longitude"]))
        if north <= NATIONAL_DISTANCE_KM and east <= NATIONAL_DISTANCE_KM:
            miles = haversine_miles(origin, (s["latitude"], s["longitude"]))
            near.append(Found(s, round(miles, 1), catch_all=True))
    return sorted(near, key=lambda f: f.miles)[:2]
