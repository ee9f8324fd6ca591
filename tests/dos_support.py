"""Checking DoS messages against the published v1.5 contract, independently of the code under
test: lxml loads the project's copy of the XSD itself, and zeep is only the thing that sends
and receives (a plugin records what went over the wire)."""

from __future__ import annotations

from importlib import resources
from typing import Any

from lxml import etree
from zeep.plugins import Plugin

TNS = "https://nww.pathwaysdos.nhs.uk/app/api/webservices"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
CONTRACT = resources.files("uec_booking.spine").joinpath("dos_contract")
SCHEMA = etree.XMLSchema(
    etree.fromstring(CONTRACT.joinpath("pathwayservice_v1_5.xsd").read_bytes())
)
ACTION = "https://nww.pathwaysdos.nhs.uk/app/api/webservices/"


def assert_valid_envelope(message: bytes | etree._Element) -> etree._Element:
    """A SOAP 1.2 envelope whose header blocks and body payload are valid against the XSD
    (a Fault is checked for the published shape instead). Returns the body's payload."""
    root = etree.fromstring(message) if isinstance(message, bytes) else message
    assert root.tag == f"{{{SOAP12}}}Envelope", root.tag
    header = root.find(f"{{{SOAP12}}}Header")
    for block in header if header is not None else []:
        if isinstance(block.tag, str) and etree.QName(block).namespace == TNS:
            assert SCHEMA.validate(block), SCHEMA.error_log
    body = root.find(f"{{{SOAP12}}}Body")
    assert body is not None
    payload = [c for c in body if isinstance(c.tag, str)]
    assert len(payload) == 1
    if payload[0].tag == f"{{{SOAP12}}}Fault":
        fault_code(root)
    else:
        assert SCHEMA.validate(payload[0]), SCHEMA.error_log
    return payload[0]


def fault_code(root: etree._Element) -> tuple[int, str]:
    """The published Fault: Code/Value is the DoS number, Reason/Text its description."""
    ns = {"env": SOAP12}
    value = root.findtext("env:Body/env:Fault/env:Code/env:Value", namespaces=ns)
    text = root.findtext("env:Body/env:Fault/env:Reason/env:Text", namespaces=ns)
    assert value is not None and value.strip().isdigit(), value
    assert text, "a Fault has a Reason"
    return int(value), text


class Recorder(Plugin):  # type: ignore[misc]
    """Every envelope zeep sends and receives, as the bytes on the wire would parse."""

    def __init__(self) -> None:
        self.sent: list[etree._Element] = []
        self.sent_headers: list[dict[str, Any]] = []
        self.received: list[etree._Element] = []

    def egress(self, envelope: Any, http_headers: Any, operation: Any, binding_options: Any) -> Any:
        self.sent.append(etree.fromstring(etree.tostring(envelope)))
        self.sent_headers.append(dict(http_headers))
        return envelope, http_headers

    def ingress(self, envelope: Any, http_headers: Any, operation: Any) -> Any:
        self.received.append(etree.fromstring(etree.tostring(envelope)))
        return envelope, http_headers

    def assert_all_valid(self) -> None:
        assert self.sent and self.received
        for message in [*self.sent, *self.received]:
            assert_valid_envelope(message)
