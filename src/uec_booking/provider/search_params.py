"""Declared search parameters: each resource provider opens with a `SearchSpec` table (HAPI
FHIR's @RequiredParam / @OptionalParam), each parameter carrying its documentation: the parser
(`provider/search.py`), the CapabilityStatement's `searchParam` and the OpenAPI description all
read that one table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

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
