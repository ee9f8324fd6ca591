"""The one way to write and read a FHIR reference (`Slot/123`, `#contained`, absolute URLs)."""

from __future__ import annotations

from typing import Any, NamedTuple


class ParsedReference(NamedTuple):
    resource_type: str | None
    id: str
    contained: bool


def reference(resource_type: str, resource_id: str, display: str | None = None) -> dict[str, Any]:
    """A Reference element to `resource_type/resource_id`."""
    ref: dict[str, Any] = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        ref["display"] = display
    return ref


def relative_url(resource_type: str, resource_id: str) -> str:
    return f"{resource_type}/{resource_id}"


def parse_reference(value: str) -> ParsedReference:
    """Split `Slot/1`, `http://host/fhir/Slot/1`, `Slot/1/_history/2` or `#id`."""
    value = value.strip()
    if value.startswith("#"):
        return ParsedReference(None, value[1:], True)
    parts = [p for p in value.split("/") if p]
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2:
        return ParsedReference(parts[-2], parts[-1], False)
    return ParsedReference(None, parts[-1] if parts else "", False)
