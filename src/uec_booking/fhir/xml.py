"""FHIR XML straight from FHIR JSON dicts, and unknown elements out of XML request bodies.

Rendering goes from the JSON dict to lxml elements by FHIR's XML rules (elements in the
definition's order; primitives as `value` attributes; element `id` and extension `url` as
attributes; `_x` primitive extensions merged in; contained resources wrapped in their type's
element; narrative `div` as XHTML), using only the STU3 models' field tables, which are read
once per type. Going through a fhir.resources model per element instead cost 2-3 s for a
1,000-slot search. Tests check the result against fhir.resources parsing it back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir.resources.STU3 import get_fhir_model_class
from fhir.resources.STU3.resource import Resource
from fhir_core.utils import get_fhir_type_name, is_list_type, is_primitive_type
from lxml import etree

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_PREFIX = "STU3."

# Characters XML 1.0 cannot carry at all: shown as U+FFFD rather than breaking the document.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(value: str) -> str:
    """`value` with every character XML cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", value) if _NOT_XML.search(value) else value


@dataclass(frozen=True, slots=True)
class _Field:
    is_list: bool
    primitive: bool
    type_name: str


@dataclass(frozen=True, slots=True)
class _Type:
    order: tuple[str, ...]
    fields: dict[str, _Field]
    is_resource: bool


@cache
def _type(name: str) -> _Type | None:
    """The field table of an STU3 type (resource, datatype or backbone element)."""
    try:
        klass = get_fhir_model_class(name)
    except (KeyError, ValueError):
        return None
    fields: dict[str, _Field] = {}
    for alias, attr in klass.get_alias_mapping().items():
        info = klass.model_fields[attr]
        try:
            type_name = get_fhir_type_name(info, prefix=_PREFIX)
        except ValueError:
            continue
        fields[alias] = _Field(is_list_type(info), is_primitive_type(info), type_name)
    order = tuple(a for a in klass.elements_sequence() if a in fields)
    return _Type(order, fields, issubclass(klass, Resource))


def _q(name: str) -> str:
    return f"{{{FHIR_NS}}}{name}"


def _primitive_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return xml_text(str(value))


def _div(parent: etree._Element, value: Any) -> None:
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        div = etree.fromstring(xml_text(str(value)).encode(), parser=parser)
    except etree.XMLSyntaxError:
        div = etree.Element(f"{{{XHTML_NS}}}div", nsmap={None: XHTML_NS})
        div.text = xml_text(str(value))
    parent.append(div)


def _primitive(parent: etree._Element, name: str, value: Any, ext: Any) -> None:
    element = etree.SubElement(parent, _q(name))
    if isinstance(ext, dict) and ext.get("id") is not None:
        element.set("id", xml_text(str(ext["id"])))
    if value is not None:
        element.set("value", _primitive_text(value))
    if isinstance(ext, dict):
        for item in ext.get("extension") or []:
            if isinstance(item, dict):
                _complex(element, "extension", item, "Extension")


def _complex(parent: etree._Element, name: str, value: dict[str, Any], type_name: str) -> None:
    element = etree.SubElement(parent, _q(name))
    if type_name == "Resource":
        inner = value.get("resourceType")
        if isinstance(inner, str):
            _fill(etree.SubElement(element, _q(inner)), value, inner)
        return
    _fill(element, value, type_name)


def _fill(element: etree._Element, data: dict[str, Any], type_name: str) -> None:
    table = _type(type_name)
    if table is None:
        return
    if not table.is_resource and data.get("id") is not None:
        element.set("id", xml_text(str(data["id"])))
    if type_name == "Extension" and data.get("url") is not None:
        element.set("url", xml_text(str(data["url"])))
    for name in table.order:
        if name == "url" and type_name == "Extension":
            continue
        if name == "id" and not table.is_resource:
            continue
        value, ext = data.get(name), data.get(f"_{name}")
        if value is None and ext is None:
            continue
        field = table.fields[name]
        if field.type_name == "xhtml":
            _div(element, value)
        elif field.primitive:
            if field.is_list:
                values = value if isinstance(value, list) else [value]
                exts = ext if isinstance(ext, list) else []
                for i, item in enumerate(values):
                    item_ext = exts[i] if i < len(exts) else None
                    if item is not None or item_ext is not None:
                        _primitive(element, name, item, item_ext)
            else:
                _primitive(element, name, value, ext)
        else:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    _complex(element, name, item, field.type_name)


def to_xml(resource: dict[str, Any]) -> bytes:
    """FHIR XML for a FHIR JSON resource dict (elements the type does not define are left
    out, as a reader that ignores unknown elements would)."""
    out: bytes = etree.tostring(_element(resource), xml_declaration=True, encoding="UTF-8")
    return out


def resource_xml(resource: dict[str, Any]) -> bytes:
    """`to_xml` without the XML declaration: a fragment to put inside a Bundle's `resource`
    (its own `xmlns` repeats the Bundle's, which changes nothing)."""
    out: bytes = etree.tostring(_element(resource), encoding="UTF-8")
    return out


def _element(resource: dict[str, Any]) -> etree._Element:
    type_name = str(resource.get("resourceType", ""))
    root = etree.Element(_q(type_name), nsmap={None: FHIR_NS})
    _fill(root, resource, type_name)
    return root


def drop_unknown_elements(root: etree._Element) -> None:
    """Remove, in place, every element that the STU3 definition of its parent does not have
    (`acceptUnknown: both`: a provider ignores what it does not know)."""
    stack: list[tuple[etree._Element, str]] = [(root, etree.QName(root).localname)]
    while stack:
        element, type_name = stack.pop()
        table = _type(type_name)
        if table is None:
            continue
        for child in list(element):
            if not isinstance(child.tag, str):
                continue  # comments, processing instructions
            name = etree.QName(child).localname
            field = table.fields.get(name)
            if field is None or etree.QName(child).namespace != FHIR_NS:
                element.remove(child)
            elif field.type_name == "xhtml":
                continue
            elif field.primitive:
                stack.append((child, "Element"))  # only id and extension inside
            elif field.type_name == "Resource":
                for inner in list(child):
                    if isinstance(inner.tag, str):
                        inner_name = etree.QName(inner).localname
                        if _type(inner_name) is None:
                            child.remove(inner)
                        else:
                            stack.append((inner, inner_name))
            else:
                stack.append((child, field.type_name))
