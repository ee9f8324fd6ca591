"""Declared search parameters and the one parser that turns a query string into typed values.

Each resource provider opens with a `SearchSpec` table (HAPI FHIR's @RequiredParam /
@OptionalParam), each parameter carrying its documentation: the parser, the
CapabilityStatement's `searchParam` and the OpenAPI description all read that one table.
Unknown parameters are ignored, as FHIR's lenient default says, and reported in the Bundle's
OperationOutcome entry (`search_outcome`); under `Prefer: handling=strict` they are refused
with 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from uec_booking.fhir.errors import BadRequest
from uec_booking.fhir.outcome import issue, operation_outcome
from uec_booking.fhir.reference import parse_reference

SUMMARY_VALUES = frozenset({"true", "text", "data", "count", "false"})

# Parameters that are about the response, not the search: always allowed.
RESULT_PARAMETERS = frozenset({"_format", "_pretty", "_summary", "_elements"})
INCLUDE_PARAMETERS = ("_include", "_include:recurse")


class ParamType(StrEnum):
    """The FHIR search parameter types this server declares."""

    DATE = "date"
    TOKEN = "token"
    REFERENCE = "reference"
    NUMBER = "number"
    STRING = "string"


@dataclass(frozen=True, slots=True)
class SearchParam:
    name: str
    type: ParamType
    documentation: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    repeats: bool = False
    prefixes: frozenset[str] = frozenset({"eq"})
    allowed: frozenset[str] | None = None  # allowed token values
    system: str | None = None  # the one identifier system a token may name

    def described(self) -> str:
        aliases = f"; also spelt {', '.join(self.aliases)}" if self.aliases else ""
        return self.documentation + aliases

    def capability(self) -> dict[str, Any]:
        """This parameter as a CapabilityStatement.rest.resource.searchParam."""
        return {"name": self.name, "type": str(self.type), "documentation": self.described()}

    def openapi(self) -> dict[str, Any]:
        """This parameter as an OpenAPI Parameter Object."""
        schema: dict[str, Any] = {"type": "integer" if self.type is ParamType.NUMBER else "string"}
        if self.allowed is not None:
            schema["enum"] = sorted(self.allowed)
        return {
            "name": self.name,
            "in": "query",
            "required": self.required,
            "description": self.described(),
            "schema": schema,
        }


# Paging and counting, the same for every search here (`provider/paging.py`); the parser
# reads them by name.
PAGING_PARAMS = (
    SearchParam(
        "_count",
        ParamType.NUMBER,
        "Page size; Bundle.total counts every match, link next/previous page",
    ),
    SearchParam("_summary", ParamType.TOKEN, "count: Bundle.total only", allowed=SUMMARY_VALUES),
    SearchParam(
        "_page",
        ParamType.STRING,
        "The page cursor of a next/previous/first link this server gave out",
    ),
)


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

    def include_names(self) -> list[str]:
        """The canonical `_include` values, as the CapabilityStatement's searchInclude."""
        return sorted(set(self.includes.values()))

    def capability(self) -> dict[str, Any]:
        """The search part of this resource's CapabilityStatement entry."""
        declared: dict[str, Any] = {
            "searchParam": [p.capability() for p in (*self.params, *PAGING_PARAMS)]
        }
        if self.includes:
            declared["searchInclude"] = self.include_names()
        return declared

    def openapi(self) -> dict[str, Any]:
        """`openapi_extra` for the search route: its query parameters, documented."""
        parameters = [p.openapi() for p in (*self.params, *PAGING_PARAMS)]
        if self.includes:
            parameters.append(
                {
                    "name": "_include",
                    "in": "query",
                    "required": False,
                    "description": "Resources to add to the Bundle (also as _include:recurse; "
                    "the first separator may be written as a dot)",
                    "schema": {"type": "array", "items": {"enum": self.include_names()}},
                }
            )
        return {"parameters": parameters}


class Token(NamedTuple):
    """One token value: `system|code`, `|code` (system "": none) or `code` (system None: any)."""

    system: str | None
    code: str


class Reference(NamedTuple):
    """One reference value (`Type/id`, an absolute URL, or a bare id)."""

    resource_type: str | None
    id: str


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


SearchValue = Token | Reference | DateBound


@dataclass(slots=True)
class ParsedSearch:
    values: dict[str, list[SearchValue]] = field(default_factory=dict)
    includes: set[str] = field(default_factory=set)
    count: int | None = None
    ignored: list[str] = field(default_factory=list)
    page: str | None = None  # `_page`: the cursor of a page this server linked to
    summary: str | None = None  # `_summary`

    def tokens(self, name: str) -> list[str]:
        """Each value's plain form: a token's code, a reference's id."""
        return [v.code for v in self.token_values(name)] + [v.id for v in self.references(name)]

    def token_values(self, name: str) -> list[Token]:
        return [v for v in self.values.get(name, []) if isinstance(v, Token)]

    def references(self, name: str) -> list[Reference]:
        return [v for v in self.values.get(name, []) if isinstance(v, Reference)]

    def dates(self, name: str) -> list[DateBound]:
        return [v for v in self.values.get(name, []) if isinstance(v, DateBound)]

    def window(self, name: str) -> DateWindow:
        return DateWindow.of(self.dates(name))


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
        if key in INCLUDE_PARAMETERS:
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


def search_outcome(parsed: ParsedSearch, *issues: dict[str, Any]) -> dict[str, Any] | None:
    """The searchset's OperationOutcome entry: `issues`, and a warning for each parameter the
    lenient default ignored (so a consumer learns its criterion did not narrow the search);
    None when there is nothing to say."""
    ignored = [
        issue(
            severity="warning",
            code="not-supported",
            diagnostics=f"Search parameter '{what}' is not supported and was ignored",
            expression=what,
        )
        for what in parsed.ignored
    ]
    everything = [*issues, *ignored]
    return operation_outcome(*everything) if everything else None


def _parse_count(raw: str, maximum: int) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise BadRequest(f"_count must be a positive whole number, not '{raw}'")
    return min(int(raw), maximum)


def _values(param: SearchParam, raw: str) -> list[SearchValue]:
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
        return [_reference(param, v) for v in values]
    return [_token(param, v) for v in values]


def _reference(param: SearchParam, value: str) -> Reference:
    parsed = parse_reference(value)
    if not parsed.id:
        raise BadRequest(f"'{value}' names no resource for '{param.name}'", expression=param.name)
    return Reference(parsed.resource_type, parsed.id)


def _token(param: SearchParam, value: str) -> Token:
    system, sep, code = value.rpartition("|")
    token = Token(system if sep else None, code)
    if param.system is not None and token.system is not None and token.system != param.system:
        raise BadRequest(
            f"'{param.name}' takes identifiers of {param.system}, not '{token.system}'",
            spine_code="INVALID_IDENTIFIER_SYSTEM",
            expression=param.name,
        )
    if not code:
        raise BadRequest(f"Empty value in '{param.name}={value}'", expression=param.name)
    return token
