"""Declared search parameters and the one parser that turns a query string into typed values.

Each resource provider opens with a `SearchSpec` table (HAPI FHIR's @RequiredParam /
@OptionalParam). Unknown parameters are ignored, as FHIR's lenient default says, unless the
request carries `Prefer: handling=strict`; then they are refused with 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from uec_booking.fhir.errors import BadRequest

SUMMARY_VALUES = frozenset({"true", "text", "data", "count", "false"})

# Parameters that are about the response, not the search: always allowed.
RESULT_PARAMETERS = frozenset({"_format", "_pretty", "_summary", "_elements"})


class ParamType(StrEnum):
    DATE = "date"
    TOKEN = "token"
    REFERENCE = "reference"


@dataclass(frozen=True, slots=True)
class SearchParam:
    name: str
    type: ParamType
    aliases: tuple[str, ...] = ()
    required: bool = False
    repeats: bool = False
    prefixes: frozenset[str] = frozenset({"eq"})
    allowed: frozenset[str] | None = None  # allowed token values


def include_spellings(*canonical: str) -> dict[str, str]:
    """Every spelling of each `_include` accepted, mapped to its canonical `Type:param[:Target]`
    form. The NHS test kit writes the first separator as a dot (`HealthcareService.providedBy`,
    `HealthcareService.location`); each include is accepted either way, consistently."""
    table: dict[str, str] = {}
    for name in canonical:
        source, _, rest = name.partition(":")
        for spelling in (name, f"{source}.{rest}", name.replace(":", ".")):
            table[spelling] = name
    return table


@dataclass(frozen=True, slots=True)
class SearchSpec:
    resource_type: str
    params: tuple[SearchParam, ...]
    includes: dict[str, str] = field(default_factory=dict)  # accepted spelling -> canonical
    max_count: int = 1000

    def lookup(self) -> dict[str, SearchParam]:
        table: dict[str, SearchParam] = {}
        for param in self.params:
            for name in (param.name, *param.aliases):
                table[name] = param
        return table


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


@dataclass(slots=True)
class ParsedSearch:
    values: dict[str, list[object]] = field(default_factory=dict)
    includes: set[str] = field(default_factory=set)
    count: int | None = None
    ignored: list[str] = field(default_factory=list)
    page: str | None = None  # `_page`: the cursor of a page this server linked to
    summary: str | None = None  # `_summary`

    def tokens(self, name: str) -> list[str]:
        return [str(v) for v in self.values.get(name, [])]

    def dates(self, name: str) -> list[DateBound]:
        return [v for v in self.values.get(name, []) if isinstance(v, DateBound)]


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
    except ValueError as exc:
        raise BadRequest(f"'{raw}' is not a valid FHIR date or dateTime: {exc}") from exc
    return DateBound(prefix, low, high)


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
    return moment.astimezone(UTC).replace(tzinfo=None)


def parse_search(
    spec: SearchSpec, items: list[tuple[str, str]], *, strict: bool = False
) -> ParsedSearch:
    """Turn query items into typed values according to `spec`; BadRequest on invalid input."""
    table = spec.lookup()
    parsed = ParsedSearch()
    for key, raw in items:
        if key == "_summary":
            if raw not in SUMMARY_VALUES:
                raise BadRequest(f"'{raw}' is not a _summary value", expression=key)
            parsed.summary = raw
            continue
        if key == "_page":
            parsed.page = raw
            continue
        if key in RESULT_PARAMETERS:
            continue
        if key in ("_include", "_include:recurse"):
            canonical = spec.includes.get(raw)
            if canonical is None:
                _unknown(parsed, f"{key}={raw}", strict)
            else:
                parsed.includes.add(canonical)
            continue
        if key == "_count":
            parsed.count = _parse_count(raw, spec.max_count)
            continue
        param = table.get(key)
        if param is None:
            _unknown(parsed, key, strict)
            continue
        if param.name in parsed.values and not param.repeats:
            raise BadRequest(f"Search parameter '{key}' may appear only once", expression=key)
        if not raw.strip():
            raise BadRequest(f"Search parameter '{key}' has no value", expression=key)
        parsed.values.setdefault(param.name, []).extend(_values(param, raw))
    for param in spec.params:
        if param.required and param.name not in parsed.values:
            raise BadRequest(f"Search parameter '{param.name}' is required", expression=param.name)
    return parsed


def _unknown(parsed: ParsedSearch, what: str, strict: bool) -> None:
    if strict:
        raise BadRequest(f"Unknown or unsupported search parameter '{what}'", expression=what)
    parsed.ignored.append(what)


def _parse_count(raw: str, maximum: int) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise BadRequest(f"_count must be a positive whole number, not '{raw}'")
    return min(int(raw), maximum)


def _values(param: SearchParam, raw: str) -> list[object]:
    if param.type is ParamType.DATE:
        return [parse_date_bound(raw, param.prefixes)]
    values = [v.strip() for v in raw.split(",")]
    if any(not v for v in values):
        raise BadRequest(f"Empty value in '{param.name}={raw}'", expression=param.name)
    if param.allowed is not None:
        bad = [v for v in values if v not in param.allowed]
        if bad:
            allowed = ", ".join(sorted(param.allowed))
            raise BadRequest(
                f"'{bad[0]}' is not a valid value for '{param.name}' (allowed: {allowed})",
                expression=param.name,
            )
    if param.type is ParamType.REFERENCE:
        return [v.rstrip("/").rsplit("/", 1)[-1] for v in values]
    return list(values)
