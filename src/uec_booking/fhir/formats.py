"""FHIR wire formats: content negotiation, serialisation and safe parsing of request bodies.

JSON is the default and is written straight from dicts with orjson (validating outbound
resources again would cost more than the search itself); XML is written from the same dicts
by `uec_booking.fhir.xml`.

Request bodies are validated with fhir.resources after what FHIR says a server may ignore or
must refuse is dealt with: unknown elements are dropped (`acceptUnknown: both`), a DTD
anywhere, nesting deeper than any STU3 resource needs, and control characters in strings
(FHIR strings cannot carry them) are refused with 400.
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
from uec_booking.fhir.xml import drop_unknown_elements, to_xml


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


# Bodies only in FHIR's own media types (the test kit expects 415 for application/json and
# application/xml); `_format` and Accept keep the short forms.
_BODY_FORMATS: dict[str, Format] = {
    "application/fhir+json": Format.JSON,
    "application/fhir+xml": Format.XML,
}


def body_format(content_type: str | None) -> Format:
    """The Format of a request body by its Content-Type (required for bodies)."""
    if not content_type:
        raise UnsupportedMediaType("A request body needs a Content-Type")
    found = _BODY_FORMATS.get(_media(content_type))
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
    return to_xml(resource)


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
    if fmt is Format.XML:
        return _parse_xml(body, expected_type)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Malformed JSON: {exc}", spine_code="BAD_REQUEST") from exc
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object", spine_code="BAD_REQUEST")
    if data.get("resourceType") != expected_type:
        shown = _shown(data.get("resourceType"))
        raise BadRequest(f"Expected a {expected_type} resource, got {shown}")
    _check_json(data)
    return _validate(data, expected_type)


# No STU3 resource needs more than this (an extension in an extension in a contained
# resource is about 12); deeper bodies are attacks on recursive code.
MAX_DEPTH = 48
MAX_UNKNOWN_PASSES = 8
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _shown(value: object) -> str:
    """A client's value safe to repeat in a diagnostic: no control characters, bounded."""
    text = repr(value)
    text = _CONTROL.sub("\ufffd", text)
    return text if len(text) <= 80 else text[:80] + "…"


def _check_json(data: dict[str, Any]) -> None:
    """Refuse nesting past MAX_DEPTH and strings with control characters (FHIR strings
    SHALL NOT contain characters below U+0020 but tab, CR and LF)."""
    stack: list[tuple[Any, int, str]] = [(data, 1, data["resourceType"])]
    while stack:
        node, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(f"The body nests deeper than {MAX_DEPTH} levels", expression=path)
        if isinstance(node, dict):
            stack.extend((v, depth + 1, f"{path}.{_shown(k)[1:-1]}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, depth + 1, path) for v in node)
        elif isinstance(node, str) and _CONTROL.search(node):
            raise BadRequest(
                f"{path} contains a control character, which FHIR strings cannot carry",
                spine_code="INVALID_RESOURCE",
                expression=path,
            )


def _validate(data: dict[str, Any], expected_type: str) -> ParsedResource:
    """Validate, first dropping the elements STU3 does not define (`acceptUnknown: both`);
    the dict returned is the resource without them."""
    model_class = get_fhir_model_class(expected_type)
    for _ in range(MAX_UNKNOWN_PASSES):
        try:
            return ParsedResource(model_class.model_validate(data), data)
        except ValidationError as exc:
            unknown = [e["loc"] for e in exc.errors() if e["type"] == "extra_forbidden"]
            if not unknown or len(unknown) != exc.error_count():
                raise BadRequest(_describe(exc), spine_code="INVALID_RESOURCE") from exc
            for loc in unknown:
                _drop(data, loc)
        except (ValueError, TypeError, RecursionError) as exc:
            raise BadRequest(_describe(exc), spine_code="INVALID_RESOURCE") from exc
    raise BadRequest("Too many unknown elements", spine_code="INVALID_RESOURCE")


def _drop(data: Any, loc: tuple[int | str, ...]) -> None:
    node = data
    for step in loc[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict):
        node.pop(loc[-1], None)


def _parse_xml(body: bytes, expected_type: str) -> ParsedResource:
    if b"<!entity" in body.lower():
        raise BadRequest("XML with a DTD or entities is not accepted", spine_code="BAD_REQUEST")
    try:
        root = etree.fromstring(body, parser=_safe_parser())
    except etree.XMLSyntaxError as exc:
        raise BadRequest(f"Malformed XML: {_shown(str(exc))}", spine_code="BAD_REQUEST") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise BadRequest("XML with a DTD or entities is not accepted", spine_code="BAD_REQUEST")
    name = etree.QName(root).localname
    if name != expected_type:
        raise BadRequest(f"Expected a {expected_type} resource, got {_shown(name)}")
    levels: list[tuple[etree._Element, int]] = [(root, 1)]
    while levels:
        element, depth = levels.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(f"The body nests deeper than {MAX_DEPTH} levels")
        levels.extend((child, depth + 1) for child in element)
    drop_unknown_elements(root)
    model_class = get_fhir_model_class(expected_type)
    try:
        model = model_class.model_validate_xml(etree.tostring(root), xmlparser=_safe_parser())
        data = orjson.loads(model.model_dump_json())
    except (ValidationError, ValueError, TypeError, KeyError, RecursionError) as exc:
        raise BadRequest(_describe(exc), spine_code="INVALID_RESOURCE") from exc
    except etree.LxmlError as exc:
        raise BadRequest(_describe(exc), spine_code="INVALID_RESOURCE") from exc
    _check_json(data)
    return ParsedResource(model, data)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(_CONTROL.sub("\ufffd", f"{loc}: {err.get('msg')}"))
        more = exc.error_count() - 5
        return "Invalid resource: " + "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
    return "Invalid resource: " + _CONTROL.sub("\ufffd", str(exc))[:300]
