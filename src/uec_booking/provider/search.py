"""The one parser that turns a query string into typed values, against a resource's declared
`SearchSpec` (`provider/search_params.py`).

Unknown parameters are ignored, as FHIR's lenient default says, and reported in the Bundle's
OperationOutcome entry (`search_outcome`); under `Prefer: handling=strict` they are refused
with 400.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from uec_booking.fhir.errors import BadRequest
from uec_booking.fhir.outcome import issue, operation_outcome
from uec_booking.fhir.reference import parse_reference
from uec_booking.provider.search_dates import DateBound, DateWindow, parse_date_bound
from uec_booking.provider.search_params import (
    INCLUDE_PARAMETERS,
    RESULT_PARAMETERS,
    SUMMARY_VALUES,
    ParamType,
    SearchParam,
    SearchSpec,
)


class Token(NamedTuple):
    """One token value: `system|code`, `|code` (system "": none) or `code` (system None: any)."""

    system: str | None
    code: str


class Reference(NamedTuple):
    """One reference value (`Type/id`, an absolute URL, or a bare id)."""

    resource_type: str | None
    id: str


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
