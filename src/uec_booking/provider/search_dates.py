"""Date search values: a FHIR date or dateTime of any precision, with its prefix, as the UTC
range it covers (`DateBound`); the bounds on one parameter folded into one window
(`DateWindow`); and the naive UTC form the store keeps (`utc_naive`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from uec_booking.fhir.errors import BadRequest


@dataclass(frozen=True, slots=True)
class DateBound:
    """One `start=ge2026-11-24T10:00:00+00:00` value as the UTC range its precision covers."""

    prefix: str
    low: datetime
    high: datetime

    def upper_limit(self) -> datetime | None:
        """The latest instant this bound admits, or None if it sets no upper limit."""
        if self.prefix in ("le", "eq"):
            return self.high
        if self.prefix == "lt":
            return self.low
        return None


@dataclass(frozen=True, slots=True)
class DateWindow:
    """Every bound on one date parameter folded into one window: the latest lower bound, the
    earliest upper bound (`eq` bounds both; `gt`/`lt` exclude the instant they name)."""

    ge: datetime | None = None
    gt: datetime | None = None
    le: datetime | None = None
    lt: datetime | None = None

    @classmethod
    def of(cls, bounds: list[DateBound]) -> DateWindow:
        lows: dict[str, list[datetime]] = {"ge": [], "gt": []}
        highs: dict[str, list[datetime]] = {"le": [], "lt": []}
        for bound in bounds:
            if bound.prefix in ("eq", "ge"):
                lows["ge"].append(bound.low)
            if bound.prefix in ("eq", "le"):
                highs["le"].append(bound.high)
            if bound.prefix == "gt":
                lows["gt"].append(bound.high)
            if bound.prefix == "lt":
                highs["lt"].append(bound.low)
        return cls(
            ge=max(lows["ge"], default=None),
            gt=max(lows["gt"], default=None),
            le=min(highs["le"], default=None),
            lt=min(highs["lt"], default=None),
        )


_DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def parse_date_bound(raw: str, allowed_prefixes: frozenset[str]) -> DateBound:
    """Parse a FHIR date search value (prefix + date/dateTime of any precision)."""
    prefix, value = "eq", raw.strip()
    if value[:2] in _DATE_PREFIXES:
        prefix, value = value[:2], value[2:]
    if prefix not in allowed_prefixes:
        raise BadRequest(f"Date prefix '{prefix}' is not supported here", expression=raw)
    # An unencoded '+' in a query string arrives as a space: put the offset sign back.
    value = re.sub(r" (\d{2}:\d{2})$", r"+\1", value)
    match = _DATE_RE.match(value)
    if not match:
        raise BadRequest(f"'{raw}' is not a valid FHIR date or dateTime")
    try:
        low, high = _range(match)
    except (ValueError, OverflowError) as exc:
        # Out of range at year 1 or 9999 once the offset is applied, or no such time (24:00,
        # a leap second): not a date this server can search by.
        raise BadRequest(f"'{raw}' is not a valid FHIR date or dateTime: {exc}") from exc
    if not (low >= _EARLIEST and high <= _LATEST):
        raise BadRequest(f"'{raw}' is outside the dates this server searches (years 2-9998)")
    return DateBound(prefix, low, high)


# Searches add and subtract days from bounds: keep a margin from datetime's own limits.
_EARLIEST = datetime(2, 1, 1)
_LATEST = datetime(9998, 12, 31, 23, 59, 59, 999999)


def _range(m: re.Match[str]) -> tuple[datetime, datetime]:
    year = int(m["y"])
    if m["m"] is None:
        low = datetime(year, 1, 1)
        return low, datetime(year + 1, 1, 1) - timedelta(microseconds=1)
    month = int(m["m"])
    if m["d"] is None:
        low = datetime(year, month, 1)
        nxt = datetime(year + (month == 12), month % 12 + 1, 1)
        return low, nxt - timedelta(microseconds=1)
    day = date(year, month, int(m["d"]))
    if m["H"] is None:
        low = datetime.combine(day, time())
        return low, low + timedelta(days=1) - timedelta(microseconds=1)
    seconds = int(m["S"] or 0)
    frac = m["f"] or ""
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    local = datetime.combine(day, time(int(m["H"]), int(m["M"]), seconds, micro))
    tz = m["tz"]
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        hours, minutes = int(tz[1:3]), int(tz[4:6])
        local -= sign * timedelta(hours=hours, minutes=minutes)
    if m["S"] is None:
        return local, local + timedelta(minutes=1) - timedelta(microseconds=1)
    if frac:
        return local, local
    return local, local + timedelta(seconds=1) - timedelta(microseconds=1)


def utc_naive(moment: datetime) -> datetime:
    """A timezone-aware datetime as the naive UTC value the store keeps."""
    if moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError as exc:  # year 1 at +14:00, year 9999 at -14:00
        raise BadRequest(f"{moment.isoformat()} is outside the instants this server keeps") from exc
