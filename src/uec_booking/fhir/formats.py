"""FHIR wire formats: content negotiation, serialisation and safe parsing of request bodies.

JSON is the default and is written straight from dicts with orjson (validating outbound
resources again would cost more than the search itself); XML goes through fhir.resources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from fhir.resources.STU3 import get_fhir_model_class
from lxml import etree
from pydantic import ValidationError

from uec_booking.fhir.errors import BadRequest, UnsupportedMediaType


class Format(StrEnum):
    JSON = "json"
    XML = "xml"

    @property
    def media_type(self) -> str:
        return "application/fhir+json" if self is Format.JSON else "application/fhir+xml"


_FORMAT_NAMES: dict[str, Format] = {
    "json": Format.JSON,
    "application/json": Format.JSON,
    "application/fhir+json": Format.JSON,
    "application/json+fhir": Format.JSON,
    "xml": Format.XML,
    "text/xml": Format.XML,
    "application/xml": Format.XML,
    "application/fhir+xml": Format.XML,
    "application/xml+fhir": Format.XML,
}


def _media(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def format_from_name(value: str) -> Format | None:
    """The Format a `_format` value or media type names, or None."""
    return _FORMAT_NAMES.get(_media(value))


def negotiate(accept: str | None, format_param: str | None) -> Format:
    """Pick the response format: `_format` overrides `Accept`; JSON when nothing is said.

    Raises UnsupportedMediaType when only formats we do not speak are acceptable.
    """
    if format_param:
        chosen = format_from_name(format_param)
        if chosen is None:
            raise UnsupportedMediaType(f"Unsupported _format '{format_param}'")
        return chosen
    if not accept:
        return Format.JSON
    wildcard = False
    for part in accept.split(","):
        media = _media(part)
        if not media:
            continue
        found = format_from_name(media)
        if found is not None:
            return found
        if media in ("*/*", "application/*", "text/*") or media.endswith("+json"):
            wildcard = True
    if wildcard:
        return Format.JSON
    raise UnsupportedMediaType(f"None of the formats in Accept '{accept}' is supported")


def body_format(content_type: str | None) -> Format:
    """The Format of a request body by its Content-Type (required for bodies)."""
    if not content_type:
        raise UnsupportedMediaType("A request body needs a Content-Type")
    found = format_from_name(content_type)
    if found is None:
        raise UnsupportedMediaType(f"Unsupported Content-Type '{_media(content_type)}'")
    charset = _charset(content_type)
    if charset and charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"Unsupported charset '{charset}': use UTF-8")
    return found


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def dumps(resource: dict[str, Any], fmt: Format) -> bytes:
    """Serialise a resource dict in `fmt`."""
    if fmt is Format.JSON:
        return orjson.dumps(resource)
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    xml: str | bytes = model.model_dump_xml()
    return instants_in_milliseconds(xml if isinstance(xml, bytes) else xml.encode())


# A dateTime/instant with a time of day, as fhir.resources writes it from a Python datetime
# (`.644000`, or no fraction at all when it is zero).
_INSTANT_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")


def instants_in_milliseconds(xml: bytes) -> bytes:
    """Every time of day in an XML resource written with milliseconds (`fs_times`:
    `YYYY-MM-DDThh:mm:ss.sss+zz:zz`), as the JSON path writes them: the same instants."""
    root = etree.fromstring(xml, parser=_safe_parser())
    changed = False
    for element in root.iter():
        value = element.get("value")
        if value is None or len(value) < 20 or value[10] != "T":
            continue
        match = _INSTANT_RE.match(value)
        if match is None:
            continue
        fraction = ((match[2] or "") + "000")[:3]
        offset = "+00:00" if match[3] == "Z" else match[3]
        fixed = f"{match[1]}.{fraction}{offset}"
        if fixed != value:
            element.set("value", fixed)
            changed = True
    if not changed:
        return xml
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return out


def _safe_parser() -> etree.XMLParser:
    # No DTDs, no entity expansion, no network: XML bombs and XXE go nowhere.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True, slots=True)
class ParsedResource:
    """A validated request body: the model, and the resource as FHIR JSON (for JSON bodies,
    the dict as sent, so it is not serialised again)."""

    model: Any
    data: dict[str, Any]


def parse_resource(body: bytes, fmt: Format, expected_type: str) -> ParsedResource:
    """Parse and validate a request body as an STU3 resource of `expected_type`.

    Raises BadRequest for anything that is not a well-formed resource of that type.
    """
    model_class = get_fhir_model_class(expected_type)
    if fmt is Format.XML:
        head = body[:4096].lower()
        if b"<!doctype" in head or b"<!entity" in body.lower():
            raise BadRequest("XML with a DTD or entities is not accepted", spine_code="BAD_REQUEST")
        try:
            root = etree.fromstring(body, parser=_safe_parser())
        except etree.XMLSyntaxError as exc:
            raise BadRequest(f"Malformed XML: {exc}", spine_code="BAD_REQUEST") from exc
        name = etree.QName(root).localname
        if name != expected_type:
            raise BadRequest(f"Expected a {expected_type} resource, got {name}")
        try:
            model = model_class.model_validate_xml(body, xmlparser=_safe_parser())
        except (ValidationError, ValueError, TypeError, etree.LxmlError) as exc:
            raise BadRequest(_describe(exc), spine_code="INVALID_RESOURCE") from exc
        return ParsedResource(model, orjson.loads(model.model_dump_json()))
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Malformed JSON: {exc}", spine_code="BAD_REQUEST") from exc
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object", spine_code="BAD_REQUEST")
    if data.get("resourceType") != expected_type:
        raise BadRequest(f"Expected a {expected_type} resource, got {data.get('resourceType')!r}")
    try:
        model = model_class.model_validate(data)
    except (ValidationError, ValueError, TypeError, RecursionError) as exc:
        raise BadRequest(_describe(exc), spine_code="INVALID_RESOURCE") from exc
    return ParsedResource(model, data)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{loc}: {err.get('msg')}")
        more = exc.error_count() - 5
        return "Invalid resource: " + "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
    return f"Invalid resource: {exc}"
